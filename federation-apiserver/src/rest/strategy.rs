//! Per-kind write behaviour as data — what kube-apiserver's per-kind
//! *strategies* (and the conversion of the body to the stored form) decide:
//! which verbs a kind has, whether it tracks `metadata.generation`, what a
//! written object is normalised to (API defaults, see [`super::defaults`],
//! and the stored form), what create fills in, what updates may not change,
//! and which extra finalizer list holds a deleted object.
//! Carried by every [`ResourceType`](super::registry::ResourceType) so that
//! generic REST code never branches on a kind's name.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::type_behaviour::{get_path, set_path};

/// When `metadata.generation` is set and moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Not tracked (ConfigMap, Secret, Namespace, Service...): create keeps
    /// whatever the client sent (usually nothing) and updates keep the
    /// stored value, as kube-apiserver's generic create and update do.
    Untracked,
    /// 1 on create, +1 when anything outside `metadata` and `status`
    /// changes (workloads, Ingress, PDB, CRDs, custom resources with `/status`).
    Spec,
    /// 1 on create, +1 when anything outside `metadata` changes (custom
    /// resources without a `/status` subresource: status is just data).
    AllButMetadata,
}

/// Rewrites an object in place.
pub type Rewrite = fn(&mut Value);

/// What a kind's strategy decides, beyond its schema.
#[derive(Debug, Clone, Copy)]
pub struct Strategy {
    /// Whether `DELETE` on the collection (deletecollection) is served.
    /// Namespaces have none in Kubernetes.
    pub delete_collection: bool,
    pub generation: Generation,
    /// The stored form of every object written through the API (create,
    /// update, patch, apply), applied after validation and before
    /// generation tracking and the no-op check: what decoding a body does
    /// in kube-apiserver — the kind's API defaults (`SetDefaults_*`, see
    /// [`super::defaults`]) and the conversion to the internal version
    /// (Secret `stringData`).
    pub normalize: Option<Rewrite>,
    /// What create sets once uid and name are known (`PrepareForCreate`):
    /// a namespace's phase and its `kubernetes` finalizer, a Job's selector
    /// and pod labels, a Pod's `Pending` status.
    pub on_create: Option<Rewrite>,
    /// Dotted paths an update keeps from the stored object (owned by the
    /// server or by another subresource): a namespace's `.spec.finalizers`.
    pub kept_on_update: &'static [&'static str],
    /// A second finalizer list (dotted path): an object being deleted is
    /// removed only once this and `metadata.finalizers` are both empty.
    pub spec_finalizers: Option<&'static str>,
}

impl Default for Strategy {
    /// A kind with every verb, no generation, no rewriting.
    fn default() -> Self {
        Strategy {
            delete_collection: true,
            generation: Generation::Untracked,
            normalize: None,
            on_create: None,
            kept_on_update: &[],
            spec_finalizers: None,
        }
    }
}

/// The finalizer of a namespace's `spec.finalizers` that the namespace
/// finalizer removes once the namespace is empty.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

/// The strategy of a built-in kind (`group`, `plural`), as kube-apiserver's
/// strategies for Kubernetes 1.33 behave.
pub fn builtin(group: &str, plural: &str) -> Strategy {
    let generation = match (group, plural) {
        // Revision history has no spec to track.
        ("apps", "controllerrevisions") => Generation::Untracked,
        // Pods track generation since 1.33 (KEP-5067).
        ("", "pods")
        | ("apps", _)
        | ("batch", _)
        | ("networking.k8s.io", "ingresses")
        | ("policy", "poddisruptionbudgets")
        | ("apiextensions.k8s.io", "customresourcedefinitions") => Generation::Spec,
        // HorizontalPodAutoscalers track generation only from the
        // HPAGeneration feature (after 1.33); ConfigMaps, Services,
        // ServiceAccounts, Events, Leases and Nodes never do.
        _ => Generation::Untracked,
    };
    let base = Strategy {
        generation,
        normalize: super::defaults::for_kind(group, plural),
        ..Strategy::default()
    };
    match (group, plural) {
        ("", "namespaces") => Strategy {
            delete_collection: false,
            on_create: Some(namespace_on_create),
            kept_on_update: &[".spec.finalizers"],
            spec_finalizers: Some(".spec.finalizers"),
            ..base
        },
        ("", "secrets") => Strategy {
            normalize: Some(secret_normalize),
            ..base
        },
        ("", "pods") => Strategy {
            on_create: Some(pod_on_create),
            ..base
        },
        ("batch", "jobs") => Strategy {
            on_create: Some(job_on_create),
            ..base
        },
        _ => base,
    }
}

/// The strategy of a custom resource (one served version of a CRD).
pub fn custom(has_status: bool) -> Strategy {
    Strategy {
        generation: if has_status {
            Generation::Spec
        } else {
            Generation::AllButMetadata
        },
        ..Strategy::default()
    }
}

