//! Strategic merge patch end to end: `kubectl patch` (strategic by default),
//! client-side `kubectl apply` twice (SMP computed from the last-applied
//! annotation), `kubectl set image`, and raw PATCH requests with the exact
//! body kubectl was seen sending, plus the error answers.

use flotilla_e2e::{ok, ApiServer};
use serde_json::{json, Value};

const SMP: &str = "application/strategic-merge-patch+json";

const DEPLOYMENT_V1: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: a
        image: a:1
        env:
        - {name: FOO, value: "1"}
        - {name: BAR, value: "2"}
      - name: b
        image: b:1
"#;

/// The second manifest drops container `b`, env `FOO`, and changes `BAR`.
const DEPLOYMENT_V2: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: a
        image: a:2
        env:
        - {name: BAR, value: "3"}
"#;

fn start() -> ApiServer {
    ApiServer::start().expect("server starts")
}

fn get_deployment(server: &ApiServer, name: &str) -> Value {
    let out = ok(server.kubectl(&["get", "deployment", name, "-n", "default", "-o", "json"]));
    let d = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    without_container_defaults(d)
}

/// `d` without the container fields the server defaults (with their
/// default values), so containers compare with what the patches wrote.
fn without_container_defaults(mut d: Value) -> Value {
    let containers = d["spec"]["template"]["spec"]["containers"].as_array_mut();
    for c in containers
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
    {
        c.retain(|key, value| {
            !matches!(
                (key.as_str(), value.as_str()),
                ("imagePullPolicy", Some("IfNotPresent" | "Always"))
                    | ("terminationMessagePath", Some("/dev/termination-log"))
                    | ("terminationMessagePolicy", Some("File"))
            )
        });
    }
    d
}

fn containers(d: &Value) -> &Value {
    &d["spec"]["template"]["spec"]["containers"]
}

const PATH: &str = "/apis/apps/v1/namespaces/default/deployments/web";

#[test]
fn kubectl_patch_is_strategic_by_default() {
    let server = start();
    ok(server.kubectl_stdin(&["create", "-f", "-", "--validate=false"], DEPLOYMENT_V1));
    // Merging container `a` by name keeps `b` (a merge patch would drop it).
    ok(server.kubectl(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "default",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:9","env":[{"name":"NEW","value":"x"}]}]}}}}"#,
    ]));
    let d = get_deployment(&server, "web");
    assert_eq!(
        containers(&d),
        &json!([
            {"name": "a", "image": "a:9", "env": [{"name": "NEW", "value": "x"},
                {"name": "FOO", "value": "1"}, {"name": "BAR", "value": "2"}]},
            {"name": "b", "image": "b:1"}
        ]),
        "{d}"
    );
    assert_eq!(d["metadata"]["generation"], 2);
    // A $patch: delete directive through kubectl.
    ok(server.kubectl(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "default",
        "--type=strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"b","$patch":"delete"}]}}}}"#,
    ]));
    let d = get_deployment(&server, "web");
    let names: Vec<&str> = containers(&d)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a"]);
    // Malformed directives are 400 BadRequest.
    let out = server.kubectl(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "default",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","$patch":"explode"}]}}}}"#,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BadRequest"), "{stderr}");
}

