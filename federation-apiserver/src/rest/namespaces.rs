//! Namespace lifecycle: the namespaces that always exist, writes into
//! missing or terminating namespaces, and emptying a deleted namespace.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::api::ApiState;
use super::object_meta::{finalizers, is_terminating, mark_deleting, meta_str, prepare_create};
use super::registry::{Registry, ResourceType};
use super::strategy::{strings_at, NAMESPACE_FINALIZER};
use crate::status::ApiError;
use crate::storage::{revision_of, ListOptions, Object, Storage, StorageError};

/// Where a namespace keeps the finalizers its emptying removes.
const SPEC_FINALIZERS: &str = ".spec.finalizers";

/// Namespaces created at start-up when missing.
pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

fn namespace_key(name: &str) -> String {
    format!("/core/namespaces/{name}")
}

/// Fails unless `namespace` exists and is not being deleted.
pub async fn check_open_for_create(api: &ApiState, namespace: &str) -> Result<(), ApiError> {
    let ns = api
        .storage
        .get(&namespace_key(namespace))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::not_found("", "namespaces", namespace))?;
    if is_terminating(&ns) {
        return Err(ApiError::forbidden(format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        ))
        .with_details("", "namespaces", namespace));
    }
    Ok(())
}

/// Creates the [`SYSTEM_NAMESPACES`] that do not exist yet.
pub async fn ensure_system_namespaces(
    storage: &dyn Storage,
    registry: &Registry,
) -> Result<(), StorageError> {
    let Some(rt) = registry.lookup("", "v1", "namespaces") else {
        return Ok(());
    };
    for name in SYSTEM_NAMESPACES {
        let key = namespace_key(name);
        if storage.get(&key).await?.is_some() {
            continue;
        }
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        prepare_create(&rt, &mut ns, None);
        match storage.create(&key, ns).await {
            Ok(_) | Err(StorageError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Empties terminating namespaces, then removes their `kubernetes`
/// finalizer (`spec.finalizers`), which removes them unless their own
/// `metadata.finalizers` still hold them: then the update that takes the
/// last of those away removes the namespace (see `writes::store_update`).
///
/// # Guarantees
/// At most one task works on a namespace at a time; a namespace is removed
/// only once no object of any namespaced resource remains in it and no
/// finalizer of either list is left. Objects with finalizers are marked and
/// waited for.
pub struct NamespaceFinalizer {
    storage: Arc<dyn Storage>,
    types: parking_lot::RwLock<Vec<Arc<ResourceType>>>,
    in_progress: Mutex<HashSet<String>>,
    gate: tokio::sync::RwLock<()>,
}

impl NamespaceFinalizer {
    pub fn new(storage: Arc<dyn Storage>, registry: &Registry) -> Self {
        Self {
            storage,
            types: parking_lot::RwLock::new(dedup(registry.namespaced())),
            in_progress: Mutex::new(HashSet::new()),
            gate: tokio::sync::RwLock::new(()),
        }
    }

    /// Replaces the namespaced types emptied with a namespace (after a CRD change).
    pub fn set_types(&self, types: Vec<Arc<ResourceType>>) {
        *self.types.write() = dedup(types);
    }

    /// Restarts finalization of every namespace left terminating (after a restart).
    pub async fn resume_all(self: &Arc<Self>) -> Result<(), StorageError> {
        let all = self
            .storage
            .list("/core/namespaces/", &ListOptions::default())
            .await?;
        for (_, ns) in all.items {
            if is_terminating(&ns) {
                if let Some(name) = meta_str(&ns, "name") {
                    finalize_in_background(self.clone(), name);
                }
            }
        }
        Ok(())
    }

    /// One pass: deletes or marks what the namespace holds; true when empty.
    async fn sweep(&self, namespace: &str) -> Result<bool, StorageError> {
        let mut empty = true;
        let types = self.types.read().clone();
        for rt in &types {
            let prefix = rt.namespace_prefix(Some(namespace));
            let page = self.storage.list(&prefix, &ListOptions::default()).await?;
            for (key, object) in page.items {
                empty = false;
                let rev = revision_of(&object);
                let result = if finalizers(&object).is_empty() {
                    self.storage.delete(&key, rev).await.map(|_| ())
                } else if !is_terminating(&object) {
                    let mut marked = object.value().clone();
                    mark_deleting(&mut marked);
                    self.storage.update(&key, rev, marked).await.map(|_| ())
                } else {
                    Ok(())
                };
                match result {
                    Ok(())
                    | Err(StorageError::NotFound(_))
                    | Err(StorageError::Conflict { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(empty)
    }

    /// Holds creates out while the last sweep and the removal of a
    /// namespace run: a create checks its namespace and stores its object
    /// under the read side, so it can never land in a namespace that is
    /// removed in between.
    pub async fn create_gate(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().await
    }

    /// The namespace as stored, if it is still the terminating one with `uid`.
    async fn still_ours(&self, namespace: &str, uid: &str) -> Result<Option<Object>, StorageError> {
        let current = self.storage.get(&namespace_key(namespace)).await?;
        Ok(current.filter(|ns| is_terminating(ns) && meta_str(ns, "uid") == Some(uid)))
    }

    async fn run(&self, namespace: &str) {
        let uid = match self.storage.get(&namespace_key(namespace)).await {
            Ok(Some(ns)) if is_terminating(&ns) => meta_str(&ns, "uid").unwrap_or("").to_string(),
            _ => return,
        };
        let mut delay = Duration::from_millis(50);
        loop {
            match self.finish_pass(namespace, &uid).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(namespace, error = %e, "emptying namespace"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// One pass; true when the task is done (namespace emptied and its
    /// `kubernetes` finalizer removed — which removes the namespace unless
    /// other finalizers hold it —, or no longer the one this task was
    /// started for, e.g. removed and recreated).
    async fn finish_pass(&self, namespace: &str, uid: &str) -> Result<bool, StorageError> {
        if self.still_ours(namespace, uid).await?.is_none() {
            return Ok(true);
        }
        if !self.sweep(namespace).await? {
            return Ok(false);
        }
        let _closed = self.gate.write().await;
        if !self.sweep(namespace).await? {
            return Ok(false);
        }
        let Some(ns) = self.still_ours(namespace, uid).await? else {
            return Ok(true);
        };
        let revision = revision_of(&ns);
        let key = namespace_key(namespace);
        // What Kubernetes' namespace controller does through /finalize: the
        // `kubernetes` entry of spec.finalizers goes; with no finalizer of
        // either list left, that removes the namespace.
        let mut spec_finalizers = strings_at(&ns, SPEC_FINALIZERS);
        spec_finalizers.retain(|f| f != NAMESPACE_FINALIZER);
        let result = if spec_finalizers.is_empty() && finalizers(&ns).is_empty() {
            self.storage.delete(&key, revision).await
        } else {
            let mut finalized = ns.value().clone();
            match finalized.get_mut("spec").and_then(Value::as_object_mut) {
                Some(spec) if spec_finalizers.is_empty() => {
                    spec.remove("finalizers");
                }
                Some(spec) => {
                    spec.insert("finalizers".into(), json!(spec_finalizers));
                }
                None => {}
            }
            if finalized == *ns.value() {
                return Ok(true);
            }
            self.storage.update(&key, revision, finalized).await
        };
        match result {
            Ok(_) | Err(StorageError::NotFound(_)) => Ok(true),
            Err(StorageError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Starts emptying `namespace` unless a task already does.
pub fn finalize_in_background(finalizer: Arc<NamespaceFinalizer>, namespace: &str) {
    if !finalizer.in_progress.lock().insert(namespace.to_string()) {
        return;
    }
    let namespace = namespace.to_string();
    tokio::spawn(async move {
        finalizer.run(&namespace).await;
        finalizer.in_progress.lock().remove(&namespace);
    });
}

/// One type per storage prefix (a CRD served at several versions stores its
/// objects once).
fn dedup(types: Vec<Arc<ResourceType>>) -> Vec<Arc<ResourceType>> {
    let mut seen = HashSet::new();
    types
        .into_iter()
        .filter(|t| seen.insert(t.key_prefix()))
        .collect()
}
