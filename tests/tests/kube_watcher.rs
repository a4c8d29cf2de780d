//! The real kube-rs runtime (`watcher`, `reflector`) against the real server,
//! and the raw watch protocol it depends on: ordered events, converging
//! stores, streaming lists, 410 Expired as an ERROR event (and kube-rs
//! relisting after it, across a server restart), and bookmarks.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use flotilla_e2e::{free_port, ApiServer};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, watcher, Event};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Fails the test instead of hanging when `f` takes longer than `secs`.
async fn within<T>(secs: u64, what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs}s: {what}"))
}

async fn create_namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

fn configmap(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": value}}))
        .expect("configmap")
}

fn rv(cm: &ConfigMap) -> u64 {
    cm.resource_version()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric resourceVersion on {}", cm.name_any()))
}

fn merge(value: &str) -> Patch<Value> {
    Patch::Merge(json!({"data": {"v": value}}))
}

/// A watcher event in short, comparable form: `(what, name, resourceVersion, data.v)`.
type Seen = (&'static str, String, u64, String);

fn summary(event: &Event<ConfigMap>) -> Option<Seen> {
    let (what, cm) = match event {
        Event::Apply(cm) => ("Apply", cm),
        Event::Delete(cm) => ("Delete", cm),
        Event::InitApply(cm) => ("InitApply", cm),
        Event::Init | Event::InitDone => return None,
    };
    let value = cm
        .data
        .as_ref()
        .and_then(|d| d.get("v"))
        .cloned()
        .unwrap_or_default();
    Some((what, cm.name_any(), rv(cm), value))
}

/// The next event of a watcher stream (errors fail the test), within 10 s.
async fn next_event<S>(stream: &mut S) -> Event<ConfigMap>
where
    S: Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Unpin,
{
    within(10, "the next watcher event", stream.next())
        .await
        .expect("the watcher stream ended")
        .expect("a watcher error")
}

/// Consumes the initial list (`Init`, `InitApply`*, `InitDone`); returns the names listed.
async fn initial_names<S>(stream: &mut S) -> BTreeSet<String>
where
    S: Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Unpin,
{
    let first = next_event(stream).await;
    assert!(matches!(first, Event::Init), "expected Init, got {first:?}");
    let mut names = BTreeSet::new();
    loop {
        match next_event(stream).await {
            Event::InitApply(cm) => {
                names.insert(cm.name_any());
            }
            Event::InitDone => return names,
            other => panic!("unexpected event during the initial list: {other:?}"),
        }
    }
}

/// The server's objects as `name → (resourceVersion, data.v)`.
async fn server_state(api: &Api<ConfigMap>) -> BTreeMap<String, (u64, String)> {
    api.list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|cm| (cm.name_any(), state_of(cm)))
        .collect()
}

fn state_of(cm: &ConfigMap) -> (u64, String) {
    let v = cm
        .data
        .as_ref()
        .and_then(|d| d.get("v"))
        .cloned()
        .unwrap_or_default();
    (rv(cm), v)
}

fn store_state(store: &Store<ConfigMap>) -> BTreeMap<String, (u64, String)> {
    store
        .state()
        .iter()
        .map(|cm| (cm.name_any(), state_of(cm)))
        .collect()
}

