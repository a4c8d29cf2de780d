//! get and list.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{header, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api::{as_served, object_response, ApiState, Target};
use super::selectors::{FieldSelector, LabelSelector};
use super::table;
use crate::status::{ApiError, Cause};
use crate::storage::{Filter, ListOptions, Object};

/// The storage filter for a request's `labelSelector` and `fieldSelector`.
pub fn selection(target: &Target) -> Result<Option<Filter>, ApiError> {
    let labels = LabelSelector::parse(target.query.get("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(target.query.get("fieldSelector").unwrap_or(""), &target.rt)?;
    if labels.is_empty() && fields.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(move |o: &Value| {
        labels.matches_object(o) && fields.matches(o)
    })))
}

pub async fn get(api: &ApiState, target: &Target) -> Result<Response, ApiError> {
    let table = table::requested(target)?;
    let name = target.name();
    let object = api
        .storage
        .get(&target.key(name))
        .await
        .map_err(|e| target.storage_error(name, e))?
        .ok_or_else(|| ApiError::not_found(&target.rt.group, &target.rt.plural, name))?;
    if let Some(table) = table {
        return Ok(table.response(&table.object_table(object.value(), true)));
    }
    if super::metadata_only::requested(target.accept.as_deref()) {
        let served = as_served(&target.rt, &object);
        return Ok(super::metadata_only::response(
            &super::metadata_only::object(served.value()),
            false,
        ));
    }
    Ok(object_response(
        StatusCode::OK,
        &as_served(&target.rt, &object),
    ))
}

/// The opaque `continue` token: where the next page starts.
#[derive(Serialize, Deserialize)]
struct ContinueToken {
    /// The last key of the previous page.
    k: String,
    /// The revision of the first page (informational).
    rv: u64,
}

fn encode_continue(key: &str, revision: u64) -> String {
    let token = serde_json::to_vec(&ContinueToken {
        k: key.to_string(),
        rv: revision,
    })
    .unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
}

/// The key to continue after and the first page's revision.
fn decode_continue(token: &str, prefix: &str) -> Result<(String, u64), ApiError> {
    let bad = || ApiError::bad_request(format!("invalid continue token: {token:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let token: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if !token.k.starts_with(prefix) {
        return Err(bad());
    }
    Ok((token.k, token.rv))
}

/// Lists a resource (in one namespace or all), with selection and paging.
///
/// # Caveats
/// Continuation pages are served from the current state (keys after the
/// previous page), not from a snapshot at the first page's revision; they
/// report the first page's revision, so a watch from it replays every change
/// made while paging (an object may then be seen twice, never missed).
pub async fn list(api: &ApiState, target: &Target) -> Result<Response, ApiError> {
    let exact = exact_revision(target)?;
    let table = table::requested(target)?;
    let prefix = target.rt.namespace_prefix(target.namespace());
    let limit = match target.query.get("limit") {
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?
            .max(0) as usize,
        None => 0,
    };
    let (start_after, first_page_revision) = match target.query.get("continue") {
        Some(token) => {
            let (key, revision) = decode_continue(token, &prefix)?;
            (Some(key), Some(revision))
        }
        None => (None, None),
    };
    let options = ListOptions {
        filter: selection(target)?,
        limit,
        start_after,
    };
    let page = api
        .storage
        .list(&prefix, &options)
        .await
        .map_err(|e| target.storage_error("", e))?;
    // No snapshots are kept: only the current revision can be listed exactly
    // (kube-apiserver answers the same for a compacted revision).
    if exact.is_some_and(|rv| rv != page.revision) {
        return Err(ApiError::gone_expired(
            "The resourceVersion for the provided list is too old.",
        ));
    }
    // Every page reports the first page's revision: a client that watches
    // from it afterwards (as informers do) replays whatever changed while it
    // was paging, so nothing is missed.
    let revision = first_page_revision.unwrap_or(page.revision);
    let continue_token = page
        .continue_after
        .as_deref()
        .map(|k| encode_continue(k, revision));
    if let Some(table) = table {
        let objects: Vec<&Value> = page.items.iter().map(|(_, o)| o.value()).collect();
        let body = table.table(
            &objects,
            revision.to_string(),
            continue_token,
            true,
            chrono::Utc::now(),
        );
        return Ok(table.response(&body));
    }
    if super::metadata_only::requested(target.accept.as_deref()) {
        let objects: Vec<&Value> = page.items.iter().map(|(_, o)| o.value()).collect();
        let body = super::metadata_only::list(&objects, revision.to_string(), continue_token);
        return Ok(super::metadata_only::response(&body, true));
    }
    let items: Vec<&Object> = page.items.iter().map(|(_, o)| o).collect();
    Ok(list_response(target, revision, continue_token, &items))
}

/// The revision a list must be served at (`resourceVersionMatch=Exact`),
/// with kube-apiserver's checks of the list options (422 on `ListOptions`).
fn exact_revision(target: &Target) -> Result<Option<u64>, ApiError> {
    let Some(mode) = target.query.get("resourceVersionMatch") else {
        return Ok(None);
    };
    let rv = target.query.get("resourceVersion");
    let forbidden = |message: &str| {
        Cause::new(
            "FieldValueForbidden",
            "resourceVersionMatch",
            format!("Forbidden: {message}"),
        )
    };
    let mut causes = Vec::new();
    if !matches!(mode, "Exact" | "NotOlderThan") {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "resourceVersionMatch",
            format!(
                "Unsupported value: {mode:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""
            ),
        ));
    } else {
        if rv.is_none() {
            causes.push(forbidden(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if target.query.get("continue").is_some() {
            causes.push(forbidden(
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if mode == "Exact" && rv == Some("0") {
            causes.push(forbidden(
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", causes));
    }
    match (mode, rv) {
        ("Exact", Some(rv)) => rv
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}"))),
        _ => Ok(None),
    }
}

/// Writes a `XList` body without building one big JSON value.
pub fn list_response(
    target: &Target,
    revision: u64,
    continue_token: Option<String>,
    items: &[&Object],
) -> Response {
    let mut metadata = serde_json::Map::new();
    metadata.insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
    if let Some(token) = continue_token {
        metadata.insert("continue".into(), Value::String(token));
    }
    let mut out = Vec::with_capacity(64 + items.len() * 512);
    out.extend_from_slice(b"{\"kind\":");
    let _ = serde_json::to_writer(&mut out, &target.rt.list_kind());
    out.extend_from_slice(b",\"apiVersion\":");
    let _ = serde_json::to_writer(&mut out, &target.rt.api_version());
    out.extend_from_slice(b",\"metadata\":");
    let _ = serde_json::to_writer(&mut out, &metadata);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(as_served(&target.rt, item).json());
    }
    out.extend_from_slice(b"]}");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response()
}
