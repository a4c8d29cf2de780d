//! REST semantics end to end: CRUD for every served kind, server-owned
//! metadata, generation, `/status`, finalizers, namespace deletion,
//! deletecollection, paging, selectors, dry runs, patches, preconditions,
//! discovery and the public endpoints.

use std::collections::BTreeSet;
use std::time::Duration;

use flotilla_e2e::{wait_for, ApiServer, HttpResponse, Https};
use serde_json::{json, Value};

/// One served resource, as a client sees it.
struct Kind {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    has_status: bool,
}

const fn k(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    has_status: bool,
) -> Kind {
    Kind {
        group,
        version,
        plural,
        kind,
        namespaced,
        has_status,
    }
}

/// Every built-in kind the server must serve.
const KINDS: &[Kind] = &[
    k("", "v1", "namespaces", "Namespace", false, true),
    k("", "v1", "configmaps", "ConfigMap", true, false),
    k("", "v1", "secrets", "Secret", true, false),
    k("", "v1", "services", "Service", true, true),
    k("", "v1", "serviceaccounts", "ServiceAccount", true, false),
    k("", "v1", "events", "Event", true, false),
    k("", "v1", "pods", "Pod", true, true),
    k("apps", "v1", "deployments", "Deployment", true, true),
    k("apps", "v1", "statefulsets", "StatefulSet", true, true),
    k("apps", "v1", "daemonsets", "DaemonSet", true, true),
    k("apps", "v1", "replicasets", "ReplicaSet", true, true),
    k(
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        true,
        false,
    ),
    k("batch", "v1", "jobs", "Job", true, true),
    k("batch", "v1", "cronjobs", "CronJob", true, true),
    k(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        true,
    ),
    k(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        true,
    ),
    k(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        true,
    ),
    k("coordination.k8s.io", "v1", "leases", "Lease", true, false),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        false,
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        false,
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        false,
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        false,
    ),
];

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl Kind {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn root(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The verbs discovery lists: namespaces have no deletecollection, as
    /// in Kubernetes.
    fn verbs(&self) -> BTreeSet<String> {
        VERBS
            .iter()
            .filter(|v| !(self.plural == "namespaces" && **v == "deletecollection"))
            .map(|v| v.to_string())
            .collect()
    }

    /// The collection in `ns` (namespaced kinds) or the cluster-wide one.
    fn collection(&self, ns: Option<&str>) -> String {
        match ns {
            Some(ns) if self.namespaced => {
                format!("{}/namespaces/{ns}/{}", self.root(), self.plural)
            }
            _ => format!("{}/{}", self.root(), self.plural),
        }
    }

    /// A minimal valid object of this kind.
    fn minimal(&self, name: &str) -> Value {
        let pod = json!({"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}});
        let selector = json!({"matchLabels": {"app": name}});
        let extra = match self.plural {
            "configmaps" => json!({"data": {"key": "value"}}),
            "secrets" => json!({"type": "Opaque", "data": {"key": "dmFsdWU="}}),
            "services" => json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}],
                                          "selector": {"app": name}}}),
            "pods" => pod
                .get("spec")
                .map_or(json!({}), |spec| json!({"spec": spec})),
            "events" => {
                json!({"involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "crud"},
                               "reason": "Testing", "message": "hello", "type": "Normal"})
            }
            "deployments" | "daemonsets" | "replicasets" => {
                json!({"spec": {"selector": selector, "template": pod}})
            }
            "statefulsets" => {
                json!({"spec": {"serviceName": name, "selector": selector, "template": pod}})
            }
            "jobs" => json!({"spec": {"template": {"spec": {"restartPolicy": "Never",
                              "containers": [{"name": "c", "image": "busybox"}]}}}}),
            "cronjobs" => json!({"spec": {"schedule": "*/5 * * * *",
                                  "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                                      "containers": [{"name": "c", "image": "busybox"}]}}}}}}),
            "ingresses" => json!({"spec": {"defaultBackend": {"service": {"name": "web",
                                   "port": {"number": 80}}}}}),
            "poddisruptionbudgets" => json!({"spec": {"minAvailable": 1, "selector": selector}}),
            "horizontalpodautoscalers" => json!({"spec": {"scaleTargetRef":
                                   {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                                   "minReplicas": 1, "maxReplicas": 3}}),
            "leases" => json!({"spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}),
            "controllerrevisions" => json!({"revision": 1, "data": {"spec": {"replicas": 1}}}),
            "roles" | "clusterroles" => json!({"rules": [{"apiGroups": [""],
                                   "resources": ["pods"], "verbs": ["get"]}]}),
            "rolebindings" | "clusterrolebindings" => json!({
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]}),
            _ => json!({}),
        };
        let mut object = json!({"apiVersion": self.api_version(), "kind": self.kind, "metadata": {"name": name}});
        for (k, v) in extra.as_object().unwrap() {
            object[k] = v.clone();
        }
        object
    }
}

fn kind(plural: &str) -> &'static Kind {
    KINDS.iter().find(|k| k.plural == plural).unwrap()
}

fn ok(r: HttpResponse, code: u16, what: &str) -> Value {
    assert_eq!(r.status, code, "{what}: {}", r.text());
    r.json()
}

fn expect_status(r: &HttpResponse, code: u16, reason: &str, what: &str) -> Value {
    assert_eq!(r.status, code, "{what}: {}", r.text());
    let s = r.json();
    assert_eq!(s["kind"], "Status", "{what}: {s}");
    assert_eq!(s["apiVersion"], "v1", "{what}: {s}");
    assert_eq!(s["status"], "Failure", "{what}: {s}");
    assert_eq!(s["reason"], reason, "{what}: {s}");
    assert_eq!(s["code"], code, "{what}: {s}");
    s
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
           "data": {"key": "value"}})
}

fn cm_labelled(name: &str, labels: Value) -> Value {
    let mut o = cm(name);
    o["metadata"]["labels"] = labels;
    o
}

fn create_ns(h: &Https, name: &str) {
    let r = h
        .post_json(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "namespace {name}: {}", r.text());
}

fn cms(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/configmaps")
}

fn rv(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("no resourceVersion: {object}"))
        .to_string()
}

fn rv_num(object: &Value) -> u64 {
    rv(object).parse().expect("numeric resourceVersion")
}

/// The store's revision (any list's resourceVersion).
fn store_rv(h: &Https) -> String {
    rv(&ok(
        h.get("/api/v1/namespaces").unwrap(),
        200,
        "list namespaces",
    ))
}

