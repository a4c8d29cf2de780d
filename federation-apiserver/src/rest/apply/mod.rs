//! Server-side apply (`PATCH` with `application/apply-patch+yaml`) and the
//! `metadata.managedFields` bookkeeping of every write.
//!
//! - [`fieldset`]: FieldsV1 sets and their algebra.
//! - [`lists`]: list semantics (associative / set / atomic) per kind.
//! - [`merge`]: field sets of values, merging a configuration, comparing.
//! - [`managed_fields`]: entries, ownership moves, conflicts.
//!
//! Apply: the applied configuration's field set becomes the manager's
//! `Apply` entry; the configuration is merged into the live object; fields
//! the manager applied before but no longer does are removed unless another
//! manager owns them; a field the apply changes that another manager owns
//! is a conflict (409) unless `force=true`, which moves it to the applier.
//! A missing object is created (201). `/status` applies touch only status
//! and are recorded with `subresource: status`.
//!
//! Every other write records an `Update` entry for its `fieldManager`
//! (default: the User-Agent's product, `kubectl/v1.30 ...` → `kubectl`,
//! else `unknown`) owning the fields it changed, taken from the others.
//!
//! Client-side apply upgrade: when the manager `kubectl` applies to an
//! object carrying `kubectl.kubernetes.io/last-applied-configuration`,
//! conflicts on fields of that annotation whose live value still equals it
//! are taken over without `--force-conflicts` (Kubernetes does the same for
//! those fields), and the annotation is rewritten to the new configuration
//! so a later client-side apply keeps working.

pub mod fieldset;
pub mod lists;
pub mod managed_fields;
pub mod merge;

use http::StatusCode;
use serde_json::Value;

use super::api::{json_response, object_response, ApiState, Target};
use super::body::{self, PatchType};
use super::object_meta::{self, meta_str};
use super::openapi::FieldCheck;
use super::{namespaces, validation};
use crate::status::{ApiError, Cause};
use crate::storage::revision_of;
use fieldset::FieldSet;
use lists::Lists;
use managed_fields::{Conflict, Op};

const CONFLICT_RETRIES: usize = 16;
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const MAX_MANAGER_LEN: usize = 128;

/// The manager of a non-apply write: `fieldManager`, else the product part
/// of the User-Agent, else `unknown`.
pub fn manager_of(target: &Target) -> String {
    if let Some(m) = target.query.get("fieldManager") {
        return m.to_string();
    }
    let product = target
        .query
        .user_agent()
        .and_then(|ua| ua.split('/').next())
        .map(str::trim)
        .unwrap_or("");
    if product.is_empty() {
        "unknown".into()
    } else {
        product.chars().take(MAX_MANAGER_LEN).collect()
    }
}

fn lists_of(target: &Target) -> Lists {
    let rt = &target.rt;
    Lists::for_kind(&rt.group, &rt.version, &rt.kind)
}

/// Hook for create: the creator owns every field it set.
pub fn record_create(target: &Target, object: &mut Value) {
    record(target, None, object);
}

/// Hook for update and non-apply patches, once `new` is the object to store.
pub fn record_update(target: &Target, live: &Value, new: &mut Value) {
    record(target, Some(live), new);
}

fn record(target: &Target, live: Option<&Value>, new: &mut Value) {
    let manager = manager_of(target);
    let api_version = target.rt.api_version();
    let lists = lists_of(target);
    let now = object_meta::now_rfc3339();
    let op = Op {
        manager: &manager,
        api_version: &api_version,
        subresource: target.info.subresource.as_deref(),
        lists: &lists,
        now: &now,
    };
    managed_fields::record_update(&op, live, new);
}

fn patch_options_invalid(field: &str, message: String) -> ApiError {
    ApiError::invalid(
        "meta.k8s.io",
        "PatchOptions",
        "",
        vec![Cause::new("FieldValueInvalid", field, message)],
    )
}

