//! Deployments: rolling updates bounded by `maxSurge` / `maxUnavailable`
//! (or Recreate), and the status and conditions Kubernetes' deployment
//! controller writes — `Available`, and `Progressing` which turns
//! `ProgressDeadlineExceeded` when a rollout stops making progress for
//! `progressDeadlineSeconds`.
//!
//! Pods stand in for the ReplicaSets a real cluster would create: each pod
//! remembers the template revision it came from.

use serde_json::{json, Map, Value};

use super::pods::{remove_pods, Millis, SimPod};
use super::spec::{self, Condition, WallClock};
use super::Env;

/// What the controller remembers about one Deployment between passes.
#[derive(Debug, Clone)]
pub struct State {
    /// Revision (template hash) of the current rollout.
    revision: u64,
    /// When the rollout last made progress (or started).
    progress_at: Millis,
    /// `(updated, ready updated, available updated, old)` at that time.
    marker: (usize, usize, usize, usize),
    /// Why `Progressing` last changed (`NewReplicaSetCreated`, `ReplicaSetUpdated`).
    reason: &'static str,
    was_paused: bool,
}

impl State {
    pub fn new(object: &Value, now: Millis) -> Self {
        State {
            revision: spec::template_hash(object.pointer("/spec/template")),
            progress_at: now,
            marker: (0, 0, 0, 0),
            reason: "NewReplicaSetCreated",
            was_paused: paused(object),
        }
    }
}

fn paused(object: &Value) -> bool {
    object
        .pointer("/spec/paused")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn recreate(object: &Value) -> bool {
    object
        .pointer("/spec/strategy/type")
        .and_then(Value::as_str)
        == Some("Recreate")
}

/// `(maxSurge, maxUnavailable)` resolved against `desired`, as Kubernetes'
/// `ResolveFenceposts` does (both zero → one unavailable allowed).
pub fn fenceposts(object: &Value, desired: u32) -> (u32, u32) {
    if recreate(object) {
        return (0, desired);
    }
    let rolling = object.pointer("/spec/strategy/rollingUpdate");
    let surge = spec::int_or_percent(
        rolling.and_then(|r| r.get("maxSurge")),
        desired,
        true,
        "25%",
    );
    let unavailable = spec::int_or_percent(
        rolling.and_then(|r| r.get("maxUnavailable")),
        desired,
        false,
        "25%",
    );
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable.min(desired))
    }
}

fn progress_deadline(object: &Value) -> Millis {
    spec::int_at(object, "/spec/progressDeadlineSeconds", 600).max(0) as Millis * 1000
}

/// Creates and removes pods one step towards `spec`. Returns whether
/// anything changed.
pub fn reconcile(state: &mut State, object: &Value, pods: &mut Vec<SimPod>, env: &mut Env) -> bool {
    let template = object.pointer("/spec/template");
    let revision = spec::template_hash(template);
    if revision != state.revision {
        state.revision = revision;
        state.progress_at = env.now;
        state.reason = "NewReplicaSetCreated";
    }
    let desired = spec::replicas(object) as usize;
    let min_ready = spec::min_ready(object);
    let now = env.now;
    let is_new = |p: &SimPod| p.revision == revision;
    let new_count = pods.iter().filter(|p| is_new(p)).count();
    let old_count = pods.len() - new_count;
    let mut changed = false;

    // A paused Deployment scales but does not roll out.
    if paused(object) && old_count > 0 {
        return false;
    }
    if new_count > desired {
        changed |= remove_pods(pods, new_count - desired, is_new) > 0;
    }
    if recreate(object) {
        if old_count > 0 {
            pods.retain(is_new);
            return true;
        }
        let missing = desired.saturating_sub(pods.len());
        for _ in 0..missing {
            pods.push(env.new_pod(revision, 0, spec::has_bad_image(template)));
        }
        return changed || missing > 0;
    }

    let (surge, unavailable) = fenceposts(object, desired as u32);
    let (surge, unavailable) = (surge as usize, unavailable as usize);
    // Scale the new revision up, within desired + maxSurge pods in all.
    let new_count = pods.iter().filter(|p| is_new(p)).count();
    let room = (desired + surge).saturating_sub(pods.len());
    let up = desired.saturating_sub(new_count).min(room);
    for _ in 0..up {
        pods.push(env.new_pod(revision, 0, spec::has_bad_image(template)));
    }
    changed |= up > 0;

    // Scale old revisions down, keeping desired - maxUnavailable available.
    let min_available = desired.saturating_sub(unavailable);
    let old_count = pods.iter().filter(|p| !is_new(p)).count();
    if old_count > 0 {
        let new_unavailable = pods
            .iter()
            .filter(|p| is_new(p) && !p.available(now, min_ready))
            .count();
        // Old pods that are not available can go first: removing them costs
        // no availability (bounded as Kubernetes' cleanupUnhealthyReplicas is).
        let max_scaled_down = pods
            .len()
            .saturating_sub(min_available)
            .saturating_sub(new_unavailable);
        let unhealthy = remove_pods(pods, max_scaled_down, |p| {
            !is_new(p) && !p.available(now, min_ready)
        });
        changed |= unhealthy > 0;
        let available = pods.iter().filter(|p| p.available(now, min_ready)).count();
        let removable = available.saturating_sub(min_available);
        changed |= remove_pods(pods, removable, |p| !is_new(p)) > 0;
    }
    changed
}

