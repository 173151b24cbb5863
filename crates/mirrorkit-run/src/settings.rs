//! The settings step: a spec and the caller's flags turned, once per command, into what every
//! command talks through: the HTTP client (the spec's per-registry concurrency, rate limits and
//! tag limits), the hosts spoken to over plain HTTP, the credentials, the work dir, and the
//! opener of targets. Every command that reads a spec goes through [`Settings::for_spec`]; the
//! others (`copy`, `import`, `export` of references) through [`Settings::without_spec`], so no
//! command forgets a setting.

use std::path::{Path, PathBuf};

use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::http::redact::Secret;
use mirrorkit_core::http::trust::{CERTS_D, HostTls, certs_d};
use mirrorkit_core::http::{HttpClient, HttpConfig, HttpError};
use mirrorkit_core::spec::{Spec, TargetConfig};
use mirrorkit_oci::target::{Access, AnyTarget};
use mirrorkit_oci::{CopyOptions, OciError};

/// What the caller (the command line's flags) says beyond the spec.
#[derive(Default)]
pub struct Flags<'a> {
    /// Registries to speak plain HTTP to (`--insecure-registry`).
    pub insecure_registries: &'a [String],
    /// The work dir (`--work-dir`).
    pub work_dir: Option<&'a Path>,
    /// Certificates for every registry of the command (`--cert-dir`: `*.crt` CAs,
    /// `NAME.cert` + `NAME.key` a client certificate).
    pub cert_dir: Option<&'a Path>,
    /// `Authorization` values per host (`host[:port]`) given on the command line (a package
    /// upstream's `https://USER:PASSWORD@host/`); the spec's `registries:` win.
    pub host_auth: std::collections::BTreeMap<String, Secret>,
}

/// Everything a command talks through, decided once.
pub struct Settings {
    /// The shared client: one connection pool and one set of host limits for the whole run.
    pub http: HttpClient,
    /// Credentials from the docker/podman config files, loaded once.
    pub credentials: Credentials,
    /// Registries spoken to over plain HTTP: the flags', the spec's `registries:` marked
    /// `insecure`, and registry targets marked `insecure`.
    pub insecure_hosts: Vec<String>,
    /// `--work-dir`, else the spec's `work_dir`, else `./.mirrorkit`.
    pub work_dir: PathBuf,
}

impl Settings {
    /// The settings of a run of `spec`, with the caller's plain-HTTP hosts and work dir (the
    /// command line's `--insecure-registry` and `--work-dir`).
    pub fn for_spec(spec: &Spec, flags: &Flags<'_>) -> Result<Settings, HttpError> {
        Settings::build(Some(spec), flags)
    }

    /// The settings of a command that reads no spec.
    pub fn without_spec(flags: &Flags<'_>) -> Result<Settings, HttpError> {
        Settings::build(None, flags)
    }

    fn build(spec: Option<&Spec>, flags: &Flags<'_>) -> Result<Settings, HttpError> {
        let mut insecure_hosts = flags.insecure_registries.to_vec();
        if let Some(spec) = spec {
            insecure_hosts.extend(
                spec.registries
                    .iter()
                    .filter(|(_, s)| s.insecure)
                    .map(|(h, _)| h.clone()),
            );
            for m in &spec.mirrors {
                if let TargetConfig::Registry {
                    host,
                    insecure: true,
                } = &m.target
                {
                    insecure_hosts.push(host.clone());
                }
            }
        }
        insecure_hosts.sort();
        insecure_hosts.dedup();
        let mut config = spec.map_or_else(HttpConfig::default, http_config);
        trust(&mut config, spec, flags)?;
        config.host_auth = flags.host_auth.clone();
        if let Some(spec) = spec {
            config.host_auth.extend(
                host_auth(spec, |name| std::env::var(name).ok()).map_err(HttpError::Credentials)?,
            );
        }
        Ok(Settings {
            http: client(config)?,
            credentials: Credentials::load(),
            insecure_hosts,
            work_dir: flags
                .work_dir
                .map(Path::to_path_buf)
                .or_else(|| spec.and_then(|s| s.work_dir.clone()))
                .unwrap_or_else(|| PathBuf::from(".mirrorkit")),
        })
    }

    /// Open one target. No request is sent yet.
    pub fn open(&self, target: &TargetConfig) -> Result<AnyTarget, OciError> {
        AnyTarget::open(target, self.access())
    }

    /// What opening a registry needs: the client, credentials and plain-HTTP hosts.
    pub fn access(&self) -> Access<'_> {
        Access {
            http: &self.http,
            credentials: &self.credentials,
            insecure_hosts: &self.insecure_hosts,
        }
    }

    /// Options for copying images with these settings.
    pub fn copy_options(&self) -> CopyOptions {
        let mut options = CopyOptions::new(self.http.clone(), self.credentials.clone());
        options.insecure_hosts = self.insecure_hosts.clone();
        options
    }
}