/// Polls until the store holds exactly what the server lists.
async fn converges(store: &Store<ConfigMap>, api: &Api<ConfigMap>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let want = server_state(api).await;
        let have = store_state(store);
        if have == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reflector store did not converge:\n store:  {have:?}\n server: {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn watcher_sees_every_change_in_order() {
    let server = ApiServer::start().expect("server starts");
    runtime().block_on(async {
        let client = server.kube_client().await.expect("client");
        create_namespace(&client, "w").await;
        create_namespace(&client, "noise").await;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "w");
        let noise: Api<ConfigMap> = Api::namespaced(client.clone(), "noise");
        api.create(&PostParams::default(), &configmap("before", "0"))
            .await
            .expect("create");

        let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
        assert_eq!(
            initial_names(&mut stream).await,
            BTreeSet::from(["before".to_string()])
        );

        // Every kind of change, interleaved with changes in another namespace.
        let pp = PostParams::default();
        let mut expected: Vec<Seen> = Vec::new();
        for i in 0..5 {
            let name = format!("cm-{i}");
            let cm = api
                .create(&pp, &configmap(&name, "new"))
                .await
                .expect("create");
            expected.push(("Apply", name.clone(), rv(&cm), "new".into()));
            noise
                .create(&pp, &configmap(&name, "x"))
                .await
                .expect("noise");
        }
        for i in 0..5 {
            let name = format!("cm-{i}");
            let value = format!("patched-{i}");
            let cm = api
                .patch(&name, &PatchParams::default(), &merge(&value))
                .await
                .expect("patch");
            expected.push(("Apply", name, rv(&cm), value));
        }
        let mut current = api.get("cm-0").await.expect("get");
        current.data = Some(BTreeMap::from([("v".to_string(), "replaced".to_string())]));
        let cm = api.replace("cm-0", &pp, &current).await.expect("replace");
        expected.push(("Apply", "cm-0".into(), rv(&cm), "replaced".into()));
        for (k, name) in ["cm-1", "cm-3", "before"].into_iter().enumerate() {
            let deleted = api
                .delete(name, &DeleteParams::default())
                .await
                .expect("delete")
                .left()
                .expect("the deleted object");
            let value = deleted
                .data
                .as_ref()
                .and_then(|d| d.get("v"))
                .cloned()
                .unwrap_or_default();
            expected.push(("Delete", name.into(), rv(&deleted), value));
            noise
                .delete(&format!("cm-{k}"), &DeleteParams::default())
                .await
                .expect("noise delete");
        }
        // A recreated name is a new object.
        let cm = api
            .create(&pp, &configmap("cm-1", "again"))
            .await
            .expect("create");
        expected.push(("Apply", "cm-1".into(), rv(&cm), "again".into()));

        let mut seen: Vec<Seen> = Vec::new();
        while seen.len() < expected.len() {
            let event = next_event(&mut stream).await;
            seen.push(summary(&event).unwrap_or_else(|| panic!("unexpected {event:?}")));
        }
        assert_eq!(seen, expected);
        let revisions: Vec<u64> = seen.iter().map(|s| s.2).collect();
        assert!(
            revisions.windows(2).all(|w| w[0] < w[1]),
            "revisions out of order: {revisions:?}"
        );
        // And nothing else: the next change is the next event.
        let cm = api
            .create(&pp, &configmap("last", "z"))
            .await
            .expect("create");
        let event = next_event(&mut stream).await;
        assert_eq!(
            summary(&event),
            Some(("Apply", "last".to_string(), rv(&cm), "z".to_string()))
        );
    });
}

#[test]
fn reflector_store_converges_under_concurrent_writes() {
    let server = ApiServer::start().expect("server starts");
    runtime().block_on(async {
        let client = server.kube_client().await.expect("client");
        create_namespace(&client, "r").await;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "r");
        for i in 0..5 {
            api.create(&PostParams::default(), &configmap(&format!("pre-{i}"), "0"))
                .await
                .expect("create");
        }

        let (store, writer) = reflector::store::<ConfigMap>();
        let driver = tokio::spawn(
            reflector::reflector(writer, watcher(api.clone(), watcher::Config::default()))
                .for_each(|event| async move {
                    if let Err(e) = event {
                        panic!("watcher error: {e}");
                    }
                }),
        );
        within(10, "the store to be ready", store.wait_until_ready())
            .await
            .expect("writer alive");
        converges(&store, &api).await;

        // Eight concurrent writers: creates, updates and deletes.
        let mut writers = Vec::new();
        for w in 0..8 {
            let api = api.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..8 {
                    let name = format!("w{w}-{i}");
                    api.create(&PostParams::default(), &configmap(&name, "1"))
                        .await
                        .expect("create");
                    if i % 2 == 0 {
                        api.patch(&name, &PatchParams::default(), &merge("2"))
                            .await
                            .expect("patch");
                    }
                    if i % 4 == 0 {
                        api.delete(&name, &DeleteParams::default())
                            .await
                            .expect("delete");
                    }
                }
                if w < 5 {
                    api.delete(&format!("pre-{w}"), &DeleteParams::default())
                        .await
                        .expect("delete");
                }
            }));
        }
        for writer in writers {
            within(30, "a writer", writer).await.expect("writer task");
        }
        converges(&store, &api).await;
        let state = store_state(&store);
        assert_eq!(state.len(), 8 * 6, "{state:?}");
        assert!(state.keys().all(|k| k.starts_with('w')));
        assert_eq!(state["w3-2"].1, "2");
        assert_eq!(state["w3-1"].1, "1");
        driver.abort();
    });
}

