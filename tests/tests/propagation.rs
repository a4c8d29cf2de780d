//! Placement, propagation and status against `kubectl fed up`-style
//! federations (three simulated members: member-1 us-east 100 pods,
//! member-2 eu-west 80, member-3 ap-south 60; probes every 2 s).

use std::time::{Duration, Instant};

use flotilla_e2e::{ok, wait_for, FedUp};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(40);
const MEMBERS: [&str; 3] = ["member-1", "member-2", "member-3"];

fn up() -> FedUp {
    // Every member Ready before anything is placed.
    FedUp::start_ready(3, 200)
}

fn apply(up: &FedUp, yaml: &str) {
    up.apply(yaml);
}

fn get(up: &FedUp, context: &str, args: &[&str]) -> Option<Value> {
    let mut full = vec!["--context", context, "get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    let out = up.kubectl(&full);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// `spec.replicas` of the member copies of a Deployment, per member (0: absent).
fn member_replicas(up: &FedUp, ns: &str, name: &str) -> Vec<i64> {
    MEMBERS
        .iter()
        .map(|m| {
            get(up, m, &["deployment", name, "-n", ns])
                .and_then(|d| d["spec"]["replicas"].as_i64())
                .unwrap_or(0)
        })
        .collect()
}

fn wait_replicas(up: &FedUp, ns: &str, name: &str, want: [i64; 3]) {
    wait_for(DEADLINE, &format!("{name} at {want:?}"), || {
        (member_replicas(up, ns, name) == want).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; got {:?}\n{}", member_replicas(up, ns, name), up.log()));
}

fn deployment(ns: &str, name: &str, replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: app, image: \"{image}\"}}]\n"
    )
}

fn namespace(ns: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n")
}

fn policy(ns: &str, name: &str, kind: &str, target: &str, placement: &str) -> String {
    let api = if kind == "ConfigMap" { "v1" } else { "apps/v1" };
    format!(
        "---\napiVersion: flotilla.io/v1alpha1\nkind: PropagationPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  resourceSelectors: [{{apiVersion: {api}, kind: {kind}, name: {target}}}]\n{placement}"
    )
}

const WEIGHTS_1_2_2: &str = "  placement:\n    replicaScheduling:\n      replicaSchedulingType: Divided\n      weightPreference:\n        staticWeightList:\n        - {targetCluster: {clusterNames: [member-1]}, weight: 1}\n        - {targetCluster: {clusterNames: [member-2]}, weight: 2}\n        - {targetCluster: {clusterNames: [member-3]}, weight: 2}\n";

#[test]
fn weights_divide_scaling_moves_the_difference_and_status_adds_up() {
    let up = up();
    let yaml = format!(
        "{}{}{}",
        namespace("shop"),
        deployment("shop", "web", 10, "nginx:1.27"),
        policy("shop", "web", "Deployment", "web", WEIGHTS_1_2_2)
    );
    apply(&up, &yaml);
    wait_replicas(&up, "shop", "web", [2, 4, 4]);
    let out = ok(up.kubectl(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "shop",
        "--timeout=40s",
    ]));
    assert!(out.contains("successfully rolled out"), "{out}");
    ok(up.kubectl(&[
        "wait",
        "--for=condition=Available",
        "deployment/web",
        "-n",
        "shop",
        "--timeout=40s",
    ]));
    let web = get(&up, "flotilla", &["deployment", "web", "-n", "shop"]).expect("template");
    assert_eq!(web["status"]["readyReplicas"], 10);
    assert_eq!(
        web["status"]["observedGeneration"],
        web["metadata"]["generation"]
    );

    ok(up.kubectl(&["scale", "deployment/web", "-n", "shop", "--replicas=15"]));
    wait_replicas(&up, "shop", "web", [3, 6, 6]);
    let table = ok(up.kubectl(&["get", "rb", "-n", "shop"]));
    let header: Vec<&str> = table
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "SCHEDULED", "APPLIED", "CLUSTERS", "ROLLOUT", "AGE"]
    );
    assert!(
        table.contains("member-1:3,member-2:6,member-3:6"),
        "{table}"
    );
    let rb = get(&up, "flotilla", &["rb", "web-deployment", "-n", "shop"]).expect("binding");
    let decisions = rb["spec"]["decisions"].as_array().expect("decisions");
    assert!(
        decisions
            .iter()
            .all(|d| d["reason"].as_str().unwrap_or("").contains("static weight")),
        "{rb}"
    );

    // A new image rolls out through every member; rollout status waits for all.
    ok(up.kubectl(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        "shop",
        "app=nginx:1.28",
    ]));
    let out = ok(up.kubectl(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "shop",
        "--timeout=40s",
    ]));
    assert!(out.contains("successfully rolled out"), "{out}");
    for m in MEMBERS {
        let copy = get(&up, m, &["deployment", "web", "-n", "shop"]).expect("copy");
        assert_eq!(
            copy["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.28"
        );
        assert_eq!(
            copy["metadata"]["labels"]["flotilla.io/managed-by"],
            "flotilla"
        );
    }

    // Cascade delete: the template goes, and so do its copies and binding.
    ok(up.kubectl(&["delete", "deployment", "web", "-n", "shop", "--timeout=40s"]));
    wait_replicas(&up, "shop", "web", [0, 0, 0]);
    wait_for(DEADLINE, "binding gone", || {
        get(&up, "flotilla", &["rb", "web-deployment", "-n", "shop"])
            .is_none()
            .then_some(())
    })
    .expect("the binding goes with the template");
}

