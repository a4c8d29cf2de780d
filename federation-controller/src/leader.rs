//! Leader election on a `coordination.k8s.io/v1` Lease in the federation,
//! so that several controller-manager replicas can run and only one acts.
//!
//! # Guarantees
//! - A replica acts only while it holds the Lease: it takes the Lease only
//!   when it is free or its holder has not renewed it for a whole
//!   `leaseDurationSeconds` (measured on this replica's clock, from when it
//!   *saw* the last renewal — immune to clock skew between replicas), and
//!   every take and renewal is a compare-and-swap on the Lease's
//!   resourceVersion, so two replicas can never both win the same term.
//! - The leader renews every `renew_period`; if it cannot renew for
//!   `renew_deadline` (shorter than the lease duration) it stops acting
//!   before anyone else may take over.
//! - A leader that shuts down cleanly releases the Lease, so a follower
//!   takes over at its next poll instead of after the lease duration.
//!
//! # Caveats
//! A follower polls every `poll_period`: after a leader dies, takeover
//! happens between `lease_duration` and `lease_duration + poll_period`
//! after the leader's last renewal.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;

/// How leadership is held.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// This replica's identity, written as the Lease's holder.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_period: Duration,
    pub renew_deadline: Duration,
    pub poll_period: Duration,
}

/// Errors talking to the federation about the Lease.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("lease {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// Campaigns for and holds the Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The holder and renew time last seen, and when this replica saw them.
    observed: Option<(Option<String>, Option<MicroTime>, Instant)>,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl LeaderElector {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: None,
        }
    }

    fn error(&self, source: kube::Error) -> Error {
        Error::Api {
            namespace: self.settings.namespace.clone(),
            name: self.settings.name.clone(),
            source,
        }
    }

    /// One attempt to take or renew the Lease. Returns whether this replica
    /// holds it afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, Error> {
        let s = &self.settings;
        let duration_seconds = s.lease_duration.as_secs().max(1) as i32;
        let current = match self.api.get_opt(&s.name).await {
            Ok(lease) => lease,
            Err(e) => return Err(self.error(e)),
        };
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(s.name.clone()),
                    namespace: Some(s.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(s.identity.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(self.error(e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(s.identity.as_str());
        // Expiry on our own clock: from when we saw the current holder/renewal.
        let seen = (holder.clone(), spec.renew_time.clone());
        let seen_at = match &self.observed {
            Some((h, r, at)) if (h, r) == (&seen.0, &seen.1) => *at,
            _ => Instant::now(),
        };
        self.observed = Some((seen.0, seen.1, seen_at));
        let expired = seen_at.elapsed() >= s.lease_duration;
        if !(ours || holder.is_none() || expired) {
            return Ok(false);
        }
        let mut new_spec = spec.clone();
        if !ours {
            new_spec.holder_identity = Some(s.identity.clone());
            new_spec.acquire_time = Some(now());
            new_spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        new_spec.renew_time = Some(now());
        new_spec.lease_duration_seconds = Some(duration_seconds);
        lease.spec = Some(new_spec);
        // `replace` carries the resourceVersion we read: a compare-and-swap.
        match self
            .api
            .replace(&s.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                if !ours {
                    tracing::info!(identity = %s.identity, "acquired the leader lease");
                }
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Waits until this replica holds the Lease (or `stop` turns true:
    /// returns false).
    pub async fn acquire(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election"),
            }
            tokio::select! {
                () = stopped(stop) => return false,
                () = tokio::time::sleep(self.settings.poll_period) => {}
            }
        }
    }

    /// Renews the Lease until it is lost (returns true) or `stop` turns
    /// true (releases the Lease and returns false).
    pub async fn hold(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let mut last_renewal = Instant::now();
        loop {
            tokio::select! {
                () = stopped(stop) => {
                    self.release().await;
                    return false;
                }
                () = tokio::time::sleep(self.settings.renew_period) => {}
            }
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = Instant::now(),
                Ok(false) => {
                    tracing::warn!(identity = %self.settings.identity, "lost the leader lease");
                    return true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "renewing the leader lease failed");
                    if last_renewal.elapsed() >= self.settings.renew_deadline {
                        tracing::warn!("could not renew the leader lease in time; stepping down");
                        return true;
                    }
                }
            }
        }
    }

    /// Gives the Lease up (holder cleared), if this replica holds it.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = Some(now());
        if self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
            .is_ok()
        {
            tracing::info!(identity = %self.settings.identity, "released the leader lease");
        }
    }
}

/// Resolves once `stop` is true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
