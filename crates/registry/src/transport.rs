//! The HTTP clients of one registry host, carrying that host's TLS settings and network
//! timeouts: verification on by default, CA certificates (`*.crt`) and client certificates
//! (`*.cert` + `*.key`) from `certs.d/<host>/` directories, and `--tls-verify=false` to accept
//! self-signed certificates (the caller then also falls back to plain HTTP, as
//! containers/image does). Streamed uploads are watched for silence here too.

use super::error::RegistryError;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Where per-host certificate directories live, searched in order.
pub fn default_certs_roots() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/etc/containers/certs.d"),
        PathBuf::from("/etc/docker/certs.d"),
    ]
}

/// How long one host may keep hangar waiting. Bounded per host, not per image: a host that
/// stays silent past these fails the request, and one that does so twice in a row is given up
/// for the rest of the run (see `client.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect and TLS handshake together.
    pub connect: Duration,
    /// For an answer to begin once the request is sent (its body included), and between two
    /// pieces of a body, in either direction.
    pub silence: Duration,
}

/// `--network-timeout`'s default: generous for a registry committing a large upload, short
/// enough that a dead host costs a minute, not ten.
pub const DEFAULT_NETWORK_TIMEOUT: Duration = Duration::from_secs(60);
/// A connection (with its TLS handshake) that takes longer than this is not coming.
const MAX_CONNECT: Duration = Duration::from_secs(15);

static NETWORK_TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Sets the process-wide network timeout (the global `--network-timeout` flag), once, before
/// any registry is contacted. Zero means no limit.
pub fn set_network_timeout(timeout: Duration) {
    let _ = NETWORK_TIMEOUT.set(timeout);
}

impl Timeouts {
    pub fn new(network: Duration) -> Timeouts {
        Timeouts {
            connect: network.min(MAX_CONNECT),
            silence: network,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::new(
            NETWORK_TIMEOUT
                .get()
                .copied()
                .unwrap_or(DEFAULT_NETWORK_TIMEOUT),
        )
    }
}

/// What the HTTP clients of one registry host are made from.
#[derive(Clone, Debug)]
pub struct ClientRecipe {
    pub host: String,
    pub verify_tls: bool,
    pub certs_roots: Vec<PathBuf>,
    pub user_agent: String,
    pub timeouts: Timeouts,
}

impl ClientRecipe {
    /// The client for every request whose body is small: reqwest's read timeout bounds the
    /// wait for the answer (counted from the send) and each read of its body.
    pub fn requests(&self) -> Result<reqwest::Client, RegistryError> {
        self.build(true)
    }

    /// The client for streamed uploads. A read timeout would count the whole upload as the
    /// wait for the answer, so these are watched by [`send_watched`] instead.
    pub fn uploads(&self) -> Result<reqwest::Client, RegistryError> {
        self.build(false)
    }

    fn build(&self, read_timeout: bool) -> Result<reqwest::Client, RegistryError> {
        let tls_err = |message: String| RegistryError::Tls {
            host: self.host.clone(),
            message,
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(&self.user_agent)
            .pool_max_idle_per_host(64)
            .danger_accept_invalid_certs(!self.verify_tls);
        if !self.timeouts.connect.is_zero() {
            builder = builder.connect_timeout(self.timeouts.connect);
        }
        if read_timeout && !self.timeouts.silence.is_zero() {
            builder = builder.read_timeout(self.timeouts.silence);
        }
        for root in &self.certs_roots {
            let dir = root.join(&self.host);
            if !dir.is_dir() {
                continue;
            }
            let (cas, identity) = read_cert_dir(&dir).map_err(tls_err)?;
            for ca in cas {
                builder = builder.add_root_certificate(ca);
            }
            if let Some(id) = identity {
                builder = builder.identity(id);
            }
        }
        builder
            .build()
            .map_err(|e| tls_err(super::error::describe(&e)))
    }
}

/// When a streamed request last moved: its start, then each time the connection asked for
/// more body, then its end; and whether the body itself is waiting for its source (a
/// registry being read from, whose own timeout then applies: a stalled source must not be
/// blamed on the destination).
pub struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
    waiting_on_source: AtomicBool,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            waiting_on_source: AtomicBool::new(false),
        })
    }

    fn touch(&self) {
        let now = self.origin.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A request body that records in `activity` each time the connection asks for more (a host
/// that stops reading stops asking) and whether it is waiting on its own source.
pub fn watched_body<S, E>(stream: S, activity: Arc<Activity>) -> reqwest::Body
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    reqwest::Body::wrap_stream(Watched {
        inner: Box::pin(stream),
        activity,
    })
}

struct Watched<S> {
    inner: std::pin::Pin<Box<S>>,
    activity: Arc<Activity>,
}

impl<S: futures_util::Stream> futures_util::Stream for Watched<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        self.activity.touch();
        let polled = self.inner.as_mut().poll_next(cx);
        self.activity
            .waiting_on_source
            .store(polled.is_pending(), Ordering::Relaxed);
        if polled.is_ready() {
            self.activity.touch();
        }
        polled
    }
}

