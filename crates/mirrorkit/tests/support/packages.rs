//! What the package tests (npm, PyPI, cargo) share: reading a `mirror` report, and serving a
//! published tree with a plain file server inside the network namespace a test runs offline in.

#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;

/// The versions of a `mirror` report: ("name@version", status), sorted.
pub(crate) fn versions(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in report["packages"].as_array().unwrap() {
        for v in p["versions"].as_array().unwrap() {
            out.push((
                format!(
                    "{}@{}",
                    p["name"].as_str().unwrap(),
                    v["version"].as_str().unwrap()
                ),
                v["status"].as_str().unwrap().to_string(),
            ));
        }
    }
    out.sort();
    out
}

/// `list` as owned pairs, to compare with [`versions`].
pub(crate) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// A bash script that serves `tree` on `port` with `python3 -m http.server` (a file server with
/// no configuration), waits for it, then runs `then`. Run it with `process::offline`: inside the
/// namespace every port is free.
pub(crate) fn serving(tree: &Path, port: u16, then: &str) -> String {
    format!(
        "cd {tree:?}\npython3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 &\nfor i in $(seq 100); do (echo >/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done\n{then}\n"
    )
}
