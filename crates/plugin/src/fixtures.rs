//! Recorded HTTP answers for running a plugin without the servers it talks to
//! (`hangar plugin test --http-fixtures FILE`). The file is a YAML list:
//!
//! ```yaml
//! - request: { method: GET, url: "https://registry.example.com/api/v2.0/ping" }
//!   response: { status: 200, headers: { Content-Type: text/plain }, body: "Pong" }
//! ```
//!
//! An entry matches a request with its method and URL and, when the entry has `body_contains`,
//! a body holding that text. Entries that match the same request answer it in turn, the last
//! one again once they are used up (a retry, then a success; a resource missing, then created),
//! so a plugin's sequence of calls can be recorded. A request nothing matches gets a 404 with a
//! body saying so (`plugin test --strict` then fails). `plugin test` records every request the
//! plugin makes, answered from here or from the network ([`RequestLog`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub request: FixtureRequest,
    pub response: FixtureResponse,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureRequest {
    pub method: String,
    pub url: String,
    /// Text the request's body must hold (e.g. a JSON field), when given.
    #[serde(default)]
    pub body_contains: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
}

/// One request a plugin made, as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub with_credentials: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The answer's status; none when the request was refused or failed before an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// With recorded answers: whether one matched (an unmatched request gets a 404).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<bool>,
    /// Why there was no answer (a host the plugin may not reach, the network).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every HTTP request a plugin made, live or answered from fixtures (`plugin test`).
#[derive(Debug, Default)]
pub struct RequestLog {
    exchanges: Mutex<Vec<Exchange>>,
}

impl RequestLog {
    pub fn push(&self, exchange: Exchange) {
        self.exchanges.lock().expect("request log").push(exchange);
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().expect("request log").clone()
    }
}

#[derive(Debug, Default)]
pub struct Fixtures {
    entries: Vec<Fixture>,
    /// How many times each entry has answered.
    used: Mutex<Vec<usize>>,
    /// Whether credentials may go over plain http (`--tls-verify=false`), as a live run
    /// decides: a recorded run refuses what the live one would.
    pub plain_credentials: bool,
}

impl Fixtures {
    pub fn parse(text: &str) -> Result<Fixtures, String> {
        let entries: Vec<Fixture> = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let used = Mutex::new(vec![0; entries.len()]);
        Ok(Fixtures {
            entries,
            used,
            plain_credentials: false,
        })
    }

    /// The entries matching a request, in file order.
    fn candidates(&self, method: &str, url: &str, body: Option<&[u8]>) -> Vec<usize> {
        let body = body.map(String::from_utf8_lossy).unwrap_or_default();
        (0..self.entries.len())
            .filter(|&i| {
                let r = &self.entries[i].request;
                r.method.eq_ignore_ascii_case(method)
                    && r.url == url
                    && r.body_contains.as_deref().is_none_or(|t| body.contains(t))
            })
            .collect()
    }

    /// The base URL recorded for `registry`: `http://` when the recorded answers reach it over
    /// plain HTTP, else `https://` (what a live run would find for such a registry).
    pub fn registry_url(&self, registry: &str) -> String {
        let plain = format!("http://{registry}/");
        if self
            .entries
            .iter()
            .any(|f| f.request.url.starts_with(&plain))
        {
            format!("http://{registry}")
        } else {
            format!("https://{registry}")
        }
    }

    /// Whether a recorded answer matches the request.
    pub fn matches(&self, method: &str, url: &str, body: Option<&[u8]>) -> bool {
        !self.candidates(method, url, body).is_empty()
    }

    /// The answer to a request: (status, headers, body). The first matching entry not used
    /// yet answers, else the last matching one.
    pub fn answer(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let candidates = self.candidates(method, url, body);
        let chosen = {
            let mut used = self.used.lock().expect("fixture use counts");
            let chosen = candidates
                .iter()
                .copied()
                .find(|&i| used[i] == 0)
                .or(candidates.last().copied());
            if let Some(i) = chosen {
                used[i] += 1;
            }
            chosen
        };
        match chosen.map(|i| &self.entries[i]) {
            Some(f) => (
                f.response.status,
                f.response
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                f.response.body.clone().into_bytes(),
            ),
            None => (
                404,
                Vec::new(),
                format!("no fixture for {method} {url}").into_bytes(),
            ),
        }
    }
}
