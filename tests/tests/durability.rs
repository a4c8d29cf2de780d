//! Durability of the real server on its embedded (redb) storage:
//! - kill -9 in the middle of a concurrent create load loses no acknowledged
//!   write, and resourceVersions keep growing after the restart;
//! - a clean SIGTERM restart keeps every object exactly as it was;
//! - SIGTERM with open watches still exits promptly and cleanly.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flotilla_e2e::{ApiServer, Https};
use http_body_util::BodyExt;
use serde_json::{json, Value};

const WRITERS: usize = 16;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn rv_of(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no numeric resourceVersion in {object}"))
}

fn create_namespace(https: &Https, name: &str, labels: Value) -> Value {
    let r = https
        .post_json(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, "labels": labels}}),
        )
        .expect("POST namespace");
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

/// An acknowledged create: the name, and what the 201 said (when its body arrived).
#[derive(Debug, Clone)]
struct Acked {
    name: String,
    stored: Option<Value>,
}

#[test]
fn kill9_during_concurrent_creates_loses_no_acknowledged_write() {
    let mut server = ApiServer::start().expect("server starts");
    let https = server.https();
    create_namespace(&https, "load", json!({}));

    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let failed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let rt = runtime();
    let (acked_at_kill, ran_for) = rt.block_on(async {
        let mut writers = Vec::new();
        for task in 0..WRITERS {
            let (https, acked, failed, stop) =
                (https.clone(), acked.clone(), failed.clone(), stop.clone());
            writers.push(tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("cm-{task:02}-{n:05}");
                    n += 1;
                    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "labels": {"writer": task.to_string()}},
                        "data": {"n": n.to_string()}});
                    let sent = https
                        .send(
                            "POST",
                            "/api/v1/namespaces/load/configmaps",
                            Some("application/json"),
                            Bytes::from(serde_json::to_vec(&body).expect("json")),
                        )
                        .await;
                    match sent {
                        Ok(response) if response.status() == 201 => {
                            // The status line is the acknowledgement; the body
                            // may be cut off by the kill.
                            let stored = tokio::time::timeout(
                                Duration::from_secs(10),
                                response.into_body().collect(),
                            )
                            .await
                            .ok()
                            .and_then(Result::ok)
                            .and_then(|b| serde_json::from_slice::<Value>(&b.to_bytes()).ok());
                            acked.lock().unwrap().push(Acked { name, stored });
                        }
                        Ok(response) => {
                            let status = response.status();
                            let text = response
                                .into_body()
                                .collect()
                                .await
                                .map(|b| String::from_utf8_lossy(&b.to_bytes()).to_string())
                                .unwrap_or_default();
                            panic!("create {name} answered {status}: {text}");
                        }
                        Err(_) => {
                            // The server is gone (or going): not acknowledged.
                            failed.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }));
        }

        // Let the load run for a while, then pull the plug under it.
        let started = Instant::now();
        let deadline = started + Duration::from_secs(30);
        loop {
            let done = acked.lock().unwrap().len();
            if done >= 150 && started.elapsed() >= Duration::from_millis(1500) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {done} creates acknowledged in 30 s"
            );
            assert_eq!(
                failed.load(Ordering::SeqCst),
                0,
                "requests failed while the server was up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.kill9();
        let acked_at_kill = acked.lock().unwrap().len();
        // Give the writers a moment to run into the dead server, then stop them.
        let fail_deadline = Instant::now() + Duration::from_secs(10);
        while failed.load(Ordering::SeqCst) < WRITERS && Instant::now() < fail_deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.store(true, Ordering::SeqCst);
        for writer in writers {
            tokio::time::timeout(Duration::from_secs(30), writer)
                .await
                .expect("writer stops")
                .expect("writer task");
        }
        (acked_at_kill, started.elapsed())
    });
    drop(rt);
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        failed.load(Ordering::SeqCst) > 0,
        "the kill did not interrupt the load"
    );
    // Writes that were in flight at the kill may have been acknowledged just
    // before the process died; they count too.
    assert!(acked.len() >= acked_at_kill);
    eprintln!(
        "{} creates acknowledged over {ran_for:?} before kill -9",
        acked.len()
    );

    server.launch().expect("restart on the same data dir");
    let https = server.https();
    let list = https
        .get("/api/v1/namespaces/load/configmaps")
        .expect("list after restart");
    assert_eq!(list.status, 200, "{}", list.text());
    let list = list.json();
    let stored: HashMap<String, Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| {
            (
                o["metadata"]["name"].as_str().expect("name").to_string(),
                o.clone(),
            )
        })
        .collect();
    let lost: Vec<&str> = acked
        .iter()
        .filter(|a| !stored.contains_key(&a.name))
        .map(|a| a.name.as_str())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged creates are gone after kill -9: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(20)]
    );

    // What came back is what was acknowledged, and revisions only grew.
    let mut max_acked_rv = 0;
    let mut per_writer: BTreeMap<String, u64> = BTreeMap::new();
    for a in &acked {
        let now = &stored[&a.name];
        let Some(then) = &a.stored else { continue };
        assert_eq!(now, then, "{} changed across the crash", a.name);
        let rv = rv_of(then);
        max_acked_rv = max_acked_rv.max(rv);
        // One writer's creates are sequential: their revisions must grow.
        let writer = a.name[3..5].to_string();
        let last = per_writer.entry(writer).or_insert(0);
        assert!(rv > *last, "{}: revision {rv} after {last}", a.name);
        *last = rv;
    }
    assert!(max_acked_rv > 0, "no acknowledged create had a body");
    assert!(
        rv_of(&list) >= max_acked_rv,
        "the list's resourceVersion {} is older than an acknowledged write ({max_acked_rv})",
        rv_of(&list)
    );
    let after = https
        .post_json(
            "/api/v1/namespaces/load/configmaps",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after-restart"}}),
        )
        .expect("create after restart");
    assert_eq!(after.status, 201, "{}", after.text());
    let after_rv = rv_of(&after.json());
    assert!(
        after_rv > max_acked_rv && after_rv > rv_of(&list),
        "resourceVersion went backwards after restart: {after_rv} <= {max_acked_rv}"
    );
    // Names are not reused either: every acknowledged name is taken.
    let first = &acked[0].name;
    let again = https
        .post_json(
            "/api/v1/namespaces/load/configmaps",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": first}}),
        )
        .expect("create again");
    assert_eq!(again.status, 409, "{}", again.text());
}

