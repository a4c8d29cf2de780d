//! ReplicaSets: as many pods as `spec.replicas`, all at once. A template
//! change affects only pods created afterwards, as in Kubernetes.

use serde_json::{json, Map, Value};

use super::pods::{remove_pods, Millis, SimPod};
use super::spec::{self, WallClock};
use super::Env;

pub fn reconcile(object: &Value, pods: &mut Vec<SimPod>, env: &mut Env) -> bool {
    let template = object.pointer("/spec/template");
    let revision = spec::template_hash(template);
    let desired = spec::replicas(object) as usize;
    if pods.len() > desired {
        let extra = pods.len() - desired;
        return remove_pods(pods, extra, |_| true) > 0;
    }
    let missing = desired - pods.len();
    for _ in 0..missing {
        pods.push(env.new_pod(revision, 0, spec::has_bad_image(template)));
    }
    missing > 0
}

pub fn status(object: &Value, pods: &[SimPod], now: Millis, _wall: &WallClock) -> Value {
    let min_ready = spec::min_ready(object);
    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(spec::generation(object)));
    status.insert("replicas".into(), json!(pods.len()));
    spec::put_count(&mut status, "fullyLabeledReplicas", pods.len() as u32);
    spec::put_count(
        &mut status,
        "readyReplicas",
        pods.iter().filter(|p| p.ready()).count() as u32,
    );
    spec::put_count(
        &mut status,
        "availableReplicas",
        pods.iter().filter(|p| p.available(now, min_ready)).count() as u32,
    );
    Value::Object(status)
}
