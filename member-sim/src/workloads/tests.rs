//! The simulated controllers as pure state machines: time is stepped by hand.

use serde_json::{json, Value};

use super::pods::Millis;
use super::spec::WallClock;
use super::{Kind, NodeView, Simulation};

const STARTUP: Millis = 1000;

fn nodes(pods_per_node: &[u32]) -> Vec<NodeView> {
    pods_per_node
        .iter()
        .enumerate()
        .map(|(i, pods)| NodeView {
            name: format!("node-{i}"),
            labels: [(
                "pool".to_string(),
                if i == 0 { "a" } else { "b" }.to_string(),
            )]
            .into(),
            allocatable_pods: *pods,
            unschedulable: false,
        })
        .collect()
}

fn wall() -> WallClock {
    WallClock {
        origin: chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .expect("time")
            .to_utc(),
    }
}

fn workload(kind: &str, name: &str, image: &str, spec: Value) -> Value {
    let mut object = json!({
        "kind": kind,
        "metadata": {"name": name, "namespace": "demo", "uid": format!("uid-{name}"), "generation": 1},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }
        }
    });
    for (k, v) in spec.as_object().expect("spec object") {
        object["spec"][k] = v.clone();
    }
    object
}

/// A simulation of one workload, with helpers to step time and read status.
struct Harness {
    sim: Simulation,
    nodes: Vec<NodeView>,
    kind: Kind,
    key: String,
    object: Value,
    now: Millis,
}

impl Harness {
    fn new(kind: Kind, object: Value, nodes: Vec<NodeView>) -> Self {
        let key = format!(
            "{}demo/{}",
            kind.key_prefix(),
            object["metadata"]["name"].as_str().expect("name")
        );
        let mut h = Harness {
            sim: Simulation::new(STARTUP),
            nodes,
            kind,
            key,
            object,
            now: 0,
        };
        h.step();
        h
    }

    /// One controller pass at the current time; the status is stored back
    /// into the object, as the driver does.
    fn step(&mut self) {
        self.sim.sync(
            vec![(self.kind, self.key.clone(), self.object.clone())],
            self.now,
        );
        self.sim.step(&self.nodes, self.now);
        let status = self.status();
        self.object["status"] = status;
    }

    fn status(&self) -> Value {
        self.sim
            .statuses(&self.nodes, self.now, &wall())
            .find(|(k, _, _)| *k == self.key)
            .map(|(_, _, s)| s)
            .expect("workload present")
    }

    fn at(&mut self, ms: Millis) -> Value {
        assert!(ms >= self.now);
        self.now = ms;
        self.step();
        self.object["status"].clone()
    }

    /// Changes the spec (a new generation), as `kubectl apply` would.
    fn update(&mut self, f: impl FnOnce(&mut Value)) {
        f(&mut self.object["spec"]);
        let generation = self.object["metadata"]["generation"]
            .as_i64()
            .expect("generation");
        self.object["metadata"]["generation"] = json!(generation + 1);
        self.step();
    }