/// The strings of the list at a dotted path (empty when absent).
pub fn strings_at(object: &Value, path: &str) -> Vec<String> {
    get_path(object, path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A namespace starts `Active` and held by the `kubernetes` finalizer
/// (added to any `spec.finalizers` the client sent).
fn namespace_on_create(object: &mut Value) {
    let mut finalizers = strings_at(object, ".spec.finalizers");
    if !finalizers.iter().any(|f| f == NAMESPACE_FINALIZER) {
        finalizers.push(NAMESPACE_FINALIZER.to_string());
    }
    set_path(object, ".spec.finalizers", json!(finalizers));
    set_path(object, ".status", json!({"phase": "Active"}));
}

/// The label a Job's pods carry with its name, and its legacy spelling.
pub const JOB_NAME_LABELS: [&str; 2] = ["batch.kubernetes.io/job-name", "job-name"];
/// The label a Job's pods carry with its uid (the one its generated
/// selector selects), and its legacy spelling.
pub const CONTROLLER_UID_LABELS: [&str; 2] =
    ["batch.kubernetes.io/controller-uid", "controller-uid"];

/// A Job without `manualSelector: true` selects its own pods by its uid
/// (`generateSelector`): the pod template gets the name and uid labels (both
/// spellings; labels the client set are kept) and the selector matches
/// `batch.kubernetes.io/controller-uid`. A Job without labels of its own
/// carries its template's, as kube-apiserver's defaulting on reading the
/// stored Job gives it (the defaults copy them before the generated ones
/// exist).
fn job_on_create(object: &mut Value) {
    if get_path(object, ".spec.manualSelector") == Some(&json!(true)) {
        return;
    }
    let name = get_path(object, ".metadata.name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let uid = get_path(object, ".metadata.uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let before = get_path(object, ".spec.template.metadata.labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let own = get_path(object, ".metadata.labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut labels = before.clone();
    for key in JOB_NAME_LABELS {
        labels.entry(key).or_insert_with(|| json!(name));
    }
    for key in CONTROLLER_UID_LABELS {
        labels.entry(key).or_insert_with(|| json!(uid));
    }
    if own.is_empty() || own == before {
        set_path(object, ".metadata.labels", Value::Object(labels.clone()));
    }
    set_path(
        object,
        ".spec.template.metadata.labels",
        Value::Object(labels),
    );
    let mut match_labels = get_path(object, ".spec.selector.matchLabels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    match_labels
        .entry(CONTROLLER_UID_LABELS[0])
        .or_insert_with(|| json!(uid));
    set_path(
        object,
        ".spec.selector.matchLabels",
        Value::Object(match_labels),
    );
}

/// A new Pod is `Pending`, with the QoS class of its resources.
fn pod_on_create(object: &mut Value) {
    let qos = pod_qos_class(object.get("spec").unwrap_or(&Value::Null));
    set_path(
        object,
        ".status",
        json!({"phase": "Pending", "qosClass": qos}),
    );
}

/// `GetPodQOS` over CPU and memory: `BestEffort` without any request or
/// limit, `Guaranteed` when every container limits both and requests what
/// it limits, else `Burstable`.
pub fn pod_qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| spec.get(*list).and_then(Value::as_array))
        .flatten()
        .collect();
    let amounts = |c: &Value, kind: &str| -> Vec<(String, f64)> {
        c.get("resources")
            .and_then(|r| r.get(kind))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(name, _)| matches!(name.as_str(), "cpu" | "memory"))
            .filter_map(|(name, q)| Some((name.clone(), quantity(q)?)))
            .filter(|(_, q)| *q > 0.0)
            .collect()
    };
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let (requests, limits) = (amounts(c, "requests"), amounts(c, "limits"));
        any |= !requests.is_empty() || !limits.is_empty();
        let limited = |name: &str| limits.iter().find(|(n, _)| n == name).map(|(_, q)| *q);
        if limited("cpu").is_none() || limited("memory").is_none() {
            guaranteed = false;
        }
        for (name, requested) in &requests {
            if limited(name).is_none_or(|l| (l - requested).abs() > f64::EPSILON * l.abs()) {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// A resource quantity (`100m`, `1Gi`, `2e3`, `1.5`) as a number.
fn quantity(value: &Value) -> Option<f64> {
    if let Some(n) = value.as_f64() {
        return Some(n);
    }
    let text = value.as_str()?.trim();
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    text.parse().ok()
}

/// `stringData` merged into `data` (base64; `stringData` wins) and dropped;
/// a missing `type` is `Opaque`.
fn secret_normalize(object: &mut Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    if let Some(string_data) = map.remove("stringData") {
        let mut data = match map.remove("data") {
            Some(Value::Object(data)) => data,
            _ => Map::new(),
        };
        for (key, value) in string_data.as_object().into_iter().flatten() {
            if let Some(text) = value.as_str() {
                let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                data.insert(key.clone(), Value::String(encoded));
            }
        }
        if !data.is_empty() {
            map.insert("data".into(), Value::Object(data));
        }
    }
    if map
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        map.insert("type".into(), json!("Opaque"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_generation_per_kind() {
        assert!(!builtin("", "namespaces").delete_collection);
        assert!(builtin("", "configmaps").delete_collection);
        for (group, plural) in [
            ("apps", "deployments"),
            ("batch", "cronjobs"),
            ("networking.k8s.io", "ingresses"),
            ("policy", "poddisruptionbudgets"),
            ("", "pods"),
        ] {
            assert_eq!(builtin(group, plural).generation, Generation::Spec);
        }
        for (group, plural) in [
            ("", "configmaps"),
            ("", "secrets"),
            ("", "namespaces"),
            ("", "services"),
            ("", "nodes"),
            ("autoscaling", "horizontalpodautoscalers"),
            ("coordination.k8s.io", "leases"),
            ("apps", "controllerrevisions"),
        ] {
            assert_eq!(builtin(group, plural).generation, Generation::Untracked);
        }
        assert_eq!(custom(true).generation, Generation::Spec);
        assert_eq!(custom(false).generation, Generation::AllButMetadata);
    }

    #[test]
    fn secrets_merge_string_data_and_default_their_type() {
        let mut s =
            json!({"data": {"a": "b2xk", "b": "Yg=="}, "stringData": {"a": "hello", "c": ""}});
        secret_normalize(&mut s);
        assert_eq!(
            s,
            json!({"data": {"a": "aGVsbG8=", "b": "Yg==", "c": ""}, "type": "Opaque"})
        );
        let mut typed = json!({"type": "kubernetes.io/tls", "stringData": {}});
        secret_normalize(&mut typed);
        assert_eq!(typed, json!({"type": "kubernetes.io/tls"}));
    }

    #[test]
    fn workloads_services_and_pods_are_defaulted_on_every_write() {
        for (group, plural) in [
            ("apps", "deployments"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("apps", "replicasets"),
            ("batch", "jobs"),
            ("batch", "cronjobs"),
            ("", "services"),
            ("", "pods"),
        ] {
            assert!(builtin(group, plural).normalize.is_some(), "{plural}");
        }
        assert!(builtin("", "configmaps").normalize.is_none());
        let mut d = json!({"spec": {}});
        (builtin("apps", "deployments").normalize.unwrap())(&mut d);
        assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    }

    #[test]
    fn jobs_select_their_pods_by_uid_unless_manual() {
        let mut j = json!({"metadata": {"name": "pi", "uid": "u-1"},
            "spec": {"manualSelector": false, "template": {"spec": {}}}});
        job_on_create(&mut j);
        let labels = json!({"batch.kubernetes.io/controller-uid": "u-1", "batch.kubernetes.io/job-name": "pi",
                            "controller-uid": "u-1", "job-name": "pi"});
        assert_eq!(j["spec"]["template"]["metadata"]["labels"], labels);
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        assert_eq!(j["metadata"]["labels"], labels, "no labels of its own");
        // Labels set by the client stay; a Job with labels of its own keeps them.
        let mut j = json!({"metadata": {"name": "pi", "uid": "u-2", "labels": {"team": "x"}},
            "spec": {"template": {"metadata": {"labels": {"job-name": "mine"}}}}});
        job_on_create(&mut j);
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"]["job-name"],
            "mine"
        );
        assert_eq!(j["metadata"]["labels"], json!({"team": "x"}));
        let manual = json!({"metadata": {"name": "m", "uid": "u"},
            "spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}}});
        let mut same = manual.clone();
        job_on_create(&mut same);
        assert_eq!(same, manual);
    }

    #[test]
    fn pods_start_pending_with_their_qos_class() {
        let mut p = json!({"spec": {"containers": [{"name": "c"}]}});
        pod_on_create(&mut p);
        assert_eq!(
            p["status"],
            json!({"phase": "Pending", "qosClass": "BestEffort"})
        );
        let guaranteed = json!({"containers": [{"resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}}}]});
        assert_eq!(pod_qos_class(&guaranteed), "Guaranteed");
        let burstable = json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                                              {"resources": {"requests": {"memory": "1Gi"}}}]});
        assert_eq!(pod_qos_class(&burstable), "Burstable");
        let zero = json!({"containers": [{"resources": {"requests": {"cpu": "0"}}}]});
        assert_eq!(pod_qos_class(&zero), "BestEffort");
    }

    #[test]
    fn namespaces_start_active_with_the_kubernetes_finalizer() {
        let mut ns = json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["x"]}});
        namespace_on_create(&mut ns);
        assert_eq!(ns["spec"]["finalizers"], json!(["x", "kubernetes"]));
        assert_eq!(ns["status"]["phase"], "Active");
        let mut again = ns.clone();
        namespace_on_create(&mut again);
        assert_eq!(again["spec"]["finalizers"], json!(["x", "kubernetes"]));
        assert_eq!(
            strings_at(&ns, ".spec.finalizers"),
            ["x".to_string(), "kubernetes".into()]
        );
    }
}
