//! A fault-injecting HTTP proxy in front of a plain registry. Each rule matches requests by
//! method and path fragment and misbehaves a given number of times: it resets the
//! connection, answers 500 or 429 with `Retry-After`, truncates the body, flips bytes in it
//! (same length), or sends it slowly. Everything else is forwarded, or, in chaos mode, hit by
//! a transient fault drawn from a seed. `Location` headers are rewritten so clients stay
//! behind the proxy. Every request is logged for assertions.

use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A whole response with `body`, as the API stand-ins in front of registries answer.
pub fn reply(status: u16, content_type: &str, body: String) -> Response<BoxBody> {
    let full = http_body_util::Full::new(Bytes::from(body))
        .map_err(|never: std::convert::Infallible| match never {});
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(BoxBody::new(full))
        .unwrap()
}

/// Writes a containers auth file holding `user`'s basic credentials for `registry`.
pub fn write_basic_auth_file(path: &std::path::Path, registry: &str, user: (&str, &str)) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.0, user.1));
    let json = serde_json::json!({"auths": {registry: {"auth": auth}}});
    std::fs::write(path, json.to_string()).unwrap();
}

/// The pieces a throttled body is cut into.
const THROTTLE_PIECE: usize = 8 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection without answering.
    Reset,
    Status(u16),
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// Send the first half of the body, then cut the connection.
    Truncate,
    /// Send every byte, but some of them wrong.
    Corrupt,
    /// Answer this status to requests that carry a body (Content-Length > 0); forward the rest.
    RefuseBodies(u16),
    /// Forward without the query string: a mount request (`?mount=&from=`) becomes a plain
    /// upload start, so the registry answers 202 "not mounted" as one that declines would.
    DropQuery,
    /// Hold the request this long before forwarding it (a hung server).
    Stall(std::time::Duration),
    /// Forward, but wait this long before each piece of the answer's body (a slow link).
    Throttle(std::time::Duration),
    /// Answer 200 with this body and Content-Type instead of asking the registry
    /// (a registry serving something it should not).
    Replace {
        content_type: String,
        body: Bytes,
    },
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub path_contains: String,
    pub fault: Fault,
    /// How many matching requests misbehave (then the rule is spent).
    pub times: usize,
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<String>>,
    chaos: Mutex<Option<Chaos>>,
}

/// Transient faults at random, but replayable: whether the n-th request for one resource
/// (method, path without upload session ids, digest) misbehaves, and how, depends only on the
/// seed, not on the order concurrent requests arrive in.
struct Chaos {
    seed: u64,
    per_mille: u64,
    seen: std::collections::HashMap<String, u64>,
    injected: Vec<String>,
}

impl Chaos {
    fn key(method: &str, path: &str) -> String {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let path = match path.split_once("/blobs/uploads/") {
            Some((repo, _session)) => format!("{repo}/blobs/uploads/"),
            None => path.to_string(),
        };
        let digest = query
            .split('&')
            .find(|p| p.starts_with("digest="))
            .unwrap_or("");
        format!("{method} {path} {digest}")
    }

    fn draw(&mut self, method: &str, path: &str) -> Option<Fault> {
        let key = Self::key(method, path);
        let n = self.seen.entry(key.clone()).or_default();
        *n += 1;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&(self.seed, &key, *n), &mut hasher);
        let roll = std::hash::Hasher::finish(&hasher);
        if roll % 1000 >= self.per_mille {
            return None;
        }
        let choices: &[Fault] = if method == "GET" {
            &[
                Fault::Reset,
                Fault::Status(500),
                Fault::Status(503),
                Fault::TooManyRequests {
                    retry_after_secs: 0,
                },
                Fault::Truncate,
            ]
        } else {
            &[
                Fault::Reset,
                Fault::Status(502),
                Fault::Status(503),
                Fault::TooManyRequests {
                    retry_after_secs: 0,
                },
            ]
        };
        let fault = choices[((roll / 1000) % choices.len() as u64) as usize].clone();
        self.injected.push(format!("{key} #{n}: {fault:?}"));
        Some(fault)
    }
}

