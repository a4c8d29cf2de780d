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
use federation_proto::{maintenance, Cluster, ResourceBinding};
use kube::api::{ListParams, Patch, PatchParams};
use kube::Api;

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
    // Uncordoning also ends a drain.
    let Some(patch) = maintenance::cordon_patch(&cluster, unschedulable) else {
        println!("cluster/{} already {verb}", args.name);
        return Ok(());
    };
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
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => return Err(format!("{text:?}: the unit must be s, m or h")),
    };
    seconds
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// `kubectl fed drain`.
pub async fn drain(args: DrainArgs) -> anyhow::Result<()> {
    let federation = args.federation.client().await?;
    let clusters: Api<Cluster> = Api::all(federation.clone());
    let bindings: Api<ResourceBinding> = Api::all(federation);
    let list = bindings.list(&ListParams::default()).await?.items;
    let others = clusters.list(&ListParams::default()).await?.items;
    // Also says so when no such cluster is joined.
    if let Err(why) = maintenance::drain_check(&args.name, &others, &list) {
        bail!(why);
    }
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    clusters
        .patch(
            &args.name,
            &PatchParams::default(),
            &Patch::Merge(maintenance::drain_patch(&now)),
        )
        .await
        .with_context(|| format!("marking cluster {} for draining", args.name))?;
    println!("cluster/{} cordoned, draining", args.name);
    let started = Instant::now();
    let mut last = None;
    loop {
        let list = bindings.list(&ListParams::default()).await?.items;
        let left = maintenance::placed_on(&list, &args.name);
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
        assert!(parse_duration("99999999999999999h").is_err());
    }
}
