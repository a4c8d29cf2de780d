//! Cells of the built-in printers, kind by kind.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-10T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// `(column names, cells)` of one object of a kind, created 5 minutes before [`now`].
fn row(group: &str, kind: &str, mut object: Value) -> (Vec<String>, Vec<Value>) {
    object["metadata"]["creationTimestamp"] = json!("2026-01-10T11:55:00Z");
    let printer = printer_for(group, kind);
    let names = printer.columns.iter().map(|c| c.name.clone()).collect();
    (names, printer.cells(&object, now()))
}

#[test]
fn configmap_secret_namespace_serviceaccount_lease_cells() {
    let (_, cells) = row(
        "",
        "ConfigMap",
        json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
    );
    assert_eq!(cells, [json!("c"), json!(3), json!("5m")]);
    let (_, cells) = row(
        "",
        "Secret",
        json!({"metadata": {"name": "s"}, "data": {"a": "MQ=="}, "stringData": {"a": "1", "b": "2"}}),
    );
    assert_eq!(cells, [json!("s"), json!("Opaque"), json!(2), json!("5m")]);
    let (_, cells) = row(
        "",
        "Namespace",
        json!({"metadata": {"name": "n"}, "status": {"phase": "Active"}}),
    );
    assert_eq!(cells, [json!("n"), json!("Active"), json!("5m")]);
    let (_, cells) = row(
        "",
        "ServiceAccount",
        json!({"metadata": {"name": "sa"}, "secrets": [{"name": "t"}]}),
    );
    assert_eq!(cells, [json!("sa"), json!(1), json!("5m")]);
    let (_, cells) = row(
        "coordination.k8s.io",
        "Lease",
        json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}}),
    );
    assert_eq!(cells, [json!("l"), json!("me"), json!("5m")]);
    // No creationTimestamp at all.
    let printer = printer_for("", "ConfigMap");
    assert_eq!(
        printer.cells(&json!({"metadata": {"name": "x"}}), now())[2],
        "<unknown>"
    );
}

#[test]
fn service_cells() {
    let (names, cells) = row(
        "",
        "Service",
        json!({"metadata": {"name": "web"}, "spec": {
            "clusterIP": "10.0.0.1",
            "ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "nodePort": 30053}],
            "selector": {"tier": "fe", "app": "web"}}}),
    );
    assert_eq!(names.last().unwrap(), "Selector");
    assert_eq!(
        cells,
        [
            json!("web"),
            json!("ClusterIP"),
            json!("10.0.0.1"),
            json!("<none>"),
            json!("80/TCP,53:30053/UDP"),
            json!("5m"),
            json!("app=web,tier=fe")
        ]
    );
    let (_, lb) = row(
        "",
        "Service",
        json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]},
            "status": {"loadBalancer": {"ingress": [{"hostname": "b.example"}, {"ip": "9.9.9.9"}]}}}),
    );
    assert_eq!(lb[2], "<none>");
    assert_eq!(lb[3], "9.9.9.9,b.example,1.2.3.4");
    assert_eq!(lb[4], "<none>");
    assert_eq!(lb[6], "<none>");
    let (_, pending) = row(
        "",
        "Service",
        json!({"metadata": {"name": "p"}, "spec": {"type": "LoadBalancer"}}),
    );
    assert_eq!(pending[3], "<pending>");
    let (_, ext) = row(
        "",
        "Service",
        json!({"metadata": {"name": "e"}, "spec": {"type": "ExternalName", "externalName": "db.example"}}),
    );
    assert_eq!(ext[3], "db.example");
}