/// An HTTP/1 server on its own thread and runtime, handing each request, with a shared
/// reqwest client and the upstream and own addresses, to `handler`; stopped when dropped.
/// The fault proxy and the Harbor test server are built on it.
pub struct ProxyServer {
    pub addr: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProxyServer {
    pub fn start<F, Fut>(upstream: &str, handler: F) -> ProxyServer
    where
        F: Fn(Request<Incoming>, reqwest::Client, String, String) -> Fut
            + Clone
            + Send
            + Sync
            + 'static,
        Fut: std::future::Future<Output = Result<Response<BoxBody>, std::io::Error>>
            + Send
            + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let (up, me) = (upstream.to_string(), addr.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap();
                loop {
                    let (stream, _) = tokio::select! {
                        _ = &mut rx => return,
                        a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                    };
                    let (client, up, me, handler) =
                        (client.clone(), up.clone(), me.clone(), handler.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            handler(req, client.clone(), up.clone(), me.clone())
                        });
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                }
            });
        });
        ProxyServer {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct FaultProxy {
    pub addr: String,
    upstream: String,
    shared: Arc<Shared>,
    _server: ProxyServer,
}

impl FaultProxy {
    /// Proxies to `upstream` (`127.0.0.1:PORT` of a plain-HTTP registry).
    pub fn start(upstream: &str) -> FaultProxy {
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let server = ProxyServer::start(upstream, move |req, client, up, me| {
            handle(req, client, up, me, sh.clone())
        });
        FaultProxy {
            addr: server.addr.clone(),
            upstream: upstream.to_string(),
            shared,
            _server: server,
        }
    }

    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    pub fn add(&self, rule: Rule) {
        self.shared.rules.lock().unwrap().push(rule);
    }

    /// `METHOD path?query` of every request seen so far.
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn clear_log(&self) {
        self.shared.log.lock().unwrap().clear();
    }

    /// From now on, `per_mille` of requests (decided by `seed`, see `Chaos`) get a transient
    /// fault: a reset, a 5xx, a 429, or a truncated body.
    pub fn chaos(&self, seed: u64, per_mille: u64) {
        *self.shared.chaos.lock().unwrap() = Some(Chaos {
            seed,
            per_mille,
            seen: Default::default(),
            injected: Vec::new(),
        });
    }

    /// The faults chaos mode injected so far.
    pub fn injected(&self) -> Vec<String> {
        self.shared
            .chaos
            .lock()
            .unwrap()
            .as_ref()
            .map(|c| c.injected.clone())
            .unwrap_or_default()
    }

    /// Rules that still have misbehaviour left.
    pub fn pending_rules(&self) -> usize {
        self.shared
            .rules
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.times > 0)
            .count()
    }
}

fn full(status: u16, body: &'static str) -> Response<BoxBody> {
    let body = http_body_util::Full::new(Bytes::from_static(body.as_bytes()))
        .map_err(|never: Infallible| match never {});
    Response::builder()
        .status(status)
        .body(BoxBody::new(body))
        .unwrap()
}

