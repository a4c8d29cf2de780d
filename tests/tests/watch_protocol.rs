//! The watch wire protocol, read raw: HTTP 200, chunked, one JSON event per
//! line (`{"type":..,"object":..}`), initial state, resuming from a
//! resourceVersion, selector transitions, timeouts, streaming lists,
//! bookmarks and expired resourceVersions.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flotilla_e2e::{ApiServer, Https};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Value};

const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs an async test body on a fresh runtime (clients are created outside it).
fn run<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// An open watch: status, headers and a strict line reader.
struct Watch {
    path: String,
    status: u16,
    headers: http::HeaderMap,
    body: Incoming,
    buffer: Vec<u8>,
}

impl Watch {
    async fn open(h: &Https, path: &str) -> Watch {
        let response = h
            .send("GET", path, None, Bytes::new())
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e:#}"));
        Watch {
            path: path.to_string(),
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.into_body(),
            buffer: Vec::new(),
        }
    }

    /// Opens a watch that must be accepted as a proper watch stream.
    async fn ok(h: &Https, path: &str) -> Watch {
        let w = Watch::open(h, path).await;
        assert_eq!(w.status, 200, "{path}");
        let header = |n: &str| {
            w.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert!(
            header("content-type").starts_with("application/json"),
            "{path}: content-type {:?}",
            header("content-type")
        );
        assert_eq!(
            header("transfer-encoding"),
            "chunked",
            "{path}: a watch is a chunked stream"
        );
        assert!(
            header("content-length").is_empty(),
            "{path}: a watch has no length"
        );
        w
    }

    /// The next event; `None` when the stream ended cleanly. Panics on a
    /// malformed line or if nothing arrives within `timeout`.
    async fn next_within(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]).to_string();
                let event: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: line is not JSON ({e}): {text}", self.path));
                check_event(&event, &self.path);
                return Some(event);
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{}: no event within {timeout:?} (buffered: {:?})",
                        self.path,
                        String::from_utf8_lossy(&self.buffer)
                    )
                });
            match frame {
                None => {
                    assert!(
                        self.buffer.is_empty(),
                        "{}: stream ended mid-line: {:?}",
                        self.path,
                        String::from_utf8_lossy(&self.buffer)
                    );
                    return None;
                }
                Some(frame) => {
                    let frame =
                        frame.unwrap_or_else(|e| panic!("{}: stream error: {e}", self.path));
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    async fn next(&mut self) -> Value {
        match self.next_within(EVENT_TIMEOUT).await {
            Some(e) => e,
            None => panic!("{}: the stream ended early", self.path),
        }
    }

    /// The next event that is not a BOOKMARK.
    async fn next_change(&mut self) -> Value {
        loop {
            let e = self.next().await;
            if e["type"] != "BOOKMARK" {
                return e;
            }
        }
    }

    /// Asserts the next change is `kind` of `name` and returns it.
    async fn expect(&mut self, kind: &str, name: &str) -> Value {
        let e = self.next_change().await;
        assert_eq!(
            (
                e["type"].as_str().unwrap(),
                e["object"]["metadata"]["name"].as_str().unwrap_or("")
            ),
            (kind, name),
            "{}: unexpected event {e}",
            self.path
        );
        e
    }

    /// Reads until the stream ends (within `timeout`); returns what came.
    async fn until_end(&mut self, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{}: the stream did not end", self.path);
            match self.next_within(left).await {
                Some(e) => events.push(e),
                None => return events,
            }
        }
    }
}

/// Every event line: exactly `type` and `object`; changes carry a resourceVersion.
fn check_event(event: &Value, path: &str) {
    let map = event
        .as_object()
        .unwrap_or_else(|| panic!("{path}: event is not an object: {event}"));
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["object", "type"], "{path}: {event}");
    let kind = event["type"].as_str().unwrap_or("");
    assert!(
        ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"].contains(&kind),
        "{path}: event type {kind:?}"
    );
    assert!(event["object"].is_object(), "{path}: {event}");
    if kind != "ERROR" {
        let rv = event["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: object without resourceVersion: {event}"));
        assert!(rv.parse::<u64>().is_ok(), "{path}: resourceVersion {rv:?}");
    }
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no resourceVersion: {v}"))
}

