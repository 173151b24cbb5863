//! The settings step, as the command line takes it: [`mirrorkit_run::Settings`] built from the
//! spec and the flags, its error printed here and turned into the exit code.

use std::path::Path;

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::spec::Spec;
use mirrorkit_run::Settings;
pub(crate) use mirrorkit_run::settings::Flags;

use crate::output;

/// The settings of a command that reads `spec`.
pub(crate) fn for_spec(spec: &Spec, flags: &Flags<'_>) -> Result<Settings, ExitCode> {
    output::compat_notice(spec);
    Settings::for_spec(spec, flags).map_err(|e| output::error(&e))
}

/// The settings of a command that reads no spec.
pub(crate) fn without_spec(flags: &Flags<'_>) -> Result<Settings, ExitCode> {
    Settings::without_spec(flags).map_err(|e| output::error(&e))
}

/// The flags of a command that names registries by reference (`copy`, `import`, `export`):
/// `--insecure-registry` and `--cert-dir`.
pub(crate) fn reference_flags<'a>(
    insecure_registries: &'a [String],
    cert_dir: Option<&'a Path>,
) -> Flags<'a> {
    Flags {
        insecure_registries,
        cert_dir,
        ..Flags::default()
    }
}