async fn handle(
    req: Request<Incoming>,
    client: reqwest::Client,
    upstream: String,
    me: String,
    shared: Arc<Shared>,
) -> Result<Response<BoxBody>, std::io::Error> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    shared.log.lock().unwrap().push(format!("{method} {path}"));
    let has_body = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        > 0;
    let fault = {
        let mut rules = shared.rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| {
                r.times > 0
                    && r.method == method
                    && path.contains(&r.path_contains)
                    && (has_body || !matches!(r.fault, Fault::RefuseBodies(_)))
            })
            .map(|r| {
                r.times -= 1;
                r.fault.clone()
            })
    };
    let fault = match fault {
        Some(f) => Some(f),
        None => shared
            .chaos
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|c| c.draw(&method, &path)),
    };
    if let Some(Fault::Stall(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    match &fault {
        Some(Fault::Reset) => return Err(std::io::Error::other("injected reset")),
        Some(Fault::Status(code)) | Some(Fault::RefuseBodies(code)) => {
            return Ok(full(
                *code,
                r#"{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}"#,
            ));
        }
        Some(Fault::Replace { content_type, body }) => {
            let full_body =
                http_body_util::Full::new(body.clone()).map_err(|never: Infallible| match never {});
            let digest = format!(
                "sha256:{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body))
            );
            return Ok(Response::builder()
                .status(200)
                .header("content-type", content_type.as_str())
                .header("content-length", body.len())
                .header("docker-content-digest", digest)
                .body(BoxBody::new(full_body))
                .unwrap());
        }
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut r = full(
                429,
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
            );
            r.headers_mut()
                .insert("retry-after", retry_after_secs.to_string().parse().unwrap());
            return Ok(r);
        }
        _ => {}
    }
    let forwarded_path = match &fault {
        Some(Fault::DropQuery) => path.split('?').next().unwrap_or("").to_string(),
        _ => path.clone(),
    };
    forward(req, &client, &upstream, &me, &forwarded_path, fault).await
}

/// Forwards a request to `upstream` (plain HTTP) and streams the answer back, with `Location`
/// rewritten to `me`, applying a body fault if any. Also used by the Harbor test server.
pub async fn forward(
    req: Request<Incoming>,
    client: &reqwest::Client,
    upstream: &str,
    me: &str,
    forwarded_path: &str,
    fault: Option<Fault>,
) -> Result<Response<BoxBody>, std::io::Error> {
    let url = format!("http://{upstream}{forwarded_path}");
    let mut forward = client.request(req.method().clone(), url);
    for (k, v) in req.headers() {
        if k != "host" {
            forward = forward.header(k, v);
        }
    }
    let body_stream = req
        .into_body()
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    forward = forward.body(reqwest::Body::wrap_stream(body_stream));
    let upstream_resp = match forward.send().await {
        Ok(r) => r,
        Err(e) => return Err(std::io::Error::other(e)),
    };
    let mut builder = Response::builder().status(upstream_resp.status().as_u16());
    for (k, v) in upstream_resp.headers() {
        if k == "location" {
            let rewritten = v.to_str().unwrap_or("").replace(upstream, me);
            builder = builder.header(k, rewritten);
        } else {
            builder = builder.header(k, v);
        }
    }
    let length = upstream_resp.content_length().unwrap_or(0);
    let mut sent: u64 = 0;
    let delay = match &fault {
        Some(Fault::Throttle(d)) => Some(*d),
        _ => None,
    };
    // A throttled body goes out in small pieces, each after the delay.
    let stream = upstream_resp
        .bytes_stream()
        .flat_map(move |chunk| {
            let pieces: Vec<Result<Bytes, reqwest::Error>> = match chunk {
                Ok(bytes) if delay.is_some() => (0..bytes.len())
                    .step_by(THROTTLE_PIECE)
                    .map(|at| Ok(bytes.slice(at..(at + THROTTLE_PIECE).min(bytes.len()))))
                    .collect(),
                other => vec![other],
            };
            futures_util::stream::iter(pieces)
        })
        .then(move |chunk| async move {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            chunk
        });
    let stream = stream.map(move |chunk| {
        let mut chunk = chunk.map_err(std::io::Error::other)?;
        match fault {
            Some(Fault::Truncate) if sent + chunk.len() as u64 > length / 2 => {
                return Err(std::io::Error::other("injected truncation"));
            }
            Some(Fault::Corrupt) => {
                let mut v = chunk.to_vec();
                for b in v.iter_mut().step_by(997) {
                    *b ^= 0xff;
                }
                chunk = Bytes::from(v);
            }
            _ => {}
        }
        sent += chunk.len() as u64;
        Ok(Frame::data(chunk))
    });
    Ok(builder.body(BoxBody::new(StreamBody::new(stream))).unwrap())
}
