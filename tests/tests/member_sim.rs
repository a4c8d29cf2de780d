//! A simulated member cluster (`kubectl-fed sim`) as its own process: it
//! serves kubectl like any cluster, runs workloads to ready in seconds
//! within its pod capacity, never readies a `bad` image, and plays every
//! fault mode until healed.

use std::time::{Duration, Instant};

use flotilla_e2e::{ok, wait_for, ApiServer};
use serde_json::Value;

const STARTUP_MS: &str = "300";

fn sim(name: &str, capacity: &str) -> ApiServer {
    ApiServer::start_sim(
        name,
        &[
            "--capacity-pods",
            capacity,
            "--startup-delay-ms",
            STARTUP_MS,
            "--region",
            "eu-west",
            "--zone",
            "eu-west-b",
        ],
    )
    .expect("the simulated member starts")
}

fn deployment(name: &str, replicas: u32, image: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
spec:
  replicas: {replicas}
  {extra_spec}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: {image}
"#
    )
}

fn get_json(member: &ApiServer, args: &[&str]) -> Value {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&ok(member.kubectl(&full))).expect("kubectl JSON")
}

fn condition<'a>(object: &'a Value, type_: &str) -> &'a Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

#[test]
fn a_member_serves_kubectl_and_runs_workloads_to_ready() {
    let member = sim("edge-1", "30");
    // Nodes carry the capacity, region and zone.
    let nodes = get_json(&member, &["nodes"]);
    let items = nodes["items"].as_array().expect("nodes");
    assert_eq!(items.len(), 3);
    let pods: u64 = items
        .iter()
        .map(|n| {
            n["status"]["allocatable"]["pods"]
                .as_str()
                .and_then(|p| p.parse::<u64>().ok())
                .expect("allocatable pods")
        })
        .sum();
    assert_eq!(pods, 30);
    assert!(items.iter().all(|n| {
        n["metadata"]["labels"]["topology.kubernetes.io/region"] == "eu-west"
            && n["metadata"]["labels"]["topology.kubernetes.io/zone"] == "eu-west-b"
    }));
    let table = ok(member.kubectl(&["get", "nodes"]));
    assert!(
        table.starts_with("NAME") && table.contains("Ready"),
        "{table}"
    );
    assert_eq!(
        ok(member.kubectl(&["config", "current-context"])).trim(),
        "edge-1",
        "the kubeconfig's context is the member's name"
    );

    // A Deployment reaches ready in seconds; rollout status agrees.
    ok(member.kubectl_stdin(
        &["apply", "-f", "-"],
        &deployment("web", 4, "nginx:1.27", ""),
    ));
    let started = Instant::now();
    let out = ok(member.kubectl(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "default",
        "--timeout=30s",
    ]));
    assert!(out.contains("successfully rolled out"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let web = get_json(&member, &["deployment", "web", "-n", "default"]);
    assert_eq!(web["status"]["readyReplicas"], 4);
    assert_eq!(web["status"]["availableReplicas"], 4);
    assert_eq!(
        web["status"]["observedGeneration"],
        web["metadata"]["generation"]
    );
    assert_eq!(condition(&web, "Available")["status"], "True");

    // A new image rolls out too, and observedGeneration follows.
    ok(member.kubectl(&[
        "set",
        "image",
        "deployment/web",
        "app=nginx:1.28",
        "-n",
        "default",
    ]));
    let out = ok(member.kubectl(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "default",
        "--timeout=30s",
    ]));
    assert!(out.contains("successfully rolled out"), "{out}");
    let web = get_json(&member, &["deployment", "web", "-n", "default"]);
    assert_eq!(web["status"]["updatedReplicas"], 4);
    assert_eq!(web["metadata"]["generation"], 2);
    assert_eq!(web["status"]["observedGeneration"], 2);

    // A Job runs to completion.
    ok(member.kubectl(&[
        "create",
        "job",
        "once",
        "--image=busybox:1",
        "-n",
        "default",
    ]));
    ok(member.kubectl(&[
        "wait",
        "--for=condition=Complete",
        "job/once",
        "-n",
        "default",
        "--timeout=30s",
    ]));
    let job = get_json(&member, &["job", "once", "-n", "default"]);
    assert_eq!(job["status"]["succeeded"], 1);
}

