//! watch: a chunked stream of JSON events, one per line, flushed per event.
//!
//! - `resourceVersion` unset or `0`, or `sendInitialEvents=true`: the current
//!   state first (as ADDED), then changes. With `sendInitialEvents` a BOOKMARK
//!   annotated `k8s.io/initial-events-end: "true"` marks the end of it.
//! - `resourceVersion=R`: every change after R, or — if R is older than the
//!   watch cache's window — an ERROR event holding a 410 `Expired` Status
//!   (answered with HTTP 200, as kube-apiserver does, so clients relist).
//! - `allowWatchBookmarks=true`: periodic BOOKMARK events with a revision
//!   the client can safely resume from.
//! - `timeoutSeconds`: the stream ends cleanly after that long.
//!
//! Selection (`labelSelector`, `fieldSelector`) is applied to both the old and
//! new state of each change: an object that stops matching is sent as
//! DELETED, one that starts matching as ADDED.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use http::{header, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::api::{as_served, ApiState, Target};
use super::reads;
use super::registry::ResourceType;
use super::table::TableRequest;
use crate::status::ApiError;
use crate::storage::{
    EventType, Filter, ListOptions, Object, Revision, StorageError, WatchEvent, WatchStream,
};

/// Frames buffered per watcher between its task and its connection.
const FRAME_BUFFER: usize = 256;

fn frame(event_type: &str, object: &Value) -> Bytes {
    frame_json(event_type, &serde_json::to_vec(object).unwrap_or_default())
}

