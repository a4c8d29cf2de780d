//! Kubernetes API defaults as kubectl sees them, with every installed kubectl
//! 1.27–1.33 (`/usr/lib/google-cloud-sdk/bin/kubectl.1.NN`; missing ones are
//! skipped with a note, and the kubectl on PATH is used when none is):
//!
//! - `apply -f` of workloads, a Service, a Job and a CronJob that name none
//!   of their defaults: the stored objects carry kube-apiserver's
//!   (`SetDefaults_*` of 1.33: strategies, history limits, pod template and
//!   container defaults, Service ports, Job selector);
//! - `rollout status` of a StatefulSet and a DaemonSet (which kubectl refuses
//!   for anything but the `RollingUpdate` strategy) waits, then succeeds
//!   once their status is set through `/status`;
//! - `describe deployment` shows `StrategyType: RollingUpdate`, and
//!   `describe statefulset` / `daemonset` work at the federation endpoint
//!   (they list the workload's pods: pods are served there too);
//! - `apply --server-side` with defaults: the applier owns none of the
//!   defaulted fields, applying twice changes nothing, and a field dropped
//!   from the configuration falls back to its default.
//!
//! Plus, over raw HTTPS: defaults on update and patch, and Job's
//! `restartPolicy` rule (422, as Job validation requires).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use flotilla_e2e::{kubectl_at, wait_for, ApiServer, Https};
use serde_json::{json, Value};

/// Where the versioned kubectl binaries live on these machines.
const VERSIONED_KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

const WORKLOADS: &str = r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: db
        image: postgres:16
        ports:
        - containerPort: 5432
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: agent
        image: busybox
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:latest
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
---
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: once
        image: busybox:1.36
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: tick
            image: busybox:1.36
"#;

/// Server-side applied twice, then without `revisionHistoryLimit` and
/// `strategy` ([`SSA_V2`]).
const SSA_V1: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
spec:
  replicas: 2
  revisionHistoryLimit: 5
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app: ssa
  template:
    metadata:
      labels:
        app: ssa
    spec:
      containers:
      - name: app
        image: nginx:1.27
"#;

const SSA_V2: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
spec:
  replicas: 2
  selector:
    matchLabels:
      app: ssa
  template:
    metadata:
      labels:
        app: ssa
    spec:
      containers:
      - name: app
        image: nginx:1.27
"#;

/// The defaults of a pod template's spec as Kubernetes stores them.
fn pod_template_defaults(spec: &Value, restart_policy: &str) -> Result<()> {
    for (field, want) in [
        ("restartPolicy", json!(restart_policy)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("securityContext", json!({})),
    ] {
        ensure!(spec[field] == want, "{field}: want {want}, got {spec}");
    }
    for c in spec["containers"].as_array().context("containers")? {
        ensure!(
            c["terminationMessagePath"] == "/dev/termination-log"
                && c["terminationMessagePolicy"] == "File",
            "container defaults: {c}"
        );
        for port in c["ports"].as_array().into_iter().flatten() {
            ensure!(port["protocol"] == "TCP", "port protocol: {c}");
        }
    }
    Ok(())
}

/// One kubectl binary against the shared server.
struct Kubectl<'a> {
    label: String,
    binary: String,
    server: &'a ApiServer,
    ns: String,
}

impl Kubectl<'_> {
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut full: Vec<&str> = vec!["-n", &self.ns];
        full.extend_from_slice(args);
        kubectl_at(&self.binary, &self.server.kubeconfig(), &full, None)
    }

    fn ok(&self, args: &[&str]) -> Result<String> {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        ensure!(
            out.status.success(),
            "kubectl {} {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
            self.label,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(stdout)
    }

    fn json(&self, what: &str) -> Result<Value> {
        serde_json::from_str(&self.ok(&["get", what, "-o", "json"])?)
            .with_context(|| format!("{what} as JSON"))
    }

    /// [`Kubectl::json`] with `metadata.managedFields` (hidden by default).
    fn json_managed(&self, what: &str) -> Result<Value> {
        let out = self.ok(&["get", what, "-o", "json", "--show-managed-fields"])?;
        serde_json::from_str(&out).with_context(|| format!("{what} as JSON"))
    }

    fn file(&self, name: &str, text: &str) -> Result<String> {
        let path = self
            .server
            .data_dir
            .join(format!("{}-{name}", self.ns.replace('.', "-")));
        std::fs::write(&path, text)?;
        Ok(path.display().to_string())
    }

    fn path(&self, group_version: &str, plural: &str, name: &str) -> String {
        let root = if group_version == "v1" {
            "/api/v1".to_string()
        } else {
            format!("/apis/{group_version}")
        };
        format!("{root}/namespaces/{}/{plural}/{name}", self.ns)
    }
}