fn event_rv(e: &Value) -> u64 {
    rv(&e["object"])
}

/// An async request with a JSON body; returns status and JSON answer.
async fn call(h: &Https, method: &str, path: &str, ct: &str, body: Option<Value>) -> (u16, Value) {
    let bytes = body
        .map(|b| Bytes::from(serde_json::to_vec(&b).unwrap()))
        .unwrap_or_default();
    let response = h
        .send(method, path, Some(ct), bytes)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"));
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, value)
}

async fn create(h: &Https, ns: &str, name: &str, labels: Value) -> Value {
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": name, "labels": labels}, "data": {"v": "0"}});
    let (status, v) = call(h, "POST", &cms(ns), "application/json", Some(body)).await;
    assert_eq!(status, 201, "create {ns}/{name}: {v}");
    v
}

async fn patch(h: &Https, ns: &str, name: &str, patch: Value) -> Value {
    let path = format!("{}/{name}", cms(ns));
    let (status, v) = call(
        h,
        "PATCH",
        &path,
        "application/merge-patch+json",
        Some(patch),
    )
    .await;
    assert_eq!(status, 200, "patch {path}: {v}");
    v
}

async fn delete(h: &Https, ns: &str, name: &str) -> Value {
    let path = format!("{}/{name}", cms(ns));
    let (status, v) = call(h, "DELETE", &path, "application/json", None).await;
    assert_eq!(status, 200, "delete {path}: {v}");
    v
}

async fn store_rv(h: &Https) -> u64 {
    let (status, v) = call(h, "GET", "/api/v1/namespaces", "application/json", None).await;
    assert_eq!(status, 200);
    rv(&v)
}

fn cms(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/configmaps")
}

fn setup(args: &[&str]) -> (ApiServer, Https) {
    let server = ApiServer::start_with(args).expect("server starts");
    let h = server.https();
    let r = h
        .post_json(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "w"}}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    (server, h)
}