#[test]
fn clean_restart_keeps_every_object_unchanged() {
    let mut server = ApiServer::start().expect("server starts");
    let https = server.https();
    create_namespace(&https, "alpha", json!({"team": "a"}));
    create_namespace(&https, "beta", json!({"team": "b"}));
    for (ns, name, labels) in [
        ("alpha", "one", json!({"app": "web", "tier": "fe"})),
        ("alpha", "two", json!({"app": "web", "tier": "be"})),
        ("alpha", "doomed", json!({"app": "tmp"})),
        ("beta", "three", json!({"app": "db"})),
    ] {
        let r = https
            .post_json(
                &format!("/api/v1/namespaces/{ns}/configmaps"),
                &json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "labels": labels,
                                     "annotations": {"note": format!("{ns}/{name}")}},
                        "data": {"key": name, "multi": "line 1\nline 2"}}),
            )
            .expect("POST configmap");
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let deployment = https
        .post_json(
            "/apis/apps/v1/namespaces/alpha/deployments",
            &json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "env": [{"name": "MODE", "value": "prod"}]}]}}}}),
        )
        .expect("POST deployment");
    assert_eq!(deployment.status, 201, "{}", deployment.text());
    // An update and a delete must survive too.
    let patched = https
        .patch(
            "/api/v1/namespaces/alpha/configmaps/two",
            "application/merge-patch+json",
            &json!({"data": {"key": "changed"}, "metadata": {"labels": {"patched": "yes"}}}),
        )
        .expect("PATCH");
    assert_eq!(patched.status, 200, "{}", patched.text());
    let deleted = https
        .delete("/api/v1/namespaces/alpha/configmaps/doomed")
        .expect("DELETE");
    assert_eq!(deleted.status, 200, "{}", deleted.text());

    let paths = [
        "/api/v1/namespaces/alpha",
        "/api/v1/namespaces/beta",
        "/api/v1/namespaces/alpha/configmaps/one",
        "/api/v1/namespaces/alpha/configmaps/two",
        "/api/v1/namespaces/beta/configmaps/three",
        "/apis/apps/v1/namespaces/alpha/deployments/web",
    ];
    let snapshot = |https: &Https| -> Vec<Value> {
        paths
            .iter()
            .map(|p| {
                let r = https.get(p).expect("GET");
                assert_eq!(r.status, 200, "{p}: {}", r.text());
                r.json()
            })
            .collect()
    };
    let before = snapshot(&https);
    for object in &before {
        for field in ["uid", "creationTimestamp", "resourceVersion"] {
            assert!(
                object["metadata"][field]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "metadata.{field} missing: {object}"
            );
        }
    }
    let max_rv = before.iter().map(rv_of).max().expect("objects");

    let status = server.terminate().expect("SIGTERM exit");
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    server.launch().expect("restart on the same data dir");
    let https = server.https();

    let after = snapshot(&https);
    for (path, (then, now)) in paths.iter().zip(before.iter().zip(&after)) {
        assert_eq!(then, now, "{path} changed across a clean restart");
    }
    let gone = https
        .get("/api/v1/namespaces/alpha/configmaps/doomed")
        .expect("GET");
    assert_eq!(
        gone.status,
        404,
        "a deleted object came back: {}",
        gone.text()
    );
    // Selection works on the reloaded state.
    let web = https
        .get("/api/v1/namespaces/alpha/configmaps?labelSelector=app%3Dweb")
        .expect("list");
    let mut names: Vec<String> = web.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["metadata"]["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["one", "two"]);
    let teams = https
        .get("/api/v1/namespaces?labelSelector=team")
        .expect("list namespaces");
    assert_eq!(teams.json()["items"].as_array().expect("items").len(), 2);
    // Revisions continue from where they were.
    let r = https
        .patch(
            "/api/v1/namespaces/beta/configmaps/three",
            "application/merge-patch+json",
            &json!({"data": {"key": "after"}}),
        )
        .expect("PATCH after restart");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(rv_of(&r.json()) > max_rv);
    assert_eq!(r.json()["metadata"]["uid"], after[4]["metadata"]["uid"]);
}

