//! What the sync writes back: member status summaries, the binding's
//! status, and the readiness tests the rollout and the drain rely on.

use federation_proto::binding::MemberStatus;
use federation_proto::ResourceBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{json, Value};

use super::{api_error, render, Error};
use crate::kinds::Kind;

/// The fields of a member object's status worth keeping in the binding:
/// counts, revisions, job times and conditions (type, status, reason), not
/// messages and condition times.
pub fn summary(status: &Value) -> Value {
    const FIELDS: &[&str] = &[
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
        "currentReplicas",
        "currentRevision",
        "updateRevision",
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "numberMisscheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberUnavailable",
        "fullyLabeledReplicas",
        "active",
        "ready",
        "succeeded",
        "failed",
        "startTime",
        "completionTime",
    ];
    let mut out = serde_json::Map::new();
    for f in FIELDS {
        if let Some(v) = status.get(*f) {
            out.insert(f.to_string(), v.clone());
        }
    }
    if let Some(conditions) = status.get("conditions").and_then(Value::as_array) {
        let short: Vec<Value> = conditions
            .iter()
            .map(|c| json!({"type": c["type"], "status": c["status"], "reason": c["reason"]}))
            .collect();
        out.insert("conditions".into(), Value::Array(short));
    }
    Value::Object(out)
}

/// What the status aggregation reads of a member copy: its generation, the
/// template generation and binding it was rendered for, and its status
/// summary.
pub fn compact(object: &Value) -> Value {
    let pointer = |path: &str| object.pointer(path).cloned().unwrap_or(Value::Null);
    let annotation = |name: &str| {
        pointer(&format!(
            "/metadata/annotations/{}",
            name.replace('/', "~1")
        ))
    };
    json!({
        "metadata": {
            "generation": pointer("/metadata/generation"),
            "annotations": {
                render::GENERATION_ANNOTATION: annotation(render::GENERATION_ANNOTATION),
                render::BINDING_ANNOTATION: annotation(render::BINDING_ANNOTATION),
            },
            "labels": {
                render::MANAGED_BY_LABEL:
                    pointer(&format!("/metadata/labels/{}", render::MANAGED_BY_LABEL.replace('/', "~1"))),
            },
        },
        "status": object.get("status").map(summary).unwrap_or(Value::Null),
    })
}

pub(super) fn member_status(
    cluster: &str,
    applied: bool,
    message: Option<String>,
    object: Option<&Value>,
) -> MemberStatus {
    let status = object.and_then(|o| o.get("status")).map(summary);
    let health = match (applied, &status) {
        (false, _) => "Unknown",
        (true, Some(s)) if healthy(s) => "Healthy",
        (true, Some(_)) => "Unhealthy",
        (true, None) => "Healthy",
    };
    MemberStatus {
        cluster_name: cluster.to_string(),
        applied,
        applied_message: message,
        status,
        health: Some(health.to_string()),
    }
}

/// Whether a copy (compact object) runs all `replicas` of the current
/// generation and they are available; kinds without divisible replicas
/// count as fully available when healthy.
pub(super) fn fully_available(object: Option<&Value>, replicas: i32, kind: &Kind) -> bool {
    let Some(object) = object else {
        return false;
    };
    let status = &object["status"];
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = status.get("observedGeneration").and_then(Value::as_i64);
    if generation.is_some() && observed < generation {
        return false;
    }
    if !kind.divisible {
        return healthy(status);
    }
    let count = |f: &str| status.get(f).and_then(Value::as_i64).unwrap_or(0);
    let want = i64::from(replicas);
    count("availableReplicas") >= want && count("readyReplicas") >= want
}

/// [`fully_available`], and every replica runs the copy's current spec.
pub(super) fn fully_updated(object: Option<&Value>, replicas: i32, kind: &Kind) -> bool {
    if !fully_available(object, replicas, kind) {
        return false;
    }
    if !kind.divisible {
        return true;
    }
    let status = object.map_or(&Value::Null, |o| &o["status"]);
    let count = |f: &str| status.get(f).and_then(Value::as_i64).unwrap_or(0);
    let want = i64::from(replicas);
    // Updated, and no old replica left (a rolling update surges).
    count("updatedReplicas") >= want && count("replicas") <= want
}

/// A workload is healthy when its Available condition (if any) is True
/// and no Progressing/Failed condition says otherwise.
pub(super) fn healthy(status: &Value) -> bool {
    let conditions = status.get("conditions").and_then(Value::as_array);
    conditions.is_none_or(|list| {
        list.iter().all(|c| match c["type"].as_str() {
            Some("Available") => c["status"] == "True",
            Some("Progressing") => c["reason"] != "ProgressDeadlineExceeded",
            Some("Failed") => c["status"] != "True",
            _ => true,
        })
    })
}

pub(super) fn strip_times(v: &mut Value) {
    if let Some(list) = v.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in list {
            if let Some(c) = c.as_object_mut() {
                c.remove("lastTransitionTime");
                c.remove("lastUpdateTime");
            }
        }
    }
}

