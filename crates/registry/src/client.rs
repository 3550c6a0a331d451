//! The distribution API operations on one registry host, and the pool that hands out one
//! connected [`Registry`] per host.

use super::MAX_MANIFEST_BYTES;
use super::auth::{Authenticator, Challenge, Credentials, Scope};
use super::credentials::{Credential, HostCredentials};
use super::error::{RegistryError, describe, error_detail};
use super::retry::{RetryPolicy, parse_retry_after};
use super::transport::{
    Activity, ClientRecipe, Timeouts, default_certs_roots, in_pieces, send_watched, watched_body,
};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use hangar_image::digest::Digest;
use hangar_image::media;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};
use url::Url;

#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// `None`: verify TLS (the default). `Some(false)`: accept any certificate and fall back
    /// to plain HTTP.
    pub tls_verify: Option<bool>,
    /// Roots holding `<host>/` certificate directories, searched before the system ones.
    pub extra_certs_roots: Vec<PathBuf>,
    pub user_agent: String,
    pub retry: RetryPolicy,
    /// Blob transfers in flight per host, across all images.
    pub max_transfers_per_host: usize,
    pub timeouts: Timeouts,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: None,
            extra_certs_roots: Vec::new(),
            user_agent: format!(
                "hangar/{} (github.com/cnrancher/hangar)",
                env!("CARGO_PKG_VERSION")
            ),
            retry: RetryPolicy::default(),
            max_transfers_per_host: 16,
            timeouts: Timeouts::default(),
        }
    }
}

/// A manifest exactly as the registry served it.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestHead {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

pub enum BlobUpload {
    /// The registry mounted the blob from another repository: nothing to send.
    Mounted,
    /// An upload session to PUT the bytes to.
    Session(Url),
}

pub struct Registry {
    /// The registry's name as images spell it (`docker.io`, `reg:5000`).
    name: String,
    base: Url,
    http: reqwest::Client,
    recipe: ClientRecipe,
    /// Made on the first streamed upload (read-only runs never need it).
    uploads: OnceLock<reqwest::Client>,
    health: Health,
    auth: Authenticator,
    retry: RetryPolicy,
    transfers: Arc<Semaphore>,
    monolithic_ok: std::sync::atomic::AtomicBool,
}

fn api_host(name: &str) -> &str {
    if name == hangar_image::reference::DOCKER_HUB {
        hangar_image::reference::DOCKER_HUB_API
    } else {
        name
    }
}

