//! mirrorkit-core: what every family of mirrors shares — the spec model and its validation, the
//! upstream sources, the verified download [`store`], the [`report`] and exit codes, the
//! [`family`] trait a family implements, and the HTTP layer (retries, `Retry-After`, per-host
//! limits and trust, credentials, redaction). Targets (registries, layouts) are in
//! `mirrorkit-oci`; the families are crates of their own.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

/// `impl JsonSchema` for a type that serialises itself as one JSON value (a digest, a platform,
/// an exit code), described by the `json_schema!` document given.
macro_rules! schema_as {
    ($ty:ty, $name:literal, $($schema:tt)+) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($($schema)+)
            }
        }
    };
}

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
