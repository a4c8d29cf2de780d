//! Flotilla's kinds as the gRPC API's typed messages.

use federation_proto::grpc::v1 as pb;
use federation_proto::{Cluster, ResourceBinding};
use serde_json::Value;

/// A stored object (JSON) as an [`pb::Object`].
pub fn object(json: &Value) -> pb::Object {
    pb::Object {
        json: serde_json::to_vec(json).unwrap_or_default(),
        resource_version: json["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

/// An object's JSON text, as the REST handler wrote it, as an
/// [`pb::Object`]: only its resourceVersion is read out.
pub fn object_from_json_text(json: bytes::Bytes) -> Result<pb::Object, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(default, rename = "resourceVersion")]
        resource_version: String,
    }
    #[derive(serde::Deserialize)]
    struct Head {
        metadata: Meta,
    }
    let head: Head = serde_json::from_slice(&json)?;
    Ok(pb::Object {
        json: json.to_vec(),
        resource_version: head.metadata.resource_version,
    })
}

/// `ADDED` / `MODIFIED` / `DELETED` (`None` for other events, BOOKMARK).
pub fn event_type(name: &str) -> Option<pb::EventType> {
    match name {
        "ADDED" => Some(pb::EventType::Added),
        "MODIFIED" => Some(pb::EventType::Modified),
        "DELETED" => Some(pb::EventType::Deleted),
        _ => None,
    }
}

/// A Cluster as the API's [`pb::Cluster`].
pub fn cluster(c: &Cluster) -> pb::Cluster {
    let status = c.status.clone().unwrap_or_default();
    let ready = c.ready_condition();
    let latency = status.latency.clone().unwrap_or_default();
    let summary = status.resource_summary.clone().unwrap_or_default();
    pb::Cluster {
        name: c.metadata.name.clone().unwrap_or_default(),
        region: c.spec.region.clone().unwrap_or_default(),
        zone: c.spec.zone.clone().unwrap_or_default(),
        provider: c.spec.provider.clone().unwrap_or_default(),
        ready: c.is_ready(),
        ready_reason: ready.map(|r| r.reason.clone()).unwrap_or_default(),
        ready_message: ready.map(|r| r.message.clone()).unwrap_or_default(),
        latency_last_ms: latency.last_ms,
        latency_p50_ms: latency.p50_ms,
        latency_p99_ms: latency.p99_ms,
        kubernetes_version: status.kubernetes_version.clone().unwrap_or_default(),
        api_endpoint: c.spec.api_endpoint.clone(),
        unschedulable: c.spec.unschedulable,
        draining: c.is_draining(),
        allocatable_pods: summary.allocatable_pods,
        available_pods: summary.available_pods,
        taints: c
            .spec
            .taints
            .iter()
            .map(|t| pb::Taint {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect: t.effect.clone(),
            })
            .collect(),
        cost_per_replica_hour: c.spec.cost.as_ref().map_or(0.0, |c| c.per_replica_hour),
        resource_version: c.metadata.resource_version.clone().unwrap_or_default(),
    }
}

/// A Cluster's stored JSON as [`pb::Cluster`].
pub fn cluster_json(json: &Value) -> Result<pb::Cluster, serde_json::Error> {
    let c: Cluster = serde_json::from_value(json.clone())?;
    Ok(cluster(&c))
}

/// Where a binding placed its template: the targets first (replicas,
/// ready replicas from the member status, the scheduler's reason), then
/// the clusters it considered and dropped.
pub fn placement(binding: &ResourceBinding) -> pb::Placement {
    let status = binding.status.clone().unwrap_or_default();
    let reason = |cluster: &str| {
        binding
            .spec
            .decisions
            .iter()
            .find(|d| d.cluster == cluster)
            .map(|d| d.reason.clone())
            .unwrap_or_default()
    };
    let mut clusters: Vec<pb::ClusterPlacement> = binding
        .spec
        .clusters
        .iter()
        .map(|t| {
            let member = status
                .aggregated_status
                .iter()
                .find(|m| m.cluster_name == t.name);
            let ready = member
                .and_then(|m| m.status.as_ref())
                .and_then(|s| s["readyReplicas"].as_i64())
                .unwrap_or(0);
            pb::ClusterPlacement {
                cluster: t.name.clone(),
                replicas: t.replicas,
                ready_replicas: ready as i32,
                reason: reason(&t.name),
                selected: true,
                applied: member.is_some_and(|m| m.applied),
                health: member
                    .and_then(|m| m.health.clone())
                    .unwrap_or_else(|| "Unknown".into()),
            }
        })
        .collect();
    clusters.extend(
        binding
            .spec
            .decisions
            .iter()
            .filter(|d| !d.selected && !binding.spec.clusters.iter().any(|t| t.name == d.cluster))
            .map(|d| pb::ClusterPlacement {
                cluster: d.cluster.clone(),
                reason: d.reason.clone(),
                ..Default::default()
            }),
    );
    pb::Placement {
        replicas: binding.spec.replicas,
        policy: binding.spec.policy.clone().unwrap_or_default(),
        clusters,
        rollout_phase: status.rollout.map(|r| r.phase).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_text_passes_through_with_its_resource_version() {
        let text = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"42"},"data":{"k":"v"}}"#;
        let o = object_from_json_text(bytes::Bytes::from_static(text)).expect("object");
        assert_eq!(o.resource_version, "42");
        assert_eq!(o.json, text.to_vec());
        assert_eq!(
            object(&serde_json::from_slice(text).expect("json")).resource_version,
            "42"
        );
    }

    #[test]
    fn a_placement_lists_targets_then_dropped_clusters() {
        let binding: ResourceBinding = serde_json::from_value(json!({
            "apiVersion": "flotilla.io/v1alpha1", "kind": "ResourceBinding",
            "metadata": {"name": "web-deployment", "namespace": "shop"},
            "spec": {
                "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "replicas": 5, "policy": "PropagationPolicy/shop/web",
                "clusters": [{"name": "m1", "replicas": 3}, {"name": "m2", "replicas": 2}],
                "decisions": [
                    {"cluster": "m1", "selected": true, "reason": "static weight 3"},
                    {"cluster": "m2", "selected": true, "reason": "static weight 2"},
                    {"cluster": "m3", "selected": false, "reason": "taint x:NoSchedule"}]},
            "status": {"aggregatedStatus": [
                {"clusterName": "m1", "applied": true, "health": "Healthy",
                 "status": {"readyReplicas": 3}}]}
        }))
        .expect("binding");
        let p = placement(&binding);
        assert_eq!(p.replicas, 5);
        assert_eq!(p.policy, "PropagationPolicy/shop/web");
        let names: Vec<(&str, i32, i32, bool)> = p
            .clusters
            .iter()
            .map(|c| (c.cluster.as_str(), c.replicas, c.ready_replicas, c.selected))
            .collect();
        assert_eq!(
            names,
            [("m1", 3, 3, true), ("m2", 2, 0, true), ("m3", 0, 0, false)]
        );
        assert_eq!(p.clusters[0].reason, "static weight 3");
        assert_eq!(p.clusters[1].health, "Unknown");
        assert_eq!(p.clusters[2].reason, "taint x:NoSchedule");
    }
}
