//! Flotilla's own kinds (`flotilla.io/v1alpha1`), served like custom
//! resources from the CustomResourceDefinitions compiled into
//! `federation-proto`: the same discovery, OpenAPI, structural-schema
//! validation, `/status` and tables as any CRD, plus the rules a schema
//! cannot say and the columns `kubectl get` shows.
//!
//! # Guarantees
//! - They are part of the base registry: always served, never removable,
//!   and no CustomResourceDefinition may claim the `flotilla.io` group.

use std::sync::Once;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::rest::crd;
use crate::rest::registry::{Registry, ResourceType, Schema};
use crate::rest::table::{self, Column, Printer};
use crate::rest::validation::is_dns1123_subdomain;
use crate::status::Cause;

/// One served type per Flotilla kind.
pub fn types() -> Vec<ResourceType> {
    federation_proto::crds()
        .iter()
        .flat_map(crd::resource_types)
        .map(|mut t| {
            // Compiled in, not a stored CRD: nothing can delete it.
            t.crd = None;
            // Tables come from the printers registered below.
            t.printer_columns = None;
            if t.kind == "Cluster" {
                if let Some(schema) = t.schema_check.structural().cloned() {
                    t.schema_check = Schema::StructuralWith(schema, validate_cluster);
                }
            }
            t
        })
        .collect()
}

/// The federation's registry: the built-in kinds plus Flotilla's.
pub fn federation_registry() -> Registry {
    register_printers();
    let mut registry = Registry::builtin();
    for t in types() {
        registry.insert(t);
    }
    registry
}

fn cause(field: &str, message: String) -> Cause {
    Cause::new("FieldValueInvalid", field, message)
}

/// What a Cluster's schema cannot check: its endpoint is an https URL with
/// a host, its Secret reference names a Secret, its taints have real effects.
pub fn validate_cluster(cluster: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = &cluster["spec"];
    if let Some(endpoint) = spec.get("apiEndpoint").and_then(Value::as_str) {
        if let Err(why) = check_endpoint(endpoint) {
            causes.push(cause(
                "spec.apiEndpoint",
                format!("Invalid value: \"{endpoint}\": {why}, such as https://10.0.0.7:6443"),
            ));
        }
    }
    for field in ["namespace", "name"] {
        let value = spec
            .pointer(&format!("/secretRef/{field}"))
            .and_then(Value::as_str);
        if let Some(value) = value {
            let problems = is_dns1123_subdomain(value);
            if !problems.is_empty() {
                causes.push(cause(
                    &format!("spec.secretRef.{field}"),
                    format!("Invalid value: \"{value}\": {}", problems.join("; ")),
                ));
            }
        }
    }
    if let Some(taints) = spec.get("taints").and_then(Value::as_array) {
        for (i, taint) in taints.iter().enumerate() {
            let effect = taint.get("effect").and_then(Value::as_str).unwrap_or("");
            if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
                causes.push(Cause::new(
                    "FieldValueNotSupported",
                    &format!("spec.taints[{i}].effect"),
                    format!("Unsupported value: \"{effect}\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""),
                ));
            }
        }
    }
    causes
}

/// `https://HOST[:PORT][/PATH]`.
fn check_endpoint(endpoint: &str) -> Result<(), &'static str> {
    let Some(rest) = endpoint.strip_prefix("https://") else {
        return Err("must be an https:// URL");
    };
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => return Err("has an unterminated IPv6 address"),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() || authority.contains('@') || authority.contains(' ') {
        return Err("must name a host (and no user info)");
    }
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err("has an invalid port");
    }
    Ok(())
}

fn text<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

fn or_none(s: &str) -> Value {
    string(if s.is_empty() { "<none>" } else { s })
}

fn ready(o: &Value, _: DateTime<Utc>) -> Value {
    let status = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown");
    string(status)
}

fn milliseconds(o: &Value, pointer: &str) -> Value {
    match o.pointer(pointer).and_then(Value::as_f64) {
        Some(ms) if ms < 10.0 => string(format!("{ms:.1}ms")),
        Some(ms) => string(format!("{ms:.0}ms")),
        None => string("<unknown>"),
    }
}

fn taints(o: &Value, _: DateTime<Utc>) -> Value {
    let list: Vec<String> = o
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            let (key, value, effect) = (text(t, "/key"), text(t, "/value"), text(t, "/effect"));
            if value.is_empty() {
                format!("{key}:{effect}")
            } else {
                format!("{key}={value}:{effect}")
            }
        })
        .collect();
    or_none(&list.join(","))
}

fn capacity(o: &Value, _: DateTime<Utc>) -> Value {
    let summary = o.pointer("/status/resourceSummary");
    match summary {
        Some(s) => string(format!(
            "{}/{} pods free",
            s["availablePods"].as_i64().unwrap_or(0),
            s["allocatablePods"].as_i64().unwrap_or(0)
        )),
        None => string("<unknown>"),
    }
}

