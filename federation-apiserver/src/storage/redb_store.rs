//! Embedded, durable backend on redb.
//!
//! Layout: table `objects` (key → JSON bytes, with `metadata.resourceVersion`
//! already set) and table `meta` (`revision` → the last assigned revision).
//!
//! Writes go through one writer thread that practises *group commit*: it
//! takes every write queued while the previous commit was syncing, applies
//! them in order inside one redb transaction (each with its own
//! create/compare-and-swap check, so one failed write never affects another),
//! commits once with `Durability::Immediate`, and only then publishes the
//! events and answers the callers.
//!
//! # Guarantees
//! - A write is acknowledged only after the transaction holding it is
//!   committed and synced to disk: a crash after the answer cannot lose it.
//! - Revisions survive restarts (stored in `meta`), so they never go backwards.
//! - If a commit fails, every write in the group fails and nothing is published.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::event_hub::EventHub;
use super::{
    revision_of, set_revision, EventType, ListOptions, ListResult, Object, Revision, Storage,
    StorageError, StoredObject, WatchEvent, WatchStream,
};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const REVISION_KEY: &str = "revision";
/// Upper bound on writes folded into one commit.
const MAX_GROUP: usize = 512;

enum WriteKind {
    Create(Value),
    Update(Option<Revision>, Value),
    Delete(Option<Revision>),
}

struct WriteRequest {
    key: String,
    kind: WriteKind,
    reply: oneshot::Sender<Result<Object, StorageError>>,
}

/// The embedded [`Storage`] backend (the default).
pub struct RedbStorage {
    db: Arc<Database>,
    /// `None` only while dropping.
    writes: Option<mpsc::UnboundedSender<WriteRequest>>,
    writer: Option<std::thread::JoinHandle<()>>,
    hub: EventHub,
    path: PathBuf,
}

fn backend<E: std::fmt::Display>(e: E) -> StorageError {
    StorageError::Backend(e.to_string())
}

impl RedbStorage {
    /// Opens (or creates) the database file at `path`, with the default
    /// event buffer.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_with_event_buffer(path, super::event_hub::BACKEND_EVENT_BUFFER)
    }

    /// [`RedbStorage::open`] buffering `events` events for a subscriber
    /// that falls behind (the event hub's buffer).
    pub fn open_with_event_buffer(path: &Path, events: usize) -> Result<Self, StorageError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(backend)?;
        }
        let db = Arc::new(Database::create(path).map_err(backend)?);
        {
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(OBJECTS).map_err(backend)?;
            txn.open_table(META).map_err(backend)?;
            txn.commit().map_err(backend)?;
        }
        let hub = EventHub::with_buffer(read_revision(&db)?, events);
        let (writes, queue) = mpsc::unbounded_channel();
        let writer_db = db.clone();
        let writer_hub = hub.clone();
        let writer = std::thread::Builder::new()
            .name("redb-writer".into())
            .spawn(move || writer_loop(writer_db, writer_hub, queue))
            .map_err(backend)?;
        Ok(Self {
            db,
            writes: Some(writes),
            writer: Some(writer),
            hub,
            path: path.to_path_buf(),
        })
    }

    /// Where the database file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn submit(&self, key: &str, kind: WriteKind) -> Result<Object, StorageError> {
        if let WriteKind::Create(value) | WriteKind::Update(_, value) = &kind {
            super::check_depth(value)?;
        }
        let (reply, answer) = oneshot::channel();
        self.writes
            .as_ref()
            .ok_or_else(|| StorageError::Backend("the storage is closing".into()))?
            .send(WriteRequest {
                key: key.to_string(),
                kind,
                reply,
            })
            .map_err(|_| StorageError::Backend("the storage writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StorageError::Backend("the storage writer has stopped".into()))?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(backend)?
    }
}

