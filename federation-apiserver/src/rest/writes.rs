//! create, update (PUT) and patch.
//!
//! Every write follows the same path: decode → server-owned metadata →
//! validation → namespace checks → storage (compare-and-swap for updates).
//! `dryRun=All` runs everything but the storage write.

use http::StatusCode;
use serde_json::Value;

use super::api::{json_response, object_response, ApiState, Target};
use super::body::{self, PatchType};
use super::namespaces;
use super::object_meta::{self, differs, finalizers, is_terminating, meta_mut, meta_str};
use super::openapi::FieldCheck;
use super::patch_meta;
use super::strategic_merge;
use super::validation;
use crate::status::ApiError;
use crate::storage::{revision_of, set_revision, Object, Revision, StorageError};
use axum::response::Response;

/// How many times a write without a client-supplied resourceVersion is
/// retried when a concurrent writer got in between read and write.
const CONFLICT_RETRIES: usize = 16;

pub async fn create(
    api: &ApiState,
    target: &Target,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let rt = &target.rt;
    if rt.namespaced && target.namespace().is_none() {
        return Err(ApiError::bad_request(format!(
            "{} is namespaced: create it under /namespaces/NAMESPACE/{}",
            rt.kind, rt.plural
        )));
    }
    let fields = FieldCheck::new(target);
    let mut object = fields.checked_object(body::decode_object_checked(content_type, bytes))?;
    // Refused at the storage step (after validation), as in Kubernetes; a
    // dry run never gets there.
    let sent_revision = meta_str(&object, "resourceVersion").and_then(|rv| rv.parse::<u64>().ok());
    // A custom resource's CRD may have been deleted while the body arrived.
    if rt.crd.is_some()
        && api
            .registry()
            .lookup(&rt.group, &rt.version, &rt.plural)
            .is_none()
    {
        return Err(ApiError::not_found(&rt.group, &rt.plural, target.name()));
    }
    let rule = validation::name_rule(rt);
    let name_missing = meta_str(&object, "name").is_none_or(str::is_empty);
    if name_missing {
        if let Some(prefix) = meta_str(&object, "generateName").map(str::to_string) {
            let problems = validation::validate_generate_name(rule, &prefix);
            if !problems.is_empty() {
                return Err(ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    &prefix,
                    vec![crate::status::Cause::new(
                        "FieldValueInvalid",
                        "metadata.generateName",
                        problems.join("; "),
                    )],
                ));
            }
            let generated = validation::generate_name(&prefix);
            meta_mut(&mut object).insert("name".into(), Value::String(generated));
        }
    }
    // Validate the body as sent: prepare_create overwrites metadata.namespace
    // with the path's, which would hide a body naming another namespace.
    validation::validate_object(rt, &object, target.namespace(), None)?;
    object_meta::prepare_create(rt, &mut object, target.namespace());
    super::apply::record_create(target, &mut object);
    let name = meta_str(&object, "name").unwrap_or("").to_string();
    // Held until the object is stored: see `NamespaceFinalizer::create_gate`.
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
        if api
            .storage
            .get(&target.key(&name))
            .await
            .map_err(|e| target.storage_error(&name, e))?
            .is_some()
        {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        return Ok(fields.respond(json_response(StatusCode::CREATED, &object)));
    }
    if sent_revision.is_some_and(|rv| rv != 0) {
        // What kube-apiserver's storage answers (a plain error: 500, no reason).
        return Err(ApiError::unknown(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let stored = api
        .storage
        .create(&target.key(&name), object)
        .await
        .map_err(|e| target.storage_error(&name, e))?;
    Ok(fields.respond(object_response(StatusCode::CREATED, &stored)))
}

/// The resourceVersion a client sent in the body, if any (`""` = none).
fn client_revision(target: &Target, object: &Value) -> Result<Option<Revision>, ApiError> {
    match meta_str(object, "resourceVersion") {
        None | Some("") => Ok(None),
        Some(rv) => rv.parse().map(Some).map_err(|_| {
            ApiError::invalid(
                &target.rt.group,
                &target.rt.kind,
                target.name(),
                vec![crate::status::Cause::new(
                    "FieldValueInvalid",
                    "metadata.resourceVersion",
                    format!(
                        "Invalid value: {rv:?}: must be a resourceVersion returned by this server"
                    ),
                )],
            )
        }),
    }
}

pub async fn update(
    api: &ApiState,
    target: &Target,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    // As kube-apiserver: the body is decoded (strictly) before anything else.
    let fields = FieldCheck::new(target);
    let object = fields.checked_object(body::decode_object_checked(content_type, bytes))?;
    let expected = client_revision(target, &object)?;
    write_existing(api, target, expected, |_current| Ok(object.clone()))
        .await
        .map(|response| fields.respond(response))
}

pub async fn patch(
    api: &ApiState,
    target: &Target,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let patch_type = body::patch_type(content_type)?;
    if patch_type == PatchType::Apply {
        return super::apply::apply(api, target, bytes).await;
    }
    // Strategic merge patch needs the kind's patch metadata: built-ins only.
    let smp_schema = patch_meta::for_kind(&target.rt.group, &target.rt.version, &target.rt.kind);
    let decoded = match patch_type {
        PatchType::Json | PatchType::Merge => body::decode_patch_checked(patch_type, bytes)?,
        PatchType::StrategicMerge if smp_schema.is_some() => {
            body::decode_patch_checked(patch_type, bytes)?
        }
        PatchType::StrategicMerge | PatchType::Apply => {
            return Err(ApiError::unsupported_media_type(format!(
                "the patch type {} is not supported yet; use --type=merge or --type=json",
                patch_type.content_type()
            )))
        }
    };
    let patch = decoded.value;
    // kube-apiserver looks for repeated fields in merge and strategic merge
    // patches (a JSON patch's operations are decoded leniently); Strict
    // refuses them with the patched object's unknown fields in one 422.
    let duplicates = match patch_type {
        PatchType::Json => Vec::new(),
        _ => decoded.duplicates,
    };
    let strategic = (patch_type == PatchType::StrategicMerge).then_some(&patch);
    // A merge patch may carry metadata.resourceVersion as a precondition.
    let expected = match patch_type {
        PatchType::Merge | PatchType::StrategicMerge => client_revision(target, &patch)?,
        _ => None,
    };
    let fields = FieldCheck::new(target);
    write_existing(api, target, expected, |current| {
        let patched = match patch_type {
            PatchType::StrategicMerge => {
                strategic_merge::apply(current, &patch, smp_schema).map_err(ApiError::from)
            }
            _ => apply_patch(patch_type, current, &patch),
        };
        fields.checked_patch(patched, &duplicates, strategic)
    })
    .await
    .map(|response| fields.respond(response))
}

/// Applies a JSON patch (RFC 6902) or merge patch (RFC 7396) to `current`.
fn apply_patch(patch_type: PatchType, current: &Value, patch: &Value) -> Result<Value, ApiError> {
    let mut doc = current.clone();
    match patch_type {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
                ApiError::bad_request(format!("the JSON patch is not a valid operation list: {e}"))
            })?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the JSON patch could not be applied: {e}"),
                )
            })?;
        }
        _ => json_patch::merge(&mut doc, patch),
    }
    if !doc.is_object() {
        return Err(ApiError::bad_request(
            "the patched object is not a JSON object",
        ));
    }
    Ok(doc)
}

