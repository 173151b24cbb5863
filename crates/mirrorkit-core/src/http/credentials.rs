//! Registry credentials: docker `config.json` (`auths`, `credsStore`, `credHelpers`),
//! `REGISTRY_AUTH_FILE`, and `MIRRORKIT_REGISTRY_USERNAME` / `MIRRORKIT_REGISTRY_PASSWORD`.
//!
//! SKELETON: only the environment variables are read so far.

use super::redact::Secret;

/// Credentials for one registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Username and password (also used to obtain Bearer tokens).
    Basic { username: String, password: Secret },
    /// An identity (refresh) token from `config.json`.
    IdentityToken(Secret),
}

/// Where credentials are looked up.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    env: Option<RegistryAuth>,
}

impl Credentials {
    /// Load from the environment and the usual files.
    pub fn load() -> Credentials {
        let env = match (
            std::env::var("MIRRORKIT_REGISTRY_USERNAME"),
            std::env::var("MIRRORKIT_REGISTRY_PASSWORD"),
        ) {
            (Ok(username), Ok(password)) => Some(RegistryAuth::Basic {
                username,
                password: Secret::new(password),
            }),
            _ => None,
        };
        Credentials { env }
    }

    /// Credentials for `host` (`host[:port]`), if any are configured.
    pub fn lookup(&self, _host: &str) -> Option<RegistryAuth> {
        self.env.clone()
    }
}
