//! The CRD controller: a level-triggered task that keeps the served types
//! equal to "built-ins + every established CRD".
//!
//! On start and on every change under [`CRD_PREFIX`] (plus a periodic
//! resync) it lists all CRDs and, for each:
//! - a CRD being deleted is no longer served; once its objects are gone (all
//!   namespaces) its [`CLEANUP_FINALIZER`] is removed, which removes it;
//! - otherwise its names are checked against what is already served (older
//!   CRDs first): `NamesAccepted` and `Established` are set in its status,
//!   with the cleanup finalizer, and its served versions are added.
//!
//! Then the registry is replaced as a whole. Every step depends only on
//! what is stored, so passes are idempotent and a restart simply rebuilds.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use super::{resource_types, CLEANUP_FINALIZER, CRD_PREFIX};
use crate::rest::api::ApiState;
use crate::rest::object_meta::{finalizers, is_terminating, now_rfc3339};
use crate::rest::registry::{Registry, ResourceType};
use crate::storage::{revision_of, ListOptions, StorageError};

/// How often a full pass runs even without events (retries failed cleanups).
const RESYNC: Duration = Duration::from_secs(10);

/// Starts the controller; it ends when the server shuts down.
pub fn spawn(api: Arc<ApiState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(api))
}

async fn run(api: Arc<ApiState>) {
    let mut shutdown = api.shutting_down.clone();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut events = match api.storage.list_and_watch(CRD_PREFIX).await {
            Ok((_, events)) => events,
            Err(e) => {
                tracing::warn!(error = %e, "CRD controller: cannot watch CRDs");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        pass(&api).await;
        let mut resync = tokio::time::interval(RESYNC);
        resync.tick().await;
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(_)) => pass(&api).await,
                    _ => break,
                },
                _ = resync.tick() => pass(&api).await,
                _ = shutdown.changed() => return,
            }
        }
    }
}

async fn pass(api: &ApiState) {
    if let Err(e) = reconcile(api).await {
        tracing::warn!(error = %e, "CRD controller pass failed; retrying on the next event");
    }
}