/// Checks the apply's options; answers the field manager.
fn apply_manager(target: &Target) -> Result<String, ApiError> {
    let Some(manager) = target.query.get("fieldManager") else {
        let mut e = patch_options_invalid(
            "fieldManager",
            "Required value: is required for apply patch".into(),
        );
        e.causes[0].reason = "FieldValueRequired".into();
        return Err(e);
    };
    if manager.len() > MAX_MANAGER_LEN {
        return Err(patch_options_invalid(
            "fieldManager",
            format!("Too long: may not be more than {MAX_MANAGER_LEN} bytes"),
        ));
    }
    if manager.chars().any(|c| c.is_control()) {
        return Err(patch_options_invalid(
            "fieldManager",
            format!("Invalid value: {manager:?}: must only contain printable characters"),
        ));
    }
    Ok(manager.to_string())
}

/// The configuration as the addressed (sub)resource sees it: `/status`
/// applies only status; the main resource of a kind with a `/status`
/// subresource ignores status.
fn scope_config(target: &Target, mut config: Value) -> Value {
    let map = config
        .as_object_mut()
        .expect("decode_patch answers objects");
    if target.info.subresource.as_deref() == Some("status") {
        map.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "resourceVersion"));
        }
    } else if target.rt.has_status {
        map.remove("status");
    }
    config
}

fn conflict_error(conflicts: &[Conflict]) -> ApiError {
    let causes = conflicts
        .iter()
        .map(|c| {
            Cause::new(
                "FieldManagerConflict",
                &fieldset::path_string(&c.path),
                format!("conflict with {}", c.manager),
            )
        })
        .collect();
    ApiError::new(409, "Conflict", managed_fields::conflict_message(conflicts)).with_causes(causes)
}

/// Fields of the last-applied annotation whose live value still equals it
/// (the client-side apply upgrade), for the manager `kubectl` only.
fn last_applied_allowed(manager: &str, live: &Value, lists: &Lists) -> Option<FieldSet> {
    if manager != "kubectl" {
        return None;
    }
    let text = live
        .get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    let last: Value = serde_json::from_str(text).ok().filter(Value::is_object)?;
    let last = managed_fields::owned_view(&last);
    let cmp = merge::compare(&last, &managed_fields::owned_view(live), lists);
    Some(
        merge::to_set(&last, lists)
            .difference(&cmp.modified)
            .recursive_difference(&cmp.removed),
    )
}

/// Keeps the last-applied annotation in step with `kubectl`'s applies.
fn sync_last_applied(manager: &str, live: &Value, config: &Value, new: &mut Value) {
    let had = live
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LAST_APPLIED))
        .is_some();
    if manager != "kubectl" || !had {
        return;
    }
    let mut applied = config.clone();
    if let Some(a) = applied
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        a.remove(LAST_APPLIED);
    }
    let text = format!("{}\n", serde_json::to_string(&applied).unwrap_or_default());
    if let Some(a) = new
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        a.insert(LAST_APPLIED.into(), Value::String(text));
    }
}

/// `PATCH` with `application/apply-patch+yaml`. The configuration passes
/// `fieldValidation` first (kubectl's `--server-side` sends `Strict`), like
/// every other write: its repeated and unknown fields are one 400 under
/// Strict, warnings under Warn.
pub async fn apply(
    api: &ApiState,
    target: &Target,
    bytes: &[u8],
) -> Result<axum::response::Response, ApiError> {
    let fields = FieldCheck::new(target);
    let config = fields.checked_apply(body::decode_patch_checked(PatchType::Apply, bytes))?;
    apply_config(api, target, config)
        .await
        .map(|response| fields.respond(response))
}

