//! The table of served resource types.
//!
//! REST handling is generic: every behaviour that differs between kinds is a
//! field of [`ResourceType`] (scope, whether `/status` is a subresource, how
//! to validate a decoded object), never a per-kind handler.

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::status::Cause;

pub use super::strategy::Strategy;
pub use super::type_behaviour::{PrinterColumn, ScalePaths, Schema, SchemaCheck};

/// One served resource (`deployments` in `apps/v1`).
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Plural resource name used in paths (`deployments`).
    pub plural: String,
    /// Lowercase singular (`deployment`).
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Whether `/status` is a subresource: then the main resource ignores
    /// status changes and `/status` changes only status.
    pub has_status: bool,
    /// Whether `/scale` (an `autoscaling/v1 Scale` over `scale_paths`) is served.
    pub has_scale: bool,
    /// The fields `/scale` reads and writes.
    pub scale_paths: ScalePaths,
    /// Schema validation (decode into the k8s-openapi type, or a CRD schema).
    pub schema_check: Schema,
    /// Field selector labels served beyond `metadata.name`/`metadata.namespace`.
    pub extra_field_labels: Vec<String>,
    /// `List` kind (`DeploymentList`).
    pub list_kind: String,
    /// Table columns of a custom resource (`additionalPrinterColumns`);
    /// `None`: the columns registered in `table` for the kind.
    pub printer_columns: Option<Arc<Vec<PrinterColumn>>>,
    /// The CRD serving this type (`None` for built-ins).
    pub crd: Option<String>,
    /// Per-kind write behaviour (verbs, generation, defaults, finalizers).
    pub strategy: Strategy,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage key prefix for every object of this resource: `/{group}/{plural}/`
    /// (`core` stands for the empty group). Keys never depend on the version.
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        format!("/{group}/{}/", self.plural)
    }

    /// Prefix of this resource's objects in one namespace (or all, if `None`).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }

    /// The storage key of one object; cluster-scoped objects have no namespace segment.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.key_prefix()),
            _ => format!("{}{name}", self.key_prefix()),
        }
    }

    /// `List` kind of this resource (`DeploymentList`).
    pub fn list_kind(&self) -> String {
        self.list_kind.clone()
    }

    /// Verbs advertised in discovery (and served).
    pub fn verbs(&self) -> Vec<&'static str> {
        let mut verbs = vec!["create", "delete"];
        if self.strategy.delete_collection {
            verbs.push("deletecollection");
        }
        verbs.extend(["get", "list", "patch", "update", "watch"]);
        verbs
    }
}

fn check_as<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    T::deserialize(value).map(|_| ()).map_err(|e| e.to_string())
}

struct Spec {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    has_status: bool,
    schema_check: Schema,
    extra_field_labels: &'static [&'static str],
}

impl From<Spec> for ResourceType {
    fn from(s: Spec) -> Self {
        ResourceType {
            group: s.group.into(),
            version: s.version.into(),
            kind: s.kind.into(),
            plural: s.plural.into(),
            singular: s.kind.to_ascii_lowercase(),
            namespaced: s.namespaced,
            short_names: s.short_names.iter().map(|s| s.to_string()).collect(),
            categories: s.categories.iter().map(|s| s.to_string()).collect(),
            has_status: s.has_status,
            // The built-in kinds whose replicas `kubectl scale` can change.
            has_scale: matches!(
                (s.group, s.plural),
                ("apps", "deployments") | ("apps", "statefulsets") | ("apps", "replicasets")
            ),
            scale_paths: ScalePaths::default(),
            schema_check: s.schema_check,
            extra_field_labels: s.extra_field_labels.iter().map(|s| s.to_string()).collect(),
            list_kind: format!("{}List", s.kind),
            printer_columns: None,
            crd: None,
            strategy: super::strategy::builtin(s.group, s.plural),
        }
    }
}

