//! StatefulSets: pods with stable ordinals, created in order (each after the
//! previous one is ready, unless `podManagementPolicy: Parallel`), removed
//! from the highest ordinal down, and rolled from the highest ordinal down
//! to `partition`, one pod at a time.

use serde_json::{json, Map, Value};

use super::pods::{Millis, SimPod};
use super::spec::{self, WallClock};
use super::Env;

/// The revisions a StatefulSet moves between.
#[derive(Debug, Clone)]
pub struct State {
    /// Revision every pod had when the last rollout finished.
    current: u64,
    /// Revision of the template now.
    update: u64,
}

impl State {
    pub fn new(object: &Value) -> Self {
        let revision = spec::template_hash(object.pointer("/spec/template"));
        State {
            current: revision,
            update: revision,
        }
    }
}

fn parallel(object: &Value) -> bool {
    object
        .pointer("/spec/podManagementPolicy")
        .and_then(Value::as_str)
        == Some("Parallel")
}

fn on_delete(object: &Value) -> bool {
    object
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        == Some("OnDelete")
}

fn partition(object: &Value) -> u32 {
    spec::int_at(object, "/spec/updateStrategy/rollingUpdate/partition", 0).max(0) as u32
}

pub fn reconcile(state: &mut State, object: &Value, pods: &mut Vec<SimPod>, env: &mut Env) -> bool {
    let template = object.pointer("/spec/template");
    state.update = spec::template_hash(template);
    let desired = spec::replicas(object);
    let ordered = !parallel(object);
    let min_ready = spec::min_ready(object);
    let now = env.now;
    let mut changed = false;

    // Create missing ordinals, lowest first.
    for ordinal in 0..desired {
        if pods.iter().any(|p| p.ordinal == ordinal) {
            continue;
        }
        if ordered && pods.iter().any(|p| p.ordinal < ordinal && !p.ready()) {
            break;
        }
        let revision = if ordinal < partition(object) {
            state.current
        } else {
            state.update
        };
        // A pod recreated at the current revision runs that revision's template;
        // only the update revision's template is known, so brokenness follows it.
        let broken = revision == state.update && spec::has_bad_image(template);
        pods.push(env.new_pod(revision, ordinal, broken));
        changed = true;
        if ordered {
            break;
        }
    }

    // Remove ordinals beyond the desired count, highest first.
    let mut extra: Vec<u32> = pods
        .iter()
        .map(|p| p.ordinal)
        .filter(|o| *o >= desired)
        .collect();
    extra.sort_unstable_by(|a, b| b.cmp(a));
    if let Some(&highest) = extra.first() {
        if ordered {
            let others_ready = pods
                .iter()
                .filter(|p| p.ordinal != highest)
                .all(|p| p.ready());
            if others_ready {
                pods.retain(|p| p.ordinal != highest);
                changed = true;
            }
        } else {
            pods.retain(|p| p.ordinal < desired);
            changed = true;
        }
    }

    // Roll one pod at a time, highest ordinal first, once all are ready.
    let all_there = pods.len() == desired as usize;
    let all_ready = pods.iter().all(|p| p.available(now, min_ready));
    if !on_delete(object) && all_there && all_ready {
        let stale = pods
            .iter()
            .filter(|p| p.ordinal >= partition(object) && p.revision != state.update)
            .map(|p| p.ordinal)
            .max();
        if let Some(ordinal) = stale {
            pods.retain(|p| p.ordinal != ordinal);
            changed = true;
        }
    }

    // A rollout is done when every pod runs the update revision.
    if state.current != state.update
        && pods.len() == desired as usize
        && pods.iter().all(|p| p.revision == state.update)
    {
        state.current = state.update;
        changed = true;
    }
    changed
}

pub fn status(
    state: &State,
    object: &Value,
    pods: &[SimPod],
    now: Millis,
    _wall: &WallClock,
) -> Value {
    let min_ready = spec::min_ready(object);
    let name = spec::name(object);
    let count = |f: &dyn Fn(&SimPod) -> bool| pods.iter().filter(|p| f(p)).count() as u32;
    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(spec::generation(object)));
    status.insert("replicas".into(), json!(pods.len()));
    spec::put_count(&mut status, "readyReplicas", count(&|p| p.ready()));
    spec::put_count(
        &mut status,
        "currentReplicas",
        count(&|p| p.revision == state.current),
    );
    spec::put_count(
        &mut status,
        "updatedReplicas",
        count(&|p| p.revision == state.update),
    );
    spec::put_count(
        &mut status,
        "availableReplicas",
        count(&|p| p.available(now, min_ready)),
    );
    status.insert(
        "currentRevision".into(),
        json!(format!("{name}-{}", spec::hash_suffix(state.current))),
    );
    status.insert(
        "updateRevision".into(),
        json!(format!("{name}-{}", spec::hash_suffix(state.update))),
    );
    status.insert("collisionCount".into(), json!(0));
    Value::Object(status)
}
