//! `/scale`, `kubectl scale`, `rollout status`, `wait --for=condition` and
//! `describe` (with its events lookup) against the federation endpoint.

use flotilla_e2e::{ok, ApiServer};
use serde_json::{json, Value};

fn deployment(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn kubectl_scale_changes_replicas_through_the_scale_subresource() {
    let server = ApiServer::start().unwrap();
    let h = server.https();
    let path = "/apis/apps/v1/namespaces/default/deployments";
    assert_eq!(
        h.post_json(path, &deployment("web", 1)).unwrap().status,
        201
    );

    let scale = h.get(&format!("{path}/web/scale")).unwrap();
    assert_eq!(scale.status, 200, "{}", scale.text());
    let scale = scale.json();
    assert_eq!(
        (scale["apiVersion"].as_str(), scale["kind"].as_str()),
        (Some("autoscaling/v1"), Some("Scale"))
    );
    assert_eq!(scale["spec"]["replicas"], 1);
    assert_eq!(scale["status"]["selector"], "app=web");

    ok(server.kubectl(&["scale", "deployment/web", "--replicas=4"]));
    let d = h.get(&format!("{path}/web")).unwrap().json();
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(
        d["metadata"]["generation"], 2,
        "a replica change is a spec change"
    );

    // --current-replicas uses GET/PUT of the Scale with a precondition.
    ok(server.kubectl(&[
        "scale",
        "deployment/web",
        "--current-replicas=4",
        "--replicas=2",
    ]));
    let refused = server.kubectl(&[
        "scale",
        "deployment/web",
        "--current-replicas=7",
        "--replicas=9",
    ]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("Expected replicas to be 7, was 2"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        h.get(&format!("{path}/web")).unwrap().json()["spec"]["replicas"],
        2
    );

    // Bad input: negative replicas is 422 and changes nothing.
    let rv = h.get(&format!("{path}/web")).unwrap().json()["metadata"]["resourceVersion"].clone();
    let bad = h
        .patch(
            &format!("{path}/web/scale"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": -1}}),
        )
        .unwrap();
    assert_eq!(bad.status, 422, "{}", bad.text());
    assert_eq!(
        h.get(&format!("{path}/web")).unwrap().json()["metadata"]["resourceVersion"],
        rv
    );

    // Kinds without /scale answer 404; discovery lists deployments/scale.
    assert_eq!(
        h.get("/api/v1/namespaces/default/configmaps/x/scale")
            .unwrap()
            .status,
        404
    );
    let apps = h.get("/apis/apps/v1").unwrap().json();
    let names: Vec<&str> = apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"deployments/scale"), "{names:?}");
}

#[test]
fn rollout_status_wait_and_describe_follow_the_status() {
    let server = ApiServer::start().unwrap();
    let h = server.https();
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let created = h.post_json(path, &deployment("api", 2)).unwrap().json();
    let generation = created["metadata"]["generation"].clone();

    // Not rolled out yet: rollout status waits, and times out.
    let pending = server.kubectl(&["rollout", "status", "deployment/api", "--timeout=1s"]);
    assert!(
        !pending.status.success(),
        "status is empty, rollout cannot be complete"
    );

    let status = json!({"status": {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2,
        "readyReplicas": 2, "availableReplicas": 2,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                       {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}});
    let patched = h
        .patch(
            &format!("{path}/api/status"),
            "application/merge-patch+json",
            &status,
        )
        .unwrap();
    assert_eq!(patched.status, 200, "{}", patched.text());

    let done = ok(server.kubectl(&["rollout", "status", "deployment/api", "--timeout=10s"]));
    assert!(done.contains("successfully rolled out"), "{done}");
    ok(server.kubectl(&[
        "wait",
        "--for=condition=Available",
        "deployment/api",
        "--timeout=10s",
    ]));

    // describe looks up events for the object.
    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "api.1"},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "namespace": "default",
            "uid": created["metadata"]["uid"]},
        "reason": "ScalingReplicaSet", "message": "Scaled up replica set api-1 to 2", "type": "Normal",
        "source": {"component": "flotilla"}, "count": 1});
    assert_eq!(
        h.post_json("/api/v1/namespaces/default/events", &event)
            .unwrap()
            .status,
        201
    );
    let described = ok(server.kubectl(&["describe", "deployment", "api"]));
    assert!(
        described.contains("Name:") && described.contains("api"),
        "{described}"
    );
    assert!(
        described.contains("ScalingReplicaSet"),
        "events are listed: {described}"
    );
}
