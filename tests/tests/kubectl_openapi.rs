//! OpenAPI with the real kubectl binaries (1.27–1.33): `create -f` and
//! `apply -f` without `--validate=false`, `kubectl explain`, and
//! server-side field validation (`fieldValidation=Strict|Warn|Ignore`,
//! which kubectl maps from `--validate=strict|warn|false`).

use std::path::Path;
use std::process::Output;

use flotilla_e2e::{kubectl_at, ApiServer};

/// Where the versioned kubectl binaries live on these machines.
const VERSIONED_KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

fn versioned_kubectls() -> Vec<(u32, String)> {
    (27..=33)
        .map(|minor| (minor, format!("{VERSIONED_KUBECTL_DIR}/kubectl.1.{minor}")))
        .filter(|(minor, path)| {
            let present = Path::new(path).exists();
            if !present {
                eprintln!("skipping kubectl 1.{minor}: {path} is not installed");
            }
            present
        })
        .collect()
}

fn deployment(name: &str, replicas_field: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
spec:
  {replicas_field}: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: main
        image: nginx:1.27
"#
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// One kubectl binary with its own discovery/OpenAPI cache directory.
struct Kubectl<'a> {
    minor: u32,
    binary: &'a str,
    kubeconfig: &'a Path,
    cache: String,
}

impl Kubectl<'_> {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut all = vec!["--cache-dir", &self.cache];
        all.extend_from_slice(args);
        kubectl_at(self.binary, self.kubeconfig, &all, stdin)
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> (String, String) {
        let output = self.run(args, stdin);
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert!(
            output.status.success(),
            "kubectl 1.{} {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}",
            self.minor
        );
        (stdout, stderr)
    }
}

#[test]
fn openapi_documents_are_served() {
    let server = ApiServer::start().expect("server");
    let https = server.https();
    let v2 = https.get("/openapi/v2").unwrap();
    assert_eq!(v2.status, 200);
    assert_eq!(
        v2.headers["content-type"],
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    assert!(v2.body.is_empty());
    let root = https.get("/openapi/v3").unwrap();
    assert_eq!(root.status, 200);
    let url = root.json()["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .expect("apps/v1 listed")
        .to_string();
    let apps = https.get(&url).unwrap();
    assert_eq!(apps.status, 200);
    assert!(apps.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let document = apps.json();
    let patch =
        &document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    assert!(document["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    assert_eq!(https.get("/openapi/v3/apis/nope/v1").unwrap().status, 404);
}

#[test]
fn kubectl_validates_and_explains_with_openapi() {
    let binaries = versioned_kubectls();
    if binaries.is_empty() {
        eprintln!("no versioned kubectl under {VERSIONED_KUBECTL_DIR}: nothing to run");
        return;
    }
    let server = ApiServer::start().expect("server");
    let kubeconfig = server.kubeconfig();
    let scratch = tempfile::tempdir().unwrap();
    for (minor, binary) in &binaries {
        let kubectl = Kubectl {
            minor: *minor,
            binary,
            kubeconfig: &kubeconfig,
            cache: scratch
                .path()
                .join(format!("cache-{minor}"))
                .display()
                .to_string(),
        };
        let v = format!("v{minor}");

        // create -f - (YAML on stdin) without --validate=false.
        let configmap = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{v}\n  namespace: default\ndata:\n  color: blue\n"
        );
        let (out, _) = kubectl.ok(&["create", "-f", "-"], Some(&configmap));
        assert!(out.contains(&format!("configmap/cm-{v} created")), "{out}");

        // apply -f of a new object (create through apply).
        let file = scratch.path().join(format!("web-{v}.yaml"));
        std::fs::write(&file, deployment(&format!("web-{v}"), "replicas")).unwrap();
        let (out, _) = kubectl.ok(&["apply", "-f", file.to_str().unwrap()], None);
        assert!(
            out.contains(&format!("deployment.apps/web-{v} created")),
            "{out}"
        );
        let (replicas, _) = kubectl.ok(
            &[
                "get",
                "deployment",
                &format!("web-{v}"),
                "-o",
                "jsonpath={.spec.replicas}",
            ],
            None,
        );
        assert_eq!(replicas, "2");

        // explain (from the OpenAPI v3 documents; 1.27/1.28 use them too).
        let (out, _) = kubectl.ok(&["explain", "deployment.spec.replicas"], None);
        assert!(out.contains("Number of desired pods"), "1.{minor}: {out}");

        // An unknown field: Strict (kubectl's default) fails with the server's
        // strict decoding error; warn stores without it and warns; false ignores.
        let bad = deployment(&format!("bad-{v}"), "replicaz");
        let strict = kubectl.run(&["create", "-f", "-"], Some(&bad));
        assert!(
            !strict.status.success(),
            "1.{minor}: unknown field accepted"
        );
        let stderr = text(&strict.stderr);
        assert!(
            stderr.contains(r#"strict decoding error: unknown field "spec.replicaz""#),
            "1.{minor}: {stderr}"
        );
        let applied = kubectl.run(&["apply", "-f", "-"], Some(&bad));
        assert!(
            !applied.status.success(),
            "1.{minor}: apply accepted an unknown field"
        );
        let (_, warnings) = kubectl.ok(&["create", "-f", "-", "--validate=warn"], Some(&bad));
        assert!(
            warnings.contains(r#"Warning: unknown field "spec.replicaz""#),
            "1.{minor}: {warnings}"
        );
        let (spec, _) = kubectl.ok(
            &[
                "get",
                "deployment",
                &format!("bad-{v}"),
                "-o",
                "jsonpath={.spec}",
            ],
            None,
        );
        assert!(!spec.contains("replicaz"), "{spec}");
        kubectl.ok(&["delete", "deployment", &format!("bad-{v}")], None);
        let (_, warnings) = kubectl.ok(&["create", "-f", "-", "--validate=false"], Some(&bad));
        assert!(!warnings.contains("unknown field"), "1.{minor}: {warnings}");
    }
}

#[test]
fn kubectl_explain_whole_kinds() {
    let binaries = versioned_kubectls();
    let Some((minor, binary)) = binaries.iter().find(|(minor, _)| *minor >= 29) else {
        eprintln!("no kubectl 1.29+ installed: nothing to run");
        return;
    };
    let server = ApiServer::start().expect("server");
    let scratch = tempfile::tempdir().unwrap();
    let kubeconfig = server.kubeconfig();
    let kubectl = Kubectl {
        minor: *minor,
        binary,
        kubeconfig: &kubeconfig,
        cache: scratch.path().display().to_string(),
    };
    let (out, _) = kubectl.ok(&["explain", "configmap"], None);
    assert!(out.contains("KIND:       ConfigMap"), "{out}");
    assert!(out.contains("ConfigMap holds configuration data"), "{out}");
    assert!(out.contains("binaryData"), "{out}");
    let (out, _) = kubectl.ok(&["explain", "deploy", "--recursive"], None);
    for field in [
        "replicas",
        "containers",
        "imagePullPolicy",
        "ownerReferences",
    ] {
        assert!(out.contains(field), "{field} missing from:\n{out}");
    }
    let (out, _) = kubectl.ok(&["explain", "hpa.spec.metrics"], None);
    assert!(out.contains("autoscaling"), "{out}");
}
