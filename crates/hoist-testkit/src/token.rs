//! A Bearer token service for a real registry under test: `GET /token?service=…&scope=…`
//! with HTTP Basic credentials (or the OAuth2 refresh-token `POST`, for `identitytoken`
//! logins) answers a JWT that distribution verifies, and every request is recorded so
//! tests can count them and check what was asked.
//!
//! ```no_run
//! let tokens = hoist_testkit::TokenServer::start("ci", "s3cret");
//! let registry = hoist_testkit::Registry::start_with_token_auth(&tokens);
//! ```
//!
//! Tokens are ES256 JWTs whose header carries the signing certificate in `x5c`; the same
//! self-signed certificate is the registry's `rootcertbundle`, which is all distribution's
//! chain check needs. Each token grants exactly the scopes asked, for the right user only.
//!
//! Hand-written on std threads with minimal HTTP/1.1 parsing (one request per connection,
//! `Connection: close`, no chunked bodies): enough for the registry clients under test,
//! and smaller than an async server. Not a real token service: test use only.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The `service` the registry is configured with, and the tokens' audience.
pub const SERVICE: &str = "hoist-test-registry";
/// The tokens' issuer, trusted by the registry.
pub const ISSUER: &str = "hoist-test-token-service";
/// How far past `exp` (and before `nbf`) distribution 2.8 still accepts a token, for
/// clock skew (`token.Leeway` in its source).
pub const REGISTRY_LEEWAY: Duration = Duration::from_secs(60);

/// What the service does with a request that has no credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anonymous {
    /// Answer 401, as a service for private registries does.
    Refuse,
    /// Issue a token that grants nothing, as Docker Hub does for private repositories:
    /// the registry then refuses it with `insufficient_scope`.
    NoAccess,
}

/// Who asked for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    /// The user and password given to [`TokenServer::start`], or the refresh token given to
    /// [`TokenServer::accept_refresh_token`].
    Valid,
    /// Credentials that are not those (or not Basic at all).
    Invalid,
}

/// One request the service answered.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub method: String,
    pub service: Option<String>,
    /// Each `scope` asked, in order (repeated parameters and space-separated ones alike).
    pub scopes: Vec<String>,
    pub caller: Caller,
    /// The `access` claim of the token issued; `None` when no token was.
    pub granted: Option<Vec<String>>,
    /// The token was issued already expired for the registry (see [`TokenServer::issue_dead`]).
    pub dead: bool,
    /// When the answer was about to be sent.
    pub at: Instant,
}

#[derive(Debug)]
struct Settings {
    lifetime: Duration,
    anonymous: Anonymous,
    dead_left: usize,
    /// The OAuth2 refresh token the `POST` flow accepts, when one is set.
    refresh_token: Option<String>,
    /// Valid callers get `pull` only, whatever they ask (an account without push rights).
    pull_only: bool,
}

#[derive(Debug)]
struct State {
    user: String,
    password: String,
    key: EcdsaKeyPair,
    /// base64 (standard, padded) DER of the certificate, for the JWT's `x5c`.
    x5c: String,
    settings: Mutex<Settings>,
    requests: Mutex<Vec<TokenRequest>>,
    issued: AtomicU64,
    /// Makes each `jti` unique, also across concurrent requests.
    serial: AtomicU64,
    stop: AtomicBool,
}

/// A running token service on a free 127.0.0.1 port; stops accepting on drop.
#[derive(Debug)]
pub struct TokenServer {
    port: u16,
    cert_pem: String,
    state: Arc<State>,
}

