//! `ResourceBinding`: written by the scheduler, one per placed template —
//! where it went, why, and how it is doing there.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The placement of one template.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "flotilla.io",
    version = "v1alpha1",
    kind = "ResourceBinding",
    namespaced,
    status = "ResourceBindingStatus",
    shortname = "rb",
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
pub struct ResourceBindingSpec {
    /// The template.
    pub resource: ObjectReference,
    /// Replicas of the template (0 for kinds without replicas).
    #[serde(default)]
    pub replicas: i32,
    /// Where it goes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<TargetCluster>,
    /// The policy that placed it (`Kind/namespace/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Why: every cluster considered, with the filter that dropped it or its score.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<ClusterDecision>,
    /// From the policy: whether a member object Flotilla did not create may be taken over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_resolution: Option<crate::policy::ConflictResolution>,
    /// From the policy: how copies on failed clusters go (`Graceful`, `Immediate`, `Never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_mode: Option<String>,
    /// From the policy: how a new revision of the template reaches the clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::policy::Rollout>,
}

/// A template, by name and uid.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// One cluster of a placement.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetCluster {
    pub name: String,
    #[serde(default)]
    pub replicas: i32,
}

/// What the scheduler thought of one cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDecision {
    pub cluster: String,
    pub selected: bool,
    /// The filter that excluded it, or how its share was decided.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// How the placement is doing.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceBindingStatus {
    /// `Scheduled`, `FullyApplied`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregated_status: Vec<MemberStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_observed_generation: Option<i64>,
    /// The cross-cluster rollout, for `ClusterByCluster` and `Canary` policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
}

/// Where a cross-cluster rollout is.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// `Progressing`, `Complete`, or `Failed` (more clusters failed than
    /// `maxFailures`: no further cluster starts).
    pub phase: String,
    /// The template generation being rolled out.
    pub revision: i64,
    /// Per target cluster: `Pending` (previous revision, waiting for its
    /// wave), `Updating`, `Soaking` (updated and available, for
    /// `soakSeconds`), `Done` or `Failed` (still updating after
    /// `progressDeadlineSeconds`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterRollout>,
}

/// One cluster's part in a rollout.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRollout {
    pub name: String,
    pub state: String,
}

/// The member copy in one cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    pub cluster_name: String,
    pub applied: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_message: Option<String>,
    /// The member object's `.status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::any_value")]
    pub status: Option<serde_json::Value>,
    /// `Healthy`, `Unhealthy` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}