impl Drop for RedbStorage {
    /// Lets the writer finish what is queued, then waits for it, so the
    /// database file is closed cleanly (no repair on the next open).
    fn drop(&mut self) {
        self.writes.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn decode(bytes: &[u8]) -> Result<Object, StorageError> {
    let value = serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    Ok(Arc::new(StoredObject::with_json(
        value,
        Bytes::copy_from_slice(bytes),
    )))
}

fn read_revision(db: &Database) -> Result<Revision, StorageError> {
    let txn = db.begin_read().map_err(backend)?;
    let meta = txn.open_table(META).map_err(backend)?;
    Ok(meta
        .get(REVISION_KEY)
        .map_err(backend)?
        .map(|v| v.value())
        .unwrap_or(0))
}

/// The writer thread: group commit until every sender is gone.
fn writer_loop(db: Arc<Database>, hub: EventHub, mut queue: mpsc::UnboundedReceiver<WriteRequest>) {
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        match apply_group(&db, &mut group) {
            Ok((results, events)) => {
                hub.publish(events);
                for (request, result) in group.into_iter().zip(results) {
                    let _ = request.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "storage commit failed");
                for request in group {
                    let _ = request.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

type GroupOutcome = (Vec<Result<Object, StorageError>>, Vec<WatchEvent>);

/// Applies a group of writes in one transaction. The outer error means the
/// transaction failed as a whole.
fn apply_group(db: &Database, group: &mut [WriteRequest]) -> Result<GroupOutcome, StorageError> {
    let mut txn = db.begin_write().map_err(backend)?;
    // Stated, not assumed: acknowledged writes must be on disk.
    txn.set_durability(Durability::Immediate).map_err(backend)?;
    let mut results = Vec::with_capacity(group.len());
    let mut events = Vec::new();
    {
        let mut objects = txn.open_table(OBJECTS).map_err(backend)?;
        let mut meta = txn.open_table(META).map_err(backend)?;
        let mut revision = meta
            .get(REVISION_KEY)
            .map_err(backend)?
            .map(|v| v.value())
            .unwrap_or(0);
        for request in group.iter_mut() {
            let key = request.key.as_str();
            // A corrupt stored object fails only the writes to its key.
            let previous = match objects.get(key).map_err(backend)? {
                Some(bytes) => match decode(bytes.value()) {
                    Ok(object) => Some(object),
                    Err(e) => {
                        results.push(Err(e));
                        continue;
                    }
                },
                None => None,
            };
            let check = |expected: &Option<Revision>| -> Result<(), StorageError> {
                let prev = previous
                    .as_ref()
                    .ok_or_else(|| StorageError::NotFound(key.to_string()))?;
                if let Some(expected) = *expected {
                    let actual = revision_of(prev).unwrap_or(0);
                    if actual != expected {
                        return Err(StorageError::Conflict {
                            key: key.to_string(),
                            expected,
                            actual,
                        });
                    }
                }
                Ok(())
            };
            let outcome = match &request.kind {
                WriteKind::Create(_) if previous.is_some() => {
                    Err(StorageError::AlreadyExists(key.to_string()))
                }
                WriteKind::Create(_) => Ok(()),
                WriteKind::Update(expected, _) | WriteKind::Delete(expected) => check(expected),
            };
            if let Err(e) = outcome {
                results.push(Err(e));
                continue;
            }
            revision += 1;
            let (event_type, stored) = match &mut request.kind {
                WriteKind::Create(value) | WriteKind::Update(_, value) => {
                    // Moved out: the request only needs its reply from here on.
                    let mut value = std::mem::take(value);
                    set_revision(&mut value, revision);
                    let bytes = Bytes::from(serde_json::to_vec(&value).map_err(backend)?);
                    objects.insert(key, bytes.as_ref()).map_err(backend)?;
                    let t = if previous.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    };
                    (t, Arc::new(StoredObject::with_json(value, bytes)))
                }
                WriteKind::Delete(_) => {
                    objects.remove(key).map_err(backend)?;
                    let mut last = previous.as_ref().expect("checked").value().clone();
                    set_revision(&mut last, revision);
                    (EventType::Deleted, super::object(last))
                }
            };
            events.push(WatchEvent {
                event_type,
                key: key.to_string(),
                object: stored.clone(),
                prev: previous,
                revision,
            });
            results.push(Ok(stored));
        }
        meta.insert(REVISION_KEY, revision).map_err(backend)?;
    }
    if events.is_empty() {
        // Every write in the group failed its check: nothing to sync.
        txn.abort().map_err(backend)?;
    } else {
        txn.commit().map_err(backend)?;
    }
    Ok((results, events))
}

#[async_trait]
impl Storage for RedbStorage {
    async fn get(&self, key: &str) -> Result<Option<Object>, StorageError> {
        let key = key.to_string();
        self.read(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let objects = txn.open_table(OBJECTS).map_err(backend)?;
            match objects.get(key.as_str()).map_err(backend)? {
                Some(bytes) => Ok(Some(decode(bytes.value())?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListResult, StorageError> {
        let prefix = prefix.to_string();
        let options = options.clone();
        self.read(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let objects = txn.open_table(OBJECTS).map_err(backend)?;
            let meta = txn.open_table(META).map_err(backend)?;
            let revision = meta
                .get(REVISION_KEY)
                .map_err(backend)?
                .map(|v| v.value())
                .unwrap_or(0);
            // Decode the range into an ordered map and reuse the shared paging logic.
            let mut range = BTreeMap::new();
            for entry in objects.range(prefix.as_str()..).map_err(backend)? {
                let (key, bytes) = entry.map_err(backend)?;
                if !key.value().starts_with(prefix.as_str()) {
                    break;
                }
                range.insert(key.value().to_string(), decode(bytes.value())?);
            }
            Ok(super::memory::list_map(&range, revision, &prefix, &options))
        })
        .await
    }

    async fn create(&self, key: &str, object: Value) -> Result<Object, StorageError> {
        self.submit(key, WriteKind::Create(object)).await
    }

    async fn update(
        &self,
        key: &str,
        expected: Option<Revision>,
        object: Value,
    ) -> Result<Object, StorageError> {
        self.submit(key, WriteKind::Update(expected, object)).await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Object, StorageError> {
        self.submit(key, WriteKind::Delete(expected)).await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StorageError> {
        self.hub.watch(prefix, after)
    }

    async fn list_and_watch(
        &self,
        prefix: &str,
    ) -> Result<(ListResult, WatchStream), StorageError> {
        self.hub.list_and_watch(self, prefix).await
    }

    async fn current_revision(&self) -> Result<Revision, StorageError> {
        self.read(read_revision).await
    }
}