impl Registry {
    /// Connects to a registry: builds its TLS client, probes `/v2/` (falling back to plain
    /// HTTP when TLS verification is off and HTTPS fails) and learns its auth challenge.
    /// `credential` overrides the auth-file lookup (login verifies what it is given);
    /// otherwise each repository gets its most specific auth-file entry.
    pub async fn connect(
        name: &str,
        opts: &RegistryOptions,
        credential: Option<Option<Credential>>,
    ) -> Result<Registry, RegistryError> {
        let host = api_host(name);
        let credentials = match credential {
            Some(c) => Credentials::Given(c),
            None => Credentials::from_files(HostCredentials::load(name)?),
        };
        let verify = opts.tls_verify.unwrap_or(true);
        let mut certs_roots = opts.extra_certs_roots.clone();
        certs_roots.extend(default_certs_roots());
        let recipe = ClientRecipe {
            host: host.to_string(),
            verify_tls: verify,
            certs_roots,
            user_agent: opts.user_agent.clone(),
            timeouts: opts.timeouts,
        };
        let http = recipe.requests()?;
        // A host that does not answer the probe in time is not asked again: the next try
        // would cost another full timeout, for every image that names it.
        let probing = RetryPolicy {
            no_answer_attempts: 1,
            ..opts.retry
        };
        let (base, challenge) = match probe(&http, "https", host, &probing, &opts.timeouts).await {
            Ok(found) => found,
            Err(https_err) if !verify => {
                match probe(&http, "http", host, &probing, &opts.timeouts).await {
                    Ok(found) => found,
                    Err(_) => return Err(https_err),
                }
            }
            Err(e) => return Err(e),
        };
        tracing::debug!(registry = name, base = %base, ?challenge, "connected");
        Ok(Registry {
            name: name.to_string(),
            base,
            http,
            recipe,
            uploads: OnceLock::new(),
            health: Health::default(),
            auth: Authenticator::new(name, challenge, credentials),
            retry: opts.retry,
            transfers: Arc::new(Semaphore::new(opts.max_transfers_per_host.max(1))),
            monolithic_ok: std::sync::atomic::AtomicBool::new(true),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Waits for a blob-transfer slot on this host.
    pub async fn transfer_permit(&self) -> OwnedSemaphorePermit {
        self.transfers
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed")
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("registry paths are valid URLs")
    }

    fn what(&self, kind: &str, repo: &str, reference: &str) -> String {
        let sep = if reference.contains(':') { "@" } else { ":" };
        format!("{kind} {}/{repo}{sep}{reference}", self.name)
    }

    /// Sends one request with the auth it needs; a refused cached bearer token is renewed once.
    async fn send(
        &self,
        what: &str,
        scopes: &[Scope],
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut renewed = false;
        loop {
            self.health.check(&self.name)?;
            let mut request = build(&self.http);
            if let Some(value) = self.auth.authorization(&self.http, scopes).await? {
                request = request.header(AUTHORIZATION, value);
            }
            let response = self.answered(
                what,
                request
                    .send()
                    .await
                    .map_err(|e| transport_error(&self.name, what, &e, &self.recipe.timeouts)),
            )?;
            if response.status() == StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                // A registry may leave /v2/ open and protect repositories, or a cached token
                // may have been revoked: adopt the challenge of this 401, renew, try once more.
                let learnt = response
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|h| self.auth.learn(h));
                if learnt || matches!(self.auth.challenge(), Challenge::Bearer { .. }) {
                    self.auth.invalidate(scopes).await;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// Notes whether the host answered: two requests in a row without an answer and it is
    /// given up for the rest of the run.
    fn answered<T>(
        &self,
        what: &str,
        result: Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        match &result {
            Ok(_) => self.health.answered(),
            Err(e @ RegistryError::NoAnswer { .. }) => self.health.no_answer(what, e),
            Err(_) => {}
        }
        result
    }

    /// The client for streamed uploads, made on first use.
    fn uploads(&self) -> Result<&reqwest::Client, RegistryError> {
        if let Some(client) = self.uploads.get() {
            return Ok(client);
        }
        let client = self.recipe.uploads()?;
        Ok(self.uploads.get_or_init(|| client))
    }

    /// Sends a request whose body streams, watched for silence (see `transport::send_watched`).
    async fn send_streamed(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
        activity: &Activity,
    ) -> Result<reqwest::Response, RegistryError> {
        self.health.check(&self.name)?;
        let silence = self.recipe.timeouts.silence;
        let result = match send_watched(request, activity, silence).await {
            Some(sent) => {
                sent.map_err(|e| transport_error(&self.name, what, &e, &self.recipe.timeouts))
            }
            None => Err(RegistryError::NoAnswer {
                what: what.to_string(),
                host: self.name.clone(),
                detail: format!(
                    "it took no upload data and sent no answer for {}",
                    seconds(silence)
                ),
            }),
        };
        self.answered(what, result)
    }

    /// Turns a non-success response into the error that names what failed.
    async fn fail(&self, what: &str, response: reqwest::Response) -> RegistryError {
        status_error(what, &self.name, response).await
    }

    /// GETs a manifest (at most 4 MiB), checking its digest when it was asked for by digest.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let what = self.what("manifest", repo, reference);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let accept = media::ACCEPTED_MANIFESTS.join(", ");
        self.retry
            .run(&what, || async {
                let response = self
                    .send(&what, &[Scope::pull(repo)], |c| {
                        c.get(url.clone()).header(ACCEPT, &accept)
                    })
                    .await?;
                if !response.status().is_success() {
                    return Err(self.fail(&what, response).await);
                }
                let headers = response.headers().clone();
                if content_length(&headers).is_some_and(|n| n > MAX_MANIFEST_BYTES as u64) {
                    return Err(RegistryError::TooLarge {
                        what: what.clone(),
                        limit: MAX_MANIFEST_BYTES,
                    });
                }
                let bytes = read_limited(response, MAX_MANIFEST_BYTES, &what).await?;
                let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
                let media_type = media::resolve(content_type, &bytes).unwrap_or_else(|| {
                    content_type
                        .unwrap_or("unknown")
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string()
                });
                let computed = Digest::sha256_of(&bytes);
                let served: Option<Digest> = headers
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                // A signed schema1 manifest's digest covers the payload without signatures,
                // so only the registry can name it.
                let digest = if media_type == media::DOCKER_V2S1_SIGNED {
                    served.unwrap_or(computed)
                } else {
                    if let Ok(asked) = reference.parse::<Digest>()
                        && asked != computed
                    {
                        return Err(RegistryError::DigestMismatch {
                            what: what.clone(),
                            expected: asked.to_string(),
                            actual: computed.to_string(),
                        });
                    }
                    computed
                };
                Ok(Manifest {
                    bytes,
                    media_type,
                    digest,
                })
            })
            .await
    }

    /// HEADs a manifest: its digest, size and type, or `None` when it does not exist.
    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let what = self.what("manifest", repo, reference);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let accept = media::ACCEPTED_MANIFESTS.join(", ");
        let head = self
            .retry
            .run(&what, || async {
                let response = self
                    .send(&what, &[Scope::pull(repo)], |c| {
                        c.head(url.clone()).header(ACCEPT, &accept)
                    })
                    .await?;
                if response.status() == StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if !response.status().is_success() {
                    return Err(self.fail(&what, response).await);
                }
                let headers = response.headers();
                let digest = headers
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<Digest>().ok());
                let media_type = headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
                    .unwrap_or_default();
                Ok(Some((
                    digest,
                    content_length(headers).unwrap_or(0),
                    media_type,
                )))
            })
            .await?;
        match head {
            None => Ok(None),
            Some((Some(digest), size, media_type)) => Ok(Some(ManifestHead {
                digest,
                size,
                media_type,
            })),
            // No digest header: only a GET can tell.
            Some((None, _, _)) => {
                let m = self.get_manifest(repo, reference).await?;
                Ok(Some(ManifestHead {
                    digest: m.digest,
                    size: m.bytes.len() as u64,
                    media_type: m.media_type,
                }))
            }
        }
    }

    /// PUTs manifest bytes under a tag or digest; returns the digest the registry stored.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &Bytes,
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let what = self.what("manifest", repo, reference);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        self.retry
            .run(&what, || async {
                let response = self
                    .send(&what, &[Scope::push(repo)], |c| {
                        c.put(url.clone())
                            .header(CONTENT_TYPE, media_type)
                            .body(bytes.clone())
                    })
                    .await?;
                if !response.status().is_success() {
                    return Err(self.fail(&what, response).await);
                }
                Ok(Digest::sha256_of(bytes))
            })
            .await
    }

    pub async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<(), RegistryError> {
        let what = self.what("manifest", repo, digest.as_str());
        let url = self.url(&format!("/v2/{repo}/manifests/{digest}"));
        self.retry
            .run(&what, || async {
                let response = self
                    .send(&what, &[Scope::delete(repo)], |c| c.delete(url.clone()))
                    .await?;
                if !response.status().is_success() {
                    return Err(self.fail(&what, response).await);
                }
                Ok(())
            })
            .await
    }

    /// The size of a blob when the repository has it.
    pub async fn blob_size(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let what = self.what("blob", repo, digest.as_str());
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        self.retry
            .run(&what, || async {
                let response = self
                    .send(&what, &[Scope::pull(repo)], |c| c.head(url.clone()))
                    .await?;
                match response.status() {
                    StatusCode::NOT_FOUND => Ok(None),
                    s if s.is_success() => {
                        Ok(Some(content_length(response.headers()).unwrap_or(0)))
                    }
                    _ => Err(self.fail(&what, response).await),
                }
            })
            .await
    }

    /// Starts streaming a blob. Not retried here: a broken stream is restarted by the caller,
    /// which owns the whole transfer.
    pub async fn get_blob(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<reqwest::Response, RegistryError> {
        let what = self.what("blob", repo, digest.as_str());
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let response = self
            .send(&what, &[Scope::pull(repo)], |c| c.get(url.clone()))
            .await?;
        if !response.status().is_success() {
            return Err(self.fail(&what, response).await);
        }
        Ok(response)
    }

    /// Streams a blob from byte `from` on (resuming an interrupted entry). A registry that
    /// ignores `Range` answers 200 with the whole blob: the first `from` bytes are skipped.
    pub async fn get_blob_from(
        &self,
        repo: &str,
        digest: &Digest,
        from: u64,
    ) -> Result<
        impl futures_util::Stream<Item = Result<Bytes, reqwest::Error>> + Send + Unpin + use<>,
        RegistryError,
    > {
        use futures_util::StreamExt as _;
        let what = self.what("blob", repo, digest.as_str());
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let response = self
            .send(&what, &[Scope::pull(repo)], |c| {
                c.get(url.clone())
                    .header(reqwest::header::RANGE, format!("bytes={from}-"))
            })
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.fail(&what, response).await);
        }
        let mut skip = if status == reqwest::StatusCode::PARTIAL_CONTENT {
            0
        } else {
            from
        };
        Ok(response.bytes_stream().filter_map(move |chunk| {
            let out = match chunk {
                Ok(mut bytes) if skip > 0 => {
                    let n = skip.min(bytes.len() as u64);
                    skip -= n;
                    let _ = bytes.split_to(n as usize);
                    (!bytes.is_empty()).then_some(Ok(bytes))
                }
                other => Some(other),
            };
            std::future::ready(out)
        }))
    }