async fn apply_config(
    api: &ApiState,
    target: &Target,
    mut config: Value,
) -> Result<axum::response::Response, ApiError> {
    let rt = &target.rt;
    let manager = apply_manager(target)?;
    let force = target.query.flag("force");
    let sent_managed = config
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|m| !m.is_null());
    if sent_managed {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let name = target.name().to_string();
    if meta_str(&config, "name").is_none_or(str::is_empty) {
        object_meta::meta_mut(&mut config).insert("name".into(), Value::String(name.clone()));
    }
    let expected =
        match meta_str(&config, "resourceVersion") {
            None | Some("") => None,
            Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    &name,
                    vec![Cause::new(
                "FieldValueInvalid",
                "metadata.resourceVersion",
                format!("Invalid value: {rv:?}: must be a resourceVersion returned by this server"),
            )],
                )
            })?),
        };
    let config = scope_config(target, config);
    let status_only = target.info.subresource.as_deref() == Some("status");
    let lists = lists_of(target);
    let api_version = rt.api_version();
    let now = object_meta::now_rfc3339();
    let op = Op {
        manager: &manager,
        api_version: &api_version,
        subresource: target.info.subresource.as_deref(),
        lists: &lists,
        now: &now,
    };
    let key = target.key(&name);
    for _ in 0..CONFLICT_RETRIES {
        let current = api
            .storage
            .get(&key)
            .await
            .map_err(|e| target.storage_error(&name, e))?;
        let Some(current) = current else {
            if status_only || expected.is_some() {
                return Err(ApiError::not_found(&rt.group, &rt.plural, &name));
            }
            match create(api, target, &op, &config, &name, force).await {
                Err(e) if e.code == 409 && e.reason == "AlreadyExists" => continue,
                other => return other,
            }
        };
        let live: &Value = &current;
        let current_rev = revision_of(live).unwrap_or(0);
        if expected.is_some_and(|rv| rv != current_rev) {
            return Err(ApiError::stale(&rt.group, &rt.plural, &name));
        }
        let (mut merged, entries) = managed_fields::plan_apply(&op, live, &config);
        if !rt.namespaced {
            if let Some(meta) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("namespace");
            }
        }
        validation::validate_object(rt, &merged, target.namespace(), Some(&name))?;
        let mut new = object_meta::prepare_update(rt, live, merged, status_only);
        let allowed = last_applied_allowed(&manager, live, &lists);
        managed_fields::finish_apply(&op, live, &mut new, entries, force, allowed.as_ref())
            .map_err(|c| conflict_error(&c))?;
        sync_last_applied(&manager, live, &config, &mut new);
        match super::writes::store_update(api, target, &key, &current, new, expected.is_none())
            .await?
        {
            super::writes::Stored::Done(response) => return Ok(response),
            super::writes::Stored::Retry => continue,
        }
    }
    Err(ApiError::stale(&rt.group, &rt.plural, &name))
}

/// Apply to a missing object: create it (201).
async fn create(
    api: &ApiState,
    target: &Target,
    op: &Op<'_>,
    config: &Value,
    name: &str,
    force: bool,
) -> Result<axum::response::Response, ApiError> {
    let rt = &target.rt;
    if rt.namespaced && target.namespace().is_none() {
        return Err(ApiError::bad_request(format!(
            "{} is namespaced: apply it under /namespaces/NAMESPACE/{}",
            rt.kind, rt.plural
        )));
    }
    let empty = serde_json::json!({});
    let (merged, entries) = managed_fields::plan_apply(op, &empty, config);
    validation::validate_object(rt, &merged, target.namespace(), Some(name))?;
    let mut object = merged;
    object_meta::prepare_create(rt, &mut object, target.namespace());
    managed_fields::finish_apply(op, &empty, &mut object, entries, force, None)
        .map_err(|c| conflict_error(&c))?;
    let finalizer = api.namespace_finalizer();
    let _gate = match target.namespace() {
        Some(ns) => {
            let gate = finalizer.create_gate().await;
            namespaces::check_open_for_create(api, ns).await?;
            Some(gate)
        }
        None => None,
    };
    if target.query.dry_run() {
        return Ok(json_response(StatusCode::CREATED, &object));
    }
    let stored = api
        .storage
        .create(&target.key(name), object)
        .await
        .map_err(|e| target.storage_error(name, e))?;
    Ok(object_response(StatusCode::CREATED, &stored))
}

#[cfg(test)]
mod tests;
