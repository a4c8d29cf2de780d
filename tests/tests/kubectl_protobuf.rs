//! kubectl 1.32 and 1.33 send protobuf bodies
//! (`application/vnd.kubernetes.protobuf`) for `kubectl create
//! namespace|configmap|secret|deployment|service|job|...` with no JSON retry: every
//! one must be created, and read back as the JSON the same command builds
//! client-side (`--dry-run=client -o json`).

use std::path::Path;

use flotilla_e2e::{kubectl_at, ok, ApiServer};
use serde_json::Value;

const KUBECTLS: [&str; 2] = [
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.32",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
];

/// What the server makes of the JSON form `want` of an object on create
/// (the kind's API defaults and create step, with the uid it gave `got`):
/// a protobuf body must come to the same.
fn as_created(mut want: Value, got: &Value) -> Value {
    let registry = federation_apiserver::rest::registry::Registry::builtin();
    let rt = registry
        .all()
        .iter()
        .find(|t| t.kind == want["kind"])
        .unwrap_or_else(|| panic!("a built-in kind: {want}"))
        .clone();
    want["metadata"]["uid"] = got["metadata"]["uid"].clone();
    for rewrite in [rt.strategy.normalize, rt.strategy.on_create]
        .into_iter()
        .flatten()
    {
        rewrite(&mut want);
    }
    want
}

fn json(stdout: String) -> Value {
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn check_version(server: &ApiServer, kubectl: &str) {
    let kubeconfig = server.kubeconfig();
    let run = |args: &[&str]| ok(kubectl_at(kubectl, &kubeconfig, args, None));
    let version = kubectl.rsplit('.').next().unwrap();
    let ns = format!("pb-1-{version}");

    // -v=7 logs the request headers: the body really is protobuf.
    let created = kubectl_at(
        kubectl,
        &kubeconfig,
        &["create", "namespace", &ns, "-v=7"],
        None,
    );
    let log = String::from_utf8_lossy(&created.stderr).to_string();
    assert!(ok(created).contains("created"));
    assert!(
        log.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "kubectl {version} did not send protobuf: {log}"
    );
    let got = json(run(&["get", "namespace", &ns, "-o", "json"]));
    assert_eq!(got["metadata"]["name"], ns.as_str());
    assert_eq!(got["status"]["phase"], "Active", "{got}");

    // (resource, name, `kubectl create` arguments).
    let cases: [(&str, &str, &[&str]); 10] = [
        ("configmap", "c", &["configmap", "c", "--from-literal=a=b"]),
        (
            "secret",
            "s",
            &["secret", "generic", "s", "--from-literal=p=q"],
        ),
        (
            "deployment",
            "web",
            &[
                "deployment",
                "web",
                "--image=nginx:1",
                "--replicas=2",
                "--port=80",
            ],
        ),
        (
            "service",
            "svc",
            &["service", "clusterip", "svc", "--tcp=80:8080"],
        ),
        (
            "service",
            "np",
            &[
                "service",
                "nodeport",
                "np",
                "--tcp=5678:8080",
                "--node-port=30080",
            ],
        ),
        (
            "job",
            "j",
            &["job", "j", "--image=busybox", "--", "echo", "hi"],
        ),
        (
            "cronjob",
            "cj",
            &[
                "cronjob",
                "cj",
                "--image=busybox",
                "--schedule=*/5 * * * *",
                "--",
                "date",
            ],
        ),
        (
            "ingress",
            "ing",
            &[
                "ingress",
                "ing",
                "--rule=foo.com/bar*=svc:8080,tls=cert",
                "--class=nginx",
            ],
        ),
        (
            "poddisruptionbudget",
            "pdb",
            &[
                "poddisruptionbudget",
                "pdb",
                "--selector=app=x",
                "--min-available=50%",
            ],
        ),
        ("serviceaccount", "sa", &["serviceaccount", "sa"]),
    ];
    for (resource, name, create) in cases {
        let what = format!("kubectl {version} create {}", create.join(" "));
        // Flags go before the create arguments: `job` and `cronjob` end with a command.
        let run_create = |extra: &[&str]| {
            let mut args = vec!["-n", ns.as_str(), "create"];
            args.extend(extra);
            args.extend(create);
            run(&args)
        };
        let out = run_create(&[]);
        assert!(out.contains("created"), "{what}: {out}");
        let got = json(run(&["get", resource, name, "-n", &ns, "-o", "json"]));
        let want = as_created(json(run_create(&["--dry-run=client", "-o", "json"])), &got);
        assert_eq!(got["metadata"]["name"], name, "{what}: {got}");
        assert_eq!(got["metadata"]["namespace"], ns.as_str(), "{what}");
        assert!(got["metadata"]["uid"].is_string(), "{what}: {got}");
        assert_eq!(
            got["metadata"]["labels"], want["metadata"]["labels"],
            "{what}"
        );
        // Go's zero values for non-pointer fields travel in protobuf but not
        // in JSON: the decoder must not let them show.
        for field in ["apiVersion", "kind", "spec", "data", "type"] {
            // The server defaults a Secret's missing type, as Kubernetes does.
            let expected = match (resource, field, &want[field]) {
                ("secret", "type", Value::Null) => Value::from("Opaque"),
                _ => want[field].clone(),
            };
            assert_eq!(
                got[field], expected,
                "{what}: {field}\ngot: {got}\nwant: {want}"
            );
        }
        match resource {
            "secret" => assert_eq!(got["data"]["p"], "cQ==", "{what}: base64 of q"),
            "configmap" => assert_eq!(got["data"]["a"], "b", "{what}"),
            "deployment" => {
                assert_eq!(got["spec"]["replicas"], 2, "{what}");
                let c = &got["spec"]["template"]["spec"]["containers"][0];
                assert_eq!(c["image"], "nginx:1", "{what}");
                assert_eq!(c["ports"][0]["containerPort"], 80, "{what}");
                assert_eq!(
                    got["spec"]["template"]["metadata"]["labels"]["app"], "web",
                    "{what}"
                );
                assert_eq!(got["metadata"]["generation"], 1, "{what}");
            }
            "service" if name == "svc" => {
                let port = &got["spec"]["ports"][0];
                assert_eq!(
                    (port["port"].as_i64(), port["targetPort"].as_i64()),
                    (Some(80), Some(8080))
                );
                assert_eq!(got["spec"]["type"], "ClusterIP", "{what}");
            }
            _ => {}
        }
    }
    // An existing name is still 409 AlreadyExists through the protobuf path
    // (1.32 prints the message without the reason).
    let again = kubectl_at(
        kubectl,
        &kubeconfig,
        &["create", "configmap", "c", "-n", &ns],
        None,
    );
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("\"c\" already exists"), "{err}");
}

#[test]
fn kubectl_create_with_protobuf_bodies() {
    let server = ApiServer::start().expect("server starts");
    let mut ran = 0;
    for kubectl in KUBECTLS {
        if !Path::new(kubectl).exists() {
            eprintln!("skipping {kubectl}: not installed");
            continue;
        }
        check_version(&server, kubectl);
        ran += 1;
    }
    if ran == 0 {
        eprintln!("no kubectl 1.32/1.33 found: nothing tested");
    }
}