/// The read-modify-write loop shared by update and patch.
///
/// `expected` is the client's resourceVersion precondition; without one, a
/// conflict with a concurrent writer is retried on the fresh state.
async fn write_existing(
    api: &ApiState,
    target: &Target,
    expected: Option<Revision>,
    build: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    let rt = &target.rt;
    let name = target.name().to_string();
    let key = target.key(&name);
    let status_only = target.info.subresource.as_deref() == Some("status");
    for _ in 0..CONFLICT_RETRIES {
        let current = api
            .storage
            .get(&key)
            .await
            .map_err(|e| target.storage_error(&name, e))?
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, &name))?;
        let current = super::api::as_served(rt, &current);
        let current_rev = revision_of(&current).unwrap_or(0);
        if let Some(expected) = expected {
            if expected != current_rev {
                return Err(ApiError::stale(&rt.group, &rt.plural, &name));
            }
        }
        let mut new = build(&current)?;
        if !rt.namespaced {
            if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("namespace");
            }
        }
        validation::validate_object(rt, &new, target.namespace(), Some(&name))?;
        let mut new = object_meta::prepare_update(rt, &current, new, status_only);
        super::apply::record_update(target, &current, &mut new);
        match store_update(api, target, &key, &current, new, expected.is_none()).await? {
            Stored::Done(response) => return Ok(response),
            Stored::Retry => continue,
        }
    }
    Err(ApiError::stale(&rt.group, &rt.plural, &name))
}

/// What [`store_update`] came to.
pub(crate) enum Stored {
    Done(Response),
    /// A concurrent writer won; read again and rebuild.
    Retry,
}

/// The shared end of every update-like write (update, patch, apply): an
/// unchanged object is not written; a terminating object gains no new
/// finalizers; a dry run stops here; an object being deleted whose last
/// finalizer is gone is removed; otherwise a compare-and-swap on the
/// revision `current` was read at. A conflict is retried only when the
/// client sent no resourceVersion precondition (`retry_on_conflict`).
pub(crate) async fn store_update(
    api: &ApiState,
    target: &Target,
    key: &str,
    current: &Object,
    mut new: Value,
    retry_on_conflict: bool,
) -> Result<Stored, ApiError> {
    let rt = &target.rt;
    let name = target.name();
    let current_rev = revision_of(current).unwrap_or(0);
    set_revision(&mut new, current_rev);
    if !differs(current, &new) {
        return Ok(Stored::Done(object_response(StatusCode::OK, current)));
    }
    if is_terminating(current) {
        let before = finalizers(current);
        if let Some(added) = finalizers(&new).into_iter().find(|f| !before.contains(f)) {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                name,
                vec![crate::status::Cause::new(
                    "FieldValueForbidden",
                    "metadata.finalizers",
                    format!("Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers [{added:?}]"),
                )],
            ));
        }
    }
    // No finalizer of any list left (a namespace's `spec.finalizers` go
    // once the namespace finalizer has emptied it).
    let finished = object_meta::finalized(rt, &new);
    if target.query.dry_run() {
        return Ok(Stored::Done(json_response(StatusCode::OK, &new)));
    }
    let result = if finished {
        // The last finalizer is gone from an object being deleted: remove
        // it. As in kube-apiserver, the update itself is not stored (the
        // DELETED event carries the last stored state) but the client gets
        // its result, at the delete's revision.
        api.storage
            .delete(key, Some(current_rev))
            .await
            .map(|gone| {
                set_revision(&mut new, revision_of(&gone).unwrap_or(current_rev));
                crate::storage::object(new)
            })
    } else {
        api.storage.update(key, Some(current_rev), new).await
    };
    match result {
        Ok(stored) => Ok(Stored::Done(object_response(StatusCode::OK, &stored))),
        Err(StorageError::Conflict { .. }) if retry_on_conflict => Ok(Stored::Retry),
        Err(e) => Err(target.storage_error(name, e)),
    }
}
