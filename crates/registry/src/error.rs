//! One error type for everything the registry engine can report, each variant naming the
//! thing it was about so a user sees one clear line.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// registries.conf says `blocked = true` for it.
    #[error("{reference} is blocked by registries.conf (prefix {prefix:?})")]
    Blocked { reference: String, prefix: String },
    #[error("cannot reach {host}: {message}")]
    Unreachable { host: String, message: String },
    /// A request the host did not answer in time (connecting, or silent for too long).
    #[error("{what}: no answer from {host} ({detail})")]
    NoAnswer {
        what: String,
        host: String,
        detail: String,
    },
    /// A host given up for the rest of the run: it refused or did not answer, again and again.
    #[error("no answer from {host} (first seen at {first_seen}: {cause})")]
    HostDown {
        host: String,
        first_seen: String,
        cause: String,
    },
    #[error("{what}: not found ({detail})")]
    NotFound {
        what: String,
        detail: String,
        /// The response body as the registry sent it (for registry adapters to explain).
        body: String,
    },
    #[error(
        "{what}: authentication required ({detail}); check the credentials for {host} (hangar login {host})"
    )]
    Unauthorized {
        what: String,
        host: String,
        detail: String,
        body: String,
    },
    #[error("{what}: access denied ({detail})")]
    Forbidden {
        what: String,
        detail: String,
        body: String,
    },
    #[error("token request to {realm} failed: {detail}")]
    Token {
        realm: String,
        detail: String,
        retryable: bool,
    },
    #[error("{what}: registry answered {status} ({detail})")]
    Status {
        what: String,
        status: u16,
        detail: String,
        body: String,
        retry_after: Option<Duration>,
    },
    #[error("{what}: larger than {} MiB, refused", limit / (1024 * 1024))]
    TooLarge { what: String, limit: usize },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("{what}: transfer interrupted: {message}")]
    Transfer { what: String, message: String },
    #[error("{what}: {message}")]
    Protocol { what: String, message: String },
    #[error("TLS setup for {host}: {message}")]
    Tls { host: String, message: String },
    #[error("credentials for {host}: {message}")]
    Credentials { host: String, message: String },
}

impl RegistryError {
    /// Worth another attempt: the network or the server may do better next time. Auth
    /// failures, missing things and bad content never are.
    pub fn is_retryable(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. }
            | RegistryError::Transfer { .. }
            | RegistryError::NoAnswer { .. } => true,
            RegistryError::Token { retryable, .. } => *retryable,
            RegistryError::Status { status, .. } => {
                *status == 408 || *status == 429 || *status >= 500
            }
            // A corrupted transfer is restarted from the source; a registry that keeps
            // serving wrong bytes fails after the last attempt.
            RegistryError::DigestMismatch { .. } | RegistryError::SizeMismatch { .. } => true,
            _ => false,
        }
    }

    /// The registry's answer behind this error, if it was one: status and raw body.
    pub fn response(&self) -> Option<(u16, &str)> {
        match self {
            RegistryError::NotFound { body, .. } => Some((404, body)),
            RegistryError::Unauthorized { body, .. } => Some((401, body)),
            RegistryError::Forbidden { body, .. } => Some((403, body)),
            RegistryError::Status { status, body, .. } => Some((*status, body)),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RegistryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A host that gave no answer in time (retried less: waiting again costs as much).
    pub fn is_no_answer(&self) -> bool {
        matches!(self, RegistryError::NoAnswer { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
    }
}

/// Formats a reqwest error as one line of its causes, dropping reqwest's generic wrappers
/// ("error sending request for url (...)", "client error (Connect)") so the line ends in
/// what actually went wrong.
pub fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        let generic =
            text.starts_with("error sending request") || text.starts_with("client error (");
        if !generic && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// The `code: message` pairs of a distribution error body, or the body's first line.
pub fn error_detail(status: u16, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(body)
        && !e.errors.is_empty()
    {
        return e
            .errors
            .iter()
            .map(|i| {
                if i.message.is_empty() {
                    i.code.clone()
                } else {
                    format!("{}: {}", i.code, i.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text = String::from_utf8_lossy(body);
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        format!("HTTP {status}")
    } else {
        first.chars().take(200).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_and_retry_classes() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            error_detail(404, body),
            "MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(error_detail(502, b""), "HTTP 502");
        assert_eq!(error_detail(500, b"oops\nmore"), "oops");
        let s = |status| RegistryError::Status {
            what: "x".into(),
            status,
            detail: String::new(),
            body: String::new(),
            retry_after: None,
        };
        assert!(s(503).is_retryable() && s(429).is_retryable() && s(408).is_retryable());
        assert!(!s(400).is_retryable());
        let nf = RegistryError::NotFound {
            what: "x".into(),
            detail: String::new(),
            body: String::new(),
        };
        assert!(!nf.is_retryable() && nf.is_not_found());
        let token = |retryable| RegistryError::Token {
            realm: "r".into(),
            detail: String::new(),
            retryable,
        };
        assert!(token(true).is_retryable() && !token(false).is_retryable());
    }
}
