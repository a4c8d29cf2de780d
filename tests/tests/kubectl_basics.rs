//! The real kubectl against the real server: create, get and list with
//! selectors and every common output format, patch (merge and JSON), label,
//! annotate, watch and delete namespaces and ConfigMaps — with the kubectl on
//! PATH (a dispatcher that picks 1.33 for this server) and with every
//! versioned kubectl binary installed on the machine.
//!
//! Objects are created with `create -f - --validate=false` (JSON bodies on
//! every kubectl version) and patched with `--type=merge` / `--type=json`,
//! so these tests stay about the basic verbs; protobuf bodies
//! (kubectl_protobuf.rs), OpenAPI validation (kubectl_openapi.rs) and
//! strategic merge patch (strategic_merge.rs) have tests of their own.

use std::process::Output;
use std::time::{Duration, Instant};

use flotilla_e2e::{kubectl_at, ok, wait_for, ApiServer, KubectlWatch};
use serde_json::Value;

/// Where the versioned kubectl binaries live on these machines.
const VERSIONED_KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

const FIXTURES: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    team: retail
---
apiVersion: v1
kind: Namespace
metadata:
  name: office
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-fe
  namespace: shop
  labels: {app: web, tier: fe}
data:
  color: blue
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-be
  namespace: shop
  labels: {app: web, tier: be}
data:
  color: green
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: db
  namespace: shop
  labels: {app: db, tier: be, x: "1"}
data:
  color: red
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-office
  namespace: office
  labels: {app: web, tier: cache}
data:
  color: white
"#;

fn start() -> ApiServer {
    ApiServer::start().expect("server starts")
}

/// `kubectl create -f -` with YAML on stdin (JSON bodies on every kubectl version).
fn create(server: &ApiServer, yaml: &str) -> Output {
    server.kubectl_stdin(&["create", "-f", "-", "--validate=false"], yaml)
}

