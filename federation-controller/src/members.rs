//! Member clusters as the propagation controllers reach them: a client
//! per cluster (built from its Secret, cached), and watches of the objects
//! Flotilla manages there, which trigger the bindings they belong to.
//!
//! # Guarantees
//! - One watch per (cluster, kind), started the first time a binding
//!   needs it; of each copy it keeps a compact record (generation, status
//!   summary), never the object, so a reconcile that finds nothing changed
//!   asks the member nothing.
//! - Every change of a managed member object (drift, deletion, status)
//!   triggers the reconcile of the binding named in its annotation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use federation_proto::{Cluster, ResourceBinding};
use futures::StreamExt;
use kube::api::DynamicObject;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use tokio::sync::{mpsc, Mutex};

use crate::cluster::member_client::{self, CredentialsError};
use crate::kinds::Kind;
use crate::sync::render::{BINDING_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL};

/// How long a member client is trusted before its Secret is checked again.
const CLIENT_TTL: Duration = Duration::from_secs(30);
/// Requests in flight to one member at most.
pub const MEMBER_CONCURRENCY: usize = 32;
/// Timeout of member requests.
pub const MEMBER_TIMEOUT: Duration = Duration::from_secs(5);

struct CachedClient {
    endpoint: String,
    secret: (String, String),
    client: Client,
    /// The same credentials without a read timeout, for watches.
    watch_client: Client,
    made: Instant,
}

/// Clients and watches of every member.
pub struct Members {
    federation: Client,
    clients: Mutex<HashMap<String, CachedClient>>,
    watches: Mutex<std::collections::HashSet<(String, &'static str)>>,
    namespaces: Mutex<std::collections::HashSet<(String, String)>>,
    /// Requests in flight per member, bounded: a burst of reconciles reuses
    /// a few connections instead of opening one each.
    limits: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    records: std::sync::Mutex<Records>,
    triggers: mpsc::UnboundedSender<ObjectRef<ResourceBinding>>,
}

impl Members {
    /// The pool, and the stream of bindings to reconcile because a member
    /// object of theirs changed.
    pub fn new(
        federation: Client,
    ) -> (
        Arc<Self>,
        mpsc::UnboundedReceiver<ObjectRef<ResourceBinding>>,
    ) {
        let (triggers, receiver) = mpsc::unbounded_channel();
        (
            Arc::new(Members {
                federation,
                clients: Mutex::default(),
                watches: Mutex::default(),
                namespaces: Mutex::default(),
                limits: Mutex::default(),
                records: std::sync::Mutex::default(),
                triggers,
            }),
            receiver,
        )
    }

    /// A client for `cluster` (cached; rebuilt when its endpoint or Secret
    /// reference changes, or after [`CLIENT_TTL`]).
    pub async fn client(&self, cluster: &Cluster) -> Result<Client, CredentialsError> {
        self.clients_for(cluster).await.map(|(c, _)| c)
    }

    /// The request client and the watch client of `cluster`.
    ///
    /// The pool's lock is held while a client is built, so a burst of
    /// reconciles for a new cluster builds its clients once, not once each.
    async fn clients_for(&self, cluster: &Cluster) -> Result<(Client, Client), CredentialsError> {
        let name = cluster.name_any();
        let secret = (
            cluster.spec.secret_ref.namespace.clone(),
            cluster.spec.secret_ref.name.clone(),
        );
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&name) {
            if c.endpoint == cluster.spec.api_endpoint
                && c.secret == secret
                && c.made.elapsed() < CLIENT_TTL
            {
                return Ok((c.client.clone(), c.watch_client.clone()));
            }
        }
        let (client, _) =
            member_client::client_for(&self.federation, cluster, MEMBER_TIMEOUT).await?;
        let (watch_client, _) =
            member_client::client_with(&self.federation, cluster, MEMBER_TIMEOUT, None).await?;
        clients.insert(
            name,
            CachedClient {
                endpoint: cluster.spec.api_endpoint.clone(),
                secret,
                client: client.clone(),
                watch_client: watch_client.clone(),
                made: Instant::now(),
            },
        );
        Ok((client, watch_client))
    }

