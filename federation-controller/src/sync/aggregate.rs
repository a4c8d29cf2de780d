//! The template's own `.status`, summed from its member copies, so that
//! `kubectl get`, `rollout status` and `wait` at the federation endpoint
//! tell the truth.
//!
//! # Guarantees
//! - `observedGeneration` is the template's generation only once every
//!   target cluster runs a copy rendered from that generation and its own
//!   controller has observed it; until then it stays at the previous value,
//!   so `kubectl rollout status` waits for every cluster.
//! - Conditions keep their `lastTransitionTime` while their status holds.

use serde_json::{json, Map, Value};

use crate::kinds::Aggregate;

use super::render::GENERATION_ANNOTATION;

/// One target cluster's copy (`None`: not there yet).
pub struct Copy<'a> {
    pub cluster: &'a str,
    pub object: Option<&'a Value>,
}

fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn sum(copies: &[Copy], field: &str) -> i64 {
    copies
        .iter()
        .filter_map(|c| c.object)
        .map(|o| int(o, &format!("/status/{field}")))
        .sum()
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Every copy exists, was rendered from `generation`, and was observed.
fn caught_up(copies: &[Copy], generation: i64) -> bool {
    !copies.is_empty()
        && copies.iter().all(|c| {
            c.object.is_some_and(|o| {
                let rendered = o
                    .pointer(&format!(
                        "/metadata/annotations/{}",
                        GENERATION_ANNOTATION.replace('/', "~1")
                    ))
                    .and_then(Value::as_str)
                    .and_then(|g| g.parse::<i64>().ok());
                rendered == Some(generation)
                    && int(o, "/status/observedGeneration") >= int(o, "/metadata/generation")
            })
        })
}

fn put(status: &mut Map<String, Value>, key: &str, value: i64) {
    if value != 0 {
        status.insert(key.into(), json!(value));
    }
}

/// A condition, its transition time kept from `previous` while unchanged.
fn cond(
    previous: &Value,
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: &str,
) -> Value {
    let since = condition(previous, type_)
        .filter(|c| c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    let updated = condition(previous, type_)
        .filter(|c| {
            c["status"] == status && c["reason"] == reason && c["message"] == message.as_str()
        })
        .and_then(|c| c.get("lastUpdateTime").cloned())
        .unwrap_or_else(|| json!(now));
    json!({"type": type_, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": since, "lastUpdateTime": updated})
}

fn missing<'a>(copies: &'a [Copy<'a>]) -> Vec<&'a str> {
    copies
        .iter()
        .filter(|c| c.object.is_none())
        .map(|c| c.cluster)
        .collect()
}

fn observed(template: &Value, copies: &[Copy], status: &mut Map<String, Value>) {
    let generation = int(template, "/metadata/generation");
    let previous = int(template, "/status/observedGeneration");
    let value = if caught_up(copies, generation) {
        generation
    } else {
        previous
    };
    put(status, "observedGeneration", value);
}

/// The aggregated `.status` of `template`, or `None` for kinds without one.
pub fn aggregate(kind: Aggregate, template: &Value, copies: &[Copy], now: &str) -> Option<Value> {
    let previous = template.clone();
    let mut status = Map::new();
    match kind {
        Aggregate::None => return None,
        Aggregate::Deployment => {
            observed(template, copies, &mut status);
            for f in [
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
                "unavailableReplicas",
            ] {
                put(&mut status, f, sum(copies, f));
            }
            let present: Vec<(&str, &Value)> = copies
                .iter()
                .filter_map(|c| c.object.map(|o| (c.cluster, o)))
                .collect();
            let not_available: Vec<&str> = present
                .iter()
                .filter(|(_, o)| condition(o, "Available").is_none_or(|c| c["status"] != "True"))
                .map(|(n, _)| *n)
                .chain(missing(copies))
                .collect();
            let available = if not_available.is_empty() {
                cond(
                    &previous,
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability in every cluster.".into(),
                    now,
                )
            } else {
                cond(
                    &previous,
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    format!(
                        "Deployment does not have minimum availability in {}.",
                        not_available.join(", ")
                    ),
                    now,
                )
            };
            let stuck: Vec<&str> = present
                .iter()
                .filter(|(_, o)| {
                    condition(o, "Progressing")
                        .is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded")
                })
                .map(|(n, _)| *n)
                .collect();
            let done = missing(copies).is_empty()
                && present.iter().all(|(_, o)| {
                    condition(o, "Progressing")
                        .is_some_and(|c| c["reason"] == "NewReplicaSetAvailable")
                });
            let progressing = if !stuck.is_empty() {
                cond(
                    &previous,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    format!(
                        "the rollout exceeded its progress deadline in {}",
                        stuck.join(", ")
                    ),
                    now,
                )
            } else if done {
                cond(
                    &previous,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    "the rollout is complete in every cluster".into(),
                    now,
                )
            } else {
                cond(
                    &previous,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    "the rollout is progressing".into(),
                    now,
                )
            };
            status.insert("conditions".into(), json!([available, progressing]));
        }
        Aggregate::StatefulSet => {
            observed(template, copies, &mut status);
            for f in [
                "readyReplicas",
                "currentReplicas",
                "updatedReplicas",
                "availableReplicas",
            ] {
                put(&mut status, f, sum(copies, f));
            }
            status.insert("replicas".into(), json!(sum(copies, "replicas")));
            let name = template
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let generation = int(template, "/metadata/generation");
            let settled = caught_up(copies, generation)
                && copies.iter().filter_map(|c| c.object).all(|o| {
                    o.pointer("/status/currentRevision") == o.pointer("/status/updateRevision")
                });
            let update = format!("{name}-g{generation}");
            let current = if settled {
                update.clone()
            } else {
                template
                    .pointer("/status/currentRevision")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{name}-g{}", generation - 1))
            };
            status.insert("currentRevision".into(), json!(current));
            status.insert("updateRevision".into(), json!(update));
        }
        Aggregate::ReplicaSet => {
            observed(template, copies, &mut status);
            status.insert("replicas".into(), json!(sum(copies, "replicas")));
            for f in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
                put(&mut status, f, sum(copies, f));
            }
        }
        Aggregate::DaemonSet => {
            observed(template, copies, &mut status);
            for f in [
                "desiredNumberScheduled",
                "currentNumberScheduled",
                "numberMisscheduled",
                "numberReady",
            ] {
                status.insert(f.into(), json!(sum(copies, f)));
            }
            for f in [
                "updatedNumberScheduled",
                "numberAvailable",
                "numberUnavailable",
            ] {
                put(&mut status, f, sum(copies, f));
            }
        }
        Aggregate::Job => {
            for f in ["active", "ready", "succeeded", "failed"] {
                put(&mut status, f, sum(copies, f));
            }
            let present: Vec<&Value> = copies.iter().filter_map(|c| c.object).collect();
            let start = present
                .iter()
                .filter_map(|o| o.pointer("/status/startTime").and_then(Value::as_str))
                .min();
            if let Some(start) = start {
                status.insert("startTime".into(), json!(start));
            }
            let has = |o: &&Value, t: &str| condition(o, t).is_some_and(|c| c["status"] == "True");
            let complete = missing(copies).is_empty()
                && !present.is_empty()
                && present.iter().all(|o| has(o, "Complete"));
            let failed: Vec<&str> = copies
                .iter()
                .filter(|c| c.object.is_some_and(|o| has(&o, "Failed")))
                .map(|c| c.cluster)
                .collect();
            let mut conditions = Vec::new();
            if !failed.is_empty() {
                conditions.push(cond(
                    &previous,
                    "Failed",
                    "True",
                    "MemberJobFailed",
                    format!("the Job failed in {}", failed.join(", ")),
                    now,
                ));
            } else if complete {
                let end = present
                    .iter()
                    .filter_map(|o| o.pointer("/status/completionTime").and_then(Value::as_str))
                    .max()
                    .unwrap_or(now);
                status.insert("completionTime".into(), json!(end));
                conditions.push(cond(
                    &previous,
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "every cluster reached its completions".into(),
                    now,
                ));
                conditions.push(cond(
                    &previous,
                    "Complete",
                    "True",
                    "CompletionsReached",
                    "every cluster reached its completions".into(),
                    now,
                ));
            }
            if !conditions.is_empty() {
                status.insert("conditions".into(), Value::Array(conditions));
            }
        }
    }
    Some(Value::Object(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_of(generation: i64, status: Value) -> Value {
        json!({"metadata": {"generation": 1, "annotations": {GENERATION_ANNOTATION: generation.to_string()}},
            "status": status})
    }

    fn ready(n: i64) -> Value {
        json!({"observedGeneration": 1, "replicas": n, "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n,
            "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]})
    }

    #[test]
    fn deployments_sum_and_wait_for_every_cluster() {
        let template = json!({"metadata": {"name": "web", "generation": 2}, "status": {"observedGeneration": 1}});
        let a = copy_of(2, ready(4));
        let b_old = copy_of(1, ready(6));
        let copies = [
            Copy {
                cluster: "m1",
                object: Some(&a),
            },
            Copy {
                cluster: "m2",
                object: Some(&b_old),
            },
        ];
        let s = aggregate(Aggregate::Deployment, &template, &copies, "now").expect("status");
        assert_eq!(s["readyReplicas"], 10);
        assert_eq!(s["observedGeneration"], 1, "m2 still runs generation 1");
        let b = copy_of(2, ready(6));
        let copies = [
            Copy {
                cluster: "m1",
                object: Some(&a),
            },
            Copy {
                cluster: "m2",
                object: Some(&b),
            },
        ];
        let s = aggregate(Aggregate::Deployment, &template, &copies, "now").expect("status");
        assert_eq!(s["observedGeneration"], 2);
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(s["conditions"][1]["reason"], "NewReplicaSetAvailable");
        let copies = [
            Copy {
                cluster: "m1",
                object: Some(&a),
            },
            Copy {
                cluster: "m3",
                object: None,
            },
        ];
        let s = aggregate(Aggregate::Deployment, &template, &copies, "now").expect("status");
        assert_eq!(s["observedGeneration"], 1);
        assert!(s["conditions"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("m3"));
        let mut stuck_status = ready(2);
        stuck_status["conditions"][1] =
            json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"});
        let stuck = copy_of(2, stuck_status);
        let copies = [
            Copy {
                cluster: "m1",
                object: Some(&a),
            },
            Copy {
                cluster: "m2",
                object: Some(&stuck),
            },
        ];
        let s = aggregate(Aggregate::Deployment, &template, &copies, "now").expect("status");
        assert_eq!(s["conditions"][1]["reason"], "ProgressDeadlineExceeded");
        assert!(s["conditions"][1]["message"]
            .as_str()
            .unwrap_or("")
            .contains("m2"));
    }

    #[test]
    fn transition_times_hold_while_status_holds() {
        let template = json!({"metadata": {"generation": 1}, "status": {"conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "lastTransitionTime": "then"}]}});
        let a = copy_of(1, ready(1));
        let s = aggregate(
            Aggregate::Deployment,
            &template,
            &[Copy {
                cluster: "m1",
                object: Some(&a),
            }],
            "now",
        )
        .expect("status");
        assert_eq!(s["conditions"][0]["lastTransitionTime"], "then");
    }

    #[test]
    fn jobs_complete_when_every_cluster_has() {
        let template = json!({"metadata": {"generation": 1}});
        let done = json!({"status": {"succeeded": 1, "completionTime": "t2", "startTime": "t0",
            "conditions": [{"type": "Complete", "status": "True"}]}});
        let running = json!({"status": {"active": 1, "startTime": "t1"}});
        let copies = [
            Copy {
                cluster: "m1",
                object: Some(&done),
            },
            Copy {
                cluster: "m2",
                object: Some(&running),
            },
        ];
        let s = aggregate(Aggregate::Job, &template, &copies, "now").expect("status");
        assert_eq!(s["active"], 1);
        assert_eq!(s["startTime"], "t0");
        assert!(s.get("conditions").is_none());
        let copies = [
            Copy {
                cluster: "m1",
                object: Some(&done),
            },
            Copy {
                cluster: "m2",
                object: Some(&done),
            },
        ];
        let s = aggregate(Aggregate::Job, &template, &copies, "now").expect("status");
        assert_eq!(s["conditions"][1]["type"], "Complete");
        assert_eq!(s["succeeded"], 2);
        assert_eq!(aggregate(Aggregate::None, &template, &copies, "now"), None);
    }
}
