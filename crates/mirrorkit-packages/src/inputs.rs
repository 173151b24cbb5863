//! What to mirror, from the command line's PURLs and SBOM files (and, later, a spec): every PURL
//! parsed, a bad one refused naming where it came from (argument N, or FILE#/json/pointer or
//! FILE:line), the SBOMs' subjects set aside.

use std::path::PathBuf;

use crate::purl::{self, PackageRef};
use crate::sbom;

/// A package asked for, and where it was named.
#[derive(Clone, Debug)]
pub struct Requested {
    /// The package.
    pub package: PackageRef,
    /// `argument 2`, `sbom.cdx.json#/components/0/purl`, `sbom.spdx:14`.
    pub origin: String,
}

/// Everything a run was asked for.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The packages, in the order named.
    pub packages: Vec<Requested>,
    /// The SBOMs' own subjects, not mirrored.
    pub subjects: Vec<String>,
}

/// Collect `purls` (command-line arguments) and the PURLs of `sboms`. The error names the
/// argument or the file and place.
pub fn collect(purls: &[String], sboms: &[PathBuf]) -> Result<Inputs, String> {
    let mut inputs = Inputs::default();
    for (i, p) in purls.iter().enumerate() {
        let package = purl::parse(p).map_err(|e| format!("argument {}: {e}", i + 1))?;
        inputs.packages.push(Requested {
            package,
            origin: format!("argument {}", i + 1),
        });
    }
    for path in sboms {
        let doc = sbom::read(path)?;
        if let Some(s) = doc.subject {
            inputs.subjects.push(s);
        }
        for found in doc.packages {
            let origin = match found.at.strip_prefix("line ") {
                Some(line) => format!("{}:{line}", path.display()),
                None => format!("{}{}", path.display(), found.at),
            };
            let package = purl::parse(&found.purl).map_err(|e| format!("{origin}: {e}"))?;
            inputs.packages.push(Requested { package, origin });
        }
    }
    Ok(inputs)
}
