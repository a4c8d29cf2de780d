//! The server-owned parts of an object: what create sets, what an update may
//! not change, and when `metadata.generation` moves.

use serde_json::{Map, Value};

use super::registry::ResourceType;
use super::strategy::Generation;
use super::type_behaviour::{get_path, set_path};

/// RFC 3339 UTC with second precision, as Kubernetes writes timestamps.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `metadata` as a mutable map (created if missing or not an object).
pub fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    let map = object.as_object_mut().expect("objects are JSON objects");
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("metadata is an object")
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

/// `metadata.finalizers` (empty when absent).
pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_terminating(object: &Value) -> bool {
    meta_str(object, "deletionTimestamp").is_some()
}

/// Marks an object for deletion (`markAsDeleting` in kube-apiserver):
/// `deletionTimestamp` now unless already set, a zero grace period, and —
/// the first time, for kinds that track it — a generation bump, since the
/// object's controllers must now behave differently.
pub fn mark_deleting(object: &mut Value) {
    let meta = meta_mut(object);
    if !meta.contains_key("deletionTimestamp") {
        if let Some(generation) = meta.get("generation").and_then(Value::as_i64) {
            if generation > 0 {
                meta.insert("generation".into(), Value::from(generation + 1));
            }
        }
        meta.insert("deletionTimestamp".into(), Value::String(now_rfc3339()));
    }
    meta.insert("deletionGracePeriodSeconds".into(), Value::from(0));
}

/// The strings of the finalizer list at a dotted path of `object` (the
/// kind's [`Strategy::spec_finalizers`](super::strategy::Strategy)); empty
/// for kinds without one.
pub fn spec_finalizers(rt: &ResourceType, object: &Value) -> Vec<String> {
    rt.strategy
        .spec_finalizers
        .map(|path| super::strategy::strings_at(object, path))
        .unwrap_or_default()
}

/// Whether an object being deleted has no finalizer of any list left, so
/// that it is to be removed.
pub fn finalized(rt: &ResourceType, object: &Value) -> bool {
    is_terminating(object)
        && finalizers(object).is_empty()
        && spec_finalizers(rt, object).is_empty()
}

