//! Consistency under concurrency: bookmarks never overtake events, paged
//! lists can be followed by a watch without missing changes, terminating
//! namespaces are not removed early, and too-new resourceVersions relist.

use std::time::Duration;

use bytes::Bytes;
use flotilla_e2e::{ApiServer, Https};
use serde_json::{json, Value};

fn run<F: std::future::Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn create(h: &Https, ns: &str, name: &str) -> u16 {
    let body = Bytes::from(serde_json::to_vec(&cm(name)).unwrap());
    let response = h
        .send(
            "POST",
            &format!("/api/v1/namespaces/{ns}/configmaps"),
            Some("application/json"),
            body,
        )
        .await
        .unwrap();
    response.status().as_u16()
}

/// A BOOKMARK promises "everything up to here was sent": no later event may
/// carry a lower resourceVersion, even when bursts of writes are queued
/// behind the watcher at the moment the bookmark is due.
///
/// This checks the property over real HTTP. Over a socket the old bug
/// (tokio's coop budget cutting the drain short) did not show reliably; the
/// deterministic reproducer is `rest::watch::tests::bookmarks_never_overtake_a_backlog`.
/// The pause below sets up the precondition (ticks due while a backlog
/// waits); it does not wait for an outcome.
#[test]
fn bookmarks_never_overtake_events() {
    let server = ApiServer::start_with(&["--bookmark-interval-seconds", "1"]).unwrap();
    let h = server.https();
    let start = rv(&h
        .get("/api/v1/namespaces/default/configmaps")
        .unwrap()
        .json());
    run(async {
        let (status, mut lines) = h
            .watch(&format!(
                "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion={start}"
            ))
            .await
            .unwrap();
        assert_eq!(status, 200);
        const WRITES: usize = 1200;
        let writers: Vec<_> = (0..24)
            .map(|w| {
                let h = h.clone();
                tokio::spawn(async move {
                    for i in 0..WRITES / 24 {
                        assert_eq!(create(&h, "default", &format!("b-{w}-{i}")).await, 201);
                    }
                })
            })
            .collect();
        // A slow consumer: read nothing until every write is done, so a
        // large backlog waits behind the watcher when its bookmark is due.
        for w in writers {
            w.await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (mut added, mut bookmarks, mut last_bookmark) = (0, 0, 0u64);
        while added < WRITES {
            let event = lines
                .next(Duration::from_secs(20))
                .await
                .unwrap()
                .expect("stream open");
            let revision = rv(&event["object"]);
            match event["type"].as_str().unwrap() {
                "BOOKMARK" => {
                    bookmarks += 1;
                    last_bookmark = last_bookmark.max(revision);
                }
                "ADDED" => {
                    added += 1;
                    assert!(
                        revision > last_bookmark,
                        "event at {revision} arrived after a bookmark at {last_bookmark}"
                    );
                }
                other => panic!("unexpected {other}: {event}"),
            }
        }
        assert_eq!(added, WRITES, "every create seen once");
        assert!(bookmarks > 0, "the backlog was read with bookmarks due");
    });
}

/// Pages report the first page's resourceVersion, so a watch started from
/// it (as informers do) replays a change made while paging.
#[test]
fn paged_list_then_watch_misses_nothing() {
    let server = ApiServer::start().unwrap();
    let h = server.https();
    for i in 0..6 {
        assert_eq!(
            h.post_json(
                "/api/v1/namespaces/default/configmaps",
                &cm(&format!("p{i}"))
            )
            .unwrap()
            .status,
            201
        );
    }
    let first = h
        .get("/api/v1/namespaces/default/configmaps?limit=3")
        .unwrap()
        .json();
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    // Changed after page 1 was read: p0 will not be listed again.
    let changed = h
        .patch(
            "/api/v1/namespaces/default/configmaps/p0",
            "application/merge-patch+json",
            &json!({"data": {"k": "changed"}}),
        )
        .unwrap();
    assert_eq!(changed.status, 200);
    let second = h
        .get(&format!(
            "/api/v1/namespaces/default/configmaps?limit=3&continue={token}"
        ))
        .unwrap()
        .json();
    assert_eq!(
        second["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
    let from = second["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    run(async {
        let (_, mut lines) = h
            .watch(&format!(
                "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={from}"
            ))
            .await
            .unwrap();
        let event = lines.next(Duration::from_secs(10)).await.unwrap().unwrap();
        assert_eq!(event["type"], "MODIFIED");
        assert_eq!(event["object"]["metadata"]["name"], "p0");
        assert_eq!(event["object"]["data"]["k"], "changed");
    });
}

/// Labelling a terminating namespace must not remove it while it still
/// holds content; new finalizers on a terminating object are refused.
#[test]
fn terminating_namespace_survives_writes_until_empty() {
    let server = ApiServer::start().unwrap();
    let h = server.https();
    assert_eq!(
        h.post_json(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t"}})
        )
        .unwrap()
        .status,
        201
    );
    let mut held = cm("held");
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    assert_eq!(
        h.post_json("/api/v1/namespaces/t/configmaps", &held)
            .unwrap()
            .status,
        201
    );
    assert_eq!(h.delete("/api/v1/namespaces/t").unwrap().status, 200);
    let merge = "application/merge-patch+json";
    let labelled = h
        .patch(
            "/api/v1/namespaces/t",
            merge,
            &json!({"metadata": {"labels": {"x": "y"}}}),
        )
        .unwrap();
    assert_eq!(labelled.status, 200, "{}", labelled.text());
    let ns = h.get("/api/v1/namespaces/t").unwrap();
    assert_eq!(ns.status, 200, "still there: its content is not gone");
    assert_eq!(ns.json()["status"]["phase"], "Terminating");
    // The held object is marked; it may not gain finalizers now.
    let more = h
        .patch(
            "/api/v1/namespaces/t/configmaps/held",
            merge,
            &json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}),
        )
        .unwrap();
    assert_eq!(more.status, 422, "{}", more.text());
    // Releasing the last finalizer lets the namespace go.
    let released = h
        .patch(
            "/api/v1/namespaces/t/configmaps/held",
            merge,
            &json!({"metadata": {"finalizers": null}}),
        )
        .unwrap();
    assert_eq!(released.status, 200, "{}", released.text());
    flotilla_e2e::wait_for(Duration::from_secs(10), "namespace t to go", || {
        (h.get("/api/v1/namespaces/t").unwrap().status == 404).then_some(())
    })
    .unwrap();
}

/// A resourceVersion the server never issued (e.g. from before a restart of
/// an in-memory server) expires, so the client relists.
#[test]
fn too_new_resource_version_expires() {
    let server = ApiServer::start_with(&["--storage", "memory"]).unwrap();
    let h = server.https();
    run(async {
        let (status, mut lines) = h
            .watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=999999")
            .await
            .unwrap();
        assert_eq!(status, 200);
        let event = lines.next(Duration::from_secs(10)).await.unwrap().unwrap();
        assert_eq!(event["type"], "ERROR");
        assert_eq!(event["object"]["code"], 410);
        assert_eq!(event["object"]["reason"], "Expired");
    });
}
