//! Packaging: turn a verified asset into an OCI layer and the ocx package manifests around it.
