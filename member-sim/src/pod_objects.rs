//! Pod objects for the simulated pods (`kubectl fed sim --pods`), so that
//! `kubectl get pods` on a member shows what its workloads run.
//!
//! # Guarantees
//! - Only pods this module created (annotation [`SIMULATED_ANNOTATION`]) are
//!   ever updated or deleted; pods created by users are left alone (and run
//!   nothing).
//! - Deterministic: a pass with nothing changed writes nothing (times come
//!   from the pods' recorded instants).
//!
//! # Caveats
//! Deployments own their pods directly (there are no ReplicaSet objects);
//! pod names follow Kubernetes' patterns (`web-5d8f7b9c4x-abcde`, `db-0`).

use std::collections::BTreeMap;

use federation_apiserver::storage::{revision_of, ListOptions, Storage, StorageError};
use serde_json::{json, Map, Value};

use crate::workloads::pods::{Phase, SimPod};
use crate::workloads::spec::{self, WallClock};
use crate::workloads::{Kind, NodeView, Simulation, Workload};

/// Marks the pods the simulator owns.
pub const SIMULATED_ANNOTATION: &str = "sim.flotilla.io/simulated";
/// The storage key prefix of pods.
pub const PODS_PREFIX: &str = "/core/pods/";

/// Five characters from a pod id, in the alphabet of generated names.
fn suffix(id: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn pod_name(w: &Workload, pod: &SimPod) -> String {
    let name = spec::name(&w.object);
    match w.kind {
        Kind::StatefulSet => format!("{name}-{}", pod.ordinal),
        Kind::Deployment => format!(
            "{name}-{}-{}",
            spec::hash_suffix(pod.revision),
            suffix(pod.id)
        ),
        _ => format!("{name}-{}", suffix(pod.id)),
    }
}

fn owner_api_version(kind: Kind) -> &'static str {
    match kind {
        Kind::Job => "batch/v1",
        _ => "apps/v1",
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Deployment => "Deployment",
        Kind::StatefulSet => "StatefulSet",
        Kind::ReplicaSet => "ReplicaSet",
        Kind::DaemonSet => "DaemonSet",
        Kind::Job => "Job",
    }
}

/// The Pod object a simulated pod shows as (without server-owned metadata).
pub fn pod_object(w: &Workload, pod: &SimPod, nodes: &[NodeView], wall: &WallClock) -> Value {
    let name = pod_name(w, pod);
    let template = w
        .object
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let mut labels = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let revision = spec::hash_suffix(pod.revision);
    match w.kind {
        Kind::Deployment => {
            labels.insert("pod-template-hash".into(), json!(revision));
        }
        Kind::StatefulSet => {
            labels.insert("statefulset.kubernetes.io/pod-name".into(), json!(name));
            labels.insert(
                "controller-revision-hash".into(),
                json!(format!("{}-{revision}", spec::name(&w.object))),
            );
        }
        Kind::Job => {
            labels.insert("job-name".into(), json!(spec::name(&w.object)));
            labels.insert(
                "batch.kubernetes.io/job-name".into(),
                json!(spec::name(&w.object)),
            );
        }
        _ => {}
    }
    let mut pod_spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    let node = match w.kind {
        Kind::DaemonSet => nodes.get(pod.ordinal as usize),
        _ if nodes.is_empty() => None,
        _ => nodes.get((pod.id % nodes.len() as u64) as usize),
    };
    if pod.scheduled() || pod.terminal() {
        if let Some(node) = node {
            pod_spec["nodeName"] = json!(node.name);
        }
    }
    let uid = w
        .object
        .pointer("/metadata/uid")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": w.object.pointer("/metadata/namespace").cloned().unwrap_or(json!("default")),
            "labels": labels,
            "annotations": {SIMULATED_ANNOTATION: "true"},
            "ownerReferences": [{
                "apiVersion": owner_api_version(w.kind),
                "kind": kind_name(w.kind),
                "name": spec::name(&w.object),
                "uid": uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": pod_spec,
        "status": pod_status(pod, &template, nodes.len(), wall),
    })
}

