use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-10T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The columns kubectl shows by default (priority 0), upper-cased as it prints them.
fn headers(group: &str, kind: &str) -> Vec<String> {
    printer_for(group, kind)
        .columns
        .iter()
        .filter(|c| c.priority == 0)
        .map(|c| c.name.to_uppercase())
        .collect()
}

#[test]
fn human_duration_matches_kubernetes() {
    let cases: &[(i64, &str)] = &[
        (-3, "<invalid>"),
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (4 * 3600 + 10 * 60, "4h10m"),
        (8 * 3600 - 1, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 5 * 3600, "3d5h"),
        (8 * 86400 - 1, "7d23h"),
        (8 * 86400, "8d"),
        (45 * 86400, "45d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (760 * 86400, "2y30d"),
        (8 * 365 * 86400, "8y"),
        (20 * 365 * 86400 + 86400 * 100, "20y"),
    ];
    for &(seconds, want) in cases {
        assert_eq!(
            human_duration(TimeDelta::seconds(seconds)),
            want,
            "{seconds}s"
        );
    }
    // Sub-second parts truncate toward zero, like Go's int(d.Seconds()).
    assert_eq!(human_duration(TimeDelta::milliseconds(-1500)), "0s");
    assert_eq!(human_duration(TimeDelta::milliseconds(2999)), "2s");
}

#[test]
fn accept_negotiation_picks_the_first_supported_range() {
    let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    assert_eq!(negotiate(Some(kubectl)), Some("meta.k8s.io/v1"));
    assert_eq!(
        negotiate(Some(
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json"
        )),
        Some("meta.k8s.io/v1beta1")
    );
    // Unsupported Table versions and protobuf tables are skipped.
    assert_eq!(
        negotiate(Some(
            "application/json;as=Table;v=v2;g=meta.k8s.io,application/json;g=meta.k8s.io;v=v1;as=Table"
        )),
        Some("meta.k8s.io/v1")
    );
    assert_eq!(
        negotiate(Some(
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json"
        )),
        None
    );
    // Plain objects first, or only: no table.
    assert_eq!(negotiate(Some("application/json")), None);
    assert_eq!(negotiate(Some("*/*")), None);
    assert_eq!(
        negotiate(Some(
            "application/vnd.kubernetes.protobuf,application/json;as=Table;v=v1;g=meta.k8s.io"
        )),
        None
    );
    assert_eq!(negotiate(None), None);
    // q-values order ranges; q=0 is never chosen.
    assert_eq!(
        negotiate(Some(
            "application/json;q=0.5,application/json;as=Table;v=v1;g=meta.k8s.io"
        )),
        Some("meta.k8s.io/v1")
    );
    assert_eq!(
        negotiate(Some("application/json;as=Table;v=v1;g=meta.k8s.io;q=0")),
        None
    );
    // Other representations only (PartialObjectMetadata): fall back to JSON.
    assert_eq!(
        negotiate(Some(
            "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
        )),
        None
    );
}

#[test]
fn default_columns_per_kind() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("", "Namespace", &["NAME", "STATUS", "AGE"]),
        ("", "ConfigMap", &["NAME", "DATA", "AGE"]),
        ("", "Secret", &["NAME", "TYPE", "DATA", "AGE"]),
        (
            "",
            "Service",
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
        ),
        ("", "ServiceAccount", &["NAME", "SECRETS", "AGE"]),
        (
            "",
            "Event",
            &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        ),
        (
            "apps",
            "Deployment",
            &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        ),
        ("apps", "StatefulSet", &["NAME", "READY", "AGE"]),
        (
            "apps",
            "DaemonSet",
            &[
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
            ],
        ),
        (
            "apps",
            "ReplicaSet",
            &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        ),
        (
            "batch",
            "Job",
            &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        ),
        (
            "batch",
            "CronJob",
            &[
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE",
            ],
        ),
        (
            "networking.k8s.io",
            "Ingress",
            &["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        ),
        (
            "policy",
            "PodDisruptionBudget",
            &[
                "NAME",
                "MIN AVAILABLE",
                "MAX UNAVAILABLE",
                "ALLOWED DISRUPTIONS",
                "AGE",
            ],
        ),
        (
            "autoscaling",
            "HorizontalPodAutoscaler",
            &[
                "NAME",
                "REFERENCE",
                "TARGETS",
                "MINPODS",
                "MAXPODS",
                "REPLICAS",
                "AGE",
            ],
        ),
        ("coordination.k8s.io", "Lease", &["NAME", "HOLDER", "AGE"]),
        ("flotilla.io", "Unknown", &["NAME", "AGE"]),
    ];
    for (group, kind, want) in cases {
        assert_eq!(headers(group, kind), *want, "{group}/{kind}");
    }
}

#[test]
fn table_shape() {
    let request = TableRequest {
        api_version: "meta.k8s.io/v1",
        include: IncludeObject::Metadata,
        printer: printer_for("", "ConfigMap"),
    };
    let cm = json!({"kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"name": "c", "namespace": "ns", "resourceVersion": "7", "labels": {"a": "b"}},
        "data": {"k": "v"}});
    let table = request.table(&[&cm], "9".into(), Some("tok".into()), true, now());
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        table["metadata"],
        json!({"resourceVersion": "9", "continue": "tok"})
    );
    assert_eq!(
        table["columnDefinitions"][0],
        json!({"name": "Name", "type": "string", "format": "name",
            "description": "Name of the object.", "priority": 0})
    );
    assert_eq!(table["rows"][0]["cells"][1], 1);
    assert_eq!(
        table["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": cm["metadata"]})
    );
    // Watch events after the first: no column definitions.
    let single = request.object_table(&cm, false);
    assert_eq!(single["columnDefinitions"], Value::Null);
    assert_eq!(single["metadata"], json!({"resourceVersion": "7"}));

    let whole = TableRequest {
        include: IncludeObject::Object,
        ..request.clone()
    };
    assert_eq!(whole.object_table(&cm, true)["rows"][0]["object"], cm);
    let none = TableRequest {
        include: IncludeObject::None,
        ..request
    };
    assert!(none.object_table(&cm, true)["rows"][0]
        .get("object")
        .is_none());
}
