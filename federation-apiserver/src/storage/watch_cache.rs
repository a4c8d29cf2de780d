//! The watch cache: a [`Storage`] layer that keeps the current state and a
//! bounded window of recent events in memory, in front of any backend.
//!
//! Like kube-apiserver's cacher, it serves `get`, `list` and `watch` from
//! memory (so thousands of watchers cost the backend one subscription) and
//! passes writes through to the backend.
//!
//! Fan-out is *notify, then read*: the applier appends each event to the
//! window and bumps a revision on a `tokio::sync::watch` channel; every
//! watcher wakes, and reads the events after its cursor straight from the
//! window. The window is the only place recent events live, so memory is
//! bounded by [`WindowLimits`] however many watchers there are and however
//! slow they read.
//!
//! # Guarantees
//! - Read-your-writes: a write returns only after the cache has applied it,
//!   so a `get`/`list` issued after any acknowledged write sees that write.
//! - A watch from revision `R` gets every event after `R`, in order and with
//!   no gap — or `Expired` if `R` is older than the window (or newer than
//!   anything applied, as after a restart of a memory backend).
//!
//! # Caveats
//! - A watcher whose cursor falls out of the window (it read too slowly
//!   while the window moved on) gets `Expired`; its client relists.
//! - If the cache itself ever loses events from the backend, it relists the
//!   backend, empties the window and ends every open watch with `Expired`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use parking_lot::RwLock;
use serde_json::Value;
use tokio::sync::watch;

use super::memory::list_map;
use super::{
    EventType, ListOptions, ListResult, Object, Revision, Storage, StorageError, WatchEvent,
    WatchStream,
};

/// Default number of events a backend buffers for the cache's feed; a cache
/// that falls further behind its backend relists it (see the caveats above).
pub use super::event_hub::BACKEND_EVENT_BUFFER;

/// Default number of recent events kept for watches.
pub const DEFAULT_WINDOW: usize = 10_000;
/// Default bytes of recent events (their objects' JSON) kept for watches.
pub const DEFAULT_WINDOW_BYTES: usize = 256 * 1024 * 1024;
/// Most events a watcher takes from the window in one read.
const READ_BATCH: usize = 1024;

/// How much recent history the cache keeps: whichever limit is hit first.
#[derive(Debug, Clone, Copy)]
pub struct WindowLimits {
    pub events: usize,
    pub bytes: usize,
}

impl Default for WindowLimits {
    fn default() -> Self {
        Self {
            events: DEFAULT_WINDOW,
            bytes: DEFAULT_WINDOW_BYTES,
        }
    }
}

impl WindowLimits {
    /// `events` recent events, with the default byte limit.
    pub fn events(events: usize) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }
}

struct CacheState {
    objects: BTreeMap<String, Object>,
    /// Revision of the last applied event.
    revision: Revision,
    /// Recent events, oldest first (ascending revisions).
    window: VecDeque<Arc<WatchEvent>>,
    /// Sum of the window's object sizes.
    bytes: usize,
    /// Watches from a revision below this are `Expired`.
    oldest: Revision,
    limits: WindowLimits,
    /// Bumped when the cache relists its backend: every cursor is void.
    epoch: u64,
}

impl CacheState {
    fn push(&mut self, event: Arc<WatchEvent>) {
        self.bytes += event_size(&event);
        self.window.push_back(event);
        while self.window.len() > self.limits.events.max(1)
            || (self.bytes > self.limits.bytes && self.window.len() > 1)
        {
            if let Some(dropped) = self.window.pop_front() {
                self.bytes -= event_size(&dropped);
                self.oldest = dropped.revision;
            }
        }
    }
}

fn event_size(event: &WatchEvent) -> usize {
    event.key.len() + event.object.json().len()
}

/// A caching layer in front of a backend; itself a [`Storage`].
pub struct WatchCache {
    backend: Arc<dyn Storage>,
    state: Arc<RwLock<CacheState>>,
    /// The last applied revision; watchers and writers wait on it.
    applied: watch::Receiver<Revision>,
}

impl WatchCache {
    /// Loads the backend's current state and starts following its events.
    pub async fn new(
        backend: Arc<dyn Storage>,
        limits: WindowLimits,
    ) -> Result<Self, StorageError> {
        let ((objects, revision), events) = snapshot_and_follow(backend.as_ref()).await?;
        let state = Arc::new(RwLock::new(CacheState {
            objects,
            revision,
            window: VecDeque::new(),
            bytes: 0,
            oldest: revision,
            limits,
            epoch: 0,
        }));
        let (applied_tx, applied) = watch::channel(revision);
        tokio::spawn(apply_loop(
            backend.clone(),
            state.clone(),
            applied_tx,
            events,
        ));
        Ok(Self {
            backend,
            state,
            applied,
        })
    }