#[test]
fn current_state_first_then_changes() {
    let (_server, h) = setup(&[]);
    run(async {
        create(&h, "w", "a", json!({})).await;
        create(&h, "w", "b", json!({})).await;
        create(&h, "default", "elsewhere", json!({})).await;
        let list_rv = store_rv(&h).await;
        // kubectl get -w on a name sends resourceVersion=0; kube-rs sends none.
        let mut unset = Watch::ok(&h, &format!("{}?watch=true", cms("w"))).await;
        let mut zero = Watch::ok(&h, &format!("{}?watch=1&resourceVersion=0", cms("w"))).await;
        let mut cluster = Watch::ok(&h, "/api/v1/configmaps?watch=true&resourceVersion=0").await;
        for w in [&mut unset, &mut zero] {
            w.expect("ADDED", "a").await;
            w.expect("ADDED", "b").await;
        }
        let mut initial = Vec::new();
        for _ in 0..3 {
            let e = cluster.next().await;
            assert_eq!(e["type"], "ADDED", "{e}");
            assert!(event_rv(&e) <= list_rv);
            initial.push(
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        initial.sort();
        assert_eq!(initial, ["a", "b", "elsewhere"]);

        let c = create(&h, "w", "c", json!({})).await;
        let c2 = patch(&h, "w", "c", json!({"data": {"v": "1"}})).await;
        let gone = delete(&h, "w", "c").await;
        for w in [&mut unset, &mut zero, &mut cluster] {
            let added = w.expect("ADDED", "c").await;
            assert_eq!(added["object"], c, "the event carries the stored object");
            let modified = w.expect("MODIFIED", "c").await;
            assert_eq!(modified["object"], c2);
            assert_eq!(modified["object"]["data"]["v"], "1");
            let deleted = w.expect("DELETED", "c").await;
            assert_eq!(deleted["object"]["metadata"]["uid"], c["metadata"]["uid"]);
            assert!(event_rv(&added) > list_rv);
            assert!(event_rv(&modified) > event_rv(&added));
            assert!(event_rv(&deleted) > event_rv(&modified));
            assert_eq!(
                event_rv(&deleted),
                rv(&gone),
                "DELETED carries the deletion's resourceVersion"
            );
        }
        // The namespaced watches do not see other namespaces; the cluster one does.
        create(&h, "default", "other-ns", json!({})).await;
        create(&h, "w", "sentinel", json!({})).await;
        cluster.expect("ADDED", "other-ns").await;
        cluster.expect("ADDED", "sentinel").await;
        unset.expect("ADDED", "sentinel").await;
        zero.expect("ADDED", "sentinel").await;
        // Other resource types never show up in a configmap watch.
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
        let (status, _) = call(
            &h,
            "POST",
            "/api/v1/namespaces/w/secrets",
            "application/json",
            Some(secret),
        )
        .await;
        assert_eq!(status, 201);
        create(&h, "w", "sentinel-2", json!({})).await;
        unset.expect("ADDED", "sentinel-2").await;
        cluster.expect("ADDED", "sentinel-2").await;
    });
}

#[test]
fn resuming_from_a_resource_version_sends_later_changes_in_order() {
    let (_server, h) = setup(&[]);
    run(async {
        create(&h, "w", "before", json!({})).await;
        let start = store_rv(&h).await;
        let x = create(&h, "w", "x", json!({})).await;
        let x2 = patch(&h, "w", "x", json!({"data": {"v": "2"}})).await;
        let y = create(&h, "w", "y", json!({})).await;
        let x3 = delete(&h, "w", "x").await;
        let y2 = patch(&h, "w", "y", json!({"metadata": {"labels": {"k": "v"}}})).await;
        let expected = [
            ("ADDED", "x", rv(&x)),
            ("MODIFIED", "x", rv(&x2)),
            ("ADDED", "y", rv(&y)),
            ("DELETED", "x", rv(&x3)),
            ("MODIFIED", "y", rv(&y2)),
        ];
        let mut watches = Vec::new();
        for (from, skip) in [(start, 0), (rv(&x2), 2)] {
            let path = format!("{}?watch=true&resourceVersion={from}", cms("w"));
            watches.push((Watch::ok(&h, &path).await, from, skip));
        }
        // A change made after the watches opened comes after the replay.
        let z = create(&h, "w", "z", json!({})).await;
        for (w, from, skip) in &mut watches {
            for (kind, name, want_rv) in &expected[*skip..] {
                let e = w.expect(kind, name).await;
                assert_eq!(event_rv(&e), *want_rv, "{}: {e}", w.path);
                assert!(event_rv(&e) > *from);
            }
            // Nothing else was pending: "before" is not replayed.
            let e = w.expect("ADDED", "z").await;
            assert_eq!(event_rv(&e), rv(&z));
        }
        // Watching from the current revision sends nothing old.
        let now = store_rv(&h).await;
        let mut w = Watch::ok(
            &h,
            &format!("{}?watch=true&resourceVersion={now}", cms("w")),
        )
        .await;
        create(&h, "w", "fresh", json!({})).await;
        w.expect("ADDED", "fresh").await;
        // A resourceVersion that is not a number is a 400 Status, not a stream.
        let bad = Watch::open(&h, &format!("{}?watch=true&resourceVersion=abc", cms("w"))).await;
        assert_eq!(bad.status, 400);
    });
}

#[test]
fn label_selector_watch_follows_objects_in_and_out() {
    let (_server, h) = setup(&[]);
    run(async {
        create(&h, "w", "pre-web", json!({"app": "web"})).await;
        create(&h, "w", "pre-db", json!({"app": "db"})).await;
        let start = store_rv(&h).await;
        let mut eq = Watch::ok(
            &h,
            &format!(
                "{}?watch=true&labelSelector=app%3Dweb&resourceVersion={start}",
                cms("w")
            ),
        )
        .await;
        let mut set = Watch::ok(
            &h,
            &format!(
                "{}?watch=true&labelSelector=app%20in%20(web%2Capi)&resourceVersion={start}",
                cms("w")
            ),
        )
        .await;
        // With initial state, only matching objects are listed.
        let mut initial = Watch::ok(
            &h,
            &format!("{}?watch=true&labelSelector=app%3Dweb", cms("w")),
        )
        .await;
        initial.expect("ADDED", "pre-web").await;

        create(&h, "w", "m", json!({"app": "web"})).await; // ADDED m
        create(&h, "w", "n", json!({"app": "db"})).await; // -
        patch(&h, "w", "m", json!({"data": {"v": "1"}})).await; // MODIFIED m
        let left = patch(&h, "w", "m", json!({"metadata": {"labels": {"app": "db"}}})).await; // DELETED m
        patch(&h, "w", "m", json!({"data": {"v": "2"}})).await; // -
        patch(
            &h,
            "w",
            "n",
            json!({"metadata": {"labels": {"app": "web"}}}),
        )
        .await; // ADDED n
        delete(&h, "w", "pre-db").await; // -
        delete(&h, "w", "n").await; // DELETED n
        create(&h, "w", "s", json!({"app": "web"})).await; // ADDED s
        for w in [&mut eq, &mut set, &mut initial] {
            w.expect("ADDED", "m").await;
            w.expect("MODIFIED", "m").await;
            let e = w.expect("DELETED", "m").await;
            assert_eq!(event_rv(&e), rv(&left), "it left with that write");
            w.expect("ADDED", "n").await;
            w.expect("DELETED", "n").await;
            w.expect("ADDED", "s").await;
        }
        // `api` matches only the set-based watch.
        create(&h, "w", "api", json!({"app": "api"})).await;
        create(&h, "w", "s2", json!({"app": "web"})).await;
        set.expect("ADDED", "api").await;
        set.expect("ADDED", "s2").await;
        eq.expect("ADDED", "s2").await;
    });
}

#[test]
fn field_selector_watch_on_a_name() {
    let (_server, h) = setup(&[]);
    run(async {
        create(&h, "w", "target", json!({})).await;
        create(&h, "w", "other", json!({})).await;
        // kubectl get NAME -w.
        let mut by_field = Watch::ok(
            &h,
            &format!(
                "{}?watch=true&fieldSelector=metadata.name%3Dtarget&resourceVersion=0",
                cms("w")
            ),
        )
        .await;
        // The legacy form: GET .../NAME?watch=true.
        let mut by_path = Watch::ok(&h, &format!("{}/target?watch=true", cms("w"))).await;
        // metadata.name!=target sees the others.
        let mut negated = Watch::ok(
            &h,
            &format!(
                "{}?watch=true&fieldSelector=metadata.name!%3Dtarget",
                cms("w")
            ),
        )
        .await;
        for w in [&mut by_field, &mut by_path] {
            w.expect("ADDED", "target").await;
        }
        negated.expect("ADDED", "other").await;

        patch(&h, "w", "other", json!({"data": {"v": "1"}})).await;
        patch(&h, "w", "target", json!({"data": {"v": "1"}})).await;
        delete(&h, "w", "other").await;
        delete(&h, "w", "target").await;
        create(&h, "w", "target", json!({})).await;
        for w in [&mut by_field, &mut by_path] {
            w.expect("MODIFIED", "target").await;
            w.expect("DELETED", "target").await;
            w.expect("ADDED", "target").await;
        }
        negated.expect("MODIFIED", "other").await;
        negated.expect("DELETED", "other").await;
        create(&h, "w", "third", json!({})).await;
        negated.expect("ADDED", "third").await;
    });
}

#[test]
fn timeout_seconds_ends_the_stream_cleanly() {
    let (_server, h) = setup(&[]);
    run(async {
        create(&h, "w", "a", json!({})).await;
        let start = store_rv(&h).await;
        let began = Instant::now();
        let mut w = Watch::ok(
            &h,
            &format!(
                "{}?watch=true&timeoutSeconds=1&resourceVersion={start}",
                cms("w")
            ),
        )
        .await;
        let events = w.until_end(Duration::from_secs(15)).await;
        let took = began.elapsed();
        assert!(events.is_empty(), "{events:?}");
        assert!(took >= Duration::from_millis(900), "ended after {took:?}");
        assert!(took < Duration::from_secs(10), "ended after {took:?}");

        // With the initial state and a change in between.
        let began = Instant::now();
        let mut w = Watch::ok(&h, &format!("{}?watch=true&timeoutSeconds=2", cms("w"))).await;
        w.expect("ADDED", "a").await;
        create(&h, "w", "b", json!({})).await;
        let rest = w.until_end(Duration::from_secs(15)).await;
        let names: Vec<&str> = rest
            .iter()
            .map(|e| e["object"]["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["b"], "{rest:?}");
        assert!(began.elapsed() >= Duration::from_millis(1900));
        // A bad timeout is a 400.
        let bad = Watch::open(&h, &format!("{}?watch=true&timeoutSeconds=soon", cms("w"))).await;
        assert_eq!(bad.status, 400);
    });
}

#[test]
fn streaming_list_ends_initial_events_with_a_bookmark() {
    let (_server, h) = setup(&[]);
    run(async {
        let mut max_rv = 0;
        for (name, app) in [("one", "web"), ("two", "db"), ("three", "web")] {
            max_rv = max_rv.max(rv(&create(&h, "w", name, json!({"app": app})).await));
        }
        for (query, want) in [
            ("&labelSelector=app%3Dweb", vec!["one", "three"]),
            ("", vec!["after-1", "one", "three", "two"]),
        ] {
            let path = format!(
                "{}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true{query}",
                cms("w")
            );
            let mut w = Watch::ok(&h, &path).await;
            let mut names = Vec::new();
            let bookmark = loop {
                let e = w.next().await;
                match e["type"].as_str().unwrap() {
                    "ADDED" => names.push(
                        e["object"]["metadata"]["name"]
                            .as_str()
                            .unwrap()
                            .to_string(),
                    ),
                    "BOOKMARK" => break e,
                    other => panic!("{path}: unexpected {other} before the bookmark: {e}"),
                }
            };
            names.sort();
            assert_eq!(names, want, "{path}");
            let object = &bookmark["object"];
            assert_eq!(object["kind"], "ConfigMap", "{bookmark}");
            assert_eq!(object["apiVersion"], "v1", "{bookmark}");
            assert_eq!(
                object["metadata"]["annotations"]["k8s.io/initial-events-end"], "true",
                "{bookmark}"
            );
            assert!(
                rv(object) >= max_rv,
                "the bookmark covers the initial state: {bookmark}"
            );
            // Then changes, after the bookmark's revision.
            let name = format!("after-{}", want.len() - 1);
            create(&h, "w", &name, json!({"app": "web"})).await;
            let e = w.expect("ADDED", &name).await;
            assert!(event_rv(&e) > rv(object));
        }
    });
}

#[test]
fn periodic_bookmarks_when_allowed() {
    let (_server, h) = setup(&["--bookmark-interval-seconds", "1"]);
    run(async {
        let start = store_rv(&h).await;
        let path = format!(
            "{}?watch=true&allowWatchBookmarks=true&resourceVersion={start}",
            cms("w")
        );
        let mut w = Watch::ok(&h, &path).await;
        let deploys = format!(
            "/apis/apps/v1/namespaces/w/deployments?watch=true&allowWatchBookmarks=true&resourceVersion={start}"
        );
        let mut d = Watch::ok(&h, &deploys).await;
        let first = w.next_within(Duration::from_secs(5)).await.expect("open");
        assert_eq!(first["type"], "BOOKMARK", "{first}");
        let object = &first["object"];
        assert_eq!(object["kind"], "ConfigMap", "{first}");
        assert_eq!(object["apiVersion"], "v1", "{first}");
        assert!(rv(object) >= start, "{first}");
        let db = d.next_within(Duration::from_secs(5)).await.expect("open");
        assert_eq!(db["type"], "BOOKMARK", "{db}");
        assert_eq!(db["object"]["kind"], "Deployment", "{db}");
        assert_eq!(db["object"]["apiVersion"], "apps/v1", "{db}");

        // A change, then a bookmark at or after it.
        let made = create(&h, "w", "b1", json!({})).await;
        w.expect("ADDED", "b1").await;
        let later = w.next().await;
        assert_eq!(later["type"], "BOOKMARK", "only bookmarks follow: {later}");
        assert!(rv(&later["object"]) >= rv(&made), "{later}");
        // A bookmark's resourceVersion is safe to resume from.
        let resume = rv(&later["object"]);
        let mut resumed = Watch::ok(
            &h,
            &format!("{}?watch=true&resourceVersion={resume}", cms("w")),
        )
        .await;
        create(&h, "w", "b2", json!({})).await;
        resumed.expect("ADDED", "b2").await;

        // Without allowWatchBookmarks: no BOOKMARK events at all.
        let mut plain = Watch::ok(
            &h,
            &format!(
                "{}?watch=true&timeoutSeconds=3&resourceVersion={resume}",
                cms("w")
            ),
        )
        .await;
        let events = plain.until_end(Duration::from_secs(15)).await;
        assert!(events.iter().all(|e| e["type"] != "BOOKMARK"), "{events:?}");
        let names: Vec<&str> = events
            .iter()
            .map(|e| e["object"]["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["b2"]);
    });
}

#[test]
fn expired_resource_version_is_an_error_event() {
    let (_server, h) = setup(&["--watch-cache-events", "5"]);
    run(async {
        let first = create(&h, "w", "first", json!({})).await;
        for i in 0..8 {
            patch(&h, "w", "first", json!({"data": {"v": i.to_string()}})).await;
        }
        let path = format!("{}?watch=true&resourceVersion={}", cms("w"), rv(&first));
        let mut w = Watch::ok(&h, &path).await;
        let e = w.next().await;
        assert_eq!(e["type"], "ERROR", "{e}");
        let status = &e["object"];
        assert_eq!(status["kind"], "Status", "{e}");
        assert_eq!(status["apiVersion"], "v1", "{e}");
        assert_eq!(status["status"], "Failure", "{e}");
        assert_eq!(status["code"], 410, "{e}");
        assert_eq!(status["reason"], "Expired", "{e}");
        assert!(!status["message"].as_str().unwrap_or("").is_empty());
        // The stream then ends.
        let rest = w.until_end(Duration::from_secs(10)).await;
        assert!(rest.is_empty(), "{rest:?}");

        // Recent revisions still resume.
        let now = store_rv(&h).await;
        let recent = now - 2;
        let mut w = Watch::ok(
            &h,
            &format!("{}?watch=true&resourceVersion={recent}", cms("w")),
        )
        .await;
        let e = w.next().await;
        assert_eq!(e["type"], "MODIFIED", "{e}");
        assert!(event_rv(&e) > recent, "{e}");
        // Relisting (resourceVersion=0) works as the client's recovery.
        let mut w = Watch::ok(&h, &format!("{}?watch=true&resourceVersion=0", cms("w"))).await;
        let e = w.expect("ADDED", "first").await;
        assert_eq!(e["object"]["data"]["v"], "7");
    });
}
