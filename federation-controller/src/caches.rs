//! In-memory views (kube-runtime reflectors) of the objects several
//! controllers read on every reconcile: Clusters and policies, and the
//! changes to them as triggers.
//!
//! # Guarantees
//! - A change reaches the [`Changes`] subscribers only after the store
//!   holds it, so a reconcile triggered by a change reads it (a trigger from
//!   a second, independent watch could arrive before the store caught up,
//!   and the reconcile would act on the old state and wait for the next
//!   event).
//! - Deletions are changes too (the deleted object is sent).
//! - A subscriber that falls more than [`BUFFER`] changes behind gets a
//!   `Lagged` marker instead of the changes it missed: it must treat it as
//!   "anything may have changed".

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use federation_proto::{Cluster, ClusterPropagationPolicy, OverridePolicy, PropagationPolicy};
use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};
use tokio_stream::wrappers::BroadcastStream;

/// Changes kept for slow subscribers, per kind.
pub const BUFFER: usize = 1024;

/// A change seen by a reflector, after its store applied it.
#[derive(Debug, Clone)]
pub enum Change<K> {
    /// Created, updated or deleted.
    Object(Arc<K>),
    /// Changes were missed: reconsider everything.
    Lagged,
}

/// Where the changes of one kind are published.
#[derive(Clone)]
pub struct Changes<K> {
    sender: broadcast::Sender<Arc<K>>,
}

impl<K: Clone + Send + Sync + 'static> Changes<K> {
    fn new() -> Self {
        Changes {
            sender: broadcast::channel(BUFFER).0,
        }
    }

    /// The changes from now on.
    pub fn subscribe(&self) -> impl Stream<Item = Change<K>> + Send + 'static {
        BroadcastStream::new(self.sender.subscribe()).map(|r| match r {
            Ok(object) => Change::Object(object),
            Err(_) => Change::Lagged,
        })
    }
}

/// Stores kept current until the stop signal, and their changes.
#[derive(Clone)]
pub struct Caches {
    pub clusters: Store<Cluster>,
    pub policies: Store<PropagationPolicy>,
    pub cluster_policies: Store<ClusterPropagationPolicy>,
    pub overrides: Store<OverridePolicy>,
    pub cluster_changes: Changes<Cluster>,
    pub policy_changes: Changes<PropagationPolicy>,
    pub cluster_policy_changes: Changes<ClusterPropagationPolicy>,
    pub override_changes: Changes<OverridePolicy>,
}

fn reflect<K>(api: Api<K>, mut stop: watch::Receiver<bool>) -> (Store<K>, Changes<K>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let changes = Changes::new();
    let sender = changes.sender.clone();
    tokio::spawn(async move {
        // `reflect` applies each event to the store before passing it on.
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .touched_objects();
        let drain = stream.for_each(|object| {
            if let Ok(object) = object {
                // No subscriber yet is fine.
                let _ = sender.send(Arc::new(object));
            }
            std::future::ready(())
        });
        tokio::select! {
            () = drain => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    });
    (reader, changes)
}

impl Caches {
    /// Starts the reflectors and waits until each has listed once.
    pub async fn start(client: &Client, stop: watch::Receiver<bool>) -> Caches {
        let (clusters, cluster_changes) = reflect(Api::all(client.clone()), stop.clone());
        let (policies, policy_changes) = reflect(Api::all(client.clone()), stop.clone());
        let (cluster_policies, cluster_policy_changes) =
            reflect(Api::all(client.clone()), stop.clone());
        let (overrides, override_changes) = reflect(Api::all(client.clone()), stop);
        let caches = Caches {
            clusters,
            policies,
            cluster_policies,
            overrides,
            cluster_changes,
            policy_changes,
            cluster_policy_changes,
            override_changes,
        };
        let _ = caches.clusters.wait_until_ready().await;
        let _ = caches.policies.wait_until_ready().await;
        let _ = caches.cluster_policies.wait_until_ready().await;
        let _ = caches.overrides.wait_until_ready().await;
        caches
    }
}
