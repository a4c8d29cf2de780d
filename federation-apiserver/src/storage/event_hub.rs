//! Fan-out of committed events from a backend to its watchers.

use std::sync::Arc;

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use super::{ListOptions, ListResult, Revision, Storage, StorageError, WatchEvent, WatchStream};

/// How many events a backend buffers for a slow watcher before cutting it
/// off, by default (`--storage-event-buffer`). The buffer is allocated up
/// front, about 90 bytes a slot (~5.5 MiB at this size), and each slot keeps
/// the objects of the last event written to it alive until overwritten.
pub const BACKEND_EVENT_BUFFER: usize = 1 << 16;

/// A broadcast of committed events in revision order.
///
/// # Caveats
/// A receiver that falls more than the buffer behind loses events; its stream
/// then yields one `Expired` error and ends, so the consumer relists (the
/// watch cache, the only subscriber of a server's backend, then resyncs and
/// ends its own watches with `Expired`). The buffer only needs to cover the
/// events a backend can publish while its subscriber is not scheduled.
#[derive(Debug, Clone)]
pub struct EventHub {
    sender: broadcast::Sender<WatchEvent>,
    /// The revision of the last published event; held while publishing and
    /// subscribing so a subscription sees exactly the events after it.
    published: Arc<Mutex<Revision>>,
}

impl EventHub {
    /// A hub whose history starts at `revision` (the backend's current one),
    /// buffering `buffer` events (at least 1; tokio rounds it up to a power
    /// of two) for each subscriber.
    pub fn with_buffer(revision: Revision, buffer: usize) -> Self {
        let (sender, _) = broadcast::channel(buffer.max(1));
        Self {
            sender,
            published: Arc::new(Mutex::new(revision)),
        }
    }

    /// Publishes committed events, in revision order.
    pub fn publish(&self, events: impl IntoIterator<Item = WatchEvent>) {
        let mut published = self.published.lock();
        for event in events {
            *published = event.revision;
            let _ = self.sender.send(event);
        }
    }

    /// A stream of the events under `prefix` after revision `after`.
    ///
    /// # Caveats
    /// The hub keeps no history: `after` older than the last published
    /// revision is `Expired`.
    pub fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StorageError> {
        let published = self.published.lock();
        if after < *published {
            return Err(StorageError::Expired {
                requested: after,
                oldest: *published,
            });
        }
        let receiver = self.sender.subscribe();
        drop(published);
        Ok(Self::stream(receiver, prefix.to_string(), after))
    }

    /// A stream of every event published from now on under `prefix` with a
    /// revision above the `after` given later: subscribe, then read a
    /// snapshot, then call [`Subscription::after`] with its revision.
    pub fn subscribe(&self, prefix: &str) -> Subscription {
        Subscription {
            receiver: self.sender.subscribe(),
            prefix: prefix.to_string(),
        }
    }

    /// [`Storage::list_and_watch`] for a backend publishing through this hub:
    /// subscribed first, so every event committed after the list's snapshot
    /// is in the subscription; older ones are filtered by revision.
    pub async fn list_and_watch(
        &self,
        storage: &dyn Storage,
        prefix: &str,
    ) -> Result<(ListResult, WatchStream), StorageError> {
        let subscription = self.subscribe(prefix);
        let list = storage.list(prefix, &ListOptions::default()).await?;
        let events = subscription.after(list.revision);
        Ok((list, events))
    }

    /// Turns a receiver into a stream of events under `prefix` newer than `after`.
    fn stream(
        receiver: broadcast::Receiver<WatchEvent>,
        prefix: String,
        after: Revision,
    ) -> WatchStream {
        let stream = BroadcastStream::new(receiver)
            .scan(false, move |ended, item| {
                if *ended {
                    return futures::future::ready(None);
                }
                let out = match item {
                    Ok(event) => Some(Ok(event)),
                    Err(BroadcastStreamRecvError::Lagged(_)) => {
                        *ended = true;
                        Some(Err(StorageError::Expired {
                            requested: after,
                            oldest: after + 1,
                        }))
                    }
                };
                futures::future::ready(Some(out))
            })
            .filter_map(move |item| {
                let keep = match &item {
                    Some(Ok(e)) => e.revision > after && e.key.starts_with(&prefix),
                    Some(Err(_)) => true,
                    None => false,
                };
                futures::future::ready(if keep { item } else { None })
            });
        Box::pin(stream)
    }
}

/// A subscription taken before reading a snapshot (see [`EventHub::subscribe`]).
pub struct Subscription {
    receiver: broadcast::Receiver<WatchEvent>,
    prefix: String,
}

impl Subscription {
    /// The events after the snapshot's revision.
    pub fn after(self, revision: Revision) -> WatchStream {
        EventHub::stream(self.receiver, self.prefix, revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{object, EventType};
    use serde_json::json;

    fn event(revision: Revision) -> WatchEvent {
        WatchEvent {
            event_type: EventType::Added,
            key: format!("/k/{revision}"),
            object: object(json!({"metadata": {"name": revision.to_string()}})),
            prev: None,
            revision,
        }
    }

    #[tokio::test]
    async fn a_subscriber_lagging_past_the_buffer_gets_expired_then_the_stream_ends() {
        let hub = EventHub::with_buffer(0, 4);
        let mut within = hub.subscribe("/k/").after(0);
        hub.publish((1..=4).map(event));
        for revision in 1..=4 {
            let got = within.next().await.unwrap().unwrap();
            assert_eq!(got.revision, revision);
        }
        let mut lagging = hub.subscribe("/k/").after(4);
        hub.publish((5..=20).map(event));
        match lagging.next().await {
            Some(Err(StorageError::Expired { .. })) => {}
            other => panic!("expected Expired, got {other:?}"),
        }
        assert!(
            lagging.next().await.is_none(),
            "the stream ends after Expired"
        );
        // A zero buffer is one slot, not a panic.
        let tiny = EventHub::with_buffer(0, 0);
        let mut w = tiny.subscribe("").after(0);
        tiny.publish([event(1)]);
        assert_eq!(w.next().await.unwrap().unwrap().revision, 1);
    }
}