/// stderr of a kubectl run that must have failed.
fn failed(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        !output.status.success(),
        "kubectl succeeded but should have failed:\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// Non-empty output lines, sorted.
fn sorted_lines(out: &str) -> Vec<String> {
    let mut lines: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn get_json(server: &ApiServer, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = ok(server.kubectl(&all));
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("kubectl -o json is not JSON ({e}): {out}"))
}

#[test]
fn create_and_list_with_selectors_and_output_formats() {
    let server = start();
    let created = ok(create(&server, FIXTURES));
    assert_eq!(
        sorted_lines(&created),
        [
            "configmap/db created",
            "configmap/web-be created",
            "configmap/web-fe created",
            "configmap/web-office created",
            "namespace/office created",
            "namespace/shop created",
        ]
    );
    // Creating the same objects again is AlreadyExists, for each of them.
    let again = failed(create(&server, FIXTURES));
    assert!(again.contains("AlreadyExists"), "{again}");
    assert!(
        again.contains(r#"configmaps "web-fe" already exists"#),
        "{again}"
    );

    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["get", "cm"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "name"]);
        sorted_lines(&ok(server.kubectl(&all)))
    };
    // Equality-based selectors.
    assert_eq!(
        names(&["-n", "shop", "-l", "app=web"]),
        ["configmap/web-be", "configmap/web-fe"]
    );
    assert_eq!(
        names(&["-n", "shop", "-l", "app=web,tier!=fe"]),
        ["configmap/web-be"]
    );
    // Set-based selectors.
    assert_eq!(
        names(&["-n", "shop", "-l", "tier in (fe,be)"]),
        ["configmap/db", "configmap/web-be", "configmap/web-fe"]
    );
    assert_eq!(
        names(&["-n", "shop", "-l", "tier notin (fe)"]),
        ["configmap/db", "configmap/web-be"]
    );
    assert_eq!(
        names(&["-n", "shop", "-l", "!x"]),
        ["configmap/web-be", "configmap/web-fe"]
    );
    assert_eq!(names(&["-n", "shop", "-l", "x"]), ["configmap/db"]);
    // Field selectors.
    assert_eq!(
        names(&["-n", "shop", "--field-selector", "metadata.name=web-be"]),
        ["configmap/web-be"]
    );
    assert_eq!(
        names(&["-n", "shop", "--field-selector", "metadata.name!=web-be"]),
        ["configmap/db", "configmap/web-fe"]
    );
    assert!(names(&["-n", "shop", "-l", "app=nothing"]).is_empty());

    // Across namespaces (-A), with jsonpath to see where each one lives.
    let everywhere = ok(server.kubectl(&[
        "get",
        "cm",
        "-A",
        "-l",
        "app=web",
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}"#,
    ]));
    assert_eq!(
        sorted_lines(&everywhere),
        ["office/web-office", "shop/web-be", "shop/web-fe"]
    );
    assert_eq!(
        names(&["-A", "--field-selector", "metadata.namespace=office"]),
        ["configmap/web-office"]
    );
    // The default (table) output of -A has a NAMESPACE column.
    let table = ok(server.kubectl(&["get", "cm", "-A", "-l", "tier=cache"]));
    let mut rows = table.lines();
    let header: Vec<&str> = rows.next().expect("a header").split_whitespace().collect();
    assert_eq!(&header[..2], ["NAMESPACE", "NAME"], "{table}");
    let row: Vec<&str> = rows.next().expect("one row").split_whitespace().collect();
    assert_eq!(&row[..2], ["office", "web-office"], "{table}");
    assert_eq!(rows.next(), None, "{table}");

    // -o json: one object ...
    let cm = get_json(&server, &["cm", "web-fe", "-n", "shop"]);
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["apiVersion"], "v1");
    assert_eq!(cm["metadata"]["namespace"], "shop");
    assert_eq!(cm["metadata"]["labels"]["tier"], "fe");
    assert_eq!(cm["data"]["color"], "blue");
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        assert!(
            cm["metadata"][field]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "metadata.{field} missing: {cm}"
        );
    }
    // ... and a list.
    let list = get_json(&server, &["cm", "-n", "shop", "-l", "tier=be"]);
    assert_eq!(list["kind"], "List");
    let mut colors: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["data"]["color"].as_str().expect("color"))
        .collect();
    colors.sort();
    assert_eq!(colors, ["green", "red"]);

    // -o yaml is the same object.
    let yaml = ok(server.kubectl(&["get", "cm", "web-fe", "-n", "shop", "-o", "yaml"]));
    let from_yaml: Value = serde_yaml_ng::from_str(&yaml).expect("kubectl -o yaml is YAML");
    assert_eq!(from_yaml, cm);

    // -o jsonpath on one object.
    let color = ok(server.kubectl(&[
        "get",
        "cm",
        "db",
        "-n",
        "shop",
        "-o",
        "jsonpath={.data.color}/{.metadata.labels.app}",
    ]));
    assert_eq!(color, "red/db");

    // Namespaces are listed and selected too.
    let ns = ok(server.kubectl(&["get", "ns", "-l", "team=retail", "-o", "name"]));
    assert_eq!(sorted_lines(&ns), ["namespace/shop"]);
    let all_ns = sorted_lines(&ok(server.kubectl(&["get", "ns", "-o", "name"])));
    for expected in ["namespace/default", "namespace/office", "namespace/shop"] {
        assert!(all_ns.iter().any(|n| n == expected), "{all_ns:?}");
    }

    // A missing object is NotFound.
    let missing = failed(server.kubectl(&["get", "cm", "nope", "-n", "shop"]));
    assert!(
        missing.contains(r#"Error from server (NotFound): configmaps "nope" not found"#),
        "{missing}"
    );
}