/// The built-in kinds a federation needs.
pub fn builtin_types() -> Vec<ResourceType> {
    use k8s_openapi::api::{
        apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
        coordination::v1 as coordination, core::v1 as core, networking::v1 as networking,
        policy::v1 as policy, rbac::v1 as rbac,
    };
    const ALL: &[&str] = &["all"];
    const NONE: &[&str] = &[];
    let specs = vec![
        Spec {
            group: "",
            version: "v1",
            kind: "Namespace",
            plural: "namespaces",
            namespaced: false,
            short_names: &["ns"],
            categories: NONE,
            has_status: true,
            schema_check: Schema::Builtin(check_as::<core::Namespace>),
            extra_field_labels: &["status.phase"],
        },
        Spec {
            group: "",
            version: "v1",
            kind: "ConfigMap",
            plural: "configmaps",
            namespaced: true,
            short_names: &["cm"],
            categories: NONE,
            has_status: false,
            schema_check: Schema::Builtin(check_as::<core::ConfigMap>),
            extra_field_labels: &[],
        },
        Spec {
            group: "",
            version: "v1",
            kind: "Secret",
            plural: "secrets",
            namespaced: true,
            short_names: NONE,
            categories: NONE,
            has_status: false,
            schema_check: Schema::Builtin(check_as::<core::Secret>),
            extra_field_labels: &["type"],
        },
        Spec {
            group: "",
            version: "v1",
            kind: "Service",
            plural: "services",
            namespaced: true,
            short_names: &["svc"],
            categories: ALL,
            has_status: true,
            schema_check: Schema::Builtin(check_as::<core::Service>),
            extra_field_labels: &[],
        },
        Spec {
            group: "",
            version: "v1",
            kind: "ServiceAccount",
            plural: "serviceaccounts",
            namespaced: true,
            short_names: &["sa"],
            categories: NONE,
            has_status: false,
            schema_check: Schema::Builtin(check_as::<core::ServiceAccount>),
            extra_field_labels: &[],
        },
        Spec {
            group: "",
            version: "v1",
            kind: "Event",
            plural: "events",
            namespaced: true,
            short_names: &["ev"],
            categories: NONE,
            has_status: false,
            schema_check: Schema::Builtin(check_as::<core::Event>),
            extra_field_labels: &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
        },
        Spec {
            group: "",
            version: "v1",
            kind: "Pod",
            plural: "pods",
            namespaced: true,
            short_names: &["po"],
            categories: ALL,
            has_status: true,
            schema_check: Schema::Builtin(check_as::<core::Pod>),
            extra_field_labels: &["spec.nodeName", "status.phase"],
        },
        Spec {
            group: "apps",
            version: "v1",
            kind: "Deployment",
            plural: "deployments",
            namespaced: true,
            short_names: &["deploy"],
            categories: ALL,
            has_status: true,
            schema_check: Schema::Builtin(check_as::<apps::Deployment>),
            extra_field_labels: &[],
        },
        Spec {
            group: "apps",
            version: "v1",
            kind: "StatefulSet",
            plural: "statefulsets",
            namespaced: true,
            short_names: &["sts"],
            categories: ALL,
            has_status: true,
            schema_check: Schema::Builtin(check_as::<apps::StatefulSet>),
            extra_field_labels: &[],
        },
        Spec {
            group: "apps",
            version: "v1",
            kind: "DaemonSet",
            plural: "daemonsets",
            namespaced: true,
            short_names: &["ds"],
            categories: ALL,
            has_status: true,
            schema_check: Schema::Builtin(check_as::<apps::DaemonSet>),
            extra_field_labels: &[],
        },
        Spec {
            group: "apps",
            version: "v1",
            kind: "ReplicaSet",
            plural: "replicasets",
            namespaced: true,
            short_names: &["rs"],
            categories: ALL,
            has_status: true,
            schema_check: Schema::Builtin(check_as::<apps::ReplicaSet>),
            extra_field_labels: &[],
        },
        Spec {
            group: "apps",
            version: "v1",
            kind: "ControllerRevision",
            plural: "controllerrevisions",
            namespaced: true,
            short_names: NONE,
            categories: NONE,
            has_status: false,
            schema_check: Schema::Builtin(check_as::<apps::ControllerRevision>),
            extra_field_labels: &[],
        },
        Spec {
            group: "batch",
            version: "v1",
            kind: "Job",
            plural: "jobs",
            namespaced: true,
            short_names: NONE,
            categories: ALL,
            has_status: true,
            schema_check: Schema::BuiltinWith(check_as::<batch::Job>, job_checks),
            extra_field_labels: &[],
        },
        Spec {
            group: "batch",
            version: "v1",
            kind: "CronJob",
            plural: "cronjobs",
            namespaced: true,
            short_names: &["cj"],
            categories: ALL,
            has_status: true,
            schema_check: Schema::BuiltinWith(check_as::<batch::CronJob>, cron_job_checks),
            extra_field_labels: &[],
        },
        Spec {
            group: "networking.k8s.io",
            version: "v1",
            kind: "Ingress",
            plural: "ingresses",
            namespaced: true,
            short_names: &["ing"],
            categories: NONE,
            has_status: true,
            schema_check: Schema::Builtin(check_as::<networking::Ingress>),
            extra_field_labels: &[],
        },
        Spec {
            group: "policy",
            version: "v1",
            kind: "PodDisruptionBudget",
            plural: "poddisruptionbudgets",
            namespaced: true,
            short_names: &["pdb"],
            categories: NONE,
            has_status: true,
            schema_check: Schema::Builtin(check_as::<policy::PodDisruptionBudget>),
            extra_field_labels: &[],
        },
        Spec {
            group: "autoscaling",
            version: "v2",
            kind: "HorizontalPodAutoscaler",
            plural: "horizontalpodautoscalers",
            namespaced: true,
            short_names: &["hpa"],
            categories: ALL,
            has_status: true,
            schema_check: Schema::Builtin(check_as::<autoscaling::HorizontalPodAutoscaler>),
            extra_field_labels: &[],
        },
        Spec {
            group: "coordination.k8s.io",
            version: "v1",
            kind: "Lease",
            plural: "leases",
            namespaced: true,
            short_names: NONE,
            categories: NONE,
            has_status: false,
            schema_check: Schema::Builtin(check_as::<coordination::Lease>),
            extra_field_labels: &[],
        },
        Spec {
            group: "rbac.authorization.k8s.io",
            version: "v1",
            kind: "Role",
            plural: "roles",
            namespaced: true,
            short_names: NONE,
            categories: NONE,
            has_status: false,
            schema_check: Schema::Builtin(check_as::<rbac::Role>),
            extra_field_labels: &[],
        },
        Spec {
            group: "rbac.authorization.k8s.io",
            version: "v1",
            kind: "RoleBinding",
            plural: "rolebindings",
            namespaced: true,
            short_names: NONE,
            categories: NONE,
            has_status: false,
            schema_check: Schema::Builtin(check_as::<rbac::RoleBinding>),
            extra_field_labels: &[],
        },
        Spec {
            group: "rbac.authorization.k8s.io",
            version: "v1",
            kind: "ClusterRole",
            plural: "clusterroles",
            namespaced: false,
            short_names: NONE,
            categories: NONE,
            has_status: false,
            schema_check: Schema::Builtin(check_as::<rbac::ClusterRole>),
            extra_field_labels: &[],
        },
        Spec {
            group: "rbac.authorization.k8s.io",
            version: "v1",
            kind: "ClusterRoleBinding",
            plural: "clusterrolebindings",
            namespaced: false,
            short_names: NONE,
            categories: NONE,
            has_status: false,
            schema_check: Schema::Builtin(check_as::<rbac::ClusterRoleBinding>),
            extra_field_labels: &[],
        },
        Spec {
            group: "apiextensions.k8s.io",
            version: "v1",
            kind: "CustomResourceDefinition",
            plural: "customresourcedefinitions",
            namespaced: false,
            short_names: &["crd", "crds"],
            categories: &["api-extensions"],
            has_status: true,
            schema_check: Schema::BuiltinWith(
                check_as::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>,
                super::crd::validate_crd,
            ),
            extra_field_labels: &[],
        },
    ];
    specs.into_iter().map(ResourceType::from).collect()
}

