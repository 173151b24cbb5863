//! mirrorkit-run: a spec and its settings turned into a run of every selected mirror through
//! its family. The command line calls it today; the server and the pipeline will call it next.
//!
//! - [`settings`]: the settings step: the spec's `registries:` and the caller's flags turned,
//!   once, into the HTTP client, plain-HTTP hosts, credentials, work dir and target opener.
//! - [`sync`](mod@sync): select the mirrors, hand each to its family, collect the report.
//! - [`inputs`]: what the families read offline beyond the spec itself (the PURLs and SBOMs
//!   of package mirrors), checked by `validate` as well as before a run.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod inputs;
pub mod settings;
pub mod sync;

pub use inputs::check_inputs;
pub use settings::Settings;
pub use sync::{cascade, sync};