#[test]
fn streaming_list_watcher_and_reflector() {
    let server = ApiServer::start().expect("server starts");
    runtime().block_on(async {
        let client = server.kube_client().await.expect("client");
        create_namespace(&client, "s").await;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "s");
        let pp = PostParams::default();
        for name in ["a", "b", "c"] {
            api.create(&pp, &configmap(name, "0"))
                .await
                .expect("create");
        }
        let config = watcher::Config::default().streaming_lists();

        // The initial state arrives as InitApply events, ended by the
        // `k8s.io/initial-events-end` bookmark (InitDone).
        let mut stream = watcher(api.clone(), config.clone()).boxed();
        assert_eq!(
            initial_names(&mut stream).await,
            BTreeSet::from(["a", "b", "c"].map(String::from))
        );
        let d = api.create(&pp, &configmap("d", "1")).await.expect("create");
        let a = api
            .patch("a", &PatchParams::default(), &merge("2"))
            .await
            .expect("patch");
        let b = api
            .delete("b", &DeleteParams::default())
            .await
            .expect("delete")
            .left()
            .expect("deleted object");
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(summary(&next_event(&mut stream).await).expect("a change"));
        }
        assert_eq!(
            seen,
            [
                ("Apply", "d".to_string(), rv(&d), "1".to_string()),
                ("Apply", "a".to_string(), rv(&a), "2".to_string()),
                ("Delete", "b".to_string(), rv(&b), "0".to_string()),
            ]
        );

        // A reflector on a streaming list converges as well.
        let (store, writer) = reflector::store::<ConfigMap>();
        let driver = tokio::spawn(
            reflector::reflector(writer, watcher(api.clone(), config)).for_each(
                |event| async move {
                    if let Err(e) = event {
                        panic!("watcher error: {e}");
                    }
                },
            ),
        );
        within(10, "the store to be ready", store.wait_until_ready())
            .await
            .expect("writer alive");
        converges(&store, &api).await;
        api.create(&pp, &configmap("e", "1")).await.expect("create");
        api.delete("c", &DeleteParams::default())
            .await
            .expect("delete");
        converges(&store, &api).await;
        assert_eq!(
            store_state(&store).keys().cloned().collect::<Vec<_>>(),
            ["a", "d", "e"]
        );
        driver.abort();
    });
}

#[test]
fn expired_resource_version_is_a_410_error_event() {
    let server = ApiServer::start_with(&["--watch-cache-events", "5"]).expect("server starts");
    let https = server.https();
    let ns = https
        .post_json(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}),
        )
        .expect("create namespace");
    assert_eq!(ns.status, 201, "{}", ns.text());
    let old_rv = ns.json()["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let mut rvs = Vec::new();
    for i in 0..10 {
        let r = https
            .post_json(
                "/api/v1/namespaces/x/configmaps",
                &json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": format!("cm-{i}")}}),
            )
            .expect("create");
        assert_eq!(r.status, 201, "{}", r.text());
        rvs.push(
            r.json()["metadata"]["resourceVersion"]
                .as_str()
                .expect("rv")
                .to_string(),
        );
    }

    runtime().block_on(async {
        // Older than the window (5 events): 200, then an ERROR event holding
        // a 410 Expired Status, then the end of the stream.
        let (status, mut events) = https
            .watch(&format!(
                "/api/v1/namespaces/x/configmaps?watch=true&resourceVersion={old_rv}"
            ))
            .await
            .expect("watch");
        assert_eq!(status, 200, "an expired watch must be answered 200");
        let event = events
            .next(Duration::from_secs(10))
            .await
            .expect("an event")
            .expect("an ERROR event before the end");
        assert_eq!(event["type"], "ERROR", "{event}");
        let object = &event["object"];
        assert_eq!(object["kind"], "Status", "{event}");
        assert_eq!(object["apiVersion"], "v1", "{event}");
        assert_eq!(object["status"], "Failure", "{event}");
        assert_eq!(object["code"], 410, "{event}");
        assert_eq!(object["reason"], "Expired", "{event}");
        let end = events.next(Duration::from_secs(10)).await.expect("the end");
        assert!(end.is_none(), "more after the ERROR event: {end:?}");

        // Within the window: the missed events are replayed, in order.
        let (status, mut events) = https
            .watch(&format!(
                "/api/v1/namespaces/x/configmaps?watch=true&resourceVersion={}",
                rvs[7]
            ))
            .await
            .expect("watch");
        assert_eq!(status, 200);
        for (i, rv) in rvs.iter().enumerate().skip(8) {
            let event = events
                .next(Duration::from_secs(10))
                .await
                .expect("an event")
                .expect("open");
            assert_eq!(event["type"], "ADDED", "{event}");
            assert_eq!(event["object"]["metadata"]["name"], format!("cm-{i}"));
            assert_eq!(event["object"]["metadata"]["resourceVersion"], *rv);
        }

        // kube-rs sees the same thing as a WatchEvent::Error with code 410.
        let client = server.kube_client().await.expect("client");
        let api: Api<ConfigMap> = Api::namespaced(client, "x");
        let mut stream = api
            .watch(&Default::default(), &old_rv)
            .await
            .expect("kube-rs watch")
            .boxed();
        match within(10, "kube-rs watch event", stream.next()).await {
            Some(Ok(WatchEvent::Error(status))) => {
                assert_eq!(status.code, 410, "{status:?}");
                assert_eq!(status.reason, "Expired", "{status:?}");
            }
            other => panic!("expected a 410 ERROR event, got {other:?}"),
        }
    });
}

