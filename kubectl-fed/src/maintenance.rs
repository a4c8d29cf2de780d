//! Cluster maintenance: `kubectl fed cordon NAME`, `uncordon NAME` and
//! `drain NAME`.
//!
//! Cordoning sets the Cluster's `spec.unschedulable`: the scheduler places
//! nothing new there, and a cluster that already holds replicas keeps them
//! but takes no more (as `kubectl cordon` does for a node). Uncordoning
//! clears it, and ends a drain.
//!
//! Draining cordons the cluster and annotates it `flotilla.io/drain`: the
//! scheduler moves every replica to the other clusters, and the sync
//! removes each old copy only once its replacements run every replica, so a
//! workload's ready replicas never drop below its desired count. The command
//! first checks the other clusters have room, then shows progress until no
//! binding places anything there.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use federation_proto::{Cluster, ResourceBinding, DRAIN_ANNOTATION};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::federation::FederationArgs;

#[derive(Debug, Args)]
pub struct CordonArgs {
    /// The member's name in the federation.
    pub name: String,
    #[command(flatten)]
    pub federation: FederationArgs,
}

/// The joined Cluster `name`, or an error saying how to list them.
async fn joined(clusters: &Api<Cluster>, name: &str) -> anyhow::Result<Cluster> {
    match clusters
        .get_opt(name)
        .await
        .with_context(|| format!("reading cluster {name}"))?
    {
        Some(cluster) => Ok(cluster),
        None => bail!("no cluster named {name} is joined (kubectl get clusters lists them)"),
    }
}

/// `kubectl fed cordon` (`unschedulable: true`) and `uncordon` (`false`).
pub async fn set_unschedulable(args: CordonArgs, unschedulable: bool) -> anyhow::Result<()> {
    let federation = args.federation.client().await?;
    let clusters: Api<Cluster> = Api::all(federation);
    let cluster = joined(&clusters, &args.name).await?;
    let verb = if unschedulable {
        "cordoned"
    } else {
        "uncordoned"
    };
    let ends_drain = !unschedulable && cluster.is_draining();
    if cluster.spec.unschedulable == unschedulable && !ends_drain {
        println!("cluster/{} already {verb}", args.name);
        return Ok(());
    }
    // Uncordoning also ends a drain.
    let mut patch = json!({"spec": {"unschedulable": unschedulable}});
    if ends_drain {
        patch["metadata"] = json!({"annotations": {DRAIN_ANNOTATION: null}});
    }
    clusters
        .patch(&args.name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .with_context(|| format!("updating cluster {}", args.name))?;
    println!("cluster/{} {verb}", args.name);
    Ok(())
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The member's name in the federation.
    pub name: String,
    /// How long to wait for the cluster to be empty (e.g. 90s, 5m, 1h);
    /// the drain goes on after a timeout (`uncordon` ends it).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub federation: FederationArgs,
}

/// `90`, `90s`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 90s, 5m, 1h)"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?}: the unit must be s, m or h")),
    };
    Ok(Duration::from_secs(seconds))
}

/// What Flotilla still has on `cluster`: (workloads, replicas).
fn placed_on(bindings: &[ResourceBinding], cluster: &str) -> (usize, i64) {
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

/// `kubectl fed drain`.
pub async fn drain(args: DrainArgs) -> anyhow::Result<()> {
    let federation = args.federation.client().await?;
    let clusters: Api<Cluster> = Api::all(federation.clone());
    let bindings: Api<ResourceBinding> = Api::all(federation);
    let cluster = joined(&clusters, &args.name).await?;
    let list = bindings.list(&ListParams::default()).await?.items;
    // Divided replicas move; Duplicated copies already run elsewhere.
    let moving: i64 = list
        .iter()
        .filter(|b| b.spec.replicas > 0)
        .filter_map(|b| b.spec.clusters.iter().find(|t| t.name == args.name))
        .map(|t| i64::from(t.replicas))
        .sum();
    if !cluster.is_draining() && moving > 0 {
        let others = clusters.list(&ListParams::default()).await?.items;
        let takers: Vec<&Cluster> = others
            .iter()
            .filter(|c| c.name_any() != args.name)
            .filter(|c| c.is_ready() && !c.spec.unschedulable && !c.is_draining())
            .collect();
        if takers.is_empty() {
            bail!(
                "cannot drain {}: no other cluster is Ready and schedulable to take its {moving} replicas",
                args.name
            );
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
        if let Some(room) = room.filter(|r| *r < moving) {
            bail!(
                "cannot drain {}: it runs {moving} replicas Flotilla placed, and the other Ready, \
                 schedulable clusters have room for {room} (free pods); add capacity or join \
                 another cluster first",
                args.name
            );
        }
    }
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    clusters
        .patch(
            &args.name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"annotations": {DRAIN_ANNOTATION: now}},
                "spec": {"unschedulable": true},
            })),
        )
        .await
        .with_context(|| format!("marking cluster {} for draining", args.name))?;
    println!("cluster/{} cordoned, draining", args.name);
    let started = Instant::now();
    let mut last = None;
    loop {
        let list = bindings.list(&ListParams::default()).await?.items;
        let left = placed_on(&list, &args.name);
        if left.0 == 0 {
            println!("cluster/{} drained", args.name);
            return Ok(());
        }
        if last != Some(left) {
            println!(
                "{} workloads ({} replicas) left on {}",
                left.0, left.1, args.name
            );
            last = Some(left);
        }
        if started.elapsed() >= args.timeout {
            bail!(
                "timed out after {}s: {} workloads still on {} (the drain goes on; \
                 kubectl get rb -A shows where each one is)",
                args.timeout.as_secs(),
                left.0,
                args.name
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_seconds_minutes_and_hours() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
