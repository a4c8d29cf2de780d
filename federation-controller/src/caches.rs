//! In-memory views (kube-runtime reflectors) of the objects several
//! controllers read on every reconcile: Clusters and policies.

use std::fmt::Debug;
use std::hash::Hash;

use federation_proto::{Cluster, ClusterPropagationPolicy, OverridePolicy, PropagationPolicy};
use futures::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

/// Stores kept current until the stop signal.
#[derive(Clone)]
pub struct Caches {
    pub clusters: Store<Cluster>,
    pub policies: Store<PropagationPolicy>,
    pub cluster_policies: Store<ClusterPropagationPolicy>,
    pub overrides: Store<OverridePolicy>,
}

fn reflect<K>(api: Api<K>, mut stop: watch::Receiver<bool>) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .applied_objects();
        let drain = stream.for_each(|_| std::future::ready(()));
        tokio::select! {
            () = drain => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    });
    reader
}

impl Caches {
    /// Starts the reflectors and waits until each has listed once.
    pub async fn start(client: &Client, stop: watch::Receiver<bool>) -> Caches {
        let caches = Caches {
            clusters: reflect(Api::all(client.clone()), stop.clone()),
            policies: reflect(Api::all(client.clone()), stop.clone()),
            cluster_policies: reflect(Api::all(client.clone()), stop.clone()),
            overrides: reflect(Api::all(client.clone()), stop),
        };
        let _ = caches.clusters.wait_until_ready().await;
        let _ = caches.policies.wait_until_ready().await;
        let _ = caches.cluster_policies.wait_until_ready().await;
        let _ = caches.overrides.wait_until_ready().await;
        caches
    }
}
