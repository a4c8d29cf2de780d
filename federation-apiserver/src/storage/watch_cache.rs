//! The watch cache: a [`Storage`] layer that keeps the current state and a
//! bounded window of recent events in memory, in front of any backend.
//!
//! Like kube-apiserver's cacher, it serves `get`, `list` and `watch` from
//! memory (so thousands of watchers cost the backend one subscription) and
//! passes writes through to the backend.
//!
//! # Guarantees
//! - Read-your-writes: a write returns only after the cache has applied it,
//!   so a `get`/`list` issued after any acknowledged write sees that write.
//! - A watch from revision `R` gets every event after `R`, in order, with no
//!   gap between the backlog (the window) and live events — or `Expired` if
//!   `R` is older than the window.
//!
//! # Caveats
//! - A watcher that falls more than [`WATCHER_BUFFER`] events behind is cut
//!   off with `Expired` (its client relists) instead of buffering without bound.
//! - If the cache itself ever loses events from the backend, it relists the
//!   backend, empties the window and ends every open watch with `Expired`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use parking_lot::RwLock;
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use super::memory::list_map;
use super::{
    EventType, ListOptions, ListResult, Object, Revision, Storage, StorageError, WatchEvent,
    WatchStream,
};

/// Default number of recent events kept for watches that resume from the past.
pub const DEFAULT_WINDOW: usize = 10_000;
/// Events a single watcher may fall behind before it is cut off.
pub const WATCHER_BUFFER: usize = 4_096;

/// What the applier broadcasts to watchers: an event, or a reset after which
/// every watcher must relist.
type Broadcast = Option<Arc<WatchEvent>>;

struct CacheState {
    objects: BTreeMap<String, Object>,
    /// Revision of the last applied event.
    revision: Revision,
    /// Recent events, oldest first.
    window: VecDeque<Arc<WatchEvent>>,
    /// Watches from a revision below this are `Expired`.
    oldest: Revision,
    capacity: usize,
}

/// A caching layer in front of a backend; itself a [`Storage`].
pub struct WatchCache {
    backend: Arc<dyn Storage>,
    state: Arc<RwLock<CacheState>>,
    applied: watch::Receiver<Revision>,
    live: broadcast::Sender<Broadcast>,
}

impl WatchCache {
    /// Loads the backend's current state and starts following its events.
    /// `window` is how many recent events are kept for resuming watches.
    pub async fn new(backend: Arc<dyn Storage>, window: usize) -> Result<Self, StorageError> {
        let (snapshot, events) = snapshot_and_follow(backend.as_ref()).await?;
        let state = Arc::new(RwLock::new(CacheState {
            objects: snapshot.0,
            revision: snapshot.1,
            window: VecDeque::new(),
            oldest: snapshot.1,
            capacity: window.max(1),
        }));
        let (applied_tx, applied) = watch::channel(snapshot.1);
        let (live, _) = broadcast::channel(WATCHER_BUFFER);
        tokio::spawn(apply_loop(
            backend.clone(),
            state.clone(),
            applied_tx,
            live.clone(),
            events,
        ));
        Ok(Self {
            backend,
            state,
            applied,
            live,
        })
    }

