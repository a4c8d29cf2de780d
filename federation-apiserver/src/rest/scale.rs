//! The `/scale` subresource: an `autoscaling/v1 Scale` view of the
//! replicas of the kinds that have one (`ResourceType::has_scale`), at the
//! type's `scale_paths` (`spec.replicas`, `status.replicas`, `spec.selector`
//! for built-ins; a CRD's `subresources.scale` paths for custom resources).
//!
//! GET answers the Scale; PUT and PATCH (JSON, merge, and strategic merge —
//! a Scale has no lists, so strategic merge is a merge patch here) change
//! only `spec.replicas` of the underlying object, with the same optimistic
//! concurrency as any update.

use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Value};

use super::api::{json_response, ApiState, Target};
use super::body::{self, PatchType};
use super::object_meta::{self, differs};
use super::type_behaviour::{get_path, set_path, ScalePaths};
use crate::status::ApiError;
use crate::storage::{revision_of, set_revision, StorageError};

const CONFLICT_RETRIES: usize = 16;

/// The Scale view of a stored object.
pub fn to_scale(object: &Value, paths: &ScalePaths) -> Value {
    let meta = &object["metadata"];
    let mut metadata = json!({});
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(field) {
            metadata[field] = v.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": get_path(object, &paths.spec_replicas).and_then(Value::as_i64).unwrap_or(1)},
        "status": {
            "replicas": get_path(object, &paths.status_replicas).and_then(Value::as_i64).unwrap_or(0),
            "selector": match paths.label_selector.as_deref().and_then(|p| get_path(object, p)) {
                Some(Value::String(s)) => s.clone(),
                Some(selector) => selector_string(selector),
                None => String::new(),
            },
        },
    })
}

/// A `metav1.LabelSelector` in its string form (`a=b,c in (d,e)`).
fn selector_string(selector: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expr["values"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(match expr["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    parts.join(",")
}

/// The replicas a Scale asks for, validated.
fn wanted_replicas(scale: &Value, target: &Target) -> Result<i64, ApiError> {
    let invalid = |message: &str| {
        ApiError::invalid(
            "autoscaling",
            "Scale",
            target.name(),
            vec![crate::status::Cause::new(
                "FieldValueInvalid",
                "spec.replicas",
                message,
            )],
        )
    };
    match scale.get("spec").and_then(|s| s.get("replicas")) {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(r) if r >= 0 && r <= i64::from(i32::MAX) => Ok(r),
            _ => Err(invalid("must be greater than or equal to 0")),
        },
        None | Some(Value::Null) => Ok(0),
        Some(_) => Err(invalid("must be an integer")),
    }
}

pub async fn handle(
    api: &ApiState,
    target: &Target,
    method: &http::Method,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let rt = &target.rt;
    let name = target.name().to_string();
    let key = target.key(&name);
    let load = || async {
        api.storage
            .get(&key)
            .await
            .map_err(|e| target.storage_error(&name, e))?
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, &name))
    };
    match *method {
        http::Method::GET => {
            let object = load().await?;
            Ok(json_response(
                StatusCode::OK,
                &to_scale(&object, &rt.scale_paths),
            ))
        }
        http::Method::PUT | http::Method::PATCH => {
            let (request, patch_type) = if *method == http::Method::PUT {
                (body::decode_object(content_type, bytes)?, None)
            } else {
                let pt = body::patch_type(content_type)?;
                if pt == PatchType::Apply {
                    return Err(ApiError::unsupported_media_type(
                        "server-side apply is not supported on /scale; use a merge patch",
                    ));
                }
                (body::decode_patch(pt, bytes)?, Some(pt))
            };
            for _ in 0..CONFLICT_RETRIES {
                let current = load().await?;
                let current_rev = revision_of(&current).unwrap_or(0);
                let mut scale = to_scale(&current, &rt.scale_paths);
                match patch_type {
                    None => scale = request.clone(),
                    Some(PatchType::Json) => {
                        let ops: json_patch::Patch = serde_json::from_value(request.clone())
                            .map_err(|e| {
                                ApiError::bad_request(format!("invalid JSON patch: {e}"))
                            })?;
                        json_patch::patch(&mut scale, &ops).map_err(|e| {
                            ApiError::new(
                                422,
                                "Invalid",
                                format!("the JSON patch could not be applied: {e}"),
                            )
                        })?;
                    }
                    Some(_) => json_patch::merge(&mut scale, &request),
                }
                if let Some(rv) = scale["metadata"]
                    .get("resourceVersion")
                    .and_then(Value::as_str)
                {
                    if !rv.is_empty() && rv != current_rev.to_string() {
                        return Err(ApiError::stale(&rt.group, &rt.plural, &name));
                    }
                }
                let replicas = wanted_replicas(&scale, target)?;
                let mut changed = current.value().clone();
                set_path(&mut changed, &rt.scale_paths.spec_replicas, json!(replicas));
                // The same object validation as any update (a CRD schema may
                // bound its replicas).
                super::validation::validate_object(rt, &changed, target.namespace(), Some(&name))?;
                let mut new = object_meta::prepare_update(rt, &current, changed, false);
                super::apply::record_update(target, &current, &mut new);
                set_revision(&mut new, current_rev);
                if !differs(&current, &new) || target.query.dry_run() {
                    return Ok(json_response(
                        StatusCode::OK,
                        &to_scale(&new, &rt.scale_paths),
                    ));
                }
                match api.storage.update(&key, Some(current_rev), new).await {
                    Ok(stored) => {
                        return Ok(json_response(
                            StatusCode::OK,
                            &to_scale(&stored, &rt.scale_paths),
                        ))
                    }
                    Err(StorageError::Conflict { .. }) => continue,
                    Err(e) => return Err(target.storage_error(&name, e)),
                }
            }
            Err(ApiError::stale(&rt.group, &rt.plural, &name))
        }
        ref other => Err(ApiError::method_not_allowed(format!(
            "{other} is not allowed on the scale subresource"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view_reads_replicas_and_selector() {
        let d = json!({"metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}},
            "status": {"replicas": 2}});
        let s = to_scale(&d, &ScalePaths::default());
        assert_eq!(s["kind"], "Scale");
        assert_eq!(s["apiVersion"], "autoscaling/v1");
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web,tier in (a,b)");
        assert_eq!(s["metadata"]["resourceVersion"], "7");
    }
}
