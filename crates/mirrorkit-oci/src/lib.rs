//! mirrorkit-oci: the OCI registry client (Distribution API), OCI image layouts and archives, and
//! `copy` between them. Implements [`mirrorkit_core::target::Target`] for a registry and for a
//! directory of OCI image layouts.
