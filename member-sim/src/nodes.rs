//! The member's nodes: Node objects that carry its pod capacity, region
//! and zone, written once when the member starts.
//!
//! Nodes are ordinary objects afterwards: `kubectl cordon` (spec.unschedulable)
//! takes a node's room away from new pods, editing `status.allocatable.pods`
//! changes the member's capacity, and the workload controller reads them on
//! every pass.

use std::collections::HashMap;

use federation_apiserver::storage::{Storage, StorageError};
use serde_json::{json, Value};

use crate::workloads::NodeView;

/// The kubelet version the simulated nodes report.
pub const KUBELET_VERSION: &str = "v1.33.0";

/// What the nodes of a member look like.
#[derive(Debug, Clone)]
pub struct NodeLayout {
    /// Member name (the nodes are `NAME-node-1..N`).
    pub member: String,
    pub capacity_pods: u32,
    pub nodes: u32,
    pub region: Option<String>,
    pub zone: Option<String>,
}

impl NodeLayout {
    /// Allocatable pods per node: the capacity split evenly, the remainder
    /// on the first nodes.
    pub fn split(&self) -> Vec<u32> {
        let n = self.nodes.max(1);
        (0..n)
            .map(|i| self.capacity_pods / n + u32::from(i < self.capacity_pods % n))
            .collect()
    }

    /// The Node objects (without server-owned metadata).
    pub fn objects(&self) -> Vec<Value> {
        self.split()
            .into_iter()
            .enumerate()
            .map(|(i, pods)| self.node(i as u32 + 1, pods))
            .collect()
    }

    fn node(&self, index: u32, pods: u32) -> Value {
        let name = format!("{}-node-{index}", self.member);
        let mut labels = json!({
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "flotilla-sim",
            "sim.flotilla.io/member": self.member,
        });
        if let Some(region) = &self.region {
            labels["topology.kubernetes.io/region"] = json!(region);
        }
        if let Some(zone) = &self.zone {
            labels["topology.kubernetes.io/zone"] = json!(zone);
        }
        let resources = json!({"pods": pods.to_string(), "cpu": "8", "memory": "32Gi",
            "ephemeral-storage": "100Gi"});
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {},
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": [
                    condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                    condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available"),
                    condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                        "kubelet has no disk pressure"),
                    condition("PIDPressure", "False", "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available"),
                ],
                // Documentation addresses (TEST-NET-2): never contacted.
                "addresses": [
                    {"type": "InternalIP", "address": format!("198.51.100.{}", index.min(254))},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "machineID": "", "systemUUID": "", "bootID": "",
                    "kernelVersion": "6.0.0-flotilla-sim",
                    "osImage": "Flotilla simulated node",
                    "containerRuntimeVersion": "flotilla-sim://0.1.0",
                    "kubeletVersion": KUBELET_VERSION,
                    "kubeProxyVersion": KUBELET_VERSION,
                    "operatingSystem": "linux",
                    "architecture": "amd64"
                }
            }
        })
    }
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    let now = federation_apiserver::rest::object_meta::now_rfc3339();
    json!({"type": type_, "status": status, "reason": reason, "message": message,
        "lastHeartbeatTime": now, "lastTransitionTime": now})
}

/// The storage key prefix of nodes.
pub const NODES_PREFIX: &str = "/core/nodes/";

/// Creates the layout's nodes that do not exist yet.
pub async fn ensure(storage: &dyn Storage, layout: &NodeLayout) -> Result<(), StorageError> {
    for mut node in layout.objects() {
        let name = node["metadata"]["name"].as_str().unwrap_or("").to_string();
        let key = format!("{NODES_PREFIX}{name}");
        if storage.get(&key).await?.is_some() {
            continue;
        }
        let meta = &mut node["metadata"];
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        meta["creationTimestamp"] = json!(federation_apiserver::rest::object_meta::now_rfc3339());
        meta["generation"] = json!(1);
        match storage.create(&key, node).await {
            Ok(_) | Err(StorageError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What the workload controller needs of a stored Node.
pub fn view(node: &Value) -> NodeView {
    let labels: HashMap<String, String> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let pods = node
        .pointer("/status/allocatable/pods")
        .and_then(|v| match v {
            Value::String(s) => s.parse::<u32>().ok(),
            Value::Number(n) => n.as_u64().map(|n| n.min(u64::from(u32::MAX)) as u32),
            _ => None,
        })
        .unwrap_or(0);
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .is_some_and(|c| c["status"] == "True");
    NodeView {
        name: node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        labels,
        allocatable_pods: if ready { pods } else { 0 },
        unschedulable: node
            .pointer("/spec/unschedulable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_split_over_the_nodes() {
        let layout = NodeLayout {
            member: "m".into(),
            capacity_pods: 10,
            nodes: 3,
            region: Some("eu-west".into()),
            zone: None,
        };
        assert_eq!(layout.split(), vec![4, 3, 3]);
        let nodes = layout.objects();
        assert_eq!(nodes[0]["metadata"]["name"], "m-node-1");
        assert_eq!(
            nodes[0]["metadata"]["labels"]["topology.kubernetes.io/region"],
            "eu-west"
        );
        let views: Vec<NodeView> = nodes.iter().map(view).collect();
        assert_eq!(crate::workloads::capacity(&views), 10);
        // Every object decodes as a real Node.
        for node in &nodes {
            serde_json::from_value::<k8s_openapi::api::core::v1::Node>(node.clone())
                .expect("a Node");
        }
    }

    #[test]
    fn not_ready_nodes_offer_no_room() {
        let mut node = NodeLayout {
            member: "m".into(),
            capacity_pods: 5,
            nodes: 1,
            region: None,
            zone: None,
        }
        .objects()
        .remove(0);
        assert_eq!(view(&node).allocatable_pods, 5);
        node["status"]["conditions"][0]["status"] = json!("False");
        assert_eq!(view(&node).allocatable_pods, 0);
    }
}
