//! The kinds Flotilla propagates, and what it needs to know of each:
//! where it lives in the API, whether its replicas can be divided, and
//! whether its status is summed back up.

use kube::discovery::ApiResource;

/// How a kind's member statuses add up at the federation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Deployment,
    StatefulSet,
    ReplicaSet,
    DaemonSet,
    Job,
    /// Nothing summed (ConfigMap, Service...).
    None,
}

/// One propagated kind.
#[derive(Debug, Clone)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// `spec.replicas` can be divided over clusters.
    pub divisible: bool,
    pub aggregate: Aggregate,
}

impl Kind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The API of this kind in `namespace` (ignored for cluster-scoped
    /// kinds).
    pub fn api(
        &self,
        client: kube::Client,
        namespace: &str,
    ) -> kube::Api<kube::api::DynamicObject> {
        if self.namespaced {
            kube::Api::namespaced_with(client, namespace, &self.api_resource())
        } else {
            kube::Api::all_with(client, &self.api_resource())
        }
    }

    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version: self.api_version(),
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    divisible: bool,
    aggregate: Aggregate,
) -> Kind {
    Kind {
        group,
        version,
        kind,
        plural,
        namespaced: true,
        divisible,
        aggregate,
    }
}

const fn cluster_scoped(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
) -> Kind {
    Kind {
        group,
        version,
        kind,
        plural,
        namespaced: false,
        divisible: false,
        aggregate: Aggregate::None,
    }
}

/// Every propagated kind. Cluster-scoped ones are placed only by
/// ClusterPropagationPolicies; their bindings live in `flotilla-system`.
pub const KINDS: &[Kind] = &[
    kind(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        Aggregate::Deployment,
    ),
    kind(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        Aggregate::StatefulSet,
    ),
    kind(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        true,
        Aggregate::ReplicaSet,
    ),
    kind(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        false,
        Aggregate::DaemonSet,
    ),
    kind("batch", "v1", "Job", "jobs", false, Aggregate::Job),
    kind("batch", "v1", "CronJob", "cronjobs", false, Aggregate::None),
    kind("", "v1", "Service", "services", false, Aggregate::None),
    kind("", "v1", "ConfigMap", "configmaps", false, Aggregate::None),
    kind("", "v1", "Secret", "secrets", false, Aggregate::None),
    kind(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        false,
        Aggregate::None,
    ),
    kind(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        false,
        Aggregate::None,
    ),
    kind(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        false,
        Aggregate::None,
    ),
    kind(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        false,
        Aggregate::None,
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        false,
        Aggregate::None,
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        false,
        Aggregate::None,
    ),
    cluster_scoped("", "v1", "Namespace", "namespaces"),
    cluster_scoped(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
    ),
    cluster_scoped(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
    ),
    cluster_scoped(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    ),
];

/// The propagated kind for `apiVersion` + `kind`.
pub fn find(api_version: &str, kind: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.kind == kind && k.api_version() == api_version)
}

/// Namespaces whose objects are never propagated.
pub const SYSTEM_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    federation_proto::SYSTEM_NAMESPACE,
];
