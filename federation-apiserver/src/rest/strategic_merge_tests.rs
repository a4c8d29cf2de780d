//! Unit tests of [`super`]: every directive, every merge key family, errors.

use serde_json::{json, Value};

use super::{apply, SmpError};
use crate::rest::patch_meta::{for_kind, Schema};
use crate::status::ApiError;

fn deployment() -> &'static Schema {
    for_kind("apps", "v1", "Deployment").unwrap()
}

fn smp(kind: (&str, &str, &str), original: Value, patch: Value) -> Value {
    let schema = for_kind(kind.0, kind.1, kind.2).unwrap();
    apply(&original, &patch, Some(schema)).unwrap_or_else(|e| panic!("{e}"))
}

fn deploy(original: Value, patch: Value) -> Value {
    smp(("apps", "v1", "Deployment"), original, patch)
}

fn deploy_err(original: Value, patch: Value) -> SmpError {
    apply(&original, &patch, Some(deployment())).expect_err("expected an error")
}

/// A Deployment whose pod spec is `pod_spec`.
fn with_pod(pod_spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}}})
}

fn pod_patch(pod_spec: Value) -> Value {
    json!({"spec": {"template": {"spec": pod_spec}}})
}

fn pod(result: &Value) -> &Value {
    &result["spec"]["template"]["spec"]
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| match &v[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn kubectl_wire_example() {
    let live = with_pod(json!({"containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "FOO", "value": "1"}, {"name": "BAR", "value": "2"}]},
        {"name": "b", "image": "b:1"}
    ]}));
    let patch: Value = serde_json::from_str(
        r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"$setElementOrder/env":[{"name":"BAR"}],"env":[{"name":"BAR","value":"3"},{"$patch":"delete","name":"FOO"}],"image":"a:2","name":"a"},{"$patch":"delete","name":"b"}]}}}}"#,
    )
    .unwrap();
    let out = deploy(live.clone(), patch);
    assert_eq!(
        pod(&out)["containers"],
        json!([{"name": "a", "image": "a:2", "env": [{"name": "BAR", "value": "3"}]}])
    );
    // Everything else is untouched.
    assert_eq!(out["metadata"], live["metadata"]);
    assert_eq!(out["spec"]["replicas"], 1);
    assert_eq!(
        out["spec"]["template"]["metadata"],
        json!({"labels": {"app": "web"}})
    );
}