    /// Passes a write's outcome through once the cache reflects it: the
    /// written revision, or — after a conflict — the revision that won, so a
    /// retry reads fresh state.
    async fn settle(&self, result: Result<Object, StorageError>) -> Result<Object, StorageError> {
        match result {
            Ok(object) => {
                self.wait_applied(super::revision_of(&object).unwrap_or(0))
                    .await?;
                Ok(object)
            }
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
            // Encode outside the lock (once; every watcher reuses the bytes).
            let _ = event.object.json();
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
                s.push(event);
            }
            let _ = applied.send(revision);
        }
        if applied.is_closed() {
            // Nobody holds the cache any more.
            return;
        }
        // Resync: reload everything, void every cursor, start a new window.
        loop {
            match snapshot_and_follow(backend.as_ref()).await {
                Ok(((objects, revision), feed)) => {
                    {
                        let mut s = state.write();
                        s.objects = objects;
                        s.revision = revision;
                        s.window.clear();
                        s.bytes = 0;
                        s.oldest = revision;
                        s.epoch += 1;
                    }
                    applied.send_modify(|r| *r = revision);
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

/// One watcher's position in the window.
struct Cursor {
    state: Arc<RwLock<CacheState>>,
    applied: watch::Receiver<Revision>,
    prefix: String,
    /// Every event up to this revision has been taken.
    last: Revision,
    epoch: u64,
    pending: VecDeque<Arc<WatchEvent>>,
    ended: bool,
}

impl Cursor {
    /// Takes the next batch of events after `last` from the window.
    fn read(&mut self) -> Result<(), StorageError> {
        let s = self.state.read();
        if s.epoch != self.epoch || self.last < s.oldest {
            return Err(StorageError::Expired {
                requested: self.last,
                oldest: s.oldest,
            });
        }
        let start = s.window.partition_point(|e| e.revision <= self.last);
        for (taken, event) in s.window.range(start..).enumerate() {
            if taken == READ_BATCH {
                return Ok(());
            }
            self.last = event.revision;
            if event.key.starts_with(&self.prefix) {
                self.pending.push_back(event.clone());
            }
        }
        self.last = self.last.max(s.revision);
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<WatchEvent, StorageError>> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok((*event).clone()));
            }
            // Mark the notification seen before reading, so an event applied
            // after the read still wakes us.
            self.applied.borrow_and_update();
            if let Err(e) = self.read() {
                self.ended = true;
                return Some(Err(e));
            }
            if self.pending.is_empty() && self.applied.changed().await.is_err() {
                return None;
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
        let epoch = {
            let s = self.state.read();
            // Newer than anything applied: a revision from before a restart
            // of a backend that does not keep revisions. Relisting fixes it.
            if after < s.oldest || after > s.revision {
                return Err(StorageError::Expired {
                    requested: after,
                    oldest: s.oldest,
                });
            }
            s.epoch
        };
        let cursor = Cursor {
            state: self.state.clone(),
            applied: self.applied.clone(),
            prefix: prefix.to_string(),
            last: after,
            epoch,
            pending: VecDeque::new(),
            ended: false,
        };
        Ok(Box::pin(futures::stream::unfold(
            cursor,
            |mut cursor| async move {
                let item = cursor.next().await?;
                Some((item, cursor))
            },
        )))
    }

    async fn current_revision(&self) -> Result<Revision, StorageError> {
        Ok(self.state.read().revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryStorage;
    use serde_json::json;
    use std::time::Duration;

    /// A cache that falls more than its backend's event buffer behind (the
    /// backend written directly while the cache's applier cannot run)
    /// relists: open watches end with `Expired`, reads see every write.
    #[tokio::test(flavor = "current_thread")]
    async fn a_cache_lagging_past_the_backend_buffer_relists_and_expires_its_watches() {
        let backend: Arc<dyn Storage> = Arc::new(MemoryStorage::with_event_buffer(4));
        let cache = WatchCache::new(backend.clone(), WindowLimits::events(1000))
            .await
            .unwrap();
        let first = cache
            .create("/lag/a", json!({"metadata": {"name": "a"}}))
            .await
            .unwrap();
        let mut watch = cache
            .watch("/lag/", crate::storage::revision_of(&first).unwrap())
            .await
            .unwrap();
        // No await point between these writes: the applier falls 50 behind.
        for i in 0..50 {
            backend
                .create(
                    &format!("/lag/{i}"),
                    json!({"metadata": {"name": i.to_string()}}),
                )
                .await
                .unwrap();
        }
        let item = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("the watch answers");
        assert!(
            matches!(item, Some(Err(StorageError::Expired { .. }))),
            "{item:?}"
        );
        assert!(
            watch.next().await.is_none(),
            "the stream ends after Expired"
        );
        let revision = backend.current_revision().await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while cache.current_revision().await.unwrap() < revision {
            assert!(tokio::time::Instant::now() < deadline, "the cache resyncs");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let listed = cache.list("/lag/", &ListOptions::default()).await.unwrap();
        assert_eq!(listed.items.len(), 51);
        // After the resync the cache follows its backend again.
        let mut again = cache.watch("/lag/", revision).await.unwrap();
        cache
            .create("/lag/z", json!({"metadata": {"name": "z"}}))
            .await
            .unwrap();
        let event = again.next().await.unwrap().unwrap();
        assert_eq!(event.key, "/lag/z");
    }
}
