//! Kubernetes API defaulting for the built-in kinds: what kube-apiserver's
//! `SetDefaults_*` functions (and the generated defaulters that call them for
//! every nested type) fill in when a body is decoded, as in Kubernetes 1.33.
//!
//! Applied on every write (create, update, patch, server-side apply) as the
//! kind's [`Strategy::normalize`](super::strategy::Strategy) hook, before
//! generation tracking and the no-op check, so that re-sending a manifest
//! without the defaulted fields changes nothing.
//!
//! Go semantics are kept: a pointer field is unset when absent (or `null`),
//! a string field also when `""`, a non-pointer integer also when `0` (probe
//! timings). Values of the wrong type are left alone (validation reports
//! them). Feature-gated defaults follow the gates' 1.33 defaults
//! (`JobPodReplacementPolicy` and `StatefulSetAutoDeletePVC` on,
//! `DefaultHostNetworkHostPortsInPodTemplates` off).
//!
//! # Caveats
//! - Only what is listed here is defaulted: namespaces' `kubernetes.io/metadata.name`
//!   label, HPA behaviour, CRD conversion and the legacy volume plugins
//!   (RBD, iSCSI, ...) are not; neither are server allocations (Service
//!   cluster IPs and IP families) nor admission (service accounts, priority).
//! - Objects stored before these defaults existed get them on their next write
//!   (kube-apiserver also defaults on reading from etcd).

use serde_json::{json, Map, Value};

use super::strategy::Rewrite;

/// The defaulting of a built-in kind (`group`, `plural`), if it has any.
pub fn for_kind(group: &str, plural: &str) -> Option<Rewrite> {
    Some(match (group, plural) {
        ("apps", "deployments") => deployment,
        ("apps", "statefulsets") => stateful_set,
        ("apps", "daemonsets") => daemon_set,
        ("apps", "replicasets") => replica_set,
        ("batch", "jobs") => job,
        ("batch", "cronjobs") => cron_job,
        ("", "services") => service,
        ("", "pods") => pod,
        _ => return None,
    })
}

type Object = Map<String, Value>;

/// The object under `key`, created when absent or `null` (a Go struct, or a
/// pointer the defaulter allocates); `None` when it holds something else.
fn child<'a>(map: &'a mut Object, key: &str) -> Option<&'a mut Object> {
    let slot = map.entry(key).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// The object under `key` if there is one (a nil pointer stays nil).
fn existing<'a>(map: &'a mut Object, key: &str) -> Option<&'a mut Object> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// The objects of the list under `key` (none when absent).
fn items<'a>(map: &'a mut Object, key: &str) -> impl Iterator<Item = &'a mut Object> {
    map.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

fn unset(map: &Object, key: &str) -> bool {
    map.get(key).is_none_or(Value::is_null)
}

/// A pointer field: set when absent or `null`.
fn or_set(map: &mut Object, key: &str, value: Value) {
    if unset(map, key) {
        map.insert(key.into(), value);
    }
}

/// A string field: set when absent, `null` or `""`.
fn or_set_str(map: &mut Object, key: &str, value: &str) {
    if unset(map, key) || map.get(key).and_then(Value::as_str) == Some("") {
        map.insert(key.into(), json!(value));
    }
}

/// A non-pointer integer field: set when absent, `null` or `0`.
fn or_set_nonzero(map: &mut Object, key: &str, value: i64) {
    if unset(map, key) || map.get(key).and_then(Value::as_i64) == Some(0) {
        map.insert(key.into(), json!(value));
    }
}

fn str_of<'a>(map: &'a Object, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// `spec` of a workload (a Go struct: always there once decoded).
fn spec(object: &mut Value) -> Option<&mut Object> {
    child(object.as_object_mut()?, "spec")
}

/// `template.spec` of a workload spec.
fn template_spec(map: &mut Object) {
    if let Some(pod) = child(map, "template").and_then(|t| child(t, "spec")) {
        pod_spec(pod);
    }
}