/// Sorted `metadata.name`s of a list body.
fn names(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

fn list_names(h: &Https, path: &str) -> Vec<String> {
    names(&ok(h.get(path).unwrap(), 200, path))
}

#[test]
fn every_kind_supports_create_get_list_update_delete() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    create_ns(&h, "crud");
    for kind in KINDS {
        let what = kind.plural;
        let name = format!("{}-one", kind.kind.to_ascii_lowercase());
        let ns = if kind.namespaced { Some("crud") } else { None };
        let collection = kind.collection(ns);
        let path = format!("{collection}/{name}");

        let created = ok(
            h.post_json(&collection, &kind.minimal(&name)).unwrap(),
            201,
            &format!("create {what}"),
        );
        assert_eq!(created["kind"], kind.kind, "{created}");
        assert_eq!(created["apiVersion"], kind.api_version(), "{created}");
        assert_eq!(created["metadata"]["name"], name.as_str());
        if kind.namespaced {
            assert_eq!(created["metadata"]["namespace"], "crud", "{created}");
        } else {
            assert!(created["metadata"].get("namespace").is_none(), "{created}");
        }
        let uid = created["metadata"]["uid"]
            .as_str()
            .expect("uid")
            .to_string();

        let got = ok(h.get(&path).unwrap(), 200, &format!("get {what}"));
        assert_eq!(got, created, "GET returns what create stored ({what})");

        for list_path in [collection.clone(), kind.collection(None)] {
            let list = ok(h.get(&list_path).unwrap(), 200, &list_path);
            assert_eq!(list["kind"], format!("{}List", kind.kind), "{list_path}");
            assert_eq!(list["apiVersion"], kind.api_version(), "{list_path}");
            assert!(rv_num(&list) >= rv_num(&created), "{list_path}");
            let found: Vec<&Value> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["metadata"]["uid"] == uid.as_str())
                .collect();
            assert_eq!(found.len(), 1, "{list_path} lists {name} once: {list}");
            assert_eq!(found[0], &created);
        }

        let mut changed = got.clone();
        changed["metadata"]["labels"] = json!({"updated": "yes"});
        let updated = ok(
            h.put_json(&path, &changed).unwrap(),
            200,
            &format!("update {what}"),
        );
        assert_eq!(updated["metadata"]["labels"]["updated"], "yes");
        assert_eq!(updated["metadata"]["uid"], uid.as_str());
        assert!(
            rv_num(&updated) > rv_num(&created),
            "update moves the resourceVersion"
        );
        let got = ok(h.get(&path).unwrap(), 200, "get after update");
        assert_eq!(got, updated);

        let deleted = ok(h.delete(&path).unwrap(), 200, &format!("delete {what}"));
        assert_eq!(deleted["metadata"]["uid"], uid.as_str(), "{deleted}");
        if kind.plural == "namespaces" {
            // Namespaces terminate first, then go away.
            wait_for(Duration::from_secs(20), "the namespace to go", || {
                (h.get(&path).unwrap().status == 404).then_some(())
            })
            .unwrap();
        } else {
            expect_status(&h.get(&path).unwrap(), 404, "NotFound", "get after delete");
        }
        assert!(
            !list_names(&h, &collection).contains(&name),
            "{what} {name} still listed after delete"
        );
    }
}

#[test]
fn server_owned_metadata_and_generate_name() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    let before = store_rv(&h).parse::<u64>().unwrap();
    let mut forged = cm("forged");
    forged["metadata"]["uid"] = json!("forged-uid");
    // (A resourceVersion on create is refused: see rest_errors.rs.)
    forged["metadata"]["creationTimestamp"] = json!("2001-01-01T00:00:00Z");
    forged["metadata"]["generation"] = json!(7);
    let created = ok(
        h.post_json(&cms("default"), &forged).unwrap(),
        201,
        "create",
    );
    let meta = &created["metadata"];
    let uid = meta["uid"].as_str().unwrap();
    assert_ne!(uid, "forged-uid");
    assert_eq!(uid.len(), 36, "a UUID: {uid}");
    assert_eq!(uid.matches('-').count(), 4, "a UUID: {uid}");
    let ts = meta["creationTimestamp"].as_str().unwrap();
    assert_ne!(ts, "2001-01-01T00:00:00Z");
    assert!(
        ts.len() == 20 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z'),
        "RFC 3339: {ts}"
    );
    // ConfigMaps do not track generation: as kube-apiserver's generic
    // create, the server leaves the field as sent (updates cannot change it).
    assert_eq!(meta["generation"], 7);
    let rv = rv_num(&created);
    assert!(rv > before, "resourceVersion {rv} after {before}");

    // generateName: a name is generated from the prefix, which is kept.
    let mut generated = Vec::new();
    for _ in 0..3 {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"generateName": "gen-"}, "data": {"a": "b"}});
        let r = h.post_json(&cms("default"), &body).unwrap();
        let created = ok(r, 201, "generateName create");
        let name = created["metadata"]["name"].as_str().unwrap().to_string();
        assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
        assert_eq!(created["metadata"]["generateName"], "gen-");
        assert!(created["metadata"].get("generation").is_none(), "{created}");
        ok(
            h.get(&format!("{}/{name}", cms("default"))).unwrap(),
            200,
            "get generated",
        );
        generated.push(name);
    }
    let unique: BTreeSet<_> = generated.iter().collect();
    assert_eq!(unique.len(), 3, "generated names differ: {generated:?}");
    // A name given with generateName wins.
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "explicit", "generateName": "gen-"}});
    let created = ok(h.post_json(&cms("default"), &body).unwrap(), 201, "named");
    assert_eq!(created["metadata"]["name"], "explicit");
    // generateName works for deployments too.
    let mut d = kind("deployments").minimal("x");
    d["metadata"] = json!({"generateName": "web-", "generation": 9});
    let created = ok(
        h.post_json("/apis/apps/v1/namespaces/default/deployments", &d)
            .unwrap(),
        201,
        "deployment generateName",
    );
    assert!(created["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("web-"));
    assert_eq!(
        created["metadata"]["generation"], 1,
        "a kind that tracks generation starts at 1"
    );
}

#[test]
fn generation_and_the_status_subresource() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    let deploys = "/apis/apps/v1/namespaces/default/deployments";
    let path = format!("{deploys}/web");
    let mut body = kind("deployments").minimal("web");
    body["status"] = json!({"replicas": 9});
    let created = ok(h.post_json(deploys, &body).unwrap(), 201, "create");
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(
        created
            .get("status")
            .is_none_or(|s| s.get("replicas").is_none()),
        "create ignores status: {created}"
    );

    let merge = "application/merge-patch+json";
    let gen = |v: &Value| v["metadata"]["generation"].as_i64().unwrap();
    // Metadata changes do not bump generation.
    let labelled = ok(
        h.patch(
            &path,
            merge,
            &json!({"metadata": {"labels": {"a": "1"}, "annotations": {"n": "x"}}}),
        )
        .unwrap(),
        200,
        "label",
    );
    assert_eq!(gen(&labelled), 1);
    assert!(rv_num(&labelled) > rv_num(&created));
    // Spec changes do, by patch and by update.
    let scaled = ok(
        h.patch(&path, merge, &json!({"spec": {"replicas": 3}}))
            .unwrap(),
        200,
        "scale",
    );
    assert_eq!(gen(&scaled), 2);
    let mut put = scaled.clone();
    put["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    let updated = ok(h.put_json(&path, &put).unwrap(), 200, "update image");
    assert_eq!(gen(&updated), 3);
    let mut relabel = updated.clone();
    relabel["metadata"]["labels"] = json!({"a": "2"});
    let relabelled = ok(h.put_json(&path, &relabel).unwrap(), 200, "relabel");
    assert_eq!(gen(&relabelled), 3);

    // The main resource cannot change status: not by PUT, not by PATCH.
    let mut with_status = relabelled.clone();
    with_status["status"] = json!({"replicas": 5});
    let r = h.put_json(&path, &with_status).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = h
        .patch(&path, merge, &json!({"status": {"replicas": 5}}))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let got = ok(h.get(&path).unwrap(), 200, "get");
    assert!(
        got.get("status")
            .is_none_or(|s| s.get("replicas").is_none()),
        "status changed through the main resource: {got}"
    );
    assert_eq!(gen(&got), 3);

    // /status changes only status.
    let status_path = format!("{path}/status");
    ok(h.get(&status_path).unwrap(), 200, "GET /status");
    let mut status_put = got.clone();
    status_put["status"] = json!({"replicas": 3, "observedGeneration": 3});
    status_put["spec"]["replicas"] = json!(99);
    status_put["metadata"]["labels"] = json!({"from": "status"});
    let r = ok(
        h.put_json(&status_path, &status_put).unwrap(),
        200,
        "PUT /status",
    );
    assert_eq!(r["status"]["replicas"], 3, "{r}");
    assert_eq!(
        r["spec"]["replicas"], 3,
        "/status does not change spec: {r}"
    );
    assert_eq!(
        r["metadata"]["labels"],
        json!({"a": "2"}),
        "nor labels: {r}"
    );
    assert_eq!(gen(&r), 3, "a status write does not bump generation");
    let r = ok(
        h.patch(
            &status_path,
            merge,
            &json!({"status": {"availableReplicas": 3}, "spec": {"replicas": 50}}),
        )
        .unwrap(),
        200,
        "PATCH /status",
    );
    assert_eq!(r["status"]["availableReplicas"], 3);
    assert_eq!(r["status"]["replicas"], 3);
    assert_eq!(
        r["spec"]["replicas"], 3,
        "PATCH /status leaves spec alone: {r}"
    );
    let got = ok(h.get(&path).unwrap(), 200, "get");
    assert_eq!(got["status"]["availableReplicas"], 3);
    assert_eq!(got["spec"]["replicas"], 3);
    // A later spec change keeps the status.
    let r = ok(
        h.patch(&path, merge, &json!({"spec": {"replicas": 4}}))
            .unwrap(),
        200,
        "scale again",
    );
    assert_eq!(r["status"]["replicas"], 3, "{r}");
    assert_eq!(r["spec"]["replicas"], 4);
    assert_eq!(gen(&r), 4);
    // A stale resourceVersion on /status is a conflict.
    let mut stale = status_put.clone();
    stale["metadata"]["resourceVersion"] = json!(rv(&created));
    expect_status(
        &h.put_json(&status_path, &stale).unwrap(),
        409,
        "Conflict",
        "stale /status",
    );

    // ConfigMaps have no /status subresource.
    ok(
        h.post_json(&cms("default"), &cm("plain")).unwrap(),
        201,
        "cm",
    );
    let cm_status = format!("{}/plain/status", cms("default"));
    expect_status(
        &h.get(&cm_status).unwrap(),
        404,
        "NotFound",
        "GET cm /status",
    );
    expect_status(
        &h.put_json(&cm_status, &cm("plain")).unwrap(),
        404,
        "NotFound",
        "PUT cm /status",
    );
    expect_status(
        &h.patch(&cm_status, merge, &json!({"status": {}})).unwrap(),
        404,
        "NotFound",
        "PATCH cm /status",
    );
}

#[test]
fn finalizers_delay_deletion_until_removed() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    let path = format!("{}/held", cms("default"));
    let mut body = cm("held");
    body["metadata"]["finalizers"] = json!(["example.com/hold", "example.com/second"]);
    ok(h.post_json(&cms("default"), &body).unwrap(), 201, "create");

    let marked = ok(h.delete(&path).unwrap(), 200, "delete");
    assert!(
        marked["metadata"]["deletionTimestamp"].is_string(),
        "{marked}"
    );
    let got = ok(h.get(&path).unwrap(), 200, "still there");
    assert_eq!(
        got["metadata"]["deletionTimestamp"],
        marked["metadata"]["deletionTimestamp"]
    );
    assert_eq!(got["data"]["key"], "value");
    assert!(list_names(&h, &cms("default")).contains(&"held".to_string()));
    // Deleting again changes nothing.
    let again = ok(h.delete(&path).unwrap(), 200, "delete again");
    assert_eq!(rv(&again), rv(&got));

    // A deletionTimestamp cannot be cleared by an update.
    let mut cleared = got.clone();
    cleared["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("deletionTimestamp");
    cleared["data"]["key"] = json!("other");
    let r = ok(
        h.put_json(&path, &cleared).unwrap(),
        200,
        "update while terminating",
    );
    assert_eq!(
        r["metadata"]["deletionTimestamp"],
        marked["metadata"]["deletionTimestamp"]
    );

    // Removing one finalizer keeps it; removing the last removes it.
    let r = ok(
        h.patch(
            &path,
            "application/json-patch+json",
            &json!([{"op": "remove", "path": "/metadata/finalizers/1"}]),
        )
        .unwrap(),
        200,
        "drop one finalizer",
    );
    assert_eq!(r["metadata"]["finalizers"], json!(["example.com/hold"]));
    ok(h.get(&path).unwrap(), 200, "still there with one finalizer");
    let r = h
        .patch(
            &path,
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    expect_status(&h.get(&path).unwrap(), 404, "NotFound", "gone");
    assert!(!list_names(&h, &cms("default")).contains(&"held".to_string()));

    // A finalizer on an object that is not being deleted is just data.
    let mut kept = cm("kept");
    kept["metadata"]["finalizers"] = json!(["example.com/hold"]);
    ok(
        h.post_json(&cms("default"), &kept).unwrap(),
        201,
        "create kept",
    );
    let kept_path = format!("{}/kept", cms("default"));
    ok(
        h.patch(
            &kept_path,
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .unwrap(),
        200,
        "drop finalizer",
    );
    ok(
        h.get(&kept_path).unwrap(),
        200,
        "not deleted by losing its finalizer",
    );

    // The write that removes the last finalizer answers with its own result
    // (finalizers gone, the data it set), at the delete's resourceVersion;
    // the DELETED event carries the last stored state, as kube-apiserver's
    // (etcd's previous value) does.
    let mut last = cm("last");
    last["metadata"]["finalizers"] = json!(["x/y"]);
    last["data"] = json!({"v": "1"});
    ok(
        h.post_json(&cms("default"), &last).unwrap(),
        201,
        "create last",
    );
    let last_path = format!("{}/last", cms("default"));
    let marked = ok(h.delete(&last_path).unwrap(), 200, "mark last");
    let r = ok(
        h.patch(
            &last_path,
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}, "data": {"v": "2"}}),
        )
        .unwrap(),
        200,
        "drop the last finalizer and change data",
    );
    assert!(r["metadata"].get("finalizers").is_none(), "{r}");
    assert_eq!(r["data"]["v"], "2", "the response is the final state: {r}");
    assert_eq!(
        r["metadata"]["deletionTimestamp"],
        marked["metadata"]["deletionTimestamp"]
    );
    assert!(rv_num(&r) > rv_num(&marked), "{r}");
    expect_status(&h.get(&last_path).unwrap(), 404, "NotFound", "last gone");
    let replay = h
        .get(&format!(
            "{}?watch=true&fieldSelector=metadata.name%3Dlast&resourceVersion={}&timeoutSeconds=1",
            cms("default"),
            rv(&marked)
        ))
        .unwrap();
    assert_eq!(replay.status, 200, "{}", replay.text());
    let events: Vec<Value> = replay
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "DELETED");
    let gone = &events[0]["object"];
    assert_eq!(
        rv(gone),
        rv(&r),
        "the event and the response share the delete's revision"
    );
    assert_eq!(gone["metadata"]["finalizers"], json!(["x/y"]), "{gone}");
    assert_eq!(gone["data"]["v"], "1", "{gone}");
}