#[test]
fn raw_patch_with_the_kubectl_wire_body() {
    let server = start();
    ok(server.kubectl_stdin(&["create", "-f", "-", "--validate=false"], DEPLOYMENT_V1));
    let https = server.https();
    let body: Value = serde_json::from_str(
        r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"$setElementOrder/env":[{"name":"BAR"}],"env":[{"name":"BAR","value":"3"},{"$patch":"delete","name":"FOO"}],"image":"a:2","name":"a"},{"$patch":"delete","name":"b"}]}}}}"#,
    )
    .unwrap();
    let r = https.patch(PATH, SMP, &body).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let d = without_container_defaults(r.json());
    assert_eq!(
        containers(&d),
        &json!([{"name": "a", "image": "a:2", "env": [{"name": "BAR", "value": "3"}]}])
    );
    assert!(!d.to_string().contains("$patch"), "{d}");
    // The stored object is the one answered.
    assert_eq!(containers(&get_deployment(&server, "web")), containers(&d));

    // A stale resourceVersion in the patch is a precondition: 409.
    let r = https
        .patch(
            PATH,
            SMP,
            &json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}}),
        )
        .unwrap();
    assert_eq!(r.status, 409, "{}", r.text());
    // Wrong shapes are 422, malformed directives 400, never 500.
    let r = https
        .patch(
            PATH,
            SMP,
            &json!({"spec": {"template": {"spec": {"containers": ["a"]}}}}),
        )
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    let r = https
        .patch(
            PATH,
            SMP,
            &json!({"spec": {"template": {"spec": {"$setElementOrder/containers": 5}}}}),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["reason"], "BadRequest");
    // `$patch: merge` is refused in lists and maps with apimachinery's
    // words (a 400 here; kube-apiserver lets those through as 500s).
    let rv = get_deployment(&server, "web")["metadata"]["resourceVersion"].clone();
    for (patch, words) in [
        (
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}}}),
            "merging lists cannot yet be specified in the patch",
        ),
        (
            json!({"spec": {"template": {"spec": {"nodeSelector": {"$patch": "merge", "a": "b"}}}}}),
            "unknown patch type: merge in map",
        ),
        (
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}}),
            "invalid patch format of retainKeys",
        ),
    ] {
        let r = https.patch(PATH, SMP, &patch).unwrap();
        assert_eq!(r.status, 400, "{patch}: {}", r.text());
        let status = r.json();
        assert_eq!(status["reason"], "BadRequest", "{status}");
        let message = status["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{patch}: {message}");
    }
    let out = server.kubectl(&[
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","$patch":"merge"}]}}}}"#,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.starts_with("Error from server (BadRequest): ")
            && stderr.contains("merging lists cannot yet be specified in the patch"),
        "{stderr}"
    );
    assert_eq!(
        get_deployment(&server, "web")["metadata"]["resourceVersion"],
        rv,
        "a refused patch changed the object"
    );
    // Other kinds: a ConfigMap's finalizers merge as a set.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "finalizers": ["example.com/a"]}, "data": {"k": "v"}});
    let r = https
        .post_json("/api/v1/namespaces/default/configmaps", &cm)
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let r = https
        .patch(
            "/api/v1/namespaces/default/configmaps/c",
            SMP,
            &json!({"metadata": {"finalizers": ["example.com/b"]}, "data": {"k": null, "j": "w"}}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json();
    assert_eq!(
        c["metadata"]["finalizers"],
        json!(["example.com/b", "example.com/a"])
    );
    assert_eq!(c["data"], json!({"j": "w"}));
}

#[test]
fn kubectl_apply_twice_leaves_no_leftovers() {
    let server = start();
    let out = ok(server.kubectl_stdin(&["apply", "-f", "-", "--validate=false"], DEPLOYMENT_V1));
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let d = get_deployment(&server, "web");
    assert_eq!(containers(&d).as_array().unwrap().len(), 2, "{d}");
    assert!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );

    let out = ok(server.kubectl_stdin(&["apply", "-f", "-", "--validate=false"], DEPLOYMENT_V2));
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let d = get_deployment(&server, "web");
    assert_eq!(
        containers(&d),
        &json!([{"name": "a", "image": "a:2", "env": [{"name": "BAR", "value": "3"}]}]),
        "{d}"
    );
    let last: Value = serde_json::from_str(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        last["spec"]["template"]["spec"]["containers"][0]["image"],
        "a:2"
    );

    // Applying the same manifest again changes nothing.
    let before = d["metadata"]["resourceVersion"].clone();
    let out = ok(server.kubectl_stdin(&["apply", "-f", "-", "--validate=false"], DEPLOYMENT_V2));
    assert!(out.contains("deployment.apps/web unchanged"), "{out}");
    assert_eq!(
        get_deployment(&server, "web")["metadata"]["resourceVersion"],
        before
    );

    // And back to the first manifest: container b and env FOO return, in order.
    ok(server.kubectl_stdin(&["apply", "-f", "-", "--validate=false"], DEPLOYMENT_V1));
    let d = get_deployment(&server, "web");
    assert_eq!(
        containers(&d),
        &json!([
            {"name": "a", "image": "a:1", "env": [{"name": "FOO", "value": "1"}, {"name": "BAR", "value": "2"}]},
            {"name": "b", "image": "b:1"}
        ]),
        "{d}"
    );
}

#[test]
fn kubectl_set_image() {
    let server = start();
    ok(server.kubectl_stdin(&["create", "-f", "-", "--validate=false"], DEPLOYMENT_V1));
    let out = ok(server.kubectl(&["set", "image", "deployment/web", "-n", "default", "a=img:2"]));
    assert!(out.contains("image updated"), "{out}");
    let d = get_deployment(&server, "web");
    assert_eq!(containers(&d)[0]["image"], "img:2");
    assert_eq!(containers(&d)[0]["env"].as_array().unwrap().len(), 2);
    assert_eq!(containers(&d)[1], json!({"name": "b", "image": "b:1"}));
}