#[test]
fn workload_cells() {
    let template = json!({"spec": {"containers": [
        {"name": "app", "image": "nginx:1"}, {"name": "side", "image": "envoy:2"}]}});
    let (names, cells) = row(
        "apps",
        "Deployment",
        json!({"metadata": {"name": "d"}, "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "d"}, "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "canary", "operator": "DoesNotExist"}]},
            "template": template},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 1}}),
    );
    assert_eq!(
        names,
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        cells,
        [
            json!("d"),
            json!("2/3"),
            json!(3),
            json!(1),
            json!("5m"),
            json!("app,side"),
            json!("nginx:1,envoy:2"),
            json!("app=d,!canary,tier in (a,b)")
        ]
    );
    // Unset replicas default to 1; no status yet.
    let (_, cells) = row("apps", "Deployment", json!({"metadata": {"name": "d"}}));
    assert_eq!(&cells[1..4], [json!("0/1"), json!(0), json!(0)]);
    assert_eq!(cells[7], "");

    let (_, sts) = row(
        "apps",
        "StatefulSet",
        json!({"metadata": {"name": "s"}, "spec": {"replicas": 0, "template": template}}),
    );
    assert_eq!(
        sts,
        [
            json!("s"),
            json!("0/0"),
            json!("5m"),
            json!("app,side"),
            json!("nginx:1,envoy:2")
        ]
    );

    let (_, ds) = row(
        "apps",
        "DaemonSet",
        json!({"metadata": {"name": "ds"}, "spec": {"template": {"spec": {"nodeSelector": {"os": "linux"}}}},
            "status": {"desiredNumberScheduled": 4, "currentNumberScheduled": 3, "numberReady": 2,
                "updatedNumberScheduled": 1, "numberAvailable": 0}}),
    );
    assert_eq!(
        &ds[..8],
        [
            json!("ds"),
            json!(4),
            json!(3),
            json!(2),
            json!(1),
            json!(0),
            json!("os=linux"),
            json!("5m")
        ]
    );

    let (_, rs) = row(
        "apps",
        "ReplicaSet",
        json!({"metadata": {"name": "rs"}, "spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 1}}),
    );
    assert_eq!(
        &rs[..5],
        [json!("rs"), json!(2), json!(2), json!(1), json!("5m")]
    );
    assert_eq!(rs[7], "<none>");
}

#[test]
fn job_and_cronjob_cells() {
    let (_, running) = row(
        "batch",
        "Job",
        json!({"metadata": {"name": "j"}, "spec": {"parallelism": 3},
            "status": {"startTime": "2026-01-10T11:56:00Z", "succeeded": 1}}),
    );
    assert_eq!(
        &running[..5],
        [
            json!("j"),
            json!("Running"),
            json!("1/1 of 3"),
            json!("4m"),
            json!("5m")
        ]
    );
    let (_, done) = row(
        "batch",
        "Job",
        json!({"metadata": {"name": "j"}, "spec": {"completions": 2},
            "status": {"startTime": "2026-01-10T11:56:00Z", "completionTime": "2026-01-10T11:56:35Z",
                "succeeded": 2, "conditions": [{"type": "Complete", "status": "True"}]}}),
    );
    assert_eq!(
        &done[..4],
        [json!("j"), json!("Complete"), json!("2/2"), json!("35s")]
    );
    let (_, fresh) = row("batch", "Job", json!({"metadata": {"name": "j"}}));
    assert_eq!(&fresh[1..4], [json!("Running"), json!("0/1"), json!("")]);

    let (_, cj) = row(
        "batch",
        "CronJob",
        json!({"metadata": {"name": "cj"}, "spec": {"schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "x"}], "lastScheduleTime": "2026-01-10T11:59:00Z"}}),
    );
    assert_eq!(
        cj,
        [
            json!("cj"),
            json!("*/5 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("60s"),
            json!("5m"),
            json!("c"),
            json!("busybox"),
            json!("<none>")
        ]
    );
}

#[test]
fn ingress_pdb_hpa_cells() {
    let (_, ing) = row(
        "networking.k8s.io",
        "Ingress",
        json!({"metadata": {"name": "i"}, "spec": {"ingressClassName": "nginx",
            "rules": [{"host": "a"}, {"host": "b"}, {}, {"host": "c"}, {"host": "d"}], "tls": [{}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}]}}}),
    );
    assert_eq!(
        ing,
        [
            json!("i"),
            json!("nginx"),
            json!("a,b,c + 2 more..."),
            json!("5.6.7.8"),
            json!("80, 443"),
            json!("5m")
        ]
    );
    let (_, bare) = row(
        "networking.k8s.io",
        "Ingress",
        json!({"metadata": {"name": "i"}}),
    );
    assert_eq!(
        &bare[1..5],
        [json!("<none>"), json!("*"), json!(""), json!("80")]
    );

    let (_, pdb) = row(
        "policy",
        "PodDisruptionBudget",
        json!({"metadata": {"name": "p"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}),
    );
    assert_eq!(
        pdb,
        [
            json!("p"),
            json!("50%"),
            json!("N/A"),
            json!(1),
            json!("5m")
        ]
    );

    let (_, hpa) = row(
        "autoscaling",
        "HorizontalPodAutoscaler",
        json!({"metadata": {"name": "h"}, "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}]},
            "status": {"currentReplicas": 2, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40}}}]}}),
    );
    assert_eq!(
        hpa,
        [
            json!("h"),
            json!("Deployment/web"),
            json!("cpu: 40%/80%, <unknown>/1k + 1 more..."),
            json!("1"),
            json!(5),
            json!(2),
            json!("5m")
        ]
    );
    let (_, none) = row(
        "autoscaling",
        "HorizontalPodAutoscaler",
        json!({"metadata": {"name": "h"}, "spec": {"minReplicas": 2}}),
    );
    assert_eq!(&none[2..4], [json!("<none>"), json!("2")]);
}

