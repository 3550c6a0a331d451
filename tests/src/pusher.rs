//! A small, independent registry client for seeding and checking registries in tests
//! (deliberately not hangar's own code): monolithic blob uploads, manifest PUT/GET/HEAD,
//! tag lists, with Basic or bearer-token auth and the test CA.

use crate::images::{Blob, Image};
use crate::registry::{Auth, PASSWORD, RegistryServer, USER};
use base64::Engine as _;
use bytes::Bytes;

pub struct Pusher {
    base: String,
    http: reqwest::Client,
    auth: Auth,
}

pub struct Fetched {
    pub digest: String,
    pub media_type: String,
    pub bytes: Bytes,
}

impl Pusher {
    pub fn new(registry: &RegistryServer) -> Pusher {
        let mut b = reqwest::Client::builder();
        if registry.flavour.tls {
            let pem = std::fs::read(registry.ca_path()).unwrap();
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        Pusher {
            base: registry.url(),
            http: b.build().unwrap(),
            auth: registry.flavour.auth,
        }
    }

    async fn header(&self, repo: &str) -> Option<String> {
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        );
        match self.auth {
            Auth::None => None,
            Auth::Basic => Some(basic),
            Auth::Token => {
                let resp = self
                    .http
                    .get(format!("{}/v2/", self.base))
                    .send()
                    .await
                    .unwrap();
                let challenge = resp.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .to_string();
                let realm = challenge
                    .split("realm=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .to_string();
                let resp = self
                    .http
                    .get(&realm)
                    .query(&[
                        ("service", "test-registry"),
                        ("scope", &format!("repository:{repo}:pull,push,delete")),
                    ])
                    .header("authorization", basic)
                    .send()
                    .await
                    .unwrap();
                let body: serde_json::Value = resp.json().await.unwrap();
                Some(format!("Bearer {}", body["token"].as_str().unwrap()))
            }
        }
    }

    fn with_auth(
        &self,
        rb: reqwest::RequestBuilder,
        header: &Option<String>,
    ) -> reqwest::RequestBuilder {
        match header {
            Some(h) => rb.header("authorization", h),
            None => rb,
        }
    }

    pub async fn blob_exists(&self, repo: &str, digest: &str) -> bool {
        let h = self.header(repo).await;
        let r = self
            .with_auth(
                self.http
                    .head(format!("{}/v2/{repo}/blobs/{digest}", self.base)),
                &h,
            )
            .send()
            .await
            .unwrap();
        r.status().is_success()
    }

    /// A blob's bytes (the registry checks nothing; callers compare).
    pub async fn blob(&self, repo: &str, digest: &str) -> Bytes {
        let h = self.header(repo).await;
        let r = self
            .with_auth(
                self.http
                    .get(format!("{}/v2/{repo}/blobs/{digest}", self.base)),
                &h,
            )
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "GET blob {repo}@{digest}: {}",
            r.status()
        );
        r.bytes().await.unwrap()
    }

