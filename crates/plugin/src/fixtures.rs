//! Recorded HTTP answers for running a plugin without the servers it talks to
//! (`hangar plugin test --http-fixtures FILE`). The file is a YAML list:
//!
//! ```yaml
//! - request: { method: GET, url: "https://registry.example.com/api/v2.0/ping" }
//!   response: { status: 200, headers: { Content-Type: text/plain }, body: "Pong" }
//! ```
//!
//! The first entry matching a request's method and URL answers it; a request nothing matches
//! gets a 404 with a body saying so. `plugin test` records every request the plugin makes,
//! answered from here or from the network ([`RequestLog`]).

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
}

impl Fixtures {
    pub fn parse(text: &str) -> Result<Fixtures, String> {
        let entries: Vec<Fixture> = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        Ok(Fixtures { entries })
    }

    fn find(&self, method: &str, url: &str) -> Option<&Fixture> {
        self.entries
            .iter()
            .find(|f| f.request.method.eq_ignore_ascii_case(method) && f.request.url == url)
    }

    /// Whether a recorded answer matches the request.
    pub fn matches(&self, method: &str, url: &str) -> bool {
        self.find(method, url).is_some()
    }

    /// The answer to a request: (status, headers, body).
    pub fn answer(&self, method: &str, url: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        match self.find(method, url) {
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
