//! Server-side apply and managedFields against the real server: kubectl
//! (`apply --server-side`, `--field-manager`, `--force-conflicts`,
//! `--show-managed-fields`, the upgrade from client-side apply, conflicts
//! with `kubectl patch`/`scale`), kube-rs controllers applying to the main
//! resource and to `/status`, and the raw protocol (201 on create, dry run,
//! no-op applies, a required fieldManager).

use flotilla_e2e::{ok, ApiServer};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};

const APPLY: &str = "application/apply-patch+yaml";

fn deployment(replicas: u32, labels: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ssa
  labels: {{{labels}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: a
        image: nginx:1
        ports: [{{containerPort: 80}}]
"#
    )
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn create_namespace(server: &ApiServer, name: &str) {
    let r = server
        .https()
        .post_json(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
}

fn get(server: &ApiServer, path: &str) -> Value {
    let r = server.https().get(path).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// `(manager, operation, subresource)` → fieldsV1 of every managedFields entry.
fn entries(object: &Value) -> Vec<(String, String, Option<String>, Value)> {
    object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or("").to_string(),
                e["operation"].as_str().unwrap_or("").to_string(),
                e["subresource"].as_str().map(str::to_string),
                e["fieldsV1"].clone(),
            )
        })
        .collect()
}

fn owns(object: &Value, manager: &str, path: &[&str]) -> bool {
    entries(object).iter().any(|(m, _, _, fields)| {
        m == manager && path.iter().try_fold(fields, |v, p| v.get(*p)).is_some()
    })
}

const WEB: &str = "/apis/apps/v1/namespaces/ssa/deployments/web";

#[test]
fn kubectl_server_side_apply_conflicts_and_force() {
    let server = ApiServer::start().unwrap();
    create_namespace(&server, "ssa");

    let out = ok(server.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &deployment(2, "app: web, tier: fe"),
    ));
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let web = get(&server, WEB);
    assert_eq!(
        web["metadata"]["labels"],
        json!({"app": "web", "tier": "fe"})
    );
    assert_eq!(entries(&web).len(), 1);
    assert_eq!(entries(&web)[0].0, "kubectl");
    assert_eq!(entries(&web)[0].1, "Apply");
    assert!(owns(&web, "kubectl", &["f:metadata", "f:labels", "f:tier"]));
    assert!(owns(
        &web,
        "kubectl",
        &[
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"a\"}",
            "f:image"
        ]
    ));

    // Re-applying without a label removes it; an unchanged re-apply is a no-op.
    ok(server.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &deployment(2, "app: web"),
    ));
    let web = get(&server, WEB);
    assert_eq!(web["metadata"]["labels"], json!({"app": "web"}));
    let rv = web["metadata"]["resourceVersion"].clone();
    ok(server.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &deployment(2, "app: web"),
    ));
    assert_eq!(
        get(&server, WEB)["metadata"]["resourceVersion"],
        rv,
        "a no-op apply writes nothing"
    );

    // Two managers, two values: a conflict kubectl prints.
    ok(server.kubectl_stdin(
        &["apply", "--server-side", "--field-manager", "a", "-f", "-"],
        &deployment(2, "app: web"),
    ));
    let out = server.kubectl_stdin(
        &["apply", "--server-side", "--field-manager", "b", "-f", "-"],
        &deployment(3, "app: web"),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("error: Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.replicas\nconflicts with \"kubectl\":\n- .spec.replicas"),
        "{err}"
    );
    let out = server.kubectl_stdin(
        &["apply", "--server-side", "--field-manager", "b", "-f", "-"],
        &deployment(3, "app: web"),
    );
    assert!(stderr(&out).contains("--force-conflicts"));

    // --force-conflicts takes ownership from both.
    ok(server.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "b",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &deployment(3, "app: web"),
    ));
    let web = get(&server, WEB);
    assert_eq!(web["spec"]["replicas"], 3);
    assert!(owns(&web, "b", &["f:spec", "f:replicas"]));
    assert!(!owns(&web, "a", &["f:spec", "f:replicas"]));
    assert!(!owns(&web, "kubectl", &["f:spec", "f:replicas"]));
    assert!(
        owns(&web, "a", &["f:metadata", "f:labels", "f:app"]),
        "shared fields stay shared"
    );

    // A later merge patch by another manager moves the field again, and the
    // next apply of a different value conflicts with it.
    ok(server.kubectl(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "ssa",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":4}}"#,
    ]));
    let web = get(&server, WEB);
    assert!(
        owns(&web, "kubectl-patch", &["f:spec", "f:replicas"]),
        "{:?}",
        entries(&web)
    );
    let out = server.kubectl_stdin(
        &["apply", "--server-side", "--field-manager", "b", "-f", "-"],
        &deployment(3, "app: web"),
    );
    assert!(
        stderr(&out).contains("Apply failed with 1 conflict: conflict with \"kubectl-patch\" using apps/v1: .spec.replicas"),
        "{}",
        stderr(&out)
    );

    // kubectl scale goes through /scale: recorded with that subresource.
    ok(server.kubectl(&["scale", "deployment", "web", "-n", "ssa", "--replicas=6"]));
    let web = get(&server, WEB);
    assert!(
        entries(&web).iter().any(|(_, op, sub, f)| op == "Update"
            && sub.as_deref() == Some("scale")
            && f.pointer("/f:spec/f:replicas").is_some()),
        "{:?}",
        entries(&web)
    );

    // kubectl shows managedFields only when asked.
    let yaml = ok(server.kubectl(&[
        "get",
        "deployment",
        "web",
        "-n",
        "ssa",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]));
    assert!(
        yaml.contains("managedFields:")
            && yaml.contains("manager: b")
            && yaml.contains("operation: Apply"),
        "{yaml}"
    );
    let yaml = ok(server.kubectl(&["get", "deployment", "web", "-n", "ssa", "-o", "yaml"]));
    assert!(!yaml.contains("managedFields:"), "{yaml}");
}