/// `SetDefaults_Deployment`.
pub fn deployment(object: &mut Value) {
    let Some(spec) = spec(object) else { return };
    or_set(spec, "replicas", json!(1));
    if let Some(strategy) = child(spec, "strategy") {
        or_set_str(strategy, "type", "RollingUpdate");
        if str_of(strategy, "type") == Some("RollingUpdate") {
            if let Some(rolling) = child(strategy, "rollingUpdate") {
                or_set(rolling, "maxUnavailable", json!("25%"));
                or_set(rolling, "maxSurge", json!("25%"));
            }
        }
    }
    or_set(spec, "revisionHistoryLimit", json!(10));
    or_set(spec, "progressDeadlineSeconds", json!(600));
    template_spec(spec);
}

/// `SetDefaults_StatefulSet` (with `StatefulSetAutoDeletePVC`, GA in 1.32).
pub fn stateful_set(object: &mut Value) {
    let Some(spec) = spec(object) else { return };
    or_set_str(spec, "podManagementPolicy", "OrderedReady");
    if let Some(strategy) = child(spec, "updateStrategy") {
        if unset(strategy, "type") || str_of(strategy, "type") == Some("") {
            strategy.insert("type".into(), json!("RollingUpdate"));
            or_set(strategy, "rollingUpdate", json!({}));
        }
        if str_of(strategy, "type") == Some("RollingUpdate") {
            if let Some(rolling) = existing(strategy, "rollingUpdate") {
                or_set(rolling, "partition", json!(0));
            }
        }
    }
    if let Some(retention) = child(spec, "persistentVolumeClaimRetentionPolicy") {
        or_set_str(retention, "whenDeleted", "Retain");
        or_set_str(retention, "whenScaled", "Retain");
    }
    or_set(spec, "replicas", json!(1));
    or_set(spec, "revisionHistoryLimit", json!(10));
    template_spec(spec);
    for claim in items(spec, "volumeClaimTemplates") {
        // SetDefaults_PersistentVolumeClaim(Spec).
        if let Some(claim_spec) = child(claim, "spec") {
            or_set(claim_spec, "volumeMode", json!("Filesystem"));
        }
        if let Some(status) = child(claim, "status") {
            or_set_str(status, "phase", "Pending");
        }
    }
}

/// `SetDefaults_DaemonSet`.
pub fn daemon_set(object: &mut Value) {
    let Some(spec) = spec(object) else { return };
    if let Some(strategy) = child(spec, "updateStrategy") {
        or_set_str(strategy, "type", "RollingUpdate");
        if str_of(strategy, "type") == Some("RollingUpdate") {
            if let Some(rolling) = child(strategy, "rollingUpdate") {
                or_set(rolling, "maxUnavailable", json!(1));
                or_set(rolling, "maxSurge", json!(0));
            }
        }
    }
    or_set(spec, "revisionHistoryLimit", json!(10));
    template_spec(spec);
}

/// `SetDefaults_ReplicaSet`.
pub fn replica_set(object: &mut Value) {
    let Some(spec) = spec(object) else { return };
    or_set(spec, "replicas", json!(1));
    template_spec(spec);
}

