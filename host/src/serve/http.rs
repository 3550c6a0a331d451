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
        return manifest(&catalog, name, reference, head);
    }
    if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
        return blob(&catalog, name, digest, head, headers.get(header::RANGE));
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

fn manifest(catalog: &Catalog, name: &str, reference: &str, head: bool) -> Response {
    if catalog.repository(name).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        );
    }
    let Some(served) = catalog.manifest(name, reference) else {
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

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` against `size`: the first and last byte, or `None`
/// when unsatisfiable or not understood (multiple ranges are not served).
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = match (first.trim(), last.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().ok()?, size - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(size - 1)),
    };
    (first <= last && first < size).then_some((first, last))
}

fn blob(
    catalog: &Catalog,
    name: &str,
    digest: &str,
    head: bool,
    range: Option<&HeaderValue>,
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
        return manifest(catalog, name, digest.as_str(), head);
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
    let (status, first, last) = match range.and_then(|r| r.to_str().ok()) {
        None => (StatusCode::OK, 0, size.saturating_sub(1)),
        Some(r) => match parse_range(r, size) {
            Some((first, last)) => (StatusCode::PARTIAL_CONTENT, first, last),
            None => {
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
        },
    };
    let len = if size == 0 { 0 } else { last - first + 1 };
    let body = if head {
        Body::empty()
    } else {
        match catalog.archive.stream_range(&entry, first, len) {
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
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{size}"))
    {
        headers.insert(header::CONTENT_RANGE, v);
    }
    with_api_version(response)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
