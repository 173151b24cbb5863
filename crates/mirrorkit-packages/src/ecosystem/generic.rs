//! Generic packages: one file named by its download URL and the checksum it must have
//! (`pkg:generic/name@version?download_url=…&checksum=sha256:…`). There is no registry to ask:
//! the PURL is the metadata. The file is placed at `generic/<name>/<version>/<file>` and the
//! package's `generic/<name>/index.json` lists every file the tree holds with its digest and
//! size (written after the file, keeping what earlier runs listed).

use mirrorkit_core::digest::{Algorithm, Digest};
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::redact::SafeUrl;
use serde_json::{Map, Value, json};

use super::RemoteFile;
use crate::engine::{self, Context};
use crate::inputs::Requested;
use crate::purl::Ecosystem;
use crate::report::{PackageReport, VersionReport, VersionStatus};
use crate::tree::Tree;

/// The index of a generic package in the tree.
fn index_path(name: &str) -> String {
    format!("generic/{name}/index.json")
}

/// The file a generic PURL names: its `file_name` qualifier, else the last segment of its
/// download URL.
fn file_name(requested: &Requested) -> Result<String, String> {
    let p = &requested.package;
    let from_url = p
        .download_url
        .as_ref()
        .and_then(|u| u.path_segments()?.next_back().map(str::to_string));
    let name = p.file_name.clone().or(from_url).unwrap_or_default();
    let ok =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0', '%']);
    if ok {
        Ok(name)
    } else {
        Err(format!(
            "{} ({}): the download URL ends in no file name; give one with the file_name \
             qualifier",
            p.purl, requested.origin
        ))
    }
}

/// The digest the file is checked against: the PURL's SHA-512 if it gives one, else its
/// SHA-256.
fn expected(requested: &Requested) -> Option<Digest> {
    let c = &requested.package.checksums;
    c.iter()
        .find(|d| d.algorithm() == Algorithm::Sha512)
        .or_else(|| c.iter().find(|d| d.algorithm() == Algorithm::Sha256))
        .cloned()
}

/// The digest `index.json` lists for `file` of `version`, if it lists it.
fn listed(tree: &Tree, name: &str, version: &str, file: &str) -> Option<String> {
    let doc: Value = serde_json::from_slice(&tree.read(&index_path(name))?).ok()?;
    doc.pointer(&format!(
        "/versions/{}/{}/digest",
        pointer_escape(version),
        pointer_escape(file)
    ))
    .and_then(Value::as_str)
    .map(str::to_string)
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Add `file` of `version` to the package's `index.json`, keeping every entry before it.
fn list(
    tree: &Tree,
    name: &str,
    version: &str,
    file: &str,
    digest: &Digest,
    size: u64,
) -> Result<(), String> {
    let path = index_path(name);
    let mut versions: Map<String, Value> = tree
        .read(&path)
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|d| d.get("versions").and_then(Value::as_object).cloned())
        .unwrap_or_default();
    let files = versions
        .entry(version.to_string())
        .or_insert_with(|| json!({}));
    if !files.is_object() {
        *files = json!({});
    }
    if let Some(files) = files.as_object_mut() {
        files.insert(
            file.to_string(),
            json!({
                "digest": digest.to_string(),
                "size": size,
                "path": format!("{version}/{file}"),
            }),
        );
    }
    let doc = json!({"name": name, "versions": versions});
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
    tree.write(&path, &bytes).map(|_| ())
}

/// Mirror one generic PURL: verify its file against the PURL's checksum, place it, list it.
pub(crate) async fn mirror(ctx: &Context<'_>, requested: &Requested) -> PackageReport {
    let p = &requested.package;
    let version = p.version.clone().unwrap_or_default();
    let mut report = PackageReport {
        ecosystem: Ecosystem::Generic,
        name: p.name.clone(),
        upstream: p
            .download_url
            .as_ref()
            .map(|u| SafeUrl::new(u).to_string())
            .unwrap_or_default(),
        versions: Vec::new(),
        error: None,
        failure: None,
    };
    let mut v = VersionReport {
        version: version.clone(),
        status: VersionStatus::Planned,
        files: 1,
        bytes: 0,
        error: None,
    };
    let (file, digest, url) = match (file_name(requested), expected(requested), &p.download_url) {
        (Ok(f), Some(d), Some(u)) => (f, d, u.clone()),
        (Err(e), _, _) => {
            fail(&mut report, &mut v, e, ExitCode::ItemFailed);
            report.versions.push(v);
            return report;
        }
        (Ok(_), None, _) | (Ok(_), _, None) => {
            fail(
                &mut report,
                &mut v,
                format!(
                    "{} ({}): no sha256 or sha512 checksum qualifier, and an unverifiable \
                     download is not mirrored; add checksum=sha256:<hex>",
                    p.purl, requested.origin
                ),
                ExitCode::ItemFailed,
            );
            report.versions.push(v);
            return report;
        }
    };
    let tree_path = format!("generic/{}/{version}/{file}", p.name);
    let digest_text = digest.to_string();
    let held = |t: &Tree| {
        listed(t, &p.name, &version, &file).as_deref() == Some(digest_text.as_str())
            && t.path(&tree_path).is_some_and(|f| f.is_file())
    };
    let Some((tree, _)) = ctx.tree else {
        if ctx.view.is_some_and(held) {
            v.status = VersionStatus::Unchanged;
        }
        report.versions.push(v);
        return report;
    };
    if held(tree) {
        v.status = VersionStatus::Unchanged;
        report.versions.push(v);
        return report;
    }
    let remote = RemoteFile {
        url,
        digest: Some(digest.clone()),
        tree_path,
        also: Vec::new(),
    };
    match engine::fetch_and_place(ctx, tree, std::slice::from_ref(&remote)).await {
        Ok(bytes) => match list(tree, &p.name, &version, &file, &digest, bytes) {
            Ok(()) => {
                v.status = VersionStatus::Published;
                v.bytes = bytes;
            }
            Err(e) => fail(&mut report, &mut v, e, ExitCode::Io),
        },
        Err((message, code)) => fail(&mut report, &mut v, message, code),
    }
    report.versions.push(v);
    report
}

fn fail(report: &mut PackageReport, v: &mut VersionReport, message: String, code: ExitCode) {
    v.status = VersionStatus::Failed;
    v.error = Some(message);
    report.failure = Some(code);
}
