//! `schema spec|url-index|report|cascade-report|copy-report|export-report|import-report|
//! bundle-listing|packages-report|catalog|inventory`: print
//! a JSON Schema generated from the types that parse the file (or, for a report, the types that
//! print it).

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::spec;

use crate::cli::SchemaTarget;
use crate::output;

/// The schema of a document mirrorkit writes and never reads (a report): it describes what
/// serialising produces, so a field skipped when empty is optional.
fn written<T: schemars::JsonSchema>() -> serde_json::Value {
    serde_json::to_value(
        schemars::generate::SchemaSettings::default()
            .for_serialize()
            .into_generator()
            .into_root_schema_for::<T>(),
    )
    .unwrap_or_default()
}

/// `schema TARGET`.
pub(crate) fn run(target: SchemaTarget) -> ExitCode {
    let value = match target {
        SchemaTarget::Spec => spec::json_schema(),
        SchemaTarget::Catalog => written::<mirrorkit_distro::catalog::Catalog>(),
        SchemaTarget::Inventory => written::<mirrorkit_distro::inventory::Inventory>(),
        SchemaTarget::UrlIndex => serde_json::to_value(schemars::schema_for!(
            mirrorkit_core::source::url_index::IndexDocument
        ))
        .unwrap_or_default(),
        SchemaTarget::Report => written::<mirrorkit_core::report::Report>(),
        SchemaTarget::CascadeReport => written::<mirrorkit_release::CascadeReport>(),
        SchemaTarget::CopyReport => written::<mirrorkit_oci::CopyReport>(),
        SchemaTarget::ExportReport => written::<mirrorkit_bundle::ExportReport>(),
        SchemaTarget::ImportReport => written::<mirrorkit_bundle::ImportReport>(),
        SchemaTarget::BundleListing => written::<super::bundle::ListingDoc>(),
        SchemaTarget::PackagesReport => written::<mirrorkit_packages::report::PackagesReport>(),
    };
    match serde_json::to_string_pretty(&value) {
        Ok(s) => output::stdout(&(s + "\n")),
        Err(e) => output::message(&format!("cannot render the schema: {e}"), ExitCode::Io),
    }
}
