//! The distribution API routes (read-only): `/v2/`, `_catalog`, tags, manifests by tag or
//! digest, blobs with `Range`. Anything that would write answers 405.

use super::catalog::Catalog;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use std::sync::Arc;

pub fn router(catalog: Arc<Catalog>) -> Router {
    Router::new()
        .route("/v2", get(base))
        .route("/v2/", get(base))
        .route("/v2/_catalog", get(catalog_list))
        .route("/v2/{*rest}", any(dispatch))
        .with_state(catalog)
}

fn with_api_version(mut response: Response) -> Response {
    response.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
    with_api_version(
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
    )
}

async fn base() -> Response {
    with_api_version(
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response(),
    )
}

async fn catalog_list(State(catalog): State<Arc<Catalog>>) -> Response {
    let names: Vec<&str> = catalog.names().collect();
    let body = serde_json::json!({ "repositories": names });
    with_api_version(
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
    )
}

async fn dispatch(
    State(catalog): State<Arc<Catalog>>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "this registry serves an archive and is read-only",
        );
    }
    let head = method == Method::HEAD;
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return tags(&catalog, name);
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        // Clients send Accept once with a list, or once per type (containers/image does).
        let accept: Vec<&str> = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        return manifest(&catalog, name, reference, head, &accept);
    }
    if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
        // Range is defined for GET only (RFC 9110 §14.2): a HEAD describes the whole blob.
        let range = if head {
            None
        } else {
            requested_range(&headers)
        };
        return blob(&catalog, name, digest, head, range);
    }
    error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        "repository name not known to registry",
    )
}

fn tags(catalog: &Catalog, name: &str) -> Response {
    let Some(repository) = catalog.repository(name) else {
        return error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        );
    };
    let tags: Vec<&str> = repository.tags.keys().map(String::as_str).collect();
    let body = serde_json::json!({"name": name, "tags": tags});
    with_api_version(
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
    )
}

/// Whether a client takes `media_type`: one that sends no `Accept` (or `*/*`) takes anything;
/// one that lists types takes those (parameters and quality values aside).
fn accepts(accept: &[&str], media_type: &str) -> bool {
    accept.is_empty()
        || accept
            .iter()
            .flat_map(|value| value.split(','))
            .map(|t| t.split(';').next().unwrap_or("").trim())
            .any(|t| t.is_empty() || t == "*/*" || t.eq_ignore_ascii_case(media_type))
}

fn manifest(
    catalog: &Catalog,
    name: &str,
    reference: &str,
    head: bool,
    accept: &[&str],
) -> Response {
    if catalog.repository(name).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        );
    }
    let Some(served) = catalog
        .manifest(name, reference)
        // An index to a client that does not take indexes is unknown to it, as distribution
        // answers (it would otherwise get a document it cannot read as an image).
        .filter(|s| {
            !crate::image::media::ManifestKind::from_media_type(&s.media_type)
                .is_some_and(|k| k.is_index())
                || accepts(accept, &s.media_type)
        })
    else {
        return error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
        );
    };
    let body = if head {
        Body::empty()
    } else {
        Body::from(served.bytes.clone())
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    headers.insert(header::CONTENT_TYPE, value(&served.media_type));
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(served.bytes.len()),
    );
    headers.insert("Docker-Content-Digest", value(served.digest.as_str()));
    headers.insert(header::ETAG, value(&format!("\"{}\"", served.digest)));
    with_api_version(response)
}

/// A `Range` request as RFC 9110 §14 reads it: the header's value and the `If-Range` validator
/// it is conditional on.
struct Requested<'a> {
    range: &'a str,
    if_range: Option<&'a str>,
}

fn requested_range(headers: &HeaderMap) -> Option<Requested<'_>> {
    Some(Requested {
        range: headers.get(header::RANGE)?.to_str().ok()?,
        if_range: headers
            .get(header::IF_RANGE)
            .map(|v| v.to_str().unwrap_or("")),
    })
}

/// What to answer a range request with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// 200 with the whole body: no range, a unit other than bytes, an invalid or multiple
    /// range set, or an `If-Range` that no longer matches (all of which a server may ignore).
    Whole,
    /// 206 with bytes `first..=last`.
    Part(u64, u64),
    /// 416: every range starts past the end.
    Unsatisfiable,
}