fn pod_status(pod: &SimPod, template: &Value, nodes: usize, wall: &WallClock) -> Value {
    let created = wall.at(pod.created);
    let (phase, ready) = match pod.phase {
        Phase::Pending | Phase::Starting { .. } | Phase::CrashLooping => ("Pending", false),
        Phase::Ready { .. } => ("Running", true),
        Phase::Succeeded => ("Succeeded", false),
        Phase::Failed => ("Failed", false),
    };
    let phase = if pod.phase == Phase::CrashLooping {
        "Running"
    } else {
        phase
    };
    let truth = |b: bool| if b { "True" } else { "False" };
    let mut status = Map::new();
    status.insert("phase".into(), json!(phase));
    let mut conditions = vec![json!({
        "type": "PodScheduled",
        "status": truth(pod.scheduled() || pod.terminal()),
        "lastTransitionTime": created,
    })];
    if pod.phase == Phase::Pending {
        conditions[0]["reason"] = json!("Unschedulable");
        conditions[0]["message"] = json!(format!(
            "0/{nodes} nodes are available: {nodes} Too many pods."
        ));
    } else {
        let since = match pod.phase {
            Phase::Ready { since } => wall.at(since),
            _ => created.clone(),
        };
        for type_ in ["Initialized", "ContainersReady", "Ready"] {
            let is = type_ == "Initialized" || ready;
            conditions
                .push(json!({"type": type_, "status": truth(is), "lastTransitionTime": since}));
        }
        status.insert("startTime".into(), json!(created));
        status.insert("qosClass".into(), json!("BestEffort"));
        status.insert(
            "podIP".into(),
            json!(format!(
                "10.244.{}.{}",
                (pod.id / 250) % 250,
                pod.id % 250 + 1
            )),
        );
        let containers = template
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                let state = match pod.phase {
                    Phase::Ready { since } => json!({"running": {"startedAt": wall.at(since)}}),
                    Phase::CrashLooping => json!({"waiting": {"reason": "CrashLoopBackOff",
                        "message": "back-off restarting failed container"}}),
                    Phase::Succeeded => {
                        json!({"terminated": {"exitCode": 0, "reason": "Completed"}})
                    }
                    Phase::Failed => json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
                    _ => json!({"waiting": {"reason": "ContainerCreating"}}),
                };
                json!({
                    "name": c.get("name").cloned().unwrap_or(Value::Null),
                    "image": c.get("image").cloned().unwrap_or(Value::Null),
                    "imageID": "",
                    "ready": ready,
                    "started": ready,
                    "restartCount": i32::from(pod.phase == Phase::CrashLooping),
                    "state": state,
                })
            })
            .collect();
        status.insert("containerStatuses".into(), Value::Array(statuses));
    }
    status.insert("conditions".into(), Value::Array(conditions));
    Value::Object(status)
}

/// Brings the stored simulated Pod objects in line with the simulation.
pub async fn sync(
    storage: &dyn Storage,
    sim: &Simulation,
    nodes: &[NodeView],
    wall: &WallClock,
) -> Result<(), StorageError> {
    let mut wanted: BTreeMap<String, Value> = BTreeMap::new();
    for w in sim.workloads() {
        for pod in &w.pods {
            let object = pod_object(w, pod, nodes, wall);
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            wanted.insert(format!("{PODS_PREFIX}{ns}/{name}"), object);
        }
    }
    let stored = storage.list(PODS_PREFIX, &ListOptions::default()).await?;
    for (key, object) in &stored.items {
        let ours = object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(SIMULATED_ANNOTATION))
            .is_some();
        if !ours {
            wanted.remove(key);
            continue;
        }
        match wanted.remove(key) {
            None => match storage.delete(key, revision_of(object)).await {
                Ok(_) | Err(StorageError::NotFound(_)) | Err(StorageError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            },
            Some(want) => {
                let same = ["spec", "status"]
                    .iter()
                    .all(|f| object.get(*f) == want.get(*f))
                    && object.pointer("/metadata/labels") == want.pointer("/metadata/labels");
                if !same {
                    let mut updated = object.value().clone();
                    updated["spec"] = want["spec"].clone();
                    updated["status"] = want["status"].clone();
                    updated["metadata"]["labels"] = want["metadata"]["labels"].clone();
                    match storage.update(key, revision_of(object), updated).await {
                        Ok(_)
                        | Err(StorageError::NotFound(_))
                        | Err(StorageError::Conflict { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
    for (key, mut object) in wanted {
        let meta = &mut object["metadata"];
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        meta["creationTimestamp"] = json!(federation_apiserver::rest::object_meta::now_rfc3339());
        match storage.create(&key, object).await {
            Ok(_) | Err(StorageError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