#[test]
fn capacity_bounds_readiness() {
    let member = sim("small", "4");
    ok(member.kubectl_stdin(&["apply", "-f", "-"], &deployment("big", 6, "nginx:1", "")));
    let ready = |member: &ApiServer| {
        get_json(member, &["deployment", "big", "-n", "default"])["status"]["readyReplicas"]
            .as_i64()
            .unwrap_or(0)
    };
    wait_for(Duration::from_secs(20), "4 of 6 replicas ready", || {
        (ready(&member) == 4).then_some(())
    })
    .expect("the member's 4 pods of room fill up");
    // Several startup delays later, still no more than the room allows.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        assert!(
            ready(&member) <= 4,
            "more replicas ready than the member has room for"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let big = get_json(&member, &["deployment", "big", "-n", "default"]);
    assert_eq!(big["status"]["replicas"], 6);
    assert_eq!(big["status"]["unavailableReplicas"], 2);
    assert_eq!(condition(&big, "Available")["status"], "False");

    // Scaling down to what fits makes it available; the room is shared.
    ok(member.kubectl(&["scale", "deployment/big", "--replicas=3", "-n", "default"]));
    ok(member.kubectl_stdin(
        &["apply", "-f", "-"],
        &deployment("other", 2, "nginx:1", ""),
    ));
    wait_for(Duration::from_secs(20), "big available", || {
        let big = get_json(&member, &["deployment", "big", "-n", "default"]);
        (condition(&big, "Available")["status"] == "True").then_some(())
    })
    .expect("big becomes available");
    wait_for(
        Duration::from_secs(20),
        "other gets the last pod of room",
        || {
            let other = get_json(&member, &["deployment", "other", "-n", "default"]);
            (other["status"]["readyReplicas"] == 1).then_some(())
        },
    )
    .expect("one pod of room is left for other");
}

#[test]
fn a_bad_image_never_becomes_ready_and_exceeds_its_progress_deadline() {
    let member = sim("flaky", "20");
    ok(member.kubectl_stdin(
        &["apply", "-f", "-"],
        &deployment(
            "crash",
            2,
            "registry.example/app:bad",
            "progressDeadlineSeconds: 2",
        ),
    ));
    let started = Instant::now();
    let out = member.kubectl(&[
        "rollout",
        "status",
        "deployment/crash",
        "-n",
        "default",
        "--timeout=30s",
    ]);
    assert!(!out.status.success(), "rollout status must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exceeded its progress deadline"),
        "{stderr}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before the deadline"
    );
    let crash = get_json(&member, &["deployment", "crash", "-n", "default"]);
    assert_eq!(crash["status"]["readyReplicas"].as_i64().unwrap_or(0), 0);
    let progressing = condition(&crash, "Progressing");
    assert_eq!(progressing["status"], "False");
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
}