#[test]
fn patch_label_and_annotate() {
    let server = start();
    ok(create(&server, FIXTURES));
    let get = || get_json(&server, &["cm", "web-fe", "-n", "shop"]);
    let before = get();
    let rv = |o: &Value| -> u64 {
        o["metadata"]["resourceVersion"]
            .as_str()
            .expect("resourceVersion")
            .parse()
            .expect("numeric resourceVersion")
    };

    // JSON merge patch: add a key, remove another (null), keep the rest.
    let out = ok(server.kubectl(&[
        "patch",
        "cm",
        "web-fe",
        "-n",
        "shop",
        "--type=merge",
        "-p",
        r#"{"data":{"size":"L","color":null},"metadata":{"labels":{"stage":"prod"}}}"#,
    ]));
    assert_eq!(out.trim(), "configmap/web-fe patched");
    let merged = get();
    assert_eq!(merged["data"], serde_json::json!({"size": "L"}));
    assert_eq!(
        merged["metadata"]["labels"],
        serde_json::json!({"app": "web", "tier": "fe", "stage": "prod"})
    );
    assert_eq!(merged["metadata"]["uid"], before["metadata"]["uid"]);
    assert!(rv(&merged) > rv(&before));

    // JSON patch (RFC 6902), including a failing test op that changes nothing.
    ok(server.kubectl(&[
        "patch",
        "cm",
        "web-fe",
        "-n",
        "shop",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/data/size","value":"XL"},{"op":"add","path":"/data/shape","value":"round"}]"#,
    ]));
    let patched = get();
    assert_eq!(
        patched["data"],
        serde_json::json!({"size": "XL", "shape": "round"})
    );
    assert!(rv(&patched) > rv(&merged));
    let refused = failed(server.kubectl(&[
        "patch",
        "cm",
        "web-fe",
        "-n",
        "shop",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/data/size","value":"S"},{"op":"remove","path":"/data/shape"}]"#,
    ]));
    assert!(refused.contains("/data/size"), "{refused}");
    assert_eq!(get(), patched, "a failed JSON patch must change nothing");

    // label: add, refuse to overwrite without --overwrite, overwrite, remove.
    let out = ok(server.kubectl(&["label", "cm", "web-fe", "-n", "shop", "owner=ann"]));
    assert_eq!(out.trim(), "configmap/web-fe labeled");
    let refused = failed(server.kubectl(&["label", "cm", "web-fe", "-n", "shop", "owner=bob"]));
    assert!(refused.contains("already has a value"), "{refused}");
    ok(server.kubectl(&[
        "label",
        "cm",
        "web-fe",
        "-n",
        "shop",
        "owner=bob",
        "--overwrite",
    ]));
    ok(server.kubectl(&["label", "cm", "web-fe", "-n", "shop", "stage-"]));
    let labeled = get();
    assert_eq!(
        labeled["metadata"]["labels"],
        serde_json::json!({"app": "web", "tier": "fe", "owner": "bob"})
    );
    // The new label is selectable at once.
    let selected = ok(server.kubectl(&["get", "cm", "-A", "-l", "owner=bob", "-o", "name"]));
    assert_eq!(sorted_lines(&selected), ["configmap/web-fe"]);

    // annotate: add two, remove one.
    let out = ok(server.kubectl(&[
        "annotate",
        "cm",
        "web-fe",
        "-n",
        "shop",
        "note=hello world",
        "example.com/ticket=42",
    ]));
    assert_eq!(out.trim(), "configmap/web-fe annotated");
    ok(server.kubectl(&["annotate", "cm", "web-fe", "-n", "shop", "note-"]));
    let annotated = get();
    assert_eq!(
        annotated["metadata"]["annotations"],
        serde_json::json!({"example.com/ticket": "42"})
    );
    assert_eq!(annotated["data"], patched["data"]);

    // Label a namespace and several configmaps at once.
    ok(server.kubectl(&["label", "ns", "office", "team=facilities"]));
    let ns = get_json(&server, &["ns", "office"]);
    assert_eq!(ns["metadata"]["labels"]["team"], "facilities");
    let out = ok(server.kubectl(&["label", "cm", "-n", "shop", "--all", "audited=yes"]));
    assert_eq!(out.lines().count(), 3, "{out}");
    let audited = ok(server.kubectl(&["get", "cm", "-A", "-l", "audited=yes", "-o", "name"]));
    assert_eq!(
        sorted_lines(&audited),
        ["configmap/db", "configmap/web-be", "configmap/web-fe"]
    );

    // Patching something missing is NotFound.
    let missing = failed(server.kubectl(&[
        "patch",
        "cm",
        "nope",
        "-n",
        "shop",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"b"}}"#,
    ]));
    assert!(missing.contains("NotFound"), "{missing}");
}

/// Expects exactly these next lines from a `kubectl get -w`, in order.
fn expect_lines(watch: &mut KubectlWatch, expected: &[&str]) {
    for want in expected {
        let got = watch
            .next_line(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.trim_end(), *want, "all lines: {:?}", watch.seen());
    }
}

const EVENTS: &str = r#"jsonpath={.type} {.object.metadata.name} {.object.data.v}{"\n"}"#;
const NAMESPACE_EVENTS: &str =
    r#"jsonpath={.type} {.object.metadata.name} {.object.status.phase}{"\n"}"#;

