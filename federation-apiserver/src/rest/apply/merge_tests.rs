use super::*;
use crate::rest::apply::fieldset::path_string;
use serde_json::json;

fn deploy() -> Lists {
    Lists::for_kind("apps", "v1", "Deployment")
}

fn paths(set: &FieldSet) -> Vec<String> {
    set.paths().iter().map(|p| path_string(p)).collect()
}

#[test]
fn field_set_of_a_config() {
    let config = json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "strategy": {},
            "template": {"spec": {"containers": [
                {"name": "a", "image": "a:1", "args": ["x"], "ports": [{"containerPort": 80}]}
            ]}}
        }
    });
    let set = to_set(&config, &deploy());
    assert_eq!(
        paths(&set),
        vec![
            ".metadata.labels.app",
            ".spec.replicas",
            ".spec.strategy",
            ".spec.template.spec.containers[name=\"a\"]",
            ".spec.template.spec.containers[name=\"a\"].args",
            ".spec.template.spec.containers[name=\"a\"].image",
            ".spec.template.spec.containers[name=\"a\"].name",
            ".spec.template.spec.containers[name=\"a\"].ports[containerPort=80,protocol=\"TCP\"]",
            ".spec.template.spec.containers[name=\"a\"].ports[containerPort=80,protocol=\"TCP\"].containerPort",
        ]
    );
    let fin = to_set(
        &json!({"metadata": {"finalizers": ["a", "b"]}}),
        &Lists::schemaless(),
    );
    assert_eq!(
        paths(&fin),
        vec![
            ".metadata.finalizers[=\"a\"]",
            ".metadata.finalizers[=\"b\"]"
        ]
    );
    // Lists of custom kinds are atomic; so are lists with duplicate keys.
    let crd = to_set(
        &json!({"spec": {"items": [{"name": "a"}]}}),
        &Lists::schemaless(),
    );
    assert_eq!(paths(&crd), vec![".spec.items"]);
    let dup =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}});
    assert_eq!(
        paths(&to_set(&dup, &deploy())),
        vec![".spec.template.spec.containers"]
    );
}

#[test]
fn merge_keeps_live_and_merges_lists_by_key() {
    let live = json!({
        "metadata": {"labels": {"app": "web", "team": "x"}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "sidecar", "image": "s:1"},
            {"name": "a", "image": "a:1", "resources": {"limits": {"cpu": "1"}}}
        ]}}}
    });
    let config = json!({
        "metadata": {"labels": {"app": "api", "team": null}},
        "spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:2"},
            {"name": "b", "image": "b:1"}
        ]}}}
    });
    let merged = merge(&live, &config, &deploy());
    assert_eq!(merged["metadata"]["labels"], json!({"app": "api"}));
    assert_eq!(merged["spec"]["replicas"], 1);
    assert_eq!(
        merged["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "sidecar", "image": "s:1"},
            {"name": "a", "image": "a:2", "resources": {"limits": {"cpu": "1"}}},
            {"name": "b", "image": "b:1"}
        ])
    );
    // Atomic lists are replaced; sets are unions.
    let l = Lists::schemaless();
    let merged = merge(
        &json!({"metadata": {"finalizers": ["x"]}, "spec": {"l": [1, 2]}}),
        &json!({"metadata": {"finalizers": ["y", "x"]}, "spec": {"l": [3]}}),
        &l,
    );
    assert_eq!(
        merged,
        json!({"metadata": {"finalizers": ["y", "x"]}, "spec": {"l": [3]}})
    );
}

#[test]
fn compare_reports_added_modified_removed() {
    let old = json!({"spec": {"replicas": 1, "paused": true, "template": {"spec": {"containers": [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}});
    let new = json!({"spec": {"replicas": 2, "minReadySeconds": 5, "template": {"spec": {"containers": [
        {"name": "a", "image": "a:1"}, {"name": "c", "image": "c:1"}]}}}});
    let c = compare(&old, &new, &deploy());
    assert_eq!(paths(&c.modified), vec![".spec.replicas"]);
    assert_eq!(
        paths(&c.added),
        vec![
            ".spec.minReadySeconds",
            ".spec.template.spec.containers[name=\"c\"]",
            ".spec.template.spec.containers[name=\"c\"].image",
            ".spec.template.spec.containers[name=\"c\"].name",
        ]
    );
    assert_eq!(
        paths(&c.removed),
        vec![".spec.paused", ".spec.template.spec.containers[name=\"b\"]"]
    );
    assert_eq!(compare(&old, &old, &deploy()), Comparison::default());
}

#[test]
fn remove_paths_drops_subtrees_and_emptied_parents() {
    let mut v = json!({
        "metadata": {"labels": {"app": "web"}, "annotations": {"a": "1", "b": "2"}},
        "spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b", "image": "b:1"}]}}}
    });
    let set = FieldSet::from_fields_v1(&json!({
        "f:metadata": {"f:labels": {"f:app": {}}, "f:annotations": {"f:a": {}}},
        "f:spec": {"f:template": {"f:spec": {"f:containers": {
            "k:{\"name\":\"a\"}": {}, "k:{\"name\":\"b\"}": {"f:image": {}}
        }}}}
    }))
    .unwrap();
    remove_paths(&mut v, &set, &deploy());
    assert_eq!(
        v,
        json!({
            "metadata": {"annotations": {"b": "2"}},
            "spec": {"template": {"spec": {"containers": [{"name": "b"}]}}}
        })
    );
}
