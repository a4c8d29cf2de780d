//! One scheduling decision: which clusters a template goes to and with how
//! many replicas, and why — pure, from the policy, the clusters and the
//! current assignment.
//!
//! # Rules
//! - Filters: `clusterAffinity`; NoSchedule/NoExecute taints need a
//!   `clusterTolerations` entry; not-Ready and cordoned clusters take
//!   nothing new. A cluster already holding replicas keeps them (no growth)
//!   while cordoned, and while not Ready for up to
//!   `failover.tolerationSeconds` (default 300); after that its replicas
//!   are re-placed (failover).
//! - `spreadConstraints`: fewer groups than `minGroups` is unschedulable;
//!   beyond `maxGroups`, groups already used are kept first, then the
//!   roomiest.
//! - `Duplicated` (the default, and every kind without replicas): each
//!   selected cluster gets the whole object; a cluster whose known free
//!   room is short of the replicas is skipped.
//! - `Divided`: Webster apportionment by static weights, by free room
//!   (`AvailableReplicas`), or by latency and cost (`LatencyCost`, see
//!   [`latency_cost_weight`]); `Aggregated`: the fewest clusters that fit.
//!   `clusterLimits` bound each cluster, known free room caps it.
//! - Steady: with a current assignment (and no fresh start asked), only the
//!   difference moves: scaling adds or removes replicas by weight, a
//!   cluster that drops out hands its replicas to the others, and a new
//!   cluster or a changed weight moves nothing running.

use std::collections::BTreeMap;
use std::time::Duration;

use federation_proto::binding::{ClusterDecision, TargetCluster};
use federation_proto::cluster::{TAINT_NOT_READY, TAINT_UNREACHABLE};
use federation_proto::policy::{Failover, Placement};

use super::divide::{self, Share};
use super::filters::{self, ClusterView};

/// Default `failover.tolerationSeconds`.
pub const DEFAULT_TOLERATION: Duration = Duration::from_secs(300);

/// What to schedule.
pub struct Request<'a> {
    pub placement: &'a Placement,
    pub failover: Option<&'a Failover>,
    /// The template's replicas; `None` for kinds without replicas.
    pub replicas: Option<u32>,
    /// The current assignment (empty for a new template).
    pub previous: &'a [TargetCluster],
    /// Ignore the current assignment (a rescheduling was asked for).
    pub fresh: bool,
}

/// A placement.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    pub clusters: Vec<TargetCluster>,
    pub decisions: Vec<ClusterDecision>,
    /// Clusters the template left because they stayed not Ready too long.
    pub failed_over: Vec<String>,
}

/// No placement is possible; the current one should stay.
#[derive(Debug, Clone, PartialEq)]
pub struct Unschedulable {
    pub reason: String,
    pub decisions: Vec<ClusterDecision>,
}

/// Whether the policy divides replicas.
pub fn divided(placement: &Placement) -> bool {
    placement
        .replica_scheduling
        .as_ref()
        .and_then(|r| r.replica_scheduling_type.as_deref())
        == Some("Divided")
}

/// `LatencyCost` weight: `1000 × (fastest p50 / this p50) × (cheapest
/// cost / this cost)`. Unknown latency counts as the slowest known one;
/// unknown or zero cost as the cheapest (factor 1).
pub fn latency_cost_weight(
    c: &ClusterView,
    fastest: f64,
    slowest: f64,
    cheapest: f64,
) -> (f64, String) {
    let latency = c.latency_ms.unwrap_or(slowest).max(0.1);
    let l = (fastest.max(0.1) / latency).min(1.0);
    let factor = match c.cost_per_replica_hour {
        Some(cost) if cost > 0.0 && cheapest > 0.0 => (cheapest / cost).min(1.0),
        _ => 1.0,
    };
    let weight = 1000.0 * l * factor;
    let cost_text = c
        .cost_per_replica_hour
        .map_or("cost unknown".to_string(), |cost| format!("cost {cost}/h"));
    (
        weight,
        format!("latency {latency:.1}ms ×{l:.2}, {cost_text} ×{factor:.2} → weight {weight:.0}"),
    )
}