/// Sends a request with a [`watched_body`]: `None` when the host stayed silent for `silence`,
/// neither asking for body nor answering (zero: no limit).
pub async fn send_watched(
    request: reqwest::RequestBuilder,
    activity: &Activity,
    silence: Duration,
) -> Option<Result<reqwest::Response, reqwest::Error>> {
    let send = request.send();
    if silence.is_zero() {
        return Some(send.await);
    }
    tokio::pin!(send);
    loop {
        let deadline = activity.last() + silence;
        tokio::select! {
            result = &mut send => return Some(result),
            _ = tokio::time::sleep_until(deadline.into()) => {
                if activity.waiting_on_source.load(Ordering::Relaxed) {
                    // The source is slow or silent: its own timeout decides, not ours.
                    activity.touch();
                } else if activity.last() + silence <= Instant::now() {
                    return None;
                }
            }
        }
    }
}

/// Splits a piece of body into pieces a slow link takes in well under a timeout, so that
/// [`watched_body`] sees steady progress.
pub fn in_pieces(bytes: Bytes) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    const PIECE: usize = 64 * 1024;
    let count = bytes.len().div_ceil(PIECE);
    futures_util::stream::iter((0..count).map(move |i| {
        let end = ((i + 1) * PIECE).min(bytes.len());
        Ok(bytes.slice(i * PIECE..end))
    }))
}

/// Reads `*.crt` CAs and a `*.cert`/`*.key` client pair, with the same naming as containers/image.
fn read_cert_dir(
    dir: &Path,
) -> Result<(Vec<reqwest::Certificate>, Option<reqwest::Identity>), String> {
    let mut cas = Vec::new();
    let mut identity = None;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                let pem = read(&path)?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
                cas.extend(certs);
            }
            Some("cert") => {
                let key_path = path.with_extension("key");
                if !key_path.exists() {
                    return Err(format!(
                        "{}: client certificate has no matching .key",
                        path.display()
                    ));
                }
                let mut pem = read(&path)?;
                pem.push(b'\n');
                pem.extend(read(&key_path)?);
                identity = Some(reqwest::Identity::from_pem(&pem).map_err(|e| {
                    format!("{}: unusable client certificate: {e}", path.display())
                })?);
            }
            Some("key") if !path.with_extension("cert").exists() => {
                return Err(format!("{}: key has no matching .cert", path.display()));
            }
            _ => {}
        }
    }
    Ok((cas, identity))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload_client() -> reqwest::Client {
        ClientRecipe {
            host: "127.0.0.1".into(),
            verify_tls: true,
            certs_roots: Vec::new(),
            user_agent: "test".into(),
            timeouts: Timeouts::new(Duration::from_secs(1)),
        }
        .uploads()
        .unwrap()
    }

    /// A server that accepts and then `read`s (or not) forever, never answering.
    async fn listener(reads: bool) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut sink = vec![0u8; 1 << 16];
            loop {
                if reads {
                    use tokio::io::AsyncReadExt as _;
                    if socket.read(&mut sink).await.unwrap_or(0) == 0 {
                        break;
                    }
                } else {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn an_upload_nobody_reads_times_out() {
        let addr = listener(false).await;
        let activity = Activity::new();
        let body = watched_body(
            in_pieces(Bytes::from(vec![7u8; 64 << 20])),
            activity.clone(),
        );
        let request = upload_client().put(format!("http://{addr}/")).body(body);
        let started = Instant::now();
        let sent = send_watched(request, &activity, Duration::from_secs(1)).await;
        assert!(sent.is_none(), "the silent host was noticed");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn an_answer_that_never_comes_after_the_body_times_out() {
        let addr = listener(true).await;
        let activity = Activity::new();
        let body = watched_body(in_pieces(Bytes::from(vec![7u8; 1 << 20])), activity.clone());
        let request = upload_client().put(format!("http://{addr}/")).body(body);
        let sent = send_watched(request, &activity, Duration::from_secs(1)).await;
        assert!(sent.is_none());
    }

    /// A body whose own source stalls is not the destination's silence: the watch waits (the
    /// source's read timeout decides).
    #[tokio::test]
    async fn a_stalled_source_is_not_blamed_on_the_destination() {
        let addr = listener(true).await;
        let activity = Activity::new();
        let first = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]);
        let stalled = futures_util::StreamExt::chain(first, futures_util::stream::pending());
        let body = watched_body(stalled, activity.clone());
        let request = upload_client().put(format!("http://{addr}/")).body(body);
        let waited = tokio::time::timeout(
            Duration::from_secs(3),
            send_watched(request, &activity, Duration::from_secs(1)),
        )
        .await;
        assert!(waited.is_err(), "still waiting on the source after 3 s");
    }
}