impl TokenServer {
    /// Serve tokens to `user` with `password`, living 300 s, refusing anonymous callers.
    pub fn start(user: &str, password: &str) -> TokenServer {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("certificate params");
        params.distinguished_name.push(rcgen::DnType::CommonName, "hoist test token signer");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        let signer =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der()).expect("ES256 key");

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            user: user.to_string(),
            password: password.to_string(),
            key: signer,
            x5c: STANDARD.encode(cert.der()),
            settings: Mutex::new(Settings {
                lifetime: Duration::from_secs(300),
                anonymous: Anonymous::Refuse,
                dead_left: 0,
                refresh_token: None,
                pull_only: false,
            }),
            requests: Mutex::new(Vec::new()),
            issued: AtomicU64::new(0),
            serial: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        crate::net::serve(listener, state.clone(), |st| st.stop.load(Ordering::SeqCst), handle);
        TokenServer { port, cert_pem: cert.pem(), state }
    }

    /// The `realm` for the registry's challenge: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn service(&self) -> &str {
        SERVICE
    }

    pub fn issuer(&self) -> &str {
        ISSUER
    }

    /// The signing certificate, PEM: the registry's `rootcertbundle`.
    pub fn root_cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The user and password the service accepts.
    pub fn credentials(&self) -> (&str, &str) {
        (&self.state.user, &self.state.password)
    }

    /// Tokens issued from now on live this long (`expires_in` and `exp`).
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.state.settings.lock().unwrap().lifetime = lifetime;
    }

    pub fn set_anonymous(&self, anonymous: Anonymous) {
        self.state.settings.lock().unwrap().anonymous = anonymous;
    }

    /// The next `count` tokens are issued with an `exp` already past the registry's leeway,
    /// while the answer still says they live the whole lifetime: the registry refuses a
    /// token the client believes valid, as after clock skew or a revoked signing key.
    pub fn issue_dead(&self, count: usize) {
        self.state.settings.lock().unwrap().dead_left = count;
    }

    /// Serve the OAuth2 refresh-token flow (`POST` with `grant_type=refresh_token`) for
    /// `token`, as registries do for `identitytoken` entries of Docker's `config.json`.
    pub fn accept_refresh_token(&self, token: &str) {
        self.state.settings.lock().unwrap().refresh_token = Some(token.to_string());
    }

    /// From now on, tokens for the right credentials grant `pull` only, as for an account
    /// that may read the repository but not push to it.
    pub fn set_pull_only(&self, pull_only: bool) {
        self.state.settings.lock().unwrap().pull_only = pull_only;
    }

    /// Every request so far, in the order answered.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.state.issued.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(mut conn: TcpStream, state: &State) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Some((head, mut body)) = crate::net::read_request_head(&mut conn) else { return };
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_string();
    let target = request_line.next().unwrap_or("").to_string();
    let mut authorization = None;
    let mut content_length = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().unwrap_or(0);
        }
    }
    // Read the whole body before answering: closing on unread bytes resets the connection,
    // and the client would see a reset instead of the answer.
    while body.len() < content_length.min(64 * 1024) {
        let mut chunk = [0u8; 8192];
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }

    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if path != "/token" {
        return respond(&mut conn, 404, "{\"errors\":[{\"code\":\"NOT_FOUND\"}]}");
    }
    // GET: Basic credentials and the parameters in the query. POST: the OAuth2 refresh-token
    // grant, the parameters in a form body.
    let params = match method.as_str() {
        "GET" => query.as_bytes().to_vec(),
        "POST" => body.clone(),
        _ => return respond(&mut conn, 405, "{\"errors\":[{\"code\":\"UNSUPPORTED\"}]}"),
    };
    let mut service = None;
    let mut scopes = Vec::new();
    let (mut grant_type, mut refresh_token, mut client_id) = (None, None, None);
    for (k, v) in url::form_urlencoded::parse(&params) {
        match k.as_ref() {
            "service" => service = Some(v.into_owned()),
            "scope" => scopes.extend(v.split_whitespace().map(String::from)),
            "grant_type" => grant_type = Some(v.into_owned()),
            "refresh_token" => refresh_token = Some(v.into_owned()),
            "client_id" => client_id = Some(v.into_owned()),
            _ => {}
        }
    }
    let caller = if method == "POST" {
        let accepted = state.settings.lock().unwrap().refresh_token.clone();
        // The distribution token spec requires `client_id` on this grant.
        match (grant_type.as_deref(), refresh_token, client_id) {
            (Some("refresh_token"), Some(t), Some(_)) if accepted.as_ref() == Some(&t) => Caller::Valid,
            _ => Caller::Invalid,
        }
    } else {
        match authorization.as_deref() {
            None => Caller::Anonymous,
            Some(value) if basic_matches(value, &state.user, &state.password) => Caller::Valid,
            Some(_) => Caller::Invalid,
        }
    };
    let (lifetime, anonymous, dead, pull_only) = {
        let mut s = state.settings.lock().unwrap();
        let dead = caller != Caller::Invalid && s.dead_left > 0;
        if dead {
            s.dead_left -= 1;
        }
        (s.lifetime, s.anonymous, dead, s.pull_only)
    };
    let granted = match caller {
        Caller::Valid if pull_only => Some(
            scopes
                .iter()
                .filter_map(|s| s.rsplit_once(':').filter(|(_, a)| a.split(',').any(|a| a == "pull")))
                .map(|(resource, _)| format!("{resource}:pull"))
                .collect(),
        ),
        Caller::Valid => Some(scopes.clone()),
        Caller::Anonymous if anonymous == Anonymous::NoAccess => Some(Vec::new()),
        _ => None,
    };
    let record = |granted: Option<Vec<String>>, dead: bool| {
        state.requests.lock().unwrap().push(TokenRequest {
            method: method.clone(),
            service: service.clone(),
            scopes: scopes.clone(),
            caller,
            granted,
            dead,
            at: Instant::now(),
        });
    };
    let Some(granted) = granted else {
        record(None, false);
        return respond(&mut conn, 401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad credentials\"}]}");
    };
    // Only sign for the registry's own service: a token for another audience is useless.
    if service.as_deref().is_some_and(|s| s != SERVICE) {
        record(None, false);
        return respond(&mut conn, 400, "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"unknown service\"}]}");
    }
    let subject = if caller == Caller::Valid { state.user.as_str() } else { "" };
    let token = sign_jwt(state, subject, &granted, lifetime, dead);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": lifetime.as_secs(),
        "issued_at": now,
    })
    .to_string();
    state.issued.fetch_add(1, Ordering::SeqCst);
    record(Some(granted), dead);
    respond(&mut conn, 200, &body);
}