#[test]
fn deleting_a_namespace_empties_it_and_blocks_creates() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    create_ns(&h, "doomed");
    create_ns(&h, "bystander");
    for kind in KINDS.iter().filter(|k| k.namespaced) {
        for ns in ["doomed", "bystander"] {
            let r = h
                .post_json(&kind.collection(Some(ns)), &kind.minimal("thing"))
                .unwrap();
            assert_eq!(r.status, 201, "{} in {ns}: {}", kind.plural, r.text());
        }
    }
    let mut held = cm("held");
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    ok(h.post_json(&cms("doomed"), &held).unwrap(), 201, "held");

    let r = ok(
        h.delete("/api/v1/namespaces/doomed").unwrap(),
        200,
        "delete ns",
    );
    assert!(r["metadata"]["deletionTimestamp"].is_string(), "{r}");
    assert_eq!(r["status"]["phase"], "Terminating", "{r}");

    // Everything without a finalizer goes; the held ConfigMap is marked.
    wait_for(Duration::from_secs(20), "the namespace to empty", || {
        let rest: Vec<String> = KINDS
            .iter()
            .filter(|k| k.namespaced)
            .flat_map(|k| {
                list_names(&h, &k.collection(Some("doomed")))
                    .into_iter()
                    .map(move |n| format!("{}/{n}", k.plural))
            })
            .collect();
        (rest == ["configmaps/held"]).then_some(())
    })
    .unwrap();
    let held = ok(
        h.get(&format!("{}/held", cms("doomed"))).unwrap(),
        200,
        "held",
    );
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    let ns = ok(
        h.get("/api/v1/namespaces/doomed").unwrap(),
        200,
        "ns terminating",
    );
    assert_eq!(ns["status"]["phase"], "Terminating");

    // No new content while it terminates: 403, nothing stored.
    for kind in [kind("configmaps"), kind("deployments"), kind("secrets")] {
        let before = store_rv(&h);
        let s = expect_status(
            &h.post_json(&kind.collection(Some("doomed")), &kind.minimal("late"))
                .unwrap(),
            403,
            "Forbidden",
            &format!("create {} in a terminating namespace", kind.plural),
        );
        assert!(
            s["message"].as_str().unwrap().contains("being terminated"),
            "{s}"
        );
        assert_eq!(store_rv(&h), before, "a refused create changes nothing");
    }
    // Deleting it again is refused while it terminates, as in Kubernetes.
    let again = h.delete("/api/v1/namespaces/doomed").unwrap();
    expect_status(&again, 409, "Conflict", "delete again");
    assert!(
        again.text().contains("ensuring all content is removed"),
        "{}",
        again.text()
    );
    // System namespaces may not be deleted at all.
    let system = h.delete("/api/v1/namespaces/kube-system").unwrap();
    expect_status(&system, 403, "Forbidden", "delete kube-system");

    // The other namespace is untouched.
    for kind in KINDS.iter().filter(|k| k.namespaced) {
        assert_eq!(
            list_names(&h, &kind.collection(Some("bystander"))),
            ["thing"],
            "{} in bystander",
            kind.plural
        );
    }

    // Releasing the last finalizer lets the namespace go.
    ok(
        h.patch(
            &format!("{}/held", cms("doomed")),
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": []}}),
        )
        .unwrap(),
        200,
        "release",
    );
    wait_for(
        Duration::from_secs(20),
        "the namespace to be removed",
        || (h.get("/api/v1/namespaces/doomed").unwrap().status == 404).then_some(()),
    )
    .unwrap();
    assert!(!list_names(&h, "/api/v1/namespaces").contains(&"doomed".to_string()));
    assert!(list_names(&h, &cms("doomed")).is_empty());
    // Now it is simply missing.
    let s = expect_status(
        &h.post_json(&cms("doomed"), &cm("after")).unwrap(),
        404,
        "NotFound",
        "create in the removed namespace",
    );
    assert_eq!(s["details"]["kind"], "namespaces");
    // And can be created afresh, empty.
    create_ns(&h, "doomed");
    assert!(list_names(&h, &cms("doomed")).is_empty());
}