/// The HTTP settings of a spec: its `registries:` concurrency, rate limits and tag limits.
fn http_config(spec: &Spec) -> HttpConfig {
    HttpConfig {
        host_concurrency: spec
            .registries
            .iter()
            .filter_map(|(host, s)| s.concurrency.map(|n| (host.clone(), n as usize)))
            .collect(),
        host_rate_limits: spec
            .registries
            .iter()
            .filter_map(|(host, s)| s.rate_limit.map(|r| (host.clone(), r)))
            .collect(),
        host_max_tags: spec
            .registries
            .iter()
            .filter_map(|(host, s)| {
                s.max_tags
                    .map(|n| (host.clone(), usize::try_from(n).unwrap_or(usize::MAX)))
            })
            .collect(),
        ..HttpConfig::default()
    }
}

/// The `Authorization` value per host from the spec's `registries:` (`token_env`,
/// `username_env` + `password_env`, `authorization_env`), read from the environment through
/// `env`; a variable that is not set is an error naming it (never its value).
fn host_auth(
    spec: &Spec,
    env: impl Fn(&str) -> Option<String>,
) -> Result<std::collections::BTreeMap<String, Secret>, String> {
    let mut out = std::collections::BTreeMap::new();
    for (host, s) in &spec.registries {
        let var = |field: &str, name: &str| {
            env(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                format!("registries.{host}.{field}: the environment variable {name} is not set")
            })
        };
        let value = if let Some(name) = &s.token_env {
            format!("Bearer {}", var("token_env", name)?)
        } else if let (Some(u), Some(p)) = (&s.username_env, &s.password_env) {
            mirrorkit_core::http::basic_auth(&var("username_env", u)?, &var("password_env", p)?)
                .expose()
                .to_string()
        } else if let Some(name) = &s.authorization_env {
            var("authorization_env", name)?
        } else {
            continue;
        };
        out.insert(host.clone(), Secret::new(value));
    }
    Ok(out)
}

/// TLS trust beyond the system's roots, from where docker/podman users keep it
/// (`/etc/containers/certs.d`, `/etc/docker/certs.d`), then the spec's `registries:` (`ca_file`,
/// `client_cert`), then `--cert-dir` for every host. `SSL_CERT_FILE` is read by the TLS stack.
fn trust(config: &mut HttpConfig, spec: Option<&Spec>, flags: &Flags<'_>) -> Result<(), HttpError> {
    let roots: Vec<&Path> = CERTS_D.iter().map(Path::new).collect();
    let (found, problems) = certs_d(&roots);
    for problem in problems {
        tracing::warn!("{problem}");
    }
    config.host_tls = found;
    for (host, s) in spec.map(|s| &s.registries).into_iter().flatten() {
        let mut tls = HostTls::default();
        if let Some(ca) = &s.ca_file {
            tls = tls.with_ca_file(ca).map_err(HttpError::Setup)?;
        }
        if let (Some(cert), Some(key)) = (&s.client_cert, &s.client_key) {
            tls = tls.with_client_cert(cert, key).map_err(HttpError::Setup)?;
        }
        if !tls.is_empty() {
            config.host_tls.entry(host.clone()).or_default().merge(tls);
        }
    }
    if let Some(dir) = flags.cert_dir {
        config.all_hosts_tls = HostTls::from_cert_dir(dir).map_err(HttpError::Setup)?;
    }
    Ok(())
}

fn client(config: HttpConfig) -> Result<HttpClient, HttpError> {
    HttpClient::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_credentials_come_from_the_variables_the_spec_names() {
        let spec = mirrorkit_core::spec::parse(
            "registries:\n  npm.corp: {token_env: NPM_TOKEN}\n  'pypi.corp:8443': {username_env: U, password_env: P}\n  crates.corp: {authorization_env: CARGO_TOKEN}\nmirrors:\n  a:\n    source: {type: packages, purls: ['pkg:npm/x@1.0.0']}\ntarget: {base_url: 'http://m/'}\n",
            Path::new("/nonexistent/mirror.yml"),
        )
        .expect("spec");
        let env = |name: &str| {
            [
                ("NPM_TOKEN", "tok"),
                ("U", "me"),
                ("P", "pw"),
                ("CARGO_TOKEN", "raw-token"),
            ]
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
        };
        let auth = host_auth(&spec, env).expect("auth");
        assert_eq!(auth["npm.corp"].expose(), "Bearer tok");
        assert_eq!(auth["pypi.corp:8443"].expose(), "Basic bWU6cHc=");
        assert_eq!(auth["crates.corp"].expose(), "raw-token");
        let e = host_auth(&spec, |n| (n != "P").then(|| env(n)).flatten()).unwrap_err();
        assert!(
            e.contains("registries.pypi.corp:8443.password_env") && e.contains("P is not set"),
            "{e}"
        );
        assert!(!format!("{:?}", auth["npm.corp"]).contains("tok"));
    }
}
