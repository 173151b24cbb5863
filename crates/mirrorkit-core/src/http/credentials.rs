//! Registry credentials: docker `config.json` and podman `auth.json` (`auths`, `credsStore`,
//! `credHelpers`), `REGISTRY_AUTH_FILE`, and `MIRRORKIT_REGISTRY_USERNAME` /
//! `MIRRORKIT_REGISTRY_PASSWORD`.
//!
//! Lookup order for a host:
//! 1. `MIRRORKIT_REGISTRY_USERNAME` + `MIRRORKIT_REGISTRY_PASSWORD` (for every host, or only for
//!    `MIRRORKIT_REGISTRY_HOST` when that is set);
//! 2. each auth file in order (see [`CredentialSources::from_env`]); in one file:
//!    `credHelpers[host]`, then an `auths` entry with a credential, then `credsStore`.
//!
//! A file that is missing is skipped silently; a file that is unreadable or malformed is skipped
//! with a warning that names the file but never quotes its contents. Every secret lives in a
//! [`Secret`].
//!
//! Why one long file: the environment, the auth files and the credential helpers share
//! one lookup and one `Secret` type; the last 215 lines are its unit tests.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;

use super::redact::Secret;

/// Credentials for one registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Username and password (also used to obtain Bearer tokens).
    Basic {
        /// The user name.
        username: String,
        /// The password (redacted when printed).
        password: Secret,
    },
    /// An identity (refresh) token from `config.json`.
    IdentityToken(Secret),
}

/// Where credentials come from; built from the process environment by
/// [`CredentialSources::from_env`], or by hand in tests.
#[derive(Clone, Debug, Default)]
pub struct CredentialSources {
    /// Auth files in priority order (missing ones are skipped).
    pub auth_files: Vec<PathBuf>,
    /// Username and password that win over every file.
    pub env_auth: Option<(String, Secret)>,
    /// When set, `env_auth` applies to this host (`host[:port]`) only.
    pub env_host: Option<String>,
    /// The search path for `docker-credential-<name>` helpers (`PATH` syntax); `None` = `$PATH`.
    pub helper_path: Option<OsString>,
}

impl CredentialSources {
    /// The sources the process environment describes:
    /// `REGISTRY_AUTH_FILE` if set (then only that file, as podman and skopeo do); otherwise
    /// `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`), then
    /// `$XDG_RUNTIME_DIR/containers/auth.json`.
    pub fn from_env() -> CredentialSources {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// Like [`from_env`](Self::from_env), reading variables through `var` (tests pass a map).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> CredentialSources {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let mut auth_files = Vec::new();
        if let Some(file) = set("REGISTRY_AUTH_FILE") {
            auth_files.push(PathBuf::from(file));
        } else {
            if let Some(dir) = set("DOCKER_CONFIG") {
                auth_files.push(PathBuf::from(dir).join("config.json"));
            } else if let Some(home) = set("HOME") {
                auth_files.push(PathBuf::from(home).join(".docker").join("config.json"));
            }
            if let Some(runtime) = set("XDG_RUNTIME_DIR") {
                auth_files.push(PathBuf::from(runtime).join("containers").join("auth.json"));
            }
        }
        let env_auth = match (
            set("MIRRORKIT_REGISTRY_USERNAME"),
            set("MIRRORKIT_REGISTRY_PASSWORD"),
        ) {
            (Some(user), Some(pass)) => Some((
                user.to_string_lossy().into_owned(),
                Secret::new(pass.to_string_lossy().into_owned()),
            )),
            _ => None,
        };
        CredentialSources {
            auth_files,
            env_auth,
            env_host: set("MIRRORKIT_REGISTRY_HOST").map(|h| normalize_host(&h.to_string_lossy())),
            helper_path: var("PATH"),
        }
    }
}

/// Where credentials are looked up. Cheap to clone; clones share the helper cache.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    env: Option<RegistryAuth>,
    env_host: Option<String>,
    files: Vec<AuthFile>,
    helper_path: Option<OsString>,
    /// Helper answers by (helper, server) so a helper runs at most once per host.
    cache: Arc<Mutex<HelperCache>>,
}

/// Helper answers keyed by (helper name, host).
type HelperCache = HashMap<(String, String), Option<RegistryAuth>>;

/// One parsed auth file.
#[derive(Clone, Debug, Default)]
struct AuthFile {
    path: PathBuf,
    /// `auths`, keyed by normalised host.
    auths: HashMap<String, RegistryAuth>,
    /// `credHelpers`, keyed by normalised host.
    helpers: HashMap<String, String>,
    /// `credsStore`.
    store: Option<String>,
}

/// The JSON shape of `config.json` / `auth.json` (only what we read).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct AuthFileJson {
    auths: HashMap<String, AuthEntryJson>,
    #[serde(rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct AuthEntryJson {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// What a credential helper prints for `get`.