/// A namespace's own `metadata.finalizers` hold it after it is emptied
/// (its `spec.finalizers` `kubernetes` entry is what the emptying removes);
/// the update that removes the last one deletes it, as in Kubernetes.
#[test]
fn a_namespace_waits_for_its_own_finalizers() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    let create_held_ns = |name: &str| {
        let r = h
            .post_json(
                "/api/v1/namespaces",
                &json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": name, "finalizers": ["example.com/ns"]}}),
            )
            .unwrap();
        ok(r, 201, name)
    };
    let created = create_held_ns("held-ns");
    assert_eq!(
        created["spec"]["finalizers"],
        json!(["kubernetes"]),
        "{created}"
    );
    assert_eq!(created["status"]["phase"], "Active", "{created}");
    ok(h.post_json(&cms("held-ns"), &cm("c")).unwrap(), 201, "cm");
    let path = "/api/v1/namespaces/held-ns";
    // spec.finalizers belong to the server (Kubernetes: the /finalize subresource).
    let r = ok(
        h.patch(
            path,
            "application/merge-patch+json",
            &json!({"spec": {"finalizers": []}, "metadata": {"labels": {"a": "b"}}}),
        )
        .unwrap(),
        200,
        "patch spec.finalizers",
    );
    assert_eq!(r["spec"]["finalizers"], json!(["kubernetes"]), "{r}");
    assert_eq!(r["metadata"]["labels"]["a"], "b", "{r}");

    let r = ok(h.delete(path).unwrap(), 200, "delete held-ns");
    assert_eq!(r["status"]["phase"], "Terminating", "{r}");
    // Emptied, then only its own finalizer keeps it: the `kubernetes`
    // finalizer goes, the namespace stays.
    let emptied = wait_for(Duration::from_secs(20), "held-ns to be emptied", || {
        let ns = ok(h.get(path).unwrap(), 200, "held-ns stays while finalized");
        ns["spec"]
            .get("finalizers")
            .is_none_or(|f| f.as_array().is_some_and(Vec::is_empty))
            .then_some(ns)
    })
    .unwrap();
    assert!(list_names(&h, &cms("held-ns")).is_empty());
    assert_eq!(emptied["metadata"]["finalizers"], json!(["example.com/ns"]));
    assert_eq!(emptied["status"]["phase"], "Terminating");
    ok(h.get(path).unwrap(), 200, "still there after emptying");
    // Removing its last finalizer removes it, in that very request.
    let r = ok(
        h.patch(
            path,
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .unwrap(),
        200,
        "release held-ns",
    );
    assert!(r["metadata"].get("finalizers").is_none(), "{r}");
    expect_status(&h.get(path).unwrap(), 404, "NotFound", "held-ns gone");

    // Released before it is empty: it goes once empty.
    create_held_ns("slow-ns");
    let mut held = cm("held");
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    ok(h.post_json(&cms("slow-ns"), &held).unwrap(), 201, "held cm");
    let slow = "/api/v1/namespaces/slow-ns";
    ok(h.delete(slow).unwrap(), 200, "delete slow-ns");
    let r = ok(
        h.patch(
            slow,
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .unwrap(),
        200,
        "release slow-ns early",
    );
    assert_eq!(
        r["spec"]["finalizers"],
        json!(["kubernetes"]),
        "not empty yet: {r}"
    );
    ok(h.get(slow).unwrap(), 200, "slow-ns waits for its content");
    ok(
        h.patch(
            &format!("{}/held", cms("slow-ns")),
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .unwrap(),
        200,
        "release the cm",
    );
    wait_for(Duration::from_secs(20), "slow-ns to go", || {
        (h.get(slow).unwrap().status == 404).then_some(())
    })
    .unwrap();
}

/// Only kinds whose Kubernetes strategy tracks `metadata.generation` have
/// one; it moves on spec changes (and on being marked for deletion), never
/// on metadata changes.
#[test]
fn generation_is_set_only_by_kinds_that_track_it() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    create_ns(&h, "gen");
    const TRACKED: &[&str] = &[
        "pods",
        "deployments",
        "statefulsets",
        "daemonsets",
        "replicasets",
        "jobs",
        "cronjobs",
        "ingresses",
        "poddisruptionbudgets",
    ];
    for kind in KINDS {
        let ns = kind.namespaced.then_some("gen");
        let created = ok(
            h.post_json(&kind.collection(ns), &kind.minimal("g"))
                .unwrap(),
            201,
            kind.plural,
        );
        let want = TRACKED.contains(&kind.plural).then_some(1);
        assert_eq!(
            created["metadata"]["generation"].as_i64(),
            want,
            "{}: {created}",
            kind.plural
        );
    }
    // A ConfigMap: no generation through updates either; a client cannot set one.
    let path = format!("{}/g", cms("gen"));
    let merge = "application/merge-patch+json";
    for patch in [
        json!({"data": {"key": "changed"}}),
        json!({"metadata": {"labels": {"a": "1"}, "generation": 5}}),
    ] {
        let r = ok(h.patch(&path, merge, &patch).unwrap(), 200, "patch cm");
        assert!(r["metadata"].get("generation").is_none(), "{r}");
    }
    let mut put = ok(h.get(&path).unwrap(), 200, "get cm");
    put["data"]["key"] = json!("put");
    put["metadata"]["generation"] = json!(3);
    let r = ok(h.put_json(&path, &put).unwrap(), 200, "put cm");
    assert!(r["metadata"].get("generation").is_none(), "{r}");

    // A Deployment: metadata changes keep it, spec changes bump it, and so
    // does being marked for deletion.
    let deploy = format!("{}/g", kind("deployments").collection(Some("gen")));
    let gen = |v: &Value| v["metadata"]["generation"].as_i64().unwrap();
    let r = ok(
        h.patch(
            &deploy,
            merge,
            &json!({"metadata": {"labels": {"x": "y"}, "finalizers": ["example.com/f"]}}),
        )
        .unwrap(),
        200,
        "label deployment",
    );
    assert_eq!(gen(&r), 1, "{r}");
    let r = ok(
        h.patch(&deploy, merge, &json!({"spec": {"replicas": 4}}))
            .unwrap(),
        200,
        "scale deployment",
    );
    assert_eq!(gen(&r), 2, "{r}");
    let r = ok(h.delete(&deploy).unwrap(), 200, "mark deployment");
    assert_eq!(gen(&r), 3, "marking for deletion bumps generation: {r}");
    // A ConfigMap marked for deletion still has none.
    let mut held = cm("held");
    held["metadata"]["finalizers"] = json!(["example.com/f"]);
    ok(h.post_json(&cms("gen"), &held).unwrap(), 201, "held cm");
    let r = ok(
        h.delete(&format!("{}/held", cms("gen"))).unwrap(),
        200,
        "mark cm",
    );
    assert!(r["metadata"]["deletionTimestamp"].is_string(), "{r}");
    assert!(r["metadata"].get("generation").is_none(), "{r}");
}

/// Secrets: `stringData` is merged into `data` (base64, `stringData` wins)
/// and never stored; `type` defaults to `Opaque` — on create, update,
/// patch and apply.
#[test]
fn secret_string_data_is_merged_into_data() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    let secrets = "/api/v1/namespaces/default/secrets";
    let path = format!("{secrets}/s");
    let created = ok(
        h.post_json(
            secrets,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                    "data": {"a": "b2xk", "b": "Yg=="}, "stringData": {"a": "hello", "c": "x y"}}),
        )
        .unwrap(),
        201,
        "create secret",
    );
    assert_eq!(
        created["data"],
        json!({"a": "aGVsbG8=", "b": "Yg==", "c": "eCB5"}),
        "{created}"
    );
    assert!(created.get("stringData").is_none(), "{created}");
    assert_eq!(created["type"], "Opaque", "{created}");
    assert_eq!(ok(h.get(&path).unwrap(), 200, "get"), created);

    let mut put = created.clone();
    put["stringData"] = json!({"d": "4"});
    let r = ok(h.put_json(&path, &put).unwrap(), 200, "put");
    assert_eq!(r["data"]["d"], "NA==", "{r}");
    assert!(r.get("stringData").is_none(), "{r}");
    for (what, content_type, patch) in [
        (
            "merge patch",
            "application/merge-patch+json",
            json!({"stringData": {"a": "new"}}),
        ),
        (
            "strategic merge patch",
            "application/strategic-merge-patch+json",
            json!({"stringData": {"b": "new"}}),
        ),
        (
            "JSON patch",
            "application/json-patch+json",
            json!([{"op": "add", "path": "/stringData", "value": {"c": "new"}}]),
        ),
    ] {
        let r = ok(h.patch(&path, content_type, &patch).unwrap(), 200, what);
        assert!(r.get("stringData").is_none(), "{what}: {r}");
        let key = patch
            .pointer("/stringData")
            .or_else(|| patch.pointer("/0/value"))
            .and_then(|m| m.as_object())
            .and_then(|m| m.keys().next().cloned())
            .unwrap();
        assert_eq!(r["data"][&key], "bmV3", "{what}: {r}");
    }
    let applied = ok(
        h.patch(
            &format!("{secrets}/applied?fieldManager=test"),
            "application/apply-patch+yaml",
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "applied"},
                    "stringData": {"k": "v"}}),
        )
        .unwrap(),
        201,
        "apply",
    );
    assert_eq!(applied["data"], json!({"k": "dg=="}), "{applied}");
    assert!(applied.get("stringData").is_none(), "{applied}");
    assert_eq!(applied["type"], "Opaque", "{applied}");
    // An explicit type stays.
    let tls = ok(
        h.post_json(
            secrets,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"},
                    "type": "example.com/custom", "stringData": {"k": "v"}}),
        )
        .unwrap(),
        201,
        "typed",
    );
    assert_eq!(tls["type"], "example.com/custom", "{tls}");
}

