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
    /// The cross-cluster rollout, for policies with a `rollout` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
}

/// Where a cross-cluster rollout is.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// `Progressing`; `Paused` (`kubectl fed rollout pause`: no further
    /// cluster starts); `Complete` (every cluster done); `Failed` (more
    /// clusters failed than `maxFailures`: no further cluster starts);
    /// `RolledBack` (failed, and with `autoRollback` every cluster that got
    /// the revision runs `lastGoodRevision` again).
    pub phase: String,
    /// The template generation being rolled out.
    pub revision: i64,
    /// The last revision that completed everywhere: what a rollback or
    /// `kubectl fed rollout undo` returns to (kept as a ControllerRevision
    /// next to the binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good_revision: Option<i64>,
    /// The wave rolling now (1-based; waves of `maxConcurrentClusters` in
    /// the rollout order, canaries first; a wave starts when the one before
    /// is through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_wave: Option<i32>,
    /// How many waves the rollout has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waves: Option<i32>,
    /// Why the rollout stopped, or what it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Per target cluster, in the rollout order: `Pending` (previous
    /// revision, waiting for its wave), `Updating`, `Soaking` (updated and
    /// available, for `soakSeconds`), `Done`, `Failed` (still updating after
    /// `progressDeadlineSeconds`, or regressed during its soak),
    /// `RollingBack`, `RolledBack` (runs `lastGoodRevision` again),
    /// `Unknown` (its copy cannot be seen: the cluster is not Ready).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterRollout>,
}

/// One cluster's part in a rollout.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRollout {
    pub name: String,
    pub state: String,
    /// Its wave (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<i32>,
}

/// The name of the ResourceBinding of template `template` of kind `kind`:
/// `NAME-KIND` (kind in lower case), at most 253 characters.
pub fn binding_name(template: &str, kind: &str) -> String {
    let mut name = format!("{template}-{}", kind.to_ascii_lowercase());
    name.truncate(253);
    name
}

/// Annotation on a ResourceBinding: its rollout is paused (`kubectl fed
/// rollout pause`); clusters mid-update finish, no further one starts.
pub const ROLLOUT_PAUSED_ANNOTATION: &str = "flotilla.io/rollout-paused";

/// Label on the ControllerRevisions that keep a binding's good revisions:
/// its value is [`revision_label_value`] of the binding's name.
pub const REVISION_BINDING_LABEL: &str = "flotilla.io/binding-name";

/// The [`REVISION_BINDING_LABEL`] value for a binding: its name, or a hash
/// of it when the name is too long for a label value.
pub fn revision_label_value(binding_name: &str) -> String {
    if binding_name.len() <= 63 {
        return binding_name.to_string();
    }
    // FNV-1a: stable across builds and processes.
    let hash = binding_name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("h-{hash:016x}")
}

/// The label selector of a binding's ControllerRevisions.
pub fn revision_selector(binding_name: &str) -> String {
    format!(
        "{REVISION_BINDING_LABEL}={}",
        revision_label_value(binding_name)
    )
}

/// The name of the ControllerRevision keeping revision `revision` of a
/// binding's template.
pub fn revision_name(binding_name: &str, revision: i64) -> String {
    format!("{binding_name}-{revision}")
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