    /// Passes a write's outcome through once the cache reflects it: the
    /// written revision, or — after a conflict — the revision that won, so a
    /// retry reads fresh state.
    async fn settle(&self, result: Result<Object, StorageError>) -> Result<Object, StorageError> {
        match result {
            Ok(object) => self.caught_up(object).await,
            Err(StorageError::Conflict {
                key,
                expected,
                actual,
            }) => {
                self.wait_applied(actual).await?;
                Err(StorageError::Conflict {
                    key,
                    expected,
                    actual,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Waits until the cache has applied the revision of `object`.
    async fn caught_up(&self, object: Object) -> Result<Object, StorageError> {
        self.wait_applied(super::revision_of(&object).unwrap_or(0))
            .await?;
        Ok(object)
    }

    async fn wait_applied(&self, revision: Revision) -> Result<(), StorageError> {
        let mut applied = self.applied.clone();
        applied
            .wait_for(|r| *r >= revision)
            .await
            .map_err(|_| StorageError::Backend("the watch cache has stopped".into()))?;
        Ok(())
    }

    /// The revision of the oldest event a watch can resume after.
    pub fn oldest_revision(&self) -> Revision {
        self.state.read().oldest
    }
}

type Snapshot = (BTreeMap<String, Object>, Revision);

/// Lists the whole backend and subscribes to the events after that list.
async fn snapshot_and_follow(
    backend: &dyn Storage,
) -> Result<(Snapshot, WatchStream), StorageError> {
    let (list, events) = backend.list_and_watch("").await?;
    let objects: BTreeMap<String, Object> = list.items.into_iter().collect();
    Ok(((objects, list.revision), events))
}

async fn apply_loop(
    backend: Arc<dyn Storage>,
    state: Arc<RwLock<CacheState>>,
    applied: watch::Sender<Revision>,
    live: broadcast::Sender<Broadcast>,
    mut events: WatchStream,
) {
    loop {
        while let Some(item) = events.next().await {
            let event = match item {
                Ok(event) => Arc::new(event),
                Err(e) => {
                    tracing::warn!(error = %e, "watch cache lost its backend feed; relisting");
                    break;
                }
            };
            let revision = event.revision;
            {
                let mut s = state.write();
                match event.event_type {
                    EventType::Deleted => {
                        s.objects.remove(&event.key);
                    }
                    _ => {
                        s.objects.insert(event.key.clone(), event.object.clone());
                    }
                }
                s.revision = revision;
                s.window.push_back(event.clone());
                while s.window.len() > s.capacity {
                    if let Some(dropped) = s.window.pop_front() {
                        s.oldest = dropped.revision;
                    }
                }
                let _ = live.send(Some(event));
            }
            let _ = applied.send(revision);
        }
        if applied.is_closed() && live.receiver_count() == 0 {
            // Nobody holds the cache any more.
            return;
        }
        // Resync: reload everything, end every watcher, start a new window.
        loop {
            match snapshot_and_follow(backend.as_ref()).await {
                Ok(((objects, revision), feed)) => {
                    let mut s = state.write();
                    s.objects = objects;
                    s.revision = revision;
                    s.window.clear();
                    s.oldest = revision;
                    let _ = live.send(None);
                    drop(s);
                    let _ = applied.send(revision);
                    events = feed;
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "watch cache cannot relist its backend");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
    }
}

#[async_trait]
impl Storage for WatchCache {
    async fn get(&self, key: &str) -> Result<Option<Object>, StorageError> {
        Ok(self.state.read().objects.get(key).cloned())
    }

    async fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListResult, StorageError> {
        let s = self.state.read();
        Ok(list_map(&s.objects, s.revision, prefix, options))
    }

    async fn create(&self, key: &str, object: Value) -> Result<Object, StorageError> {
        self.settle(self.backend.create(key, object).await).await
    }

    async fn update(
        &self,
        key: &str,
        expected: Option<Revision>,
        object: Value,
    ) -> Result<Object, StorageError> {
        self.settle(self.backend.update(key, expected, object).await)
            .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Object, StorageError> {
        self.settle(self.backend.delete(key, expected).await).await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StorageError> {
        let (backlog, receiver) = {
            let s = self.state.read();
            // Newer than anything applied: a revision from before a restart
            // of a backend that does not keep revisions. Relisting fixes it.
            if after < s.oldest || after > s.revision {
                return Err(StorageError::Expired {
                    requested: after,
                    oldest: s.oldest,
                });
            }
            let backlog: Vec<Arc<WatchEvent>> = s
                .window
                .iter()
                .filter(|e| e.revision > after && e.key.starts_with(prefix))
                .cloned()
                .collect();
            // Subscribing under the read lock: the applier publishes under the
            // write lock, so every event is either in `backlog` or live.
            (backlog, self.live.subscribe())
        };
        let prefix = prefix.to_string();
        let last_backlog = backlog.last().map(|e| e.revision).unwrap_or(after);
        let backlog = futures::stream::iter(backlog.into_iter().map(|e| Ok((*e).clone())));
        let live = BroadcastStream::new(receiver)
            .map(move |item| match item {
                Ok(Some(event)) => Ok(Some(event)),
                Ok(None) | Err(BroadcastStreamRecvError::Lagged(_)) => Err(StorageError::Expired {
                    requested: after,
                    oldest: after + 1,
                }),
            })
            .scan(false, |ended, item| {
                let out = if *ended {
                    None
                } else {
                    *ended = item.is_err();
                    Some(item)
                };
                futures::future::ready(out)
            })
            .filter_map(move |item| {
                let out = match item {
                    Ok(Some(e)) if e.revision > last_backlog && e.key.starts_with(&prefix) => {
                        Some(Ok((*e).clone()))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                };
                futures::future::ready(out)
            });
        Ok(Box::pin(backlog.chain(live)))
    }

    async fn current_revision(&self) -> Result<Revision, StorageError> {
        Ok(self.state.read().revision)
    }
}
