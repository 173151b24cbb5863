//! A Docker token server (the `Bearer realm=…` side of the distribution auth protocol) for a real
//! `docker-registry` configured with `auth: token:`.
//!
//! It issues RS256 JWTs signed by a throwaway key whose self-signed certificate is both in the
//! token's `x5c` header and in the registry's `rootcertbundle`, the way distribution verifies
//! tokens. Signing and key generation use the `openssl` command line, so the test world needs no
//! crypto crate. `GET /token?service=…&scope=repository:NAME:pull,push` with the right Basic
//! credentials grants the scopes asked for; anonymous requests get a token with no access (so the
//! registry answers 401), wrong credentials get 401 from the token server itself.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Issuer and service names the registry config and the tokens agree on.
pub const ISSUER: &str = "mirrorkit-test-issuer";
/// The `service` of the registry.
pub const SERVICE: &str = "mirrorkit-test-registry";

/// A running token server on `127.0.0.1:<port>`, stopped on drop.
pub struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    issued: Arc<AtomicUsize>,
    cert: PathBuf,
}

struct Keys {
    key: PathBuf,
    cert_der_b64: String,
}

impl TokenServer {
    /// Generate a key and certificate in `dir` and serve tokens for `user`/`pass`.
    pub fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        crate::tls::self_signed(
            dir,
            "/CN=mirrorkit-test-token",
            "token-key.pem",
            "token-cert.pem",
            &[],
        );
        let der = crate::process::output_of(
            Command::new("openssl")
                .args(["x509", "-outform", "DER", "-in"])
                .arg(&cert),
        );
        let keys = Arc::new(Keys {
            key,
            cert_der_b64: STANDARD.encode(&der),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicUsize::new(0));
        let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")));
        let user = user.to_string();
        {
            let (stop, issued) = (stop.clone(), issued.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let _ = conn.set_nonblocking(false);
                            let _ = serve(conn, &keys, &expected, &user, &issued);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
        }
        TokenServer {
            port,
            stop,
            issued,
            cert,
        }
    }

    /// The realm URL the registry sends clients to.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The certificate bundle the registry trusts.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// Tokens issued so far (granted or anonymous).
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(
    mut conn: TcpStream,
    keys: &Keys,
    expected_auth: &str,
    user: &str,
    issued: &AtomicUsize,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(percent_decode)
        .collect();
    let (status, body) = match authorization.as_deref() {
        Some(a) if a == expected_auth => (200, token(keys, user, &scopes)),
        Some(_) => (
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.to_string(),
        ),
        None => (200, token(keys, "", &[])),
    };
    if status == 200 {
        issued.fetch_add(1, Ordering::SeqCst);
    }
    write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

/// `{"token": "<jwt>"}` granting every action asked for in `scopes` (`repository:NAME:ACTIONS`).
fn token(keys: &Keys, subject: &str, scopes: &[String]) -> String {
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [keys.cert_der_b64]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": subject, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}", scopes.len()), "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&keys.key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl dgst");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(signing_input.as_bytes());
    }
    let out = child.wait_with_output().expect("openssl dgst output");
    let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(out.stdout));
    serde_json::json!({"token": jwt, "expires_in": 300}).to_string()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