#[test]
fn client_side_apply_upgrades_to_server_side_apply() {
    let server = ApiServer::start().unwrap();
    create_namespace(&server, "ssa");
    ok(server.kubectl_stdin(&["apply", "-f", "-"], &deployment(2, "app: web")));
    let web = get(&server, WEB);
    assert!(
        owns(&web, "kubectl-client-side-apply", &["f:spec", "f:replicas"]),
        "{:?}",
        entries(&web)
    );

    // Fields of the last-applied configuration are taken over without a conflict.
    ok(server.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &deployment(5, "app: web"),
    ));
    let web = get(&server, WEB);
    assert_eq!(web["spec"]["replicas"], 5);
    assert!(owns(&web, "kubectl", &["f:spec", "f:replicas"]));
    assert!(!owns(
        &web,
        "kubectl-client-side-apply",
        &["f:spec", "f:replicas"]
    ));
    let last = web["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(last).unwrap()["spec"]["replicas"],
        5,
        "annotation follows the apply"
    );

    // Another manager gets no such pass.
    let out = server.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "other",
            "-f",
            "-",
        ],
        &deployment(7, "app: web"),
    );
    assert!(
        stderr(&out).contains("conflict with \"kubectl\": .spec.replicas"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn raw_apply_protocol() {
    let server = ApiServer::start().unwrap();
    let https = server.https();
    create_namespace(&server, "ssa");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let path = "/api/v1/namespaces/ssa/configmaps/c";

    // fieldManager is required.
    let r = https.patch(path, APPLY, &cm).unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("fieldManager: Required value"),
        "{}",
        r.text()
    );

    // A dry run creates nothing.
    let r = https
        .patch(&format!("{path}?fieldManager=m&dryRun=All"), APPLY, &cm)
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(https.get(path).unwrap().status, 404);

    // Into a missing namespace: 404.
    let r = https
        .patch(
            "/api/v1/namespaces/nope/configmaps/c?fieldManager=m",
            APPLY,
            &cm,
        )
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());

    // Created (201), then updated (200); YAML bodies work too.
    let r = https
        .patch(&format!("{path}?fieldManager=m"), APPLY, &cm)
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: '1'\n  b: '2'\n";
    let r = https
        .request(
            "PATCH",
            &format!("{path}?fieldManager=m"),
            Some(APPLY),
            yaml.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json();
    assert_eq!(c["data"], json!({"a": "1", "b": "2"}));
    let entry = &c["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], "m");
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["apiVersion"], "v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert_eq!(entry["fieldsV1"], json!({"f:data": {"f:a": {}, "f:b": {}}}));

    // Same configuration again: nothing written.
    let rv = c["metadata"]["resourceVersion"].clone();
    let r = https
        .request(
            "PATCH",
            &format!("{path}?fieldManager=m"),
            Some(APPLY),
            yaml.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.json()["metadata"]["resourceVersion"], rv);

    // A plain update records an Update entry for its manager (default: from
    // the User-Agent) and takes the fields it changed.
    let mut changed = r.json();
    changed["data"]["a"] = json!("9");
    let r = https
        .put_json(&format!("{path}?fieldManager=editor"), &changed)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json();
    assert!(owns(&c, "editor", &["f:data", "f:a"]));
    assert!(!owns(&c, "m", &["f:data", "f:a"]));

    // Without fieldManager nor User-Agent, the manager is "unknown".
    let r = https
        .patch(
            path,
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"l": "1"}}}),
        )
        .unwrap();
    assert!(
        owns(&r.json(), "unknown", &["f:metadata", "f:labels", "f:l"]),
        "{}",
        r.text()
    );

    // A conflict is a 409 with FieldManagerConflict causes.
    let r = https
        .patch(&format!("{path}?fieldManager=m"), APPLY, &cm)
        .unwrap();
    assert_eq!(r.status, 409, "{}", r.text());
    let status = r.json();
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"editor\" using v1: .data.a"
    );
    assert_eq!(
        status["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "field": ".data.a", "message": "conflict with \"editor\" using v1"}])
    );
    // force: "m" drops b (it no longer applies it) and takes a back.
    let r = https
        .patch(&format!("{path}?fieldManager=m&force=true"), APPLY, &cm)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json();
    assert_eq!(c["data"], json!({"a": "1"}));
    assert!(
        !entries(&c).iter().any(|e| e.0 == "editor"),
        "editor owns nothing any more: {:?}",
        entries(&c)
    );

    // managedFields cannot be applied.
    let mut bad = cm.clone();
    bad["metadata"]["managedFields"] = json!([{"manager": "x"}]);
    assert_eq!(
        https
            .patch(&format!("{path}?fieldManager=m"), APPLY, &bad)
            .unwrap()
            .status,
        400
    );
}