/// The columns of `kubectl get clusters`.
pub fn cluster_printer() -> Printer {
    let col = |name: &str, desc: &str, cell: table::CellFn| {
        Column::computed(name, "string", 0, desc, cell)
    };
    let wide = |name: &str, desc: &str, cell: table::CellFn| {
        Column::computed(name, "string", 1, desc, cell)
    };
    Printer::new(vec![
        Column::name(),
        col(
            "Ready",
            "Whether the cluster answers and is ready (True, False, Unknown).",
            ready,
        ),
        col("Region", "The cluster's region.", |o, _| {
            or_none(text(o, "/spec/region"))
        }),
        col("Zone", "The cluster's zone.", |o, _| {
            or_none(text(o, "/spec/zone"))
        }),
        col(
            "Latency",
            "Median health-probe round trip over the recent window.",
            |o, _| milliseconds(o, "/status/latency/p50Ms"),
        ),
        col("Version", "The member's Kubernetes version.", |o, _| {
            or_none(text(o, "/status/kubernetesVersion"))
        }),
        Column::age(),
        wide(
            "P99",
            "99th percentile of the health-probe round trip.",
            |o, _| milliseconds(o, "/status/latency/p99Ms"),
        ),
        wide("Endpoint", "The member's API server.", |o, _| {
            string(text(o, "/spec/apiEndpoint"))
        }),
        wide("Taints", "The cluster's taints.", taints),
        wide("Capacity", "Free and allocatable pods.", capacity),
    ])
}

fn condition_status(o: &Value, type_: &str) -> Value {
    let status = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown");
    string(status)
}

/// The columns of `kubectl get resourcebindings`.
pub fn binding_printer() -> Printer {
    let col = |name: &str, desc: &str, cell: table::CellFn| {
        Column::computed(name, "string", 0, desc, cell)
    };
    let wide = |name: &str, desc: &str, cell: table::CellFn| {
        Column::computed(name, "string", 1, desc, cell)
    };
    Printer::new(vec![
        Column::name(),
        col("Scheduled", "Whether the template is placed.", |o, _| {
            condition_status(o, "Scheduled")
        }),
        col(
            "Applied",
            "Whether every target cluster has its copy.",
            |o, _| condition_status(o, "FullyApplied"),
        ),
        col("Clusters", "Target clusters and their replicas.", |o, _| {
            let clusters: Vec<String> = o
                .pointer("/spec/clusters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{}:{}",
                        text(c, "/name"),
                        c["replicas"].as_i64().unwrap_or(0)
                    )
                })
                .collect();
            or_none(&clusters.join(","))
        }),
        col(
            "Rollout",
            "The cross-cluster rollout: phase and wave.",
            |o, _| string(rollout_cell(o)),
        ),
        Column::age(),
        wide("Policy", "The policy that placed the template.", |o, _| {
            or_none(text(o, "/spec/policy"))
        }),
        wide("Resource", "The template.", |o, _| {
            string(format!(
                "{}/{}",
                text(o, "/spec/resource/kind"),
                text(o, "/spec/resource/name")
            ))
        }),
    ])
}

/// `Progressing 2/3` (wave of waves), `RolledBack to 4`, `Complete`, or
/// `<none>` without a rollout block.
fn rollout_cell(binding: &Value) -> String {
    let rollout = &binding["status"]["rollout"];
    let Some(phase) = rollout["phase"].as_str() else {
        return "<none>".into();
    };
    match (
        phase,
        rollout["currentWave"].as_i64(),
        rollout["waves"].as_i64(),
    ) {
        ("RolledBack", _, _) => match rollout["lastGoodRevision"].as_i64() {
            Some(good) => format!("RolledBack to {good}"),
            None => phase.to_string(),
        },
        ("Complete", _, _) => phase.to_string(),
        (_, Some(wave), Some(waves)) => format!("{phase} {wave}/{waves}"),
        _ => phase.to_string(),
    }
}

