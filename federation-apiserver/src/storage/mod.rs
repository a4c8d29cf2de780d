//! The storage interface and its backends.
//!
//! [`Storage`] is deliberately small — get, list, create, compare-and-swap
//! update, delete, watch — and shaped like etcd's key space so an etcd backend
//! fits: keys are strings (`/{group}/{resource}/{namespace}/{name}`), every
//! write gets the next value of one global, monotonically increasing revision,
//! and an object's `metadata.resourceVersion` is the revision of its last
//! write.
//!
//! Backends: [`memory::MemoryStorage`] (tests) and [`redb_store::RedbStorage`]
//! (embedded, the default). [`watch_cache::WatchCache`] is a layer that
//! implements the same trait in front of any backend: it serves reads from
//! memory and watches from a bounded window of recent events.
//!
//! # Guarantees (every implementation)
//! - A write returns only after it is durable for that backend (for redb:
//!   committed and fsynced).
//! - Objects returned carry `metadata.resourceVersion` equal to the revision of
//!   the write that produced them (for deletes: the delete's revision).
//! - Watch events for one key, and across keys, arrive in revision order.

mod event_hub;
pub mod memory;
pub mod redb_store;
pub mod watch_cache;

#[cfg(test)]
mod conformance;

use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use async_trait::async_trait;
use futures::Stream;
use serde_json::Value;

/// A global, monotonically increasing write counter.
pub type Revision = u64;

/// An object as stored: its JSON with `metadata.resourceVersion` set,
/// shared by the cache, every list and every watcher.
pub type Object = Arc<StoredObject>;

/// A stored object's value and, serialised once on first use (or handed over
/// by a backend that already has them), its JSON bytes — so gets, lists and
/// a thousand watchers send the same bytes instead of re-encoding them.
pub struct StoredObject {
    value: Value,
    json: OnceLock<Bytes>,
}

impl StoredObject {
    pub fn new(value: Value) -> Self {
        Self {
            value,
            json: OnceLock::new(),
        }
    }

    /// A value together with its exact JSON encoding.
    pub fn with_json(value: Value, json: Bytes) -> Self {
        Self {
            value,
            json: OnceLock::from(json),
        }
    }

    /// The JSON encoding (computed once).
    pub fn json(&self) -> &Bytes {
        self.json
            .get_or_init(|| Bytes::from(serde_json::to_vec(&self.value).unwrap_or_default()))
    }

    pub fn value(&self) -> &Value {
        &self.value
    }
}

impl std::ops::Deref for StoredObject {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.value
    }
}

impl PartialEq for StoredObject {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl std::fmt::Debug for StoredObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

/// Wraps a value as a shared [`Object`].
pub fn object(value: Value) -> Object {
    Arc::new(StoredObject::new(value))
}

/// Errors from a storage backend.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StorageError {
    #[error("key {0} not found")]
    NotFound(String),
    #[error("key {0} already exists")]
    AlreadyExists(String),
    /// Compare-and-swap failed: the stored revision is not the expected one.
    #[error("key {key}: expected revision {expected}, found {actual}")]
    Conflict {
        key: String,
        expected: Revision,
        actual: Revision,
    },
    /// The requested revision is older than what the backend retains.
    #[error("revision {requested} is too old (oldest retained: {oldest})")]
    Expired {
        requested: Revision,
        oldest: Revision,
    },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The object nests deeper than [`MAX_DEPTH`]: refused so that whatever
    /// is stored can always be read back (serde_json stops at 128 levels).
    #[error("the object nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("storage backend failed: {0}")]
    Backend(String),
}

/// What kind of change a [`WatchEvent`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The Kubernetes watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub event_type: EventType,
    pub key: String,
    /// The object after the change; for deletes, the last state with the
    /// delete's revision as its resourceVersion.
    pub object: Object,
    /// The object before the change (for modifications and deletes), so a
    /// filtered watch can tell an object leaving its selection.
    pub prev: Option<Object>,
    pub revision: Revision,
}

/// A stream of watch events; it ends when the watcher falls too far behind
/// (or the storage shuts down) — the client is expected to relist.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, StorageError>> + Send>>;

