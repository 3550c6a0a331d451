//! A Docker-registry token server: `GET /token?service=…&scope=…` with optional Basic auth
//! answers an RS256 JWT whose header carries `x5c` (the signing certificate), which is what
//! distribution verifies against its `rootcertbundle`. Wrong passwords get 401; anonymous
//! callers get `pull` only. Runs on its own thread and runtime; stops when dropped.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct TokenServer {
    pub addr: String,
    pub requests: Arc<AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Issuer {
    key: SigningKey<sha2::Sha256>,
    x5c: String,
    user: String,
    password: String,
    requests: Arc<AtomicUsize>,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The refresh token that stands for an identity token in auth files (OAuth2 grant).
pub const REFRESH_TOKEN: &str = "test-refresh-token";

/// OAuth2 `grant_type=refresh_token` (how clients trade an identity token for access).
async fn token_post(
    State(issuer): State<Arc<Issuer>>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if get("grant_type") != "refresh_token" || get("refresh_token") != REFRESH_TOKEN {
        issuer.requests.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"details":"invalid refresh token"}"#,
        )
            .into_response();
    }
    let query: Vec<(String, String)> = get("scope")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| ("scope".to_string(), s.to_string()))
        .chain([("service".to_string(), get("service"))])
        .collect();
    issue(&issuer, Some(issuer.user.clone()), query)
}

async fn token(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mut user = None;
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok())
        && let Some(encoded) = auth.strip_prefix("Basic ")
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&decoded).to_string();
        let (u, p) = text.split_once(':').unwrap_or((&text, ""));
        if u == issuer.user && p == issuer.password {
            user = Some(u.to_string());
        } else {
            issuer.requests.fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::UNAUTHORIZED,
                r#"{"details":"invalid username/password"}"#,
            )
                .into_response();
        }
    }
    issue(&issuer, user, query)
}

fn issue(issuer: &Issuer, user: Option<String>, query: Vec<(String, String)>) -> Response {
    issuer.requests.fetch_add(1, Ordering::SeqCst);
    let params: HashMap<&str, Vec<&str>> = query.iter().fold(HashMap::new(), |mut m, (k, v)| {
        m.entry(k.as_str()).or_default().push(v.as_str());
        m
    });
    let mut access = Vec::new();
    for scope in params.get("scope").cloned().unwrap_or_default() {
        for s in scope.split(' ') {
            let parts: Vec<&str> = s.split(':').collect();
            if parts.len() < 3 {
                continue;
            }
            let name = parts[1..parts.len() - 1].join(":");
            let granted: Vec<&str> = parts[parts.len() - 1]
                .split(',')
                .filter(|a| user.is_some() || *a == "pull")
                .collect();
            access.push(serde_json::json!({"type": parts[0], "name": name, "actions": granted}));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let service = params
        .get("service")
        .and_then(|v| v.first())
        .copied()
        .unwrap_or("");
    let claims = serde_json::json!({
        "iss": "test-issuer", "sub": user.clone().unwrap_or_default(), "aud": service,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", rand::random::<u64>()),
        "access": access,
    });
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [issuer.x5c]});
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature = issuer.key.sign(signing_input.as_bytes());
    let jwt = format!("{signing_input}.{}", b64url(&signature.to_bytes()));
    let body = serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 300});
    ([("content-type", "application/json")], body.to_string()).into_response()
}

impl TokenServer {
    pub fn start(key_pem: &Path, cert_pem: &Path, user: &str, password: &str) -> TokenServer {
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(key_pem).unwrap())
            .expect("token key");
        let pem = std::fs::read_to_string(cert_pem).unwrap();
        // x5c is the base64 of the DER certificate, which is the PEM body without line breaks.
        let x5c: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let requests = Arc::new(AtomicUsize::new(0));
        let issuer = Arc::new(Issuer {
            key: SigningKey::new(key),
            x5c,
            user: user.into(),
            password: password.into(),
            requests: requests.clone(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new()
                    .route("/token", axum::routing::get(token).post(token_post))
                    .with_state(issuer);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        TokenServer {
            addr,
            requests,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
