//! Plain HTTP(S) GETs of things that are not in a registry (Helm repositories, charts and
//! files to store in archives), over the registries' transport: certificates from the
//! host's `certs.d` directory, the network timeouts, retries with backoff, and the auth
//! files' credentials for the host when the server asks for them.

use super::auth::basic_header;
use super::client::transport_error;
use super::credentials::{Credential, lookup_credential};
use super::error::{RegistryError, describe};
use super::retry::RetryPolicy;
use super::transport::{ClientRecipe, Timeouts, default_certs_roots};
use bytes::Bytes;
use futures_util::StreamExt as _;
use hangar_outfile::human_size;
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::Mutex;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("GET {url}: larger than {}", human_size(*limit))]
    TooLarge { url: String, limit: u64 },
    #[error("GET {url}: {source}")]
    Io {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// One client per host, made as a registry's would be.
pub struct Web {
    tls_verify: bool,
    user_agent: String,
    timeouts: Timeouts,
    retry: RetryPolicy,
    clients: Mutex<HashMap<String, reqwest::Client>>,
}

impl Web {
    /// `tls_verify` false accepts any certificate, as `--tls-verify=false` does for registries.
    pub fn new(tls_verify: bool) -> Web {
        let defaults = super::RegistryOptions::default();
        Web {
            tls_verify,
            user_agent: defaults.user_agent,
            timeouts: defaults.timeouts,
            retry: defaults.retry,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, host: &str) -> Result<reqwest::Client, RegistryError> {
        let mut clients = self.clients.lock().expect("web clients");
        if let Some(c) = clients.get(host) {
            return Ok(c.clone());
        }
        let client = ClientRecipe {
            host: host.to_string(),
            verify_tls: self.tls_verify,
            certs_roots: default_certs_roots(),
            user_agent: self.user_agent.clone(),
            timeouts: self.timeouts,
        }
        .requests()?;
        clients.insert(host.to_string(), client.clone());
        Ok(client)
    }

    /// The whole body of `url`, refused when it is larger than `limit` bytes.
    pub async fn get_bytes(&self, url: &str, limit: u64) -> Result<Bytes, WebError> {
        self.retry
            .run(&format!("GET {url}"), || async {
                let response = self.answer(url).await?;
                if response.content_length().is_some_and(|n| n > limit) {
                    return Ok(Err(too_large(url, limit)));
                }
                let mut body = Vec::new();
                let mut stream = response.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    body.extend_from_slice(&chunk.map_err(|e| interrupted(url, &e))?);
                    if body.len() as u64 > limit {
                        return Ok(Err(too_large(url, limit)));
                    }
                }
                Ok(Ok(Bytes::from(body)))
            })
            .await?
    }

    /// Writes the body of `url` into `out` (from its start, again on each attempt); returns
    /// its size.
    pub async fn get_into(&self, url: &str, out: &mut tokio::fs::File) -> Result<u64, WebError> {
        use tokio::io::AsyncWriteExt as _;
        let io = |source| WebError::Io {
            url: url.to_string(),
            source,
        };
        let out = tokio::sync::Mutex::new(out);
        self.retry
            .run(&format!("GET {url}"), || async {
                let response = self.answer(url).await?;
                let mut out = out.lock().await;
                if let Err(e) = restart(&mut out).await {
                    return Ok(Err(io(e)));
                }
                let mut size = 0;
                let mut stream = response.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| interrupted(url, &e))?;
                    if let Err(e) = out.write_all(&chunk).await {
                        return Ok(Err(io(e)));
                    }
                    size += chunk.len() as u64;
                }
                if let Err(e) = out.flush().await {
                    return Ok(Err(io(e)));
                }
                Ok(Ok(size))
            })
            .await?
    }

    /// The response to GET `url` once it is a success, asking again with the host's stored
    /// credentials when the server wants Basic auth.
    async fn answer(&self, url: &str) -> Result<reqwest::Response, RegistryError> {
        let what = format!("GET {url}");
        let parsed = Url::parse(url).map_err(|e| RegistryError::Protocol {
            what: what.clone(),
            message: e.to_string(),
        })?;
        let host = match parsed.port() {
            Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_string(),
        };
        let client = self.client(&host)?;
        let send = |request: reqwest::RequestBuilder| async {
            request
                .send()
                .await
                .map_err(|e| transport_error(&host, &what, &e, &self.timeouts))
        };
        let mut response = send(client.get(parsed.clone())).await?;
        if response.status() == StatusCode::UNAUTHORIZED
            && let Some(Credential::Basic { username, password }) =
                lookup_credential(&host, None).ok().flatten()
        {
            let header = basic_header(&username, &password);
            response = send(
                client
                    .get(parsed.clone())
                    .header(reqwest::header::AUTHORIZATION, header),
            )
            .await?;
        }
        if response.status().is_success() {
            return Ok(response);
        }
        Err(fail(&what, &host, response).await)
    }
}

async fn restart(out: &mut tokio::fs::File) -> std::io::Result<()> {
    use tokio::io::AsyncSeekExt as _;
    out.set_len(0).await?;
    out.seek(std::io::SeekFrom::Start(0)).await?;
    Ok(())
}

fn too_large(url: &str, limit: u64) -> WebError {
    WebError::TooLarge {
        url: url.to_string(),
        limit,
    }
}

fn interrupted(url: &str, e: &reqwest::Error) -> RegistryError {
    RegistryError::Transfer {
        what: format!("GET {url}"),
        message: describe(e),
    }
}

async fn fail(what: &str, host: &str, response: reqwest::Response) -> RegistryError {
    super::client::status_error(what, host, response).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_names_the_limit_as_hangar_sizes() {
        let e = too_large("https://charts.example.com/x.tgz", 512 << 20);
        assert_eq!(
            e.to_string(),
            "GET https://charts.example.com/x.tgz: larger than 512.00M"
        );
        assert_eq!(human_size(64 << 20), "64.00M");
        assert_eq!(human_size(2048), "2.00K");
    }

    #[tokio::test]
    async fn a_url_that_does_not_parse_is_refused_without_retries() {
        let web = Web::new(true);
        let e = web.get_bytes("not a url", 10).await.unwrap_err();
        assert!(e.to_string().starts_with("GET not a url: "), "{e}");
    }
}
