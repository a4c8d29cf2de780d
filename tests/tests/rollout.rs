//! Cross-cluster rollouts against a `kubectl fed up`-style federation:
//! `ClusterByCluster` with `maxConcurrentClusters: 1` never has two member
//! copies mid-update at the same moment, waits `soakSeconds` between them,
//! and completes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flotilla_e2e::{ok, wait_for, FedUp};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);
const MEMBERS: [&str; 3] = ["member-1", "member-2", "member-3"];

/// Whether a member copy is mid-update to `image`: it has the new spec but
/// does not yet run all its replicas of it, updated and available.
fn mid_update(copy: &Value, image: &str) -> bool {
    let new = copy["spec"]["template"]["spec"]["containers"][0]["image"] == image;
    let want = copy["spec"]["replicas"].as_i64().unwrap_or(1);
    let status = &copy["status"];
    let count = |f: &str| status[f].as_i64().unwrap_or(0);
    let settled = status["observedGeneration"] == copy["metadata"]["generation"]
        && count("updatedReplicas") == want
        && count("availableReplicas") == want
        && count("readyReplicas") == want
        && count("replicas") == want;
    new && !settled
}

#[test]
fn cluster_by_cluster_updates_one_member_at_a_time() {
    let up = FedUp::start_ready(3, 700);
    let yaml = "apiVersion: v1\nkind: Namespace\nmetadata: {name: waves}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: waves}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: app, image: \"nginx:1.27\"}]\n---\napiVersion: flotilla.io/v1alpha1\nkind: PropagationPolicy\nmetadata: {name: web, namespace: waves}\nspec:\n  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]\n  rollout: {strategy: ClusterByCluster, maxConcurrentClusters: 1, soakSeconds: 2}\n";
    up.apply(yaml);
    ok(up.kubectl(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "waves",
        "--timeout=60s",
    ]));
    let clients: Vec<_> = MEMBERS
        .iter()
        .map(|m| up.https(m).expect("a member client"))
        .collect();
    let federation = up.https("flotilla").expect("a federation client");
    let binding = "/apis/flotilla.io/v1alpha1/namespaces/waves/resourcebindings/web-deployment";
    let phase = || {
        federation
            .get(binding)
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.json()["status"]["rollout"].clone())
            .unwrap_or(Value::Null)
    };
    let done = AtomicBool::new(false);
    let phases = std::sync::Mutex::new(BTreeSet::new());
    let (samples, rolled) = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if let Some(p) = phase()["phase"].as_str() {
                    phases.lock().expect("phases").insert(p.to_string());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let sampler = s.spawn(|| {
            let mut samples: Vec<(Instant, BTreeSet<&str>)> = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let busy: BTreeSet<&str> = MEMBERS
                    .iter()
                    .zip(&clients)
                    .filter(|(_, c)| {
                        c.get("/apis/apps/v1/namespaces/waves/deployments/web")
                            .ok()
                            .filter(|r| r.status == 200)
                            .is_some_and(|r| mid_update(&r.json(), "nginx:1.28"))
                    })
                    .map(|(m, _)| *m)
                    .collect();
                samples.push((Instant::now(), busy));
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        });
        ok(up.kubectl(&[
            "set",
            "image",
            "deployment/web",
            "-n",
            "waves",
            "app=nginx:1.28",
        ]));
        // kubectl at the federation waits for the whole cross-cluster rollout.
        let rolled = up.kubectl(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "waves",
            "--timeout=90s",
        ]);
        done.store(true, Ordering::SeqCst);
        (sampler.join().expect("sampler"), rolled)
    });
    assert!(
        rolled.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&rolled.stderr),
        up.log()
    );
    let sets: Vec<&BTreeSet<&str>> = samples.iter().map(|(_, s)| s).collect();
    let most = sets.iter().map(|s| s.len()).max().unwrap_or(0);
    assert!(most <= 1, "two members mid-update at once: {sets:?}");
    // The sampler did see each member's own update, one after the other,
    // with the soak (2 s) between the end of one and the start of the next.
    let seen: BTreeSet<&str> = sets.iter().copied().flatten().copied().collect();
    assert_eq!(seen.len(), 3, "{sets:?}");
    let span = |m: &str| {
        let times: Vec<Instant> = samples
            .iter()
            .filter(|(_, s)| s.contains(m))
            .map(|(t, _)| *t)
            .collect();
        (times[0], times[times.len() - 1])
    };
    let mut spans: Vec<(Instant, Instant)> = MEMBERS.iter().map(|m| span(m)).collect();
    spans.sort();
    for pair in spans.windows(2) {
        let gap = pair[1].0.saturating_duration_since(pair[0].1);
        assert!(
            gap >= Duration::from_millis(1500),
            "the next member started {gap:?} after the last one settled: {sets:?}"
        );
    }
    // The binding told the rollout's story: Progressing, then Complete with
    // every cluster Done on the new revision.
    assert!(
        phases.lock().expect("phases").contains("Progressing"),
        "{phases:?}"
    );
    wait_for(DEADLINE, "the binding's rollout Complete", || {
        let r = phase();
        (r["phase"] == "Complete").then_some(r)
    })
    .map(|r| {
        let states: Vec<&str> = r["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .map(|c| c["state"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(states, ["Done", "Done", "Done"], "{r}");
        assert_eq!(r["revision"], 2, "{r}");
    })
    .unwrap_or_else(|e| panic!("{e}: {}", phase()));
    for c in &clients {
        let copy = c
            .get("/apis/apps/v1/namespaces/waves/deployments/web")
            .expect("the copy")
            .json();
        assert_eq!(
            copy["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.28"
        );
        assert!(!mid_update(&copy, "nginx:1.28"), "{copy}");
    }
}

#[test]
fn a_canary_that_never_gets_ready_fails_the_rollout_and_nobody_else_sees_it() {
    let up = FedUp::start_ready(3, 300);
    let yaml = "apiVersion: v1\nkind: Namespace\nmetadata: {name: canary}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: canary}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: app, image: \"nginx:1.27\"}]\n---\napiVersion: flotilla.io/v1alpha1\nkind: PropagationPolicy\nmetadata: {name: api, namespace: canary}\nspec:\n  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: api}]\n  rollout: {strategy: Canary, canaryClusters: [member-2], progressDeadlineSeconds: 3}\n";
    up.apply(yaml);
    ok(up.kubectl(&[
        "rollout",
        "status",
        "deployment/api",
        "-n",
        "canary",
        "--timeout=60s",
    ]));
    let image = |m: &str| {
        let c = up.https(m).expect("a member client");
        c.get("/apis/apps/v1/namespaces/canary/deployments/api")
            .ok()
            .map(|r| r.json()["spec"]["template"]["spec"]["containers"][0]["image"].clone())
    };
    // A release whose pods never get ready.
    ok(up.kubectl(&[
        "set",
        "image",
        "deployment/api",
        "-n",
        "canary",
        "app=nginx:bad",
    ]));
    let federation = up.https("flotilla").expect("a federation client");
    let rollout = || {
        federation
            .get("/apis/flotilla.io/v1alpha1/namespaces/canary/resourcebindings/api-deployment")
            .ok()
            .map(|r| r.json()["status"]["rollout"].clone())
            .unwrap_or(Value::Null)
    };
    let failed = wait_for(DEADLINE, "the rollout Failed", || {
        for m in ["member-1", "member-3"] {
            assert_eq!(
                image(m),
                Some(Value::from("nginx:1.27")),
                "{m} got the bad release"
            );
        }
        let r = rollout();
        (r["phase"] == "Failed").then_some(r)
    })
    .unwrap_or_else(|e| panic!("{e}: {}\n{}", rollout(), up.log()));
    let state = |name: &str| {
        failed["clusters"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == name))
            .map(|c| c["state"].clone())
    };
    assert_eq!(state("member-2"), Some(Value::from("Failed")), "{failed}");
    assert_eq!(state("member-1"), Some(Value::from("Pending")), "{failed}");
    assert_eq!(image("member-2"), Some(Value::from("nginx:bad")));
    for m in ["member-1", "member-3"] {
        assert_eq!(image(m), Some(Value::from("nginx:1.27")), "{m}");
    }

    // The failed canary leaves the placement (drained): the stop is final
    // for this revision, so the others still never get it.
    let drained = up.fed(&["drain", "member-2", "--timeout", "60s"]);
    assert!(
        drained.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&drained.stderr),
        up.log()
    );
    let held = wait_for(DEADLINE, "the binding without member-2", || {
        let r = rollout();
        let names: Vec<&str> = r["clusters"]
            .as_array()?
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        (names == ["member-1", "member-3"]).then_some(r)
    })
    .unwrap_or_else(|e| panic!("{e}: {}\n{}", rollout(), up.log()));
    assert_eq!(held["phase"], "Failed", "{held}");
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        for m in ["member-1", "member-3"] {
            assert_eq!(
                image(m),
                Some(Value::from("nginx:1.27")),
                "{m} got the bad release after the canary left"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