#[test]
fn maps_merge_and_null_deletes() {
    let live = json!({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}});
    let out = smp(
        ("", "v1", "ConfigMap"),
        live,
        json!({"metadata": {"labels": {"a": null, "c": "3", "missing": null}}, "data": {"y": "9"},
            "binaryData": {"k": "dg==", "gone": null}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
    assert_eq!(out["data"], json!({"x": "1", "y": "9"}));
    assert_eq!(
        out["binaryData"],
        json!({"k": "dg=="}),
        "nulls in new maps are dropped"
    );
}

#[test]
fn merge_by_name_updates_and_adds_like_kubernetes() {
    let live = with_pod(json!({"containers": [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}, {"name": "c", "image": "c:1"}
    ]}));
    // Updating b keeps the live order.
    let out = deploy(
        live.clone(),
        pod_patch(json!({"containers": [{"name": "b", "image": "b:2"}]})),
    );
    assert_eq!(names(&pod(&out)["containers"], "name"), ["a", "b", "c"]);
    assert_eq!(
        pod(&out)["containers"][1],
        json!({"name": "b", "image": "b:2"})
    );
    // A new element goes before the live elements after the last patched one
    // (Kubernetes' order without $setElementOrder).
    let out = deploy(
        live.clone(),
        pod_patch(
            json!({"containers": [{"name": "b", "image": "b:2"}, {"name": "d", "image": "d:1"}]}),
        ),
    );
    assert_eq!(
        names(&pod(&out)["containers"], "name"),
        ["a", "b", "d", "c"]
    );
    let out = deploy(
        live,
        pod_patch(json!({"containers": [{"name": "z", "image": "z"}]})),
    );
    assert_eq!(
        names(&pod(&out)["containers"], "name"),
        ["z", "a", "b", "c"]
    );
}

#[test]
fn set_element_order_orders_and_keeps_server_only_items() {
    let live = with_pod(json!({"containers": [
        {"name": "a", "image": "a"}, {"name": "b", "image": "b"}, {"name": "c", "image": "c"}
    ]}));
    // Reorder only: no patch list at all.
    let out = deploy(
        live.clone(),
        pod_patch(
            json!({"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}),
        ),
    );
    assert_eq!(names(&pod(&out)["containers"], "name"), ["c", "a", "b"]);
    // Add at the end, as kubectl apply does.
    let out = deploy(
        live.clone(),
        pod_patch(json!({
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}],
            "containers": [{"name": "d", "image": "d"}]})),
    );
    assert_eq!(
        names(&pod(&out)["containers"], "name"),
        ["a", "b", "c", "d"]
    );
    // Items absent from the order list (added by someone else) are kept,
    // placed by the live order (b is live before c): Kubernetes' interleave.
    let out = deploy(
        live,
        pod_patch(
            json!({"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
            "containers": [{"name": "a", "image": "a2"}]}),
        ),
    );
    assert_eq!(names(&pod(&out)["containers"], "name"), ["b", "c", "a"]);
    assert_eq!(pod(&out)["containers"][2]["image"], "a2");
}

#[test]
fn set_element_order_on_absent_list_and_no_directive_leaks() {
    let live = with_pod(json!({"containers": [{"name": "a", "image": "a"}]}));
    let out = deploy(
        live,
        pod_patch(json!({"$setElementOrder/initContainers": [{"name": "i"}],
            "initContainers": [{"name": "i", "image": "i",
                "$setElementOrder/env": [{"name": "X"}], "env": [{"name": "X", "value": "1", "valueFrom": null}]}]})),
    );
    assert_eq!(
        pod(&out)["initContainers"],
        json!([{"name": "i", "image": "i", "env": [{"name": "X", "value": "1"}]}])
    );
    assert!(!out.to_string().contains('$'), "{out}");
}

#[test]
fn set_element_order_mismatch_and_malformed() {
    let live = with_pod(json!({"containers": [{"name": "a"}, {"name": "b"}]}));
    let e = deploy_err(
        live.clone(),
        pod_patch(
            json!({"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b", "image": "x"}, {"name": "a", "image": "y"}]}),
        ),
    );
    assert!(
        matches!(e, SmpError::BadRequest(ref m) if m.contains("$setElementOrder")),
        "{e}"
    );
    let e = deploy_err(
        live.clone(),
        pod_patch(json!({"$setElementOrder/containers": {"name": "a"}})),
    );
    assert!(matches!(e, SmpError::BadRequest(_)), "{e}");
    let e = deploy_err(
        live.clone(),
        pod_patch(json!({"$setElementOrder/containers": [{"image": "a"}]})),
    );
    assert!(matches!(e, SmpError::BadRequest(_)), "{e}");
    let e = deploy_err(live, pod_patch(json!({"$setElementOrder/": []})));
    assert!(matches!(e, SmpError::BadRequest(_)), "{e}");
}

#[test]
fn patch_delete_on_elements_and_maps() {
    let live = with_pod(json!({"containers": [{"name": "a"}, {"name": "b"}],
        "volumes": [{"name": "v", "emptyDir": {}}], "securityContext": {"runAsUser": 1}}));
    let out = deploy(
        live.clone(),
        pod_patch(
            json!({"containers": [{"$patch": "delete", "name": "a"}, {"$patch": "delete", "name": "nope"}],
            "volumes": [{"name": "v", "$patch": "delete"}],
            "securityContext": {"$patch": "delete"}}),
        ),
    );
    assert_eq!(pod(&out)["containers"], json!([{"name": "b"}]));
    assert_eq!(pod(&out)["volumes"], json!([]));
    assert_eq!(pod(&out)["securityContext"], json!({}));
    let e = deploy_err(
        live,
        pod_patch(json!({"containers": [{"$patch": "delete", "image": "x"}]})),
    );
    assert!(
        matches!(e, SmpError::BadRequest(ref m) if m.contains("merge key")),
        "{e}"
    );
}