#[test]
fn kube_rs_controller_applies_spec_and_status() {
    let server = ApiServer::start().unwrap();
    create_namespace(&server, "ssa");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = server.kube_client().await.unwrap();
        let api: Api<Deployment> = Api::namespaced(client, "ssa");
        let params = PatchParams::apply("my-controller");
        let desired = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "a", "image": "a:1"}]}}}
        });
        let d = api
            .patch("web", &params, &Patch::Apply(&desired))
            .await
            .unwrap();
        assert_eq!(d.spec.as_ref().unwrap().replicas, Some(1));
        let status = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "status": {"replicas": 1, "readyReplicas": 1, "observedGeneration": 1,
                       "conditions": [{"type": "Available", "status": "True"}]}
        });
        let d = api
            .patch_status("web", &params, &Patch::Apply(&status))
            .await
            .unwrap();
        let s = d.status.as_ref().unwrap();
        assert_eq!(s.ready_replicas, Some(1));
        assert_eq!(
            d.spec.as_ref().unwrap().replicas,
            Some(1),
            "status apply leaves spec"
        );
        let fields = d.metadata.managed_fields.clone().unwrap();
        let status_entry = fields
            .iter()
            .find(|e| e.subresource.as_deref() == Some("status"))
            .expect("a status entry");
        assert_eq!(status_entry.manager.as_deref(), Some("my-controller"));
        assert_eq!(status_entry.operation.as_deref(), Some("Apply"));
        let v1 = &status_entry.fields_v1.as_ref().unwrap().0;
        assert!(v1.pointer("/f:status/f:readyReplicas").is_some(), "{v1}");
        assert!(
            v1.pointer("/f:status/f:conditions/k:{\"type\":\"Available\"}")
                .is_some(),
            "{v1}"
        );
        assert!(v1.get("f:spec").is_none());
        let main = fields
            .iter()
            .find(|e| e.subresource.is_none())
            .expect("a main entry");
        assert!(main.fields_v1.as_ref().unwrap().0.get("f:status").is_none());

        // Applying the same again changes nothing; a status field the
        // controller stops applying is removed.
        let rv = d.metadata.resource_version.clone();
        let again = api
            .patch_status("web", &params, &Patch::Apply(&status))
            .await
            .unwrap();
        assert_eq!(again.metadata.resource_version, rv);
        let less = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                          "status": {"replicas": 1, "observedGeneration": 1}});
        let d = api
            .patch_status("web", &params, &Patch::Apply(&less))
            .await
            .unwrap();
        let s = d.status.unwrap();
        assert_eq!(s.ready_replicas, None);
        assert!(s.conditions.is_none());
    });
}

