use super::*;
use crate::rest::apply::fieldset::path_string;
use serde_json::json;

fn op<'a>(manager: &'a str, lists: &'a Lists, now: &'a str) -> Op<'a> {
    Op {
        manager,
        api_version: "apps/v1",
        subresource: None,
        lists,
        now,
    }
}

fn owned(object: &Value, manager: &str) -> Vec<String> {
    decode(object)
        .iter()
        .filter(|e| e.manager == manager)
        .flat_map(|e| e.set.paths())
        .map(|p| path_string(&p))
        .collect()
}

/// Applies `config` to `live` the way the handler does (minus storage).
fn apply(live: &Value, config: &Value, manager: &str, force: bool) -> Result<Value, Vec<Conflict>> {
    let lists = Lists::for_kind("apps", "v1", "Deployment");
    let op = op(manager, &lists, "2026-01-01T00:00:00Z");
    let (mut new, entries) = plan_apply(&op, live, config);
    finish_apply(&op, live, &mut new, entries, force, None)?;
    Ok(new)
}

fn deploy(replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "labels": {"app": "web"}},
           "spec": {"replicas": replicas}})
}

#[test]
fn apply_owns_config_and_prunes_what_it_dropped() {
    let created = apply(&json!({}), &deploy(1), "a", false).unwrap();
    assert_eq!(
        owned(&created, "a"),
        vec![".metadata.labels.app", ".spec.replicas"]
    );
    let entry = &created["metadata"]["managedFields"][0];
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}})
    );

    let mut without_label = deploy(1);
    without_label["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    let next = apply(&created, &without_label, "a", false).unwrap();
    assert!(next["metadata"].get("labels").is_none(), "{next}");
    assert_eq!(owned(&next, "a"), vec![".spec.replicas"]);
}

#[test]
fn conflicts_and_force() {
    let created = apply(&json!({}), &deploy(1), "a", false).unwrap();
    // Same value: shared ownership, no conflict.
    let shared = apply(&created, &deploy(1), "b", false).unwrap();
    assert_eq!(
        owned(&shared, "b"),
        vec![".metadata.labels.app", ".spec.replicas"]
    );
    assert_eq!(
        owned(&shared, "a"),
        vec![".metadata.labels.app", ".spec.replicas"]
    );
    // Another value: conflict with both co-owners... here only with "a".
    let conflicts = apply(&created, &deploy(3), "b", false).unwrap_err();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].manager, "\"a\"");
    assert_eq!(path_string(&conflicts[0].path), ".spec.replicas");
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
    );
    let forced = apply(&created, &deploy(3), "b", true).unwrap();
    assert_eq!(forced["spec"]["replicas"], 3);
    assert_eq!(owned(&forced, "a"), vec![".metadata.labels.app"]);
    assert_eq!(
        owned(&forced, "b"),
        vec![".metadata.labels.app", ".spec.replicas"]
    );
    // "a" no longer owns replicas: dropping it from its config keeps it.
    let mut no_replicas = deploy(1);
    no_replicas["spec"] = json!({});
    let after = apply(&forced, &no_replicas, "a", false).unwrap();
    assert_eq!(after["spec"]["replicas"], 3);
}

#[test]
fn updates_take_ownership_and_conflict_with_appliers() {
    let lists = Lists::for_kind("apps", "v1", "Deployment");
    let created = apply(&json!({}), &deploy(1), "kubectl", false).unwrap();
    let mut scaled = created.clone();
    scaled["spec"]["replicas"] = json!(5);
    record_update(
        &op("kubectl-scale", &lists, "2026-01-02T00:00:00Z"),
        Some(&created),
        &mut scaled,
    );
    assert_eq!(owned(&scaled, "kubectl-scale"), vec![".spec.replicas"]);
    assert_eq!(owned(&scaled, "kubectl"), vec![".metadata.labels.app"]);
    let entries = scaled["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries[0]["operation"], "Apply", "Apply entries sort first");
    assert_eq!(entries[1]["operation"], "Update");
    let conflicts = apply(&scaled, &deploy(2), "kubectl", false).unwrap_err();
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1: .spec.replicas"
    );
    // A no-op update changes nothing, not even times.
    let mut same = scaled.clone();
    record_update(
        &op("other", &lists, "2030-01-01T00:00:00Z"),
        Some(&scaled),
        &mut same,
    );
    assert_eq!(same, scaled);
    // A no-op apply keeps the applier's time.
    let again = apply(
        &scaled,
        &json!({"metadata": {"labels": {"app": "web"}}}),
        "kubectl",
        false,
    )
    .unwrap();
    let lists2 = Lists::for_kind("apps", "v1", "Deployment");
    let later = op("kubectl", &lists2, "2031-01-01T00:00:00Z");
    let (mut new, entries) = plan_apply(
        &later,
        &again,
        &json!({"metadata": {"labels": {"app": "web"}}}),
    );
    finish_apply(&later, &again, &mut new, entries, false, None).unwrap();
    assert_eq!(new, again);
}

#[test]
fn create_records_the_creator_and_clients_may_reset() {
    let lists = Lists::schemaless();
    let mut obj = json!({"metadata": {"name": "x", "uid": "u"}, "data": {"k": "v"}});
    record_update(&op("kubectl-create", &lists, "t"), None, &mut obj);
    assert_eq!(owned(&obj, "kubectl-create"), vec![".data.k"]);
    let mut reset = obj.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    record_update(&op("x", &lists, "t"), Some(&obj), &mut reset);
    assert!(reset["metadata"].get("managedFields").is_none());
}

#[test]
fn multiple_conflicts_message() {
    let conflicts = vec![
        Conflict {
            manager: "\"b\"".into(),
            path: vec!["f:spec".into(), "f:x".into()],
        },
        Conflict {
            manager: "\"a\"".into(),
            path: vec!["f:spec".into(), "f:y".into()],
        },
    ];
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.y\nconflicts with \"b\":\n- .spec.x"
    );
}

#[test]
fn update_entries_are_capped() {
    let lists = Lists::schemaless();
    let mut obj = json!({"metadata": {"name": "x"}, "data": {}});
    for i in 0..14 {
        let live = obj.clone();
        obj["data"][format!("k{i}")] = json!("v");
        let manager = format!("m{i}");
        let now = format!("2026-01-01T00:00:{i:02}Z");
        record_update(&op(&manager, &lists, &now), Some(&live), &mut obj);
    }
    let entries = decode(&obj);
    assert_eq!(entries.len(), MAX_UPDATE_ENTRIES);
    let ancient: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.manager == ANCIENT_CHANGES)
        .collect();
    assert_eq!(ancient.len(), 1);
    assert_eq!(ancient[0].set.paths().len(), 5, "m0..m4 merged");
    assert_eq!(ancient[0].time.as_deref(), Some("2026-01-01T00:00:04Z"));
    assert_eq!(owned(&obj, "m13"), vec![".data.k13"]);
}