#[test]
fn deletecollection_deletes_only_what_is_selected() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    create_ns(&h, "dc");
    for (name, app) in [
        ("a1", "a"),
        ("a2", "a"),
        ("a3", "a"),
        ("b1", "b"),
        ("b2", "b"),
    ] {
        ok(
            h.post_json(&cms("dc"), &cm_labelled(name, json!({"app": app})))
                .unwrap(),
            201,
            name,
        );
    }
    ok(h.post_json(&cms("dc"), &cm("plain")).unwrap(), 201, "plain");
    ok(
        h.post_json(
            &cms("default"),
            &cm_labelled("a-elsewhere", json!({"app": "a"})),
        )
        .unwrap(),
        201,
        "elsewhere",
    );

    // A dry run deletes nothing.
    let before = store_rv(&h);
    let r = ok(
        h.delete(&format!("{}?labelSelector=app%3Da&dryRun=All", cms("dc")))
            .unwrap(),
        200,
        "dry deletecollection",
    );
    assert_eq!(names(&r), ["a1", "a2", "a3"]);
    assert_eq!(store_rv(&h), before);
    assert_eq!(list_names(&h, &cms("dc")).len(), 6);

    let r = ok(
        h.delete(&format!("{}?labelSelector=app%3Da", cms("dc")))
            .unwrap(),
        200,
        "deletecollection",
    );
    assert_eq!(r["kind"], "ConfigMapList", "{r}");
    assert_eq!(names(&r), ["a1", "a2", "a3"]);
    assert_eq!(list_names(&h, &cms("dc")), ["b1", "b2", "plain"]);
    assert_eq!(
        list_names(&h, &cms("default")),
        ["a-elsewhere"],
        "other namespaces are untouched"
    );

    let r = ok(
        h.delete(&format!("{}?fieldSelector=metadata.name%3Db1", cms("dc")))
            .unwrap(),
        200,
        "deletecollection by field",
    );
    assert_eq!(names(&r), ["b1"]);
    assert_eq!(list_names(&h, &cms("dc")), ["b2", "plain"]);

    let r = ok(
        h.delete(&format!("{}?labelSelector=app%3Dnone", cms("dc")))
            .unwrap(),
        200,
        "deletecollection matching nothing",
    );
    assert_eq!(names(&r), Vec::<String>::new());
    assert_eq!(list_names(&h, &cms("dc")), ["b2", "plain"]);

    ok(h.delete(&cms("dc")).unwrap(), 200, "delete all");
    assert!(list_names(&h, &cms("dc")).is_empty());
    assert_eq!(list_names(&h, &cms("default")), ["a-elsewhere"]);
}