fn respond(conn: &mut TcpStream, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status == 401 {
        head.push_str("WWW-Authenticate: Basic realm=\"hoist-test-token\"\r\n");
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body.as_bytes());
    let _ = conn.flush();
}

fn basic_matches(value: &str, user: &str, password: &str) -> bool {
    let Some((scheme, encoded)) = value.split_once(' ') else { return false };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    STANDARD.decode(encoded.trim()).is_ok_and(|raw| raw == format!("{user}:{password}").as_bytes())
}

/// `repository:shop:push,pull` → the `access` entry granting exactly that.
fn access_entry(scope: &str) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    // Actions come last and never hold `:`; splitting them off the end keeps any name whole.
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
    Some(serde_json::json!({ "type": kind, "name": name, "actions": actions }))
}

fn sign_jwt(state: &State, subject: &str, scopes: &[String], lifetime: Duration, dead: bool) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    // A dead token's whole validity, leeway included, is over a minute before now.
    let (iat, exp) = if dead {
        let exp = now - REGISTRY_LEEWAY.as_secs() as i64 - 60;
        (exp - lifetime.as_secs() as i64, exp)
    } else {
        (now, now + lifetime.as_secs() as i64)
    };
    let n = state.serial.fetch_add(1, Ordering::SeqCst);
    let header = serde_json::json!({ "typ": "JWT", "alg": "ES256", "x5c": [state.x5c] });
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "exp": exp,
        "nbf": iat,
        "iat": iat,
        "jti": format!("hoist-test-{now}-{n}-{}", std::process::id()),
        "access": scopes.iter().filter_map(|s| access_entry(s)).collect::<Vec<_>>(),
    });
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    // JWS wants the fixed-width `r || s` form, not the DER an X.509 signature uses.
    let signature = state.key.sign(&SystemRandom::new(), signing_input.as_bytes()).expect("ES256 signature");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_entries_keep_names_with_colons() {
        let e = access_entry("repository:127.0.0.1:5000/shop:push,pull").unwrap();
        assert_eq!(e["name"], "127.0.0.1:5000/shop");
        assert_eq!(e["actions"], serde_json::json!(["push", "pull"]));
        assert!(access_entry("nonsense").is_none());
    }

    #[test]
    fn basic_credentials_must_match_exactly() {
        assert!(basic_matches("Basic dXNlcjpwYXNz", "user", "pass"));
        assert!(!basic_matches("Basic dXNlcjpwYXNzeA==", "user", "pass"));
        assert!(!basic_matches("Bearer dXNlcjpwYXNz", "user", "pass"));
    }
}