/// The first two cells (NAME and STATUS) of the next table row.
fn name_and_status(watch: &mut KubectlWatch) -> Vec<String> {
    let mut row = watch
        .next_row(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    row.truncate(2);
    row
}

#[test]
fn watch_prints_changes_as_they_happen() {
    let server = start();
    ok(create(
        &server,
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: live}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: first, namespace: live, labels: {app: web}}
data: {v: "1"}
"#,
    ));

    // Every configmap of the namespace, as watch events.
    let mut all = KubectlWatch::start(
        &server,
        &[
            "get",
            "cm",
            "-n",
            "live",
            "-w",
            "--output-watch-events",
            "-o",
            EVENTS,
        ],
    );
    // One object by name (kubectl watches it with a metadata.name field selector).
    let mut one = KubectlWatch::start(
        &server,
        &[
            "get",
            "cm",
            "first",
            "-n",
            "live",
            "-w",
            "--output-watch-events",
            "-o",
            EVENTS,
        ],
    );
    // By label: objects leaving the selection are DELETED for this watcher.
    let mut web = KubectlWatch::start(
        &server,
        &[
            "get",
            "cm",
            "-n",
            "live",
            "-l",
            "app=web",
            "-w",
            "--output-watch-events",
            "-o",
            EVENTS,
        ],
    );
    // The default table output of a watch.
    let mut table = KubectlWatch::start(&server, &["get", "cm", "-n", "live", "-w"]);

    // The current state comes first.
    expect_lines(&mut all, &["ADDED first 1"]);
    expect_lines(&mut one, &["ADDED first 1"]);
    expect_lines(&mut web, &["ADDED first 1"]);
    let header = table
        .next_line(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "DATA", "AGE"]
    );
    assert!(table
        .next_line(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"))
        .starts_with("first "));

    // Changes: each appears, in order, in the watches it concerns.
    ok(create(
        &server,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: second, namespace: live}\ndata: {v: \"a\"}\n",
    ));
    expect_lines(&mut all, &["ADDED second a"]);
    assert!(table
        .next_line(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"))
        .starts_with("second "));

    ok(server.kubectl(&[
        "patch",
        "cm",
        "first",
        "-n",
        "live",
        "--type=merge",
        "-p",
        r#"{"data":{"v":"2"}}"#,
    ]));
    expect_lines(&mut all, &["MODIFIED first 2"]);
    expect_lines(&mut one, &["MODIFIED first 2"]);
    expect_lines(&mut web, &["MODIFIED first 2"]);

    ok(server.kubectl(&["label", "cm", "first", "-n", "live", "app-"]));
    expect_lines(&mut all, &["MODIFIED first 2"]);
    expect_lines(&mut one, &["MODIFIED first 2"]);
    expect_lines(&mut web, &["DELETED first 2"]);

    ok(server.kubectl(&["label", "cm", "second", "-n", "live", "app=web"]));
    expect_lines(&mut all, &["MODIFIED second a"]);
    expect_lines(&mut web, &["ADDED second a"]);

    ok(server.kubectl(&["delete", "cm", "first", "-n", "live"]));
    expect_lines(&mut all, &["DELETED first 2"]);
    expect_lines(&mut one, &["DELETED first 2"]);

    // Changes elsewhere reach none of these watches: the next line each one
    // prints is the next change in its own selection.
    ok(create(
        &server,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first, namespace: default}\ndata: {v: \"x\"}\n",
    ));
    ok(server.kubectl(&[
        "patch",
        "cm",
        "second",
        "-n",
        "live",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/data/v","value":"b"}]"#,
    ]));
    expect_lines(&mut all, &["MODIFIED second b"]);
    expect_lines(&mut web, &["MODIFIED second b"]);

    // `get ns -w`: a namespace created, then deleted, is ADDED, MODIFIED
    // (Terminating), DELETED — as events and as table rows.
    let mut namespaces = KubectlWatch::start(
        &server,
        &[
            "get",
            "ns",
            "-w",
            "--output-watch-events",
            "-o",
            NAMESPACE_EVENTS,
        ],
    );
    let mut ns_table = KubectlWatch::start(&server, &["get", "ns", "-w"]);
    let existing = [
        "ADDED default Active",
        "ADDED kube-public Active",
        "ADDED kube-system Active",
        "ADDED live Active",
    ];
    expect_lines(&mut namespaces, &existing);
    let header = ns_table
        .next_row(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header, ["NAME", "STATUS", "AGE"]);
    for want in ["default", "kube-public", "kube-system", "live"] {
        assert_eq!(name_and_status(&mut ns_table), [want, "Active"]);
    }
    ok(server.kubectl(&["create", "namespace", "ephemeral"]));
    expect_lines(&mut namespaces, &["ADDED ephemeral Active"]);
    assert_eq!(name_and_status(&mut ns_table), ["ephemeral", "Active"]);
    // kubectl waits for the namespace to be gone.
    let out = ok(server.kubectl(&["delete", "namespace", "ephemeral"]));
    assert_eq!(out.trim(), r#"namespace "ephemeral" deleted"#);
    expect_lines(
        &mut namespaces,
        &[
            "MODIFIED ephemeral Terminating",
            "DELETED ephemeral Terminating",
        ],
    );
    for _ in 0..2 {
        assert_eq!(name_and_status(&mut ns_table), ["ephemeral", "Terminating"]);
    }

    // Nobody gave up on the stream.
    for watch in [
        &mut all,
        &mut one,
        &mut web,
        &mut table,
        &mut namespaces,
        &mut ns_table,
    ] {
        assert!(watch.running(), "kubectl get -w exited: {:?}", watch.seen());
    }
}

#[test]
fn delete_configmap_and_namespace_with_contents() {
    let server = start();
    ok(create(&server, FIXTURES));

    // One configmap.
    let out = ok(server.kubectl(&["delete", "cm", "web-be", "-n", "shop"]));
    assert_eq!(out.trim(), r#"configmap "web-be" deleted"#);
    let gone = failed(server.kubectl(&["get", "cm", "web-be", "-n", "shop"]));
    assert!(gone.contains("NotFound"), "{gone}");
    let again = failed(server.kubectl(&["delete", "cm", "web-be", "-n", "shop"]));
    assert!(again.contains("NotFound"), "{again}");
    let left = ok(server.kubectl(&["get", "cm", "-n", "shop", "-o", "name"]));
    assert_eq!(sorted_lines(&left), ["configmap/db", "configmap/web-fe"]);

    // By label selector.
    let out = ok(server.kubectl(&["delete", "cm", "-n", "shop", "-l", "app=db"]));
    assert_eq!(out.trim(), r#"configmap "db" deleted"#);

    // The namespace, with what it still holds.
    ok(create(
        &server,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: shop}\ndata: {k: v}\n",
    ));
    let out = ok(server.kubectl(&["delete", "ns", "shop", "--wait=false"]));
    assert_eq!(out.trim(), r#"namespace "shop" deleted"#);
    wait_for(Duration::from_secs(20), "namespace shop to be gone", || {
        let output = server.kubectl(&["get", "ns", "shop"]);
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        (!output.status.success() && stderr.contains("NotFound")).then_some(())
    })
    .expect("namespace removed");
    let listed = ok(server.kubectl(&["get", "cm", "-n", "shop", "-o", "name"]));
    assert_eq!(listed.trim(), "", "configmaps outlived their namespace");
    for name in ["web-fe", "extra"] {
        let gone = failed(server.kubectl(&["get", "cm", name, "-n", "shop"]));
        assert!(gone.contains("NotFound"), "{gone}");
    }
    // A namespace of the same name starts empty.
    ok(create(
        &server,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    ));
    let listed = ok(server.kubectl(&["get", "cm", "-n", "shop", "-o", "name"]));
    assert_eq!(
        listed.trim(),
        "",
        "old configmaps came back with the namespace"
    );
    // The other namespace was not touched.
    let office = ok(server.kubectl(&["get", "cm", "-n", "office", "-o", "name"]));
    assert_eq!(sorted_lines(&office), ["configmap/web-office"]);

    // kubectl delete waits for the namespace to go away by default.
    let started = Instant::now();
    ok(server.kubectl(&["delete", "ns", "office", "--timeout=20s"]));
    let gone = failed(server.kubectl(&["get", "ns", "office"]));
    assert!(gone.contains("NotFound"), "{gone}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn writes_into_a_missing_namespace_are_not_found() {
    let server = start();
    let refused = failed(create(
        &server,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lost, namespace: nowhere}\ndata: {k: v}\n",
    ));
    assert!(
        refused.contains(r#"Error from server (NotFound)"#)
            && refused.contains(r#"namespaces "nowhere" not found"#),
        "{refused}"
    );
    // The same with -n instead of metadata.namespace.
    let refused = failed(server.kubectl_stdin(
        &["create", "-n", "nowhere", "-f", "-", "--validate=false"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lost}\n",
    ));
    assert!(
        refused.contains(r#"namespaces "nowhere" not found"#),
        "{refused}"
    );
    // Nothing was stored, and the namespace was not created on the way.
    let listed = ok(server.kubectl(&["get", "cm", "-A", "-o", "name"]));
    assert!(!listed.contains("lost"), "{listed}");
    let ns = failed(server.kubectl(&["get", "ns", "nowhere"]));
    assert!(ns.contains("NotFound"), "{ns}");
    // Once the namespace exists the same write works.
    ok(create(
        &server,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: nowhere}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: lost, namespace: nowhere}\ndata: {k: v}\n",
    ));
    let found = ok(server.kubectl(&[
        "get",
        "cm",
        "lost",
        "-n",
        "nowhere",
        "-o",
        "jsonpath={.data.k}",
    ]));
    assert_eq!(found, "v");
}

/// The installed versioned kubectl binaries (1.27 … 1.33).
fn versioned_kubectls() -> Vec<(String, String)> {
    (27..=33)
        .map(|minor| {
            (
                format!("1.{minor}"),
                format!("{VERSIONED_KUBECTL_DIR}/kubectl.1.{minor}"),
            )
        })
        .filter(|(version, path)| {
            let present = std::path::Path::new(path).exists();
            if !present {
                eprintln!("skipping kubectl {version}: {path} is not installed");
            }
            present
        })
        .collect()
}

#[test]
fn every_installed_kubectl_version_creates_gets_and_deletes() {
    let server = start();
    let kubeconfig = server.kubeconfig();
    let binaries = versioned_kubectls();
    if binaries.is_empty() {
        eprintln!("no versioned kubectl under {VERSIONED_KUBECTL_DIR}: nothing to run");
        return;
    }
    for (version, binary) in &binaries {
        let run = |args: &[&str], stdin: Option<&str>| -> Output {
            kubectl_at(binary, &kubeconfig, args, stdin)
        };
        let ok_run = |args: &[&str], stdin: Option<&str>| -> String {
            let output = run(args, stdin);
            assert!(
                output.status.success(),
                "kubectl {version} {args:?} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).to_string()
        };
        let client = ok_run(&["version", "--client", "-o", "json"], None);
        let client: Value = serde_json::from_str(&client).expect("version JSON");
        assert_eq!(
            client["clientVersion"]["minor"],
            version.trim_start_matches("1."),
            "{binary} is not kubectl {version}"
        );

        let ns = format!("v{}", version.replace('.', "-"));
        let yaml = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: {ns}, labels: {{made-by: kubectl}}}}\n\
             data: {{version: \"{version}\"}}\n"
        );
        let created = ok_run(&["create", "-f", "-", "--validate=false"], Some(&yaml));
        assert_eq!(
            sorted_lines(&created),
            [
                "configmap/cfg created",
                format!("namespace/{ns} created").as_str()
            ],
            "kubectl {version}"
        );
        let got = ok_run(&["get", "cm", "cfg", "-n", &ns, "-o", "json"], None);
        let got: Value = serde_json::from_str(&got).expect("-o json");
        assert_eq!(
            got["data"]["version"],
            version.as_str(),
            "kubectl {version}"
        );
        let table = ok_run(&["get", "cm", "-n", &ns, "-l", "made-by=kubectl"], None);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 2, "kubectl {version}: {table}");
        assert!(rows[0].starts_with("NAME"), "kubectl {version}: {table}");
        assert!(rows[1].starts_with("cfg "), "kubectl {version}: {table}");
        ok_run(
            &[
                "patch",
                "cm",
                "cfg",
                "-n",
                &ns,
                "--type=merge",
                "-p",
                r#"{"data":{"patched":"yes"}}"#,
            ],
            None,
        );
        let patched = ok_run(
            &[
                "get",
                "cm",
                "cfg",
                "-n",
                &ns,
                "-o",
                "jsonpath={.data.patched}",
            ],
            None,
        );
        assert_eq!(patched, "yes", "kubectl {version}");
        let deleted = ok_run(&["delete", "cm", "cfg", "-n", &ns], None);
        assert_eq!(
            deleted.trim(),
            r#"configmap "cfg" deleted"#,
            "kubectl {version}"
        );
        let output = run(&["get", "cm", "cfg", "-n", &ns], None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains("NotFound"),
            "kubectl {version}: the configmap is still there: {stderr}"
        );
        ok_run(&["delete", "ns", &ns, "--timeout=20s"], None);
        let output = run(&["get", "ns", &ns], None);
        assert!(
            !output.status.success(),
            "kubectl {version}: namespace {ns} is still there"
        );
    }
}