#[test]
fn event_cells() {
    let (names, ev) = row(
        "",
        "Event",
        json!({"metadata": {"name": "web.123"}, "type": "Warning", "reason": "BackOff",
            "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{app}"},
            "source": {"component": "kubelet", "host": "node-1"},
            "message": " Back-off restarting \n", "count": 4,
            "firstTimestamp": "2026-01-10T10:00:00Z", "lastTimestamp": "2026-01-10T11:59:30Z"}),
    );
    assert_eq!(names[0], "Last Seen");
    assert_eq!(
        ev,
        [
            json!("30s"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/web-0"),
            json!("spec.containers{app}"),
            json!("kubelet, node-1"),
            json!("Back-off restarting"),
            json!("120m"),
            json!(4),
            json!("web.123")
        ]
    );
    // events.k8s.io-style: eventTime and a series, reporting controller.
    let (_, series) = row(
        "",
        "Event",
        json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"},
            "eventTime": "2026-01-10T11:50:00.123456Z", "reportingComponent": "ctrl",
            "series": {"count": 7, "lastObservedTime": "2026-01-10T11:58:00.000000Z"}}),
    );
    assert_eq!(series[0], "2m");
    assert_eq!(series[3], "node");
    assert_eq!(series[5], "ctrl");
    assert_eq!(series[7], "9m59s"); // 11:50:00.123456 → 9m59.88s, truncated
    assert_eq!(series[8], 7);
}

#[test]
fn registered_printers_and_field_columns() {
    register(
        "flotilla.test",
        "Widget",
        Printer::new(vec![
            Column::name(),
            Column::field("Phase", "string", 0, ".status.phase"),
            Column::field("Size", "integer", 0, ".spec.size"),
            Column::field("Ready", "boolean", 1, ".status.ready"),
            Column::field("Seen", "date", 0, ".status.lastSeen"),
            Column::field("Missing", "string", 0, ".spec.nothing"),
        ]),
    );
    let (names, cells) = row(
        "flotilla.test",
        "Widget",
        json!({"metadata": {"name": "w"}, "spec": {"size": 3},
            "status": {"phase": "Up", "ready": true, "lastSeen": "2026-01-10T11:00:00Z"}}),
    );
    assert_eq!(names, ["Name", "Phase", "Size", "Ready", "Seen", "Missing"]);
    assert_eq!(
        cells,
        [
            json!("w"),
            json!("Up"),
            json!(3),
            json!(true),
            json!("60m"),
            Value::Null
        ]
    );
}
