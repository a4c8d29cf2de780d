//! Cluster maintenance rules shared by `kubectl fed cordon|uncordon|drain`
//! and the gRPC `Cordon`, `Uncordon` and `Drain` calls: what a drain
//! needs before it starts, what it writes, and what is left to move.

use serde_json::{json, Value};

use crate::{Cluster, ResourceBinding, DRAIN_ANNOTATION};

/// What Flotilla still has on `cluster`: (workloads, replicas). A workload
/// counts while a binding targets the cluster or its copy is still there.
pub fn placed_on(bindings: &[ResourceBinding], cluster: &str) -> (usize, i64) {
    let mut workloads = 0;
    let mut replicas = 0;
    for b in bindings {
        let target = b.spec.clusters.iter().find(|t| t.name == cluster);
        let copy = b.status.as_ref().is_some_and(|s| {
            s.aggregated_status
                .iter()
                .any(|m| m.cluster_name == cluster && m.applied)
        });
        if target.is_some() || copy {
            workloads += 1;
            replicas += target.map_or(0, |t| i64::from(t.replicas));
        }
    }
    (workloads, replicas)
}

/// Whether the other clusters can take what a drain of `name` moves: the
/// Divided replicas placed there (Duplicated copies already run elsewhere)
/// against the free pods of the other Ready, schedulable clusters. `Err`
/// says why not, in words a person can act on. A drain already under way
/// passes (its replicas are moving).
pub fn drain_check(
    name: &str,
    clusters: &[Cluster],
    bindings: &[ResourceBinding],
) -> Result<(), String> {
    let Some(cluster) = clusters
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
    else {
        return Err(format!(
            "no cluster named {name} is joined (kubectl get clusters lists them)"
        ));
    };
    let moving: i64 = bindings
        .iter()
        .filter(|b| b.spec.replicas > 0)
        .filter_map(|b| b.spec.clusters.iter().find(|t| t.name == name))
        .map(|t| i64::from(t.replicas))
        .sum();
    if cluster.is_draining() || moving == 0 {
        return Ok(());
    }
    let takers: Vec<&Cluster> = clusters
        .iter()
        .filter(|c| c.metadata.name.as_deref() != Some(name))
        .filter(|c| c.is_ready() && !c.spec.unschedulable && !c.is_draining())
        .collect();
    if takers.is_empty() {
        return Err(format!(
            "cannot drain {name}: no other cluster is Ready and schedulable to take its {moving} replicas"
        ));
    }
    let room: Option<i64> = takers
        .iter()
        .map(|c| {
            c.status
                .as_ref()
                .and_then(|s| s.resource_summary.as_ref())
                .map(|r| r.available_pods)
        })
        .sum();
    match room.filter(|r| *r < moving) {
        Some(room) => Err(format!(
            "cannot drain {name}: it runs {moving} replicas Flotilla placed, and the other Ready, \
             schedulable clusters have room for {room} (free pods); add capacity or join \
             another cluster first"
        )),
        None => Ok(()),
    }
}

/// The merge patch that starts a drain (cordon, and the drain annotation
/// with the time it was asked for).
pub fn drain_patch(now: &str) -> Value {
    json!({
        "metadata": {"annotations": {DRAIN_ANNOTATION: now}},
        "spec": {"unschedulable": true},
    })
}

/// The merge patch of a cordon (`true`) or an uncordon (`false`), which
/// also ends a drain. `None`: the cluster is that way already.
pub fn cordon_patch(cluster: &Cluster, unschedulable: bool) -> Option<Value> {
    let ends_drain = !unschedulable && cluster.is_draining();
    if cluster.spec.unschedulable == unschedulable && !ends_drain {
        return None;
    }
    let mut patch = json!({"spec": {"unschedulable": unschedulable}});
    if ends_drain {
        patch["metadata"] = json!({"annotations": {DRAIN_ANNOTATION: null}});
    }
    Some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{ObjectReference, ResourceBindingSpec, TargetCluster};
    use crate::cluster::{ClusterSpec, ClusterStatus, ResourceSummary};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn cluster(name: &str, ready: bool, free: i64) -> Cluster {
        let mut c = Cluster::new(name, ClusterSpec::default());
        c.status = Some(ClusterStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: String::new(),
                message: String::new(),
                last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
                observed_generation: None,
            }],
            resource_summary: Some(ResourceSummary {
                available_pods: free,
                ..Default::default()
            }),
            ..Default::default()
        });
        c
    }

    fn binding(targets: &[(&str, i32)]) -> ResourceBinding {
        ResourceBinding::new(
            "web-deployment",
            ResourceBindingSpec {
                resource: ObjectReference {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name: "web".into(),
                    ..Default::default()
                },
                replicas: targets.iter().map(|(_, r)| r).sum(),
                clusters: targets
                    .iter()
                    .map(|(n, r)| TargetCluster {
                        name: n.to_string(),
                        replicas: *r,
                    })
                    .collect(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn a_drain_needs_room_on_the_other_ready_clusters() {
        let bindings = [binding(&[("m1", 6), ("m2", 4)])];
        let roomy = [cluster("m1", true, 0), cluster("m2", true, 10)];
        assert_eq!(drain_check("m1", &roomy, &bindings), Ok(()));
        let short = [cluster("m1", true, 0), cluster("m2", true, 5)];
        let why = drain_check("m1", &short, &bindings).expect_err("short");
        assert!(why.contains("room for 5"), "{why}");
        let down = [cluster("m1", true, 0), cluster("m2", false, 50)];
        assert!(drain_check("m1", &down, &bindings)
            .expect_err("no taker")
            .contains("no other cluster"));
        assert!(drain_check("m9", &roomy, &bindings)
            .expect_err("unknown")
            .contains("no cluster named m9"));
        assert_eq!(placed_on(&bindings, "m1"), (1, 6));
        assert_eq!(placed_on(&bindings, "m3"), (0, 0));
    }

    #[test]
    fn uncordon_ends_a_drain_and_no_op_patches_are_none() {
        let mut c = cluster("m1", true, 0);
        assert!(cordon_patch(&c, false).is_none());
        assert_eq!(
            cordon_patch(&c, true),
            Some(json!({"spec": {"unschedulable": true}}))
        );
        c.spec.unschedulable = true;
        c.metadata.annotations = Some([(DRAIN_ANNOTATION.to_string(), "now".to_string())].into());
        let patch = cordon_patch(&c, false).expect("uncordon");
        assert_eq!(
            patch["metadata"]["annotations"][DRAIN_ANNOTATION],
            Value::Null
        );
        assert!(patch["metadata"]["annotations"]
            .as_object()
            .is_some_and(|a| a.contains_key(DRAIN_ANNOTATION)));
    }
}