/// The kinds a member cluster serves beyond [`builtin_types`]: nodes, which
/// only exist where workloads actually run (the member-cluster simulator),
/// never at the federation endpoint. (Pods are served everywhere: `kubectl
/// describe` of a workload lists its pods.)
pub fn member_types() -> Vec<ResourceType> {
    use k8s_openapi::api::core::v1 as core;
    let specs = vec![Spec {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        has_status: true,
        schema_check: Schema::Builtin(check_as::<core::Node>),
        extra_field_labels: &["spec.unschedulable"],
    }];
    specs.into_iter().map(ResourceType::from).collect()
}

/// A Job's pods must not restart in place: `restartPolicy` `OnFailure` or
/// `Never` (pod defaulting would make a missing one `Always`), as Job
/// validation requires.
fn restart_policy_cause(pod_spec: &Value, field: &str) -> Option<Cause> {
    const VALID: &str = r#""OnFailure", "Never""#;
    match pod_spec.get("restartPolicy").and_then(Value::as_str) {
        Some("OnFailure" | "Never") => None,
        None | Some("" | "Always") => Some(Cause::new(
            "FieldValueRequired",
            field,
            format!("Required value: valid values: {VALID}"),
        )),
        Some(other) => Some(Cause::new(
            "FieldValueNotSupported",
            field,
            format!("Unsupported value: {other:?}: supported values: {VALID}"),
        )),
    }
}