pub(super) async fn write_status(
    bindings: &Api<ResourceBinding>,
    binding: &ResourceBinding,
    statuses: Vec<MemberStatus>,
    rollout: Option<federation_proto::binding::RolloutStatus>,
) -> Result<(), Error> {
    let old = expanded_status(binding);
    let applied = statuses
        .iter()
        .filter(|s| s.applied && s.health.as_deref() != Some("Unknown"))
        .count();
    let total = binding.spec.clusters.len();
    let failing: Vec<String> = statuses
        .iter()
        .filter(|s| !s.applied || s.health.as_deref() == Some("Unknown"))
        .map(|s| {
            format!(
                "{}: {}",
                s.cluster_name,
                s.applied_message.clone().unwrap_or_default()
            )
        })
        .collect();
    let (status, reason, message) = if failing.is_empty() && applied >= total {
        (
            "True",
            "FullyApplied",
            format!("applied to {total} clusters"),
        )
    } else {
        ("False", "NotFullyApplied", failing.join("; "))
    };
    let previous = old.conditions.iter().find(|c| c.type_ == "FullyApplied");
    let transition = match previous {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(k8s_openapi::jiff::Timestamp::now()),
    };
    let mut conditions: Vec<Condition> = old
        .conditions
        .iter()
        .filter(|c| c.type_ != "FullyApplied")
        .cloned()
        .collect();
    conditions.push(Condition {
        type_: "FullyApplied".into(),
        status: status.into(),
        reason: reason.into(),
        message,
        last_transition_time: transition,
        observed_generation: binding.metadata.generation,
    });
    let same_conditions = {
        let strip = |list: &[Condition]| -> Vec<(String, String, String, String)> {
            list.iter()
                .map(|c| {
                    (
                        c.type_.clone(),
                        c.status.clone(),
                        c.reason.clone(),
                        c.message.clone(),
                    )
                })
                .collect()
        };
        strip(&conditions) == strip(&old.conditions)
    };
    if same_conditions && statuses == old.aggregated_status && rollout == old.rollout {
        return Ok(());
    }
    let name = binding.name_any();
    let patch = json!({"status": {"conditions": conditions, "aggregatedStatus": statuses,
        "rollout": rollout}});
    bindings
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(api_error("writing the status of binding", &name))?;
    Ok(())
}

/// How the binding cache keeps each cluster's status summary: as its JSON
/// text (a parsed `Value` tree takes several times the memory).
///
/// # Caveats
/// A cached binding's `aggregatedStatus[].status` is a JSON string; read it
/// through [`expanded_status`].
pub(super) fn compact_cached(binding: &mut ResourceBinding) {
    for s in binding
        .status
        .iter_mut()
        .flat_map(|st| st.aggregated_status.iter_mut())
    {
        if let Some(v) = s.status.take() {
            s.status = Some(match v {
                Value::String(text) => Value::String(text),
                v => Value::String(v.to_string()),
            });
        }
    }
}

/// The status of a (cached) binding with every summary parsed again.
pub(super) fn expanded_status(
    binding: &ResourceBinding,
) -> federation_proto::binding::ResourceBindingStatus {
    let mut status = binding.status.clone().unwrap_or_default();
    for s in &mut status.aggregated_status {
        if let Some(Value::String(text)) = &s.status {
            s.status = serde_json::from_str(text).ok();
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use federation_proto::binding::{ObjectReference, ResourceBindingSpec, ResourceBindingStatus};

    #[test]
    fn cached_summaries_are_text_and_read_back_the_same() {
        let summary = summary(&json!({"replicas": 2, "readyReplicas": 1, "ignored": "x",
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                "message": "long text", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}));
        assert!(summary.get("ignored").is_none());
        assert!(summary["conditions"][0].get("message").is_none());
        let mut binding = ResourceBinding::new(
            "web-deployment",
            ResourceBindingSpec {
                resource: ObjectReference {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    namespace: Some("shop".into()),
                    name: "web".into(),
                    uid: None,
                    resource_version: None,
                },
                replicas: 2,
                clusters: Vec::new(),
                policy: None,
                decisions: Vec::new(),
                conflict_resolution: None,
                purge_mode: None,
                rollout: None,
            },
        );
        binding.status = Some(ResourceBindingStatus {
            aggregated_status: vec![member_status(
                "m1",
                true,
                None,
                Some(&json!({"status": summary})),
            )],
            ..Default::default()
        });
        let original = binding.status.clone().expect("status");
        compact_cached(&mut binding);
        let cached = &binding.status.as_ref().expect("status").aggregated_status[0];
        assert!(
            matches!(cached.status, Some(Value::String(_))),
            "{cached:?}"
        );
        compact_cached(&mut binding);
        assert_eq!(expanded_status(&binding), original);
    }
}
