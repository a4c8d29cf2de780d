//! OpenAPI: `/openapi/v2` and `/openapi/v3[/{api/v1 | apis/GROUP/VERSION}]`.
//!
//! kubectl needs these before `apply`, `create -f`, `edit` and `diff` (field
//! validation) and for `explain`; see `KUBECTL-WIRE.md`, section OpenAPI.
//!
//! * `/openapi/v2` answers 200 with an EMPTY protobuf body: kubectl 1.27/1.28
//!   fetch it before apply/diff/edit and fail on a 404, and an empty
//!   document parses. `kubectl explain` uses v3 on every kubectl 1.27–1.33
//!   (1.27/1.28 only fall back to v2 with `--output plaintext-openapiv2`).
//! * `/openapi/v3` lists every served group-version with a
//!   `serverRelativeURL` carrying the document's hash; each document
//!   ([`v3::group_version_document`]) is built from the [`Registry`] and a
//!   [`SchemaSource`] (today the built-in k8s-openapi schemas).
//!
//! Documents are built once per registry content and kept as bytes, so a
//! request costs a fingerprint of the registry and a map lookup. A request
//! whose `hash` matches is answered `Cache-Control: public, immutable`
//! (kubectl caches those on disk); ETag / `If-None-Match` work on every document.
//! [`fields`] checks objects against the same schemas (`fieldValidation`).
//!
//! Custom resources: `publish` uses [`custom::CustomSchemas`], which answers
//! for every type carrying a structural schema (a CRD's `openAPIV3Schema`,
//! as one component named by [`schemas::custom_name`]) and falls back to
//! [`BuiltinSchemas`]; those schemas are part of `fingerprint`, so the
//! documents are rebuilt when a CRD changes. Kinds without any schema are
//! published with [`schemas::permissive_schema`].

pub mod custom;
pub mod fields;
pub mod schemas;
pub mod v3;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Map, Value};

pub use fields::{check_fields, unknown_fields, with_warnings, FieldCheck, FieldValidation};
pub use schemas::{BuiltinSchemas, KindSchema, SchemaSource};

use crate::rest::registry::Registry;
use crate::status::ApiError;

/// Content-Type of `/openapi/v2` (the gnostic protobuf encoding kubectl asks for).
pub const V2_CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// One serialised document.
struct Document {
    json: Bytes,
    hash: String,
}

/// Everything published for one registry content.
struct Published {
    fingerprint: u64,
    root: Document,
    /// `api/v1`, `apis/apps/v1`, ... → document.
    group_versions: HashMap<String, Document>,
}

impl Document {
    fn new(value: &Value) -> Document {
        let json = serde_json::to_vec(value).unwrap_or_default();
        Document {
            hash: content_hash(&json),
            json: Bytes::from(json),
        }
    }
}

/// Builds every document for `registry` with schemas from `source`.
fn publish(registry: &Registry, source: &dyn SchemaSource, fingerprint: u64) -> Published {
    let mut group_versions = HashMap::new();
    let mut root_paths = Map::new();
    for (group, version) in v3::group_versions(registry) {
        let Some(doc) = v3::group_version_document(registry, &group, &version, source) else {
            continue;
        };
        let path = v3::document_path(&group, &version);
        let doc = Document::new(&doc);
        root_paths.insert(
            path.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.hash) }),
        );
        group_versions.insert(path, doc);
    }
    Published {
        fingerprint,
        root: Document::new(&json!({ "paths": root_paths })),
        group_versions,
    }
}

/// What the documents depend on in the registry.
fn fingerprint(registry: &Registry) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for rt in registry.all() {
        (&rt.group, &rt.version, &rt.kind, &rt.plural).hash(&mut hasher);
        (rt.namespaced, rt.has_status, rt.has_scale).hash(&mut hasher);
        if let Some(schema) = rt.schema_check.structural() {
            schema.to_string().hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// The documents for `registry`, built on first use and whenever it changes.
fn published(registry: &Registry) -> Arc<Published> {
    static CACHE: RwLock<Option<Arc<Published>>> = RwLock::new(None);
    let fingerprint = registry.fingerprint(fingerprint);
    if let Some(current) = CACHE.read().ok().and_then(|c| c.clone()) {
        if current.fingerprint == fingerprint {
            return current;
        }
    }
    let source = custom::CustomSchemas::new(registry);
    let built = Arc::new(publish(registry, &source, fingerprint));
    if let Ok(mut cache) = CACHE.write() {
        *cache = Some(built.clone());
    }
    built
}

/// 128-bit FNV-1a of the document bytes, as hex: the `hash` of its URL and its ETag.
fn content_hash(bytes: &[u8]) -> String {
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for &b in bytes {
        hash ^= u128::from(b);
        hash = hash.wrapping_mul(PRIME);
    }
    format!("{hash:032X}")
}

/// The router hook: the response for an OpenAPI path, `None` for other paths.
pub fn response(
    registry: &Registry,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let rest = path.strip_prefix("/openapi/")?;
    if !matches!(rest.split('/').next(), Some("v2" | "v3")) {
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource (method {method}, path {path})"
        ))
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(response);
    }
    if rest == "v2" {
        return Some(v2_response());
    }
    let published = published(registry);
    let document = match rest.strip_prefix("v3") {
        Some("") => &published.root,
        Some(gv) => match published.group_versions.get(gv.trim_start_matches('/')) {
            Some(document) => document,
            None => return Some(ApiError::no_such_path(path).into_response()),
        },
        None => return Some(ApiError::no_such_path(path).into_response()),
    };
    Some(document_response(document, query, headers))
}

/// `/openapi/v2`: an empty document (see the module documentation).
fn v2_response() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, V2_CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        Bytes::new(),
    )
        .into_response()
}

fn document_response(document: &Document, query: Option<&str>, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", document.hash);
    let hash_matches = query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "hash" && v == document.hash)
    });
    let cache_control = if hash_matches {
        "public, immutable, max-age=31536000"
    } else {
        "no-cache, private"
    };
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            document.json.clone(),
        )
            .into_response()
    };
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, etag);
    }
    response
}
