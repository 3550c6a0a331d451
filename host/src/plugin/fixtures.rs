//! Recorded HTTP answers for running a plugin without the servers it talks to
//! (`hangar plugin test --http-fixtures FILE`). The file is a YAML list:
//!
//! ```yaml
//! - request: { method: GET, url: "https://registry.example.com/api/v2.0/ping" }
//!   response: { status: 200, headers: { Content-Type: text/plain }, body: "Pong" }
//! ```
//!
//! The first entry matching a request's method and URL answers it; a request nothing matches
//! gets a 404 with a body saying so. Every request is recorded, for the report.

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
    pub status: u16,
    pub matched: bool,
}

#[derive(Debug, Default)]
pub struct Fixtures {
    entries: Vec<Fixture>,
    log: Mutex<Vec<Exchange>>,
}

impl Fixtures {
    pub fn parse(text: &str) -> Result<Fixtures, String> {
        let entries: Vec<Fixture> = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        Ok(Fixtures {
            entries,
            log: Mutex::default(),
        })
    }

    /// The answer to a request: (status, headers, body), recorded.
    pub fn answer(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        with_credentials: bool,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let found = self
            .entries
            .iter()
            .find(|f| f.request.method.eq_ignore_ascii_case(method) && f.request.url == url);
        let (status, headers, answer) = match found {
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
        };
        self.log.lock().expect("fixture log").push(Exchange {
            method: method.to_string(),
            url: url.to_string(),
            with_credentials,
            body: body.map(|b| String::from_utf8_lossy(b).into_owned()),
            status,
            matched: found.is_some(),
        });
        (status, headers, answer)
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().expect("fixture log").clone()
    }
}
