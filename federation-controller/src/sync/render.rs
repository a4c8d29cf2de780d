//! What Flotilla applies to a member: the template without what the
//! federation's server owns, with the cluster's replicas, the override
//! rules for that cluster, and Flotilla's labels and annotations.

use serde_json::{json, Value};

use super::overrides::{self, OverrideError};

/// Label on every member object Flotilla manages.
pub const MANAGED_BY_LABEL: &str = "flotilla.io/managed-by";
pub const MANAGED_BY: &str = "flotilla";
/// Annotation naming the ResourceBinding (`namespace/name`).
pub const BINDING_ANNOTATION: &str = "flotilla.io/binding";
/// Annotation with the template generation a member copy was rendered from.
pub const GENERATION_ANNOTATION: &str = "flotilla.io/template-generation";

/// Annotation on a template: the members own `spec.replicas` (each has
/// its own HorizontalPodAutoscaler, say). Flotilla sets the divided count
/// when it creates a copy and keeps the member's value from then on.
pub const RETAIN_REPLICAS_ANNOTATION: &str = "flotilla.io/retain-replicas";

/// Whether `template` asks for its members' replicas to be kept.
pub fn retains_replicas(template: &Value) -> bool {
    annotation(template, RETAIN_REPLICAS_ANNOTATION) == Some("true")
}

/// Keeps the member's own `spec.replicas` in `wanted` (see
/// [`RETAIN_REPLICAS_ANNOTATION`]).
pub fn retain_replicas(wanted: &mut Value, live: &Value) {
    if let Some(replicas) = live.pointer("/spec/replicas") {
        if wanted.pointer("/spec/replicas").is_some() {
            wanted["spec"]["replicas"] = replicas.clone();
        }
    }
}

/// Annotations never propagated.
const DROPPED_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "flotilla.io/reschedule",
    RETAIN_REPLICAS_ANNOTATION,
];

/// Renders `template` for one cluster.
pub fn render(
    template: &Value,
    binding: &str,
    replicas: Option<i32>,
    rules: &[&federation_proto::override_policy::Overriders],
) -> Result<Value, OverrideError> {
    let meta = &template["metadata"];
    let mut labels = meta["labels"].as_object().cloned().unwrap_or_default();
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY));
    let mut annotations = meta["annotations"].as_object().cloned().unwrap_or_default();
    for a in DROPPED_ANNOTATIONS {
        annotations.remove(*a);
    }
    annotations.insert(BINDING_ANNOTATION.into(), json!(binding));
    annotations.insert(
        GENERATION_ANNOTATION.into(),
        json!(meta["generation"].as_i64().unwrap_or(0).to_string()),
    );
    let mut object = json!({
        "apiVersion": template["apiVersion"],
        "kind": template["kind"],
        "metadata": {
            "name": meta["name"],
            "labels": labels,
            "annotations": annotations,
        },
    });
    // Cluster-scoped kinds have none.
    if let Some(namespace) = meta.get("namespace").filter(|n| n.is_string()) {
        object["metadata"]["namespace"] = namespace.clone();
    }
    if let Value::Object(map) = template {
        for (k, v) in map {
            if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
                object[k] = v.clone();
            }
        }
    }
    strip_member_owned(&mut object);
    if let Some(n) = replicas {
        object["spec"]["replicas"] = json!(n);
    }
    for rule in rules {
        overrides::apply(&mut object, rule)?;
    }
    // Overrides may not take Flotilla's marks away.
    object["metadata"]["labels"][MANAGED_BY_LABEL] = json!(MANAGED_BY);
    object["metadata"]["annotations"][BINDING_ANNOTATION] = json!(binding);
    Ok(object)
}

/// Fields each member assigns itself (a Service's cluster IPs, a Job's
/// generated selector).
fn strip_member_owned(object: &mut Value) {
    let kind = object["kind"].as_str().unwrap_or("").to_string();
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    match kind.as_str() {
        "Service" => {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
            spec.remove("healthCheckNodePort");
        }
        "Job" if spec.get("manualSelector").and_then(Value::as_bool) != Some(true) => {
            spec.remove("selector");
            if let Some(labels) = spec
                .get_mut("template")
                .and_then(|t| t.pointer_mut("/metadata/labels"))
                .and_then(Value::as_object_mut)
            {
                for generated in [
                    "controller-uid",
                    "batch.kubernetes.io/controller-uid",
                    "job-name",
                    "batch.kubernetes.io/job-name",
                ] {
                    labels.remove(generated);
                }
            }
        }
        _ => {}
    }
}

/// Whether every field of `wanted` has the same value in `live` (maps are
/// compared key by key, anything else exactly): a member copy that contains
/// the rendered object needs no apply.
pub fn contains(live: &Value, wanted: &Value) -> bool {
    match (live, wanted) {
        (Value::Object(l), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| l.get(k).is_some_and(|lv| contains(lv, wv))),
        (Value::Array(l), Value::Array(w)) => {
            l.len() == w.len() && l.iter().zip(w).all(|(a, b)| contains(a, b))
        }
        (l, w) => l == w,
    }
}