/// (label, binary) of every installed versioned kubectl, else the one on PATH.
fn kubectls() -> Vec<(String, String)> {
    let mut all = Vec::new();
    for minor in 27..=33 {
        let path = format!("{VERSIONED_KUBECTL_DIR}/kubectl.1.{minor}");
        if Path::new(&path).exists() {
            all.push((format!("1.{minor}"), path));
        } else {
            eprintln!("note: skipping kubectl 1.{minor}: {path} is not installed");
        }
    }
    let on_path = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if all.is_empty() && on_path {
        all.push(("PATH".into(), "kubectl".into()));
    }
    all
}

fn merge_status(h: &Https, path: &str, status: Value) -> Result<()> {
    let r = h.patch(
        &format!("{path}/status"),
        "application/merge-patch+json",
        &json!({ "status": status }),
    )?;
    ensure!(
        r.status == 200,
        "status of {path}: {} {}",
        r.status,
        r.text()
    );
    Ok(())
}

/// A pod of a workload (`ownerReferences` with `controller: true`: what
/// `describe` counts), created over HTTPS.
fn owned_pod(h: &Https, k: &Kubectl, name: &str, app: &str, owner: &Value) -> Result<String> {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"containers": [{"name": app, "image": "busybox:1.36"}]}});
    let path = k.path("v1", "pods", "");
    let r = h.post_json(path.trim_end_matches('/'), &pod)?;
    ensure!(
        r.status == 201,
        "creating pod {name}: {} {}",
        r.status,
        r.text()
    );
    let created = r.json();
    ensure!(
        created["status"] == json!({"phase": "Pending", "qosClass": "BestEffort"})
            && created["spec"]["enableServiceLinks"] == true
            && created["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent",
        "a new pod is defaulted and Pending: {created}"
    );
    Ok(k.path("v1", "pods", name))
}

