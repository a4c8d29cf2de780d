//! DaemonSets: one pod per eligible node (nodes whose labels match the
//! template's `nodeSelector`), rolled `maxUnavailable` nodes at a time.

use serde_json::{json, Map, Value};

use super::pods::{Millis, SimPod};
use super::spec::{self, WallClock};
use super::{Env, NodeView};

/// The node indexes (ordinals) this DaemonSet should run on.
fn eligible(object: &Value, nodes: &[NodeView]) -> Vec<u32> {
    let selector = object
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object);
    nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| {
            selector.is_none_or(|s| {
                s.iter()
                    .all(|(k, v)| node.labels.get(k).map(String::as_str) == v.as_str())
            })
        })
        .map(|(i, _)| i as u32)
        .collect()
}

fn max_unavailable(object: &Value, desired: u32) -> u32 {
    if object
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        == Some("OnDelete")
    {
        return 0;
    }
    let value = object.pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable");
    spec::int_or_percent(value, desired, true, "1").max(1)
}

pub fn reconcile(object: &Value, pods: &mut Vec<SimPod>, env: &mut Env) -> bool {
    let template = object.pointer("/spec/template");
    let revision = spec::template_hash(template);
    let nodes = eligible(object, env.nodes);
    let min_ready = spec::min_ready(object);
    let now = env.now;
    let before = pods.len();
    pods.retain(|p| nodes.contains(&p.ordinal));
    let mut changed = pods.len() != before;

    // Replace old pods: unavailable ones at once, available ones while the
    // number of unavailable nodes stays within maxUnavailable.
    let budget = max_unavailable(object, nodes.len() as u32) as usize;
    if budget > 0 {
        let before = pods.len();
        pods.retain(|p| p.revision == revision || p.available(now, min_ready));
        changed |= pods.len() != before;
        let unavailable = nodes.len() - pods.iter().filter(|p| p.available(now, min_ready)).count();
        let mut allowed = budget.saturating_sub(unavailable);
        let mut stale: Vec<u32> = pods
            .iter()
            .filter(|p| p.revision != revision)
            .map(|p| p.ordinal)
            .collect();
        stale.sort_unstable();
        for ordinal in stale {
            if allowed == 0 {
                break;
            }
            pods.retain(|p| p.ordinal != ordinal);
            allowed -= 1;
            changed = true;
        }
    }
    for ordinal in nodes {
        if !pods.iter().any(|p| p.ordinal == ordinal) {
            pods.push(env.new_pod(revision, ordinal, spec::has_bad_image(template)));
            changed = true;
        }
    }
    changed
}

pub fn status(
    object: &Value,
    pods: &[SimPod],
    nodes: &[NodeView],
    now: Millis,
    _wall: &WallClock,
) -> Value {
    let revision = spec::template_hash(object.pointer("/spec/template"));
    let min_ready = spec::min_ready(object);
    let desired = eligible(object, nodes).len() as u32;
    let count = |f: &dyn Fn(&SimPod) -> bool| pods.iter().filter(|p| f(p)).count() as u32;
    let available = count(&|p| p.available(now, min_ready));
    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(spec::generation(object)));
    status.insert("desiredNumberScheduled".into(), json!(desired));
    status.insert(
        "currentNumberScheduled".into(),
        json!(count(&|p| p.scheduled())),
    );
    status.insert("numberMisscheduled".into(), json!(0));
    status.insert("numberReady".into(), json!(count(&|p| p.ready())));
    spec::put_count(
        &mut status,
        "updatedNumberScheduled",
        count(&|p| p.revision == revision && p.scheduled()),
    );
    spec::put_count(&mut status, "numberAvailable", available);
    spec::put_count(
        &mut status,
        "numberUnavailable",
        desired.saturating_sub(available),
    );
    Value::Object(status)
}
