//! One conformance suite for every [`Storage`] implementation.
//!
//! Each test takes a fresh, empty storage. [`conformance_suite!`] instantiates
//! the whole suite for one backend; it runs for the in-memory backend, redb,
//! and the watch cache in front of each.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use super::*;

fn obj(name: &str, data: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": data}})
}

fn rv(o: &Object) -> Revision {
    revision_of(o).expect("resourceVersion set")
}

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5s")
        .expect("stream open")
        .expect("no error")
}

pub async fn create_then_get(s: Arc<dyn Storage>) {
    let before = s.current_revision().await.unwrap();
    let created = s
        .create("/core/configmaps/ns/a", obj("a", "1"))
        .await
        .unwrap();
    assert!(rv(&created) > before);
    assert_eq!(s.current_revision().await.unwrap(), rv(&created));
    let got = s
        .get("/core/configmaps/ns/a")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got, created);
    assert_eq!(got["data"]["k"], "1");
    assert!(s.get("/core/configmaps/ns/b").await.unwrap().is_none());
}

pub async fn create_existing_fails(s: Arc<dyn Storage>) {
    s.create("/k/a", obj("a", "1")).await.unwrap();
    let rev = s.current_revision().await.unwrap();
    let err = s.create("/k/a", obj("a", "2")).await.unwrap_err();
    assert!(matches!(err, StorageError::AlreadyExists(_)), "{err:?}");
    assert_eq!(
        s.current_revision().await.unwrap(),
        rev,
        "a failed write takes no revision"
    );
    assert_eq!(s.get("/k/a").await.unwrap().unwrap()["data"]["k"], "1");
}

pub async fn update_is_compare_and_swap(s: Arc<dyn Storage>) {
    let a = s.create("/k/a", obj("a", "1")).await.unwrap();
    let b = s.update("/k/a", Some(rv(&a)), obj("a", "2")).await.unwrap();
    assert!(rv(&b) > rv(&a));
    let stale = s
        .update("/k/a", Some(rv(&a)), obj("a", "3"))
        .await
        .unwrap_err();
    assert!(matches!(stale, StorageError::Conflict { .. }), "{stale:?}");
    assert_eq!(s.get("/k/a").await.unwrap().unwrap()["data"]["k"], "2");
    let c = s.update("/k/a", None, obj("a", "4")).await.unwrap();
    assert!(rv(&c) > rv(&b), "unconditional update");
    let missing = s.update("/k/zz", None, obj("zz", "1")).await.unwrap_err();
    assert!(matches!(missing, StorageError::NotFound(_)), "{missing:?}");
}

pub async fn delete_returns_last_state(s: Arc<dyn Storage>) {
    let a = s.create("/k/a", obj("a", "1")).await.unwrap();
    let stale = s.delete("/k/a", Some(rv(&a) + 100)).await.unwrap_err();
    assert!(matches!(stale, StorageError::Conflict { .. }), "{stale:?}");
    let gone = s.delete("/k/a", Some(rv(&a))).await.unwrap();
    assert_eq!(gone["data"]["k"], "1");
    assert!(rv(&gone) > rv(&a), "a delete takes a new revision");
    assert!(s.get("/k/a").await.unwrap().is_none());
    let again = s.delete("/k/a", None).await.unwrap_err();
    assert!(matches!(again, StorageError::NotFound(_)), "{again:?}");
    // The key can be reused.
    s.create("/k/a", obj("a", "5")).await.unwrap();
}

