//! Cluster maintenance: `kubectl fed cordon NAME` and `uncordon NAME`.
//!
//! Cordoning sets the Cluster's `spec.unschedulable`: the scheduler places
//! nothing new there, and a cluster that already holds replicas keeps them
//! but takes no more (as `kubectl cordon` does for a node). Uncordoning
//! clears it.

use anyhow::{bail, Context as _};
use clap::Args;
use federation_proto::Cluster;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use crate::federation::FederationArgs;

#[derive(Debug, Args)]
pub struct CordonArgs {
    /// The member's name in the federation.
    pub name: String,
    #[command(flatten)]
    pub federation: FederationArgs,
}

/// `kubectl fed cordon` (`unschedulable: true`) and `uncordon` (`false`).
pub async fn set_unschedulable(args: CordonArgs, unschedulable: bool) -> anyhow::Result<()> {
    let federation = args.federation.client().await?;
    let clusters: Api<Cluster> = Api::all(federation);
    let Some(cluster) = clusters
        .get_opt(&args.name)
        .await
        .with_context(|| format!("reading cluster {}", args.name))?
    else {
        bail!(
            "no cluster named {} is joined (kubectl get clusters lists them)",
            args.name
        );
    };
    let verb = if unschedulable {
        "cordoned"
    } else {
        "uncordoned"
    };
    if cluster.spec.unschedulable == unschedulable {
        println!("cluster/{} already {verb}", args.name);
        return Ok(());
    }
    clusters
        .patch(
            &args.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": unschedulable}})),
        )
        .await
        .with_context(|| format!("updating cluster {}", args.name))?;
    println!("cluster/{} {verb}", args.name);
    Ok(())
}
