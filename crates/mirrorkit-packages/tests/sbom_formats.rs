//! Every SBOM format read from a file as users write them: PURLs at any nesting depth, where each
//! was found, and the subject set aside. (Real `npm sbom` output, CycloneDX and SPDX JSON, is
//! read in the npm end-to-end tests of the `mirrorkit` crate.)

use std::path::Path;

use mirrorkit_packages::sbom::{self, Found};

fn read(name: &str) -> sbom::Sbom {
    sbom::read(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn purls(s: &sbom::Sbom) -> Vec<(&str, &str)> {
    s.packages
        .iter()
        .map(|Found { purl, at }| (purl.as_str(), at.as_str()))
        .collect()
}

#[test]
fn cyclonedx_json_components_at_any_depth_without_the_subject() {
    let s = read("nested.cdx.json");
    assert_eq!(s.format, "cyclonedx-json");
    assert_eq!(s.subject.as_deref(), Some("pkg:npm/app@1.0.0"));
    assert_eq!(
        purls(&s),
        [
            ("pkg:npm/a@1.0.0", "#/components/0/purl"),
            ("pkg:npm/b@2.0.0", "#/components/0/components/0/purl"),
            (
                "pkg:npm/c@3.0.0",
                "#/components/0/components/0/components/0/purl"
            ),
        ]
    );
}

#[test]
fn cyclonedx_xml_with_a_prefixed_namespace_cdata_and_entities() {
    let s = read("app.cdx.xml");
    assert_eq!(s.format, "cyclonedx-xml");
    assert_eq!(s.subject.as_deref(), Some("pkg:npm/app@1.0.0"));
    assert_eq!(
        purls(&s),
        [
            ("pkg:npm/%40babel/core@7.24.0", "line 13"),
            ("pkg:npm/inner@1.0.0", "line 17"),
            (
                "pkg:pypi/requests@2.31.0?file_name=requests-2.31.0-py3-none-any.whl&x=1",
                "line 23"
            ),
        ]
    );
    let s = read("plain-ns.cdx.xml");
    assert_eq!(s.subject, None);
    assert_eq!(purls(&s), [("pkg:npm/left-pad@1.3.0", "line 3")]);
}

#[test]
fn spdx_tag_value_and_spdx_2_2_json_with_either_category_spelling() {
    let s = read("app.spdx");
    assert_eq!(s.format, "spdx-tag-value");
    assert_eq!(s.subject.as_deref(), Some("pkg:npm/app@1.0.0"));
    // The ExternalRef inside <text> is text, not a reference.
    assert_eq!(
        purls(&s),
        [
            ("pkg:cargo/serde@1.0.200", "line 20"),
            ("pkg:npm/leaf@1.0.0", "line 25")
        ]
    );
    let s = read("app.spdx22.json");
    assert_eq!(s.format, "spdx-json");
    assert_eq!(s.subject.as_deref(), Some("pkg:npm/app@1.0.0"));
    assert_eq!(
        purls(&s),
        [(
            "pkg:npm/leaf@1.0.0",
            "#/packages/1/externalRefs/1/referenceLocator"
        )]
    );
}

#[test]
fn what_is_not_an_sbom_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, says) in [
        ("x.json", r#"{"hello": 1}"#, "neither CycloneDX"),
        ("x.xml", "<project/>", "not a CycloneDX <bom>"),
        ("x.txt", "just text", "not an SBOM"),
        (
            "y.json",
            r#"{"bomFormat":"CycloneDX","components":{"a":1}}"#,
            "#/components is not an array",
        ),
        (
            "z.xml",
            "<bom><components><component><purl>x</purl></component>",
            "ends before </bom>",
        ),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        match sbom::read(&p) {
            Err(e) => {
                assert!(e.starts_with(&p.display().to_string()), "{e}");
                assert!(e.contains(says), "{name}: {e}");
            }
            Ok(s) => panic!("{name}: read as {s:?}"),
        }
    }
}