fn fault(member: &ApiServer, args: &[&str]) -> String {
    let out = std::process::Command::new(flotilla_e2e::binary("kubectl-fed"))
        .args(["sim", "fault", "chaos"])
        .args(args)
        .arg("--data-dir")
        .arg(&member.data_dir)
        .output()
        .expect("kubectl-fed sim fault");
    assert!(
        out.status.success(),
        "sim fault {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_fault_mode_and_heal() {
    let member = sim("chaos", "10");
    let https = member.https();
    let healthy = |https: &flotilla_e2e::Https| {
        https
            .get_within("/readyz", Duration::from_secs(2))
            .is_ok_and(|r| r.status == 200)
    };
    assert!(healthy(&https));
    let addr: std::net::SocketAddr = member.addr.parse().expect("addr");

    // down: connections are refused.
    assert!(fault(&member, &["--mode", "down"]).contains("down"));
    wait_for(Duration::from_secs(5), "connections refused", || {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(()),
            _ => None,
        }
    })
    .expect("a down member refuses connections");
    fault(&member, &["--mode", "heal"]);
    wait_for(Duration::from_secs(5), "service back", || {
        healthy(&https).then_some(())
    })
    .expect("heal restores a down member");

    // partition: connections are accepted but nothing answers.
    fault(&member, &["--mode", "partition"]);
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok(),
        "a partitioned member still accepts TCP connections"
    );
    let hung = https.get_within("/readyz", Duration::from_millis(1500));
    assert!(
        hung.is_err(),
        "a partitioned member answered: {:?}",
        hung.map(|r| r.status)
    );
    fault(&member, &["--mode", "heal"]);
    assert!(healthy(&https), "heal restores a partitioned member");

    // latency: every request takes at least the added delay.
    fault(&member, &["--mode", "latency", "--latency-ms", "400"]);
    let started = Instant::now();
    let r = https.get("/api/v1/namespaces").expect("answered");
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    fault(&member, &["--mode", "heal"]);
    let started = Instant::now();
    https.get("/api/v1/namespaces").expect("answered");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "latency healed"
    );

    // errors: a share of requests get a 500 Status.
    fault(&member, &["--mode", "errors", "--error-rate", "1"]);
    let r = https.get("/api/v1/namespaces").expect("answered");
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["kind"], "Status");
    assert_eq!(r.json()["reason"], "InternalError");
    fault(&member, &["--mode", "errors", "--error-rate", "0.5"]);
    let codes: Vec<u16> = (0..60)
        .map(|_| https.get("/readyz").expect("answered").status)
        .collect();
    assert!(codes.contains(&200) && codes.contains(&500), "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 500));
    fault(&member, &["--mode", "heal"]);
    assert!((0..20).all(|_| https.get("/readyz").expect("answered").status == 200));

    // Mistakes get clear errors.
    let out = std::process::Command::new(flotilla_e2e::binary("kubectl-fed"))
        .args(["sim", "fault", "nobody", "--mode", "down", "--data-dir"])
        .arg(&member.data_dir)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no simulated member named \"nobody\"") && stderr.contains("chaos"),
        "{stderr}"
    );
}

#[test]
fn with_pods_the_simulated_pods_are_objects_too() {
    let member = ApiServer::start_sim(
        "podded",
        &[
            "--capacity-pods",
            "3",
            "--startup-delay-ms",
            STARTUP_MS,
            "--pods",
        ],
    )
    .expect("member starts");
    ok(member.kubectl_stdin(&["apply", "-f", "-"], &deployment("web", 4, "nginx:1", "")));
    let pods = |member: &ApiServer| {
        get_json(member, &["pods", "-n", "default", "-l", "app=web"])["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let running = wait_for(
        Duration::from_secs(20),
        "3 running pods and 1 pending",
        || {
            let items = pods(&member);
            let phase = |p: &str| items.iter().filter(|i| i["status"]["phase"] == p).count();
            (items.len() == 4 && phase("Running") == 3 && phase("Pending") == 1).then_some(items)
        },
    )
    .expect("pods follow the simulation");
    for pod in &running {
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Deployment");
        assert!(pod["metadata"]["labels"]["pod-template-hash"].is_string());
    }
    let pending = running
        .iter()
        .find(|p| p["status"]["phase"] == "Pending")
        .expect("a pending pod");
    assert_eq!(
        pending["status"]["conditions"][0]["reason"],
        "Unschedulable"
    );
    let table = ok(member.kubectl(&["get", "pods", "-n", "default"]));
    assert!(
        table.contains("1/1") && table.contains("Running"),
        "{table}"
    );

    // Scaling down removes pods; deleting the Deployment removes the rest.
    ok(member.kubectl(&["scale", "deployment/web", "--replicas=1", "-n", "default"]));
    wait_for(Duration::from_secs(20), "one pod left", || {
        (pods(&member).len() == 1).then_some(())
    })
    .expect("scale down removes pods");
    ok(member.kubectl(&["delete", "deployment", "web", "-n", "default"]));
    wait_for(Duration::from_secs(20), "no pods left", || {
        pods(&member).is_empty().then_some(())
    })
    .expect("deleting the workload removes its pods");
}