/// Reads `Range: bytes=a-b | a- | -n` against a representation of `size` bytes (RFC 9110
/// §14.1.2). Only single ranges are served; a set of several is ignored (answered whole), as
/// the RFC allows, unless none of them could be satisfied.
pub(crate) fn parse_range(value: &str, size: u64) -> Ranged {
    let Some((unit, set)) = value.trim().split_once('=') else {
        return Ranged::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranged::Whole;
    }
    let mut specs = Vec::new();
    for spec in set.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((first, last)) = spec.split_once('-') else {
            return Ranged::Whole;
        };
        let (first, last) = (first.trim(), last.trim());
        let number = |text: &str| -> Option<u64> {
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse().unwrap_or(u64::MAX))
        };
        let range = match (number(first), number(last)) {
            // A suffix: the last n bytes.
            (None, Some(n)) if first.is_empty() => {
                if n == 0 || size == 0 {
                    None
                } else {
                    Some((size.saturating_sub(n), size - 1))
                }
            }
            (Some(a), None) if last.is_empty() => (a < size).then(|| (a, size - 1)),
            (Some(a), Some(b)) if a <= b => (a < size).then(|| (a, b.min(size - 1))),
            // Not a range-spec at all (`5-2`, `x-y`): the whole field may be ignored.
            _ => return Ranged::Whole,
        };
        specs.push(range);
    }
    match specs.as_slice() {
        [] => Ranged::Whole,
        [Some((first, last))] => Ranged::Part(*first, *last),
        several if several.iter().all(Option::is_none) => Ranged::Unsatisfiable,
        _ => Ranged::Whole,
    }
}

fn blob(
    catalog: &Catalog,
    name: &str,
    digest: &str,
    head: bool,
    range: Option<Requested<'_>>,
) -> Response {
    let Some(repository) = catalog.repository(name) else {
        return error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        );
    };
    let Ok(digest) = digest.parse::<crate::image::digest::Digest>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
        );
    };
    // Manifests are blobs too (some clients fetch them this way).
    if repository.manifests.contains_key(&digest) {
        return manifest(catalog, name, digest.as_str(), head, &[]);
    }
    let entry = format!("share/sha256/{}", digest.hex());
    let size = match catalog.archive.size(&entry) {
        Some(size) if repository.blobs.contains(&digest) => size,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                "blob unknown to registry",
            );
        }
    };
    let etag = format!("\"{digest}\"");
    // If-Range with another validator (or a date, which a blob does not have): the client's
    // copy is not this one, so it gets the whole blob.
    let ranged = match range {
        Some(r) if r.if_range.is_none_or(|v| v.trim() == etag) => parse_range(r.range, size),
        _ => Ranged::Whole,
    };
    let (status, first, last) = match ranged {
        Ranged::Whole => (StatusCode::OK, 0, size.saturating_sub(1)),
        Ranged::Part(first, last) => (StatusCode::PARTIAL_CONTENT, first, last),
        Ranged::Unsatisfiable => {
            let mut response = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UNKNOWN",
                "requested range not satisfiable",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
    };
    let len = if size == 0 { 0 } else { last - first + 1 };
    let body = if head {
        Body::empty()
    } else {
        match catalog.archive.stream_range(&entry, first, len) {
            // A whole blob is checked as it goes: bytes that do not match the digest are never
            // all sent (the last piece is withheld and the response aborted), and logged.
            Ok(stream) if status == StatusCode::OK => {
                use futures_util::TryStreamExt as _;
                let (verified, _) = crate::copy::verify::VerifyingStream::new(
                    stream,
                    format!("archive entry {entry}"),
                    digest.clone(),
                    Some(size),
                    false,
                    Box::new(|_| {}),
                );
                Body::from_stream(
                    verified.inspect_err(move |e| {
                        tracing::error!("serve: {e}; the response was cut off")
                    }),
                )
            }
            Ok(stream) => Body::from_stream(stream),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", &e.to_string()),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(digest.as_str()) {
        headers.insert("Docker-Content-Digest", v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{size}"))
    {
        headers.insert(header::CONTENT_RANGE, v);
    }
    with_api_version(response)
}

#[cfg(test)]
mod tests {
    use super::{Ranged, accepts, parse_range};

    #[test]
    fn accept_headers_as_clients_send_them() {
        let index = "application/vnd.oci.image.index.v1+json";
        assert!(accepts(&[], index));
        assert!(accepts(&["*/*"], index));
        // One header with a list, or one header per type (containers/image).
        assert!(accepts(
            &[
                "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json;q=0.9"
            ],
            index
        ));
        assert!(accepts(
            &["application/vnd.oci.image.manifest.v1+json", index],
            index
        ));
        assert!(!accepts(
            &["application/vnd.oci.image.manifest.v1+json"],
            index
        ));
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        use Ranged::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 9));
        assert_eq!(parse_range("Bytes = 0-9", 100), Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), Part(0, 99));
        assert_eq!(parse_range("bytes=50-500", 100), Part(50, 99));
        assert_eq!(
            parse_range("bytes=0-99999999999999999999999", 100),
            Part(0, 99)
        );
        // Past the end, or an empty suffix: nothing to send.
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-200,300-", 100), Unsatisfiable);
        // Unknown units, invalid specs and multiple ranges are ignored: the whole blob.
        assert_eq!(parse_range("items=0-5", 100), Whole);
        assert_eq!(parse_range("bytes=5-2", 100), Whole);
        assert_eq!(parse_range("bytes=a-b", 100), Whole);
        assert_eq!(parse_range("bytes=0-0,5-9", 100), Whole);
        assert_eq!(parse_range("bytes=", 100), Whole);
        assert_eq!(parse_range("bytes", 100), Whole);
        assert_eq!(parse_range("bytes=+1-2", 100), Whole);
    }
}