pub async fn list_by_prefix_in_key_order(s: Arc<dyn Storage>) {
    for key in ["/r/ns2/b", "/r/ns1/b", "/r/ns1/a", "/other/x", "/r2/ns1/a"] {
        s.create(key, obj(key, key)).await.unwrap();
    }
    let all = s.list("/r/", &ListOptions::default()).await.unwrap();
    let keys: Vec<&str> = all.items.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["/r/ns1/a", "/r/ns1/b", "/r/ns2/b"]);
    assert_eq!(all.revision, s.current_revision().await.unwrap());
    assert!(all.continue_after.is_none());
    let ns1 = s.list("/r/ns1/", &ListOptions::default()).await.unwrap();
    assert_eq!(ns1.items.len(), 2);
    let filtered = s
        .list(
            "/r/",
            &ListOptions {
                filter: Some(Arc::new(|o: &Value| o["data"]["k"] == "/r/ns2/b")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(filtered.items.len(), 1);
    assert_eq!(filtered.items[0].0, "/r/ns2/b");
}

pub async fn list_pages_cover_everything_once(s: Arc<dyn Storage>) {
    for i in 0..23 {
        s.create(&format!("/p/{i:03}"), obj(&i.to_string(), "x"))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut start_after = None;
    let mut pages = 0;
    loop {
        let page = s
            .list(
                "/p/",
                &ListOptions {
                    limit: 5,
                    start_after: start_after.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 5);
        seen.extend(page.items.into_iter().map(|(k, _)| k));
        match page.continue_after {
            Some(last) => start_after = Some(last),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let expected: Vec<String> = (0..23).map(|i| format!("/p/{i:03}")).collect();
    assert_eq!(seen, expected);
    // A limit equal to the remaining count has no continuation.
    let exact = s
        .list(
            "/p/",
            &ListOptions {
                limit: 23,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(exact.continue_after.is_none());
}

pub async fn revisions_are_global_and_increasing(s: Arc<dyn Storage>) {
    let a = s.create("/x/a", obj("a", "1")).await.unwrap();
    let b = s.create("/y/b", obj("b", "1")).await.unwrap();
    let a2 = s.update("/x/a", None, obj("a", "2")).await.unwrap();
    let d = s.delete("/y/b", None).await.unwrap();
    let revs = [rv(&a), rv(&b), rv(&a2), rv(&d)];
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "{revs:?}");
}

pub async fn watch_sees_changes_in_order(s: Arc<dyn Storage>) {
    let start = s.current_revision().await.unwrap();
    let mut w = s.watch("/w/", start).await.unwrap();
    let a = s.create("/w/a", obj("a", "1")).await.unwrap();
    s.create("/unwatched/a", obj("a", "1")).await.unwrap();
    let a2 = s.update("/w/a", Some(rv(&a)), obj("a", "2")).await.unwrap();
    let gone = s.delete("/w/a", None).await.unwrap();

    let e1 = next_event(&mut w).await;
    assert_eq!(
        (e1.event_type, e1.key.as_str(), e1.revision),
        (EventType::Added, "/w/a", rv(&a))
    );
    assert!(e1.prev.is_none());
    let e2 = next_event(&mut w).await;
    assert_eq!(e2.event_type, EventType::Modified);
    assert_eq!(e2.object["data"]["k"], "2");
    assert_eq!(e2.prev.as_ref().unwrap()["data"]["k"], "1");
    assert_eq!(e2.revision, rv(&a2));
    let e3 = next_event(&mut w).await;
    assert_eq!(e3.event_type, EventType::Deleted);
    assert_eq!(e3.revision, rv(&gone));
    assert_eq!(rv(&e3.object), rv(&gone));
    // A DELETED event carries the last stored state (the REST layer relies
    // on it: kube-apiserver's events carry etcd's previous value).
    assert_eq!(e3.object["data"]["k"], "2");
    assert_eq!(e3.prev.as_ref().map(rv), Some(rv(&a2)));
}

/// Resuming from an older revision yields exactly the later events, or
/// `Expired` for a backend that keeps no history — never a gap.
pub async fn watch_from_the_past_is_complete_or_expired(s: Arc<dyn Storage>) {
    let a = s.create("/h/a", obj("a", "1")).await.unwrap();
    s.create("/h/b", obj("b", "1")).await.unwrap();
    s.update("/h/a", None, obj("a", "2")).await.unwrap();
    match s.watch("/h/", rv(&a)).await {
        Ok(mut w) => {
            let e1 = next_event(&mut w).await;
            assert_eq!((e1.key.as_str(), e1.event_type), ("/h/b", EventType::Added));
            let e2 = next_event(&mut w).await;
            assert_eq!(
                (e2.key.as_str(), e2.event_type),
                ("/h/a", EventType::Modified)
            );
        }
        Err(e) => assert!(matches!(e, StorageError::Expired { .. }), "{e:?}"),
    }
}

pub async fn concurrent_writes_all_land(s: Arc<dyn Storage>) {
    let mut tasks = Vec::new();
    for t in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..25 {
                let o = s
                    .create(&format!("/c/{t}-{i}"), obj("c", "1"))
                    .await
                    .unwrap();
                revs.push(rv(&o));
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 400, "every write has its own revision");
    let listed = s.list("/c/", &ListOptions::default()).await.unwrap();
    assert_eq!(listed.items.len(), 400);
}

/// A list taken while writes race it, plus the events after it, covers
/// every write exactly: nothing missed, no `Expired`.
pub async fn list_and_watch_has_no_gap(s: Arc<dyn Storage>) {
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                s.create(&format!("/lw/{i:04}"), obj("x", "1"))
                    .await
                    .unwrap();
            }
        })
    };
    // Let some writes land first, so the list races the rest.
    while s
        .list("/lw/", &ListOptions::default())
        .await
        .unwrap()
        .items
        .len()
        < 20
    {
        tokio::task::yield_now().await;
    }
    let (list, mut events) = s.list_and_watch("/lw/").await.expect("never Expired");
    let mut seen: std::collections::BTreeSet<String> =
        list.items.into_iter().map(|(k, _)| k).collect();
    let mut last = list.revision;
    while seen.len() < 300 {
        let e = next_event(&mut events).await;
        assert!(e.revision > last, "events after the list, in order");
        last = e.revision;
        assert!(seen.insert(e.key.clone()), "{} seen twice", e.key);
    }
    writer.await.unwrap();
}

/// Instantiates every conformance test for one backend. `$make` is an async
/// expression yielding `(Arc<dyn Storage>, guard)`; the guard lives as long
/// as the test (e.g. a temporary directory).
macro_rules! conformance_suite {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            conformance_suite!(@tests $make; create_then_get, create_existing_fails,
                update_is_compare_and_swap, delete_returns_last_state,
                list_by_prefix_in_key_order, list_pages_cover_everything_once,
                revisions_are_global_and_increasing, watch_sees_changes_in_order,
                watch_from_the_past_is_complete_or_expired, concurrent_writes_all_land,
                list_and_watch_has_no_gap);
        }
    };
    (@tests $make:expr; $($test:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let (storage, _guard) = $make.await;
                crate::storage::conformance::$test(storage).await;
            }
        )*
    };
}

