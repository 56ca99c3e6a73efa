//! Where registry credentials come from, and how the registry's challenge is answered.
//!
//! Sources, first match wins:
//! 1. `HOIST_REGISTRY_USERNAME` + `HOIST_REGISTRY_PASSWORD` (CI);
//! 2. Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
//!    `credHelpers[host]`, then an inline `auths[host]` entry, then `credsStore`. Helpers
//!    speak the `docker-credential-<name> get` protocol (server URL on stdin, JSON on stdout);
//!    a `Username` of `<token>` means the secret is an identity (refresh) token;
//! 3. anonymous.
//!
//! Secrets live only in [`Credential`], whose `Debug` prints `***`; no error or log line
//! carries them. Written by hand rather than with the `docker_credential` crate because that
//! crate runs helpers outside `hoist_cmd::Cmd` and cannot say which source it used, which
//! every 401 message needs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::RegistryError;

/// The environment variables CI sets.
pub const ENV_USERNAME: &str = "HOIST_REGISTRY_USERNAME";
pub const ENV_PASSWORD: &str = "HOIST_REGISTRY_PASSWORD";

/// A secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in config.json, `<token>` from helpers).
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Anonymous => f.write_str("Anonymous"),
            Credential::Basic { username, .. } => write!(f, "Basic {{ username: {username:?}, password: *** }}"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

impl Credential {
    /// The `Authorization: Basic` value, when the credential is a user and password.
    pub(crate) fn basic_header(&self) -> Option<String> {
        match self {
            Credential::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            _ => None,
        }
    }
}

/// Where the credential came from: named in every 401/403 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Nothing found; `config` is the config.json that was looked at.
    None {
        config: String,
    },
    Env,
    DockerConfig {
        path: String,
        key: String,
    },
    Helper {
        helper: String,
        config: String,
    },
    /// Given by the caller (library use).
    Explicit,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::None { config } => {
                write!(f, "none (anonymous; looked at {ENV_USERNAME}/{ENV_PASSWORD} and {config})")
            }
            CredentialSource::Env => write!(f, "{ENV_USERNAME} and {ENV_PASSWORD}"),
            CredentialSource::DockerConfig { path, key } => write!(f, "`auths.\"{key}\"` in {path}"),
            CredentialSource::Helper { helper, config } => {
                write!(f, "credential helper `docker-credential-{helper}` (set in {config})")
            }
            CredentialSource::Explicit => f.write_str("credentials given by the caller"),
        }
    }
}

/// A credential and where it came from.
#[derive(Debug, Clone)]
pub struct Auth {
    pub credential: Credential,
    pub source: CredentialSource,
}

impl Auth {
    pub fn anonymous() -> Auth {
        Auth { credential: Credential::Anonymous, source: CredentialSource::Explicit }
    }

    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Auth {
        Auth {
            credential: Credential::Basic { username: username.into(), password: password.into() },
            source: CredentialSource::Explicit,
        }
    }

    /// Find the credential for `host` (`host[:port]`) in the environment and Docker config.
    pub fn resolve(host: &str) -> Result<Auth, RegistryError> {
        let config_dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
        Auth::resolve_from(host, |k| std::env::var(k).ok(), config_dir.as_deref())
    }

    /// The credential for a base image's registry at `api_host` (as the distribution API
    /// is reached: `registry-1.docker.io` for Docker Hub, whose config.json key is
    /// `index.docker.io`): config.json and its helpers; `HOIST_REGISTRY_USERNAME`/`PASSWORD`
    /// only when the base is on the push registry `push_host` itself, so CI's secrets for
    /// the push registry never go to Docker Hub or anyone else.
    pub fn resolve_for_base(api_host: &str, push_host: Option<&str>) -> Result<Auth, RegistryError> {
        let config_dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
        let same_host = push_host == Some(api_host);
        let key = if api_host == "registry-1.docker.io" { "index.docker.io" } else { api_host };
        Auth::resolve_from(key, |k| if same_host { std::env::var(k).ok() } else { None }, config_dir.as_deref())
    }

    /// [`Auth::resolve`] with the environment and config directory given (for tests).
    pub fn resolve_from(
        host: &str,
        env: impl Fn(&str) -> Option<String>,
        config_dir: Option<&Path>,
    ) -> Result<Auth, RegistryError> {
        if let (Some(username), Some(password)) = (env(ENV_USERNAME), env(ENV_PASSWORD))
            && !username.is_empty()
        {
            return Ok(Auth { credential: Credential::Basic { username, password }, source: CredentialSource::Env });
        }
        let path = config_dir.map(|d| d.join("config.json"));
        let shown = path.as_ref().map_or("~/.docker/config.json".to_string(), |p| p.display().to_string());
        let none = Auth { credential: Credential::Anonymous, source: CredentialSource::None { config: shown.clone() } };
        let Some(path) = path.filter(|p| p.is_file()) else { return Ok(none) };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| RegistryError::DockerConfig { path: shown.clone(), message: e.to_string() })?;
        let config: DockerConfig = serde_json::from_str(&text)
            .map_err(|e| RegistryError::DockerConfig { path: shown.clone(), message: e.to_string() })?;