/// `fieldValidation` applies to server-side apply too: kubectl's default
/// (Strict) refuses an unknown field, Warn drops it with a warning.
#[test]
fn server_side_apply_validates_fields() {
    let server = ApiServer::start().unwrap();
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: strict}\ndata: {a: \"1\"}\ndataz: {b: \"2\"}\n";
    let refused = server.kubectl_stdin(&["apply", "--server-side", "-f", "-"], manifest);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("strict decoding error: unknown field \"dataz\""),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        server
            .https()
            .get("/api/v1/namespaces/default/configmaps/strict")
            .unwrap()
            .status,
        404
    );
    let warned = server.kubectl_stdin(
        &["apply", "--server-side", "--validate=warn", "-f", "-"],
        manifest,
    );
    assert!(warned.status.success(), "{}", stderr(&warned));
    assert!(
        stderr(&warned).contains("unknown field \"dataz\""),
        "{}",
        stderr(&warned)
    );
    let stored = get(&server, "/api/v1/namespaces/default/configmaps/strict");
    assert_eq!(stored["data"], json!({"a": "1"}));
    assert!(stored.get("dataz").is_none());
}

/// Objects holding non-empty atomic lists (container `args`, `command`) and
/// set-like lists with duplicates can be updated, patched and applied: the
/// managedFields bookkeeping treats such lists as one field.
#[test]
fn updates_of_objects_with_atomic_lists() {
    let server = ApiServer::start().unwrap();
    let h = server.https();
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "args"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "c", "image": "i", "args": ["a", "a", "b"], "command": ["run"]}]}}}});
    assert_eq!(h.post_json(path, &d).unwrap().status, 201);
    let merge = "application/merge-patch+json";
    let labelled = h
        .patch(
            &format!("{path}/args"),
            merge,
            &json!({"metadata": {"labels": {"x": "y"}}}),
        )
        .unwrap();
    assert_eq!(labelled.status, 200, "{}", labelled.text());
    let args = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i", "args": ["z"]}]}}}});
    let changed = h.patch(&format!("{path}/args"), merge, &args).unwrap();
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(
        changed.json()["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["z"])
    );
    ok(server.kubectl(&["scale", "deployment/args", "--replicas=2"]));
    let fin = h
        .patch(
            &format!("{path}/args"),
            merge,
            &json!({"metadata": {"finalizers": ["a/b", "a/b"]}}),
        )
        .unwrap();
    assert_eq!(fin.status, 200, "{}", fin.text());
    let fin = h
        .patch(
            &format!("{path}/args"),
            merge,
            &json!({"metadata": {"finalizers": null}}),
        )
        .unwrap();
    assert_eq!(fin.status, 200, "{}", fin.text());
}