/// One event line around an object's already-encoded JSON.
fn frame_json(event_type: &str, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(event_type.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(json);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// Encodes ADDED/MODIFIED/DELETED events: the stored object's own JSON, or
/// — for watches that asked for tables (`kubectl get -w`) — a one-row Table
/// whose `columnDefinitions` only the first event carries, as kube-apiserver
/// does. BOOKMARK and ERROR events are never tables.
struct EventEncoder {
    rt: Arc<ResourceType>,
    table: Option<TableRequest>,
    headers_sent: bool,
    /// Events carry `PartialObjectMetadata` (metadata-only watches).
    metadata_only: bool,
}

impl EventEncoder {
    fn event(&mut self, event_type: &str, object: &Object) -> Bytes {
        match &self.table {
            None if self.metadata_only => frame(
                event_type,
                &super::metadata_only::object(as_served(&self.rt, object).value()),
            ),
            None => frame_json(event_type, as_served(&self.rt, object).json()),
            Some(table) => {
                let headers = !std::mem::replace(&mut self.headers_sent, true);
                frame(event_type, &table.object_table(object.value(), headers))
            }
        }
    }
}

/// A BOOKMARK event; `initial_end` marks the end of the initial events.
fn bookmark(kind: &str, api_version: &str, revision: Revision, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    frame(
        "BOOKMARK",
        &json!({"kind": kind, "apiVersion": api_version, "metadata": metadata}),
    )
}

/// What a filtered watcher sees of one change, if anything.
fn translate(event: &WatchEvent, filter: &Option<Filter>) -> Option<&'static str> {
    let Some(filter) = filter else {
        return Some(event.event_type.as_str());
    };
    let now = filter(&event.object);
    let before = event.prev.as_ref().map(|p| filter(p)).unwrap_or(false);
    match event.event_type {
        EventType::Added => now.then_some("ADDED"),
        EventType::Deleted => (now || before).then_some("DELETED"),
        EventType::Modified => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
    }
}

pub async fn watch(api: &Arc<ApiState>, target: &Target) -> Result<Response, ApiError> {
    let query = &target.query;
    let mut encoder = EventEncoder {
        rt: target.rt.clone(),
        table: super::table::requested(target)?,
        headers_sent: false,
        metadata_only: super::metadata_only::requested(target.accept.as_deref()),
    };
    let mut filter = reads::selection(target)?;
    if let Some(name) = target.info.name.clone() {
        // The legacy single-object form: GET .../NAME?watch=true.
        let inner = filter.take();
        filter = Some(Arc::new(move |o: &Value| {
            o.get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                == Some(name.as_str())
                && inner.as_ref().is_none_or(|f| f(o))
        }));
    }
    let send_initial = query.flag("sendInitialEvents");
    let bookmarks = query.flag("allowWatchBookmarks");
    let timeout = match query.get("timeoutSeconds") {
        Some(t) => Some(Duration::from_secs(t.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid timeoutSeconds {t:?}"))
        })?)),
        None => None,
    };
    let prefix = target.rt.namespace_prefix(target.namespace());
    let requested = query.get("resourceVersion");
    let (initial, start) = if send_initial || matches!(requested, None | Some("0")) {
        let page = api
            .storage
            .list(
                &prefix,
                &ListOptions {
                    filter: filter.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| target.storage_error("", e))?;
        (page.items, page.revision)
    } else {
        let rv = requested.unwrap_or_default();
        let rv: Revision = rv.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid resourceVersion {rv:?}: must be a number"))
        })?;
        (Vec::new(), rv)
    };
    let stream = match api.storage.watch(&prefix, start).await {
        Ok(stream) => Ok(stream),
        Err(StorageError::Expired { requested, oldest }) => Err(ApiError::gone_expired(format!(
            "too old resource version: {requested} ({oldest})"
        ))),
        Err(e) => return Err(target.storage_error("", e)),
    };

    let (tx, rx) = mpsc::channel::<Result<Bytes, std::convert::Infallible>>(FRAME_BUFFER);
    let mut initial_frames: Vec<Bytes> = initial
        .iter()
        .map(|(_, o)| encoder.event("ADDED", o))
        .collect();
    if send_initial {
        initial_frames.push(bookmark(
            &target.rt.kind,
            &target.rt.api_version(),
            start,
            true,
        ));
    }
    let job = WatchJob {
        api: api.clone(),
        target_kind: (target.rt.kind.clone(), target.rt.api_version()),
        encoder,
        filter,
        bookmarks,
        timeout,
        last: start,
    };
    tokio::spawn(job.run(tx, initial_frames, stream));
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// One watcher's event pump.
struct WatchJob {
    api: Arc<ApiState>,
    target_kind: (String, String),
    encoder: EventEncoder,
    filter: Option<Filter>,
    bookmarks: bool,
    timeout: Option<Duration>,
    /// A revision every event up to which has been delivered.
    last: Revision,
}

type Sender = mpsc::Sender<Result<Bytes, std::convert::Infallible>>;

impl WatchJob {
    /// Sends one storage item; false when the watch must end.
    async fn forward(
        &mut self,
        tx: &Sender,
        item: Option<Result<WatchEvent, StorageError>>,
    ) -> bool {
        match item {
            Some(Ok(event)) => {
                self.last = event.revision;
                match translate(&event, &self.filter) {
                    Some(t) => tx
                        .send(Ok(self.encoder.event(t, &event.object)))
                        .await
                        .is_ok(),
                    None => true,
                }
            }
            Some(Err(e)) => {
                let status = match e {
                    StorageError::Expired { requested, oldest } => ApiError::gone_expired(format!(
                        "too old resource version: {requested} ({oldest})"
                    )),
                    other => ApiError::internal(other.to_string()),
                };
                let _ = tx.send(Ok(frame("ERROR", &status.to_status()))).await;
                false
            }
            None => false,
        }
    }

