//! In-memory backend: a `BTreeMap` behind a mutex. For tests and simulated
//! member clusters; nothing survives the process.

use std::collections::BTreeMap;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde_json::Value;

use super::event_hub::EventHub;
use super::{
    set_revision, EventType, ListOptions, ListResult, Object, Revision, Storage, StorageError,
    WatchEvent, WatchStream,
};

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Object>,
    revision: Revision,
}

/// A [`Storage`] that keeps everything in memory.
///
/// # Guarantees
/// Writes are linearizable (one mutex); events are published under the same
/// mutex, so they are in revision order.
pub struct MemoryStorage {
    state: Mutex<State>,
    hub: EventHub,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// An empty store with the default event buffer.
    pub fn new() -> Self {
        Self::with_event_buffer(super::event_hub::BACKEND_EVENT_BUFFER)
    }

    /// An empty store buffering `events` events for a subscriber that falls
    /// behind (the event hub's buffer).
    pub fn with_event_buffer(events: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            hub: EventHub::with_buffer(0, events),
        }
    }

    fn write(
        &self,
        key: &str,
        expected: Option<Revision>,
        object: Option<Value>,
        must_exist: bool,
    ) -> Result<Object, StorageError> {
        if let Some(object) = &object {
            super::check_depth(object)?;
        }
        let mut state = self.state.lock();
        let previous = state.objects.get(key).cloned();
        match (&previous, must_exist) {
            (None, true) => return Err(StorageError::NotFound(key.to_string())),
            (Some(_), false) => return Err(StorageError::AlreadyExists(key.to_string())),
            _ => {}
        }
        if let (Some(expected), Some(prev)) = (expected, &previous) {
            let actual = super::revision_of(prev).unwrap_or(0);
            if actual != expected {
                return Err(StorageError::Conflict {
                    key: key.to_string(),
                    expected,
                    actual,
                });
            }
        }
        let revision = state.revision + 1;
        let (event_type, stored) = match object {
            Some(mut value) => {
                set_revision(&mut value, revision);
                let stored = super::object(value);
                state.objects.insert(key.to_string(), stored.clone());
                let t = if previous.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                (t, stored)
            }
            None => {
                let prev = state.objects.remove(key).expect("checked above");
                let mut last = prev.value().clone();
                set_revision(&mut last, revision);
                (EventType::Deleted, super::object(last))
            }
        };
        state.revision = revision;
        self.hub.publish([WatchEvent {
            event_type,
            key: key.to_string(),
            object: stored.clone(),
            prev: previous,
            revision,
        }]);
        Ok(stored)
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<Object>, StorageError> {
        Ok(self.state.lock().objects.get(key).cloned())
    }

    async fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListResult, StorageError> {
        let state = self.state.lock();
        Ok(list_map(&state.objects, state.revision, prefix, options))
    }

    async fn create(&self, key: &str, object: Value) -> Result<Object, StorageError> {
        self.write(key, None, Some(object), false)
    }

    async fn update(
        &self,
        key: &str,
        expected: Option<Revision>,
        object: Value,
    ) -> Result<Object, StorageError> {
        self.write(key, expected, Some(object), true)
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Object, StorageError> {
        self.write(key, expected, None, true)
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
        Ok(self.state.lock().revision)
    }
}

/// Lists a key range of an ordered map of objects (shared with the watch cache).
pub(crate) fn list_map(
    objects: &BTreeMap<String, Object>,
    revision: Revision,
    prefix: &str,
    options: &ListOptions,
) -> ListResult {
    use std::ops::Bound;
    let start = match &options.start_after {
        Some(after) if after.as_str() >= prefix => Bound::Excluded(after.clone()),
        _ => Bound::Included(prefix.to_string()),
    };
    let mut items: Vec<(&String, &Object)> = Vec::new();
    let mut more = false;
    for (key, object) in objects.range((start, Bound::Unbounded)) {
        if !key.starts_with(prefix) {
            break;
        }
        if let Some(filter) = &options.filter {
            if !filter(object) {
                continue;
            }
        }
        if options.limit > 0 && items.len() == options.limit {
            more = true;
            break;
        }
        items.push((key, object));
    }
    ListResult {
        continue_after: if more {
            items.last().map(|(k, _)| (*k).clone())
        } else {
            None
        },
        items: items
            .into_iter()
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect(),
        revision,
    }
}