#[test]
fn paging_returns_everything_exactly_once() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    create_ns(&h, "paging");
    let mut all = Vec::new();
    for i in 0..25 {
        let name = format!("cm-{i:02}");
        let labels = json!({"parity": if i % 2 == 0 { "even" } else { "odd" }});
        ok(
            h.post_json(&cms("paging"), &cm_labelled(&name, labels))
                .unwrap(),
            201,
            &name,
        );
        all.push(name);
    }
    ok(
        h.post_json(&cms("default"), &cm("outside")).unwrap(),
        201,
        "outside",
    );

    let page_through = |base: &str, limit: usize| -> (Vec<String>, usize) {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut token: Option<String> = None;
        loop {
            let sep = if base.contains('?') { '&' } else { '?' };
            let mut path = format!("{base}{sep}limit={limit}");
            if let Some(t) = &token {
                path.push_str(&format!("&continue={t}"));
            }
            let page = ok(h.get(&path).unwrap(), 200, &path);
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= limit, "{path}: {} items", items.len());
            assert!(page["metadata"]["resourceVersion"].is_string());
            pages += 1;
            for item in items {
                seen.push(format!(
                    "{}/{}",
                    item["metadata"]["namespace"].as_str().unwrap(),
                    item["metadata"]["name"].as_str().unwrap()
                ));
            }
            match page["metadata"]["continue"].as_str() {
                Some(t) if !t.is_empty() => {
                    assert_eq!(items.len(), limit, "only the last page is short");
                    token = Some(t.to_string());
                }
                _ => break,
            }
            assert!(pages < 100, "paging does not end");
        }
        (seen, pages)
    };

    let (seen, pages) = page_through(&cms("paging"), 10);
    let want: Vec<String> = all.iter().map(|n| format!("paging/{n}")).collect();
    assert_eq!(seen, want, "every object once, in order");
    assert_eq!(pages, 3);
    let (seen, _) = page_through(&cms("paging"), 25);
    assert_eq!(seen, want);
    let (seen, pages) = page_through(&cms("paging"), 1);
    assert_eq!(seen, want);
    assert_eq!(pages, 25);
    // With a selector, pages hold only matching objects.
    let (seen, _) = page_through(&format!("{}?labelSelector=parity%3Deven", cms("paging")), 4);
    let even: Vec<String> = want.iter().step_by(2).cloned().collect();
    assert_eq!(seen, even);
    // Cluster-wide paging sees the other namespaces too.
    let (seen, _) = page_through("/api/v1/configmaps", 7);
    let full: Vec<String> = {
        let list = ok(h.get("/api/v1/configmaps").unwrap(), 200, "full list");
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                format!(
                    "{}/{}",
                    i["metadata"]["namespace"].as_str().unwrap(),
                    i["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(seen, full);
    assert!(full.contains(&"default/outside".to_string()));
    assert_eq!(full.len(), 26);
    let unique: BTreeSet<_> = full.iter().collect();
    assert_eq!(unique.len(), full.len());

    // Bad continue tokens are 400.
    for bad in ["garbage", "eyJrIjoxfQ", "e30"] {
        expect_status(
            &h.get(&format!("{}?limit=5&continue={bad}", cms("paging")))
                .unwrap(),
            400,
            "BadRequest",
            &format!("continue={bad}"),
        );
    }
    // A token from one namespace does not page another.
    let first = ok(
        h.get(&format!("{}?limit=5", cms("paging"))).unwrap(),
        200,
        "first page",
    );
    let token = first["metadata"]["continue"].as_str().unwrap();
    expect_status(
        &h.get(&format!("{}?limit=5&continue={token}", cms("default")))
            .unwrap(),
        400,
        "BadRequest",
        "a continue token from another namespace",
    );
}

#[test]
fn label_and_field_selectors() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    create_ns(&h, "sel");
    for (name, labels) in [
        ("p1", json!({"env": "prod", "tier": "web"})),
        ("p2", json!({"env": "prod"})),
        ("d1", json!({"env": "dev", "tier": "db"})),
        ("n1", json!({})),
    ] {
        ok(
            h.post_json(&cms("sel"), &cm_labelled(name, labels))
                .unwrap(),
            201,
            name,
        );
    }
    ok(
        h.post_json(&cms("default"), &cm_labelled("p1", json!({"env": "prod"})))
            .unwrap(),
        201,
        "p1 in default",
    );
    let q = |sel: &str| {
        let enc: String = sel
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'0'..=b'9' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        list_names(&h, &format!("{}?labelSelector={enc}", cms("sel")))
    };
    assert_eq!(q("env=prod"), ["p1", "p2"]);
    assert_eq!(q("env==prod"), ["p1", "p2"]);
    assert_eq!(q("env!=prod"), ["d1", "n1"]);
    assert_eq!(q("env in (prod,dev)"), ["d1", "p1", "p2"]);
    assert_eq!(q("env notin (prod)"), ["d1", "n1"]);
    assert_eq!(q("tier"), ["d1", "p1"]);
    assert_eq!(q("!tier"), ["n1", "p2"]);
    assert_eq!(q("env=prod,tier=web"), ["p1"]);
    assert_eq!(q("env in (prod), !tier"), ["p2"]);
    assert_eq!(q("env=staging"), Vec::<String>::new());
    assert_eq!(q(""), ["d1", "n1", "p1", "p2"]);

    let f = |path: &str, sel: &str| list_names(&h, &format!("{path}?fieldSelector={sel}"));
    assert_eq!(f(&cms("sel"), "metadata.name%3Dp2"), ["p2"]);
    assert_eq!(f(&cms("sel"), "metadata.name%3D%3Dp2"), ["p2"]);
    assert_eq!(f(&cms("sel"), "metadata.name!%3Dp2"), ["d1", "n1", "p1"]);
    assert_eq!(
        f("/api/v1/configmaps", "metadata.namespace%3Dsel"),
        ["d1", "n1", "p1", "p2"]
    );
    assert_eq!(
        f(
            "/api/v1/configmaps",
            "metadata.namespace%3Dsel,metadata.name%3Dd1"
        ),
        ["d1"]
    );
    let cluster_p1 = ok(
        h.get("/api/v1/configmaps?fieldSelector=metadata.name%3Dp1")
            .unwrap(),
        200,
        "p1 everywhere",
    );
    let namespaces: BTreeSet<&str> = cluster_p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, BTreeSet::from(["default", "sel"]));
    // Both selectors together.
    assert_eq!(
        list_names(
            &h,
            "/api/v1/configmaps?labelSelector=env%3Dprod&fieldSelector=metadata.namespace%3Dsel"
        ),
        ["p1", "p2"]
    );
    // Namespaces by name (cluster-scoped).
    assert_eq!(
        list_names(&h, "/api/v1/namespaces?fieldSelector=metadata.name%3Dsel"),
        ["sel"]
    );
}

#[test]
fn dry_run_stores_nothing() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    let base = cms("default");
    let path = format!("{base}/real");
    let original = ok(h.post_json(&base, &cm("real")).unwrap(), 201, "create");
    let store = store_rv(&h);
    let unchanged = |what: &str| {
        assert_eq!(
            store_rv(&h),
            store,
            "{what} moved the store's resourceVersion"
        );
        let got = ok(h.get(&path).unwrap(), 200, what);
        assert_eq!(got, original, "{what} changed the object");
    };

    let r = ok(
        h.post_json(&format!("{base}?dryRun=All"), &cm("ghost"))
            .unwrap(),
        201,
        "dry create",
    );
    assert_eq!(r["metadata"]["name"], "ghost");
    expect_status(
        &h.get(&format!("{base}/ghost")).unwrap(),
        404,
        "NotFound",
        "dry-run object",
    );
    unchanged("dry create");
    let mut gen = cm("x");
    gen["metadata"] = json!({"generateName": "ghost-"});
    ok(
        h.post_json(&format!("{base}?dryRun=All"), &gen).unwrap(),
        201,
        "dry generateName",
    );
    assert_eq!(list_names(&h, &base), ["real"]);
    unchanged("dry generateName create");

    let mut changed = original.clone();
    changed["data"]["key"] = json!("changed");
    let r = ok(
        h.put_json(&format!("{path}?dryRun=All"), &changed).unwrap(),
        200,
        "dry update",
    );
    assert_eq!(r["data"]["key"], "changed", "the answer shows the result");
    unchanged("dry update");

    let r = ok(
        h.patch(
            &format!("{path}?dryRun=All"),
            "application/merge-patch+json",
            &json!({"data": {"key": "patched"}}),
        )
        .unwrap(),
        200,
        "dry merge patch",
    );
    assert_eq!(r["data"]["key"], "patched");
    unchanged("dry merge patch");
    let r = ok(
        h.patch(
            &format!("{path}?dryRun=All"),
            "application/json-patch+json",
            &json!([{"op": "add", "path": "/data/extra", "value": "x"}]),
        )
        .unwrap(),
        200,
        "dry JSON patch",
    );
    assert_eq!(r["data"]["extra"], "x");
    unchanged("dry JSON patch");
    // kubectl diff: dry-run patch carrying the current resourceVersion.
    ok(
        h.patch(
            &format!("{path}?dryRun=All"),
            "application/merge-patch+json",
            &json!({"metadata": {"resourceVersion": rv(&original)}, "data": {"key": "diff"}}),
        )
        .unwrap(),
        200,
        "dry patch with resourceVersion",
    );
    unchanged("dry patch with resourceVersion");

    ok(
        h.delete(&format!("{path}?dryRun=All")).unwrap(),
        200,
        "dry delete",
    );
    unchanged("dry delete");
    ok(
        h.request(
            "DELETE",
            &path,
            Some("application/json"),
            br#"{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}"#,
        )
        .unwrap(),
        200,
        "dry delete by options",
    );
    unchanged("dry delete by options");
    // Admission still applies to dry runs: `default` may not be deleted.
    expect_status(
        &h.delete("/api/v1/namespaces/default?dryRun=All").unwrap(),
        403,
        "Forbidden",
        "dry namespace delete",
    );
    unchanged("dry namespace delete");
    let ns = ok(h.get("/api/v1/namespaces/default").unwrap(), 200, "default");
    assert!(ns["metadata"].get("deletionTimestamp").is_none(), "{ns}");
    ok(
        h.delete(&format!("{base}?dryRun=All")).unwrap(),
        200,
        "dry deletecollection",
    );
    unchanged("dry deletecollection");
}

