//! Server-side printing: `kubectl get` shows the columns users know (from
//! `meta.k8s.io/v1 Table` answers), `-o wide` adds the priority-1 columns,
//! `-A` gets kubectl's NAMESPACE column, `get -w` prints rows as changes
//! happen — with the kubectl on PATH and every versioned kubectl installed —
//! and the raw Table JSON has the shape kube-apiserver sends.

use std::time::Duration;

use bytes::Bytes;
use flotilla_e2e::{kubectl_at, ok, ApiServer, KubectlWatch};
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::ServerName;
use serde_json::{json, Value};

const VERSIONED_KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";
const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn start() -> ApiServer {
    ApiServer::start().expect("server starts")
}

fn post(server: &ApiServer, path: &str, body: Value) {
    let response = server.https().post_json(path, &body).expect("POST");
    assert_eq!(response.status, 201, "POST {path}: {}", response.text());
}

fn namespace(server: &ApiServer, name: &str) {
    post(
        server,
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    );
}

fn configmap(server: &ApiServer, ns: &str, name: &str, data: Value) {
    post(
        server,
        &format!("/api/v1/namespaces/{ns}/configmaps"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
    );
}

/// Each printed line split on whitespace.
fn table(output: &str) -> Vec<Vec<String>> {
    output
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn is_age(cell: &str) -> bool {
    cell.ends_with('s') && cell[..cell.len() - 1].parse::<u32>().is_ok()
}

#[test]
fn configmaps_namespaces_and_all_namespaces() {
    let server = start();
    namespace(&server, "tables");
    configmap(&server, "tables", "empty", json!({}));
    configmap(&server, "tables", "two", json!({"a": "1", "b": "2"}));

    let rows = table(&ok(server.kubectl(&["get", "cm", "-n", "tables"])));
    assert_eq!(rows[0], ["NAME", "DATA", "AGE"], "{rows:?}");
    assert_eq!(&rows[1][..2], ["empty", "0"], "{rows:?}");
    assert_eq!(&rows[2][..2], ["two", "2"], "{rows:?}");
    assert!(is_age(&rows[2][2]), "{rows:?}");
    assert_eq!(rows.len(), 3, "{rows:?}");

    // One object by name is a table too.
    let rows = table(&ok(server.kubectl(&["get", "cm", "two", "-n", "tables"])));
    assert_eq!(rows[0], ["NAME", "DATA", "AGE"]);
    assert_eq!(&rows[1][..2], ["two", "2"]);

    let rows = table(&ok(server.kubectl(&["get", "ns", "tables"])));
    assert_eq!(rows[0], ["NAME", "STATUS", "AGE"], "{rows:?}");
    assert_eq!(&rows[1][..2], ["tables", "Active"], "{rows:?}");

    let rows = table(&ok(server.kubectl(&["get", "cm", "-A"])));
    assert_eq!(rows[0], ["NAMESPACE", "NAME", "DATA", "AGE"], "{rows:?}");
    assert!(
        rows.iter().any(|r| r[..3] == ["tables", "two", "2"]),
        "{rows:?}"
    );

    // --show-labels uses the rows' PartialObjectMetadata.
    ok(server.kubectl(&["label", "cm", "two", "-n", "tables", "app=web"]));
    let rows = table(&ok(server.kubectl(&[
        "get",
        "cm",
        "two",
        "-n",
        "tables",
        "--show-labels",
    ])));
    assert_eq!(rows[0], ["NAME", "DATA", "AGE", "LABELS"]);
    assert_eq!(rows[1][3], "app=web");
}

#[test]
fn deployments_and_wide_output() {
    let server = start();
    namespace(&server, "apps");
    post(
        &server,
        "/apis/apps/v1/namespaces/apps/deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "app", "image": "nginx:1.27"}, {"name": "side", "image": "envoy:1.30"}]}}}}),
    );
    let rows = table(&ok(server.kubectl(&["get", "deploy", "-n", "apps"])));
    assert_eq!(
        rows[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{rows:?}"
    );
    assert_eq!(&rows[1][..4], ["web", "0/3", "0", "0"], "{rows:?}");
    assert!(is_age(&rows[1][4]), "{rows:?}");

    let rows = table(&ok(
        server.kubectl(&["get", "deploy", "-n", "apps", "-o", "wide"])
    ));
    assert_eq!(
        rows[0],
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "{rows:?}"
    );
    assert_eq!(
        &rows[1][5..],
        ["app,side", "nginx:1.27,envoy:1.30", "app=web"],
        "{rows:?}"
    );
}

#[test]
fn other_kinds_print_their_columns() {
    let server = start();
    namespace(&server, "kinds");
    let ns = "/api/v1/namespaces/kinds";
    post(
        &server,
        &format!("{ns}/services"),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
            "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}],
                "selector": {"app": "web"}}}),
    );
    post(
        &server,
        &format!("{ns}/secrets"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tok"},
            "type": "kubernetes.io/basic-auth", "data": {"username": "YQ==", "password": "Yg=="}}),
    );
    post(
        &server,
        "/apis/batch/v1/namespaces/kinds/jobs",
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox"}]}}}}),
    );
    post(
        &server,
        "/apis/coordination.k8s.io/v1/namespaces/kinds/leases",
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lock"},
            "spec": {"holderIdentity": "controller-0"}}),
    );
    let get = |args: &[&str]| {
        let mut full = vec!["get"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["-n", "kinds"]);
        table(&ok(server.kubectl(&full)))
    };
    let rows = get(&["svc"]);
    assert_eq!(
        rows[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(
        &rows[1][..5],
        ["svc", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP"]
    );
    let rows = get(&["svc", "-o", "wide"]);
    assert_eq!(rows[0].last().unwrap(), "SELECTOR");
    assert_eq!(rows[1].last().unwrap(), "app=web");
    let rows = get(&["secret", "tok"]);
    assert_eq!(rows[0], ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(&rows[1][..3], ["tok", "kubernetes.io/basic-auth", "2"]);
    let rows = get(&["job"]);
    assert_eq!(
        rows[0],
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );
    assert_eq!(&rows[1][..3], ["once", "Running", "0/1"]);
    let rows = get(&["lease"]);
    assert_eq!(rows[0], ["NAME", "HOLDER", "AGE"]);
    assert_eq!(&rows[1][..2], ["lock", "controller-0"]);
}

#[test]
fn watch_prints_table_rows_as_changes_happen() {
    let server = start();
    namespace(&server, "live");
    configmap(&server, "live", "first", json!({"a": "1"}));
    let mut watch = KubectlWatch::start(&server, &["get", "cm", "-n", "live", "-w"]);
    assert_eq!(
        watch
            .next_row(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}")),
        ["NAME", "DATA", "AGE"]
    );
    assert_eq!(
        &watch
            .next_row(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"))[..2],
        ["first", "1"]
    );

    configmap(&server, "live", "second", json!({"a": "1", "b": "2"}));
    assert_eq!(
        &watch
            .next_row(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"))[..2],
        ["second", "2"]
    );
    ok(server.kubectl(&[
        "patch",
        "cm",
        "first",
        "-n",
        "live",
        "--type=merge",
        "-p",
        r#"{"data":{"b":"2","c":"3"}}"#,
    ]));
    // No second header: later events carry no column definitions.
    assert_eq!(
        &watch
            .next_row(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"))[..2],
        ["first", "3"]
    );
    ok(server.kubectl(&["delete", "cm", "second", "-n", "live"]));
    assert_eq!(
        &watch
            .next_row(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"))[..2],
        ["second", "2"]
    );
    assert!(watch.running(), "kubectl get -w exited");
}

/// GET with an `Accept` header; the response with its body unread.
async fn send(
    server: &ApiServer,
    path: &str,
    accept: &str,
) -> http::Response<hyper::body::Incoming> {
    let tls = federation_apiserver::pki::client_config_trusting(&server.ca_pem).expect("TLS");
    let tcp = tokio::net::TcpStream::connect(&server.addr)
        .await
        .expect("connect");
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::try_from("localhost").unwrap().to_owned(), tcp)
        .await
        .expect("TLS handshake");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header("host", &server.addr)
        .header("authorization", format!("Bearer {}", server.token))
        .header("accept", accept)
        .body(Empty::<Bytes>::new())
        .unwrap();
    sender.send_request(request).await.expect("response")
}

async fn get_json(server: &ApiServer, path: &str, accept: &str) -> (u16, Value) {
    let response = send(server, path, accept).await;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).expect("JSON body"))
}

/// Newline-delimited watch events from a streaming body.
struct Events {
    body: hyper::body::Incoming,
    buffer: Vec<u8>,
}

impl Events {
    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return serde_json::from_slice(&line).expect("event JSON");
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("an event within 10s")
                .expect("stream open")
                .expect("frame");
            if let Ok(data) = frame.into_data() {
                self.buffer.extend_from_slice(&data);
            }
        }
    }
}

#[test]
fn raw_table_json() {
    let server = start();
    namespace(&server, "raw");
    configmap(&server, "raw", "c", json!({"k": "v"}));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(raw_table_checks(&server));
}

async fn raw_table_checks(server: &ApiServer) {
    let list = "/api/v1/namespaces/raw/configmaps";

    let (status, t) = get_json(server, &format!("{list}?limit=500"), TABLE_ACCEPT).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert!(t["metadata"]["resourceVersion"].as_str().is_some(), "{t}");
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Data", "Age"]);
    for column in t["columnDefinitions"].as_array().unwrap() {
        for field in ["type", "format", "description", "priority"] {
            assert!(column.get(field).is_some(), "{column}");
        }
    }
    let row = &t["rows"][0];
    assert_eq!(row["cells"][0], "c");
    assert_eq!(row["cells"][1], 1);
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(row["object"]["metadata"]["name"], "c");
    assert_eq!(row["object"]["metadata"]["namespace"], "raw");
    assert!(row["object"]["metadata"]["uid"].is_string(), "{row}");

    // includeObject, v1beta1, single objects, plain JSON and bad values.
    let (_, t) = get_json(
        server,
        &format!("{list}?includeObject=Object"),
        TABLE_ACCEPT,
    )
    .await;
    assert_eq!(t["rows"][0]["object"]["kind"], "ConfigMap");
    assert_eq!(t["rows"][0]["object"]["data"]["k"], "v");
    let (_, t) = get_json(server, &format!("{list}?includeObject=None"), TABLE_ACCEPT).await;
    assert!(t["rows"][0].get("object").is_none(), "{t}");
    let (status, t) = get_json(server, &format!("{list}?includeObject=All"), TABLE_ACCEPT).await;
    assert_eq!(
        (status, t["reason"].as_str()),
        (400, Some("BadRequest")),
        "{t}"
    );
    let beta = "application/json;as=Table;v=v1beta1;g=meta.k8s.io";
    let (_, t) = get_json(server, &format!("{list}/c"), beta).await;
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(t["rows"].as_array().unwrap().len(), 1);
    let (_, plain) = get_json(server, list, "application/json").await;
    assert_eq!(plain["kind"], "ConfigMapList");

    // Watch: one-row Tables; only the first event has column definitions.
    let response = send(
        server,
        &format!("{list}?watch=true&resourceVersion=0"),
        TABLE_ACCEPT,
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut events = Events {
        body: response.into_body(),
        buffer: Vec::new(),
    };
    let first = events.next().await;
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["kind"], "Table");
    assert_eq!(
        first["object"]["columnDefinitions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(first["object"]["rows"][0]["cells"][0], "c");
    // The harness client blocks on its own runtime: run it on a plain thread.
    let https = server.https();
    std::thread::spawn(move || {
        https
            .post_json(
                "/api/v1/namespaces/raw/configmaps",
                &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}),
            )
            .unwrap()
    })
    .join()
    .unwrap();
    let second = events.next().await;
    assert_eq!(second["type"], "ADDED");
    assert_eq!(second["object"]["kind"], "Table");
    assert!(second["object"]["columnDefinitions"].is_null(), "{second}");
    assert_eq!(
        second["object"]["rows"][0]["cells"],
        json!(["d", 0, second["object"]["rows"][0]["cells"][2]])
    );
    assert_eq!(
        second["object"]["metadata"]["resourceVersion"],
        second["object"]["rows"][0]["object"]["metadata"]["resourceVersion"]
    );
}

#[test]
fn every_installed_kubectl_prints_tables() {
    let server = start();
    namespace(&server, "versions");
    configmap(
        &server,
        "versions",
        "cfg",
        json!({"a": "1", "b": "2", "c": "3"}),
    );
    let mut ran = 0;
    for minor in 27..=33 {
        let binary = format!("{VERSIONED_KUBECTL_DIR}/kubectl.1.{minor}");
        if !std::path::Path::new(&binary).exists() {
            continue;
        }
        ran += 1;
        let output = kubectl_at(
            &binary,
            &server.kubeconfig(),
            &["get", "cm", "-n", "versions"],
            None,
        );
        let rows = table(&ok(output));
        assert_eq!(
            rows[0],
            ["NAME", "DATA", "AGE"],
            "kubectl 1.{minor}: {rows:?}"
        );
        assert_eq!(&rows[1][..2], ["cfg", "3"], "kubectl 1.{minor}: {rows:?}");
    }
    if ran == 0 {
        eprintln!("no versioned kubectl under {VERSIONED_KUBECTL_DIR}");
    }
}