fn job_checks(job: &Value) -> Vec<Cause> {
    let pod_spec = &job["spec"]["template"]["spec"];
    restart_policy_cause(pod_spec, "spec.template.spec.restartPolicy")
        .into_iter()
        .collect()
}

fn cron_job_checks(cron_job: &Value) -> Vec<Cause> {
    let pod_spec = &cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    restart_policy_cause(
        pod_spec,
        "spec.jobTemplate.spec.template.spec.restartPolicy",
    )
    .into_iter()
    .collect()
}

/// Lookup of served resources by group/version/plural, shared by every request.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: Vec<Arc<ResourceType>>,
    by_path: HashMap<(String, String, String), Arc<ResourceType>>,
    /// The OpenAPI fingerprint of this content, computed once (see `openapi`).
    fingerprint: std::sync::OnceLock<u64>,
}

impl Registry {
    pub fn new(types: Vec<ResourceType>) -> Self {
        let mut registry = Registry::default();
        for t in types {
            registry.insert(t);
        }
        registry
    }

    /// The registry of built-in kinds.
    pub fn builtin() -> Self {
        Self::new(builtin_types())
    }

    /// The registry of a member cluster: the built-ins plus nodes.
    pub fn member() -> Self {
        let mut types = builtin_types();
        types.extend(member_types());
        Self::new(types)
    }

    pub fn insert(&mut self, t: ResourceType) {
        self.fingerprint = std::sync::OnceLock::new();
        let t = Arc::new(t);
        self.by_path.insert(
            (t.group.clone(), t.version.clone(), t.plural.clone()),
            t.clone(),
        );
        self.types.push(t);
    }

    /// A fingerprint of this content, computed by `compute` on first use.
    pub fn fingerprint(&self, compute: impl FnOnce(&Registry) -> u64) -> u64 {
        *self.fingerprint.get_or_init(|| compute(self))
    }

    /// The resource served at `group/version/plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.by_path
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Every served resource, in registration order.
    pub fn all(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    /// Group names in first-registration order (`""` first: the core group).
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = Vec::new();
        for t in &self.types {
            if !groups.contains(&t.group) {
                groups.push(t.group.clone());
            }
        }
        groups
    }

    /// Versions of one group, preferred first.
    pub fn versions(&self, group: &str) -> Vec<String> {
        let mut versions: Vec<String> = Vec::new();
        for t in self.types.iter().filter(|t| t.group == group) {
            if !versions.contains(&t.version) {
                versions.push(t.version.clone());
            }
        }
        versions
    }

    /// Resources of one group-version.
    pub fn resources(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .cloned()
            .collect()
    }

    /// Every namespaced resource (for namespace deletion).
    pub fn namespaced(&self) -> Vec<Arc<ResourceType>> {
        self.types
            .iter()
            .filter(|t| t.namespaced)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests;