#[test]
fn patch_replace_on_lists_and_maps() {
    let live = with_pod(
        json!({"containers": [{"name": "a", "image": "a", "env": [{"name": "X", "value": "1"}]}, {"name": "b"}],
        "nodeSelector": {"disk": "ssd", "zone": "a"}}),
    );
    let out = deploy(
        live,
        pod_patch(
            json!({"containers": [{"$patch": "replace"}, {"name": "c", "image": "c", "ports": null}],
            "nodeSelector": {"$patch": "replace", "zone": "b"}}),
        ),
    );
    assert_eq!(
        pod(&out)["containers"],
        json!([{"name": "c", "image": "c"}])
    );
    assert_eq!(pod(&out)["nodeSelector"], json!({"zone": "b"}));
    // Replacing the whole object.
    let out = smp(
        ("", "v1", "ConfigMap"),
        json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
        json!({"$patch": "replace", "metadata": {"name": "c"}, "data": {"b": "2"}}),
    );
    assert_eq!(out, json!({"metadata": {"name": "c"}, "data": {"b": "2"}}));
}

/// `$patch: merge` is refused as by apimachinery's strategicpatch: on a
/// list element with "merging lists cannot yet be specified in the patch"
/// (with or without the merge key), on an object as an unknown patch type.
#[test]
fn patch_merge_is_refused_like_kubernetes() {
    let live = with_pod(
        json!({"containers": [{"name": "a", "image": "a", "imagePullPolicy": "Always"}],
        "nodeSelector": {"disk": "ssd"}}),
    );
    for list in [
        json!([{"$patch": "merge"}, {"name": "a", "image": "a2"}]),
        json!([{"name": "a", "image": "a2", "$patch": "merge"}]),
    ] {
        let e = deploy_err(live.clone(), pod_patch(json!({ "containers": list })));
        assert!(
            matches!(e, SmpError::BadRequest(ref m)
                if m.contains("merging lists cannot yet be specified in the patch")
                    && m.contains("spec.template.spec.containers[")),
            "{e}"
        );
    }
    let e = deploy_err(
        live.clone(),
        pod_patch(json!({"nodeSelector": {"$patch": "merge", "zone": "b"}})),
    );
    assert!(
        matches!(e, SmpError::BadRequest(ref m)
            if m.contains("spec.template.spec.nodeSelector: unknown patch type: merge in map: ")
                && m.contains(r#""zone":"b""#)),
        "{e}"
    );
    // At the root too, and as a 400 Status.
    let e = deploy_err(live, json!({"$patch": "merge", "spec": {"replicas": 2}}));
    let status: ApiError = e.into();
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert!(
        status.message.contains("unknown patch type: merge in map"),
        "{}",
        status.message
    );
}

#[test]
fn unknown_patch_directives_are_bad_requests() {
    let live = with_pod(json!({"containers": [{"name": "a"}]}));
    for patch in [
        pod_patch(json!({"containers": [{"$patch": "explode", "name": "a"}]})),
        pod_patch(json!({"nodeSelector": {"$patch": "explode"}})),
        pod_patch(json!({"nodeSelector": {"$patch": 1}})),
        pod_patch(json!({"$frobnicate": 1})),
        json!([1, 2]),
    ] {
        let e = deploy_err(live.clone(), patch.clone());
        assert!(matches!(e, SmpError::BadRequest(_)), "{patch}: {e}");
    }
}

#[test]
fn retain_keys_clears_unlisted_fields() {
    let live = json!({"metadata": {"name": "web"}, "spec": {"strategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1}}}});
    let out = deploy(
        live.clone(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
    );
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    // A volume switching source (volumes are merge,retainKeys).
    let live = with_pod(json!({"volumes": [{"name": "v", "emptyDir": {}}]}));
    let out = deploy(
        live.clone(),
        pod_patch(
            json!({"volumes": [{"name": "v", "$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}}]}),
        ),
    );
    assert_eq!(
        pod(&out)["volumes"],
        json!([{"name": "v", "configMap": {"name": "cm"}}])
    );
    let e = deploy_err(
        live.clone(),
        pod_patch(
            json!({"volumes": [{"name": "v", "$retainKeys": ["name"], "configMap": {"name": "cm"}}]}),
        ),
    );
    assert!(
        matches!(e, SmpError::BadRequest(ref m)
            if m.contains("invalid patch format of retainKeys") && m.contains(r#""configMap""#)),
        "{e}"
    );
    let e = deploy_err(
        live,
        pod_patch(json!({"securityContext": {"$retainKeys": "name"}})),
    );
    assert!(matches!(e, SmpError::BadRequest(_)), "{e}");
}

#[test]
fn primitive_sets_union_delete_and_order() {
    let cm = ("", "v1", "ConfigMap");
    let live = json!({"metadata": {"name": "c", "finalizers": ["a", "b"]}});
    let out = smp(
        cm,
        live.clone(),
        json!({"metadata": {"finalizers": ["b", "c"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    // New values land before later live values, as in Kubernetes.
    let out = smp(cm, live.clone(), json!({"metadata": {"finalizers": ["z"]}}));
    assert_eq!(out["metadata"]["finalizers"], json!(["z", "a", "b"]));
    let out = smp(
        cm,
        live.clone(),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "x"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    // What kubectl apply sends to remove one finalizer and add another.
    let out = smp(
        cm,
        live.clone(),
        json!({"metadata": {"$setElementOrder/finalizers": ["b", "c"], "$deleteFromPrimitiveList/finalizers": ["a"],
            "finalizers": ["c"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b", "c"]));
    // Deleting from an absent list adds nothing.
    let out = smp(
        cm,
        json!({"metadata": {"name": "c"}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    );
    assert_eq!(out["metadata"], json!({"name": "c"}));
    let e = apply(
        &live,
        &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
        for_kind("", "v1", "ConfigMap"),
    )
    .unwrap_err();
    assert!(matches!(e, SmpError::BadRequest(_)), "{e}");
    for bad in [json!([["a"]]), json!([{"a": 1}]), json!([1])] {
        let e = apply(
            &live,
            &json!({"metadata": {"finalizers": bad}}),
            for_kind("", "v1", "ConfigMap"),
        )
        .unwrap_err();
        assert!(matches!(e, SmpError::Invalid(_)), "{e}");
    }
}

#[test]
fn lists_without_merge_key_are_replaced() {
    let live = with_pod(
        json!({"tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
        "containers": [{"name": "a", "args": ["x", "y"], "command": ["sh"]}]}),
    );
    let out = deploy(
        live,
        pod_patch(json!({"tolerations": [{"key": "c", "operator": "Exists"}],
            "containers": [{"name": "a", "args": ["z"]}]})),
    );
    assert_eq!(
        pod(&out)["tolerations"],
        json!([{"key": "c", "operator": "Exists"}])
    );
    assert_eq!(
        pod(&out)["containers"],
        json!([{"name": "a", "args": ["z"], "command": ["sh"]}])
    );
    // Unknown paths behave like a JSON merge patch.
    let out = deploy(
        json!({"spec": {"unknown": {"list": [1, 2], "keep": true}}}),
        json!({"spec": {"unknown": {"list": [3]}}}),
    );
    assert_eq!(out["spec"]["unknown"], json!({"list": [3], "keep": true}));
    // Without any schema at all, too.
    let out = apply(
        &json!({"a": [{"name": "x"}], "b": {"c": 1}}),
        &json!({"a": [{"name": "y"}], "b": {"d": 2}}),
        None,
    )
    .unwrap();
    assert_eq!(out, json!({"a": [{"name": "y"}], "b": {"c": 1, "d": 2}}));
}

#[test]
fn container_fields_merge_by_their_keys() {
    let live = with_pod(json!({"containers": [{"name": "a",
        "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
        "volumeMounts": [{"mountPath": "/a", "name": "v1"}, {"mountPath": "/b", "name": "v2"}],
        "volumeDevices": [{"devicePath": "/dev/x", "name": "d"}],
        "env": [{"name": "A", "value": "1"}]}]}));
    let out = deploy(
        live,
        pod_patch(json!({"containers": [{"name": "a",
            "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "$patch": "delete"}],
            "volumeMounts": [{"mountPath": "/b", "readOnly": true}],
            "volumeDevices": [{"devicePath": "/dev/y", "name": "e"}],
            "env": [{"name": "A", "value": null, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]})),
    );
    let c = &pod(&out)["containers"][0];
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}])
    );
    assert_eq!(
        c["volumeMounts"],
        json!([{"mountPath": "/a", "name": "v1"}, {"mountPath": "/b", "name": "v2", "readOnly": true}])
    );
    assert_eq!(
        names(&c["volumeDevices"], "devicePath"),
        ["/dev/y", "/dev/x"]
    );
    assert_eq!(
        c["env"],
        json!([{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])
    );
}

#[test]
fn pod_spec_lists_merge_by_their_keys() {
    let live = with_pod(json!({
        "imagePullSecrets": [{"name": "r1"}],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
        "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}],
        "ephemeralContainers": [{"name": "dbg", "image": "busybox"}],
        "schedulingGates": [{"name": "g1"}]}));
    let out = deploy(
        live,
        pod_patch(json!({
            "imagePullSecrets": [{"name": "r2"}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
            "ephemeralContainers": [{"name": "dbg", "env": [{"name": "X", "value": "1"}]}],
            "schedulingGates": [{"name": "g1", "$patch": "delete"}]})),
    );
    let p = pod(&out);
    assert_eq!(names(&p["imagePullSecrets"], "name"), ["r2", "r1"]);
    assert_eq!(
        p["hostAliases"],
        json!([{"ip": "10.0.0.1", "hostnames": ["b"]}])
    );
    assert_eq!(
        p["topologySpreadConstraints"],
        json!([{"topologyKey": "zone", "maxSkew": 2}])
    );
    assert_eq!(
        p["ephemeralContainers"],
        json!([{"name": "dbg", "image": "busybox", "env": [{"name": "X", "value": "1"}]}])
    );
    assert_eq!(p["schedulingGates"], json!([]));
}

#[test]
fn metadata_and_status_lists() {
    let live = json!({"metadata": {"name": "x", "ownerReferences": [
        {"uid": "u1", "name": "a", "kind": "ReplicaSet", "apiVersion": "apps/v1"},
        {"uid": "u2", "name": "b", "kind": "ReplicaSet", "apiVersion": "apps/v1"}]},
        "status": {"conditions": [{"type": "Available", "status": "False"}, {"type": "Progressing", "status": "True"}]}});
    let out = deploy(
        live,
        json!({"metadata": {"ownerReferences": [{"uid": "u2", "controller": true}, {"uid": "u1", "$patch": "delete"}]},
            "status": {"conditions": [{"type": "Available", "status": "True"}]}}),
    );
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([{"uid": "u2", "name": "b", "kind": "ReplicaSet", "apiVersion": "apps/v1", "controller": true}])
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}])
    );
}

#[test]
fn other_kinds() {
    let out = smp(
        ("", "v1", "Service"),
        json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}], "externalIPs": ["1.1.1.1"]}}),
        json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}], "externalIPs": ["2.2.2.2"]}}),
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
    );
    assert_eq!(out["spec"]["externalIPs"], json!(["2.2.2.2"]));
    let out = smp(
        ("", "v1", "ServiceAccount"),
        json!({"secrets": [{"name": "s1"}], "imagePullSecrets": [{"name": "p1"}]}),
        json!({"secrets": [{"name": "s2"}], "imagePullSecrets": [{"name": "p2"}]}),
    );
    assert_eq!(names(&out["secrets"], "name"), ["s2", "s1"]);
    assert_eq!(
        out["imagePullSecrets"],
        json!([{"name": "p2"}]),
        "atomic on ServiceAccount"
    );
    let out = smp(
        ("batch", "v1", "CronJob"),
        json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]}}}}}}),
        json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "b", "image": "b2"}]}}}}}}),
    );
    assert_eq!(
        out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b2"}])
    );
    let out = smp(
        ("policy", "v1", "PodDisruptionBudget"),
        json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "1", "b": "2"}}}}),
        json!({"spec": {"selector": {"matchLabels": {"c": "3"}}}}),
    );
    assert_eq!(
        out["spec"]["selector"],
        json!({"matchLabels": {"c": "3"}}),
        "selector is replace"
    );
    assert_eq!(out["spec"]["minAvailable"], 1);
}

