//! What the families read offline beyond the spec itself: the PURLs and SBOM files of package
//! mirrors. `validate` checks them as a run would, so a malformed PURL or SBOM fails there,
//! naming where it is, and not only at the next `sync`.

use mirrorkit_core::spec::{FamilySource, Spec};

/// The first mirror whose inputs cannot be read, and why (a malformed PURL, an unreadable
/// SBOM, a version range its ecosystem does not accept).
pub fn check_inputs(spec: &Spec) -> Result<(), String> {
    for m in &spec.mirrors {
        if let FamilySource::Packages(source) = m.source.family() {
            mirrorkit_packages::family::source_inputs(source)
                .map_err(|e| format!("mirror {}: {e}", m.key))?;
        }
    }
    Ok(())
}
