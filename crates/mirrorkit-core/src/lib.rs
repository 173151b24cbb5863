//! mirrorkit-core: the spec model, sources, plan, store, packaging, engine and report of mirrorkit,
//! plus the shared HTTP layer (retries, `Retry-After`, per-host limits, credentials, redaction).
//!
//! The flow is one direction: spec → [`source`] discovery → [`plan`] → [`store`] (fetch + verify)
//! → [`package`] → [`target`] publish → [`report`].

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
pub mod target;
pub mod version;
pub mod work_dir;