#[test]
fn type_changes_replace_and_keyed_lists_need_objects() {
    let out = deploy(
        json!({"spec": {"replicas": 1, "x": [1], "y": {"a": 1}}}),
        json!({"spec": {"replicas": {"weird": true}, "x": {"a": null, "b": 2}, "y": [1]}}),
    );
    assert_eq!(
        out["spec"],
        json!({"replicas": {"weird": true}, "x": {"b": 2}, "y": [1]})
    );
    let live = with_pod(json!({"containers": [{"name": "a"}]}));
    for patch in [
        pod_patch(json!({"containers": ["a"]})),
        pod_patch(json!({"containers": [["a"]]})),
    ] {
        let e = deploy_err(live.clone(), patch.clone());
        assert!(matches!(e, SmpError::Invalid(_)), "{patch}: {e}");
    }
    let e = deploy_err(
        live.clone(),
        pod_patch(json!({"containers": [{"image": "no-name"}]})),
    );
    assert!(
        matches!(e, SmpError::BadRequest(ref m) if m.contains("merge key")),
        "{e}"
    );
    let e = deploy_err(
        with_pod(json!({"containers": ["not-an-object"]})),
        pod_patch(json!({"containers": [{"name": "a"}]})),
    );
    assert!(matches!(e, SmpError::Invalid(_)), "{e}");
}

