//! Images a chart renders: `helm template` run on the chart archive, when a `helm` binary is
//! there (`MIRRORKIT_HELM`, else `helm` on `PATH`). Every `image:` string in the rendered
//! manifests is recorded with the template that produced it (`helm template
//! app/templates/deployment.yaml`). The static discovery in [`super::discover`] finds what
//! values.yaml and annotations name; rendering also finds images a template builds itself.
//!
//! We run the real helm rather than render Go templates ourselves: Helm's template language
//! (Go text/template + Sprig + Helm's own functions) has no faithful Rust implementation.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use mirrorkit_core::source::images::HelmTemplate;
use serde_json::Value;
use tokio::io::AsyncReadExt as _;

use super::chart::parse_yaml;
use super::image_ref::Found;

/// Longest a render may take.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Most output read from one render; a chart rendering more is not plausible.
const MAX_OUTPUT: u64 = 64 << 20;

/// The helm binary to use: `MIRRORKIT_HELM` (a path), else the first `helm` on `PATH`.
fn helm_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MIRRORKIT_HELM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("helm"))
        .find(|p| is_executable(p))
}

/// What identifies the helm that `mode` would run, for caches: its path, size and mtime;
/// `none` when helm is not run.
pub(crate) fn helm_identity(mode: HelmTemplate) -> String {
    if mode == HelmTemplate::Never {
        return "none".into();
    }
    let Some(helm) = helm_binary() else {
        return "absent".into();
    };
    let meta = std::fs::metadata(&helm).ok();
    let mtime = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{} {} {mtime}", helm.display(), meta.map_or(0, |m| m.len()))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Add the images `helm template` renders from the chart archive at `archive` to `found`.
/// `Auto` without a helm binary adds nothing; a render that fails is a warning in `found`.
/// `Always` turns both into `Err` (the version fails: its image list would be incomplete).
pub(crate) async fn add_rendered_images(
    mode: HelmTemplate,
    archive: &Path,
    found: &mut Found,
) -> Result<(), String> {
    if mode == HelmTemplate::Never {
        return Ok(());
    }
    let Some(helm) = helm_binary() else {
        return match mode {
            HelmTemplate::Always => Err(
                "`helm_template: always` but no helm binary was found (set MIRRORKIT_HELM or put helm on PATH)"
                    .into(),
            ),
            _ => Ok(()),
        };
    };
    match render(&helm, archive).await {
        Ok(output) => {
            add_images(&output, found);
            Ok(())
        }
        Err(e) if mode == HelmTemplate::Always => Err(e),
        Err(e) => {
            found
                .warnings
                .push(format!("{e}; the images it renders are not included"));
            Ok(())
        }
    }
}

/// Run `helm template` on the archive, in a home of its own (no user repositories, plugins or
/// credentials are read or written), and return what it printed.
async fn render(helm: &Path, archive: &Path) -> Result<String, String> {
    let home = tempfile::tempdir().map_err(|e| format!("helm template: {e}"))?;
    let mut child = tokio::process::Command::new(helm)
        .args(["template", "mirrorkit", "--namespace", "default"])
        .arg(archive)
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("helm template: starting {}: {e}", helm.display()))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("helm template: no output pipes".into());
    };
    let run = async {
        let errors = tokio::spawn(async move {
            let mut err = Vec::new();
            // Only the first line is shown; what a failing helm prints is small.
            let _ = stderr.take(64 << 10).read_to_end(&mut err).await;
            String::from_utf8_lossy(&err).into_owned()
        });
        let mut out = Vec::new();
        stdout
            .take(MAX_OUTPUT + 1)
            .read_to_end(&mut out)
            .await
            .map_err(|e| format!("helm template: reading its output: {e}"))?;
        if out.len() as u64 > MAX_OUTPUT {
            let _ = child.kill().await;
            return Err(format!(
                "helm template printed more than {} MiB",
                MAX_OUTPUT >> 20
            ));
        }
        let status = child
            .wait()
            .await
            .map_err(|e| format!("helm template: {e}"))?;
        let err = errors.await.unwrap_or_default();
        if !status.success() {
            let first = err
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message");
            return Err(format!("helm template failed ({status}): {first}"));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    tokio::time::timeout(TIMEOUT, run)
        .await
        .map_err(|_| format!("helm template took longer than {}s", TIMEOUT.as_secs()))?
}

/// Every `image:` string in the rendered documents, placed by the `# Source:` comment helm
/// writes before each.
fn add_images(output: &str, found: &mut Found) {
    for doc in documents(output) {
        let source = doc
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map(str::trim);
        let place = match source {
            Some(s) => format!("helm template {s}"),
            None => "helm template".to_string(),
        };
        match parse_yaml(doc.as_bytes()) {
            Ok(v) => walk(&v, &place, found),
            Err(e) => found.warnings.push(format!("{place}: {e}; left out")),
        }
    }
}

/// The documents of a YAML stream: split at lines that are exactly `---` (a document marker at
/// the start of a line ends any block scalar too, so this is where YAML splits them).
fn documents(stream: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in stream.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(&stream[start..at]);
            start = at + line.len();
        }
        at += line.len();
    }
    docs.push(&stream[start..]);
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        })
        .collect()
}