async fn memory() -> (Arc<dyn Storage>, ()) {
    (Arc::new(memory::MemoryStorage::new()), ())
}

async fn redb() -> (Arc<dyn Storage>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = redb_store::RedbStorage::open(&dir.path().join("flotilla.redb")).unwrap();
    (Arc::new(s), dir)
}

async fn cached_memory() -> (Arc<dyn Storage>, ()) {
    let (backend, guard) = memory().await;
    let cache = watch_cache::WatchCache::new(backend, watch_cache::WindowLimits::events(1000))
        .await
        .unwrap();
    (Arc::new(cache), guard)
}

async fn cached_redb() -> (Arc<dyn Storage>, tempfile::TempDir) {
    let (backend, guard) = redb().await;
    let cache = watch_cache::WatchCache::new(backend, watch_cache::WindowLimits::events(1000))
        .await
        .unwrap();
    (Arc::new(cache), guard)
}

conformance_suite!(on_memory, memory());
conformance_suite!(on_redb, redb());
conformance_suite!(on_cached_memory, cached_memory());
conformance_suite!(on_cached_redb, cached_redb());

/// The cache serves watches from its window and expires older revisions.
#[tokio::test]
async fn cache_window_resumes_then_expires() {
    let backend: Arc<dyn Storage> = Arc::new(memory::MemoryStorage::new());
    let cache = watch_cache::WatchCache::new(backend, watch_cache::WindowLimits::events(3))
        .await
        .unwrap();
    let first = cache.create("/k/0", obj("0", "0")).await.unwrap();
    for i in 1..3 {
        cache
            .create(&format!("/k/{i}"), obj("x", "x"))
            .await
            .unwrap();
    }
    let mut w = cache
        .watch("/k/", rv(&first))
        .await
        .expect("within the window");
    assert_eq!(next_event(&mut w).await.key, "/k/1");
    assert_eq!(next_event(&mut w).await.key, "/k/2");
    for i in 3..10 {
        cache
            .create(&format!("/k/{i}"), obj("x", "x"))
            .await
            .unwrap();
    }
    let err = cache.watch("/k/", rv(&first)).await.err().expect("expired");
    assert!(matches!(err, StorageError::Expired { .. }), "{err:?}");
    // A revision the cache has never reached (e.g. from before a restart of
    // a memory backend) also expires, so the client relists.
    let current = cache.current_revision().await.unwrap();
    let err = cache
        .watch("/k/", current + 100)
        .await
        .err()
        .expect("too new");
    assert!(matches!(err, StorageError::Expired { .. }), "{err:?}");
    assert!(cache.watch("/k/", current).await.is_ok());
}

