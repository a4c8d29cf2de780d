//! CustomResourceDefinitions end to end: a CRD starts serving its resource
//! (discovery, OpenAPI, tables, schema validation, /status, /scale), keeps
//! serving it across a restart, and takes its objects with it when deleted.

use std::time::Duration;

use flotilla_e2e::{kubectl_at, ok, wait_for, ApiServer};
use serde_json::{json, Value};

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A widget of the example company.
        properties:
          spec:
            type: object
            description: What the widget should look like.
            properties:
              color:
                type: string
                description: The widget's color.
                enum: [red, green, blue]
              replicas:
                type: integer
                minimum: 0
                maximum: 100
              selector:
                type: string
          status:
            type: object
            properties:
              replicas:
                type: integer
              phase:
                type: string
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .spec.selector
    additionalPrinterColumns:
    - name: Color
      type: string
      jsonPath: .spec.color
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

fn widget(name: &str, color: &str, replicas: i64) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n  color: {color}\n  replicas: {replicas}\n  selector: app={name}\n"
    )
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";

fn wait_served(server: &ApiServer) {
    wait_for(Duration::from_secs(15), "widgets in api-resources", || {
        let out = server.kubectl(&["api-resources", "--api-group=example.com"]);
        (out.status.success() && String::from_utf8_lossy(&out.stdout).contains("widgets"))
            .then_some(())
    })
    .unwrap();
}

