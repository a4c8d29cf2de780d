//! Columns of the kinds only member clusters serve (nodes and pods), as
//! kubectl shows them against a real cluster.

use serde_json::Value;

use super::cells::*;
use super::{Column, Printer};

fn col(name: &str, type_: &str, description: &str, cell: super::CellFn) -> Column {
    Column::computed(name, type_, 0, description, cell)
}

fn wide(name: &str, description: &str, cell: super::CellFn) -> Column {
    Column::computed(name, "string", 1, description, cell)
}

/// `(group, kind, printer)` for Node and Pod.
pub(super) fn member() -> Vec<(&'static str, &'static str, Printer)> {
    vec![("", "Node", node_printer()), ("", "Pod", pod_printer())]
}

fn node_printer() -> Printer {
    Printer::new(vec![
        Column::name(),
        col("Status", "string", "The status of the node", |o, _| {
            s(node_status(o))
        }),
        col("Roles", "string", "The roles of the node", |o, _| {
            s(node_roles(o))
        }),
        Column::age(),
        col(
            "Version",
            "string",
            "Kubelet Version reported by the node.",
            |o, _| s(text(o, "/status/nodeInfo/kubeletVersion")),
        ),
        wide("Internal-IP", "The node's internal IP.", |o, _| {
            s(node_address(o, "InternalIP"))
        }),
        wide("External-IP", "The node's external IP.", |o, _| {
            s(node_address(o, "ExternalIP"))
        }),
        wide("OS-Image", "OS image reported by the node.", |o, _| {
            s(or_unknown(text(o, "/status/nodeInfo/osImage")))
        }),
        wide("Kernel-Version", "Kernel version of the node.", |o, _| {
            s(or_unknown(text(o, "/status/nodeInfo/kernelVersion")))
        }),
        wide(
            "Container-Runtime",
            "Container runtime of the node.",
            |o, _| {
                s(or_unknown(text(
                    o,
                    "/status/nodeInfo/containerRuntimeVersion",
                )))
            },
        ),
    ])
}

fn pod_printer() -> Printer {
    Printer::new(vec![
        Column::name(),
        col(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
            |o, _| {
                let statuses = list(o, "/status/containerStatuses");
                let ready = statuses
                    .iter()
                    .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                    .count();
                s(format!("{ready}/{}", list(o, "/spec/containers").len()))
            },
        ),
        col(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
            |o, _| s(pod_status(o)),
        ),
        col(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted.",
            |o, _| {
                let restarts: i64 = list(o, "/status/containerStatuses")
                    .iter()
                    .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                    .sum();
                s(restarts.to_string())
            },
        ),
        Column::age(),
        wide("IP", "The IP address assigned to the pod.", |o, _| {
            s(or_none(text(o, "/status/podIP")))
        }),
        wide("Node", "The node the pod is assigned to.", |o, _| {
            s(or_none(text(o, "/spec/nodeName")))
        }),
        wide(
            "Nominated Node",
            "The node the pod is nominated to run on.",
            |o, _| s(or_none(text(o, "/status/nominatedNodeName"))),
        ),
        wide("Readiness Gates", "The pod's readiness gates.", |o, _| {
            s(if count(o, "/spec/readinessGates") == 0 {
                "<none>".to_string()
            } else {
                format!("0/{}", count(o, "/spec/readinessGates"))
            })
        }),
    ])
}

fn or_none(v: String) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v
    }
}

fn or_unknown(v: String) -> String {
    if v.is_empty() {
        "<unknown>".into()
    } else {
        v
    }
}

/// `Ready`, `NotReady` or `Unknown`, plus `,SchedulingDisabled` when cordoned.
pub(super) fn node_status(o: &Value) -> String {
    let ready = list(o, "/status/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .and_then(|c| c.get("status").and_then(Value::as_str));
    let mut status = match ready {
        Some("True") => "Ready".to_string(),
        Some("False") => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if at(o, "/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// Roles from `node-role.kubernetes.io/ROLE` labels (and the legacy
/// `kubernetes.io/role`), sorted, `<none>` without any.
pub(super) fn node_roles(o: &Value) -> String {
    let mut roles: Vec<String> = at(o, "/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| {
                    if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                        Some(role.to_string())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().map(str::to_string)
                    } else {
                        None
                    }
                })
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

fn node_address(o: &Value, kind: &str) -> String {
    list(o, "/status/addresses")
        .iter()
        .find(|a| a.get("type").and_then(Value::as_str) == Some(kind))
        .and_then(|a| a.get("address").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| "<none>".into())
}

/// kubectl's pod STATUS: `Terminating`, a container's waiting or terminated
/// reason (`CrashLoopBackOff`, `Completed`), else the phase.
pub(super) fn pod_status(o: &Value) -> String {
    if at(o, "/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let mut status = text(o, "/status/reason");
    if status.is_empty() {
        status = text(o, "/status/phase");
    }
    for c in list(o, "/status/containerStatuses") {
        let reason = c
            .pointer("/state/waiting/reason")
            .or_else(|| c.pointer("/state/terminated/reason"))
            .and_then(Value::as_str);
        if let Some(reason) = reason.filter(|r| !r.is_empty()) {
            status = reason.to_string();
        }
    }
    if status.is_empty() {
        "Pending".into()
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_status_and_roles() {
        let node = json!({
            "metadata": {"labels": {"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "edge"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        });
        assert_eq!(node_status(&node), "Ready,SchedulingDisabled");
        assert_eq!(node_roles(&node), "edge,worker");
        let bare = json!({"metadata": {}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(node_status(&bare), "NotReady");
        assert_eq!(node_roles(&bare), "<none>");
        assert_eq!(node_status(&json!({})), "Unknown");
    }

    #[test]
    fn pod_status_prefers_container_reasons() {
        let crashing = json!({"status": {"phase": "Running", "containerStatuses": [
            {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(pod_status(&crashing), "CrashLoopBackOff");
        assert_eq!(
            pod_status(&json!({"status": {"phase": "Running"}})),
            "Running"
        );
        assert_eq!(pod_status(&json!({})), "Pending");
        let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(pod_status(&deleting), "Terminating");
    }
}