    /// Reads a small blob (an image config) into memory, checking its digest.
    pub async fn get_blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, RegistryError> {
        let what = self.what("blob", repo, digest.as_str());
        self.retry
            .run(&what, || async {
                let response = self.get_blob(repo, digest).await?;
                let bytes = read_limited(response, limit, &what).await?;
                let actual = Digest::sha256_of(&bytes);
                if &actual != digest {
                    return Err(RegistryError::DigestMismatch {
                        what: what.clone(),
                        expected: digest.to_string(),
                        actual: actual.to_string(),
                    });
                }
                Ok(bytes)
            })
            .await
    }

    /// Uploads a small blob held in memory (a config we built, a signature, a plugin) unless
    /// the repository has it.
    pub async fn push_blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        bytes: Bytes,
    ) -> Result<(), RegistryError> {
        if self.blob_size(repo, digest).await?.is_some() {
            return Ok(());
        }
        let what = self.what("blob", repo, digest.as_str());
        self.retry
            .run(&what, || async {
                let url = match self.start_upload(repo, digest, None).await? {
                    BlobUpload::Mounted => return Ok(()),
                    BlobUpload::Session(url) => url,
                };
                let body = || futures_util::stream::iter([Ok(bytes.clone())]);
                let size = bytes.len() as u64;
                if self
                    .upload_monolithic(repo, url.clone(), digest, size, body())
                    .await?
                {
                    Ok(())
                } else {
                    self.upload_chunked(repo, url, digest, body()).await
                }
            })
            .await
    }

    /// Opens an upload, first asking the registry to mount the blob from `mount_from` (a
    /// repository on this registry). The token asks for `pull` on that repository too, which
    /// registries require before they mount. A 202 means "not mounted": the session it opened
    /// is used for the upload instead of being left dangling.
    pub async fn start_upload(
        &self,
        repo: &str,
        digest: &Digest,
        mount_from: Option<&str>,
    ) -> Result<BlobUpload, RegistryError> {
        let what = self.what("blob upload", repo, digest.as_str());
        let mut url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let mut scopes = vec![Scope::push(repo)];
        if let Some(from) = mount_from {
            url.query_pairs_mut()
                .append_pair("mount", digest.as_str())
                .append_pair("from", from);
            scopes.push(Scope::pull(from));
        }
        self.retry
            .run(&what, || async {
                let response = self
                    .send(&what, &scopes, |c| {
                        c.post(url.clone()).header(CONTENT_LENGTH, "0")
                    })
                    .await?;
                match response.status() {
                    StatusCode::CREATED if mount_from.is_some() => Ok(BlobUpload::Mounted),
                    StatusCode::ACCEPTED => {
                        Ok(BlobUpload::Session(self.location(&what, &response)?))
                    }
                    _ => Err(self.fail(&what, response).await),
                }
            })
            .await
    }

    fn location(&self, what: &str, response: &reqwest::Response) -> Result<Url, RegistryError> {
        let loc = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol {
                what: what.into(),
                message: "upload response has no Location".into(),
            })?;
        self.base.join(loc).map_err(|e| RegistryError::Protocol {
            what: what.into(),
            message: format!("bad upload Location {loc:?}: {e}"),
        })
    }

    /// Whether a monolithic PUT is worth trying (it is until the registry refuses one).
    pub fn prefers_monolithic(&self) -> bool {
        self.monolithic_ok
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends a whole blob in one streaming PUT with a known length, the fast path.
    /// Returns `Ok(false)` when the registry refuses monolithic uploads (use chunked).
    pub async fn upload_monolithic<S>(
        &self,
        repo: &str,
        session: Url,
        digest: &Digest,
        size: u64,
        body: S,
    ) -> Result<bool, RegistryError>
    where
        S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let what = self.what("blob", repo, digest.as_str());
        let mut url = session;
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let response = self
            .send_upload(&what, repo, Method::PUT, url, Some(size), body)
            .await?;
        match response.status() {
            StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK => Ok(true),
            // 413: a proxy in front of the registry limits request bodies; chunks fit.
            StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::NOT_IMPLEMENTED
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
            | StatusCode::PAYLOAD_TOO_LARGE => {
                self.monolithic_ok
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                Ok(false)
            }
            _ => Err(self.fail(&what, response).await),
        }
    }

    /// The fallback for registries (or proxies) that refuse monolithic uploads: the stream is
    /// cut into `UPLOAD_CHUNK` pieces, each sent as a PATCH with its `Content-Range` to the
    /// location the previous one returned, then a PUT commits the blob under its digest.
    /// Memory stays at one chunk per upload.
    pub async fn upload_chunked<S>(
        &self,
        repo: &str,
        session: Url,
        digest: &Digest,
        mut stream: S,
    ) -> Result<(), RegistryError>
    where
        S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
    {
        let what = self.what("blob", repo, digest.as_str());
        let mut location = session;
        let mut offset: u64 = 0;
        let mut chunk = BytesMut::with_capacity(UPLOAD_CHUNK);
        let mut ended = false;
        while !ended {
            while chunk.len() < UPLOAD_CHUNK {
                match stream.next().await {
                    Some(Ok(bytes)) => chunk.extend_from_slice(&bytes),
                    Some(Err(e)) => {
                        return Err(RegistryError::Transfer {
                            what: what.clone(),
                            message: e.to_string(),
                        });
                    }
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            if chunk.is_empty() {
                break;
            }
            let piece = chunk.split().freeze();
            let end = offset + piece.len() as u64 - 1;
            let len = piece.len() as u64;
            let response = self
                .send_upload_range(&what, repo, location.clone(), offset, end, len, piece)
                .await?;
            if !response.status().is_success() {
                return Err(self.fail(&what, response).await);
            }
            location = self.location(&what, &response)?;
            offset = end + 1;
        }
        location
            .query_pairs_mut()
            .append_pair("digest", digest.as_str());
        let response = self
            .send_upload(
                &what,
                repo,
                Method::PUT,
                location,
                Some(0),
                futures_util::stream::empty(),
            )
            .await?;
        if !response.status().is_success() {
            return Err(self.fail(&what, response).await);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_upload_range(
        &self,
        what: &str,
        repo: &str,
        location: Url,
        start: u64,
        end: u64,
        len: u64,
        piece: Bytes,
    ) -> Result<reqwest::Response, RegistryError> {
        // The distribution spec's Content-Range for chunks has no "bytes " prefix.
        let range = format!("{start}-{end}");
        let same_origin = location.origin() == self.base.origin();
        let activity = Activity::new();
        let mut request = self
            .uploads()?
            .request(Method::PATCH, location)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, len)
            .header(reqwest::header::CONTENT_RANGE, range)
            .body(watched_body(in_pieces(piece), activity.clone()));
        if same_origin
            && let Some(value) = self
                .auth
                .authorization(&self.http, &[Scope::push(repo)])
                .await?
        {
            request = request.header(AUTHORIZATION, value);
        }
        self.send_streamed(what, request, &activity).await
    }

    /// Uploads go to the session URL the registry gave us; credentials are only sent when
    /// that URL is on the registry itself (never to a storage backend on another host).
    async fn send_upload<S>(
        &self,
        what: &str,
        repo: &str,
        method: Method,
        url: Url,
        length: Option<u64>,
        body: S,
    ) -> Result<reqwest::Response, RegistryError>
    where
        S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let same_origin = url.origin() == self.base.origin();
        let activity = Activity::new();
        let mut request = self
            .uploads()?
            .request(method, url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(watched_body(body, activity.clone()));
        if let Some(n) = length {
            request = request.header(CONTENT_LENGTH, n);
        }
        if same_origin
            && let Some(value) = self
                .auth
                .authorization(&self.http, &[Scope::push(repo)])
                .await?
        {
            request = request.header(AUTHORIZATION, value);
        }
        let response = self.send_streamed(what, request, &activity).await?;
        if response.status() == StatusCode::UNAUTHORIZED && same_origin {
            // The body stream is spent, so the whole blob attempt restarts with a new token.
            self.auth.invalidate(&[Scope::push(repo)]).await;
            return Err(RegistryError::Transfer {
                what: what.to_string(),
                message:
                    "the registry refused the token during the upload; retrying with a new one"
                        .into(),
            });
        }
        Ok(response)
    }

    /// The OCI 1.1 referrers of `digest` (an index of descriptors), or `None` when the
    /// registry has no referrers API (distribution 2.8 answers 404).
    pub async fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<Bytes>, RegistryError> {
        let what = self.what("referrers", repo, digest.as_str());
        let url = self.url(&format!("/v2/{repo}/referrers/{digest}"));
        self.retry
            .run(&what, || async {
                let response = self
                    .send(&what, &[Scope::pull(repo)], |c| {
                        c.get(url.clone()).header(ACCEPT, media::OCI_INDEX)
                    })
                    .await?;
                match response.status() {
                    // Registries and proxies without the endpoint answer all sorts of 4xx.
                    s if s.is_client_error() => Ok(None),
                    s if s.is_success() => Ok(Some(read_limited(response, 4 << 20, &what).await?)),
                    _ => Err(self.fail(&what, response).await),
                }
            })
            .await
    }

    /// All tags of a repository, following `Link` pagination.
    pub async fn list_tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        let what = format!("tags of {}/{repo}", self.name);
        let first = self.url(&format!("/v2/{repo}/tags/list?n=1000"));
        self.paged(&what, first, Scope::pull(repo), "tags").await
    }

    /// Every repository of the registry (`/v2/_catalog`), following `Link` pagination, a
    /// thousand names per page.
    pub async fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        let what = format!("the catalog of {}", self.name);
        let first = self.url("/v2/_catalog?n=1000");
        self.paged(&what, first, Scope::catalog(), "repositories")
            .await
    }

    /// A list spread over pages (`field` of each page's JSON), following `Link` headers to
    /// this registry only.
    async fn paged(
        &self,
        what: &str,
        first: Url,
        scope: Scope,
        field: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let mut next = Some(first);
        let mut items = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_TAG_PAGES {
                return Err(RegistryError::Protocol {
                    what: what.to_string(),
                    message: format!(
                        "more than {MAX_TAG_PAGES} pages; the registry's Link headers loop"
                    ),
                });
            }
            let answer = self
                .retry
                .run(what, || async {
                    let response = self
                        .send(what, std::slice::from_ref(&scope), |c| c.get(url.clone()))
                        .await?;
                    if response.status() == StatusCode::BAD_REQUEST && url.query().is_some() {
                        let error = self.fail(what, response).await;
                        // A registry whose page limit is below the size asked for refuses
                        // the request (distribution's catalog.maxentries): it is asked
                        // again with its own page size.
                        if error.to_string().contains("PAGINATION_NUMBER_INVALID") {
                            return Ok(None);
                        }
                        return Err(error);
                    }
                    if !response.status().is_success() {
                        return Err(self.fail(what, response).await);
                    }
                    let link = response
                        .headers()
                        .get(reqwest::header::LINK)
                        .and_then(|v| v.to_str().ok())
                        .and_then(next_link);
                    let bytes = read_limited(response, 64 * 1024 * 1024, what).await?;
                    let mut page: serde_json::Value =
                        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                            what: what.to_string(),
                            message: format!("unreadable list: {e}"),
                        })?;
                    let names: Option<Vec<String>> = serde_json::from_value(page[field].take())
                        .map_err(|e| RegistryError::Protocol {
                            what: what.to_string(),
                            message: format!("unreadable list: {field}: {e}"),
                        })?;
                    Ok(Some((names.unwrap_or_default(), link)))
                })
                .await?;
            let Some((page, link)) = answer else {
                let mut smaller = url.clone();
                smaller.set_query(None);
                next = Some(smaller);
                continue;
            };
            items.extend(page);
            if let Some(link) = link {
                let url = self.base.join(&link).map_err(|e| RegistryError::Protocol {
                    what: what.to_string(),
                    message: format!("bad Link header: {e}"),
                })?;
                // Our credentials go to the registry only, never to a host a header names.
                if url.origin() != self.base.origin() {
                    return Err(RegistryError::Protocol {
                        what: what.to_string(),
                        message: format!(
                            "Link header points at another host ({url}); not following it"
                        ),
                    });
                }
                next = Some(url);
            }
        }
        Ok(items)
    }

    /// Checks that the credentials this registry was connected with are accepted
    /// (what `login` verifies before saving them).
    pub async fn verify_credentials(&self) -> Result<(), RegistryError> {
        let what = format!("login to {}", self.name);
        match self.auth.challenge() {
            Challenge::None => Ok(()),
            Challenge::Bearer { .. } => {
                if !self.auth.has_credential() {
                    return Err(RegistryError::Credentials {
                        host: self.name.clone(),
                        message: "no credentials given".into(),
                    });
                }
                // A token for no particular repository proves the account exists; the
                // registry then accepts it on /v2/.
                let response = self.send(&what, &[], |c| c.get(self.url("/v2/"))).await?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(self.fail(&what, response).await)
                }
            }
            Challenge::Basic => {
                let response = self.send(&what, &[], |c| c.get(self.url("/v2/"))).await?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(self.fail(&what, response).await)
                }
            }
        }
    }
}