/// A label of an object (as JSON).
pub fn label<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object["metadata"]["labels"]
        .get(name)
        .and_then(Value::as_str)
}

/// An annotation of an object (as JSON).
pub fn annotation<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object["metadata"]["annotations"]
        .get(name)
        .and_then(Value::as_str)
}

/// Whether a member object Flotilla created for no binding in particular
/// (a namespace made to hold propagated objects) may be taken over by a
/// binding: labelled as Flotilla's, with no binding annotation.
pub fn is_adoptable(live: &Value) -> bool {
    label(live, MANAGED_BY_LABEL) == Some(MANAGED_BY)
        && annotation(live, BINDING_ANNOTATION).is_none()
}

/// Whether a member object is one Flotilla manages for `binding`.
pub fn is_ours(live: &Value, binding: &str) -> bool {
    label(live, MANAGED_BY_LABEL) == Some(MANAGED_BY)
        && annotation(live, BINDING_ANNOTATION) == Some(binding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "uid": "u1", "resourceVersion": "7",
                "generation": 3, "labels": {"app": "web"}, "finalizers": ["flotilla.io/propagation"],
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}},
            "status": {"replicas": 10}})
    }

    #[test]
    fn rendering_keeps_the_spec_and_drops_server_state() {
        let r = render(&deployment(), "demo/web-deployment", Some(4), &[]).expect("render");
        assert_eq!(r["spec"]["replicas"], 4);
        assert!(r.get("status").is_none());
        let meta = r["metadata"].as_object().expect("meta");
        for gone in [
            "uid",
            "resourceVersion",
            "generation",
            "finalizers",
            "managedFields",
        ] {
            assert!(!meta.contains_key(gone), "{gone} propagated");
        }
        assert_eq!(r["metadata"]["labels"][MANAGED_BY_LABEL], "flotilla");
        assert_eq!(r["metadata"]["annotations"]["team"], "a");
        assert_eq!(r["metadata"]["annotations"][GENERATION_ANNOTATION], "3");
        assert!(r["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none());
        assert!(is_ours(&r, "demo/web-deployment"));
        assert!(!is_ours(&r, "demo/other"));
    }

    #[test]
    fn cluster_scoped_objects_have_no_namespace_and_auto_namespaces_are_adoptable() {
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "reader"}, "rules": []});
        let r = render(&role, "flotilla-system/reader-clusterrole", None, &[]).expect("render");
        assert!(r["metadata"].get("namespace").is_none());
        assert_eq!(r["rules"], json!([]));
        let made =
            json!({"metadata": {"name": "team-x", "labels": {MANAGED_BY_LABEL: MANAGED_BY}}});
        assert!(is_adoptable(&made) && !is_ours(&made, "flotilla-system/team-x-namespace"));
        assert!(
            !is_adoptable(&r),
            "a copy of a binding is not up for adoption"
        );
        assert!(!is_adoptable(&json!({"metadata": {"name": "theirs"}})));
    }

    #[test]
    fn retained_replicas_come_from_the_member() {
        let mut template = deployment();
        assert!(!retains_replicas(&template));
        template["metadata"]["annotations"][RETAIN_REPLICAS_ANNOTATION] = json!("true");
        assert!(retains_replicas(&template));
        let mut wanted = render(&template, "b", Some(4), &[]).expect("render");
        assert!(wanted["metadata"]["annotations"]
            .get(RETAIN_REPLICAS_ANNOTATION)
            .is_none());
        let mut live = wanted.clone();
        live["spec"]["replicas"] = json!(7);
        assert!(!contains(&live, &wanted));
        retain_replicas(&mut wanted, &live);
        assert_eq!(wanted["spec"]["replicas"], 7);
        assert!(contains(&live, &wanted));
    }

    #[test]
    fn containment_ignores_what_the_member_adds() {
        let wanted = render(&deployment(), "b", Some(4), &[]).expect("render");
        let mut live = wanted.clone();
        live["metadata"]["uid"] = json!("member-uid");
        live["spec"]["progressDeadlineSeconds"] = json!(600);
        live["status"] = json!({"readyReplicas": 4});
        assert!(contains(&live, &wanted));
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:drift");
        assert!(!contains(&live, &wanted), "drift is seen");
    }

    #[test]
    fn services_and_jobs_leave_member_assigned_fields_behind() {
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "d"},
            "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80}]}});
        let r = render(&svc, "d/s", None, &[]).expect("render");
        assert!(r["spec"].get("clusterIP").is_none() && r["spec"]["ports"][0]["port"] == 80);
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "d"},
            "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "x"}},
                "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "x", "app": "j"}}, "spec": {}}}});
        let r = render(&job, "d/j", None, &[]).expect("render");
        assert!(r["spec"].get("selector").is_none());
        assert_eq!(
            r["spec"]["template"]["metadata"]["labels"],
            json!({"app": "j"})
        );
    }
}