fn stored_defaults(k: &Kubectl) -> Result<()> {
    let sts = k.json("statefulset/db")?;
    let spec = &sts["spec"];
    ensure!(
        spec["replicas"] == 1
            && spec["podManagementPolicy"] == "OrderedReady"
            && spec["updateStrategy"]
                == json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
            && spec["revisionHistoryLimit"] == 10
            && spec["persistentVolumeClaimRetentionPolicy"]
                == json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        "StatefulSet defaults: {spec}"
    );
    pod_template_defaults(&spec["template"]["spec"], "Always")?;
    ensure!(
        spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent",
        "postgres:16 is pulled if not present: {spec}"
    );

    let ds = k.json("daemonset/agent")?;
    ensure!(
        ds["spec"]["updateStrategy"]
            == json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
            && ds["spec"]["revisionHistoryLimit"] == 10
            && ds["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always",
        "DaemonSet defaults (busybox without a tag is always pulled): {}",
        ds["spec"]
    );
    pod_template_defaults(&ds["spec"]["template"]["spec"], "Always")?;

    let deploy = k.json("deployment/web")?;
    let spec = &deploy["spec"];
    ensure!(
        spec["replicas"] == 1
            && spec["strategy"]
                == json!({"type": "RollingUpdate",
                          "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
            && spec["revisionHistoryLimit"] == 10
            && spec["progressDeadlineSeconds"] == 600
            && spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always",
        "Deployment defaults: {spec}"
    );

    let svc = k.json("service/web")?;
    ensure!(
        svc["spec"]["type"] == "ClusterIP"
            && svc["spec"]["sessionAffinity"] == "None"
            && svc["spec"]["internalTrafficPolicy"] == "Cluster"
            && svc["spec"]["ports"] == json!([{"port": 80, "protocol": "TCP", "targetPort": 80}]),
        "Service defaults: {}",
        svc["spec"]
    );

    let job = k.json("job/once")?;
    let spec = &job["spec"];
    let uid = job["metadata"]["uid"].as_str().context("uid")?;
    ensure!(
        spec["completions"] == 1
            && spec["parallelism"] == 1
            && spec["backoffLimit"] == 6
            && spec["completionMode"] == "NonIndexed"
            && spec["suspend"] == false
            && spec["manualSelector"] == false
            && spec["podReplacementPolicy"] == "TerminatingOrFailed"
            && spec["selector"]
                == json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
            && spec["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "once"
            && spec["template"]["metadata"]["labels"]["controller-uid"] == uid,
        "Job defaults and generated selector: {spec}"
    );
    pod_template_defaults(&spec["template"]["spec"], "Never")?;

    let cron = k.json("cronjob/tick")?;
    let spec = &cron["spec"];
    ensure!(
        spec["concurrencyPolicy"] == "Allow"
            && spec["suspend"] == false
            && spec["successfulJobsHistoryLimit"] == 3
            && spec["failedJobsHistoryLimit"] == 1
            && spec["jobTemplate"]["spec"].get("backoffLimit").is_none(),
        "CronJob defaults (its job template is not a Job): {spec}"
    );
    pod_template_defaults(
        &spec["jobTemplate"]["spec"]["template"]["spec"],
        "OnFailure",
    )
}

fn rollout_and_describe(k: &Kubectl, h: &Https) -> Result<()> {
    // Before any status: rollout status waits instead of refusing the strategy.
    for what in ["statefulset/db", "daemonset/agent"] {
        let out = k.run(&["rollout", "status", what, "--timeout=2s"]);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        ensure!(
            !out.status.success()
                && !stderr.contains("only available")
                && stdout.contains("Waiting for"),
            "{what} without status: rollout status should wait:\nstdout: {stdout}\nstderr: {stderr}"
        );
    }

    let sts = k.json("statefulset/db")?;
    merge_status(
        h,
        &k.path("apps/v1", "statefulsets", "db"),
        json!({"observedGeneration": sts["metadata"]["generation"], "replicas": 1,
            "readyReplicas": 1, "currentReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
            "currentRevision": "db-1", "updateRevision": "db-1"}),
    )?;
    let out = k.ok(&["rollout", "status", "statefulset/db", "--timeout=30s"])?;
    ensure!(
        out.contains("partitioned roll out complete: 1 new pods have been updated"),
        "{out}"
    );

    let ds = k.json("daemonset/agent")?;
    merge_status(
        h,
        &k.path("apps/v1", "daemonsets", "agent"),
        json!({"observedGeneration": ds["metadata"]["generation"], "currentNumberScheduled": 2,
            "desiredNumberScheduled": 2, "numberMisscheduled": 0, "numberReady": 2,
            "updatedNumberScheduled": 2, "numberAvailable": 2}),
    )?;
    let out = k.ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"])?;
    ensure!(
        out.contains(r#"daemon set "agent" successfully rolled out"#),
        "{out}"
    );

    let described = k.ok(&["describe", "deployment", "web"])?;
    let line = |text: &str, key: &str| -> String {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    ensure!(
        line(&described, "StrategyType:") == "StrategyType: RollingUpdate"
            && line(&described, "RollingUpdateStrategy:")
                == "RollingUpdateStrategy: 25% max unavailable, 25% max surge",
        "describe deployment:\n{described}"
    );

    // describe of a StatefulSet / DaemonSet lists its pods by selector.
    owned_pod(h, k, "db-0", "db", &sts)?;
    let agent_pod = owned_pod(h, k, "agent-x1", "agent", &ds)?;
    merge_status(h, &agent_pod, json!({"phase": "Running"}))?;
    let described = k.ok(&["describe", "statefulset", "db"])?;
    ensure!(
        line(&described, "Update Strategy:") == "Update Strategy: RollingUpdate"
            && line(&described, "Partition:") == "Partition: 0"
            && line(&described, "Pods Status:")
                == "Pods Status: 0 Running / 1 Waiting / 0 Succeeded / 0 Failed",
        "describe statefulset:\n{described}"
    );
    let described = k.ok(&["describe", "daemonset", "agent"])?;
    ensure!(
        line(&described, "Pods Status:")
            == "Pods Status: 1 Running / 0 Waiting / 0 Succeeded / 0 Failed"
            && line(
                &described,
                "Number of Nodes Scheduled with Up-to-date Pods:"
            ) == "Number of Nodes Scheduled with Up-to-date Pods: 2",
        "describe daemonset:\n{described}"
    );
    let pods = k.ok(&["get", "pods"])?;
    ensure!(
        pods.contains("db-0") && pods.contains("agent-x1") && pods.contains("Running"),
        "{pods}"
    );
    Ok(())
}

fn server_side_apply(k: &Kubectl) -> Result<()> {
    let v1 = k.file("ssa-v1.yaml", SSA_V1)?;
    let v2 = k.file("ssa-v2.yaml", SSA_V2)?;
    let applied = k.ok(&["apply", "--server-side", "-f", &v1])?;
    ensure!(
        applied.contains("deployment.apps/ssa serverside-applied"),
        "{applied}"
    );
    let live = k.json_managed("deployment/ssa")?;
    ensure!(
        live["spec"]["strategy"] == json!({"type": "Recreate"})
            && live["spec"]["revisionHistoryLimit"] == 5
            && live["spec"]["progressDeadlineSeconds"] == 600,
        "{}",
        live["spec"]
    );
    let owned = |live: &Value| -> Result<String> {
        let entries = live["metadata"]["managedFields"]
            .as_array()
            .context("managedFields")?;
        let mine = entries
            .iter()
            .find(|e| e["manager"] == "kubectl" && e["operation"] == "Apply")
            .context("no Apply entry of kubectl")?;
        Ok(mine["fieldsV1"].to_string())
    };
    let fields = owned(&live)?;
    ensure!(
        fields.contains("f:revisionHistoryLimit")
            && !fields.contains("f:progressDeadlineSeconds")
            && !fields.contains("f:dnsPolicy")
            && !fields.contains("f:terminationMessagePath"),
        "the applier owns what it applied, not the defaults: {fields}"
    );
    let rv = live["metadata"]["resourceVersion"].clone();

    k.ok(&["apply", "--server-side", "-f", &v1])?;
    let again = k.json_managed("deployment/ssa")?;
    ensure!(
        again["metadata"]["resourceVersion"] == rv && again["metadata"]["generation"] == 1,
        "applying the same configuration again changes nothing: {}",
        again["metadata"]
    );

    k.ok(&["apply", "--server-side", "-f", &v2])?;
    let live = k.json_managed("deployment/ssa")?;
    ensure!(
        live["spec"]["strategy"]
            == json!({"type": "RollingUpdate",
                      "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
            && live["spec"]["revisionHistoryLimit"] == 10
            && live["metadata"]["generation"] == 2,
        "dropped fields fall back to their defaults: {}",
        live["spec"]
    );
    ensure!(
        !owned(&live)?.contains("f:revisionHistoryLimit"),
        "{}",
        owned(&live)?
    );
    let rv = live["metadata"]["resourceVersion"].clone();
    k.ok(&["apply", "--server-side", "-f", &v2])?;
    ensure!(
        k.json_managed("deployment/ssa")?["metadata"]["resourceVersion"] == rv,
        "the second apply of V2 is a no-op"
    );
    Ok(())
}

fn one_version(server: &ApiServer, label: &str, binary: &str) -> Result<()> {
    let k = Kubectl {
        label: label.to_string(),
        binary: binary.to_string(),
        server,
        ns: format!("v{}", label.replace('.', "-").to_ascii_lowercase()),
    };
    let h = server.https();
    kubectl_at(
        binary,
        &server.kubeconfig(),
        &["create", "namespace", &k.ns],
        None,
    );
    wait_for(Duration::from_secs(10), "the namespace", || {
        (h.get(&format!("/api/v1/namespaces/{}", k.ns)).ok()?.status == 200).then_some(())
    })?;
    let manifest = k.file("workloads.yaml", WORKLOADS)?;
    let applied = k.ok(&["apply", "-f", &manifest])?;
    for line in [
        "statefulset.apps/db created",
        "daemonset.apps/agent created",
        "deployment.apps/web created",
        "service/web created",
        "job.batch/once created",
        "cronjob.batch/tick created",
    ] {
        ensure!(applied.contains(line), "{applied}");
    }
    stored_defaults(&k).context("stored defaults")?;
    rollout_and_describe(&k, &h).context("rollout status and describe")?;
    server_side_apply(&k).context("server-side apply")?;
    // Client-side apply of the same manifest again: nothing changes.
    let again = k.ok(&["apply", "-f", &manifest])?;
    ensure!(
        again.contains("statefulset.apps/db unchanged")
            && again.contains("deployment.apps/web unchanged")
            && again.contains("service/web unchanged"),
        "re-applying a manifest without the defaults changes nothing:\n{again}"
    );
    Ok(())
}

#[test]
fn defaults_with_every_kubectl_version() {
    let all = kubectls();
    assert!(!all.is_empty(), "no kubectl is installed");
    let server = ApiServer::start().expect("server starts");
    let mut failures = Vec::new();
    for (label, binary) in &all {
        match one_version(&server, label, binary) {
            Ok(()) => eprintln!("kubectl {label}: defaults, rollout status, describe, SSA passed"),
            Err(e) => failures.push(format!("kubectl {label}: {e:#}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n--- server log tail:\n{}",
        failures.join("\n\n"),
        server
            .log()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Defaults apply to updates and patches too; Jobs need a restart policy
/// that does not restart in place.
#[test]
fn updates_and_patches_are_defaulted_and_jobs_need_a_restart_policy() {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    let path = "/apis/apps/v1/namespaces/default/statefulsets";
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
        "spec": {"serviceName": "s", "selector": {"matchLabels": {"app": "s"}},
            "template": {"metadata": {"labels": {"app": "s"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}});
    let created = h.post_json(path, &sts).unwrap();
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();

    // A PUT without the defaults gets them again: no spec change, no new generation.
    let mut put = sts.clone();
    put["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"].clone();
    let updated = h.put_json(&format!("{path}/s"), &put).unwrap();
    assert_eq!(updated.status, 200, "{}", updated.text());
    let updated = updated.json();
    assert_eq!(updated["spec"], created["spec"]);
    assert_eq!(
        updated["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    // A merge patch removing the strategy: defaulted back; OnDelete stays OnDelete.
    let patched = h
        .patch(
            &format!("{path}/s"),
            "application/merge-patch+json",
            &json!({"spec": {"updateStrategy": null, "podManagementPolicy": null}}),
        )
        .unwrap()
        .json();
    assert_eq!(
        patched["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(patched["spec"]["podManagementPolicy"], "OrderedReady");
    let patched = h
        .patch(
            &format!("{path}/s"),
            "application/merge-patch+json",
            &json!({"spec": {"updateStrategy": {"type": "OnDelete", "rollingUpdate": null}}}),
        )
        .unwrap()
        .json();
    assert_eq!(
        patched["spec"]["updateStrategy"],
        json!({"type": "OnDelete"})
    );
    assert_eq!(
        patched["metadata"]["generation"], 2,
        "{}",
        patched["metadata"]
    );

    // Jobs: restartPolicy Always (or none, which pod defaulting makes Always) is refused.
    let jobs = "/apis/batch/v1/namespaces/default/jobs";
    let job = |policy: Option<&str>| {
        let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
        if let Some(p) = policy {
            spec["restartPolicy"] = json!(p);
        }
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"template": {"spec": spec}}})
    };
    for (policy, reason, message) in [
        (
            None,
            "FieldValueRequired",
            r#"Job.batch "j" is invalid: spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#,
        ),
        (
            Some("Always"),
            "FieldValueRequired",
            r#"Job.batch "j" is invalid: spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#,
        ),
        (
            Some("Sometimes"),
            "FieldValueNotSupported",
            r#"Job.batch "j" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "OnFailure", "Never""#,
        ),
    ] {
        let r = h.post_json(jobs, &job(policy)).unwrap();
        assert_eq!(r.status, 422, "{policy:?}: {}", r.text());
        let status = r.json();
        assert_eq!(status["message"], message, "{status}");
        assert_eq!(status["details"]["causes"][0]["reason"], reason, "{status}");
    }
    let r = h.post_json(jobs, &job(Some("OnFailure"))).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
}