    pub async fn push_blob(&self, repo: &str, blob: &Blob) {
        let h = self.header(repo).await;
        let head = self
            .with_auth(
                self.http
                    .head(format!("{}/v2/{repo}/blobs/{}", self.base, blob.digest)),
                &h,
            )
            .send()
            .await
            .unwrap();
        if head.status().is_success() {
            return;
        }
        let start = self
            .with_auth(
                self.http
                    .post(format!("{}/v2/{repo}/blobs/uploads/", self.base)),
                &h,
            )
            .header("content-length", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(
            start.status().as_u16(),
            202,
            "start upload: {}",
            start.text().await.unwrap()
        );
        let location = start.headers()["location"].to_str().unwrap().to_string();
        let mut url = reqwest::Url::parse(&self.base)
            .unwrap()
            .join(&location)
            .unwrap();
        url.query_pairs_mut().append_pair("digest", &blob.digest);
        let put = self
            .with_auth(self.http.put(url), &h)
            .header("content-type", "application/octet-stream")
            .body(blob.data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.status().as_u16(),
            201,
            "upload {}: {}",
            blob.digest,
            put.text().await.unwrap()
        );
    }

    pub async fn push_manifest(&self, repo: &str, reference: &str, manifest: &Blob) {
        let h = self.header(repo).await;
        let put = self
            .with_auth(
                self.http
                    .put(format!("{}/v2/{repo}/manifests/{reference}", self.base)),
                &h,
            )
            .header("content-type", &manifest.media_type)
            .body(manifest.data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.status().as_u16(),
            201,
            "push manifest {repo}:{reference}: {}",
            put.text().await.unwrap()
        );
    }

    /// Pushes an image's blobs and manifest (by digest, and under `tag` if given).
    pub async fn push_image(&self, repo: &str, tag: Option<&str>, image: &Image) {
        for b in image.blobs() {
            self.push_blob(repo, b).await;
        }
        self.push_manifest(repo, &image.manifest.digest, &image.manifest)
            .await;
        if let Some(t) = tag {
            self.push_manifest(repo, t, &image.manifest).await;
        }
    }

    pub async fn push_index(&self, repo: &str, tag: &str, index: &Blob, children: &[&Image]) {
        for c in children {
            self.push_image(repo, None, c).await;
        }
        self.push_manifest(repo, tag, index).await;
    }

    /// GETs a manifest with every accept type; `None` when it does not exist.
    pub async fn manifest(&self, repo: &str, reference: &str) -> Option<Fetched> {
        let h = self.header(repo).await;
        let accept = [
            crate::images::OCI_INDEX,
            crate::images::DOCKER_LIST,
            crate::images::OCI_MANIFEST,
            crate::images::DOCKER_MANIFEST,
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "application/vnd.docker.distribution.manifest.v1+json",
        ]
        .join(", ");
        let r = self
            .with_auth(
                self.http
                    .get(format!("{}/v2/{repo}/manifests/{reference}", self.base)),
                &h,
            )
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 404 {
            return None;
        }
        assert!(
            r.status().is_success(),
            "GET manifest {repo}:{reference}: {}",
            r.status()
        );
        let media_type = r.headers()["content-type"].to_str().unwrap().to_string();
        let header_digest = r
            .headers()
            .get("docker-content-digest")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = r.bytes().await.unwrap();
        let digest = header_digest.unwrap_or_else(|| crate::images::sha256(&bytes));
        Some(Fetched {
            digest,
            media_type,
            bytes,
        })
    }

    pub async fn tags(&self, repo: &str) -> Vec<String> {
        let h = self.header(repo).await;
        let r = self
            .with_auth(
                self.http.get(format!("{}/v2/{repo}/tags/list", self.base)),
                &h,
            )
            .send()
            .await
            .unwrap();
        if !r.status().is_success() {
            return vec![];
        }
        let v: serde_json::Value = r.json().await.unwrap();
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        tags.sort();
        tags
    }
}

/// A schema1 image as only a peer client writes one today: a Docker image of `layers`
/// (linux/amd64) is pushed to `plain` as `legacy/app:v1`, and skopeo copies it as a signed
/// schema1 manifest to `legacy/app:s1` in `s1` (a registry that keeps schema1). Returns what
/// `s1` serves for that tag.
pub async fn seed_schema1(
    plain: &RegistryServer,
    s1: &RegistryServer,
    layers: &[crate::images::Layer],
) -> Fetched {
    use crate::images::{Format, Platform, image};
    let img = image(
        Format::Docker,
        Platform::new("linux", "amd64", None),
        layers,
    );
    Pusher::new(plain)
        .push_image("legacy/app", Some("v1"), &img)
        .await;
    let out = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--format",
            "v2s1",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(format!("docker://{}/legacy/app:v1", plain.addr))
        .arg(format!("docker://{}/legacy/app:s1", s1.addr))
        .output()
        .expect("skopeo must be installed (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Pusher::new(s1)
        .manifest("legacy/app", "s1")
        .await
        .expect("skopeo wrote legacy/app:s1")
}