fn decision(
    cluster: &str,
    selected: bool,
    reason: impl Into<String>,
    score: Option<f64>,
) -> ClusterDecision {
    ClusterDecision {
        cluster: cluster.to_string(),
        selected,
        reason: reason.into(),
        score,
    }
}

/// Schedules one template.
pub fn schedule(req: &Request, clusters: &[ClusterView]) -> Result<Scheduled, Unschedulable> {
    let previous: BTreeMap<String, u32> = if req.fresh {
        BTreeMap::new()
    } else {
        req.previous
            .iter()
            .map(|t| (t.name.clone(), t.replicas.max(0) as u32))
            .collect()
    };
    let was_placed = |name: &str| req.previous.iter().any(|t| t.name == name) && !req.fresh;
    let toleration = req
        .failover
        .and_then(|f| f.toleration_seconds)
        .map_or(DEFAULT_TOLERATION, |s| Duration::from_secs(s.max(0) as u64));
    let tolerations = &req.placement.cluster_tolerations;
    let mut decisions = Vec::new();
    let mut failed_over = Vec::new();
    // Eligible clusters, and whether each may grow.
    let mut eligible: Vec<(&ClusterView, bool)> = Vec::new();
    for c in clusters {
        if let Some(affinity) = &req.placement.cluster_affinity {
            if let Some(why) = filters::affinity_rejects(affinity, c) {
                decisions.push(decision(&c.name, false, why, None));
                continue;
            }
        }
        let kept = was_placed(&c.name);
        if !c.ready {
            let down_for = c.not_ready_for.unwrap_or_default();
            if kept && down_for < toleration {
                decisions.push(decision(
                    &c.name,
                    true,
                    format!(
                        "not Ready for {}s: keeps its replicas until failover after {}s",
                        down_for.as_secs(),
                        toleration.as_secs()
                    ),
                    None,
                ));
                eligible.push((c, false));
                continue;
            }
            let readiness_tolerated = filters::untolerated(
                &c.taints
                    .iter()
                    .filter(|t| t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE)
                    .cloned()
                    .collect::<Vec<_>>(),
                tolerations,
            )
            .is_none()
                && c.taints
                    .iter()
                    .any(|t| t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE);
            if !readiness_tolerated {
                if kept {
                    failed_over.push(c.name.clone());
                }
                decisions.push(decision(
                    &c.name,
                    false,
                    if kept {
                        format!(
                            "not Ready for {}s (tolerationSeconds {}): failed over",
                            down_for.as_secs(),
                            toleration.as_secs()
                        )
                    } else {
                        "not Ready".to_string()
                    },
                    None,
                ));
                continue;
            }
        }
        let user_taints: Vec<_> = c
            .taints
            .iter()
            .filter(|t| t.key != TAINT_NOT_READY && t.key != TAINT_UNREACHABLE)
            .cloned()
            .collect();
        if let Some(taint) = filters::untolerated(&user_taints, tolerations) {
            decisions.push(decision(
                &c.name,
                false,
                format!("taint {}:{} not tolerated", taint.key, taint.effect),
                None,
            ));
            continue;
        }
        if c.draining {
            decisions.push(decision(
                &c.name,
                false,
                "draining: its replicas move to the other clusters",
                None,
            ));
            continue;
        }
        if c.unschedulable {
            if kept {
                decisions.push(decision(
                    &c.name,
                    true,
                    "cordoned: keeps its replicas, takes no more",
                    None,
                ));
                eligible.push((c, false));
            } else {
                decisions.push(decision(&c.name, false, "cordoned (unschedulable)", None));
            }
            continue;
        }
        eligible.push((c, true));
    }

    // Spread constraints.
    for constraint in &req.placement.spread_constraints {
        let field = constraint.spread_by_field.as_str();
        let mut groups: BTreeMap<String, Vec<&ClusterView>> = BTreeMap::new();
        for (c, _) in &eligible {
            match c.field(field) {
                Some(v) => groups.entry(v.to_string()).or_default().push(c),
                None => decisions.push(decision(
                    &c.name,
                    false,
                    format!("no {field} to spread by"),
                    None,
                )),
            }
        }
        eligible.retain(|(c, _)| c.field(field).is_some());
        let min = constraint.min_groups.unwrap_or(0).max(0) as usize;
        if groups.len() < min {
            return Err(Unschedulable {
                reason: format!(
                    "spreadConstraints need {min} {field} groups, only {} are available",
                    groups.len()
                ),
                decisions,
            });
        }
        if let Some(max) = constraint.max_groups.filter(|m| *m > 0).map(|m| m as usize) {
            if groups.len() > max {
                let mut ranked: Vec<(&String, &Vec<&ClusterView>)> = groups.iter().collect();
                ranked.sort_by(|(a, ca), (b, cb)| {
                    let used = |cs: &Vec<&ClusterView>| {
                        cs.iter()
                            .map(|c| previous.get(&c.name).copied().unwrap_or(0))
                            .sum::<u32>()
                    };
                    let room = |cs: &Vec<&ClusterView>| {
                        cs.iter()
                            .map(|c| c.available_pods.unwrap_or(0))
                            .sum::<i64>()
                    };
                    used(cb)
                        .cmp(&used(ca))
                        .then(room(cb).cmp(&room(ca)))
                        .then(a.cmp(b))
                });
                let chosen: Vec<&String> = ranked.iter().take(max).map(|(g, _)| *g).collect();
                eligible.retain(|(c, _)| {
                    let keep = c
                        .field(field)
                        .is_some_and(|v| chosen.iter().any(|g| g.as_str() == v));
                    if !keep {
                        decisions.push(decision(
                            &c.name,
                            false,
                            format!(
                                "spreadConstraints: {field} {} not among the {max} chosen",
                                c.field(field).unwrap_or("")
                            ),
                            None,
                        ));
                    }
                    keep
                });
            }
        }
    }

    let replicas = req.replicas;
    let result: Vec<TargetCluster> = match replicas {
        Some(total) if divided(req.placement) => {
            let (shares, notes) = shares_for(req.placement, &eligible, &previous);
            let aggregated = req
                .placement
                .replica_scheduling
                .as_ref()
                .and_then(|r| r.replica_division_preference.as_deref())
                == Some("Aggregated");
            let divided = if aggregated {
                divide::aggregate(total, &shares, &previous)
            } else if previous.is_empty() {
                divide::divide(total, &shares)
            } else {
                divide::adjust(total, &shares, &previous)
            };
            let assignment = divided.map_err(|e| Unschedulable {
                reason: format!("cannot divide {total} replicas: {e}"),
                decisions: decisions.clone(),
            })?;
            for (c, _) in &eligible {
                let n = assignment.get(&c.name).copied().unwrap_or(0);
                let note = notes.get(&c.name).cloned().unwrap_or_default();
                decisions.retain(|d| !(d.cluster == c.name && d.selected));
                decisions.push(decision(
                    &c.name,
                    n > 0,
                    format!("{note} → {n} replicas"),
                    shares.get(&c.name).map(|s| s.weight),
                ));
            }
            assignment
                .into_iter()
                .map(|(name, n)| TargetCluster {
                    name,
                    replicas: n as i32,
                })
                .collect()
        }
        _ => {
            let want = replicas.unwrap_or(0);
            let mut out = Vec::new();
            for (c, may_grow) in &eligible {
                let had = previous.contains_key(&c.name);
                if !may_grow && !had {
                    continue;
                }
                let room = c
                    .available_pods
                    .map(|a| a + if had { i64::from(want) } else { 0 });
                if replicas.is_some() && room.is_some_and(|r| r < i64::from(want)) {
                    decisions.retain(|d| d.cluster != c.name);
                    decisions.push(decision(
                        &c.name,
                        false,
                        format!("room for {} pods, a copy needs {want}", room.unwrap_or(0)),
                        None,
                    ));
                    continue;
                }
                decisions.retain(|d| !(d.cluster == c.name && d.selected));
                decisions.push(decision(&c.name, true, "a full copy (Duplicated)", None));
                out.push(TargetCluster {
                    name: c.name.clone(),
                    replicas: want as i32,
                });
            }
            out
        }
    };
    if result.is_empty() {
        return Err(Unschedulable {
            reason: "no cluster fits the policy".into(),
            decisions,
        });
    }
    decisions.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    Ok(Scheduled {
        clusters: result,
        decisions,
        failed_over,
    })
}

