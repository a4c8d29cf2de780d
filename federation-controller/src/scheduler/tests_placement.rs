//! Scheduling decisions for known inputs.

use std::time::Duration;

use federation_proto::binding::TargetCluster;
use federation_proto::policy::{
    ClusterAffinity, ClusterLimit, ClusterTarget, Failover, Placement, ReplicaScheduling,
    SpreadConstraint, StaticWeight, WeightPreference,
};
use k8s_openapi::api::core::v1::{Taint, Toleration};

use super::filters::ClusterView;
use super::placement::{schedule, Request};

fn cluster(name: &str, region: &str, room: Option<i64>) -> ClusterView {
    ClusterView {
        name: name.into(),
        region: Some(region.into()),
        ready: true,
        available_pods: room,
        ..Default::default()
    }
}

fn three() -> Vec<ClusterView> {
    vec![
        cluster("m1", "us-east", None),
        cluster("m2", "eu-west", None),
        cluster("m3", "ap-south", None),
    ]
}

fn divided(preference: WeightPreference) -> Placement {
    Placement {
        replica_scheduling: Some(ReplicaScheduling {
            replica_scheduling_type: Some("Divided".into()),
            weight_preference: Some(preference),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn weights(ws: &[(&str, i64)]) -> Placement {
    divided(WeightPreference {
        static_weight_list: ws
            .iter()
            .map(|(n, w)| StaticWeight {
                target_cluster: ClusterTarget {
                    cluster_names: vec![n.to_string()],
                    label_selector: None,
                },
                weight: *w,
            })
            .collect(),
        dynamic_weight: None,
    })
}

fn run(
    placement: &Placement,
    replicas: u32,
    clusters: &[ClusterView],
    previous: &[TargetCluster],
) -> Vec<(String, i32)> {
    let req = Request {
        placement,
        failover: None,
        replicas: Some(replicas),
        previous,
        fresh: false,
    };
    schedule(&req, clusters)
        .expect("schedulable")
        .clusters
        .into_iter()
        .map(|t| (t.name, t.replicas))
        .collect()
}

fn pairs(v: &[(&str, i32)]) -> Vec<(String, i32)> {
    v.iter().map(|(n, r)| (n.to_string(), *r)).collect()
}

fn targets(v: &[(String, i32)]) -> Vec<TargetCluster> {
    v.iter()
        .map(|(n, r)| TargetCluster {
            name: n.clone(),
            replicas: *r,
        })
        .collect()
}

#[test]
fn static_weights_1_2_2() {
    let p = weights(&[("m1", 1), ("m2", 2), ("m3", 2)]);
    let ten = run(&p, 10, &three(), &[]);
    assert_eq!(ten, pairs(&[("m1", 2), ("m2", 4), ("m3", 4)]));
    assert_eq!(
        run(&p, 15, &three(), &[]),
        pairs(&[("m1", 3), ("m2", 6), ("m3", 6)])
    );
    // Scaling 10 → 15 from the running assignment lands on the same numbers.
    assert_eq!(
        run(&p, 15, &three(), &targets(&ten)),
        pairs(&[("m1", 3), ("m2", 6), ("m3", 6)])
    );
}

#[test]
fn duplicated_is_the_default() {
    let p = Placement::default();
    assert_eq!(
        run(&p, 3, &three(), &[]),
        pairs(&[("m1", 3), ("m2", 3), ("m3", 3)])
    );
    // A cluster without room for a full copy is skipped.
    let mut clusters = three();
    clusters[1].available_pods = Some(2);
    assert_eq!(run(&p, 3, &clusters, &[]), pairs(&[("m1", 3), ("m3", 3)]));
}

#[test]
fn available_replicas_favours_the_roomier_cluster_and_respects_room() {
    let p = divided(WeightPreference {
        dynamic_weight: Some("AvailableReplicas".into()),
        ..Default::default()
    });
    let clusters = vec![
        cluster("m1", "a", Some(60)),
        cluster("m2", "b", Some(20)),
        cluster("m3", "c", Some(20)),
    ];
    let out = run(&p, 10, &clusters, &[]);
    assert_eq!(out, pairs(&[("m1", 6), ("m2", 2), ("m3", 2)]));
    // Never more than a cluster's free room.
    let tight = vec![cluster("m1", "a", Some(3)), cluster("m2", "b", Some(100))];
    let out = run(&weights(&[("m1", 10), ("m2", 1)]), 10, &tight, &[]);
    assert_eq!(out, pairs(&[("m1", 3), ("m2", 7)]));
    // The whole federation short of room: unschedulable, with a reason.
    let req = Request {
        placement: &p,
        failover: None,
        replicas: Some(200),
        previous: &[],
        fresh: false,
    };
    let err = schedule(&req, &clusters).expect_err("no room");
    assert!(err.reason.contains("100 of the 200"), "{}", err.reason);
}

#[test]
fn latency_cost_favours_the_faster_and_cheaper_cluster() {
    let p = divided(WeightPreference {
        dynamic_weight: Some("LatencyCost".into()),
        ..Default::default()
    });
    let mut clusters = three();
    clusters[0].latency_ms = Some(5.0);
    clusters[1].latency_ms = Some(50.0);
    clusters[2].latency_ms = Some(5.0);
    clusters[2].cost_per_replica_hour = Some(2.0);
    clusters[0].cost_per_replica_hour = Some(1.0);
    clusters[1].cost_per_replica_hour = Some(1.0);
    let req = Request {
        placement: &p,
        failover: None,
        replicas: Some(12),
        previous: &[],
        fresh: false,
    };
    let out = schedule(&req, &clusters).expect("scheduled");
    let got: Vec<(String, i32)> = out
        .clusters
        .iter()
        .map(|t| (t.name.clone(), t.replicas))
        .collect();
    // Weights 1000 : 100 : 500 → 12 seats as 7 : 1 : 4 (Webster: divisors 1, 3, 5...).
    assert_eq!(got, pairs(&[("m1", 7), ("m2", 1), ("m3", 4)]));
    let m2 = out
        .decisions
        .iter()
        .find(|d| d.cluster == "m2")
        .expect("m2 decision");
    assert!(
        m2.reason.contains("latency 50.0ms") && m2.reason.contains("weight 100"),
        "{}",
        m2.reason
    );
}

#[test]
fn aggregated_and_limits() {
    let mut p = divided(WeightPreference::default());
    p.replica_scheduling
        .as_mut()
        .expect("rs")
        .replica_division_preference = Some("Aggregated".into());
    let clusters = vec![
        cluster("m1", "a", Some(4)),
        cluster("m2", "b", Some(10)),
        cluster("m3", "c", Some(6)),
    ];
    assert_eq!(run(&p, 8, &clusters, &[]), pairs(&[("m2", 8)]));
    let mut limited = weights(&[("m1", 1), ("m2", 1), ("m3", 1)]);
    limited
        .replica_scheduling
        .as_mut()
        .expect("rs")
        .cluster_limits = vec![
        ClusterLimit {
            target_cluster: ClusterTarget {
                cluster_names: vec!["m1".into()],
                label_selector: None,
            },
            min_replicas: Some(4),
            max_replicas: None,
        },
        ClusterLimit {
            target_cluster: ClusterTarget {
                cluster_names: vec!["m2".into()],
                label_selector: None,
            },
            min_replicas: None,
            max_replicas: Some(1),
        },
    ];
    // m1 starts at its minimum 4, m2 stops at 1, the rest goes by weight.
    assert_eq!(
        run(&limited, 9, &three(), &[]),
        pairs(&[("m1", 4), ("m2", 1), ("m3", 4)])
    );
}

#[test]
fn affinity_taints_cordon_and_spread() {
    let mut clusters = three();
    clusters[0].taints = vec![Taint {
        key: "gpu".into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    }];
    clusters[1].unschedulable = true;
    let p = Placement::default();
    assert_eq!(run(&p, 1, &clusters, &[]), pairs(&[("m3", 1)]));
    let tolerant = Placement {
        cluster_tolerations: vec![Toleration {
            key: Some("gpu".into()),
            operator: Some("Exists".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        run(&tolerant, 1, &clusters, &[]),
        pairs(&[("m1", 1), ("m3", 1)])
    );
    // A cordoned cluster keeps what it runs.
    assert_eq!(
        run(&tolerant, 1, &clusters, &targets(&pairs(&[("m2", 1)]))),
        pairs(&[("m1", 1), ("m2", 1), ("m3", 1)])
    );
    let only = Placement {
        cluster_affinity: Some(ClusterAffinity {
            cluster_names: vec!["m2".into(), "m3".into()],
            exclude: vec!["m3".into()],
            ..Default::default()
        }),
        ..Default::default()
    };
    let req = Request {
        placement: &only,
        failover: None,
        replicas: Some(1),
        previous: &[],
        fresh: false,
    };
    let err = schedule(&req, &clusters).expect_err("m2 cordoned, m3 excluded");
    assert!(err
        .decisions
        .iter()
        .any(|d| d.cluster == "m3" && d.reason.contains("exclude")));
    // Spread over at most two regions; at least four is impossible.
    let spread = Placement {
        spread_constraints: vec![SpreadConstraint {
            spread_by_field: "region".into(),
            min_groups: Some(2),
            max_groups: Some(2),
        }],
        ..Default::default()
    };
    let out = run(&spread, 1, &three(), &[]);
    assert_eq!(out.len(), 2);
    let four = Placement {
        spread_constraints: vec![SpreadConstraint {
            spread_by_field: "region".into(),
            min_groups: Some(4),
            max_groups: None,
        }],
        ..Default::default()
    };
    let req = Request {
        placement: &four,
        failover: None,
        replicas: Some(1),
        previous: &[],
        fresh: false,
    };
    assert!(schedule(&req, &three())
        .expect_err("four regions")
        .reason
        .contains("need 4 region"));
}

#[test]
fn failover_waits_for_the_toleration_and_does_not_flap_back() {
    let p = weights(&[("m1", 1), ("m2", 1), ("m3", 1)]);
    let running = pairs(&[("m1", 2), ("m2", 2), ("m3", 2)]);
    let failover = Failover {
        toleration_seconds: Some(30),
        purge_mode: None,
    };
    let mut clusters = three();
    clusters[1].ready = false;
    clusters[1].not_ready_for = Some(Duration::from_secs(10));
    clusters[1].taints = vec![Taint {
        key: federation_proto::cluster::TAINT_UNREACHABLE.into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    }];
    let prev = targets(&running);
    let req = Request {
        placement: &p,
        failover: Some(&failover),
        replicas: Some(6),
        previous: &prev,
        fresh: false,
    };
    let within = schedule(&req, &clusters).expect("scheduled");
    assert_eq!(
        within.clusters, prev,
        "within tolerationSeconds nothing moves"
    );
    clusters[1].not_ready_for = Some(Duration::from_secs(31));
    let after = schedule(&req, &clusters).expect("failed over");
    assert_eq!(after.failed_over, ["m2"]);
    let moved: Vec<(String, i32)> = after
        .clusters
        .iter()
        .map(|t| (t.name.clone(), t.replicas))
        .collect();
    assert_eq!(moved, pairs(&[("m1", 3), ("m3", 3)]));
    // m2 recovers: nothing flaps back.
    let mut healthy = three();
    healthy[1].ready = true;
    let prev = after.clusters.clone();
    let req = Request {
        placement: &p,
        failover: Some(&failover),
        replicas: Some(6),
        previous: &prev,
        fresh: false,
    };
    assert_eq!(schedule(&req, &healthy).expect("steady").clusters, prev);
    // Unless a fresh placement is asked for.
    let req = Request { fresh: true, ..req };
    assert_eq!(schedule(&req, &healthy).expect("fresh").clusters.len(), 3);
}

#[test]
fn a_new_cluster_moves_nothing_running() {
    let p = weights(&[("m1", 1), ("m2", 1), ("m3", 1), ("m4", 1)]);
    let prev = targets(&pairs(&[("m1", 2), ("m2", 2), ("m3", 2)]));
    let mut clusters = three();
    clusters.push(cluster("m4", "sa-east", None));
    assert_eq!(
        run(&p, 6, &clusters, &prev),
        pairs(&[("m1", 2), ("m2", 2), ("m3", 2)])
    );
    // Scaling up gives the newcomer its share of the difference.
    let out = run(&p, 8, &clusters, &prev);
    assert_eq!(out.iter().map(|(_, r)| r).sum::<i32>(), 8);
    assert!(out.iter().any(|(n, r)| n == "m4" && *r >= 1), "{out:?}");
}

#[test]
fn a_draining_cluster_hands_every_replica_to_the_others() {
    let p = weights(&[("m1", 1), ("m2", 2), ("m3", 2)]);
    let before = run(&p, 10, &three(), &[]);
    assert_eq!(before, pairs(&[("m1", 2), ("m2", 4), ("m3", 4)]));
    let mut clusters = three();
    clusters[1].draining = true;
    clusters[1].unschedulable = true;
    let after = run(&p, 10, &clusters, &targets(&before));
    assert!(after.iter().all(|(n, _)| n != "m2"), "{after:?}");
    assert_eq!(after.iter().map(|(_, r)| r).sum::<i32>(), 10, "{after:?}");
    // Duplicated: the copy there goes, the others stay.
    let dup = run(
        &Placement::default(),
        1,
        &clusters,
        &targets(&pairs(&[("m2", 1)])),
    );
    assert_eq!(dup, pairs(&[("m1", 1), ("m3", 1)]));
}