/// Piece size of chunked uploads (the fallback path), and so their memory per upload.
const UPLOAD_CHUNK: usize = 8 * 1024 * 1024;

/// Error pages are read for their message only.
pub(crate) const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// A tag list longer than this many pages is a registry bug (or a loop), not a repository.
const MAX_TAG_PAGES: usize = 10_000;

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Reads a body, refusing to buffer more than `limit` bytes.
pub(crate) async fn read_limited(
    response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Bytes, RegistryError> {
    let mut stream = response.bytes_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| RegistryError::Transfer {
            what: what.into(),
            message: describe(&e),
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(RegistryError::TooLarge {
                what: what.into(),
                limit,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The target of `Link: </v2/...>; rel="next"`.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

fn seconds(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

pub(crate) fn transport_error(
    host: &str,
    what: &str,
    e: &reqwest::Error,
    timeouts: &Timeouts,
) -> RegistryError {
    if e.is_timeout() {
        let detail = if e.is_connect() {
            format!("no connection within {}", seconds(timeouts.connect))
        } else {
            format!("nothing received for {}", seconds(timeouts.silence))
        };
        return RegistryError::NoAnswer {
            what: what.to_string(),
            host: host.to_string(),
            detail,
        };
    }
    let message = describe(e);
    let lower = message.to_ascii_lowercase();
    if lower.contains("certificate")
        || lower.contains("invalidcontenttype")
        || lower.contains("corrupt message")
    {
        return RegistryError::Tls {
            host: host.to_string(),
            message: format!(
                "{message} (use --tls-verify=false for a self-signed or plain-HTTP registry, or put its CA in /etc/containers/certs.d/{host}/ca.crt)"
            ),
        };
    }
    if e.is_connect() {
        RegistryError::Unreachable {
            host: host.to_string(),
            message,
        }
    } else {
        RegistryError::Transfer {
            what: what.to_string(),
            message,
        }
    }
}

/// GET `/v2/` on one scheme: 200 means open, 401 carries the auth challenge.
async fn probe(
    http: &reqwest::Client,
    scheme: &str,
    host: &str,
    retry: &RetryPolicy,
    timeouts: &Timeouts,
) -> Result<(Url, Challenge), RegistryError> {
    let base =
        Url::parse(&format!("{scheme}://{host}/")).map_err(|e| RegistryError::Unreachable {
            host: host.to_string(),
            message: format!("not a valid registry address: {e}"),
        })?;
    let what = format!("registry {host}");
    let url = base.join("/v2/").expect("static path");
    retry
        .run(&what, || async {
            let response = http
                .get(url.clone())
                .send()
                .await
                .map_err(|e| transport_error(host, &what, &e, timeouts))?;
            let status = response.status();
            if status.is_success() {
                return Ok((base.clone(), Challenge::None));
            }
            if status == StatusCode::UNAUTHORIZED {
                let header = response
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let challenge = super::auth::parse_challenge(header);
                return Ok((
                    base.clone(),
                    if challenge == Challenge::None {
                        Challenge::Basic
                    } else {
                        challenge
                    },
                ));
            }
            let body = read_limited(response, ERROR_BODY_LIMIT, &what)
                .await
                .unwrap_or_default();
            let detail = error_detail(status.as_u16(), &body);
            if status.as_u16() >= 500 || status.as_u16() == 429 || status.as_u16() == 408 {
                return Err(RegistryError::Status {
                    what: what.clone(),
                    status: status.as_u16(),
                    detail,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    retry_after: None,
                });
            }
            Err(RegistryError::Protocol {
                what: what.clone(),
                message: format!(
                    "does not speak the registry API (GET /v2/ answered {}: {detail})",
                    status.as_u16()
                ),
            })
        })
        .await
}

/// Whether a connected host still answers. Requests that get no answer in time count up; an
/// answer resets the count; at two in a row the host is given up for the rest of the run, so
/// every later request to it fails at once instead of waiting through the same timeouts.
#[derive(Default)]
struct Health {
    no_answers: AtomicU32,
    down: OnceLock<(String, String)>,
}

impl Health {
    fn check(&self, host: &str) -> Result<(), RegistryError> {
        match self.down.get() {
            Some((first_seen, cause)) => Err(RegistryError::HostDown {
                host: host.to_string(),
                first_seen: first_seen.clone(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn answered(&self) {
        self.no_answers.store(0, Ordering::Relaxed);
    }

    fn no_answer(&self, what: &str, error: &RegistryError) {
        if self.no_answers.fetch_add(1, Ordering::Relaxed) + 1 >= GIVE_UP_AFTER {
            let cause = match error {
                RegistryError::NoAnswer { detail, .. } => detail.clone(),
                other => other.to_string(),
            };
            let _ = self.down.set((
                super::current_image().unwrap_or_else(|| what.to_string()),
                cause,
            ));
        }
    }
}

/// Requests in a row that a host may leave unanswered before it is given up.
const GIVE_UP_AFTER: u32 = 2;

/// Connected registries, one per host, created on first use and shared by every job.
pub struct Registries {
    opts: RegistryOptions,
    hosts: std::sync::Mutex<HashMap<String, Arc<OnceCell<Arc<Registry>>>>>,
    /// Hosts that could not be reached (refused, or no answer) after every retry, with the
    /// image that first met them and why: later images fail at once instead of waiting
    /// through the same timeouts again.
    down: std::sync::Mutex<HashMap<String, (String, String)>>,
}

impl Registries {
    pub fn new(opts: RegistryOptions) -> Registries {
        Registries {
            opts,
            hosts: Default::default(),
            down: Default::default(),
        }
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// The connected registry for `name`; a failed connection is tried again on the next call,
    /// unless the host refused or did not answer.
    pub async fn get(&self, name: &str) -> Result<Arc<Registry>, RegistryError> {
        let conf = super::containers_conf::registries_conf();
        if let Some(entry) = conf.blocked(name) {
            return Err(RegistryError::Blocked {
                reference: name.to_string(),
                prefix: entry.prefix.clone(),
            });
        }
        if let Some((first_seen, cause)) = self.down.lock().expect("registry pool lock").get(name) {
            return Err(RegistryError::HostDown {
                host: name.to_string(),
                first_seen: first_seen.clone(),
                cause: cause.clone(),
            });
        }
        let cell = self
            .hosts
            .lock()
            .expect("registry pool lock")
            .entry(name.to_string())
            .or_default()
            .clone();
        let result = cell
            .get_or_try_init(|| async {
                // registries.conf may mark a host insecure: no flag needed for it.
                let insecure = conf.insecure(name).then(|| RegistryOptions {
                    tls_verify: Some(false),
                    ..self.opts.clone()
                });
                Registry::connect(name, insecure.as_ref().unwrap_or(&self.opts), None)
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned();
        let cause = match &result {
            Err(RegistryError::Unreachable { message, .. }) => Some(message.clone()),
            Err(RegistryError::NoAnswer { detail, .. }) => Some(detail.clone()),
            _ => None,
        };
        if let Some(cause) = cause {
            let first_seen = super::current_image().unwrap_or_else(|| format!("registry {name}"));
            self.down
                .lock()
                .expect("registry pool lock")
                .entry(name.to_string())
                .or_insert((first_seen, cause));
        }
        result
    }
}

/// Turns a non-success response of `host` into the error that names what failed.
pub(crate) async fn status_error(
    what: &str,
    host: &str,
    response: reqwest::Response,
) -> RegistryError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = read_limited(response, ERROR_BODY_LIMIT, what)
        .await
        .unwrap_or_default();
    let detail = error_detail(status, &body);
    let what = what.to_string();
    let body = String::from_utf8_lossy(&body).into_owned();
    match status {
        404 => RegistryError::NotFound { what, detail, body },
        401 => RegistryError::Unauthorized {
            what,
            host: host.to_string(),
            detail,
            body,
        },
        403 => RegistryError::Forbidden { what, detail, body },
        _ => RegistryError::Status {
            what,
            status,
            detail,
            body,
            retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_parsing() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=x&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }
}
