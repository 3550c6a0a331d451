//! Registry authentication: the `/v2/` challenge, Basic credentials, and bearer tokens fetched
//! from the token realm (with a password, an identity token, or anonymously), cached per scope
//! set until shortly before they expire. Token failures are reported as such, never as a later 401.

use super::credentials::{Credential, HostCredentials};
use super::error::{RegistryError, describe, error_detail};
use base64::Engine as _;
use reqwest::header::HeaderValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub repository: String,
    pub actions: &'static str,
}

impl Scope {
    pub fn pull(repository: &str) -> Scope {
        Scope {
            repository: repository.to_string(),
            actions: "pull",
        }
    }
    pub fn push(repository: &str) -> Scope {
        Scope {
            repository: repository.to_string(),
            actions: "pull,push",
        }
    }
    /// Deleting needs its own action on registries that check it (distribution does).
    pub fn delete(repository: &str) -> Scope {
        Scope {
            repository: repository.to_string(),
            actions: "pull,push,delete",
        }
    }
    pub fn catalog() -> Scope {
        Scope {
            repository: String::new(),
            actions: "*",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.repository.is_empty() {
            write!(f, "registry:catalog:{}", self.actions)
        } else {
            write!(f, "repository:{}:{}", self.repository, self.actions)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `/v2/` answered 200: no auth needed.
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header (`Bearer realm="…",service="…"` or `Basic realm="…"`).
pub fn parse_challenge(header: &str) -> Challenge {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::None;
    }
    let mut values: HashMap<String, String> = HashMap::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        values.insert(key, value.to_string());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    match values.remove("realm") {
        Some(realm) => Challenge::Bearer {
            realm,
            service: values.remove("service"),
        },
        None => Challenge::None,
    }
}

struct CachedToken {
    value: HeaderValue,
    valid_until: Instant,
}

/// Where an authenticator's credentials come from.
pub enum Credentials {
    /// Given by the caller (what `login` checks): used for every repository.
    Given(Option<Credential>),
    /// The auth files, asked per repository (a `host/namespace` entry wins over the
    /// registry's) once each.
    Files {
        files: HostCredentials,
        by_repository: Mutex<HashMap<String, Option<Credential>>>,
    },
}

impl Credentials {
    pub fn from_files(files: HostCredentials) -> Credentials {
        Credentials::Files {
            files,
            by_repository: Mutex::new(HashMap::new()),
        }
    }
}

pub struct Authenticator {
    host: String,
    /// Learnt from `/v2/`, and again from any 401 that names another scheme.
    challenge: std::sync::RwLock<Challenge>,
    credentials: Credentials,
    tokens: Mutex<HashMap<Vec<Scope>, CachedToken>>,
    /// One fetch at a time per scope set; other scopes are not held up behind it.
    fetching: Mutex<HashMap<Vec<Scope>, Arc<tokio::sync::Mutex<()>>>>,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Authenticator {
    pub fn new(host: &str, challenge: Challenge, credentials: Credentials) -> Authenticator {
        Authenticator {
            host: host.to_string(),
            challenge: std::sync::RwLock::new(challenge),
            credentials,
            tokens: Mutex::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
        }
    }

    pub fn challenge(&self) -> Challenge {
        self.challenge.read().expect("challenge lock").clone()
    }

    /// Adopts the challenge of a 401; true when it differs from the one in use.
    pub fn learn(&self, header: &str) -> bool {
        let found = parse_challenge(header);
        let found = if found == Challenge::None {
            Challenge::Basic
        } else {
            found
        };
        let mut current = self.challenge.write().expect("challenge lock");
        if *current == found {
            return false;
        }
        *current = found;
        true
    }

    fn cached(&self, key: &[Scope]) -> Option<HeaderValue> {
        let tokens = self.tokens.lock().expect("token lock");
        tokens
            .get(key)
            .filter(|t| t.valid_until > Instant::now())
            .map(|t| t.value.clone())
    }

    pub fn has_credential(&self) -> bool {
        match &self.credentials {
            Credentials::Given(c) => c.is_some(),
            Credentials::Files { files, .. } => files.registry.is_some(),
        }
    }

    /// The credential for a request needing `scopes`: the one of the repository written to
    /// (a mount also reads another), else the one read.
    fn credential(&self, scopes: &[Scope]) -> Result<Option<Credential>, RegistryError> {
        let (files, by_repository) = match &self.credentials {
            Credentials::Given(c) => return Ok(c.clone()),
            Credentials::Files {
                files,
                by_repository,
            } => (files, by_repository),
        };
        let Some(scope) = scopes
            .iter()
            .find(|s| s.actions.contains("push"))
            .or_else(|| scopes.first())
        else {
            return Ok(files.registry.clone());
        };
        if let Some(found) = by_repository
            .lock()
            .expect("credentials lock")
            .get(&scope.repository)
        {
            return Ok(found.clone());
        }
        let found = files.for_repository(&scope.repository)?;
        by_repository
            .lock()
            .expect("credentials lock")
            .insert(scope.repository.clone(), found.clone());
        Ok(found)
    }

    /// The `Authorization` header for a request needing `scopes`, fetching a token if needed.
    pub async fn authorization(
        &self,
        http: &reqwest::Client,
        scopes: &[Scope],
    ) -> Result<Option<HeaderValue>, RegistryError> {
        match self.challenge() {
            Challenge::None => Ok(None),
            Challenge::Basic => Ok(match self.credential(scopes)? {
                Some(Credential::Basic { username, password }) => {
                    Some(basic_header(&username, &password))
                }
                _ => None,
            }),
            Challenge::Bearer { realm, service } => {
                let mut key = scopes.to_vec();
                key.sort();
                key.dedup();
                if let Some(v) = self.cached(&key) {
                    return Ok(Some(v));
                }
                let gate = self
                    .fetching
                    .lock()
                    .expect("token lock")
                    .entry(key.clone())
                    .or_default()
                    .clone();
                let _one_fetch = gate.lock().await;
                // Someone may have fetched it while we waited.
                if let Some(v) = self.cached(&key) {
                    return Ok(Some(v));
                }
                let (value, valid_until) = self
                    .fetch_token(http, &realm, service.as_deref(), &key)
                    .await?;
                self.tokens.lock().expect("token lock").insert(
                    key,
                    CachedToken {
                        value: value.clone(),
                        valid_until,
                    },
                );
                Ok(Some(value))
            }
        }
    }

    /// Drops a cached token that the registry refused, so the next attempt fetches a new one.
    pub async fn invalidate(&self, scopes: &[Scope]) {
        let mut key = scopes.to_vec();
        key.sort();
        key.dedup();
        self.tokens.lock().expect("token lock").remove(&key);
    }

    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        realm: &str,
        service: Option<&str>,
        scopes: &[Scope],
    ) -> Result<(HeaderValue, Instant), RegistryError> {
        let err = |detail: String, retryable: bool| RegistryError::Token {
            realm: realm.to_string(),
            detail,
            retryable,
        };
        let scope_strings: Vec<String> = scopes.iter().map(Scope::to_string).collect();
        let credential = self.credential(scopes)?;
        let request = match &credential {
            Some(Credential::IdentityToken(refresh)) => {
                // OAuth2 refresh-token grant, as Docker does for identity tokens.
                let mut form = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("refresh_token", refresh.clone()),
                    ("client_id", "hangar".to_string()),
                    ("scope", scope_strings.join(" ")),
                ];
                if let Some(s) = service {
                    form.push(("service", s.to_string()));
                }
                http.post(realm).form(&form)
            }
            other => {
                let mut query: Vec<(&str, String)> =
                    scope_strings.iter().map(|s| ("scope", s.clone())).collect();
                if let Some(s) = service {
                    query.push(("service", s.to_string()));
                }
                let mut req = http.get(realm);
                if let Some(Credential::Basic { username, password }) = other {
                    query.push(("account", username.clone()));
                    req = req.header(
                        reqwest::header::AUTHORIZATION,
                        basic_header(username, password),
                    );
                }
                req.query(&query)
            }
        };
        let started = Instant::now();
        let resp = request.send().await.map_err(|e| {
            if e.is_timeout() {
                // Retried once, like any request a host leaves unanswered.
                RegistryError::NoAnswer {
                    what: format!("token request to {realm}"),
                    host: url::Url::parse(realm)
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_string))
                        .unwrap_or_else(|| realm.to_string()),
                    detail: describe(&e),
                }
            } else {
                err(describe(&e), true)
            }
        })?;
        let status = resp.status();
        let body = super::client::read_limited(resp, 1 << 20, realm)
            .await
            .map_err(|e| err(e.to_string(), true))?;
        if !status.is_success() {
            let hint = if matches!(status.as_u16(), 401 | 403) {
                match &credential {
                    Some(_) => format!("; the credentials for {} were refused", self.host),
                    None => format!(
                        "; no credentials for {} (hangar login {})",
                        self.host, self.host
                    ),
                }
            } else {
                String::new()
            };
            let code = status.as_u16();
            let retryable = code == 408 || code == 429 || code >= 500;
            return Err(err(
                format!("{code} {}{hint}", error_detail(code, &body)),
                retryable,
            ));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| err(format!("unreadable token response: {e}"), false))?;
        let token = if parsed.token.is_empty() {
            parsed.access_token
        } else {
            parsed.token
        };
        if token.is_empty() {
            return Err(err("the response holds no token".into(), false));
        }
        // Renew a little early so a token never expires between our check and the request.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).max(10));
        let valid_until = started + lifetime.saturating_sub(Duration::from_secs(5));
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| err("token is not a valid header".into(), false))?;
        Ok((value, valid_until))
    }
}

pub fn basic_header(username: &str, password: &str) -> HeaderValue {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut v =
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 is a valid header");
    v.set_sensitive(true);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_table() {
        let cases = [
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#,
                Challenge::Bearer {
                    realm: "https://auth.docker.io/token".into(),
                    service: Some("registry.docker.io".into()),
                },
            ),
            (
                r#"Bearer realm="http://127.0.0.1:1/token", service="svc", scope="repository:a:pull,push""#,
                Challenge::Bearer {
                    realm: "http://127.0.0.1:1/token".into(),
                    service: Some("svc".into()),
                },
            ),
            (
                r#"bearer realm=http://x/token"#,
                Challenge::Bearer {
                    realm: "http://x/token".into(),
                    service: None,
                },
            ),
            (r#"Basic realm="basic-realm""#, Challenge::Basic),
            ("Negotiate", Challenge::None),
        ];
        for (header, want) in cases {
            assert_eq!(parse_challenge(header), want, "{header}");
        }
    }

    #[test]
    fn scope_strings() {
        assert_eq!(Scope::push("a/b").to_string(), "repository:a/b:pull,push");
        assert_eq!(Scope::pull("a").to_string(), "repository:a:pull");
    }
}