/// `SetDefaults_Job` (with `JobPodReplacementPolicy`, on since 1.29). The
/// selector and pod labels a Job gets from its uid are the strategy's
/// create step (see `strategy::job_on_create`).
pub fn job(object: &mut Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    // A Job without labels takes its pod template's.
    let template_labels = map
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .filter(|l| l.is_object())
        .cloned();
    if let (Some(labels), Some(meta)) = (template_labels, child(map, "metadata")) {
        let empty = meta
            .get("labels")
            .is_none_or(|l| l.as_object().is_none_or(Map::is_empty));
        if empty {
            meta.insert("labels".into(), labels);
        }
    }
    let Some(spec) = child(map, "spec") else {
        return;
    };
    if unset(spec, "completions") && unset(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    or_set(spec, "parallelism", json!(1));
    let backoff = if unset(spec, "backoffLimitPerIndex") {
        6
    } else {
        i64::from(i32::MAX)
    };
    or_set(spec, "backoffLimit", json!(backoff));
    or_set(spec, "completionMode", json!("NonIndexed"));
    or_set(spec, "suspend", json!(false));
    or_set(spec, "manualSelector", json!(false));
    if let Some(policy) = existing(spec, "podFailurePolicy") {
        for rule in items(policy, "rules") {
            for pattern in items(rule, "onPodConditions") {
                or_set_str(pattern, "status", "True");
            }
        }
    }
    let replacement = if unset(spec, "podFailurePolicy") {
        "TerminatingOrFailed"
    } else {
        "Failed"
    };
    or_set(spec, "podReplacementPolicy", json!(replacement));
    template_spec(spec);
}

/// `SetDefaults_CronJob`; the job template gets only the pod defaults (its
/// Jobs are defaulted when the CronJob controller creates them).
pub fn cron_job(object: &mut Value) {
    let Some(spec) = spec(object) else { return };
    or_set_str(spec, "concurrencyPolicy", "Allow");
    or_set(spec, "suspend", json!(false));
    or_set(spec, "successfulJobsHistoryLimit", json!(3));
    or_set(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(job_spec) = child(spec, "jobTemplate").and_then(|t| child(t, "spec")) {
        template_spec(job_spec);
    }
}

/// `SetDefaults_Service`.
pub fn service(object: &mut Value) {
    let Some(spec) = spec(object) else { return };
    or_set_str(spec, "sessionAffinity", "None");
    if str_of(spec, "sessionAffinity") == Some("None") {
        spec.remove("sessionAffinityConfig");
    }
    or_set_str(spec, "type", "ClusterIP");
    for port in items(spec, "ports") {
        or_set_str(port, "protocol", "TCP");
        let target_unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if target_unset {
            if let Some(number) = port.get("port").cloned() {
                port.insert("targetPort".into(), number);
            }
        }
    }
    let kind = str_of(spec, "type").unwrap_or("").to_string();
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        or_set_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        or_set(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        or_set(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

/// `SetDefaults_Pod`: the pod spec's defaults, service links, requests
/// taken from limits, and host ports for host-network pods.
pub fn pod(object: &mut Value) {
    let Some(spec) = spec(object) else { return };
    pod_spec(spec);
    or_set(spec, "enableServiceLinks", json!(true));
    let host_network = spec.get("hostNetwork") == Some(&json!(true));
    for list in ["containers", "initContainers"] {
        for container in items(spec, list) {
            requests_from_limits(container);
            if host_network {
                for port in items(container, "ports") {
                    let host_unset =
                        unset(port, "hostPort") || port["hostPort"].as_i64() == Some(0);
                    if let (true, Some(number)) = (host_unset, port.get("containerPort").cloned()) {
                        port.insert("hostPort".into(), number);
                    }
                }
            }
        }
    }
}

/// Requests default to the limits of the same resources.
fn requests_from_limits(container: &mut Object) {
    let Some(resources) = existing(container, "resources") else {
        return;
    };
    let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    if let Some(requests) = child(resources, "requests") {
        for (name, quantity) in limits {
            requests.entry(name).or_insert(quantity);
        }
    }
}

/// `SetDefaults_PodSpec` and the defaults of what a pod spec holds
/// (containers, their ports and probes, volumes).
pub fn pod_spec(spec: &mut Object) {
    or_set_str(spec, "dnsPolicy", "ClusterFirst");
    or_set_str(spec, "restartPolicy", "Always");
    or_set(spec, "securityContext", json!({}));
    or_set(spec, "terminationGracePeriodSeconds", json!(30));
    or_set_str(spec, "schedulerName", "default-scheduler");
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in items(spec, list) {
            container(c);
        }
    }
    for v in items(spec, "volumes") {
        volume(v);
    }
}

/// `SetDefaults_Container` and its nested types.
fn container(c: &mut Object) {
    if unset(c, "imagePullPolicy") || str_of(c, "imagePullPolicy") == Some("") {
        let policy = pull_policy(str_of(c, "image").unwrap_or(""));
        c.insert("imagePullPolicy".into(), json!(policy));
    }
    or_set_str(c, "terminationMessagePath", "/dev/termination-log");
    or_set_str(c, "terminationMessagePolicy", "File");
    for port in items(c, "ports") {
        or_set_str(port, "protocol", "TCP");
    }
    for env in items(c, "env") {
        if let Some(field) = existing(env, "valueFrom").and_then(|v| existing(v, "fieldRef")) {
            or_set_str(field, "apiVersion", "v1");
        }
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing(c, key) {
            probe(p);
        }
    }
    if let Some(lifecycle) = existing(c, "lifecycle") {
        for key in ["postStart", "preStop"] {
            if let Some(http) = existing(lifecycle, key).and_then(|h| existing(h, "httpGet")) {
                http_get(http);
            }
        }
    }
}

/// `Always` for `:latest` or no tag (and no digest), else `IfNotPresent`,
/// as `SetDefaults_Container` decides from the parsed image reference.
pub fn pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    // A tag follows the last ':' of the last path segment (a registry's
    // port is before a '/').
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    let tag = last_segment.rsplit_once(':').map(|(_, tag)| tag);
    let latest = match (tag, digest) {
        (Some(tag), _) => tag == "latest",
        (None, None) => !image.is_empty(),
        (None, Some(_)) => false,
    };
    if latest {
        "Always"
    } else {
        "IfNotPresent"
    }
}

/// `SetDefaults_Probe` (non-pointer integers: `0` is unset) and its handler.
fn probe(p: &mut Object) {
    or_set_nonzero(p, "timeoutSeconds", 1);
    or_set_nonzero(p, "periodSeconds", 10);
    or_set_nonzero(p, "successThreshold", 1);
    or_set_nonzero(p, "failureThreshold", 3);
    if let Some(http) = existing(p, "httpGet") {
        http_get(http);
    }
    if let Some(grpc) = existing(p, "grpc") {
        or_set(grpc, "service", json!(""));
    }
}

/// `SetDefaults_HTTPGetAction`.
fn http_get(http: &mut Object) {
    or_set_str(http, "path", "/");
    or_set_str(http, "scheme", "HTTP");
}

/// The volume sources a pod spec may hold (`SetDefaults_Volume`: none is an
/// `emptyDir`).
const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// `0644`, the mode of files projected from secrets, config maps and the downward API.
const DEFAULT_MODE: i64 = 0o644;

/// `SetDefaults_Volume` and the defaults of its sources.
fn volume(v: &mut Object) {
    if VOLUME_SOURCES.iter().all(|s| unset(v, s)) {
        v.insert("emptyDir".into(), json!({}));
    }
    if let Some(host_path) = existing(v, "hostPath") {
        or_set(host_path, "type", json!(""));
    }
    for key in ["secret", "configMap", "projected"] {
        if let Some(source) = existing(v, key) {
            or_set(source, "defaultMode", json!(DEFAULT_MODE));
        }
    }
    if let Some(downward) = existing(v, "downwardAPI") {
        or_set(downward, "defaultMode", json!(DEFAULT_MODE));
        downward_items(downward);
    }
    if let Some(projected) = existing(v, "projected") {
        for source in items(projected, "sources") {
            if let Some(token) = existing(source, "serviceAccountToken") {
                or_set(token, "expirationSeconds", json!(3600));
            }
            if let Some(downward) = existing(source, "downwardAPI") {
                downward_items(downward);
            }
        }
    }
    if let Some(image) = existing(v, "image") {
        if unset(image, "pullPolicy") || str_of(image, "pullPolicy") == Some("") {
            let policy = pull_policy(str_of(image, "reference").unwrap_or(""));
            image.insert("pullPolicy".into(), json!(policy));
        }
    }
}

/// `fieldRef.apiVersion` of downward API items.
fn downward_items(downward: &mut Object) {
    for item in items(downward, "items") {
        if let Some(field) = existing(item, "fieldRef") {
            or_set_str(field, "apiVersion", "v1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "a"}},
               "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                                        "ports": [{"containerPort": 80}]}]}})
    }

    /// The pod template of [`template`] with its defaults.
    fn defaulted_template() -> Value {
        json!({"metadata": {"labels": {"app": "a"}},
               "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                        "imagePullPolicy": "IfNotPresent",
                                        "terminationMessagePath": "/dev/termination-log",
                                        "terminationMessagePolicy": "File"}],
                        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                        "schedulerName": "default-scheduler", "securityContext": {},
                        "terminationGracePeriodSeconds": 30}})
    }

    /// Applies `f` and checks that applying it again changes nothing.
    fn defaulted(f: Rewrite, mut object: Value) -> Value {
        f(&mut object);
        let mut again = object.clone();
        f(&mut again);
        assert_eq!(again, object, "defaulting is idempotent");
        object
    }

    #[test]
    fn deployments_roll_with_a_quarter_surge_and_unavailability() {
        let d = defaulted(deployment, json!({"spec": {"template": template()}}));
        assert_eq!(
            d["spec"],
            json!({"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                   "strategy": {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                   "template": defaulted_template()})
        );
        // Given values are kept; Recreate gets no rolling parameters.
        let d = defaulted(
            deployment,
            json!({"spec": {"replicas": 0, "strategy": {"rollingUpdate": {"maxSurge": 0}}}}),
        );
        assert_eq!(d["spec"]["replicas"], 0);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "25%"}})
        );
        let d = defaulted(
            deployment,
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        );
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn stateful_sets_roll_from_partition_zero_and_retain_claims() {
        let s = defaulted(
            stateful_set,
            json!({"spec": {"serviceName": "db", "template": template(),
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"]}}]}}),
        );
        assert_eq!(
            s["spec"],
            json!({"serviceName": "db", "replicas": 1, "revisionHistoryLimit": 10,
                   "podManagementPolicy": "OrderedReady",
                   "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                   "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                   "template": defaulted_template(),
                   "volumeClaimTemplates": [{"metadata": {"name": "data"},
                       "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"},
                       "status": {"phase": "Pending"}}]})
        );
        // An explicit RollingUpdate without parameters stays without; OnDelete has none.
        let s = defaulted(
            stateful_set,
            json!({"spec": {"updateStrategy": {"type": "RollingUpdate"}}}),
        );
        assert_eq!(
            s["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate"})
        );
        let s = defaulted(
            stateful_set,
            json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
                            "podManagementPolicy": "Parallel"}}),
        );
        assert_eq!(
            s["spec"]["updateStrategy"]["rollingUpdate"],
            json!({"maxUnavailable": 2, "partition": 0})
        );
        assert_eq!(s["spec"]["podManagementPolicy"], "Parallel");
        let s = defaulted(
            stateful_set,
            json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
        );
        assert_eq!(s["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    }

    #[test]
    fn daemon_sets_roll_one_at_a_time_without_surge() {
        let d = defaulted(daemon_set, json!({"spec": {"template": template()}}));
        assert_eq!(
            d["spec"],
            json!({"revisionHistoryLimit": 10,
                   "updateStrategy": {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                   "template": defaulted_template()})
        );
        let d = defaulted(
            daemon_set,
            json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
        );
        assert_eq!(d["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    }

    #[test]
    fn replica_sets_default_to_one_replica() {
        let r = defaulted(replica_set, json!({"spec": {"template": template()}}));
        assert_eq!(
            r["spec"],
            json!({"replicas": 1, "template": defaulted_template()})
        );
    }

    #[test]
    fn jobs_default_as_kubernetes_does() {
        let mut t = template();
        t["spec"]["restartPolicy"] = json!("Never");
        let j = defaulted(
            job,
            json!({"metadata": {"name": "j"}, "spec": {"template": t}}),
        );
        let mut want_template = defaulted_template();
        want_template["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(
            j["spec"],
            json!({"completions": 1, "parallelism": 1, "backoffLimit": 6,
                   "completionMode": "NonIndexed", "suspend": false, "manualSelector": false,
                   "podReplacementPolicy": "TerminatingOrFailed", "template": want_template})
        );
        assert_eq!(
            j["metadata"]["labels"],
            json!({"app": "a"}),
            "a Job without labels takes its template's"
        );
        // Only completions given: parallelism 1; only parallelism: completions stay unset.
        let j = defaulted(job, json!({"spec": {"completions": 5}}));
        assert_eq!(
            (
                j["spec"]["completions"].clone(),
                j["spec"]["parallelism"].clone()
            ),
            (json!(5), json!(1))
        );
        let j = defaulted(job, json!({"spec": {"parallelism": 3}}));
        assert!(j["spec"].get("completions").is_none(), "{j}");
        // Per-index backoff: no global limit; a pod failure policy: replace only failed pods.
        let j = defaulted(
            job,
            json!({"metadata": {"labels": {"mine": "x"}},
                   "spec": {"backoffLimitPerIndex": 1, "completionMode": "Indexed", "completions": 3,
                            "template": template(),
                            "podFailurePolicy": {"rules": [{"action": "Ignore",
                                "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
        );
        assert_eq!(j["spec"]["backoffLimit"], i64::from(i32::MAX));
        assert_eq!(j["spec"]["completionMode"], "Indexed");
        assert_eq!(j["spec"]["podReplacementPolicy"], "Failed");
        assert_eq!(
            j["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
            "True"
        );
        assert_eq!(j["metadata"]["labels"], json!({"mine": "x"}));
    }

    #[test]
    fn cron_jobs_default_their_policy_and_history_and_their_pods_only() {
        let mut t = template();
        t["spec"]["restartPolicy"] = json!("OnFailure");
        let c = defaulted(
            cron_job,
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": t}}}}),
        );
        let mut want_template = defaulted_template();
        want_template["spec"]["restartPolicy"] = json!("OnFailure");
        assert_eq!(
            c["spec"],
            json!({"schedule": "* * * * *", "concurrencyPolicy": "Allow", "suspend": false,
                   "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                   "jobTemplate": {"spec": {"template": want_template}}})
        );
    }

    #[test]
    fn services_default_type_affinity_and_ports() {
        let s = defaulted(
            service,
            json!({"spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https", "protocol": "UDP"},
                                      {"port": 8080, "targetPort": 0}],
                            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10}}}}),
        );
        assert_eq!(
            s["spec"],
            json!({"type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                   "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80},
                             {"port": 443, "targetPort": "https", "protocol": "UDP"},
                             {"port": 8080, "protocol": "TCP", "targetPort": 8080}]})
        );
        let s = defaulted(service, json!({"spec": {"type": "LoadBalancer"}}));
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(s["spec"]["allocateLoadBalancerNodePorts"], true);
        let s = defaulted(
            service,
            json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}),
        );
        assert_eq!(
            s["spec"],
            json!({"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"})
        );
        let s = defaulted(
            service,
            json!({"spec": {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {}}}),
        );
        assert_eq!(s["spec"]["sessionAffinityConfig"], json!({}));
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, policy) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("registry:5000/team/nginx", "Always"),
            ("registry:5000/team/nginx:latest", "Always"),
            ("nginx:1.27", "IfNotPresent"),
            ("registry:5000/nginx:1.27", "IfNotPresent"),
            ("nginx@sha256:0123", "IfNotPresent"),
            ("nginx:latest@sha256:0123", "Always"),
            ("", "IfNotPresent"),
        ] {
            assert_eq!(pull_policy(image), policy, "{image}");
        }
    }

    #[test]
    fn pods_and_their_containers_probes_and_volumes() {
        let p = defaulted(
            pod,
            json!({"spec": {"hostNetwork": true,
                "containers": [{"name": "c", "image": "app",
                    "ports": [{"containerPort": 8080}, {"containerPort": 9090, "hostPort": 9999}],
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
                    "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "livenessProbe": {"httpGet": {"port": 80}, "periodSeconds": 0},
                    "readinessProbe": {"grpc": {"port": 9000}, "timeoutSeconds": 5},
                    "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}}}],
                "initContainers": [{"name": "i", "image": "init:1", "resources": {"limits": {"memory": "1Gi"}}}],
                "volumes": [{"name": "scratch"},
                            {"name": "s", "secret": {"secretName": "s"}},
                            {"name": "cm", "configMap": {"name": "cm", "defaultMode": 256}},
                            {"name": "h", "hostPath": {"path": "/tmp"}},
                            {"name": "d", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
                            {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]}}),
        );
        let spec = &p["spec"];
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["restartPolicy"], "Always");
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(
            c["ports"],
            json!([{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"},
                   {"containerPort": 9090, "hostPort": 9999, "protocol": "TCP"}])
        );
        assert_eq!(
            c["resources"]["requests"],
            json!({"cpu": "500m", "memory": "1Gi"})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(
            c["livenessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "periodSeconds": 10,
                   "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(
            c["readinessProbe"],
            json!({"grpc": {"port": 9000, "service": ""}, "periodSeconds": 10,
                   "timeoutSeconds": 5, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(
            c["lifecycle"]["preStop"]["httpGet"],
            json!({"port": 80, "path": "/stop", "scheme": "HTTP"})
        );
        let init = &spec["initContainers"][0];
        assert_eq!(init["imagePullPolicy"], "IfNotPresent");
        assert_eq!(init["terminationMessagePolicy"], "File");
        assert_eq!(init["resources"]["requests"], json!({"memory": "1Gi"}));
        assert_eq!(
            spec["volumes"],
            json!([{"name": "scratch", "emptyDir": {}},
                   {"name": "s", "secret": {"secretName": "s", "defaultMode": 420}},
                   {"name": "cm", "configMap": {"name": "cm", "defaultMode": 256}},
                   {"name": "h", "hostPath": {"path": "/tmp", "type": ""}},
                   {"name": "d", "downwardAPI": {"defaultMode": 420, "items": [{"path": "n",
                       "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}]}},
                   {"name": "p", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken":
                       {"path": "t", "expirationSeconds": 3600}}]}}])
        );
        // Templates get no pod-only defaults (service links, requests from limits).
        let d = defaulted(
            deployment,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "a:1",
                "resources": {"limits": {"cpu": "1"}}}]}}}}),
        );
        let pod = &d["spec"]["template"]["spec"];
        assert!(pod.get("enableServiceLinks").is_none(), "{pod}");
        assert!(
            pod["containers"][0]["resources"].get("requests").is_none(),
            "{pod}"
        );
    }

    #[test]
    fn wrong_types_are_left_to_validation() {
        let mut odd = json!({"spec": "nope"});
        deployment(&mut odd);
        assert_eq!(odd, json!({"spec": "nope"}));
        let mut odd = json!({"spec": {"strategy": 3, "template": {"spec": {"containers": "x"}}}});
        deployment(&mut odd);
        assert_eq!(odd["spec"]["strategy"], 3);
        assert_eq!(odd["spec"]["template"]["spec"]["containers"], "x");
        assert!(for_kind("", "configmaps").is_none());
        assert!(for_kind("apps", "deployments").is_some());
    }
}