fn register_printers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        table::register(federation_proto::GROUP, "Cluster", cluster_printer());
        table::register(
            federation_proto::GROUP,
            "ResourceBinding",
            binding_printer(),
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster(spec: Value) -> Value {
        json!({"apiVersion": "flotilla.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "m1"}, "spec": spec})
    }

    #[test]
    fn every_kind_is_served_with_its_scope() {
        let registry = federation_registry();
        let get = |plural| {
            registry
                .lookup("flotilla.io", "v1alpha1", plural)
                .expect(plural)
        };
        assert!(!get("clusters").namespaced);
        assert!(get("clusters").has_status);
        assert!(get("propagationpolicies").namespaced);
        assert_eq!(get("propagationpolicies").short_names, ["pp"]);
        assert!(!get("clusterpropagationpolicies").namespaced);
        assert!(get("overridepolicies").namespaced);
        assert!(get("resourcebindings").has_status);
        assert!(get("clusters").crd.is_none(), "not removable");
    }

    #[test]
    fn cluster_rules_beyond_the_schema() {
        let registry = federation_registry();
        let rt = registry
            .lookup("flotilla.io", "v1alpha1", "clusters")
            .expect("clusters");
        let good = cluster(json!({"apiEndpoint": "https://127.0.0.1:6443",
            "secretRef": {"namespace": "flotilla-system", "name": "m1"}}));
        assert_eq!(rt.schema_check.check(&good), Ok(()));
        let bad_endpoint = cluster(json!({"apiEndpoint": "http://x:1",
            "secretRef": {"namespace": "flotilla-system", "name": "m1"}}));
        let err = rt.schema_check.check(&bad_endpoint).expect_err("http");
        assert!(
            err.contains("spec.apiEndpoint") && err.contains("https://"),
            "{err}"
        );
        for endpoint in [
            "https://",
            "https://:443",
            "https://h:0",
            "https://h:99999",
            "https://u@h",
        ] {
            let c = cluster(
                json!({"apiEndpoint": endpoint, "secretRef": {"namespace": "a", "name": "b"}}),
            );
            assert!(rt.schema_check.check(&c).is_err(), "{endpoint} accepted");
        }
        for endpoint in [
            "https://h",
            "https://h:6443/prefix",
            "https://[::1]:6443",
            "https://10.0.0.1",
        ] {
            let c = cluster(
                json!({"apiEndpoint": endpoint, "secretRef": {"namespace": "a", "name": "b"}}),
            );
            assert_eq!(rt.schema_check.check(&c), Ok(()), "{endpoint}");
        }
        let missing_secret = cluster(json!({"apiEndpoint": "https://h"}));
        let err = rt
            .schema_check
            .check(&missing_secret)
            .expect_err("no secretRef");
        assert!(err.contains("secretRef"), "{err}");
        let negative = cluster(
            json!({"apiEndpoint": "https://h", "secretRef": {"namespace": "a", "name": "b"},
            "health": {"periodSeconds": -1}}),
        );
        let err = rt.schema_check.check(&negative).expect_err("negative");
        assert!(err.contains("periodSeconds"), "{err}");
        let taint = cluster(
            json!({"apiEndpoint": "https://h", "secretRef": {"namespace": "a", "name": "b"},
            "taints": [{"key": "k", "effect": "Sometimes"}]}),
        );
        assert!(rt
            .schema_check
            .check(&taint)
            .expect_err("effect")
            .contains("effect"));
    }

    #[test]
    fn binding_rollout_cell() {
        let with = |rollout: Value| json!({"status": {"rollout": rollout}});
        assert_eq!(rollout_cell(&json!({})), "<none>");
        assert_eq!(
            rollout_cell(&with(
                json!({"phase": "Progressing", "currentWave": 2, "waves": 3})
            )),
            "Progressing 2/3"
        );
        assert_eq!(
            rollout_cell(&with(
                json!({"phase": "RolledBack", "lastGoodRevision": 4, "waves": 3})
            )),
            "RolledBack to 4"
        );
        assert_eq!(
            rollout_cell(&with(
                json!({"phase": "Complete", "currentWave": 3, "waves": 3})
            )),
            "Complete"
        );
        assert_eq!(rollout_cell(&with(json!({"phase": "Paused"}))), "Paused");
    }

    #[test]
    fn cluster_columns() {
        let c = json!({"metadata": {"name": "m1"}, "spec": {"region": "eu-west", "apiEndpoint": "https://h",
            "taints": [{"key": "cluster.flotilla.io/unreachable", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "kubernetesVersion": "v1.33.0",
                "latency": {"lastMs": 3.0, "p50Ms": 2.5, "p99Ms": 42.0, "samples": 3},
                "resourceSummary": {"allocatablePods": 60, "allocatedPods": 10, "availablePods": 50}}});
        let printer = cluster_printer();
        let now = Utc::now();
        let cells: Vec<Value> = printer
            .columns
            .iter()
            .map(|col| match &col.source {
                table::CellSource::Computed(cell) => cell(&c, now),
                _ => Value::Null,
            })
            .collect();
        assert_eq!(cells[1], "True");
        assert_eq!(cells[2], "eu-west");
        assert_eq!(cells[3], "<none>");
        assert_eq!(cells[4], "2.5ms");
        assert_eq!(cells[5], "v1.33.0");
        assert_eq!(cells[7], "42ms");
        assert_eq!(cells[9], "cluster.flotilla.io/unreachable:NoSchedule");
        assert_eq!(cells[10], "50/60 pods free");
    }
}