#[test]
fn capacity_and_latency_cost_favour_the_roomier_and_faster_cluster() {
    let up = up();
    // member-2 gets slow right away, so its median latency rises quickly.
    assert!(up
        .fault("member-2", &["--mode", "latency", "--latency-ms", "300"])
        .status
        .success());
    let by_room = "  placement:\n    replicaScheduling:\n      replicaSchedulingType: Divided\n      weightPreference: {dynamicWeight: AvailableReplicas}\n";
    apply(
        &up,
        &format!(
            "{}{}{}",
            namespace("dyn"),
            deployment("dyn", "roomy", 12, "nginx:1"),
            policy("dyn", "roomy", "Deployment", "roomy", by_room)
        ),
    );
    // Free room 100 : 80 : 60 → 12 replicas as 5 : 4 : 3.
    wait_replicas(&up, "dyn", "roomy", [5, 4, 3]);

    wait_for(Duration::from_secs(60), "member-2 looks slow", || {
        let c = get(&up, "flotilla", &["cluster", "member-2"])?;
        (c["status"]["latency"]["p50Ms"].as_f64()? > 150.0).then_some(())
    })
    .expect("member-2's latency shows");
    let by_latency = "  placement:\n    replicaScheduling:\n      replicaSchedulingType: Divided\n      weightPreference: {dynamicWeight: LatencyCost}\n";
    apply(
        &up,
        &format!(
            "{}{}",
            deployment("dyn", "fast", 10, "nginx:1"),
            policy("dyn", "fast", "Deployment", "fast", by_latency)
        ),
    );
    wait_for(DEADLINE, "fast placed", || {
        let r = member_replicas(&up, "dyn", "fast");
        (r.iter().sum::<i64>() == 10).then_some(())
    })
    .expect("placed");
    let r = member_replicas(&up, "dyn", "fast");
    assert!(
        r[1] < r[0] && r[1] < r[2],
        "the slow member-2 gets the fewest: {r:?}"
    );
    let rb = get(&up, "flotilla", &["rb", "fast-deployment", "-n", "dyn"]).expect("binding");
    let m2 = rb["spec"]["decisions"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["cluster"] == "member-2"))
        .expect("member-2 decision");
    assert!(
        m2["reason"].as_str().unwrap_or("").contains("latency"),
        "{m2}"
    );

    // More than the whole federation holds: unschedulable, nothing placed.
    apply(
        &up,
        &format!(
            "{}{}",
            deployment("dyn", "huge", 500, "nginx:1"),
            policy("dyn", "huge", "Deployment", "huge", by_room)
        ),
    );
    wait_for(DEADLINE, "huge unschedulable", || {
        let rb = get(&up, "flotilla", &["rb", "huge-deployment", "-n", "dyn"])?;
        let scheduled = rb["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Scheduled")?
            .clone();
        (scheduled["status"] == "False" && scheduled["reason"] == "Unschedulable").then_some(())
    })
    .expect("the binding says Unschedulable");
    assert_eq!(member_replicas(&up, "dyn", "huge"), [0, 0, 0]);
}

