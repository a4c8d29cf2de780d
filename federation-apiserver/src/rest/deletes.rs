//! delete and deletecollection, with finalizers.
//!
//! An object without finalizers is removed at once. An object with
//! finalizers is only marked (`metadata.deletionTimestamp`) and removed by
//! the update that takes its last finalizer away (see `writes`). Deleting a
//! namespace marks it `Terminating` and hands it to [`super::namespaces`].

use axum::response::Response;
use http::StatusCode;

use super::api::{object_response, ApiState, Target};
use super::body::{self, DeleteOptions};
use super::namespaces;
use super::object_meta::{finalizers, is_terminating, mark_deleting, meta_str, spec_finalizers};
use super::reads;
use super::strategy::NAMESPACE_FINALIZER;
use super::type_behaviour::set_path;
use crate::status::ApiError;
use crate::storage::{revision_of, ListOptions, Object, StorageError};

const CONFLICT_RETRIES: usize = 16;

fn is_namespace(target: &Target) -> bool {
    target.rt.group.is_empty() && target.rt.plural == "namespaces"
}

pub async fn delete(api: &ApiState, target: &Target, bytes: &[u8]) -> Result<Response, ApiError> {
    let options = body::decode_delete_options(bytes)?;
    let dry_run = target.query.dry_run() || options.dry_run.iter().any(|d| d == "All");
    let object = delete_one(api, target, target.name(), &options, dry_run).await?;
    Ok(object_response(StatusCode::OK, &object))
}

/// Deletes (or marks) one object; returns its final or marked state.
async fn delete_one(
    api: &ApiState,
    target: &Target,
    name: &str,
    options: &DeleteOptions,
    dry_run: bool,
) -> Result<Object, ApiError> {
    let rt = &target.rt;
    let key = target.key(name);
    for _ in 0..CONFLICT_RETRIES {
        let current = api
            .storage
            .get(&key)
            .await
            .map_err(|e| target.storage_error(name, e))?
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        check_preconditions(target, name, &current, options)?;
        let rev = revision_of(&current).unwrap_or(0);
        if is_namespace(target) {
            if namespaces::SYSTEM_NAMESPACES.contains(&name) {
                return Err(ApiError::forbidden(format!(
                    "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                ))
                .with_details("", "namespaces", name));
            }
            if is_terminating(&current) {
                return Err(ApiError::conflict(
                    "",
                    "namespaces",
                    name,
                    "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.",
                ));
            }
        }
        let needs_marking = !finalizers(&current).is_empty()
            || !spec_finalizers(rt, &current).is_empty()
            || is_namespace(target);
        if needs_marking && is_terminating(&current) {
            // Already being deleted: nothing more to do.
            return Ok(current.clone());
        }
        if dry_run {
            return Ok(current.clone());
        }
        let result = if needs_marking {
            let mut marked = current.value().clone();
            mark_deleting(&mut marked);
            if is_namespace(target) {
                marked["status"] = serde_json::json!({"phase": "Terminating"});
                // Namespaces stored before spec.finalizers were kept get
                // the finalizer every namespace is created with.
                if !spec_finalizers(rt, &marked)
                    .iter()
                    .any(|f| f == NAMESPACE_FINALIZER)
                {
                    let mut list = spec_finalizers(rt, &marked);
                    list.push(NAMESPACE_FINALIZER.to_string());
                    set_path(&mut marked, ".spec.finalizers", serde_json::json!(list));
                }
            }
            api.storage.update(&key, Some(rev), marked).await
        } else {
            api.storage.delete(&key, Some(rev)).await
        };
        match result {
            Ok(stored) => {
                if is_namespace(target) {
                    namespaces::finalize_in_background(api.namespace_finalizer(), name);
                }
                return Ok(stored);
            }
            Err(StorageError::Conflict { .. }) => continue,
            Err(e) => return Err(target.storage_error(name, e)),
        }
    }
    Err(ApiError::stale(&rt.group, &rt.plural, name))
}

fn check_preconditions(
    target: &Target,
    name: &str,
    current: &Object,
    options: &DeleteOptions,
) -> Result<(), ApiError> {
    let rt = &target.rt;
    if let Some(uid) = &options.preconditions.uid {
        if meta_str(current, "uid") != Some(uid.as_str()) {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(current, "uid").unwrap_or("")
                ),
            ));
        }
    }
    if let Some(rv) = &options.preconditions.resource_version {
        if meta_str(current, "resourceVersion") != Some(rv.as_str()) {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}", meta_str(current, "resourceVersion").unwrap_or("")),
            ));
        }
    }
    Ok(())
}

/// Deletes every selected object of the collection (in one namespace, or of
/// a cluster-scoped kind other than namespaces: see `api`); answers the list
/// of what was deleted or marked.
pub async fn delete_collection(
    api: &ApiState,
    target: &Target,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let options = body::decode_delete_options(bytes)?;
    let dry_run = target.query.dry_run() || options.dry_run.iter().any(|d| d == "All");
    let prefix = target.rt.namespace_prefix(target.namespace());
    let page = api
        .storage
        .list(
            &prefix,
            &ListOptions {
                filter: reads::selection(target)?,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| target.storage_error("", e))?;
    let mut deleted: Vec<Object> = Vec::new();
    for (_, object) in &page.items {
        let name = meta_str(object, "name").unwrap_or("").to_string();
        let per_object = Target {
            info: super::request_info::RequestInfo {
                namespace: meta_str(object, "namespace").map(str::to_string),
                name: Some(name.clone()),
                ..target.info.clone()
            },
            rt: target.rt.clone(),
            query: target.query.clone(),
            accept: target.accept.clone(),
        };
        match delete_one(api, &per_object, &name, &options, dry_run).await {
            Ok(v) => deleted.push(v),
            // Removed by someone else meanwhile: that is what we wanted.
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let revision = api
        .storage
        .current_revision()
        .await
        .map_err(|e| target.storage_error("", e))?;
    let items: Vec<&Object> = deleted.iter().collect();
    Ok(reads::list_response(target, revision, None, &items))
}