    /// A permit to talk to `cluster` (at most [`MEMBER_CONCURRENCY`] at once).
    pub async fn permit(&self, cluster: &str) -> tokio::sync::OwnedSemaphorePermit {
        let semaphore = self
            .limits
            .lock()
            .await
            .entry(cluster.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(MEMBER_CONCURRENCY)))
            .clone();
        semaphore
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Whether `namespace` is known to exist on `cluster` (created or seen).
    pub async fn has_namespace(&self, cluster: &str, namespace: &str) -> bool {
        self.namespaces
            .lock()
            .await
            .contains(&(cluster.to_string(), namespace.to_string()))
    }

    /// Remembers that `namespace` exists on `cluster`.
    pub async fn namespace_exists(&self, cluster: &str, namespace: &str) {
        self.namespaces
            .lock()
            .await
            .insert((cluster.to_string(), namespace.to_string()));
    }

    /// What the last watch event showed of a managed copy, if its watch is
    /// listed (`None`: unknown — ask the member).
    pub fn record(&self, key: &CopyKey) -> Option<CopyRecord> {
        let records = self.records.lock().ok()?;
        if !records.synced.contains(&(key.0.clone(), key.1)) {
            return None;
        }
        records.copies.get(key).cloned()
    }

    /// Whether the watch of `kind` on `cluster` has listed (so a missing
    /// record means a missing copy).
    pub fn is_listed(&self, cluster: &str, kind: &'static str) -> bool {
        self.records
            .lock()
            .is_ok_and(|r| r.synced.contains(&(cluster.to_string(), kind)))
    }

    /// The rendering last applied (or found in place) for a copy, and the
    /// generation the member gave the copy then.
    pub fn applied(&self, key: &CopyKey) -> Option<(u64, i64)> {
        self.records.lock().ok()?.applied.get(key).copied()
    }

    /// Remembers what was applied (or found in place) for a copy.
    pub fn remember_applied(&self, key: CopyKey, rendering: u64, generation: i64) {
        if let Ok(mut records) = self.records.lock() {
            records.applied.insert(key, (rendering, generation));
        }
    }

    /// Makes sure the objects of `kind` Flotilla manages on `cluster` are
    /// watched: each change triggers its binding and updates the compact
    /// record the sync reads instead of asking the member.
    pub async fn watch(self: &Arc<Self>, cluster: &Cluster, kind: &'static Kind) {
        let key = (cluster.name_any(), kind.kind);
        let mut watches = self.watches.lock().await;
        if watches.contains(&key) {
            return;
        }
        let Ok((_, client)) = self.clients_for(cluster).await else {
            return;
        };
        let resource = kind.api_resource();
        let api: Api<DynamicObject> = Api::all_with(client, &resource);
        let config = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
        let triggers = self.triggers.clone();
        let cluster_name = cluster.name_any();
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            let stream = watcher(api, config).default_backoff();
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let Some(pool) = pool.upgrade() else {
                    return;
                };
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::debug!(cluster = %cluster_name, error = %e, "member watch");
                        continue;
                    }
                };
                let changed: Vec<DynamicObject> = match event {
                    watcher::Event::Init => {
                        pool.forget(&cluster_name, kind.kind);
                        Vec::new()
                    }
                    watcher::Event::InitDone => {
                        pool.listed(&cluster_name, kind.kind);
                        Vec::new()
                    }
                    watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                        pool.keep(&cluster_name, kind.kind, &o, false);
                        vec![o]
                    }
                    watcher::Event::Delete(o) => {
                        pool.keep(&cluster_name, kind.kind, &o, true);
                        vec![o]
                    }
                };
                for object in changed {
                    let binding = object
                        .annotations()
                        .get(BINDING_ANNOTATION)
                        .and_then(|b| b.split_once('/'))
                        .map(|(ns, name)| ObjectRef::new(name).within(ns));
                    if let Some(binding) = binding {
                        if triggers.send(binding).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        watches.insert(key);
    }

    fn forget(&self, cluster: &str, kind: &'static str) {
        if let Ok(mut records) = self.records.lock() {
            records.synced.remove(&(cluster.to_string(), kind));
            records
                .copies
                .retain(|k, _| !(k.0 == cluster && k.1 == kind));
        }
    }

    fn listed(&self, cluster: &str, kind: &'static str) {
        if let Ok(mut records) = self.records.lock() {
            records.synced.insert((cluster.to_string(), kind));
        }
    }

    fn keep(&self, cluster: &str, kind: &'static str, object: &DynamicObject, deleted: bool) {
        let key: CopyKey = (
            cluster.to_string(),
            kind,
            object.namespace().unwrap_or_default(),
            object.name_any(),
        );
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        if deleted {
            records.copies.remove(&key);
            return;
        }
        let value = serde_json::to_value(object).unwrap_or(serde_json::Value::Null);
        let generation = object.metadata.generation.unwrap_or(0);
        let binding = object.annotations().get(BINDING_ANNOTATION).cloned();
        let compact = crate::sync::compact(&value).to_string().into_boxed_str();
        records.copies.insert(
            key,
            CopyRecord {
                generation,
                binding,
                compact,
            },
        );
    }
}