#[derive(serde::Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl Credentials {
    /// Load from the environment and the usual files.
    pub fn load() -> Credentials {
        Self::from_sources(CredentialSources::from_env())
    }

    /// Load from explicit sources (tests use temp files and never touch the process env).
    pub fn from_sources(sources: CredentialSources) -> Credentials {
        let files = sources
            .auth_files
            .iter()
            .filter_map(|p| read_auth_file(p))
            .collect();
        Credentials {
            env: sources
                .env_auth
                .map(|(username, password)| RegistryAuth::Basic { username, password }),
            env_host: sources.env_host,
            files,
            helper_path: sources.helper_path,
            cache: Arc::default(),
        }
    }

    /// Load one auth file, with an optional env username/password that wins over it.
    pub fn load_from(path: &Path, env_auth: Option<(String, Secret)>) -> Credentials {
        Self::from_sources(CredentialSources {
            auth_files: vec![path.to_path_buf()],
            env_auth,
            ..CredentialSources::default()
        })
    }

    /// Credentials for `host` (`host[:port]`), if any are configured.
    ///
    /// May run a credential helper (a short blocking subprocess) the first time a host is asked
    /// for; the answer is cached.
    pub fn lookup(&self, host: &str) -> Option<RegistryAuth> {
        let host = normalize_host(host);
        if let Some(env) = &self.env
            && self.env_host.as_ref().is_none_or(|h| *h == host)
        {
            return Some(env.clone());
        }
        for file in &self.files {
            if let Some(helper) = file.helpers.get(&host) {
                return self.run_helper_cached(helper, &host, &file.path);
            }
            if let Some(auth) = file.auths.get(&host) {
                return Some(auth.clone());
            }
            if let Some(store) = &file.store
                && let Some(auth) = self.run_helper_cached(store, &host, &file.path)
            {
                return Some(auth);
            }
        }
        None
    }

    fn run_helper_cached(&self, helper: &str, host: &str, file: &Path) -> Option<RegistryAuth> {
        let key = (helper.to_string(), host.to_string());
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return hit.clone();
        }
        let answer = run_helper(helper, host, self.helper_path.as_deref(), file);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, answer.clone());
        answer
    }
}

/// Docker Hub is stored under its legacy index URL; every spelling of it is one host here.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_SERVER_URL: &str = "https://index.docker.io/v1/";

/// The host part of an `auths` key or a lookup: `https://host:5000/v1/` → `host:5000`,
/// any Docker Hub spelling → `docker.io`.
fn normalize_host(key: &str) -> String {
    let key = key.trim();
    let without_scheme = key.split_once("://").map_or(key, |(_, rest)| rest);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        _ => host,
    }
}

/// Read and parse one auth file; `None` (with a warning unless the file is simply absent) when it
/// cannot be used.
fn read_auth_file(path: &Path) -> Option<AuthFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read registry auth file; ignoring it");
            return None;
        }
    };
    let json: AuthFileJson = match serde_json::from_str(&text) {
        Ok(json) => json,
        Err(e) => {
            // Only the position: serde_json's message can quote the offending value, which may
            // be a password.
            tracing::warn!(
                file = %path.display(),
                line = e.line(),
                column = e.column(),
                "malformed registry auth file; ignoring it"
            );
            return None;
        }
    };
    let mut auths = HashMap::new();
    for (key, entry) in json.auths {
        let host = normalize_host(&key);
        match entry_auth(&entry) {
            Ok(Some(auth)) => {
                auths.insert(host, auth);
            }
            // An empty entry (`"host": {}`) is how docker marks "credentials are in credsStore".
            Ok(None) => {}
            Err(why) => {
                tracing::warn!(file = %path.display(), host = %host, "ignoring registry auth entry: {why}");
            }
        }
    }
    Some(AuthFile {
        path: path.to_path_buf(),
        auths,
        helpers: json
            .cred_helpers
            .into_iter()
            .map(|(k, v)| (normalize_host(&k), v))
            .collect(),
        store: json.creds_store.filter(|s| !s.is_empty()),
    })
}

/// The credential an `auths` entry holds: `identitytoken` first, then base64 `auth`, then
/// plain `username`/`password` (podman writes those).
fn entry_auth(entry: &AuthEntryJson) -> Result<Option<RegistryAuth>, &'static str> {
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(RegistryAuth::IdentityToken(Secret::new(token))));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| "`auth` is not valid base64")?;
        let decoded = String::from_utf8(decoded).map_err(|_| "`auth` is not UTF-8")?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or("`auth` is not <username>:<password>")?;
        return Ok(Some(RegistryAuth::Basic {
            username: username.to_string(),
            password: Secret::new(password),
        }));
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(RegistryAuth::Basic {
            username: u.clone(),
            password: Secret::new(p.clone()),
        }));
    }
    Ok(None)
}

