//! Per-kind write behaviour as data — what kube-apiserver's per-kind
//! *strategies* (and the conversion of the body to the stored form) decide:
//! which verbs a kind has, whether it tracks `metadata.generation`, what a
//! written object is normalised to, what create fills in, what updates may
//! not change, and which extra finalizer list holds a deleted object.
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
    /// update, patch, apply), applied after validation: what decoding into
    /// the internal version does in kube-apiserver (Secret `stringData`).
    pub normalize: Option<Rewrite>,
    /// What create sets (`PrepareForCreate`): a namespace's phase and its
    /// `kubernetes` finalizer.
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
    let tracked = Strategy {
        generation: Generation::Spec,
        ..Strategy::default()
    };
    match (group, plural) {
        ("", "namespaces") => Strategy {
            delete_collection: false,
            on_create: Some(namespace_on_create),
            kept_on_update: &[".spec.finalizers"],
            spec_finalizers: Some(".spec.finalizers"),
            ..Strategy::default()
        },
        ("", "secrets") => Strategy {
            normalize: Some(secret_normalize),
            ..Strategy::default()
        },
        // Pods track generation since 1.33 (KEP-5067).
        ("", "pods")
        | ("apps", _)
        | ("batch", _)
        | ("networking.k8s.io", "ingresses")
        | ("policy", "poddisruptionbudgets")
        | ("apiextensions.k8s.io", "customresourcedefinitions") => tracked,
        // HorizontalPodAutoscalers track generation only from the
        // HPAGeneration feature (after 1.33); ConfigMaps, Services,
        // ServiceAccounts, Events, Leases and Nodes never do.
        _ => Strategy::default(),
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