#[test]
fn patches_updates_and_delete_preconditions() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    let base = cms("default");
    let path = format!("{base}/p");
    let mut body = cm("p");
    body["data"] = json!({"a": "1", "b": "2", "c": "3"});
    let created = ok(h.post_json(&base, &body).unwrap(), 201, "create");

    // RFC 6902 JSON patch.
    let r = ok(
        h.patch(
            &path,
            "application/json-patch+json",
            &json!([
                {"op": "test", "path": "/data/a", "value": "1"},
                {"op": "replace", "path": "/data/a", "value": "one"},
                {"op": "remove", "path": "/data/b"},
                {"op": "add", "path": "/data/d", "value": "4"},
                {"op": "copy", "from": "/data/c", "path": "/data/e"},
                {"op": "move", "from": "/data/c", "path": "/data/f"},
                {"op": "add", "path": "/metadata/labels", "value": {"patched": "json"}}
            ]),
        )
        .unwrap(),
        200,
        "JSON patch",
    );
    assert_eq!(r["data"], json!({"a": "one", "d": "4", "e": "3", "f": "3"}));
    assert_eq!(r["metadata"]["labels"]["patched"], "json");
    assert!(rv_num(&r) > rv_num(&created));
    assert_eq!(ok(h.get(&path).unwrap(), 200, "get"), r);

    // RFC 7396 merge patch: null deletes, objects merge.
    let r = ok(
        h.patch(
            &path,
            "application/merge-patch+json; charset=utf-8",
            &json!({"data": {"a": null, "g": "7"}, "metadata": {"labels": {"merge": "yes"}}}),
        )
        .unwrap(),
        200,
        "merge patch",
    );
    assert_eq!(r["data"], json!({"d": "4", "e": "3", "f": "3", "g": "7"}));
    assert_eq!(
        r["metadata"]["labels"],
        json!({"patched": "json", "merge": "yes"})
    );
    // A merge patch with the current resourceVersion is fine.
    let r = ok(
        h.patch(
            &path,
            "application/merge-patch+json",
            &json!({"metadata": {"resourceVersion": rv(&r)}, "data": {"h": "8"}}),
        )
        .unwrap(),
        200,
        "merge patch with current rv",
    );
    assert_eq!(r["data"]["h"], "8");

    // No-op writes keep the resourceVersion.
    let current = ok(h.get(&path).unwrap(), 200, "get");
    let store = store_rv(&h);
    let same = ok(h.put_json(&path, &current).unwrap(), 200, "no-op update");
    assert_eq!(
        rv(&same),
        rv(&current),
        "a no-op update keeps resourceVersion"
    );
    let same = ok(
        h.patch(&path, "application/merge-patch+json", &json!({}))
            .unwrap(),
        200,
        "empty merge patch",
    );
    assert_eq!(rv(&same), rv(&current));
    let same = ok(
        h.patch(
            &path,
            "application/merge-patch+json",
            &json!({"data": {"d": "4"}}),
        )
        .unwrap(),
        200,
        "merge patch to the same value",
    );
    assert_eq!(rv(&same), rv(&current));
    assert_eq!(store_rv(&h), store, "no-op writes do not move the store");

    // An update without resourceVersion is unconditional.
    let mut blind = cm("p");
    blind["data"] = json!({"only": "this"});
    let r = ok(
        h.put_json(&path, &blind).unwrap(),
        200,
        "unconditional update",
    );
    assert_eq!(r["data"], json!({"only": "this"}));
    assert!(rv_num(&r) > rv_num(&current));
    assert_eq!(
        r["metadata"]["uid"], created["metadata"]["uid"],
        "same object"
    );
    assert_eq!(
        r["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );
    // ...and so is one with an empty resourceVersion.
    blind["metadata"]["resourceVersion"] = json!("");
    blind["data"] = json!({"only": "that"});
    let r = ok(
        h.put_json(&path, &blind).unwrap(),
        200,
        "empty resourceVersion",
    );
    assert_eq!(r["data"], json!({"only": "that"}));
    // With the current resourceVersion it succeeds too.
    let mut exact = r.clone();
    exact["data"] = json!({"exact": "yes"});
    let r = ok(
        h.put_json(&path, &exact).unwrap(),
        200,
        "update with current rv",
    );
    assert_eq!(r["data"]["exact"], "yes");
    // Server-owned fields cannot be changed by an update.
    let mut forged = r.clone();
    forged["metadata"]["uid"] = json!("forged");
    forged["metadata"]["creationTimestamp"] = json!("2001-01-01T00:00:00Z");
    forged["data"] = json!({"forged": "yes"});
    let r = ok(h.put_json(&path, &forged).unwrap(), 200, "forged update");
    assert_eq!(r["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        r["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );

    // DELETE preconditions.
    let current = ok(h.get(&path).unwrap(), 200, "get");
    let uid = current["metadata"]["uid"].as_str().unwrap();
    let delete_with = |options: Value| {
        h.request(
            "DELETE",
            &path,
            Some("application/json"),
            &serde_json::to_vec(&options).unwrap(),
        )
        .unwrap()
    };
    let s = expect_status(
        &delete_with(json!({"preconditions": {"uid": "11111111-2222-3333-4444-555555555555"}})),
        409,
        "Conflict",
        "uid mismatch",
    );
    assert!(s["message"]
        .as_str()
        .unwrap()
        .contains("Precondition failed"));
    expect_status(
        &delete_with(json!({"preconditions": {"resourceVersion": rv(&created)}})),
        409,
        "Conflict",
        "resourceVersion mismatch",
    );
    assert_eq!(ok(h.get(&path).unwrap(), 200, "still there"), current);
    let r = ok(
        delete_with(json!({"preconditions": {"uid": uid, "resourceVersion": rv(&current)}})),
        200,
        "delete with matching preconditions",
    );
    assert_eq!(r["metadata"]["uid"], uid);
    expect_status(&h.get(&path).unwrap(), 404, "NotFound", "deleted");
    // kubectl's and kube-rs's delete bodies.
    ok(h.post_json(&base, &cm("k1")).unwrap(), 201, "k1");
    ok(
        h.request(
            "DELETE",
            &format!("{base}/k1"),
            Some("application/json"),
            br#"{"propagationPolicy":"Background"}"#,
        )
        .unwrap(),
        200,
        "kubectl delete",
    );
    ok(h.post_json(&base, &cm("k2")).unwrap(), 201, "k2");
    ok(
        h.request(
            "DELETE",
            &format!("{base}/k2"),
            Some("application/json"),
            b"{}",
        )
        .unwrap(),
        200,
        "kube-rs delete",
    );
    assert!(list_names(&h, &base).is_empty());
}

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// GET with an `Accept` header (the harness client sends none).
fn get_accept(server: &ApiServer, path: &str, accept: &str) -> HttpResponse {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use http_body_util::BodyExt;
        use rustls::pki_types::ServerName;
        let tls = federation_apiserver::pki::client_config_trusting(&server.ca_pem).unwrap();
        let tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(ServerName::try_from("localhost").unwrap().to_owned(), tcp)
            .await
            .unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = http::Request::builder()
            .uri(path)
            .header("host", &server.addr)
            .header("authorization", format!("Bearer {}", server.token))
            .header("accept", accept)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        HttpResponse {
            status,
            headers,
            body,
        }
    })
}