    fn pods(&self) -> &[super::pods::SimPod] {
        &self.sim.workload(&self.key).expect("workload").pods
    }
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

fn count(status: &Value, field: &str) -> i64 {
    status[field].as_i64().unwrap_or(0)
}

#[test]
fn a_deployment_becomes_ready_after_the_startup_delay() {
    let d = workload("Deployment", "web", "nginx:1", json!({"replicas": 3}));
    let mut h = Harness::new(Kind::Deployment, d, nodes(&[10]));
    let status = h.object["status"].clone();
    assert_eq!(count(&status, "replicas"), 3);
    assert_eq!(count(&status, "updatedReplicas"), 3);
    assert_eq!(count(&status, "readyReplicas"), 0);
    assert_eq!(condition(&status, "Available")["status"], "False");
    assert_eq!(
        condition(&status, "Progressing")["reason"],
        "NewReplicaSetCreated"
    );

    let status = h.at(STARTUP);
    assert_eq!(count(&status, "readyReplicas"), 3);
    assert_eq!(count(&status, "availableReplicas"), 3);
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(condition(&status, "Available")["status"], "True");
    assert_eq!(
        condition(&status, "Progressing")["reason"],
        "NewReplicaSetAvailable"
    );
    assert_eq!(h.sim.next_change(h.now), None, "nothing left to wait for");
}

#[test]
fn statuses_do_not_change_without_events() {
    let d = workload("Deployment", "web", "nginx:1", json!({"replicas": 2}));
    let mut h = Harness::new(Kind::Deployment, d, nodes(&[10]));
    let ready = h.at(STARTUP);
    // Passes later, with nothing happening, want exactly the stored status.
    assert_eq!(h.at(STARTUP + 5_000), ready);
    assert_eq!(h.at(STARTUP + 60_000), ready);
}

#[test]
fn rolling_updates_respect_max_surge_and_max_unavailable() {
    let d = workload(
        "Deployment",
        "web",
        "nginx:1",
        json!({"replicas": 10, "strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 1}}}),
    );
    let mut h = Harness::new(Kind::Deployment, d, nodes(&[50]));
    h.at(STARTUP);
    h.update(|spec| spec["template"]["spec"]["containers"][0]["image"] = json!("nginx:2"));
    let mut t = h.now;
    let mut max_pods = 0;
    let mut min_available = usize::MAX;
    loop {
        let pods = h.pods();
        max_pods = max_pods.max(pods.len());
        min_available = min_available.min(pods.iter().filter(|p| p.available(t, 0)).count());
        let status = h.object["status"].clone();
        if condition(&status, "Progressing")["reason"] == "NewReplicaSetAvailable" {
            break;
        }
        t += 250;
        assert!(t < 60_000, "the rollout never finished: {status}");
        h.at(t);
    }
    assert_eq!(max_pods, 12, "maxSurge 2 over 10 replicas");
    assert_eq!(min_available, 9, "maxUnavailable 1 of 10");
    let status = h.object["status"].clone();
    assert_eq!(count(&status, "updatedReplicas"), 10);
    assert_eq!(count(&status, "replicas"), 10);
    assert_eq!(status["observedGeneration"], 2);
}

#[test]
fn recreate_removes_every_old_pod_before_starting_new_ones() {
    let d = workload(
        "Deployment",
        "db",
        "pg:1",
        json!({"replicas": 3, "strategy": {"type": "Recreate"}}),
    );
    let mut h = Harness::new(Kind::Deployment, d, nodes(&[10]));
    h.at(STARTUP);
    h.update(|spec| spec["template"]["spec"]["containers"][0]["image"] = json!("pg:2"));
    let revision = h.pods()[0].revision;
    assert!(
        h.pods().iter().all(|p| p.revision == revision),
        "no old pod left"
    );
    assert_eq!(h.pods().len(), 3);
    assert_eq!(count(&h.object["status"], "readyReplicas"), 0);
    assert_eq!(count(&h.at(h.now + STARTUP), "readyReplicas"), 3);
}

#[test]
fn capacity_bounds_readiness() {
    let d = workload("Deployment", "web", "nginx:1", json!({"replicas": 8}));
    let mut h = Harness::new(Kind::Deployment, d, nodes(&[3, 2]));
    let status = h.at(STARTUP * 5);
    assert_eq!(count(&status, "replicas"), 8);
    assert_eq!(count(&status, "readyReplicas"), 5, "only 5 pods fit");
    assert_eq!(count(&status, "unavailableReplicas"), 3);
    // 25% of 8 may be unavailable: 5 available is below the minimum of 6.
    assert_eq!(condition(&status, "Available")["status"], "False");
    assert_eq!(h.sim.scheduled_pods(), 5);

    // A cordoned node takes its room away from new pods only.
    h.nodes[0].unschedulable = true;
    let status = h.at(STARTUP * 6);
    assert_eq!(
        count(&status, "readyReplicas"),
        5,
        "cordoning evicts nothing"
    );
    // More room lets the pending pods start.
    h.nodes[0].unschedulable = false;
    h.nodes[1].allocatable_pods = 10;
    h.at(STARTUP * 7);
    let status = h.at(STARTUP * 8);
    assert_eq!(count(&status, "readyReplicas"), 8);
    assert_eq!(condition(&status, "Available")["status"], "True");
}

#[test]
fn a_bad_image_never_becomes_ready_and_exceeds_the_progress_deadline() {
    let d = workload(
        "Deployment",
        "web",
        "nginx:bad",
        json!({"replicas": 2, "progressDeadlineSeconds": 3}),
    );
    let mut h = Harness::new(Kind::Deployment, d, nodes(&[10]));
    let status = h.at(2_000);
    assert_eq!(count(&status, "readyReplicas"), 0);
    assert_eq!(condition(&status, "Progressing")["status"], "True");
    let deadline = h.sim.next_change(h.now).expect("the deadline is pending");
    assert!(deadline > 3_000 && deadline <= 3_001, "{deadline}");
    let status = h.at(deadline);
    assert_eq!(condition(&status, "Progressing")["status"], "False");
    assert_eq!(
        condition(&status, "Progressing")["reason"],
        "ProgressDeadlineExceeded"
    );
    assert_eq!(count(&status, "readyReplicas"), 0);
}

#[test]
fn a_bad_release_keeps_the_old_pods_serving() {
    let d = workload(
        "Deployment",
        "web",
        "nginx:1",
        json!({"replicas": 4, "progressDeadlineSeconds": 10}),
    );
    let mut h = Harness::new(Kind::Deployment, d, nodes(&[20]));
    h.at(STARTUP);
    h.update(|spec| spec["template"]["spec"]["containers"][0]["image"] = json!("nginx:bad"));
    let status = h.at(h.now + 20_000);
    // 25% of 4: one old pod may go, one new may surge; neither new gets ready.
    assert_eq!(count(&status, "availableReplicas"), 3);
    assert_eq!(count(&status, "updatedReplicas"), 2);
    assert_eq!(count(&status, "readyReplicas"), 3);
    assert_eq!(condition(&status, "Available")["status"], "True");
    assert_eq!(
        condition(&status, "Progressing")["reason"],
        "ProgressDeadlineExceeded"
    );

    // Rolling back to the good image finishes the rollout.
    h.update(|spec| spec["template"]["spec"]["containers"][0]["image"] = json!("nginx:1"));
    let status = h.at(h.now + STARTUP);
    let status = if count(&status, "availableReplicas") < 4 {
        h.at(h.now + STARTUP)
    } else {
        status
    };
    assert_eq!(count(&status, "availableReplicas"), 4);
    assert_eq!(
        condition(&status, "Progressing")["reason"],
        "NewReplicaSetAvailable"
    );
}

#[test]
fn paused_deployments_do_not_roll_out() {
    let d = workload("Deployment", "web", "nginx:1", json!({"replicas": 2}));
    let mut h = Harness::new(Kind::Deployment, d, nodes(&[10]));
    h.at(STARTUP);
    h.update(|spec| {
        spec["paused"] = json!(true);
        spec["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    });
    let status = h.at(h.now + 5 * STARTUP);
    assert_eq!(count(&status, "updatedReplicas"), 0);
    assert_eq!(
        condition(&status, "Progressing")["reason"],
        "DeploymentPaused"
    );
    h.update(|spec| spec["paused"] = json!(false));
    let mut status = h.object["status"].clone();
    for _ in 0..10 {
        status = h.at(h.now + STARTUP);
    }
    assert_eq!(count(&status, "updatedReplicas"), 2);
    assert_eq!(
        condition(&status, "Progressing")["reason"],
        "NewReplicaSetAvailable"
    );
}

#[test]
fn statefulsets_start_in_order_and_roll_from_the_top() {
    let s = workload("StatefulSet", "db", "pg:1", json!({"replicas": 3}));
    let mut h = Harness::new(Kind::StatefulSet, s, nodes(&[10]));
    let ordinals = |h: &Harness| {
        let mut o: Vec<u32> = h.pods().iter().map(|p| p.ordinal).collect();
        o.sort();
        o
    };
    assert_eq!(ordinals(&h), vec![0], "one pod at a time");
    h.at(STARTUP);
    assert_eq!(ordinals(&h), vec![0, 1]);
    h.at(2 * STARTUP);
    let status = h.at(3 * STARTUP);
    assert_eq!(ordinals(&h), vec![0, 1, 2]);
    assert_eq!(count(&status, "readyReplicas"), 3);
    assert_eq!(status["currentRevision"], status["updateRevision"]);

    h.update(|spec| spec["template"]["spec"]["containers"][0]["image"] = json!("pg:2"));
    let update = h.object["status"]["updateRevision"].clone();
    assert_ne!(h.object["status"]["currentRevision"], update);
    let newest = |h: &Harness| {
        let rev = h.pods().iter().map(|p| p.revision).max_by_key(|r| {
            h.pods()
                .iter()
                .filter(|p| p.revision == *r)
                .map(|p| p.ordinal)
                .max()
        });
        h.pods()
            .iter()
            .filter(|p| Some(p.revision) == rev)
            .map(|p| p.ordinal)
            .collect::<Vec<_>>()
    };
    assert_eq!(newest(&h), vec![2], "the highest ordinal is replaced first");
    let mut status = h.object["status"].clone();
    for _ in 0..6 {
        status = h.at(h.now + STARTUP);
    }
    assert_eq!(count(&status, "updatedReplicas"), 3);
    assert_eq!(status["currentRevision"], update);
}

#[test]
fn daemonsets_run_one_pod_per_matching_node() {
    let ds = workload("DaemonSet", "agent", "agent:1", json!({}));
    let mut h = Harness::new(Kind::DaemonSet, ds, nodes(&[5, 5, 5]));
    let status = h.at(STARTUP);
    assert_eq!(status["desiredNumberScheduled"], 3);
    assert_eq!(status["numberReady"], 3);
    h.update(|spec| spec["template"]["spec"]["nodeSelector"] = json!({"pool": "b"}));
    let status = h.at(h.now + STARTUP);
    assert_eq!(status["desiredNumberScheduled"], 2);
    let mut status = status;
    for _ in 0..4 {
        status = h.at(h.now + STARTUP);
    }
    assert_eq!(count(&status, "updatedNumberScheduled"), 2);
    assert_eq!(count(&status, "numberAvailable"), 2);
}

#[test]
fn jobs_complete_and_bad_jobs_fail_after_their_backoff_limit() {
    let job = workload(
        "Job",
        "batch",
        "worker:1",
        json!({"completions": 3, "parallelism": 2}),
    );
    let mut h = Harness::new(Kind::Job, job, nodes(&[10]));
    assert_eq!(count(&h.object["status"], "active"), 2);
    let mut status = h.object["status"].clone();
    for _ in 0..8 {
        let next = h.sim.next_change(h.now).unwrap_or(h.now + STARTUP);
        status = h.at(next);
    }
    assert_eq!(count(&status, "succeeded"), 3);
    assert_eq!(condition(&status, "Complete")["status"], "True");
    assert!(status["completionTime"].is_string());

    let bad = workload("Job", "crash", "worker:bad", json!({"backoffLimit": 2}));
    let mut h = Harness::new(Kind::Job, bad, nodes(&[10]));
    let mut status = h.object["status"].clone();
    for _ in 0..8 {
        status = h.at(h.now + STARTUP);
    }
    assert_eq!(
        count(&status, "failed"),
        3,
        "backoffLimit 2: the third failure ends it"
    );
    assert_eq!(
        condition(&status, "Failed")["reason"],
        "BackoffLimitExceeded"
    );
    assert_eq!(count(&status, "active"), 0);
}

#[test]
fn deleting_a_workload_frees_its_room() {
    let mut sim = Simulation::new(STARTUP);
    let nodes = nodes(&[4]);
    let a = workload("Deployment", "a", "x:1", json!({"replicas": 4}));
    let b = workload("Deployment", "b", "x:1", json!({"replicas": 2}));
    let objects = |both: bool| {
        let mut v = vec![(
            Kind::Deployment,
            "/apps/deployments/demo/b".to_string(),
            b.clone(),
        )];
        if both {
            v.insert(
                0,
                (
                    Kind::Deployment,
                    "/apps/deployments/demo/a".to_string(),
                    a.clone(),
                ),
            );
        }
        v
    };
    sim.sync(objects(true), 0);
    sim.step(&nodes, 0);
    assert_eq!(sim.scheduled_pods(), 4);
    sim.sync(objects(false), 100);
    sim.step(&nodes, 100);
    assert_eq!(sim.scheduled_pods(), 2, "b's pending pods get a's room");
}