/// Each eligible cluster's weight, minimum and cap, with an explanation.
fn shares_for(
    placement: &Placement,
    eligible: &[(&ClusterView, bool)],
    previous: &BTreeMap<String, u32>,
) -> (BTreeMap<String, Share>, BTreeMap<String, String>) {
    let rs = placement.replica_scheduling.clone().unwrap_or_default();
    let preference = rs.weight_preference.clone().unwrap_or_default();
    let dynamic = preference.dynamic_weight.as_deref();
    let latencies: Vec<f64> = eligible.iter().filter_map(|(c, _)| c.latency_ms).collect();
    let fastest = latencies.iter().copied().fold(f64::INFINITY, f64::min);
    let slowest = latencies.iter().copied().fold(0.0, f64::max);
    let cheapest = eligible
        .iter()
        .filter_map(|(c, _)| c.cost_per_replica_hour)
        .filter(|c| *c > 0.0)
        .fold(f64::INFINITY, f64::min);
    let mut shares = BTreeMap::new();
    let mut notes = BTreeMap::new();
    for (c, may_grow) in eligible {
        let had = previous.get(&c.name).copied().unwrap_or(0);
        let (weight, note) = match dynamic {
            Some("AvailableReplicas") => {
                let free = c.available_pods.unwrap_or(0).max(0) + i64::from(had);
                (free as f64, format!("{free} pods of room"))
            }
            Some("LatencyCost") => latency_cost_weight(
                c,
                if fastest.is_finite() { fastest } else { 1.0 },
                slowest,
                if cheapest.is_finite() { cheapest } else { 0.0 },
            ),
            _ if !preference.static_weight_list.is_empty() => {
                let w = preference
                    .static_weight_list
                    .iter()
                    .find(|w| filters::targets(&w.target_cluster, c))
                    .map_or(0, |w| w.weight.max(0));
                (w as f64, format!("static weight {w}"))
            }
            _ => (1.0, "equal weight".to_string()),
        };
        let limit = rs
            .cluster_limits
            .iter()
            .find(|l| filters::targets(&l.target_cluster, c));
        let min = limit.and_then(|l| l.min_replicas).unwrap_or(0).max(0) as u32;
        let max = limit.and_then(|l| l.max_replicas).map(|m| m.max(0) as u32);
        let room = c
            .available_pods
            .map(|a| (a.max(0) as u64 + u64::from(had)).min(u64::from(u32::MAX)) as u32);
        let mut cap = match (max, room) {
            (Some(m), Some(r)) => Some(m.min(r)),
            (m, r) => m.or(r),
        };
        if !may_grow {
            cap = Some(cap.map_or(had, |c| c.min(had)));
        }
        shares.insert(
            c.name.clone(),
            Share {
                weight,
                min: min.min(cap.unwrap_or(u32::MAX)),
                cap,
            },
        );
        notes.insert(c.name.clone(), note);
    }
    (shares, notes)
}