fn verbs_of(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("verbs: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn discovery_describes_every_served_resource() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();

    // Legacy discovery.
    let api = ok(h.get("/api").unwrap(), 200, "/api");
    assert_eq!(api["kind"], "APIVersions", "{api}");
    assert_eq!(api["versions"], json!(["v1"]));
    let apis = ok(h.get("/apis").unwrap(), 200, "/apis");
    assert_eq!(apis["kind"], "APIGroupList", "{apis}");
    let groups = apis["groups"].as_array().unwrap();
    for kind in KINDS.iter().filter(|k| !k.group.is_empty()) {
        let group = groups
            .iter()
            .find(|g| g["name"] == kind.group)
            .unwrap_or_else(|| panic!("group {} missing from /apis: {apis}", kind.group));
        let gv = format!("{}/{}", kind.group, kind.version);
        assert!(
            group["versions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["groupVersion"] == gv.as_str() && v["version"] == kind.version),
            "{gv} in {group}"
        );
        assert_eq!(group["preferredVersion"]["groupVersion"], gv.as_str());
        let g = ok(
            h.get(&format!("/apis/{}", kind.group)).unwrap(),
            200,
            "group",
        );
        assert_eq!(g["kind"], "APIGroup");
        assert_eq!(g["name"], kind.group);
    }
    for kind in KINDS {
        let list = ok(h.get(&kind.root()).unwrap(), 200, &kind.root());
        assert_eq!(list["kind"], "APIResourceList", "{list}");
        assert_eq!(list["groupVersion"], kind.api_version());
        let resources = list["resources"].as_array().unwrap();
        let entry = resources
            .iter()
            .find(|r| r["name"] == kind.plural)
            .unwrap_or_else(|| panic!("{} missing from {}: {list}", kind.plural, kind.root()));
        assert_eq!(entry["kind"], kind.kind, "{entry}");
        assert_eq!(entry["namespaced"], kind.namespaced, "{entry}");
        assert_eq!(
            entry["singularName"],
            kind.kind.to_ascii_lowercase(),
            "{entry}"
        );
        assert_eq!(verbs_of(&entry["verbs"]), kind.verbs(), "{entry}");
        let status = resources
            .iter()
            .find(|r| r["name"] == format!("{}/status", kind.plural));
        assert_eq!(
            status.is_some(),
            kind.has_status,
            "{}/status listed iff served",
            kind.plural
        );
    }
    // The legacy lists contain nothing that is not served.
    let served: BTreeSet<String> = KINDS
        .iter()
        .flat_map(|k| {
            let mut v = vec![format!("{}/{}", k.api_version(), k.plural)];
            if k.has_status {
                v.push(format!("{}/{}/status", k.api_version(), k.plural));
            }
            // `/scale` for the kinds whose replicas kubectl can scale.
            if matches!(k.plural, "deployments" | "statefulsets" | "replicasets") {
                v.push(format!("{}/{}/scale", k.api_version(), k.plural));
            }
            v
        })
        .collect();
    let mut advertised = BTreeSet::new();
    for gv in KINDS.iter().map(|k| k.root()).collect::<BTreeSet<_>>() {
        let list = ok(h.get(&gv).unwrap(), 200, &gv);
        for r in list["resources"].as_array().unwrap() {
            advertised.insert(format!(
                "{}/{}",
                list["groupVersion"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            ));
        }
    }
    assert_eq!(advertised, served);

    // Aggregated discovery (v2 and v2beta1) at /api and /apis.
    for (accept, api_version) in [
        (AGGREGATED_V2, "apidiscovery.k8s.io/v2"),
        (AGGREGATED_V2BETA1, "apidiscovery.k8s.io/v2beta1"),
    ] {
        let mut seen = BTreeSet::new();
        for root in ["/api", "/apis"] {
            let r = get_accept(&server, root, accept);
            assert_eq!(r.status, 200, "{root}: {}", r.text());
            let ct = r.headers.get("content-type").unwrap().to_str().unwrap();
            assert_eq!(ct, accept, "{root} answers in the asked format");
            let doc = r.json();
            assert_eq!(doc["kind"], "APIGroupDiscoveryList", "{doc}");
            assert_eq!(doc["apiVersion"], api_version);
            for group in doc["items"].as_array().unwrap() {
                let name = group["metadata"]["name"].as_str().unwrap_or("");
                assert_eq!(
                    name.is_empty(),
                    root == "/api",
                    "{root} holds group {name:?}"
                );
                // CustomResourceDefinitions: see custom_resources.rs;
                // Flotilla's own kinds (served like custom resources) have
                // tests of their own.
                if name == "apiextensions.k8s.io" || name == "flotilla.io" {
                    continue;
                }
                for version in group["versions"].as_array().unwrap() {
                    assert_eq!(version["freshness"], "Current");
                    let v = version["version"].as_str().unwrap();
                    for res in version["resources"].as_array().unwrap() {
                        let plural = res["resource"].as_str().unwrap();
                        let kind = KINDS
                            .iter()
                            .find(|k| k.group == name && k.version == v && k.plural == plural)
                            .unwrap_or_else(|| panic!("unexpected resource {name}/{v}/{plural}"));
                        assert_eq!(
                            res["responseKind"],
                            json!({"group": kind.group, "version": kind.version, "kind": kind.kind}),
                            "{res}"
                        );
                        let scope = if kind.namespaced {
                            "Namespaced"
                        } else {
                            "Cluster"
                        };
                        assert_eq!(res["scope"], scope, "{res}");
                        assert_eq!(res["singularResource"], kind.kind.to_ascii_lowercase());
                        assert_eq!(verbs_of(&res["verbs"]), kind.verbs(), "{res}");
                        let subs: Vec<&str> = res["subresources"]
                            .as_array()
                            .map(|s| {
                                s.iter()
                                    .map(|s| s["subresource"].as_str().unwrap())
                                    .collect()
                            })
                            .unwrap_or_default();
                        assert_eq!(subs.contains(&"status"), kind.has_status, "{res}");
                        seen.insert(plural.to_string());
                    }
                }
            }
        }
        let want: BTreeSet<String> = KINDS.iter().map(|k| k.plural.to_string()).collect();
        assert_eq!(seen, want, "aggregated {api_version} lists every resource");
    }
    // Group-version documents stay legacy JSON even when aggregated is asked.
    let r = get_accept(
        &server,
        "/apis/apps/v1",
        &format!("{AGGREGATED_V2},application/json"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["kind"], "APIResourceList");
    let r = get_accept(
        &server,
        "/api",
        &format!("{AGGREGATED_V2};q=0,application/json"),
    );
    assert_eq!(r.json()["kind"], "APIVersions", "q=0 is never chosen");
}

#[test]
fn version_and_health_endpoints_are_public() {
    let server = ApiServer::start().expect("server starts");
    let anon = server.anonymous();
    let version = ok(anon.get("/version").unwrap(), 200, "/version");
    assert_eq!(version["major"], "1", "{version}");
    let minor = version["minor"].as_str().unwrap();
    assert!(
        !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()),
        "{version}"
    );
    assert!(version["gitVersion"]
        .as_str()
        .unwrap()
        .starts_with(&format!("v1.{minor}")));
    assert_eq!(
        ok(
            server.https().get("/version").unwrap(),
            200,
            "auth /version"
        ),
        version
    );
    for path in [
        "/healthz",
        "/livez",
        "/readyz",
        "/healthz/ping",
        "/readyz/ping",
    ] {
        let r = anon.get(path).unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.text(), "ok", "{path}");
        let wrong = server.https().with_token(Some("wrong")).get(path).unwrap();
        assert_eq!(wrong.status, 200, "{path} with a bad token");
    }
}
