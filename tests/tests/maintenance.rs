//! Cluster maintenance against `kubectl fed up`-style federations:
//! `kubectl fed drain` moves a Divided workload off a member without its
//! federated ready count ever dropping below desired, refuses when the
//! other members lack room, and `uncordon` ends it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flotilla_e2e::{ok, wait_for, FedUp};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);

fn workload(name: &str, replicas: u32, placement: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: ops}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: ops}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: app, image: nginx:1.27}}]\n---\napiVersion: flotilla.io/v1alpha1\nkind: PropagationPolicy\nmetadata: {{name: {name}, namespace: ops}}\nspec:\n  resourceSelectors: [{{apiVersion: apps/v1, kind: Deployment, name: {name}}}]\n  placement:\n{placement}"
    )
}

fn copy_replicas(up: &FedUp, member: &str, name: &str) -> Option<i64> {
    let out = up.kubectl(&[
        "--context",
        member,
        "get",
        "deployment",
        name,
        "-n",
        "ops",
        "-o",
        "json",
    ]);
    if !out.status.success() {
        return None;
    }
    let d: Value = serde_json::from_slice(&out.stdout).ok()?;
    d["spec"]["replicas"].as_i64()
}

fn cluster(up: &FedUp, name: &str) -> Value {
    let out = ok(up.kubectl(&["get", "cluster", name, "-o", "json"]));
    serde_json::from_str(&out).expect("a Cluster")
}

#[test]
fn drain_moves_a_divided_workload_without_dropping_below_desired() {
    let up = FedUp::start_ready(3, 300);
    let weights = "    replicaScheduling:\n      replicaSchedulingType: Divided\n      weightPreference:\n        staticWeightList:\n        - {targetCluster: {clusterNames: [member-1]}, weight: 1}\n        - {targetCluster: {clusterNames: [member-2]}, weight: 2}\n        - {targetCluster: {clusterNames: [member-3]}, weight: 2}\n";
    up.apply(&workload("web", 10, weights));
    wait_for(DEADLINE, "web at 2/4/4", || {
        let r: Vec<Option<i64>> = ["member-1", "member-2", "member-3"]
            .iter()
            .map(|m| copy_replicas(&up, m, "web"))
            .collect();
        (r == [Some(2), Some(4), Some(4)]).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log()));
    ok(up.kubectl(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "ops",
        "--timeout=60s",
    ]));

    // The federated ready count, sampled every 200 ms while the drain runs.
    let https = up.https("flotilla").expect("a client");
    let done = AtomicBool::new(false);
    let (samples, out) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut samples = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let ready = https
                    .get("/apis/apps/v1/namespaces/ops/deployments/web")
                    .ok()
                    .filter(|r| r.status == 200)
                    .and_then(|r| r.json()["status"]["readyReplicas"].as_i64());
                samples.push(ready);
                std::thread::sleep(Duration::from_millis(200));
            }
            samples
        });
        let out = up.fed(&["drain", "member-2", "--timeout", "90s"]);
        done.store(true, Ordering::SeqCst);
        (sampler.join().expect("sampler"), out)
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "drain failed: {}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr),
        up.log()
    );
    assert!(stdout.contains("cluster/member-2 drained"), "{stdout}");
    assert!(samples.len() >= 3, "{samples:?}");
    let lowest = samples.iter().map(|s| s.unwrap_or(0)).min();
    assert!(
        lowest >= Some(10),
        "ready replicas dropped below 10 during the drain: {samples:?}"
    );
    // member-2 is empty; the others run all 10.
    assert_eq!(copy_replicas(&up, "member-2", "web"), None);
    let rest: i64 = ["member-1", "member-3"]
        .iter()
        .map(|m| copy_replicas(&up, m, "web").unwrap_or(0))
        .sum();
    assert_eq!(rest, 10);
    let drained = cluster(&up, "member-2");
    assert_eq!(drained["spec"]["unschedulable"], true);

    // Uncordon ends the drain: member-2 is schedulable again.
    let out = up.fed(&["uncordon", "member-2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = cluster(&up, "member-2");
    assert_ne!(back["spec"]["unschedulable"], true, "{back}");
    assert!(
        back["metadata"]["annotations"]
            .get("flotilla.io/drain")
            .is_none(),
        "{back}"
    );
    up.apply(&workload(
        "after",
        1,
        "    clusterAffinity: {clusterNames: [member-2]}\n",
    ));
    wait_for(DEADLINE, "a new copy on member-2", || {
        copy_replicas(&up, "member-2", "after").map(|_| ())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log()));
}

#[test]
fn drain_refuses_when_the_others_lack_room() {
    // member-1 holds 100 pods, member-2 80.
    let up = FedUp::start_ready(2, 300);
    up.apply(
        &workload(
            "big",
            90,
            "    clusterAffinity: {clusterNames: [member-1]}\n    replicaScheduling: {replicaSchedulingType: Divided}\n",
        ),
    );
    wait_for(DEADLINE, "big on member-1", || {
        (copy_replicas(&up, "member-1", "big") == Some(90)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log()));
    let out = up.fed(&["drain", "member-1", "--timeout", "10s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "drain should refuse");
    assert!(
        stderr.contains("cannot drain member-1") && stderr.contains("90 replicas"),
        "{stderr}"
    );
    // Refused: nothing changed.
    let member = cluster(&up, "member-1");
    assert_ne!(member["spec"]["unschedulable"], true, "{member}");
    assert_eq!(copy_replicas(&up, "member-1", "big"), Some(90));
}