/// How long member events for one binding are gathered into one trigger.
pub const TRIGGER_WINDOW: Duration = Duration::from_millis(500);

/// Merges the member triggers of each binding that arrive within `window`
/// of the first into one: a copy whose status moves through several states
/// while its replicas start (and three copies doing so at once) costs one
/// sync pass, not one per event.
///
/// # Caveats
/// Drift repair and status aggregation wait up to `window` longer.
pub fn coalesce(
    mut triggers: mpsc::UnboundedReceiver<ObjectRef<ResourceBinding>>,
    window: Duration,
) -> mpsc::UnboundedReceiver<ObjectRef<ResourceBinding>> {
    let (out, merged) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut pending = std::collections::HashSet::new();
        while let Some(first) = triggers.recv().await {
            pending.insert(first);
            let flush = tokio::time::Instant::now() + window;
            loop {
                tokio::select! {
                    next = triggers.recv() => match next {
                        Some(binding) => {
                            pending.insert(binding);
                        }
                        None => break,
                    },
                    () = tokio::time::sleep_until(flush) => break,
                }
            }
            for binding in pending.drain() {
                if out.send(binding).is_err() {
                    return;
                }
            }
        }
    });
    merged
}

/// A managed member copy: (cluster, kind, namespace, name).
pub type CopyKey = (String, &'static str, String, String);

/// What the sync keeps of one member copy (not the object itself).
#[derive(Debug, Clone)]
pub struct CopyRecord {
    pub generation: i64,
    pub binding: Option<String>,
    /// Metadata the status aggregation reads and the status summary, as
    /// JSON text (a third of the memory of a parsed value).
    pub compact: Box<str>,
}

impl CopyRecord {
    /// The compact object (see [`crate::sync::compact`]).
    pub fn object(&self) -> serde_json::Value {
        serde_json::from_str(&self.compact).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Records {
    copies: HashMap<CopyKey, CopyRecord>,
    /// Watches that have listed since they (re)started.
    synced: std::collections::HashSet<(String, &'static str)>,
    /// (hash of the rendering, resulting member generation) per copy.
    applied: HashMap<CopyKey, (u64, i64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn triggers_within_the_window_become_one_per_binding() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut merged = coalesce(rx, Duration::from_secs(60));
        let a = ObjectRef::<ResourceBinding>::new("a").within("ns");
        let b = ObjectRef::<ResourceBinding>::new("b").within("ns");
        for r in [&a, &a, &b, &a, &b] {
            tx.send(r.clone()).expect("send");
        }
        // Closing the input flushes what is pending and ends the output.
        drop(tx);
        let mut got = Vec::new();
        while let Some(r) = merged.recv().await {
            got.push(r.name);
        }
        got.sort();
        assert_eq!(got, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_trigger_after_the_window_is_not_lost() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut merged = coalesce(rx, Duration::from_millis(10));
        let a = ObjectRef::<ResourceBinding>::new("a").within("ns");
        tx.send(a.clone()).expect("send");
        assert_eq!(merged.recv().await.map(|r| r.name), Some("a".into()));
        tx.send(a.clone()).expect("send");
        assert_eq!(merged.recv().await.map(|r| r.name), Some("a".into()));
    }
}