#[test]
fn spread_taints_cordon_and_overrides() {
    let up = up();
    let spread = "  placement:\n    spreadConstraints: [{spreadByField: region, maxGroups: 2}]\n";
    apply(
        &up,
        &format!(
            "{}{}{}",
            namespace("rules"),
            deployment("rules", "two", 1, "nginx:1"),
            policy("rules", "two", "Deployment", "two", spread)
        ),
    );
    wait_for(DEADLINE, "two regions", || {
        let r = member_replicas(&up, "rules", "two");
        (r.iter().filter(|n| **n == 1).count() == 2 && r.iter().sum::<i64>() == 2).then_some(())
    })
    .expect("a copy in exactly two regions");

    // A taint keeps new work away unless tolerated; cordon keeps it away.
    ok(up.kubectl(&[
        "patch",
        "cluster",
        "member-1",
        "--type=merge",
        "-p",
        r#"{"spec":{"taints":[{"key":"maintenance","effect":"NoSchedule"}]}}"#,
    ]));
    let two_before = member_replicas(&up, "rules", "two");
    let fed_ok = |args: &[&str]| {
        let out = up.fed(args);
        assert!(
            out.status.success(),
            "kubectl fed {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        fed_ok(&["cordon", "member-2"]).trim(),
        "cluster/member-2 cordoned"
    );
    assert_eq!(
        fed_ok(&["cordon", "member-2"]).trim(),
        "cluster/member-2 already cordoned"
    );
    let missing = up.fed(&["cordon", "member-9"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no cluster named member-9"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    apply(
        &up,
        &format!(
            "{}{}",
            deployment("rules", "plain", 1, "nginx:1"),
            policy("rules", "plain", "Deployment", "plain", "")
        ),
    );
    wait_replicas(&up, "rules", "plain", [0, 0, 1]);
    let tolerant = "  placement:\n    clusterTolerations: [{key: maintenance, operator: Exists}]\n";
    apply(
        &up,
        &format!(
            "{}{}",
            deployment("rules", "tolerant", 1, "nginx:1"),
            policy("rules", "tolerant", "Deployment", "tolerant", tolerant)
        ),
    );
    wait_replicas(&up, "rules", "tolerant", [1, 0, 1]);
    let rb = get(&up, "flotilla", &["rb", "plain-deployment", "-n", "rules"]).expect("binding");
    let reasons = rb["spec"]["decisions"].to_string();
    assert!(
        reasons.contains("taint maintenance:NoSchedule not tolerated")
            && reasons.contains("cordoned"),
        "{reasons}"
    );
    // What the cordoned member ran stays there (the taint, not the cordon,
    // may move member-1's copy).
    assert_eq!(member_replicas(&up, "rules", "two")[1], two_before[1]);
    // Uncordoned, it takes copies again (Duplicated goes to every eligible member).
    assert_eq!(
        fed_ok(&["uncordon", "member-2"]).trim(),
        "cluster/member-2 uncordoned"
    );
    wait_replicas(&up, "rules", "plain", [0, 1, 1]);

    // Overrides reach only the clusters they target.
    let op = "---\napiVersion: flotilla.io/v1alpha1\nkind: OverridePolicy\nmetadata: {name: eu, namespace: rules}\nspec:\n  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: tolerant}]\n  overrideRules:\n  - targetCluster: {clusterNames: [member-3]}\n    overriders:\n      imageOverrider: [{component: Registry, operator: replace, value: mirror.example}]\n      labelsOverrider: [{operator: add, value: {zone-note: south}}]\n";
    apply(&up, op);
    wait_for(DEADLINE, "override on member-3", || {
        let copy = get(&up, "member-3", &["deployment", "tolerant", "-n", "rules"])?;
        (copy["spec"]["template"]["spec"]["containers"][0]["image"] == "mirror.example/nginx:1"
            && copy["metadata"]["labels"]["zone-note"] == "south")
            .then_some(())
    })
    .expect("member-3's copy is overridden");
    let other = get(&up, "member-1", &["deployment", "tolerant", "-n", "rules"]).expect("copy");
    assert_eq!(
        other["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1"
    );
    assert!(other["metadata"]["labels"].get("zone-note").is_none());

    // Unjoining a member removes what Flotilla placed there.
    let out = up.fed(&["unjoin", "member-3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("removed"), "{stdout}");
    let left = get(&up, "member-3", &["deployments", "-n", "rules"]).expect("list");
    assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "{left}");
    assert!(get(&up, "flotilla", &["cluster", "member-3"]).is_none());
}

#[test]
fn drift_and_deleted_copies_are_repaired_and_unowned_objects_are_not_clobbered() {
    let up = up();
    // member-1 already has a ConfigMap of that name, not Flotilla's.
    ok(up.kubectl(&["--context", "member-1", "create", "namespace", "conf"]));
    ok(up.kubectl(&[
        "--context",
        "member-1",
        "create",
        "configmap",
        "settings",
        "-n",
        "conf",
        "--from-literal=owner=member",
    ]));
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: conf}\ndata: {owner: federation}\n---\n";
    apply(
        &up,
        &format!(
            "{}{}{}{}",
            namespace("conf"),
            cm,
            deployment("conf", "app", 2, "nginx:1"),
            policy("conf", "everything", "ConfigMap", "settings", "")
        ),
    );
    apply(&up, &policy("conf", "app", "Deployment", "app", ""));
    let data = |m: &str| {
        get(&up, m, &["configmap", "settings", "-n", "conf"])
            .and_then(|c| c["data"]["owner"].as_str().map(String::from))
    };
    wait_for(DEADLINE, "settings on member-2 and member-3", || {
        (data("member-2").as_deref() == Some("federation")
            && data("member-3").as_deref() == Some("federation"))
        .then_some(())
    })
    .expect("propagated");
    assert_eq!(
        data("member-1").as_deref(),
        Some("member"),
        "the member's own object is left alone"
    );
    wait_for(DEADLINE, "conflict reported", || {
        let rb = get(&up, "flotilla", &["rb", "settings-configmap", "-n", "conf"])?;
        let status = rb["status"]["aggregatedStatus"]
            .as_array()?
            .iter()
            .find(|s| s["clusterName"] == "member-1")?
            .clone();
        (status["applied"] == false
            && status["appliedMessage"]
                .as_str()?
                .contains("not Flotilla's"))
        .then_some(())
    })
    .expect("the binding reports the conflict");

    // Drift is reverted; a deleted copy comes back.
    wait_replicas(&up, "conf", "app", [2, 2, 2]);
    ok(up.kubectl(&[
        "--context",
        "member-2",
        "set",
        "image",
        "deployment/app",
        "-n",
        "conf",
        "app=tampered:1",
    ]));
    wait_for(DEADLINE, "drift reverted", || {
        let copy = get(&up, "member-2", &["deployment", "app", "-n", "conf"])?;
        (copy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1").then_some(())
    })
    .expect("drift is repaired");
    ok(up.kubectl(&[
        "--context",
        "member-3",
        "delete",
        "deployment",
        "app",
        "-n",
        "conf",
    ]));
    wait_for(DEADLINE, "copy recreated", || {
        get(&up, "member-3", &["deployment", "app", "-n", "conf"]).map(|_| ())
    })
    .expect("a deleted copy is recreated");

    // Overwrite takes the member's object over.
    let overwrite = "  conflictResolution: Overwrite\n";
    apply(
        &up,
        &policy("conf", "everything", "ConfigMap", "settings", overwrite),
    );
    wait_for(DEADLINE, "taken over", || {
        (data("member-1").as_deref() == Some("federation")).then_some(())
    })
    .expect("Overwrite takes the object over");
}

#[test]
fn failover_after_toleration_with_graceful_purge_and_no_flapping() {
    let up = up();
    let placement =
        format!("{WEIGHTS_1_2_2}  failover: {{tolerationSeconds: 4, purgeMode: Graceful}}\n");
    apply(
        &up,
        &format!(
            "{}{}{}",
            namespace("ha"),
            deployment("ha", "api", 10, "nginx:1"),
            policy("ha", "api", "Deployment", "api", &placement)
        ),
    );
    wait_replicas(&up, "ha", "api", [2, 4, 4]);

    // A flicker shorter than the failure threshold (3 probes × 2 s) moves nothing.
    assert!(up.fault("member-3", &["--mode", "down"]).status.success());
    std::thread::sleep(Duration::from_millis(2500));
    assert!(up.fault("member-3", &["--mode", "heal"]).status.success());
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        let rb = get(&up, "flotilla", &["rb", "api-deployment", "-n", "ha"]).expect("binding");
        assert_eq!(
            rb["spec"]["clusters"].as_array().map(Vec::len),
            Some(3),
            "flapped: {rb}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Down for good: after detection and tolerationSeconds its replicas move.
    let down = Instant::now();
    assert!(up.fault("member-3", &["--mode", "down"]).status.success());
    wait_for(Duration::from_secs(40), "failover", || {
        let rb = get(&up, "flotilla", &["rb", "api-deployment", "-n", "ha"])?;
        let clusters = rb["spec"]["clusters"].as_array()?.clone();
        (clusters.len() == 2 && clusters.iter().all(|c| c["name"] != "member-3"))
            .then_some(clusters)
    })
    .expect("replicas leave member-3");
    let took = down.elapsed();
    // Detection: up to 3 failed probes 2 s apart (+1 s timeout); then 4 s of toleration.
    assert!(
        took >= Duration::from_secs(4),
        "failed over before the toleration: {took:?}"
    );
    assert!(took <= Duration::from_secs(16), "failover took {took:?}");
    wait_for(DEADLINE, "10 replicas on member-1 and member-2", || {
        let r = member_replicas(&up, "ha", "api");
        (r[0] + r[1] == 10).then_some(())
    })
    .expect("the survivors take the replicas");

    // Back again: the old copy is purged (the others are available), nothing flaps back.
    assert!(up.fault("member-3", &["--mode", "heal"]).status.success());
    wait_for(DEADLINE, "member-3 copy purged", || {
        get(&up, "member-3", &["deployment", "api", "-n", "ha"])
            .is_none()
            .then_some(())
    })
    .expect("graceful purge removes the failed cluster's copy");
    std::thread::sleep(Duration::from_secs(5));
    let rb = get(&up, "flotilla", &["rb", "api-deployment", "-n", "ha"]).expect("binding");
    assert!(
        rb["spec"]["clusters"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["name"] != "member-3")),
        "replicas flapped back: {rb}"
    );
}

#[test]
fn cluster_scoped_kinds_and_replicas_the_members_own() {
    let up = up();
    // A ClusterRole and a labelled Namespace, placed by one
    // ClusterPropagationPolicy on member-1 and member-2.
    let yaml = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules:\n- {apiGroups: [\"\"], resources: [pods], verbs: [get, list]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-x, labels: {team: x}}\n---\napiVersion: flotilla.io/v1alpha1\nkind: ClusterPropagationPolicy\nmetadata: {name: platform}\nspec:\n  resourceSelectors:\n  - {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, name: reader}\n  - {apiVersion: v1, kind: Namespace, labelSelector: {matchLabels: {team: x}}}\n  placement:\n    clusterAffinity: {clusterNames: [member-1, member-2]}\n";
    apply(&up, yaml);
    wait_for(
        DEADLINE,
        "reader and team-x on member-1 and member-2",
        || {
            ["member-1", "member-2"]
                .iter()
                .all(|m| {
                    let role = get(&up, m, &["clusterrole", "reader"]);
                    let ns = get(&up, m, &["namespace", "team-x"]);
                    role.is_some_and(|r| r["rules"][0]["verbs"][1] == "list")
                        && ns.is_some_and(|n| n["metadata"]["labels"]["team"] == "x")
                })
                .then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log()));
    assert!(
        get(&up, "member-3", &["clusterrole", "reader"]).is_none(),
        "member-3 is not in the placement"
    );
    // Their bindings live in flotilla-system.
    let rb = get(
        &up,
        "flotilla",
        &["rb", "reader-clusterrole", "-n", "flotilla-system"],
    )
    .expect("the ClusterRole's binding");
    assert_eq!(rb["spec"]["resource"]["kind"], "ClusterRole");
    assert!(rb["spec"]["resource"]
        .get("namespace")
        .is_none_or(Value::is_null));

    // The members own the replicas of a Deployment annotated
    // flotilla.io/retain-replicas: set at creation, kept afterwards.
    let retained = deployment("team-x", "api", 10, "nginx:1").replace(
        "namespace: team-x}",
        "namespace: team-x, annotations: {flotilla.io/retain-replicas: \"true\"}}",
    );
    apply(
        &up,
        &format!(
            "{retained}{}",
            policy("team-x", "api", "Deployment", "api", WEIGHTS_1_2_2)
        ),
    );
    wait_replicas(&up, "team-x", "api", [2, 4, 4]);
    // member-2's autoscaler (played by kubectl) scales its copy.
    ok(up.kubectl(&[
        "--context",
        "member-2",
        "scale",
        "deployment/api",
        "-n",
        "team-x",
        "--replicas=7",
    ]));
    // A template change re-renders every copy; member-2 keeps its 7.
    ok(up.kubectl(&[
        "set",
        "image",
        "deployment/api",
        "-n",
        "team-x",
        "app=nginx:2",
    ]));
    let image = |m: &str| {
        get(&up, m, &["deployment", "api", "-n", "team-x"]).and_then(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .map(String::from)
        })
    };
    wait_for(DEADLINE, "nginx:2 on every member", || {
        MEMBERS
            .iter()
            .all(|m| image(m).as_deref() == Some("nginx:2"))
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log()));
    assert_eq!(member_replicas(&up, "team-x", "api"), [2, 7, 4]);

    // A change of the ClusterRole reaches its copies.
    apply(
        &up,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules:\n- {apiGroups: [\"\"], resources: [pods], verbs: [get, list, watch]}\n",
    );
    wait_for(DEADLINE, "the new rule on member-1 and member-2", || {
        ["member-1", "member-2"]
            .iter()
            .all(|m| {
                get(&up, m, &["clusterrole", "reader"])
                    .is_some_and(|r| r["rules"][0]["verbs"][2] == "watch")
            })
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log()));

    // Deleting the ClusterRole at the federation removes its copies.
    ok(up.kubectl(&["delete", "clusterrole", "reader"]));
    wait_for(DEADLINE, "reader gone from the members", || {
        ["member-1", "member-2"]
            .iter()
            .all(|m| get(&up, m, &["clusterrole", "reader"]).is_none())
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log()));

    // The README's example does what it says.
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/examples/platform-rbac.yaml"
    );
    apply(&up, &std::fs::read_to_string(example).expect("the example"));
    // (Its policy moves the test's `api` off member-3.)
    wait_for(
        DEADLINE,
        "pod-reader and api on member-1 and member-2 only",
        || {
            (["member-1", "member-2"].iter().all(|m| {
                get(&up, m, &["clusterrole", "pod-reader"]).is_some()
                    && get(&up, m, &["deployment", "api", "-n", "team-x"]).is_some()
            }) && get(&up, "member-3", &["deployment", "api", "-n", "team-x"]).is_none()
                && get(&up, "member-3", &["clusterrole", "pod-reader"]).is_none())
            .then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log()));
}