/// A predicate on objects, evaluated by the storage when listing.
pub type Filter = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

/// How to list a key range.
#[derive(Clone, Default)]
pub struct ListOptions {
    /// Only objects for which this returns true (label/field selection).
    pub filter: Option<Filter>,
    /// At most this many objects (0 = no limit).
    pub limit: usize,
    /// Start strictly after this key (paging).
    pub start_after: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListResult {
    /// `(key, object)` pairs in key order.
    pub items: Vec<(String, Object)>,
    /// The revision the list reflects.
    pub revision: Revision,
    /// When the page was cut by `limit` and more keys remain: the last key returned.
    pub continue_after: Option<String>,
}

/// The storage interface every backend and layer implements.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The object at `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Object>, StorageError>;

    /// Objects whose key starts with `prefix`, in key order.
    async fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListResult, StorageError>;

    /// Stores a new object. Fails with `AlreadyExists` if the key is taken.
    async fn create(&self, key: &str, object: Value) -> Result<Object, StorageError>;

    /// Replaces an object. With `expected = Some(rev)` this is a
    /// compare-and-swap that fails with `Conflict` unless the stored object's
    /// revision is `rev`. Fails with `NotFound` if there is no object.
    async fn update(
        &self,
        key: &str,
        expected: Option<Revision>,
        object: Value,
    ) -> Result<Object, StorageError>;

    /// Removes an object (compare-and-swap as for update) and returns its last
    /// state, stamped with the delete's revision.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Object, StorageError>;

    /// Events for keys under `prefix` with revision greater than `after`.
    ///
    /// # Caveats
    /// A backend keeps only a bounded history: an `after` older than it
    /// retains yields `Expired`. Raw backends retain none (only
    /// `after >= current_revision()` works); the watch cache retains a window.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StorageError>;

    /// The revision of the latest committed write.
    async fn current_revision(&self) -> Result<Revision, StorageError>;

    /// Everything under `prefix` plus every event after that list, with no
    /// gap and no chance of `Expired` from writes racing the list.
    ///
    /// The default lists then watches from the list's revision, which a
    /// concurrent write can make `Expired`; backends override it by
    /// subscribing before they list.
    async fn list_and_watch(
        &self,
        prefix: &str,
    ) -> Result<(ListResult, WatchStream), StorageError> {
        let list = self.list(prefix, &ListOptions::default()).await?;
        let events = self.watch(prefix, list.revision).await?;
        Ok((list, events))
    }
}

/// The deepest nesting a stored object may have (with its managedFields).
pub const MAX_DEPTH: usize = 100;

/// Refuses objects nested deeper than [`MAX_DEPTH`].
pub fn check_depth(value: &Value) -> Result<(), StorageError> {
    fn depth_exceeds(value: &Value, budget: usize) -> bool {
        match value {
            Value::Object(map) => budget == 0 || map.values().any(|v| depth_exceeds(v, budget - 1)),
            Value::Array(items) => {
                budget == 0 || items.iter().any(|v| depth_exceeds(v, budget - 1))
            }
            _ => false,
        }
    }
    if depth_exceeds(value, MAX_DEPTH) {
        Err(StorageError::TooDeep)
    } else {
        Ok(())
    }
}

/// Reads the revision recorded in an object's `metadata.resourceVersion`.
pub fn revision_of(object: &Value) -> Option<Revision> {
    object
        .get("metadata")?
        .get("resourceVersion")?
        .as_str()?
        .parse()
        .ok()
}

/// Writes `metadata.resourceVersion` (creating `metadata` if needed).
pub fn set_revision(object: &mut Value, revision: Revision) {
    if !object.is_object() {
        *object = Value::Object(Default::default());
    }
    let map = object.as_object_mut().expect("object");
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    if !meta.is_object() {
        *meta = Value::Object(Default::default());
    }
    meta.as_object_mut().expect("metadata object").insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
}

/// Whether `key` is under `prefix` (an empty prefix matches everything).
pub fn under_prefix(key: &str, prefix: &str) -> bool {
    key.starts_with(prefix)
}