/// Run `docker-credential-<helper> get` with the server on stdin. `None` when the helper is
/// missing, fails, or has nothing for this server (all logged without secrets).
fn run_helper(
    helper: &str,
    host: &str,
    search_path: Option<&std::ffi::OsStr>,
    file: &Path,
) -> Option<RegistryAuth> {
    let program = format!("docker-credential-{helper}");
    let Some(exe) = find_program(&program, search_path) else {
        tracing::warn!(file = %file.display(), helper = %program, "credential helper not found on PATH");
        return None;
    };
    let server = if host == DOCKER_HUB {
        DOCKER_HUB_SERVER_URL
    } else {
        host
    };
    let mut child = match Command::new(&exe)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(helper = %program, error = %e, "cannot run credential helper");
            return None;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading stdin makes this fail; its exit status tells.
        let _ = stdin.write_all(server.as_bytes());
    }
    let output = match child.wait_with_output() {
        Ok(output) => output,
        Err(e) => {
            tracing::warn!(helper = %program, error = %e, "credential helper failed");
            return None;
        }
    };
    if !output.status.success() {
        // "credentials not found in native keychain" is the normal answer for unknown hosts;
        // stderr is not logged because helpers are free to echo what they were given.
        tracing::debug!(helper = %program, host, status = %output.status, "credential helper has no credentials");
        return None;
    }
    let Ok(answer) = serde_json::from_slice::<HelperAnswer>(&output.stdout) else {
        tracing::warn!(helper = %program, host, "credential helper printed malformed JSON");
        return None;
    };
    if answer.secret.is_empty() {
        return None;
    }
    // The docker CLI convention: username `<token>` means the secret is an identity token.
    if answer.username == "<token>" {
        return Some(RegistryAuth::IdentityToken(Secret::new(answer.secret)));
    }
    Some(RegistryAuth::Basic {
        username: answer.username,
        password: Secret::new(answer.secret),
    })
}

