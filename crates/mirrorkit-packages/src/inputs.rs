//! What to mirror, from the PURLs and SBOM files of the command line or a spec: every PURL
//! parsed, a bad one refused naming where it came from (argument N, or FILE#/json/pointer or
//! FILE:line), the SBOMs' subjects set aside.

use std::path::PathBuf;

use mirrorkit_core::source::packages::NamedPurl;

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

/// `purls` given as command-line arguments, named `argument N`.
pub fn arguments(purls: &[String]) -> Vec<NamedPurl> {
    purls
        .iter()
        .enumerate()
        .map(|(i, p)| NamedPurl {
            purl: p.clone(),
            origin: format!("argument {}", i + 1),
        })
        .collect()
}

/// Collect `purls` and the PURLs of `sboms`. The error names the argument, the spec position,
/// or the SBOM file and place.
pub fn collect(purls: &[NamedPurl], sboms: &[PathBuf]) -> Result<Inputs, String> {
    let mut inputs = Inputs::default();
    for p in purls {
        let package = purl::parse(&p.purl).map_err(|e| format!("{}: {e}", p.origin))?;
        inputs.packages.push(Requested {
            package,
            origin: p.origin.clone(),
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