/// Records progress (any new pod created, readied or made available, or an
/// old one removed) for the `Progressing` condition.
pub fn observe(state: &mut State, object: &Value, pods: &[SimPod], now: Millis) {
    let min_ready = spec::min_ready(object);
    let new: Vec<&SimPod> = pods
        .iter()
        .filter(|p| p.revision == state.revision)
        .collect();
    let marker = (
        new.len(),
        new.iter().filter(|p| p.ready()).count(),
        new.iter().filter(|p| p.available(now, min_ready)).count(),
        pods.len() - new.len(),
    );
    let (u, r, a, o) = state.marker;
    if marker.0 > u || marker.1 > r || marker.2 > a || marker.3 < o {
        state.progress_at = now;
        if state.reason != "NewReplicaSetCreated" || marker.1 > 0 || marker.3 < o {
            state.reason = "ReplicaSetUpdated";
        }
    }
    state.marker = marker;
    let is_paused = paused(object);
    if state.was_paused && !is_paused {
        // Resuming restarts the clock, as DeploymentResumed does.
        state.progress_at = now;
    }
    state.was_paused = is_paused;
}

/// The time this Deployment's status changes by itself next (its progress
/// deadline), if it is still rolling out.
pub fn next_change(state: &State, object: &Value, pods: &[SimPod], now: Millis) -> Option<Millis> {
    if complete(state, object, pods, now) || paused(object) {
        return None;
    }
    let deadline = state.progress_at + progress_deadline(object);
    (deadline >= now).then_some(deadline + 1)
}

fn complete(state: &State, object: &Value, pods: &[SimPod], now: Millis) -> bool {
    let desired = spec::replicas(object) as usize;
    let min_ready = spec::min_ready(object);
    let updated = pods.iter().filter(|p| p.revision == state.revision).count();
    let available = pods.iter().filter(|p| p.available(now, min_ready)).count();
    updated == desired && pods.len() == desired && available == desired
}

/// `.status` as Kubernetes' deployment controller would write it.
pub fn status(
    state: &State,
    object: &Value,
    pods: &[SimPod],
    now: Millis,
    wall: &WallClock,
) -> Value {
    let desired = spec::replicas(object);
    let min_ready = spec::min_ready(object);
    let updated = pods.iter().filter(|p| p.revision == state.revision).count() as u32;
    let ready = pods.iter().filter(|p| p.ready()).count() as u32;
    let available = pods.iter().filter(|p| p.available(now, min_ready)).count() as u32;
    let total = pods.len() as u32;
    let (_, max_unavailable) = fenceposts(object, desired);
    let rs_name = format!(
        "{}-{}",
        spec::name(object),
        spec::hash_suffix(state.revision)
    );
    let now_text = wall.at(now);
    let previous = object.get("status").cloned().unwrap_or(Value::Null);
    let previous_progressing = previous
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Progressing"))
        });

    let has_minimum = available >= desired.saturating_sub(max_unavailable);
    let available_condition = Condition {
        type_: "Available",
        status: if has_minimum { "True" } else { "False" },
        reason: if has_minimum {
            "MinimumReplicasAvailable"
        } else {
            "MinimumReplicasUnavailable"
        },
        message: if has_minimum {
            "Deployment has minimum availability.".into()
        } else {
            "Deployment does not have minimum availability.".into()
        },
        last_update: None,
    };
    let (p_status, p_reason, p_message) = if paused(object) {
        (
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".to_string(),
        )
    } else if complete(state, object, pods, now) {
        (
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
        )
    } else if now > state.progress_at + progress_deadline(object) {
        (
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
        )
    } else if state.reason == "NewReplicaSetCreated" {
        (
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{rs_name}\""),
        )
    } else {
        (
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{rs_name}\" is progressing."),
        )
    };
    // lastUpdateTime moves with progress; an unchanged condition keeps it.
    let unchanged = previous_progressing.is_some_and(|c| {
        c.get("reason").and_then(Value::as_str) == Some(p_reason)
            && c.get("message").and_then(Value::as_str) == Some(p_message.as_str())
    });
    let progress_time = match previous_progressing.and_then(|c| c.get("lastUpdateTime")) {
        Some(Value::String(t)) if unchanged && p_reason != "ReplicaSetUpdated" => t.clone(),
        _ => wall.at(state.progress_at.min(now)),
    };
    let progressing_condition = Condition {
        type_: "Progressing",
        status: p_status,
        reason: p_reason,
        message: p_message,
        last_update: Some(progress_time),
    };
    let mut available_condition = available_condition;
    let previous_available = previous
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Available"))
        });
    available_condition.last_update = Some(
        match previous_available {
            Some(c)
                if c.get("reason").and_then(Value::as_str) == Some(available_condition.reason) =>
            {
                c.get("lastUpdateTime")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }
            _ => None,
        }
        .unwrap_or_else(|| now_text.clone()),
    );

    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(spec::generation(object)));
    spec::put_count(&mut status, "replicas", total);
    spec::put_count(&mut status, "updatedReplicas", updated);
    spec::put_count(&mut status, "readyReplicas", ready);
    spec::put_count(&mut status, "availableReplicas", available);
    spec::put_count(
        &mut status,
        "unavailableReplicas",
        total.saturating_sub(available),
    );
    status.insert(
        "conditions".into(),
        spec::conditions(
            &previous,
            vec![available_condition, progressing_condition],
            &now_text,
        ),
    );
    Value::Object(status)
}