/// Data and revisions survive closing and reopening the redb file.
#[tokio::test]
async fn redb_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flotilla.redb");
    let last = {
        let s = redb_store::RedbStorage::open(&path).unwrap();
        s.create("/k/a", obj("a", "1")).await.unwrap();
        let b = s.create("/k/b", obj("b", "1")).await.unwrap();
        s.delete("/k/a", None).await.unwrap();
        rv(&b) + 1
    };
    // The writer thread exits once the storage is dropped; the file lock is
    // released when the last handle goes, so retry the open briefly.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let s = loop {
        match redb_store::RedbStorage::open(&path) {
            Ok(s) => break s,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("reopen: {e}"),
        }
    };
    assert_eq!(s.current_revision().await.unwrap(), last);
    assert!(s.get("/k/a").await.unwrap().is_none());
    assert_eq!(s.get("/k/b").await.unwrap().unwrap()["data"]["k"], "1");
    let c = s.create("/k/c", obj("c", "1")).await.unwrap();
    assert!(rv(&c) > last, "revisions continue after a restart");
}

/// The window is bounded by bytes too: big objects push old events out.
#[tokio::test]
async fn cache_window_is_bounded_by_bytes() {
    let backend: Arc<dyn Storage> = Arc::new(memory::MemoryStorage::new());
    let limits = watch_cache::WindowLimits {
        events: 1000,
        bytes: 64 * 1024,
    };
    let cache = watch_cache::WatchCache::new(backend, limits).await.unwrap();
    let big = "x".repeat(16 * 1024);
    let first = cache.create("/b/0", obj("0", &big)).await.unwrap();
    for i in 1..10 {
        cache
            .create(&format!("/b/{i}"), obj("x", &big))
            .await
            .unwrap();
    }
    let err = cache
        .watch("/b/", rv(&first))
        .await
        .err()
        .expect("pushed out by size");
    assert!(matches!(err, StorageError::Expired { .. }), "{err:?}");
    assert!(cache.oldest_revision() > rv(&first));
}

/// A watcher that stops reading while the window moves past it is ended
/// with `Expired` (its client relists) instead of holding events.
#[tokio::test]
async fn slow_watcher_expires_when_the_window_moves_on() {
    let backend: Arc<dyn Storage> = Arc::new(memory::MemoryStorage::new());
    let cache = watch_cache::WatchCache::new(backend, watch_cache::WindowLimits::events(5))
        .await
        .unwrap();
    let start = cache.current_revision().await.unwrap();
    let mut w = cache.watch("/s/", start).await.unwrap();
    for i in 0..20 {
        cache
            .create(&format!("/s/{i}"), obj("x", "x"))
            .await
            .unwrap();
    }
    let item = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .expect("an answer")
        .expect("one item");
    assert!(
        matches!(item, Err(StorageError::Expired { .. })),
        "{item:?}"
    );
    assert!(w.next().await.is_none(), "the stream ends after Expired");
}

/// Objects too deep to read back are refused by every backend.
#[tokio::test]
async fn too_deep_objects_are_refused() {
    let mut deep = json!("leaf");
    for _ in 0..(MAX_DEPTH + 1) {
        deep = json!({ "a": deep });
    }
    let backends: Vec<Arc<dyn Storage>> = vec![memory().await.0, redb().await.0];
    for s in backends {
        let err = s.create("/d/x", deep.clone()).await.unwrap_err();
        assert_eq!(err, StorageError::TooDeep);
        assert!(s.get("/d/x").await.unwrap().is_none());
    }
}