#[test]
fn merge_keys_compare_numbers_by_value() {
    let live = with_pod(json!({"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}));
    let out = deploy(
        live,
        pod_patch(
            json!({"containers": [{"name": "a", "ports": [{"containerPort": 80.0, "name": "http"}]}]}),
        ),
    );
    assert_eq!(
        pod(&out)["containers"][0]["ports"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn client_side_apply_second_manifest() {
    // What kubectl apply sends when the new manifest drops container `side`,
    // changes env LEVEL and drops env OLD (from last-applied).
    let live = with_pod(json!({"containers": [
        {"name": "app", "image": "app:1", "env": [{"name": "LEVEL", "value": "info"}, {"name": "OLD", "value": "x"}],
         "terminationMessagePath": "/dev/termination-log"},
        {"name": "side", "image": "side:1"}]}));
    let patch = json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"$setElementOrder/env": [{"name": "LEVEL"}], "name": "app",
                "env": [{"name": "LEVEL", "value": "debug"}, {"$patch": "delete", "name": "OLD"}]},
                {"$patch": "delete", "name": "side"}]}}}});
    let out = deploy(live, patch);
    assert_eq!(
        pod(&out)["containers"],
        json!([{"name": "app", "image": "app:1", "env": [{"name": "LEVEL", "value": "debug"}],
            "terminationMessagePath": "/dev/termination-log"}])
    );
    assert_eq!(
        out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{}"
    );
}

