//! `Cluster`: one member cluster — where it is, how to reach it, and what
//! the federation last saw of it.

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A member cluster of the federation.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "flotilla.io",
    version = "v1alpha1",
    kind = "Cluster",
    status = "ClusterStatus",
    category = "flotilla",
    derive = "PartialEq",
    derive = "Default",
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// The member's API server, `https://host:port`.
    pub api_endpoint: String,
    /// The Secret holding the member's credentials: a `kubeconfig` key, or
    /// `token` and `ca.crt`.
    pub secret_ref: SecretRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Taints: the scheduler places only what tolerates them. The cluster
    /// controller adds `cluster.flotilla.io/not-ready` and
    /// `cluster.flotilla.io/unreachable` itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    /// Cordoned: nothing new is placed here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unschedulable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<ClusterCost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthSettings>,
}

/// Where a Secret is.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
}

/// What running a replica here costs.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCost {
    /// Cost of one replica for one hour, in any currency (compared between clusters).
    #[schemars(range(min = 0))]
    pub per_replica_hour: f64,
}

/// How the cluster controller probes this cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HealthSettings {
    /// Seconds between probes (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub period_seconds: Option<i32>,
    /// Seconds a probe may take (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<i32>,
    /// Consecutive failed probes before Ready turns False/Unknown (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub failure_threshold: Option<i32>,
    /// Consecutive good probes before Ready turns True again (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub success_threshold: Option<i32>,
}

/// Probe settings with their defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    pub period_seconds: u32,
    pub timeout_seconds: u32,
    pub failure_threshold: u32,
    pub success_threshold: u32,
}

impl Health {
    pub const DEFAULT: Health = Health {
        period_seconds: 10,
        timeout_seconds: 5,
        failure_threshold: 3,
        success_threshold: 1,
    };
}

impl ClusterSpec {
    /// The probe settings, defaults filled in (values below 1 count as unset).
    pub fn health(&self) -> Health {
        let h = self.health.clone().unwrap_or_default();
        let pick = |v: Option<i32>, d: u32| v.filter(|v| *v >= 1).map_or(d, |v| v as u32);
        Health {
            period_seconds: pick(h.period_seconds, Health::DEFAULT.period_seconds),
            timeout_seconds: pick(h.timeout_seconds, Health::DEFAULT.timeout_seconds),
            failure_threshold: pick(h.failure_threshold, Health::DEFAULT.failure_threshold),
            success_threshold: pick(h.success_threshold, Health::DEFAULT.success_threshold),
        }
    }
}

/// What the federation last saw of the cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// `Ready`: True (answers and ready), False (`ClusterNotReady`: answers,
    /// not ready) or Unknown (`ClusterNotReachable`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_summary: Option<ResourceSummary>,
    /// When the last probe (successful or not) finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<String>,
    /// Identity of the controller replica that wrote this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed_by: Option<String>,
}

/// Probe round trips, in milliseconds.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub last_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Probes the percentiles cover (a sliding window).
    pub samples: u32,
}

/// Room for pods.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSummary {
    /// Pods the cluster's schedulable, ready nodes can hold.
    pub allocatable_pods: i64,
    /// Pods (or, where a member shows no pods, workload replicas) in use.
    pub allocated_pods: i64,
    /// `allocatable - allocated`, never below 0.
    pub available_pods: i64,
}

/// The taint on clusters whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "cluster.flotilla.io/not-ready";
/// The taint on clusters whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "cluster.flotilla.io/unreachable";

impl Cluster {
    /// The `Ready` condition, if any.
    pub fn ready_condition(&self) -> Option<&Condition> {
        self.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
    }

    /// Whether the `Ready` condition is True.
    pub fn is_ready(&self) -> bool {
        self.ready_condition().is_some_and(|c| c.status == "True")
    }

    /// Whether `kubectl fed drain` asked for this cluster to be emptied
    /// (annotation [`DRAIN_ANNOTATION`]).
    pub fn is_draining(&self) -> bool {
        self.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(DRAIN_ANNOTATION))
    }
}

/// Annotation on a Cluster being drained (value: when the drain was asked
/// for). The scheduler moves every replica off it; the sync removes each old
/// copy only once the replacements are fully available.
pub const DRAIN_ANNOTATION: &str = "flotilla.io/drain";