fn walk(v: &Value, place: &str, found: &mut Found) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("image", Value::String(s)) => found.add(s, place),
                    _ => walk(child, place, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk(i, place, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_placed_by_their_template() {
        let out = "---\n# Source: app/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n      - name: init\n        image: busybox:1.36\n      containers:\n      - name: app\n        image: \"registry.example.org/acme/app:2.1\"\n---\n# Source: app/templates/cm.yaml\nkind: ConfigMap\ndata:\n  text: |\n    image: not-a-field\n---\n# Source: app/templates/job.yaml\nkind: Job\nspec: {template: {spec: {containers: [{name: j, image: 'registry.example.org/acme/app:2.1'}]}}}\n";
        let mut found = Found::default();
        add_images(out, &mut found);
        let listed: Vec<(String, Vec<String>)> = found
            .images
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(
            listed,
            [
                (
                    "docker.io/library/busybox:1.36".to_string(),
                    vec!["helm template app/templates/deploy.yaml".to_string()]
                ),
                (
                    "registry.example.org/acme/app:2.1".to_string(),
                    vec![
                        "helm template app/templates/deploy.yaml".to_string(),
                        "helm template app/templates/job.yaml".to_string()
                    ]
                ),
            ]
        );
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    }

    #[test]
    fn documents_split_only_at_markers() {
        let docs = documents("a: 1\n---\n# only a comment\n---\nb: |\n  x --- y\n---  \nc: 3");
        assert_eq!(docs, ["a: 1\n", "b: |\n  x --- y\n", "c: 3"]);
    }

    proptest::proptest! {
        /// Whatever a helm binary prints, reading it never panics, and every image recorded
        /// came from an `image:` line of the output.
        #[test]
        fn any_output_is_read_without_panicking(
            docs in proptest::collection::vec(
                proptest::prop_oneof![
                    "[ -~\n]{0,200}",
                    "(# Source: [a-z/]{1,20}\n)?(kind: [A-Za-z]{1,8}\n)?(  )?image: [a-z0-9./:@-]{0,40}\n",
                    "containers:\n- name: [a-z]{1,5}\n  image: [ -~]{0,30}\n",
                ],
                0..6,
            )
        ) {
            let output = docs.join("---\n");
            let mut found = Found::default();
            add_images(&output, &mut found);
            for image in found.images.keys() {
                let path = image.path.rsplit('/').next().unwrap_or_default().to_string();
                proptest::prop_assert!(output.contains(&path), "{image} not in {output:?}");
            }
        }
    }

    #[test]
    fn a_document_that_does_not_parse_is_a_warning() {
        let mut found = Found::default();
        add_images("# Source: a/t.yaml\nkey: [unclosed\n", &mut found);
        assert!(found.images.is_empty());
        assert_eq!(found.warnings.len(), 1);
        assert!(found.warnings[0].starts_with("helm template a/t.yaml:"));
    }
}