#[test]
fn errors_map_to_api_errors() {
    let e: ApiError = SmpError::BadRequest("x".into()).into();
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
    let e: ApiError = SmpError::Invalid("x".into()).into();
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
}

#[test]
fn odd_inputs_never_panic() {
    let lives = [
        json!({}),
        with_pod(json!({"containers": [{"name": "a", "env": [{"name": "X"}]}, {"name": "b"}]})),
        with_pod(json!({"containers": [1, "x", null, [], {}]})),
        json!({"metadata": {"finalizers": [1, "a", null]}}),
    ];
    let values = [
        json!(null),
        json!(1),
        json!("s"),
        json!([]),
        json!({}),
        json!([null]),
        json!([{}]),
        json!([{"$patch": "delete"}]),
        json!([{"$patch": "replace"}]),
        json!({"$patch": "replace"}),
        json!({"$retainKeys": []}),
        json!([{"name": "a", "$setElementOrder/env": [null], "env": [{"name": null}]}]),
    ];
    for live in &lives {
        for v in &values {
            for key in [
                "containers",
                "$setElementOrder/containers",
                "$deleteFromPrimitiveList/containers",
                "$retainKeys",
                "$patch",
                "tolerations",
            ] {
                let patch = pod_patch(json!({ key: v.clone() }));
                let _ = apply(live, &patch, Some(deployment()));
                let _ = apply(
                    live,
                    &json!({ "metadata": { "finalizers": v.clone() } }),
                    Some(deployment()),
                );
                let _ = apply(live, &json!({ key: v.clone() }), None);
            }
        }
    }
}