/// What a background kube-rs watcher reported, in short.
#[derive(Debug, Clone, PartialEq)]
enum Report {
    Init,
    InitDone,
    Object(&'static str, String),
    /// A 410 from the server, as an ERROR event.
    Expired,
    /// Any other error (the server was down, …).
    OtherError(String),
}

#[test]
fn kube_watcher_relists_after_restart_with_expired_resource_version() {
    // A fixed port, so the kube-rs client finds the server again after the
    // restart; bookmarks far apart, so the watcher's resourceVersion stays at
    // its last event and is older than the restarted cache's window.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server =
        ApiServer::start_with(&["--listen", &listen, "--bookmark-interval-seconds", "3600"])
            .expect("server starts");
    let rt = runtime();
    let (api, store, mut reports) = rt.block_on(async {
        let client = server.kube_client().await.expect("client");
        create_namespace(&client, "a").await;
        create_namespace(&client, "b").await;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "a");
        api.create(&PostParams::default(), &configmap("a1", "1"))
            .await
            .expect("create");

        let (store, writer) = reflector::store::<ConfigMap>();
        let (tx, reports) = tokio::sync::mpsc::unbounded_channel::<Report>();
        let stream = reflector::reflector(writer, watcher(api.clone(), watcher::Config::default()));
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                let (report, failed) = match item {
                    Ok(Event::Init) => (Report::Init, false),
                    Ok(Event::InitDone) => (Report::InitDone, false),
                    Ok(event) => {
                        let s = summary(&event).expect("an object event");
                        (Report::Object(s.0, s.1), false)
                    }
                    Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                        (Report::Expired, true)
                    }
                    Err(e) => (Report::OtherError(e.to_string()), true),
                };
                if tx.send(report).is_err() {
                    return;
                }
                if failed {
                    // Back off before the watcher retries.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        within(10, "the store to be ready", store.wait_until_ready())
            .await
            .expect("writer alive");
        let mut reports = reports;
        let mut before = Vec::new();
        while before.last() != Some(&Report::InitDone) {
            before.push(
                within(10, "the initial list", reports.recv())
                    .await
                    .expect("reports"),
            );
        }
        assert_eq!(
            before,
            [
                Report::Init,
                Report::Object("InitApply", "a1".into()),
                Report::InitDone
            ]
        );
        (api, store, reports)
    });
    let https = server.https();
    // Writes the watcher does not see (another namespace) move the revision on.
    for i in 0..3 {
        let r = https
            .post_json(
                "/api/v1/namespaces/b/configmaps",
                &json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": format!("b{i}")}}),
            )
            .expect("create");
        assert_eq!(r.status, 201, "{}", r.text());
    }
    assert_eq!(
        reports.try_recv().ok(),
        None,
        "the watcher saw writes in another namespace"
    );

    server.kill9();
    server
        .launch()
        .expect("restart on the same port and data dir");
    assert_eq!(server.addr, listen);