        if let Some(helper) = config.cred_helpers.get(host) {
            return from_helper(helper, host, &shown);
        }
        for (key, entry) in &config.auths {
            if normalise_key(key) != host {
                continue;
            }
            if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
                return Ok(Auth {
                    credential: Credential::IdentityToken(token.clone()),
                    source: CredentialSource::DockerConfig { path: shown, key: key.clone() },
                });
            }
            let basic = match (&entry.auth, &entry.username, &entry.password) {
                (Some(auth), _, _) if !auth.is_empty() => decode_auth(auth)
                    .ok_or_else(|| RegistryError::DockerConfig {
                        path: shown.clone(),
                        message: format!("`auths.\"{key}\".auth` is not base64 of `user:password`"),
                    })
                    .map(Some)?,
                (_, Some(u), Some(p)) => Some((u.clone(), p.clone())),
                _ => None,
            };
            if let Some((username, password)) = basic {
                return Ok(Auth {
                    credential: Credential::Basic { username, password },
                    source: CredentialSource::DockerConfig { path: shown, key: key.clone() },
                });
            }
        }
        if let Some(store) = config.creds_store.as_ref().filter(|s| !s.is_empty()) {
            return from_helper(store, host, &shown);
        }
        Ok(none)
    }
}

#[derive(Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// `https://index.docker.io/v1/` → `index.docker.io`; `host:5000` stays.
fn normalise_key(key: &str) -> &str {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(auth.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

fn from_helper(helper: &str, host: &str, config: &str) -> Result<Auth, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let out = hoist_cmd::Cmd::new(&program).arg("get").stdin(host.as_bytes().to_vec()).output().map_err(|source| {
        RegistryError::CredentialHelper { helper: helper.to_string(), host: host.to_string(), source }
    })?;
    let source = CredentialSource::Helper { helper: helper.to_string(), config: config.to_string() };
    if !out.success() {
        // The protocol's "no credentials for this server" answer: go anonymous.
        if out.stdout.contains("credentials not found") || out.stderr.contains("credentials not found") {
            return Ok(Auth { credential: Credential::Anonymous, source });
        }
        let source = hoist_cmd::CmdError::Failed {
            command: format!("{program} get"),
            dir: ".".into(),
            status: out.status.to_string(),
            stderr: hoist_cmd::tail(&out.stderr, hoist_cmd::TAIL_LINES),
        };
        return Err(RegistryError::CredentialHelper { helper: helper.to_string(), host: host.to_string(), source });
    }
    // Never echo the answer: it holds the secret.
    let answer: HelperAnswer = serde_json::from_str(out.stdout.trim())
        .map_err(|_| RegistryError::CredentialHelperOutput { helper: helper.to_string() })?;
    let credential = if answer.username == "<token>" {
        Credential::IdentityToken(answer.secret)
    } else {
        Credential::Basic { username: answer.username, password: answer.secret }
    };
    Ok(Auth { credential, source })
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer`, lowercased.
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// Parse `Bearer realm="https://auth",service="registry",scope="a,b"`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = BTreeMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
            let key = key.trim().to_ascii_lowercase();
            if key.is_empty() {
                break;
            }
            if chars.next() != Some('=') {
                return None;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        None => return None,
                        Some('\\') => value.extend(chars.next()),
                        Some('"') => break,
                        Some(c) => value.push(c),
                    }
                }
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string();
            }
            params.insert(key, value);
        }
        Some(Challenge { scheme: scheme.to_ascii_lowercase(), params })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));

        let c = Challenge::parse(
            r#"Basic realm="https://123.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.param("service"), Some("ecr.amazonaws.com"));

        let c = Challenge::parse(r#"Basic realm="hoist-test""#).unwrap();
        assert_eq!(c.param("realm"), Some("hoist-test"));
        assert!(Challenge::parse(r#"Bearer realm="unterminated"#).is_none());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credential::Basic { username: "ci".into(), password: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credential::IdentityToken("tok-secret".into())).contains("tok-secret"));
        let auth = Auth { credential: c, source: CredentialSource::Env };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    fn write_config(json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        dir
    }

    #[test]
    fn env_beats_config_json() {
        let dir = write_config(r#"{"auths":{"r.example:5000":{"auth":"dTpw"}}}"#);
        let env = |k: &str| match k {
            ENV_USERNAME => Some("ci".to_string()),
            ENV_PASSWORD => Some("secret".to_string()),
            _ => None,
        };
        let auth = Auth::resolve_from("r.example:5000", env, Some(dir.path())).unwrap();
        assert_eq!(auth.source, CredentialSource::Env);
        assert_eq!(auth.credential, Credential::Basic { username: "ci".into(), password: "secret".into() });
    }

    #[test]
    fn config_json_auths_and_keys() {
        let dir = write_config(
            r#"{"auths":{"https://r.example:5000/v1/":{"auth":"dTpwOng="},"other":{"identitytoken":"idt"}}}"#,
        );
        let auth = Auth::resolve_from("r.example:5000", |_| None, Some(dir.path())).unwrap();
        assert_eq!(auth.credential, Credential::Basic { username: "u".into(), password: "p:x".into() });
        assert!(auth.source.to_string().contains("auths.\"https://r.example:5000/v1/\""), "{}", auth.source);
        let auth = Auth::resolve_from("other", |_| None, Some(dir.path())).unwrap();
        assert_eq!(auth.credential, Credential::IdentityToken("idt".into()));
        let auth = Auth::resolve_from("unknown:1", |_| None, Some(dir.path())).unwrap();
        assert_eq!(auth.credential, Credential::Anonymous);
        assert!(matches!(auth.source, CredentialSource::None { .. }));
    }

    #[test]
    fn broken_config_json_is_an_error_naming_the_file() {
        let dir = write_config("{not json");
        let err = Auth::resolve_from("h", |_| None, Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("config.json"), "{err}");
    }

    #[test]
    fn missing_helper_is_named() {
        let dir = write_config(r#"{"credHelpers":{"h:1":"hoist-test-no-such-helper"}}"#);
        let err = Auth::resolve_from("h:1", |_| None, Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("docker-credential-hoist-test-no-such-helper"), "{err}");
    }
}
