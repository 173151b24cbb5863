//! `schema spec|url-index|report`: print a JSON Schema generated from the types that parse the
//! file (or, for the report, the types that print it).

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::spec;

use crate::cli::SchemaTarget;
use crate::output;

/// `schema TARGET`.
pub(crate) fn run(target: SchemaTarget) -> ExitCode {
    let value = match target {
        SchemaTarget::Spec => spec::json_schema(),
        SchemaTarget::UrlIndex => serde_json::to_value(schemars::schema_for!(
            mirrorkit_core::source::url_index::IndexDocument
        ))
        .unwrap_or_default(),
        // The report is written, never read: its schema describes what serialising produces
        // (a field skipped when empty is optional).
        SchemaTarget::Report => serde_json::to_value(
            schemars::generate::SchemaSettings::default()
                .for_serialize()
                .into_generator()
                .into_root_schema_for::<mirrorkit_core::report::Report>(),
        )
        .unwrap_or_default(),
    };
    match serde_json::to_string_pretty(&value) {
        Ok(s) => output::stdout(&(s + "\n")),
        Err(e) => output::message(&format!("cannot render the schema: {e}"), ExitCode::Io),
    }
}