/// kubectl binaries 1.27..1.33 present on this machine.
fn kubectls() -> Vec<String> {
    (27..=33)
        .map(|m| format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{m}"))
        .filter(|p| std::path::Path::new(p).exists())
        .collect()
}

#[test]
fn crd_lifecycle_with_kubectl() {
    let mut server = ApiServer::start().unwrap();
    let h = server.https();
    ok(server.kubectl_stdin(&["apply", "-f", "-"], CRD));
    wait_served(&server);

    let crd = h
        .get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
        .unwrap()
        .json();
    let conditions = crd["status"]["conditions"].as_array().unwrap();
    for t in ["Established", "NamesAccepted"] {
        assert!(
            conditions
                .iter()
                .any(|c| c["type"] == t && c["status"] == "True"),
            "{crd}"
        );
    }
    assert!(crd["metadata"]["finalizers"]
        .as_array()
        .unwrap()
        .contains(&json!("customresourcecleanup.apiextensions.k8s.io")));
    let crds = ok(server.kubectl(&["get", "crd"]));
    assert!(
        crds.contains("CREATED AT") && crds.contains("widgets.example.com"),
        "{crds}"
    );

    // apply twice: created, then configured.
    let out = ok(server.kubectl_stdin(&["apply", "-f", "-"], &widget("w1", "red", 1)));
    assert!(out.contains("widget.example.com/w1 created"), "{out}");
    let out = ok(server.kubectl_stdin(&["apply", "-f", "-"], &widget("w1", "blue", 2)));
    assert!(out.contains("widget.example.com/w1 configured"), "{out}");

    // Printer columns through the short name.
    let table = ok(server.kubectl(&["get", "wd"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "COLOR", "REPLICAS", "AGE"], "{table}");
    assert!(table.contains("w1") && table.contains("blue"), "{table}");
    let all = ok(server.kubectl(&["get", "all"]));
    assert!(all.contains("widget.example.com/w1"), "{all}");

    // explain reads the CRD's schema.
    let explain = ok(server.kubectl(&["explain", "widget.spec"]));
    assert!(
        explain.contains("color") && explain.contains("The widget's color"),
        "{explain}"
    );

    // Schema violations: 422 with the field named.
    let bad = server.kubectl_stdin(&["apply", "-f", "-"], &widget("w2", "purple", 1));
    assert!(!bad.status.success());
    assert!(text(&bad).contains("spec.color"), "{}", text(&bad));
    let r = h
        .post_json(
            WIDGETS,
            &json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w3"}, "spec": {"replicas": -1}}),
        )
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["details"]["causes"][0]["field"], "spec.replicas");

    // Unknown fields: Strict fails, Warn warns and drops.
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w4"}, "spec": {"color": "red", "size": 3}});
    let r = h
        .post_json(&format!("{WIDGETS}?fieldValidation=Strict"), &obj)
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains(r#"unknown field \"spec.size\""#),
        "{}",
        r.text()
    );
    let r = h.post_json(WIDGETS, &obj).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.json()["spec"].get("size").is_none());
    let warning = r
        .headers
        .get("warning")
        .map(|v| v.to_str().unwrap().to_string());
    assert!(
        warning.unwrap_or_default().contains("spec.size"),
        "{:?}",
        r.headers
    );

    // JSON patch and server-side apply.
    let r = h
        .patch(
            &format!("{WIDGETS}/w4"),
            "application/json-patch+json",
            &json!([{"op": "replace", "path": "/spec/color", "value": "blue"}]),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["spec"]["color"], "blue");
    let out = ok(server.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &widget("ssa", "red", 1),
    ));
    assert!(out.contains("serverside-applied"), "{out}");
    let out = ok(server.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &widget("ssa", "green", 1),
    ));
    assert!(out.contains("serverside-applied"), "{out}");
    let ssa = h.get(&format!("{WIDGETS}/ssa")).unwrap().json();
    assert_eq!(ssa["spec"]["color"], "green");
    assert!(
        ssa["metadata"]["managedFields"]
            .to_string()
            .contains("kubectl"),
        "{ssa}"
    );
    let strict = server.kubectl_stdin(
        &["create", "-f", "-"],
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w5\nspec:\n  colour: red\n",
    );
    assert!(!strict.status.success(), "{}", text(&strict));
    assert!(text(&strict).contains("colour"), "{}", text(&strict));

    // merge patch works, strategic merge patch is 415.
    ok(server.kubectl(&[
        "patch",
        "widget",
        "w1",
        "--type=merge",
        "-p",
        r#"{"spec":{"color":"green"}}"#,
    ]));
    let w1 = h.get(&format!("{WIDGETS}/w1")).unwrap().json();
    assert_eq!(w1["spec"]["color"], "green");
    let r = h
        .patch(
            &format!("{WIDGETS}/w1"),
            "application/strategic-merge-patch+json",
            &json!({"spec": {"color": "red"}}),
        )
        .unwrap();
    assert_eq!(r.status, 415, "{}", r.text());
    assert_eq!(r.json()["reason"], "UnsupportedMediaType", "{}", r.text());
    let smp = server.kubectl(&[
        "patch",
        "widget",
        "w1",
        "--type=strategic",
        "-p",
        r#"{"spec":{"color":"red"}}"#,
    ]);
    assert!(!smp.status.success());
    // kubectl words a 415 on a patch itself, around the server's message:
    // strategic merge patch is not supported for custom resources (there
    // is no patch metadata for them).
    let stderr = String::from_utf8_lossy(&smp.stderr);
    assert_eq!(
        stderr.trim_end(),
        "error: application/strategic-merge-patch+json is not supported by example.com/v1, \
         Kind=Widget: the patch type application/strategic-merge-patch+json is not supported \
         yet; use --type=merge or --type=json",
        "{stderr}"
    );
    assert_eq!(
        h.get(&format!("{WIDGETS}/w1")).unwrap().json()["spec"]["color"],
        "green",
        "a refused patch changed the object"
    );

    // /status: the main resource ignores status, /status changes only status.
    let mut w1 = h.get(&format!("{WIDGETS}/w1")).unwrap().json();
    w1["status"] = json!({"phase": "Forged"});
    let r = h.put_json(&format!("{WIDGETS}/w1"), &w1).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["status"].get("phase").is_none(), "{}", r.text());
    let r = h
        .patch(
            &format!("{WIDGETS}/w1/status"),
            "application/merge-patch+json",
            &json!({"status": {"phase": "Ready", "replicas": 2}, "spec": {"color": "red"}}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"]["phase"], "Ready");
    assert_eq!(r.json()["spec"]["color"], "green");

    // /scale at the CRD's paths.
    let scale = h.get(&format!("{WIDGETS}/w1/scale")).unwrap().json();
    assert_eq!(scale["spec"]["replicas"], 2, "{scale}");
    assert_eq!(scale["status"]["replicas"], 2, "{scale}");
    assert_eq!(scale["status"]["selector"], "app=w1", "{scale}");
    ok(server.kubectl(&["scale", "widget/w1", "--replicas=5"]));
    // /scale goes through the CRD schema like any write.
    let too_many = server.kubectl(&["scale", "widget/w1", "--replicas=500"]);
    assert!(
        !too_many.status.success(),
        "the schema allows at most 100 replicas"
    );
    assert!(
        String::from_utf8_lossy(&too_many.stderr).contains("less than or equal to 100"),
        "{}",
        String::from_utf8_lossy(&too_many.stderr)
    );
    let w1 = h.get(&format!("{WIDGETS}/w1")).unwrap().json();
    assert_eq!(w1["spec"]["replicas"], 5);

    // Every served version reads the same object, with its own apiVersion.
    let beta = h
        .get("/apis/example.com/v1beta1/namespaces/default/widgets/w1")
        .unwrap();
    assert_eq!(beta.status, 200, "{}", beta.text());
    assert_eq!(beta.json()["apiVersion"], "example.com/v1beta1");
    assert_eq!(beta.json()["spec"]["replicas"], 5);
    let beta_w1 = "/apis/example.com/v1beta1/namespaces/default/widgets/w1";
    let r = h
        .patch(
            beta_w1,
            "application/merge-patch+json",
            &json!({"spec": {"extra": 1}}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["apiVersion"], "example.com/v1beta1");
    let body = br#"{"apiVersion":"example.com/v1beta1","kind":"Widget","metadata":{"name":"w1"},"spec":{"note":"hi"}}"#;
    let r = h
        .request(
            "PATCH",
            &format!("{beta_w1}?fieldManager=beta"),
            Some("application/apply-patch+yaml"),
            body,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["spec"]["note"], "hi");
    let v1 = h.get(&format!("{WIDGETS}/w1")).unwrap().json();
    assert_eq!(v1["apiVersion"], "example.com/v1");
    assert_eq!(v1["spec"]["replicas"], 5);
    let r = h
        .post_json(
            "/apis/example.com/v1beta1/namespaces/default/widgets",
            &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w6"}}),
        )
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());

    // Every kubectl version: apply, get, explain.
    for (i, kubectl) in kubectls().iter().enumerate() {
        let name = format!("v{i}");
        let out = kubectl_at(
            kubectl,
            &server.kubeconfig(),
            &["apply", "-f", "-"],
            Some(&widget(&name, "red", 1)),
        );
        assert!(out.status.success(), "{kubectl}: {}", text(&out));
        let out = kubectl_at(kubectl, &server.kubeconfig(), &["get", "wd", &name], None);
        assert!(text(&out).contains("COLOR"), "{kubectl}: {}", text(&out));
        let out = kubectl_at(
            kubectl,
            &server.kubeconfig(),
            &["explain", "widgets.spec"],
            None,
        );
        assert!(text(&out).contains("color"), "{kubectl}: {}", text(&out));
    }

    // A restart rebuilds the registry from storage.
    server.terminate().unwrap();
    server.launch().unwrap();
    let h = server.https();
    let r = h.get(&format!("{WIDGETS}/w1")).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(ok(server.kubectl(&["get", "wd"])).contains("w1"));

    // Deleting the CRD removes its objects, discovery entries and paths.
    ok(server.kubectl(&["create", "namespace", "other"]));
    ok(server.kubectl_stdin(
        &["apply", "-n", "other", "-f", "-"],
        &widget("elsewhere", "red", 1),
    ));
    ok(server.kubectl(&["delete", "crd", "widgets.example.com"]));
    wait_for(Duration::from_secs(15), "the CRD to go", || {
        let r = h
            .get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
            .ok()?;
        (r.status == 404).then_some(())
    })
    .unwrap();
    assert_eq!(h.get(WIDGETS).unwrap().status, 404);
    let groups: Value = h.get("/apis").unwrap().json();
    assert!(!groups.to_string().contains("example.com"), "{groups}");
    let out = server.kubectl(&["api-resources"]);
    assert!(!text(&out).contains("widgets"), "{}", text(&out));

    // Recreated, the resource starts empty.
    ok(server.kubectl_stdin(&["apply", "-f", "-"], CRD));
    wait_served(&server);
    let list = h.get("/apis/example.com/v1/widgets").unwrap().json();
    assert_eq!(list["items"], json!([]), "{list}");
}

#[test]
fn invalid_crds_are_rejected_and_conflicts_not_served() {
    let server = ApiServer::start().unwrap();
    let h = server.https();
    let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let crd = |name: &str, group: &str, plural: &str, kind: &str| {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": group, "scope": "Cluster",
                "names": {"plural": plural, "kind": kind},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
    };
    let r = h
        .post_json(
            path,
            &crd("wrong.example.com", "example.com", "things", "Thing"),
        )
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("spec.names.plural+\\\".\\\"+spec.group"),
        "{}",
        r.text()
    );

    let r = h
        .post_json(path, &crd("things.example", "example", "things", "Thing"))
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    let mut no_storage = crd("things.example.com", "example.com", "things", "Thing");
    no_storage["spec"]["versions"][0]["storage"] = json!(false);
    no_storage["spec"]["scope"] = json!("Everywhere");
    let r = h.post_json(path, &no_storage).unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    let fields: Vec<Value> = r.json()["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].clone())
        .collect();
    assert!(
        fields.contains(&json!("spec.scope")) && fields.contains(&json!("spec.versions")),
        "{fields:?}"
    );

    // Claiming a built-in (`ingresses` in `networking.k8s.io`) is refused:
    // a CRD can never shadow, nor on deletion clean up, built-in objects.
    let ing = "/apis/networking.k8s.io/v1/namespaces/default/ingresses";
    let r = h
        .post_json(
            ing,
            &json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web"}, "spec": {}}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let taken = "ingresses.networking.k8s.io";
    let r = h
        .post_json(
            path,
            &crd(taken, "networking.k8s.io", "ingresses", "Ingress2"),
        )
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("is a built-in resource"), "{}", r.text());
    assert_eq!(h.get(&format!("{path}/{taken}")).unwrap().status, 404);
    let resources = h.get("/apis/networking.k8s.io/v1").unwrap().json();
    assert!(!resources.to_string().contains("Ingress2"), "{resources}");
    assert_eq!(h.get(&format!("{ing}/web")).unwrap().status, 200);
}
