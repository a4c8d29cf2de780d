//! `PartialObjectMetadata` responses (`Accept: application/json;
//! as=PartialObjectMetadata;g=meta.k8s.io;v=v1`, and `...List` for lists):
//! only the objects' metadata, as kube-apiserver serves to metadata-only
//! clients (kube-rs `Api<PartialObjectMeta<K>>`, client-go's metadata
//! informers). Gets, lists and watches answer them.

use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};
use serde_json::{json, Value};

/// The `apiVersion` of the metadata-only kinds.
pub const API_VERSION: &str = "meta.k8s.io/v1";

/// Whether the `Accept` header asks for metadata only: the first media
/// range (by `q`, then order) this server can produce decides.
pub fn requested(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let mut ranges: Vec<(f32, bool)> = accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next()?.to_ascii_lowercase();
            let (mut q, mut kind, mut group, mut version) = (1.0_f32, None, None, None);
            for param in parts.filter(|p| !p.is_empty()) {
                let (k, v) = param.split_once('=').unwrap_or((param, ""));
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.parse().unwrap_or(1.0),
                    "as" => kind = Some(v),
                    "g" => group = Some(v),
                    "v" => version = Some(v),
                    _ => {}
                }
            }
            let json = matches!(media.as_str(), "application/json" | "application/*" | "*/*");
            match kind {
                Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                    if json
                        && group == Some("meta.k8s.io")
                        && matches!(version, Some("v1" | "v1beta1")) =>
                {
                    Some((q, true))
                }
                // Tables and plain objects: not metadata.
                Some(_) => Some((q, false)),
                None => Some((q, false)),
            }
        })
        .filter(|(q, _)| *q > 0.0)
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges.first().is_some_and(|(_, metadata)| *metadata)
}

/// One object as `PartialObjectMetadata`.
pub fn object(value: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": API_VERSION,
        "metadata": value.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A list as `PartialObjectMetadataList`.
pub fn list(items: &[&Value], resource_version: String, continue_token: Option<String>) -> Value {
    let mut metadata = json!({"resourceVersion": resource_version});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": API_VERSION,
        "metadata": metadata,
        "items": items.iter().map(|v| object(v)).collect::<Vec<_>>(),
    })
}

/// A metadata-only body with its content type.
pub fn response(body: &Value, list: bool) -> Response {
    let content_type = if list {
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    } else {
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
    };
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_accept_header() {
        assert!(requested(Some(
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
        )));
        assert!(requested(Some(
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json"
        )));
        assert!(!requested(Some("application/json")));
        assert!(!requested(Some(
            "application/json;as=Table;g=meta.k8s.io;v=v1"
        )));
        assert!(!requested(Some(
            "application/json, application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
        )));
        assert!(!requested(Some(
            "application/json;as=PartialObjectMetadata;g=other;v=v1"
        )));
        assert!(!requested(None));
    }

    #[test]
    fn only_metadata_is_kept() {
        let full = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a", "labels": {"x": "y"}},
            "data": {"secret": "value"}});
        let meta = object(&full);
        assert_eq!(meta["kind"], "PartialObjectMetadata");
        assert_eq!(meta["metadata"]["labels"]["x"], "y");
        assert!(meta.get("data").is_none());
        let list = list(&[&full], "7".into(), Some("next".into()));
        assert_eq!(list["items"][0]["metadata"]["name"], "a");
        assert_eq!(list["metadata"]["continue"], "next");
    }
}