    async fn run(mut self, tx: Sender, initial: Vec<Bytes>, stream: Result<WatchStream, ApiError>) {
        for f in initial {
            if tx.send(Ok(f)).await.is_err() {
                return;
            }
        }
        let mut stream = match stream {
            Ok(s) => s,
            Err(expired) => {
                let _ = tx.send(Ok(frame("ERROR", &expired.to_status()))).await;
                return;
            }
        };
        // A year stands for "no timeout"; larger requests are clamped to it.
        let year = Duration::from_secs(60 * 60 * 24 * 365);
        let deadline = tokio::time::Instant::now() + self.timeout.unwrap_or(year).min(year);
        let shutdown = until_shutdown(self.api.shutting_down.clone());
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.api.bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                item = stream.next() => {
                    if !self.forward(&tx, item).await {
                        return;
                    }
                }
                _ = ticker.tick(), if self.bookmarks => {
                    // Everything up to `current` was published before it became
                    // visible, so draining what is ready makes `current` safe.
                    let Ok(current) = self.api.storage.current_revision().await else { continue };
                    // `unconstrained`: tokio's cooperative budget would
                    // otherwise report ready events as pending and end the
                    // drain early, letting the bookmark overtake them.
                    while let Some(item) = tokio::task::unconstrained(stream.next()).now_or_never() {
                        if !self.forward(&tx, item).await {
                            return;
                        }
                    }
                    self.last = self.last.max(current);
                    let (kind, api_version) = &self.target_kind;
                    if tx.send(Ok(bookmark(kind, api_version, self.last, false))).await.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
                _ = &mut shutdown => return,
            }
        }
    }
}

/// Resolves when the server starts shutting down (never, if it cannot tell).
async fn until_shutdown(mut shutting_down: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *shutting_down.borrow_and_update() {
            return;
        }
        if shutting_down.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::Body;
    use axum::extract::State;
    use futures::StreamExt;
    use serde_json::{json, Value};

    use crate::rest::api::{handle, ApiState};
    use crate::rest::namespaces::ensure_system_namespaces;
    use crate::rest::registry::Registry;
    use crate::storage::memory::MemoryStorage;
    use crate::storage::watch_cache::{WatchCache, WindowLimits};
    use crate::storage::Storage;

    async fn api(bookmark_interval: Duration) -> Arc<ApiState> {
        let backend: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let cache: Arc<dyn Storage> = Arc::new(
            WatchCache::new(backend, WindowLimits::events(10_000))
                .await
                .unwrap(),
        );
        let registry = Registry::builtin();
        ensure_system_namespaces(cache.as_ref(), &registry)
            .await
            .unwrap();
        let mut state = ApiState::new(cache, registry, "test".into());
        state.bookmark_interval = bookmark_interval;
        Arc::new(state)
    }

    fn request(method: &str, uri: &str, body: Option<Value>) -> http::Request<Body> {
        let body = body
            .map(|b| Body::from(b.to_string()))
            .unwrap_or_else(Body::empty);
        http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body)
            .unwrap()
    }

    /// A bookmark due while a large backlog waits behind the watcher must
    /// not overtake it (tokio's cooperative budget once cut the drain short).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bookmarks_never_overtake_a_backlog() {
        let api = api(Duration::from_millis(100)).await;
        let uri = "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1&allowWatchBookmarks=true";
        let response = handle(State(api.clone()), request("GET", uri, None)).await;
        let mut body = response.into_body().into_data_stream();
        const WRITES: usize = 1500;
        for i in 0..WRITES {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")}});
            let created = handle(
                State(api.clone()),
                request("POST", "/api/v1/namespaces/default/configmaps", Some(cm)),
            )
            .await;
            assert_eq!(created.status(), 201);
        }
        // Let bookmark ticks fall due while nothing is read.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (mut buffer, mut events, mut last_bookmark) = (Vec::new(), 0, 0u64);
        while events < WRITES {
            let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
                .await
                .expect("events keep coming")
                .expect("stream open")
                .unwrap();
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let event: Value = serde_json::from_slice(&line).unwrap();
                let rv: u64 = event["object"]["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                if event["type"] == "BOOKMARK" {
                    last_bookmark = last_bookmark.max(rv);
                } else {
                    events += 1;
                    assert!(
                        rv > last_bookmark,
                        "event {rv} after bookmark {last_bookmark}"
                    );
                }
            }
        }
    }
}