#[test]
fn sigterm_with_open_watches_exits_promptly() {
    let mut server = ApiServer::start().expect("server starts");
    let https = server.https();
    // A kubectl watch too: it must notice the end of its stream and exit.
    let mut kubectl = flotilla_e2e::kubectl_command("kubectl", &server.kubeconfig())
        .args([
            "get",
            "cm",
            "-n",
            "default",
            "-w",
            "--output-watch-events",
            "-o",
            "jsonpath={.type} {.object.metadata.name}{\"\\n\"}",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let (tx, kubectl_lines) = std::sync::mpsc::channel();
    let stdout = kubectl.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let rt = runtime();
    let mut watch = rt.block_on(async {
        let (status, watch) = https
            .watch("/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true")
            .await
            .expect("watch");
        assert_eq!(status, 200);
        watch
    });
    // Both watches are live: a change reaches them.
    let created = https
        .post_json(
            "/api/v1/namespaces/default/configmaps",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ping"}}),
        )
        .expect("create");
    assert_eq!(created.status, 201, "{}", created.text());
    rt.block_on(async {
        let event = watch
            .next(Duration::from_secs(10))
            .await
            .expect("an event")
            .expect("the stream is open");
        assert_eq!(event["type"], "ADDED", "{event}");
        assert_eq!(event["object"]["metadata"]["name"], "ping");
    });
    let line = kubectl_lines
        .recv_timeout(Duration::from_secs(10))
        .expect("kubectl saw the change");
    assert_eq!(line, "ADDED ping");

    let started = Instant::now();
    let status = server
        .terminate()
        .expect("the server exits after SIGTERM despite open watches");
    let took = started.elapsed();
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    eprintln!("SIGTERM to exit with open watches: {took:?}");
    assert!(
        took < Duration::from_secs(15),
        "shutdown took {took:?} with open watches"
    );
    // The raw watch ends: the stream is closed (cleanly or not), not hanging.
    rt.block_on(async {
        let ended = Instant::now();
        let _ = watch.next(Duration::from_secs(5)).await;
        assert!(
            ended.elapsed() < Duration::from_secs(5),
            "the watch stream stayed open after the server exited"
        );
    });
    // kubectl's watch ends too.
    let exit = flotilla_e2e::wait_for(Duration::from_secs(10), "kubectl get -w to exit", || {
        kubectl.try_wait().ok().flatten()
    });
    if exit.is_err() {
        let _ = kubectl.kill();
        let _ = kubectl.wait();
    }
    exit.expect("kubectl get -w exits when the server goes away");
}