    rt.block_on(async {
        // Changes after the restart reach the store only through a relist
        // or a resumed watch; the old resourceVersion is expired, so relist.
        api.create(&PostParams::default(), &configmap("a2", "2"))
            .await
            .expect("create after restart");
        api.delete("a1", &DeleteParams::default())
            .await
            .expect("delete after restart");
        converges(&store, &api).await;
        assert_eq!(
            store_state(&store).keys().cloned().collect::<Vec<_>>(),
            ["a2"]
        );
        // The recovery went through a 410 and a fresh Init … InitDone.
        let mut after = Vec::new();
        while let Ok(r) = reports.try_recv() {
            after.push(r);
        }
        eprintln!("kube-rs watcher after the restart: {after:?}");
        let expired = after
            .iter()
            .position(|r| *r == Report::Expired)
            .unwrap_or_else(|| panic!("no 410 after the restart: {after:?}"));
        let relist = &after[expired + 1..];
        assert_eq!(relist.first(), Some(&Report::Init), "{after:?}");
        assert!(relist.contains(&Report::InitDone), "{after:?}");
        assert!(
            after[..expired]
                .iter()
                .all(|r| matches!(r, Report::OtherError(_))),
            "only connection errors before the 410: {after:?}"
        );
        // The watcher keeps working after the relist.
        api.create(&PostParams::default(), &configmap("a3", "3"))
            .await
            .expect("create");
        converges(&store, &api).await;
        assert_eq!(
            store_state(&store).keys().cloned().collect::<Vec<_>>(),
            ["a2", "a3"]
        );
    });
}

#[test]
fn bookmarks_carry_kind_and_resource_version() {
    let server =
        ApiServer::start_with(&["--bookmark-interval-seconds", "1"]).expect("server starts");
    let https = server.https();
    let create = |ns: &str, name: &str| -> u64 {
        let r = https
            .post_json(
                &format!("/api/v1/namespaces/{ns}/configmaps"),
                &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
            )
            .expect("create");
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("rv")
    };
    let start_rv = create("default", "first");
    let rt = runtime();
    let (mut with, mut without) = rt.block_on(async {
        let path =
            format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={start_rv}");
        let (status, with) = https
            .watch(&format!("{path}&allowWatchBookmarks=true"))
            .await
            .expect("watch");
        assert_eq!(status, 200);
        let (status, without) = https.watch(&path).await.expect("watch");
        assert_eq!(status, 200);
        (with, without)
    });
    let bookmark_rv = |event: &Value| -> u64 {
        assert_eq!(event["type"], "BOOKMARK", "{event}");
        let object = &event["object"];
        assert_eq!(object["apiVersion"], "v1", "{event}");
        assert_eq!(object["kind"], "ConfigMap", "{event}");
        object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no resourceVersion in {event}"))
    };
    let first = rt.block_on(async {
        let event = with
            .next(Duration::from_secs(5))
            .await
            .expect("a bookmark within the interval")
            .expect("open");
        bookmark_rv(&event)
    });
    assert!(
        first >= start_rv,
        "bookmark {first} is older than {start_rv}"
    );
    // A write the watch does not select: the next bookmark moves past it.
    let elsewhere = create("kube-public", "elsewhere");
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let event = with
                .next(Duration::from_secs(5))
                .await
                .expect("bookmarks keep coming")
                .expect("open");
            if bookmark_rv(&event) >= elsewhere {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no bookmark reached {elsewhere}"
            );
        }
    });
    // The watch that did not ask for bookmarks got none: its next event is
    // the next change.
    let last = create("default", "second");
    rt.block_on(async {
        let event = without
            .next(Duration::from_secs(5))
            .await
            .expect("an event")
            .expect("open");
        assert_eq!(event["type"], "ADDED", "{event}");
        assert_eq!(event["object"]["metadata"]["name"], "second");
        assert_eq!(
            event["object"]["metadata"]["resourceVersion"],
            last.to_string()
        );

        // kube-rs parses the bookmarks (they need apiVersion, kind and
        // metadata.resourceVersion).
        let client = server.kube_client().await.expect("client");
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let mut stream = api
            .watch(&Default::default(), &last.to_string())
            .await
            .expect("kube-rs watch")
            .boxed();
        match within(5, "a kube-rs bookmark", stream.next()).await {
            Some(Ok(WatchEvent::Bookmark(b))) => {
                assert_eq!(b.types.kind, "ConfigMap");
                assert_eq!(b.types.api_version, "v1");
                let rv: u64 = b.metadata.resource_version.parse().expect("numeric");
                assert!(rv >= last);
            }
            other => panic!("expected a bookmark, got {other:?}"),
        }
    });
}
