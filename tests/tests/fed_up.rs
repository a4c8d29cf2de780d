//! `kubectl fed up`: a federation with simulated members in one process,
//! one kubeconfig with a context for each, clean Ctrl-C, and restarts that
//! keep the federation's data.

use std::time::Duration;

use flotilla_e2e::{ok, wait_for, FedUp};

#[test]
fn up_runs_three_members_and_restarts_with_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut up = FedUp::start_in(dir.path(), &["--members", "3", "--startup-delay-ms", "200"])
        .expect("kubectl fed up starts");
    assert!(
        up.startup < Duration::from_secs(10),
        "up took {:?} to become ready",
        up.startup
    );
    let line = up.ready_line.clone();
    for expected in [
        "member-1 us-east",
        "member-2 eu-west",
        "member-3 ap-south",
        "KUBECONFIG=",
    ] {
        assert!(
            line.contains(expected),
            "ready line lacks {expected:?}: {line}"
        );
    }

    // One kubeconfig: the federation is the current context, members have theirs.
    let contexts = ok(up.kubectl(&["config", "get-contexts", "-o", "name"]));
    let mut names: Vec<&str> = contexts.lines().collect();
    names.sort();
    assert_eq!(names, ["flotilla", "member-1", "member-2", "member-3"]);
    assert_eq!(
        ok(up.kubectl(&["config", "current-context"])).trim(),
        "flotilla"
    );
    let federation_nodes = up.kubectl(&["get", "nodes"]);
    assert!(
        !federation_nodes.status.success(),
        "the federation itself runs nothing, so it serves no nodes"
    );
    let mut capacities = Vec::new();
    for (member, region) in [
        ("member-1", "us-east"),
        ("member-2", "eu-west"),
        ("member-3", "ap-south"),
    ] {
        let nodes: serde_json::Value = serde_json::from_str(&ok(up.kubectl(&[
            "--context",
            member,
            "get",
            "nodes",
            "-o",
            "json",
        ])))
        .expect("json");
        let items = nodes["items"].as_array().expect("items");
        assert!(!items.is_empty());
        assert!(items
            .iter()
            .all(|n| n["metadata"]["labels"]["topology.kubernetes.io/region"] == region));
        let room: u64 = items
            .iter()
            .filter_map(|n| {
                n["status"]["allocatable"]["pods"]
                    .as_str()?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        capacities.push(room);
    }
    capacities.sort();
    capacities.dedup();
    assert_eq!(capacities.len(), 3, "members have distinct capacities");

    // Members run workloads; the federation keeps what it is given.
    ok(up.kubectl(&[
        "--context",
        "member-2",
        "create",
        "deployment",
        "web",
        "--image=nginx:1",
        "--replicas=2",
    ]));
    ok(up.kubectl(&[
        "--context",
        "member-2",
        "rollout",
        "status",
        "deployment/web",
        "--timeout=30s",
    ]));
    ok(up.kubectl(&["create", "configmap", "kept", "--from-literal=answer=42"]));

    // Faults reach members through the data dir.
    let out = up.fault("member-3", &["--mode", "down"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let member3 = up.https("member-3").expect("member-3 client");
    wait_for(Duration::from_secs(5), "member-3 down", || {
        member3
            .get_within("/readyz", Duration::from_secs(1))
            .is_err()
            .then_some(())
    })
    .expect("member-3 goes down");
    let member1 = up.https("member-1").expect("member-1 client");
    assert_eq!(
        member1.get("/readyz").expect("member-1 answers").status,
        200
    );
    assert!(up.fault("member-3", &["--mode", "heal"]).status.success());
    wait_for(Duration::from_secs(5), "member-3 back", || {
        member3
            .get_within("/readyz", Duration::from_secs(1))
            .ok()
            .filter(|r| r.status == 200)
    })
    .expect("member-3 heals");

    // Ctrl-C stops everything cleanly.
    let status = up.interrupt().expect("up exits");
    assert!(status.success(), "exit status {status}");
    assert!(
        !dir.path().join("control.sock").exists(),
        "control socket removed"
    );
    assert!(
        member1
            .get_within("/readyz", Duration::from_secs(1))
            .is_err(),
        "members stop with up"
    );

    // A restart on the same data dir keeps the federation's data.
    let up = FedUp::start_in(dir.path(), &["--members", "3", "--startup-delay-ms", "200"])
        .expect("kubectl fed up restarts");
    let kept = ok(up.kubectl(&["get", "configmap", "kept", "-o", "jsonpath={.data.answer}"]));
    assert_eq!(kept, "42");
    ok(up.kubectl(&["--context", "member-1", "get", "nodes"]));
}

#[test]
fn a_second_up_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = FedUp::start_in(dir.path(), &["--members", "1"]).expect("first up");
    let second = std::process::Command::new(flotilla_e2e::binary("kubectl-fed"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--members",
            "1",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("second up");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already running"), "{stderr}");
}

#[test]
fn up_with_no_members_runs_just_the_federation() {
    let up = FedUp::start(&["--members", "0"]).expect("up");
    assert!(up.ready_line.contains("no members"), "{}", up.ready_line);
    let contexts = ok(up.kubectl(&["config", "get-contexts", "-o", "name"]));
    assert_eq!(contexts.trim(), "flotilla");
    ok(up.kubectl(&["get", "namespaces"]));
}
