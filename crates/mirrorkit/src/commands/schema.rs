//! `schema spec|url-index`: print a JSON Schema generated from the types that parse the file.

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
    };
    match serde_json::to_string_pretty(&value) {
        Ok(s) => output::stdout(&(s + "\n")),
        Err(e) => output::message(&format!("cannot render the schema: {e}"), ExitCode::Io),
    }
}