/// The first executable `name` in `search_path` (or `$PATH`).
fn find_program(name: &str, search_path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let path = match search_path {
        Some(p) => p.to_os_string(),
        None => std::env::var_os("PATH")?,
    };
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> RegistryAuth {
        RegistryAuth::Basic {
            username: u.into(),
            password: Secret::new(p),
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_auths_in_every_key_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "config.json",
            &format!(
                r#"{{"auths": {{
                    "plain.example": {{"auth": "{}"}},
                    "https://v1.example/v1/": {{"auth": "{}"}},
                    "http://port.example:5000": {{"auth": "{}"}},
                    "https://index.docker.io/v1/": {{"auth": "{}"}},
                    "tok.example": {{"identitytoken": "idt"}},
                    "podman.example": {{"username": "pu", "password": "pp"}},
                    "empty.example": {{}}
                }}}}"#,
                b64("a:1"),
                b64("b:2:with:colons"),
                b64("c:3"),
                b64("hub:4"),
            ),
        );
        let creds = Credentials::load_from(&file, None);
        let table: Vec<(&str, Option<RegistryAuth>)> = vec![
            ("plain.example", Some(basic("a", "1"))),
            ("v1.example", Some(basic("b", "2:with:colons"))),
            ("port.example:5000", Some(basic("c", "3"))),
            ("port.example", None),
            ("docker.io", Some(basic("hub", "4"))),
            ("registry-1.docker.io", Some(basic("hub", "4"))),
            (
                "tok.example",
                Some(RegistryAuth::IdentityToken(Secret::new("idt"))),
            ),
            ("podman.example", Some(basic("pu", "pp"))),
            ("empty.example", None),
            ("other.example", None),
        ];
        for (host, want) in table {
            assert_eq!(creds.lookup(host), want, "{host}");
        }
    }

    #[test]
    fn env_wins_over_files_and_can_be_scoped_to_one_host() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "config.json",
            &format!(
                r#"{{"auths": {{"r.example": {{"auth": "{}"}}}}}}"#,
                b64("f:1")
            ),
        );
        let creds = Credentials::load_from(&file, Some(("e".into(), Secret::new("2"))));
        assert_eq!(creds.lookup("r.example"), Some(basic("e", "2")));
        assert_eq!(creds.lookup("anything.example"), Some(basic("e", "2")));

        let scoped = Credentials::from_sources(CredentialSources {
            auth_files: vec![file],
            env_auth: Some(("e".into(), Secret::new("2"))),
            env_host: Some("only.example".into()),
            helper_path: None,
        });
        assert_eq!(scoped.lookup("only.example"), Some(basic("e", "2")));
        assert_eq!(scoped.lookup("r.example"), Some(basic("f", "1")));
    }

    #[test]
    fn malformed_files_and_entries_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let broken = write(dir.path(), "broken.json", r#"{"auths": {"x": "hunter2""#);
        let bad_entry = write(
            dir.path(),
            "bad.json",
            r#"{"auths": {"a.example": {"auth": "!!notbase64"}, "b.example": {"auth": "bm9jb2xvbg=="}}}"#,
        );
        let good = write(
            dir.path(),
            "good.json",
            &format!(
                r#"{{"auths": {{"a.example": {{"auth": "{}"}}}}}}"#,
                b64("g:1")
            ),
        );
        let creds = Credentials::from_sources(CredentialSources {
            auth_files: vec![dir.path().join("missing.json"), broken, bad_entry, good],
            ..CredentialSources::default()
        });
        // The bad entry in bad.json is skipped, so the next file answers.
        assert_eq!(creds.lookup("a.example"), Some(basic("g", "1")));
        assert_eq!(creds.lookup("b.example"), None);
    }

    #[test]
    fn file_order_follows_the_environment() {
        let vars: HashMap<&str, &str> = [
            ("HOME", "/home/u"),
            ("XDG_RUNTIME_DIR", "/run/user/1"),
            ("MIRRORKIT_REGISTRY_USERNAME", "u"),
        ]
        .into();
        fn get(vars: HashMap<&'static str, &'static str>) -> impl Fn(&str) -> Option<OsString> {
            move |k: &str| vars.get(k).map(OsString::from)
        }
        let s = CredentialSources::from_vars(get(vars.clone()));
        assert_eq!(
            s.auth_files,
            vec![
                PathBuf::from("/home/u/.docker/config.json"),
                PathBuf::from("/run/user/1/containers/auth.json")
            ]
        );
        // A username without a password is not a credential.
        assert!(s.env_auth.is_none());

        let mut with_docker = vars.clone();
        with_docker.insert("DOCKER_CONFIG", "/etc/dc");
        with_docker.insert("MIRRORKIT_REGISTRY_PASSWORD", "p");
        let s = CredentialSources::from_vars(get(with_docker.clone()));
        assert_eq!(s.auth_files[0], PathBuf::from("/etc/dc/config.json"));
        assert!(s.env_auth.is_some());

        with_docker.insert("REGISTRY_AUTH_FILE", "/x/auth.json");
        let s = CredentialSources::from_vars(get(with_docker));
        assert_eq!(s.auth_files, vec![PathBuf::from("/x/auth.json")]);
    }

    #[cfg(unix)]
    fn helper_script(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let p = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn credential_helpers_per_host_and_default_store() {
        let bin = tempfile::tempdir().unwrap();
        let log = bin.path().join("calls.log");
        // `pass` answers for helper.example and the hub; `desktop` knows only store.example and
        // records every call so the cache can be checked.
        helper_script(
            bin.path(),
            "pass",
            r#"read server
case "$server" in
  helper.example) echo '{"ServerURL":"helper.example","Username":"hu","Secret":"hs"}' ;;
  https://index.docker.io/v1/) echo '{"Username":"<token>","Secret":"hubtok"}' ;;
  *) echo "credentials not found in native keychain" >&2; exit 1 ;;
esac"#,
        );
        helper_script(
            bin.path(),
            "desktop",
            &format!(
                r#"read server
echo "$server" >> {}
if [ "$server" = store.example ]; then echo '{{"Username":"su","Secret":"ss"}}'; else exit 1; fi"#,
                log.display()
            ),
        );
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "config.json",
            &format!(
                r#"{{"credsStore": "desktop",
                    "credHelpers": {{"helper.example": "pass", "docker.io": "pass", "missing.example": "nope"}},
                    "auths": {{"auth.example": {{"auth": "{}"}}, "store.example": {{}}}}}}"#,
                b64("a:1")
            ),
        );
        let creds = Credentials::from_sources(CredentialSources {
            auth_files: vec![file],
            helper_path: Some(bin.path().as_os_str().to_os_string()),
            ..CredentialSources::default()
        });
        assert_eq!(creds.lookup("helper.example"), Some(basic("hu", "hs")));
        assert_eq!(
            creds.lookup("index.docker.io"),
            Some(RegistryAuth::IdentityToken(Secret::new("hubtok")))
        );
        assert_eq!(creds.lookup("auth.example"), Some(basic("a", "1")));
        assert_eq!(creds.lookup("store.example"), Some(basic("su", "ss")));
        assert_eq!(creds.lookup("store.example"), Some(basic("su", "ss")));
        assert_eq!(creds.lookup("unknown.example"), None);
        assert_eq!(creds.lookup("missing.example"), None);
        let calls = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            calls, "store.example\nunknown.example\n",
            "helper answers are cached"
        );
    }
}