/// Big lists merge correctly (set union keeps live order then new items,
/// keyed lists match by key, numbers by value) — the lookups are indexed,
/// so this is linear rather than quadratic.
#[test]
fn large_lists_merge_by_identity() {
    let live: Vec<String> = (0..4000).map(|i| format!("f/{i}")).collect();
    let added: Vec<String> = (3000..8000).map(|i| format!("f/{i}")).collect();
    let out = deploy(
        json!({"metadata": {"finalizers": live}}),
        json!({"metadata": {"finalizers": added}}),
    );
    let got = out["metadata"]["finalizers"].as_array().unwrap();
    assert_eq!(got.len(), 8000, "a union without duplicates");
    let mut unique: Vec<&str> = got.iter().map(|v| v.as_str().unwrap()).collect();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 8000);

    let env: Vec<Value> = (0..3000)
        .map(|i| json!({"name": format!("E{i}"), "value": "old"}))
        .collect();
    let patch: Vec<Value> = (0..3000)
        .step_by(2)
        .map(|i| json!({"name": format!("E{i}"), "value": "new"}))
        .collect();
    let out = deploy(
        with_pod(json!({"containers": [{"name": "a", "image": "i", "env": env}]})),
        pod_patch(json!({"containers": [{"name": "a", "env": patch}]})),
    );
    let env = pod(&out)["containers"][0]["env"].as_array().unwrap();
    assert_eq!(env.len(), 3000, "merged by name, nothing added");
    assert_eq!(env[0]["value"], "new");
    assert_eq!(env[1]["value"], "old");
    assert_eq!(env[2998]["value"], "new");

    let ports = deploy(
        with_pod(
            json!({"containers": [{"name": "a", "image": "i", "ports": [{"containerPort": 80}]}]}),
        ),
        pod_patch(
            json!({"containers": [{"name": "a", "ports": [{"containerPort": 80.0, "name": "http"}]}]}),
        ),
    );
    let ports = pod(&ports)["containers"][0]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1, "80 and 80.0 are the same key: {ports:?}");
    assert_eq!(ports[0]["name"], "http");
}

