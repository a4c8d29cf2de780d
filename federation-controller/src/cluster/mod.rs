//! The cluster controller: probes every member cluster on its own period
//! and publishes what it finds in the Cluster's status — `Ready` (with
//! thresholds), latency, Kubernetes version, pod capacity — plus the
//! readiness taints in its spec.
//!
//! kube-runtime style: [`reconcile`] is one probe of one Cluster; it
//! returns a requeue at the Cluster's next probe time, so each Cluster is
//! probed every `health.periodSeconds` on a fixed cadence.
//!
//! # Guarantees
//! - Probes of different Clusters run concurrently (the Controller runs
//!   reconciles of different objects in parallel), each bounded by
//!   `health.timeoutSeconds`: one slow or dead member never delays others.
//! - A reconcile triggered early (by the status this controller wrote, or a
//!   spec change) does not probe before the Cluster's next probe time.
//! - `Ready` changes only after `failureThreshold` failed probes in a row
//!   (default 3) or `successThreshold` good ones (default 1); defaults and
//!   reasons in [`health`].
//! - Member credentials stay in their Secret: they never appear in the
//!   Cluster, in events, in logs or in error messages.
//!
//! # Caveats
//! Version and capacity are refreshed at most every
//! [`SUMMARY_REFRESH`] (they need several list calls), so they lag
//! changes by up to that long.

pub mod health;
pub mod member_client;
pub mod probe;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use federation_proto::cluster::{ClusterStatus, ResourceSummary};
use federation_proto::Cluster;
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::watch;

use health::{Outcome, Readiness, Tracker};

/// How often version and capacity are refreshed, at most.
pub const SUMMARY_REFRESH: Duration = Duration::from_secs(10);

/// Errors of one reconcile (retried by [`error_policy`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing the status of cluster {cluster}: {source}")]
    Status {
        cluster: String,
        source: kube::Error,
    },
    #[error("updating the taints of cluster {cluster}: {source}")]
    Taints {
        cluster: String,
        source: kube::Error,
    },
}

/// What this controller remembers about one Cluster between probes.
struct ClusterState {
    tracker: Tracker,
    next_probe: Instant,
    /// Member client, for the Secret version and endpoint it was built from.
    client: Option<(String, String, Client)>,
    summary: Option<(Instant, String, ResourceSummary)>,
}

/// Shared by every reconcile.
pub struct Context {
    federation: Client,
    /// Written to `status.probedBy`.
    identity: String,
    clusters: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<ClusterState>>>>,
}

impl Context {
    pub fn new(federation: Client, identity: String) -> Self {
        Context {
            federation,
            identity,
            clusters: Default::default(),
        }
    }

    async fn state(&self, cluster: &Cluster) -> Arc<tokio::sync::Mutex<ClusterState>> {
        let mut clusters = self.clusters.lock().await;
        clusters
            .entry(cluster.name_any())
            .or_insert_with(|| {
                let published = cluster.ready_condition().map(|c| match c.status.as_str() {
                    "True" => Readiness::Ready,
                    "False" => Readiness::NotReady(c.message.clone()),
                    _ => Readiness::Unreachable(c.message.clone()),
                });
                Arc::new(tokio::sync::Mutex::new(ClusterState {
                    tracker: Tracker::resume(published),
                    next_probe: Instant::now(),
                    client: None,
                    summary: None,
                }))
            })
            .clone()
    }
}