/// Fills the server-owned fields of a new object.
pub fn prepare_create(rt: &ResourceType, object: &mut Value, namespace: Option<&str>) {
    if let Some(normalize) = rt.strategy.normalize {
        normalize(object);
    }
    let meta = meta_mut(object);
    meta.insert(
        "uid".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
    if rt.strategy.generation != Generation::Untracked {
        meta.insert("generation".into(), Value::from(1));
    }
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    match namespace {
        Some(ns) if rt.namespaced => {
            meta.insert("namespace".into(), Value::String(ns.to_string()));
        }
        _ => {
            meta.remove("namespace");
        }
    }
    if meta.get("generateName").is_some() && meta.get("name").is_some() {
        // Kubernetes keeps generateName on the object; nothing to do.
    }
    let map = object.as_object_mut().expect("object");
    if rt.has_status {
        map.remove("status");
    }
    if let Some(on_create) = rt.strategy.on_create {
        on_create(object);
    }
}

/// Builds the object to store for an update of `old` to `new`.
///
/// - The kind's normalisation applies (Secret `stringData`).
/// - Server-owned metadata (uid, creationTimestamp, deletionTimestamp,
///   generation) is kept from `old`, and so are the kind's
///   `kept_on_update` paths (a namespace's `spec.finalizers`).
/// - For the main resource of a kind with a `/status` subresource, status is
///   kept from `old`; for the `/status` subresource, only status is taken
///   from `new` (plus nothing else).
/// - `generation` moves as the kind's [`Generation`] says.
pub fn prepare_update(rt: &ResourceType, old: &Value, mut new: Value, status_only: bool) -> Value {
    if status_only {
        let mut merged = old.clone();
        let status = new
            .as_object_mut()
            .and_then(|m| m.remove("status"))
            .unwrap_or(Value::Null);
        let map = merged.as_object_mut().expect("object");
        if status.is_null() {
            map.remove("status");
        } else {
            map.insert("status".into(), status);
        }
        return merged;
    }
    if let Some(normalize) = rt.strategy.normalize {
        normalize(&mut new);
    }
    if rt.has_status {
        let map = new.as_object_mut().expect("object");
        match old.get("status") {
            Some(status) => {
                map.insert("status".into(), status.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    for path in rt.strategy.kept_on_update {
        keep_path(old, &mut new, path);
    }
    let old_meta = old.get("metadata").cloned().unwrap_or(Value::Null);
    let changed = match rt.strategy.generation {
        Generation::Untracked => false,
        Generation::Spec => {
            without(old, &["metadata", "status"]) != without(&new, &["metadata", "status"])
        }
        Generation::AllButMetadata => without(old, &["metadata"]) != without(&new, &["metadata"]),
    };
    let meta = meta_mut(&mut new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
        "name",
    ] {
        match old_meta.get(field) {
            Some(v) => {
                meta.insert(field.into(), v.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
    // Requests cannot set generation: it is the stored one, bumped on change.
    let generation = old_meta.get("generation").and_then(Value::as_i64);
    match (generation, changed) {
        (g, true) => {
            meta.insert("generation".into(), Value::from(g.unwrap_or(0) + 1));
        }
        (Some(g), false) => {
            meta.insert("generation".into(), Value::from(g));
        }
        (None, false) => {
            meta.remove("generation");
        }
    }
    new
}

/// Sets `path` of `new` to its value in `old` (removed if `old` has none).
fn keep_path(old: &Value, new: &mut Value, path: &str) {
    match get_path(old, path) {
        Some(value) => set_path(new, path, value.clone()),
        None => {
            let pointer = super::type_behaviour::pointer(path);
            let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", ""));
            if let Some(map) = new.pointer_mut(parent).and_then(Value::as_object_mut) {
                map.remove(&last.replace("~1", "/").replace("~0", "~"));
            }
        }
    }
}

fn without(object: &Value, fields: &[&str]) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        for field in fields {
            map.remove(*field);
        }
    }
    copy
}

/// Whether two stored states differ in anything but `resourceVersion`
/// (an update that changes nothing is not written, as in Kubernetes).
pub fn differs(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut c = v.clone();
        if let Some(meta) = c.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
        }
        c
    };
    strip(old) != strip(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::registry::Registry;
    use serde_json::json;

    #[test]
    fn generation_moves_on_spec_change_only() {
        let r = Registry::builtin();
        let d = r.lookup("apps", "v1", "deployments").unwrap();
        let mut created = json!({"metadata":{"name":"web","labels":{"a":"1"}},"spec":{"replicas":1},"status":{"replicas":9}});
        prepare_create(&d, &mut created, Some("ns"));
        assert_eq!(created["metadata"]["generation"], 1);
        assert!(
            created.get("status").is_none(),
            "status is not set on create"
        );

        let mut relabel = created.clone();
        relabel["metadata"]["labels"]["a"] = json!("2");
        let updated = prepare_update(&d, &created, relabel, false);
        assert_eq!(updated["metadata"]["generation"], 1);

        let mut scale = updated.clone();
        scale["spec"]["replicas"] = json!(3);
        scale["status"] = json!({"replicas": 3});
        scale["metadata"]["uid"] = json!("forged");
        let updated = prepare_update(&d, &created, scale, false);
        assert_eq!(updated["metadata"]["generation"], 2);
        assert!(
            updated.get("status").is_none(),
            "status only through /status"
        );
        assert_eq!(updated["metadata"]["uid"], created["metadata"]["uid"]);

        let mut status = updated.clone();
        status["status"] = json!({"replicas": 3});
        status["spec"]["replicas"] = json!(100);
        let s = prepare_update(&d, &updated, status, true);
        assert_eq!(s["status"]["replicas"], 3);
        assert_eq!(s["spec"]["replicas"], 3, "/status changes only status");
    }

    #[test]
    fn untracked_kinds_have_no_generation_and_updates_cannot_set_one() {
        let r = Registry::builtin();
        let cms = r.lookup("", "v1", "configmaps").unwrap();
        let mut cm = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
        prepare_create(&cms, &mut cm, Some("ns"));
        assert!(cm["metadata"].get("generation").is_none(), "{cm}");
        let mut changed = cm.clone();
        changed["data"]["a"] = json!("2");
        changed["metadata"]["generation"] = json!(4);
        let updated = prepare_update(&cms, &cm, changed, false);
        assert!(updated["metadata"].get("generation").is_none(), "{updated}");
    }

    #[test]
    fn namespaces_keep_their_spec_finalizers() {
        let r = Registry::builtin();
        let ns = r.lookup("", "v1", "namespaces").unwrap();
        let mut created = json!({"metadata": {"name": "a"}, "spec": {}});
        prepare_create(&ns, &mut created, None);
        assert_eq!(created["spec"]["finalizers"], json!(["kubernetes"]));
        let mut cleared = created.clone();
        cleared["spec"] = json!({});
        let updated = prepare_update(&ns, &created, cleared, false);
        assert_eq!(updated["spec"]["finalizers"], json!(["kubernetes"]));
        // Once removed by the namespace finalizer, updates cannot add it back.
        let mut emptied = created.clone();
        emptied["spec"] = json!({});
        let mut added = emptied.clone();
        added["spec"]["finalizers"] = json!(["kubernetes"]);
        let updated = prepare_update(&ns, &emptied, added, false);
        assert_eq!(updated["spec"], json!({}));
        assert!(!finalized(&ns, &updated), "not being deleted");
        mark_deleting(&mut emptied);
        assert!(finalized(&ns, &emptied));
        assert!(!finalized(&ns, &{
            let mut held = created.clone();
            mark_deleting(&mut held);
            held
        }));
    }

    #[test]
    fn marking_for_deletion_bumps_generation_once() {
        let mut o = json!({"metadata": {"name": "d", "generation": 2}});
        mark_deleting(&mut o);
        let first = o["metadata"]["deletionTimestamp"].clone();
        assert!(first.is_string());
        assert_eq!(o["metadata"]["generation"], 3);
        assert_eq!(o["metadata"]["deletionGracePeriodSeconds"], 0);
        mark_deleting(&mut o);
        assert_eq!(o["metadata"]["generation"], 3);
        assert_eq!(o["metadata"]["deletionTimestamp"], first);
        let mut untracked = json!({"metadata": {"name": "c"}});
        mark_deleting(&mut untracked);
        assert!(untracked["metadata"].get("generation").is_none());
    }
}