/// `$retainKeys` may name fields the patch does not hold: apimachinery
/// keeps their live values (only patch fields missing from the list are an
/// error; `ErrPatchContentNotMatchRetainKeys` is never raised when applying).
#[test]
fn retain_keys_listing_fields_the_patch_does_not_hold() {
    let live = json!({"spec": {"strategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}, "extra": true}}});
    let out = deploy(
        live,
        json!({"spec": {"strategy": {"$retainKeys": ["type", "rollingUpdate"], "type": "RollingUpdate"}}}),
    );
    assert_eq!(
        out["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    );
    // A listed field nobody has is simply absent.
    let out = deploy(
        json!({"spec": {"strategy": {"type": "Recreate"}}}),
        json!({"spec": {"strategy": {"$retainKeys": ["type", "rollingUpdate"]}}}),
    );
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    assert!(!out.to_string().contains('$'), "{out}");
}

/// initContainers merge by name against the live entries, like containers.
#[test]
fn init_containers_merge_by_name() {
    let live = with_pod(json!({
        "initContainers": [
            {"name": "migrate", "image": "migrate:1", "args": ["up"]},
            {"name": "wait-db", "image": "busybox", "env": [{"name": "HOST", "value": "db"}]},
            {"name": "old", "image": "old:1"}],
        "containers": [{"name": "app", "image": "app:1"}]}));
    let out = deploy(
        live,
        pod_patch(json!({"initContainers": [
            {"name": "wait-db", "env": [{"name": "PORT", "value": "5432"}]},
            {"name": "migrate", "image": "migrate:2"},
            {"name": "old", "$patch": "delete"},
            {"name": "seed", "image": "seed:1"}]})),
    );
    let init = &pod(&out)["initContainers"];
    // Patched elements in the patch's order, the new one after them.
    assert_eq!(names(init, "name"), ["wait-db", "migrate", "seed"]);
    // A new env var goes before the live ones that no patch element
    // follows (Kubernetes' mergeSortedSlice).
    assert_eq!(
        init[0],
        json!({"name": "wait-db", "image": "busybox",
            "env": [{"name": "PORT", "value": "5432"}, {"name": "HOST", "value": "db"}]})
    );
    assert_eq!(
        init[1],
        json!({"name": "migrate", "image": "migrate:2", "args": ["up"]})
    );
    assert_eq!(init[2], json!({"name": "seed", "image": "seed:1"}));
    assert_eq!(
        pod(&out)["containers"],
        json!([{"name": "app", "image": "app:1"}]),
        "containers untouched"
    );

    // What kubectl apply sends when an init container is dropped and one changed.
    let live = with_pod(json!({"initContainers": [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}));
    let out = deploy(
        live,
        pod_patch(json!({"$setElementOrder/initContainers": [{"name": "b"}],
            "initContainers": [{"name": "b", "image": "b:2"}, {"$patch": "delete", "name": "a"}]})),
    );
    assert_eq!(
        pod(&out)["initContainers"],
        json!([{"name": "b", "image": "b:2"}])
    );
}

/// One volume added next to another that is updated; the third untouched.
#[test]
fn volumes_add_and_update_by_name() {
    let live = with_pod(json!({"volumes": [
        {"name": "cache", "emptyDir": {}},
        {"name": "config", "configMap": {"name": "cm-1", "defaultMode": 420}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}));
    let out = deploy(
        live,
        pod_patch(json!({"volumes": [
            {"name": "config", "configMap": {"name": "cm-2"}},
            {"name": "certs", "secret": {"secretName": "tls"}}]})),
    );
    let volumes = &pod(&out)["volumes"];
    assert_eq!(
        names(volumes, "name"),
        ["cache", "config", "certs", "data"],
        "the new volume lands after the updated one, before later live ones"
    );
    assert_eq!(
        volumes[1],
        json!({"name": "config", "configMap": {"name": "cm-2", "defaultMode": 420}})
    );
    assert_eq!(
        volumes[2],
        json!({"name": "certs", "secret": {"secretName": "tls"}})
    );
    assert_eq!(volumes[0], json!({"name": "cache", "emptyDir": {}}));
    assert_eq!(
        volumes[3],
        json!({"name": "data", "persistentVolumeClaim": {"claimName": "data"}})
    );
}

/// Service ports merge by `port`: `$patch: delete` removes one,
/// `$setElementOrder/ports` orders the rest (as kubectl apply sends it).
#[test]
fn service_ports_delete_and_set_element_order() {
    let svc = ("", "v1", "Service");
    let live = json!({"spec": {"selector": {"app": "web"}, "ports": [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
        {"name": "metrics", "port": 9090, "protocol": "TCP"}]}});
    let out = smp(
        svc,
        live.clone(),
        json!({"spec": {"$setElementOrder/ports": [{"port": 443}, {"port": 80}],
            "ports": [{"port": 80, "targetPort": 9000}, {"$patch": "delete", "port": 9090}]}}),
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([{"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
            {"name": "http", "port": 80, "targetPort": 9000, "protocol": "TCP"}])
    );
    assert_eq!(out["spec"]["selector"], json!({"app": "web"}));
    // A port added at the end, one deleted, without $setElementOrder.
    let out = smp(
        svc,
        live,
        json!({"spec": {"ports": [{"$patch": "delete", "port": 80}, {"name": "grpc", "port": 50051}]}}),
    );
    assert_eq!(
        names(&out["spec"]["ports"], "port"),
        ["50051", "443", "9090"]
    );
    // The element order must list the patch's ports in the same order.
    let e = apply(
        &json!({"spec": {"ports": [{"port": 80}, {"port": 443}]}}),
        &json!({"spec": {"$setElementOrder/ports": [{"port": 80}, {"port": 443}],
            "ports": [{"port": 443, "name": "b"}, {"port": 80, "name": "a"}]}}),
        for_kind("", "v1", "Service"),
    )
    .unwrap_err();
    assert!(matches!(e, SmpError::BadRequest(_)), "{e}");
}
