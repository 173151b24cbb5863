//! mirrorkit-core: what every family of mirrors shares — the spec model and its validation, the
//! upstream sources, the verified download [`store`], the [`report`] and exit codes, the
//! [`family`] trait a family implements, and the HTTP layer (retries, `Retry-After`, per-host
//! limits and trust, credentials, redaction). Targets (registries, layouts) are in
//! `mirrorkit-oci`; the families are crates of their own.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod digest;
pub mod exit;
pub mod family;
pub mod fsutil;
pub mod http;
pub mod platform;
pub mod report;
pub mod source;
pub mod spec;
pub mod store;
pub mod version;
pub mod work_dir;