/// One full pass (see the module documentation).
pub async fn reconcile(api: &ApiState) -> Result<(), StorageError> {
    let list = api
        .storage
        .list(CRD_PREFIX, &ListOptions::default())
        .await?;
    let mut crds = list.items;
    // Older CRDs claim their names first, as in Kubernetes.
    crds.sort_by(|(ka, a), (kb, b)| {
        let created = |o: &Value| {
            o["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        created(a).cmp(&created(b)).then(ka.cmp(kb))
    });
    let mut registry = api.base_registry().clone();
    for (key, crd) in crds {
        if is_terminating(&crd) {
            if let Err(e) = clean_up(api, &key, &crd).await {
                tracing::warn!(%key, error = %e, "CRD cleanup failed");
            }
            continue;
        }
        let types = resource_types(&crd);
        let conflict = names_conflict(&registry, &types);
        let desired = with_status(&crd, conflict.as_deref());
        // Served only once its status and finalizer are stored (a lost
        // race is retried by the event the winner caused).
        let recorded = desired == *crd.value()
            || match api.storage.update(&key, revision_of(&crd), desired).await {
                Ok(_) => true,
                Err(StorageError::Conflict { .. }) | Err(StorageError::NotFound(_)) => false,
                Err(e) => return Err(e),
            };
        if recorded && conflict.is_none() {
            for t in types {
                registry.insert(t);
            }
        }
    }
    api.set_registry(registry);
    Ok(())
}

/// Why `types` cannot be served next to `registry`, if they cannot.
pub fn names_conflict(registry: &Registry, types: &[ResourceType]) -> Option<String> {
    let first = types.first()?;
    for t in registry.all().iter().filter(|t| t.group == first.group) {
        if t.plural == first.plural {
            return Some(format!("\"{}\" is already in use", first.plural));
        }
        if t.kind == first.kind {
            return Some(format!("\"{}\" is already in use", first.kind));
        }
        if let Some(short) = first.short_names.iter().find(|s| t.short_names.contains(s)) {
            return Some(format!("\"{short}\" is already in use"));
        }
    }
    None
}

fn condition(type_: &str, ok: bool, reason: &str, message: &str, old: &Value) -> Value {
    let status = if ok { "True" } else { "False" };
    let previous = old["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_));
    let since = match previous {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(now_rfc3339()),
    };
    json!({"type": type_, "status": status, "lastTransitionTime": since,
        "reason": reason, "message": message})
}

/// `crd` with the cleanup finalizer and the status this controller owns.
fn with_status(crd: &Value, conflict: Option<&str>) -> Value {
    let mut out = crd.clone();
    if !finalizers(crd).iter().any(|f| f == CLEANUP_FINALIZER) {
        let meta = &mut out["metadata"];
        match meta["finalizers"].as_array_mut() {
            Some(list) => list.push(json!(CLEANUP_FINALIZER)),
            None => meta["finalizers"] = json!([CLEANUP_FINALIZER]),
        }
    }
    let accepted = conflict.is_none();
    let names = condition(
        "NamesAccepted",
        accepted,
        if accepted {
            "NoConflicts"
        } else {
            "NameConflict"
        },
        conflict.unwrap_or("no conflicts found"),
        crd,
    );
    let established = condition(
        "Established",
        accepted,
        if accepted {
            "InitialNamesAccepted"
        } else {
            "NotAccepted"
        },
        if accepted {
            "the initial names have been accepted"
        } else {
            "not all names are accepted"
        },
        crd,
    );
    let mut status = if out["status"].is_object() {
        out["status"].clone()
    } else {
        json!({})
    };
    let mut conditions: Vec<Value> = status["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["type"] != "NamesAccepted" && c["type"] != "Established")
        .collect();
    conditions.push(names);
    conditions.push(established);
    status["conditions"] = Value::Array(conditions);
    if accepted {
        let mut names = crd["spec"]["names"].clone();
        if names["singular"].as_str().unwrap_or("").is_empty() {
            names["singular"] = json!(crd["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or("")
                .to_ascii_lowercase());
        }
        if names["listKind"].as_str().unwrap_or("").is_empty() {
            names["listKind"] = json!(format!(
                "{}List",
                crd["spec"]["names"]["kind"].as_str().unwrap_or("")
            ));
        }
        status["acceptedNames"] = names;
    } else if status.get("acceptedNames").is_none() {
        status["acceptedNames"] = json!({"kind": "", "plural": ""});
    }
    let mut stored: Vec<Value> = status["storedVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for v in crd["spec"]["versions"].as_array().into_iter().flatten() {
        if v["storage"] == true && !stored.contains(&v["name"]) {
            stored.push(v["name"].clone());
        }
    }
    status["storedVersions"] = Value::Array(stored);
    out["status"] = status;
    out
}

/// Whether the CRD was serving its names (so its key range is its own).
fn names_were_accepted(crd: &Value) -> bool {
    crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "NamesAccepted" && c["status"] == "True")
}

/// A deleted CRD: removes its objects, then its cleanup finalizer.
async fn clean_up(api: &ApiState, key: &str, crd: &Value) -> Result<(), StorageError> {
    if !finalizers(crd).iter().any(|f| f == CLEANUP_FINALIZER) {
        return Ok(());
    }
    if names_were_accepted(crd) {
        // `status` is client-writable: whatever it claims, never touch the
        // key range of a built-in resource.
        let builtin = crate::rest::registry::Registry::builtin();
        if let Some(rt) = resource_types(crd).into_iter().next().filter(|rt| {
            builtin
                .all()
                .iter()
                .all(|b| b.key_prefix() != rt.key_prefix())
        }) {
            let objects = api
                .storage
                .list(&rt.key_prefix(), &ListOptions::default())
                .await?;
            for (object_key, _) in objects.items {
                match api.storage.delete(&object_key, None).await {
                    Ok(_) | Err(StorageError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            // A create that was already under way may have landed since the
            // list: keep the finalizer until a list comes back empty (the
            // next pass retries).
            let left = api
                .storage
                .list(
                    &rt.key_prefix(),
                    &ListOptions {
                        limit: 1,
                        ..Default::default()
                    },
                )
                .await?;
            if !left.items.is_empty() {
                return Ok(());
            }
        }
    }
    let rest: Vec<String> = finalizers(crd)
        .into_iter()
        .filter(|f| f != CLEANUP_FINALIZER)
        .collect();
    let result = if rest.is_empty() {
        api.storage.delete(key, revision_of(crd)).await.map(|_| ())
    } else {
        let mut out = crd.clone();
        out["metadata"]["finalizers"] = json!(rest);
        api.storage
            .update(key, revision_of(crd), out)
            .await
            .map(|_| ())
    };
    match result {
        Ok(()) | Err(StorageError::Conflict { .. }) | Err(StorageError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::registry::Registry;
    use crate::storage::memory::MemoryStorage;
    use crate::storage::Storage;

    fn crd() -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.com", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"group": "example.com", "scope": "Cluster",
                "names": {"plural": "gadgets", "kind": "Gadget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
    }

    #[tokio::test]
    async fn passes_establish_serve_and_clean_up() {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let api = ApiState::new(storage.clone(), Registry::builtin(), "test".into());
        let key = format!("{CRD_PREFIX}gadgets.example.com");
        storage.create(&key, crd()).await.unwrap();
        reconcile(&api).await.unwrap();
        let gadgets = api
            .registry()
            .lookup("example.com", "v1", "gadgets")
            .unwrap();
        let stored = storage.get(&key).await.unwrap().unwrap();
        assert!(names_were_accepted(&stored));
        assert_eq!(finalizers(&stored), vec![CLEANUP_FINALIZER]);
        assert_eq!(stored["status"]["storedVersions"], json!(["v1"]));

        // A second pass changes nothing (idempotent).
        let rev = revision_of(&stored);
        reconcile(&api).await.unwrap();
        assert_eq!(revision_of(&storage.get(&key).await.unwrap().unwrap()), rev);

        // Deletion: unserved, objects gone, then the CRD itself.
        storage
            .create(
                &gadgets.key(None, "g1"),
                json!({"apiVersion": "example.com/v1",
                "kind": "Gadget", "metadata": {"name": "g1"}}),
            )
            .await
            .unwrap();
        let mut marked = stored.value().clone();
        marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        storage.update(&key, None, marked).await.unwrap();
        reconcile(&api).await.unwrap();
        assert!(api
            .registry()
            .lookup("example.com", "v1", "gadgets")
            .is_none());
        assert!(storage
            .get(&gadgets.key(None, "g1"))
            .await
            .unwrap()
            .is_none());
        assert!(storage.get(&key).await.unwrap().is_none());
    }
}
