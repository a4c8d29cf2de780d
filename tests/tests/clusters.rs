//! Member clusters as separate processes (`kubectl-fed sim`), joined to a
//! federation with `kubectl-fed join`, probed by a `federation-controller`
//! process: Ready, latency, capacity, failure detection within the
//! thresholds, recovery, unjoin, validation, leader election.

use std::process::Command;
use std::time::{Duration, Instant};

use flotilla_e2e::{binary, free_port, ok, wait_for, ApiServer, ControllerProcess};
use serde_json::Value;

const PERIOD_S: u64 = 1;
const FAILURES: u64 = 2;

struct Federation {
    api: ApiServer,
    dir: tempfile::TempDir,
}

impl Federation {
    fn start() -> Self {
        Federation {
            api: ApiServer::start().expect("federation API server"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn controller(&self, identity: &str, extra: &[&str]) -> ControllerProcess {
        let mut args = vec!["--identity", identity];
        args.extend_from_slice(extra);
        ControllerProcess::start(
            &self.api.kubeconfig(),
            &args,
            &self.dir.path().join(format!("controller-{identity}.log")),
        )
        .expect("controller starts")
    }

    fn fed(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary("kubectl-fed"))
            .args(args)
            .arg("--federation-kubeconfig")
            .arg(self.api.kubeconfig())
            .output()
            .expect("kubectl-fed")
    }

    fn join(&self, name: &str, member: &ApiServer, region: &str) -> String {
        let out = self.fed(&[
            "join",
            name,
            "--kubeconfig",
            member.kubeconfig().to_str().expect("path"),
            "--region",
            region,
            "--probe-period-seconds",
            &PERIOD_S.to_string(),
            "--probe-timeout-seconds",
            "1",
            "--failure-threshold",
            &FAILURES.to_string(),
        ]);
        assert!(
            out.status.success(),
            "join {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn cluster(&self, name: &str) -> Value {
        self.api
            .https()
            .get(&format!("/apis/flotilla.io/v1alpha1/clusters/{name}"))
            .expect("GET cluster")
            .json()
    }
}

fn ready(cluster: &Value) -> String {
    cluster["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("none")
        .to_string()
}

fn probe_time(cluster: &Value) -> String {
    cluster["status"]["lastProbeTime"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn sim_on(name: &str, port: u16, capacity: &str) -> ApiServer {
    let listen = format!("127.0.0.1:{port}");
    ApiServer::start_sim(
        name,
        &[
            "--listen",
            &listen,
            "--capacity-pods",
            capacity,
            "--startup-delay-ms",
            "200",
        ],
    )
    .expect("member starts")
}

#[test]
fn members_join_turn_ready_fail_recover_and_unjoin() {
    let fed = Federation::start();
    let controller = fed.controller("only", &[]);
    let ports = [free_port(), free_port(), free_port()];
    let mut members = vec![
        sim_on("m1", ports[0], "30"),
        sim_on("m2", ports[1], "20"),
        sim_on("m3", ports[2], "10"),
    ];
    let mut join_output = String::new();
    for (i, region) in ["us-east", "eu-west", "ap-south"].iter().enumerate() {
        let out = fed.join(&format!("m{}", i + 1), &members[i], region);
        assert!(out.contains("joined"), "{out}");
        join_output.push_str(&out);
    }
    // A workload on m1 shows up as capacity in use.
    ok(members[0].kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1",
        "--replicas=4",
    ]));
    for name in ["m1", "m2", "m3"] {
        wait_for(Duration::from_secs(20), &format!("{name} Ready"), || {
            (ready(&fed.cluster(name)) == "True").then_some(())
        })
        .expect("every member turns Ready");
    }
    wait_for(Duration::from_secs(30), "m1 capacity in use", || {
        let c = fed.cluster("m1");
        (c["status"]["resourceSummary"]["allocatedPods"] == 4).then_some(c)
    })
    .expect("capacity reflects the workload");
    let m1 = fed.cluster("m1");
    let summary = &m1["status"]["resourceSummary"];
    assert_eq!(summary["allocatablePods"], 30);
    assert_eq!(summary["availablePods"], 26);
    let latency = &m1["status"]["latency"];
    assert!(
        latency["lastMs"].as_f64().is_some_and(|ms| ms > 0.0),
        "{latency}"
    );
    assert!(
        latency["p99Ms"].as_f64() >= latency["p50Ms"].as_f64(),
        "{latency}"
    );
    assert!(m1["status"]["kubernetesVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("v1.")));
    let table = ok(fed.api.kubectl(&["get", "clusters", "-o", "wide"]));
    let header: Vec<&str> = table
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME", "READY", "REGION", "ZONE", "LATENCY", "VERSION", "AGE", "P99", "ENDPOINT",
            "TAINTS", "CAPACITY"
        ]
    );
    assert!(table.contains("26/30 pods free"), "{table}");

    // Credentials stay in their Secret.
    let token = std::fs::read_to_string(members[0].data_dir.join("admin.token")).expect("token");
    let token = token.trim();
    assert!(
        !m1.to_string().contains(token),
        "the Cluster holds the member's token"
    );
    let secret = fed
        .api
        .https()
        .get("/api/v1/namespaces/flotilla-system/secrets/cluster-m1")
        .expect("secret");
    assert_eq!(secret.status, 200);

    // SIGKILL m2: it turns not Ready within period × failureThreshold + 1 s.
    let before: Vec<String> = ["m1", "m3"]
        .iter()
        .map(|n| probe_time(&fed.cluster(n)))
        .collect();
    let killed = Instant::now();
    members[1].kill9();
    let detected = wait_for(Duration::from_secs(20), "m2 not Ready", || {
        let c = fed.cluster("m2");
        (ready(&c) != "True").then_some(c)
    })
    .expect("m2 turns not Ready");
    let took = killed.elapsed();
    let limit = Duration::from_secs(PERIOD_S * FAILURES + 1);
    assert!(
        took <= limit + Duration::from_millis(300),
        "detection took {took:?} (limit {limit:?})"
    );
    assert_eq!(ready(&detected), "Unknown");
    let condition = &detected["status"]["conditions"][0];
    assert_eq!(condition["reason"], "ClusterNotReachable");
    assert!(detected["spec"]["taints"]
        .to_string()
        .contains("cluster.flotilla.io/unreachable"));
    // The others stayed Ready and kept being probed on time.
    std::thread::sleep(Duration::from_secs(PERIOD_S * 2));
    for (i, name) in ["m1", "m3"].iter().enumerate() {
        let c = fed.cluster(name);
        assert_eq!(ready(&c), "True", "{name} stays Ready");
        assert_ne!(probe_time(&c), before[i], "{name} is still probed");
        let last = chrono_ms(&probe_time(&c));
        let age = now_ms() - last;
        assert!(
            age < 1000 * PERIOD_S as i64 + 600,
            "{name} last probed {age} ms ago"
        );
    }

    assert!(!join_output.contains(token), "join printed a token");
    for member in &members {
        let token = std::fs::read_to_string(member.data_dir.join("admin.token")).expect("token");
        assert!(
            !controller.log().contains(token.trim()),
            "the controller logged a token"
        );
    }

    // Restarting m2 (same port, same credentials) makes it Ready again.
    members[1].launch().expect("m2 restarts");
    wait_for(Duration::from_secs(20), "m2 Ready again", || {
        let c = fed.cluster("m2");
        (ready(&c) == "True").then_some(c)
    })
    .map(|c| {
        assert!(
            !c["spec"]["taints"].to_string().contains("unreachable"),
            "taint removed"
        )
    })
    .expect("m2 recovers");

    // Unjoin removes the Cluster and its Secret.
    let out = fed.fed(&["unjoin", "m3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let https = fed.api.https();
    assert_eq!(
        https
            .get("/apis/flotilla.io/v1alpha1/clusters/m3")
            .expect("get")
            .status,
        404
    );
    assert_eq!(
        https
            .get("/api/v1/namespaces/flotilla-system/secrets/cluster-m3")
            .expect("get")
            .status,
        404
    );
    let again = fed.fed(&["unjoin", "m3"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no cluster named m3"));
    let twice = fed.fed(&[
        "join",
        "m1",
        "--kubeconfig",
        members[0].kubeconfig().to_str().expect("p"),
    ]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already joined"));
}

fn chrono_ms(rfc3339: &str) -> i64 {
    let out = Command::new("date")
        .args(["-d", rfc3339, "+%s%3N"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[test]
fn invalid_clusters_are_refused_with_422() {
    let fed = Federation::start();
    let apply = |spec: &str| {
        let manifest = format!(
            "apiVersion: flotilla.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: bad\nspec:\n{spec}"
        );
        fed.api.kubectl_stdin(&["apply", "-f", "-"], &manifest)
    };
    let cases = [
        ("  apiEndpoint: http://10.0.0.1:6443\n  secretRef: {namespace: flotilla-system, name: s}\n", "spec.apiEndpoint"),
        ("  apiEndpoint: https://\n  secretRef: {namespace: flotilla-system, name: s}\n", "spec.apiEndpoint"),
        ("  apiEndpoint: https://10.0.0.1:6443\n", "secretRef"),
        (
            "  apiEndpoint: https://10.0.0.1:6443\n  secretRef: {namespace: flotilla-system, name: s}\n  health: {periodSeconds: -5}\n",
            "periodSeconds",
        ),
        (
            "  apiEndpoint: https://10.0.0.1:6443\n  secretRef: {namespace: flotilla-system, name: s}\n  health: {failureThreshold: 0}\n",
            "failureThreshold",
        ),
    ];
    for (spec, field) in cases {
        let out = apply(spec);
        assert!(!out.status.success(), "accepted:\n{spec}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // kubectl words a 422 with details as `The Cluster "bad" is invalid: ...`.
        assert!(
            stderr.contains("is invalid") && stderr.contains(field),
            "{stderr}"
        );
    }
    assert_eq!(
        fed.api
            .https()
            .get("/apis/flotilla.io/v1alpha1/clusters/bad")
            .expect("get")
            .status,
        404,
        "nothing stored"
    );
    // A duplicate name is refused as in Kubernetes: AlreadyExists.
    let good = "apiVersion: flotilla.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: dup\nspec:\n  apiEndpoint: https://10.0.0.1:6443\n  secretRef: {namespace: flotilla-system, name: s}\n";
    ok(fed.api.kubectl_stdin(&["create", "-f", "-"], good));
    let out = fed.api.kubectl_stdin(&["create", "-f", "-"], good);
    assert!(String::from_utf8_lossy(&out.stderr).contains("AlreadyExists"));
    // No CRD may take Flotilla's group.
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.flotilla.io\nspec:\n  group: flotilla.io\n  names: {kind: Thing, plural: things}\n  scope: Cluster\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object}}\n";
    let out = fed.api.kubectl_stdin(&["create", "-f", "-"], crd);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Flotilla's own kinds"));
}

#[test]
fn two_controller_replicas_elect_one_leader_and_fail_over() {
    let fed = Federation::start();
    let lease = [
        "--lease-duration-seconds",
        "4",
        "--lease-renew-seconds",
        "1",
    ];
    let mut a = fed.controller("replica-a", &lease);
    let lease_holder = |fed: &Federation| {
        fed.api
            .https()
            .get("/apis/coordination.k8s.io/v1/namespaces/flotilla-system/leases/flotilla-controller-manager")
            .ok()
            .filter(|r| r.status == 200)
            .and_then(|r| r.json()["spec"]["holderIdentity"].as_str().map(str::to_string))
    };
    wait_for(Duration::from_secs(20), "replica-a leads", || {
        (lease_holder(&fed).as_deref() == Some("replica-a")).then_some(())
    })
    .expect("the first replica takes the lease");
    let b = fed.controller("replica-b", &lease);
    let member = sim_on("solo", free_port(), "10");
    fed.join("solo", &member, "us-east");
    wait_for(Duration::from_secs(20), "solo Ready", || {
        (ready(&fed.cluster("solo")) == "True").then_some(())
    })
    .expect("solo turns Ready");
    // Only the leader writes: over several periods every status is a's.
    for _ in 0..4 {
        let c = fed.cluster("solo");
        assert_eq!(c["status"]["probedBy"], "replica-a", "{}", b.log());
        std::thread::sleep(Duration::from_millis(700));
    }
    assert_eq!(lease_holder(&fed).as_deref(), Some("replica-a"));

    // Kill the leader: b takes over within the lease duration (plus its poll).
    let killed = Instant::now();
    a.kill9();
    wait_for(Duration::from_secs(15), "replica-b leads", || {
        (lease_holder(&fed).as_deref() == Some("replica-b")).then_some(())
    })
    .expect("the second replica takes over");
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_millis(4000 + 500),
        "takeover took {took:?}"
    );
    wait_for(Duration::from_secs(10), "b probes", || {
        (fed.cluster("solo")["status"]["probedBy"] == "replica-b").then_some(())
    })
    .expect("the new leader probes");
}