/// Probes one Cluster if its time has come, and publishes the result.
pub async fn reconcile(cluster: Arc<Cluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = cluster.name_any();
    let health = cluster.spec.health();
    let period = Duration::from_secs(u64::from(health.period_seconds));
    let timeout = Duration::from_secs(u64::from(health.timeout_seconds))
        .min(period.max(Duration::from_secs(1)));
    let state = ctx.state(&cluster).await;
    let mut state = state.lock().await;
    let now = Instant::now();
    if now < state.next_probe {
        return Ok(Action::requeue(state.next_probe - now));
    }
    // A fixed cadence: the next probe is due one period after this one started.
    state.next_probe = now + period;

    let outcome = match member_client(&ctx, &cluster, &mut state, timeout).await {
        Ok(client) => {
            let outcome = probe::probe(&client, timeout).await;
            let stale = state
                .summary
                .as_ref()
                .is_none_or(|(at, _, _)| at.elapsed() >= SUMMARY_REFRESH);
            if !matches!(outcome, Outcome::Unreachable { .. }) && stale {
                if let Some((version, summary)) = probe::summary(&client, timeout).await {
                    state.summary = Some((Instant::now(), version, summary));
                }
            }
            outcome
        }
        Err(e) => Outcome::Unreachable {
            message: e.to_string(),
        },
    };
    let readiness = state.tracker.observe(outcome, health);

    // Taints first: whoever sees the new condition also sees its taint.
    let clusters: Api<Cluster> = Api::all(ctx.federation.clone());
    let taints = health::taints_for(&cluster.spec.taints, &readiness);
    if taints != cluster.spec.taints {
        update_taints(&clusters, &name, &readiness).await?;
    }
    let status = status_of(&cluster, &state, &readiness, &ctx.identity);
    clusters
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .map_err(|source| Error::Status {
            cluster: name.clone(),
            source,
        })?;
    Ok(Action::requeue(
        state.next_probe.saturating_duration_since(Instant::now()),
    ))
}

/// The cached member client, rebuilt when the Secret or endpoint changed.
async fn member_client(
    ctx: &Context,
    cluster: &Cluster,
    state: &mut ClusterState,
    timeout: Duration,
) -> Result<Client, member_client::CredentialsError> {
    let secret_version = {
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(ctx.federation.clone(), &cluster.spec.secret_ref.namespace);
        secrets
            .get_metadata_opt(&cluster.spec.secret_ref.name)
            .await
            .ok()
            .flatten()
            .and_then(|m| m.metadata.resource_version)
    };
    if let (Some((version, endpoint, client)), Some(current)) = (&state.client, &secret_version) {
        if version == current && *endpoint == cluster.spec.api_endpoint {
            return Ok(client.clone());
        }
    }
    let (client, version) = member_client::client_for(&ctx.federation, cluster, timeout).await?;
    state.client = Some((version, cluster.spec.api_endpoint.clone(), client.clone()));
    Ok(client)
}

fn status_of(
    cluster: &Cluster,
    state: &ClusterState,
    readiness: &Readiness,
    identity: &str,
) -> ClusterStatus {
    let (status, reason, message) = readiness.condition();
    let now = k8s_openapi::jiff::Timestamp::now();
    let previous = cluster.ready_condition();
    let transition = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Time(now),
    };
    let old = cluster.status.clone().unwrap_or_default();
    ClusterStatus {
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_transition_time: transition,
            observed_generation: cluster.metadata.generation,
        }],
        kubernetes_version: state
            .summary
            .as_ref()
            .map(|(_, v, _)| v.clone())
            .or(old.kubernetes_version),
        latency: state.tracker.latency().or(old.latency),
        resource_summary: state
            .summary
            .as_ref()
            .map(|(_, _, s)| s.clone())
            .or(old.resource_summary),
        last_probe_time: Some(format!("{now:.3}")),
        probed_by: Some(identity.to_string()),
    }
}

/// Read-modify-write of `spec.taints` (compare-and-swap on the
/// resourceVersion; a conflict is retried with a fresh read).
async fn update_taints(
    clusters: &Api<Cluster>,
    name: &str,
    readiness: &Readiness,
) -> Result<(), Error> {
    for _ in 0..5 {
        let mut cluster = clusters.get(name).await.map_err(|source| Error::Taints {
            cluster: name.to_string(),
            source,
        })?;
        let taints = health::taints_for(&cluster.spec.taints, readiness);
        if taints == cluster.spec.taints {
            return Ok(());
        }
        cluster.spec.taints = taints;
        match clusters
            .replace(name, &PostParams::default(), &cluster)
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(source) => {
                return Err(Error::Taints {
                    cluster: name.to_string(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Retry a failed reconcile after a short pause.
pub fn error_policy(cluster: Arc<Cluster>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(cluster = %cluster.name_any(), %error, "cluster reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

/// Runs the cluster controller until `stop` turns true.
pub async fn run(federation: Client, identity: String, mut stop: watch::Receiver<bool>) {
    let clusters: Api<Cluster> = Api::all(federation.clone());
    let ctx = Arc::new(Context::new(federation, identity));
    Controller::new(clusters, watcher::Config::default())
        .graceful_shutdown_on(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| std::future::ready(()))
        .await;
}
