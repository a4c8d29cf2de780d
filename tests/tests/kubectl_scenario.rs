//! One end-to-end kubectl scenario, run with every installed kubectl
//! 1.27–1.33 (`/usr/lib/google-cloud-sdk/bin/kubectl.1.NN`, missing ones are
//! skipped with a note) and with the `kubectl` on PATH, each against its own
//! fresh server, several at a time:
//!
//!  1. `apply -f` creates a Deployment (2 containers, env vars), validated
//!     against the server's OpenAPI (no `--validate=false`);
//!  2. `apply -f` again with a container, an env var, a port, `args`, a
//!     label and map entries dropped and an env var changed: the live spec
//!     is the manifest exactly ([`exact`]: nothing left over, nothing added
//!     but listed server defaults);
//!  3. `get` tables: Deployment columns, `get cm -A` with NAMESPACE, `-o wide`;
//!  4. `get cm -w` in the background sees changes as they happen;
//!  5. `diff -f` shows a change (exit code 1) and changes nothing;
//!  6. `scale` of a Deployment, a StatefulSet and a ReplicaSet;
//!  7. `patch --type=json`, `--type=merge` and the default strategic patch;
//!  8. `label` and `annotate`;
//!  9. `edit` through `KUBE_EDITOR`;
//! 10. `explain deployment.spec.replicas`;
//! 11. `apply --server-side`: a conflict between two field managers, then
//!     `--force-conflicts`;
//! 12. `create deployment` / `create configmap` (protobuf bodies on 1.32+);
//! 13. a CRD (short name, printer columns, schema): `wait` for Established,
//!     a custom resource applied twice (created, configured: exactly the
//!     manifest), `get` by short name and `-A`, a schema violation,
//!     `explain`, `delete crd` taking its objects with it;
//! 14. `rollout status`, `wait --for=condition=Available`,
//!     `wait --for=jsonpath=...` (all watching while the status is set
//!     through `patch --subresource=status`) and `wait --for=delete`;
//! 15. failures printed kubectl's way: Conflict (`replace` with a stale
//!     resourceVersion), Forbidden (`delete ns default`),
//!     RequestEntityTooLarge (a configmap over 3 MiB), BadRequest (unknown
//!     fields, server-side strict validation), Unauthorized (a wrong token);
//! 16. `api-resources`;
//! 17. `delete` of an object, then of the namespace with what it holds.
//!
//! Every failure triggered on purpose must be printed kubectl's way,
//! `Error from server (Reason): message` (or kubectl's own `The X "y" is
//! invalid: ...` for `Invalid`), never a client-side decoding error.
//!
//! A failure names the kubectl version, the step, the command with its
//! stdout/stderr, and ends with the tail of that server's log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use flotilla_e2e::{kubectl_at_env, wait_for, ApiServer, KubectlWatch};
use serde_json::{json, Value};

/// Where the versioned kubectl binaries live on these machines.
const VERSIONED_KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

/// How many kubectl versions run at the same time (each with its own server).
const PARALLEL: usize = 4;

/// The namespace the scenario works in (created in step 0, deleted in 14).
const NS: &str = "scenario";

/// How long a `kubectl get -w` may take to print its next line.
const WATCH_LINE_TIMEOUT: Duration = Duration::from_secs(20);

const DEPLOYMENT_V1: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: scenario
  labels:
    app: web
    stage: draft
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
      annotations:
        note: first
    spec:
      nodeSelector:
        disk: ssd
        zone: a
      containers:
      - name: app
        image: nginx:1.27
        args: ["--verbose"]
        ports:
        - containerPort: 80
          name: http
        - containerPort: 9090
          name: metrics
        env:
        - name: MODE
          value: old
        - name: LEVEL
          value: "1"
        - name: COLOR
          value: blue
      - name: sidecar
        image: busybox:1.36
        args: ["sleep", "infinity"]
        env:
        - name: SIDE
          value: "yes"
"#;

/// V1 with things removed at every level: the `sidecar` container, the
/// `COLOR` variable, the `metrics` port, `args`, a label, the template's
/// annotations (a whole map) and a `nodeSelector` key; `MODE` changed.
const DEPLOYMENT_V2: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: scenario
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      nodeSelector:
        disk: ssd
      containers:
      - name: app
        image: nginx:1.27
        ports:
        - containerPort: 80
          name: http
        env:
        - name: MODE
          value: new
        - name: LEVEL
          value: "1"
"#;

const CONFIGMAPS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: scenario
data:
  color: blue
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: other
  namespace: default
data:
  a: "1"
  b: "2"
"#;

const SSA_ALICE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
  namespace: scenario
data:
  owner: alice
  shared: from-alice
"#;

const SSA_BOB: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
  namespace: scenario
data:
  shared: from-bob
"#;

/// A StatefulSet and a ReplicaSet for `kubectl scale` (step 6).
const WORKLOADS: &str = r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: scenario
spec:
  replicas: 1
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
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: cache
  namespace: scenario
spec:
  replicas: 1
  selector:
    matchLabels:
      app: cache
  template:
    metadata:
      labels:
        app: cache
    spec:
      containers:
      - name: cache
        image: redis:7
"#;

/// The CRD of step 13: a short name, printer columns, a schema with descriptions.
const CRD_NAME: &str = "gadgets.scenario.example.com";
const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.scenario.example.com
spec:
  group: scenario.example.com
  scope: Namespaced
  names:
    plural: gadgets
    singular: gadget
    kind: Gadget
    shortNames: [gdg]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
                minimum: 1
                description: How big the gadget is, in gadget units.
              color:
                type: string
              owner:
                type: string
              tags:
                type: array
                items:
                  type: string
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Color
      type: string
      jsonPath: .spec.color
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
"#;

const GADGET_V1: &str = r#"apiVersion: scenario.example.com/v1
kind: Gadget
metadata:
  name: g1
  namespace: scenario
spec:
  size: 3
  color: red
  owner: alice
  tags: [a, b]
"#;

/// V1 with `owner` dropped, `size`, `color` and `tags` changed.
const GADGET_V2: &str = r#"apiVersion: scenario.example.com/v1
kind: Gadget
metadata:
  name: g1
  namespace: scenario
spec:
  size: 4
  color: blue
  tags: [c]
"#;

const GADGET_ELSEWHERE: &str = r#"apiVersion: scenario.example.com/v1
kind: Gadget
metadata:
  name: g0
  namespace: default
spec:
  size: 1
  color: green
"#;

/// Unknown fields, for server-side strict field validation (step 15).
const UNKNOWN_TOP_LEVEL_FIELD: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: strict
  namespace: scenario
datta:
  a: "1"
"#;

const UNKNOWN_NESTED_FIELD: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: strict
  namespace: scenario
spec:
  selector:
    matchLabels:
      app: strict
  template:
    metadata:
      labels:
        app: strict
    spec:
      containers:
      - name: app
        image: nginx
        imagePullPolicyy: Always
"#;

/// Paths (list indexes written `[*]`) the server may fill in beyond a
/// manifest, the only difference [`exact`] tolerates: Kubernetes' API
/// defaults of a Deployment (`rest/defaults.rs`) — nothing else.
const SERVER_DEFAULTS: &[&str] = &[
    "spec.strategy",
    "spec.revisionHistoryLimit",
    "spec.progressDeadlineSeconds",
    "spec.template.spec.restartPolicy",
    "spec.template.spec.dnsPolicy",
    "spec.template.spec.schedulerName",
    "spec.template.spec.terminationGracePeriodSeconds",
    "spec.template.spec.securityContext",
    "spec.template.spec.containers[*].imagePullPolicy",
    "spec.template.spec.containers[*].terminationMessagePath",
    "spec.template.spec.containers[*].terminationMessagePolicy",
    "spec.template.spec.containers[*].ports[*].protocol",
];

/// The `KUBE_EDITOR` of step 9: edits the file kubectl hands it in place.
const EDITOR_SCRIPT: &str = "#!/bin/sh\nset -e\nsed -i 's/value: new$/value: edited/' \"$1\"\n";

/// Strings that mean kubectl could not make sense of the server's answer.
const CLIENT_DECODING_ERRORS: &[&str] = &[
    "json: cannot unmarshal",
    "unable to decode",
    "couldn't get version/kind",
    "Object 'Kind' is missing",
    "no kind is registered",
    "unknown (",
    "has prevented the request from succeeding",
    "for an unknown reason",
    "the server could not find the requested resource",
];

/// Whether a table row begins with these cells.
fn starts(row: &[String], want: &[&str]) -> bool {
    row.len() >= want.len() && row.iter().zip(want).all(|(cell, want)| cell == want)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn yaml(source: &str) -> Value {
    serde_yaml_ng::from_str(source).expect("manifest YAML")
}

/// Whitespace-separated cells of every non-empty line.
fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// A pre-formatted AGE cell such as `0s`, `12s`, `3m4s`.
fn is_age(cell: &str) -> bool {
    cell.starts_with(|c: char| c.is_ascii_digit()) && cell.ends_with(['s', 'm', 'h', 'd', 'y'])
}

/// `path` with every list index written `[*]` (`a[0].b[12]` → `a[*].b[*]`).
fn wildcard(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push_str("[*]");
            }
            ']' if in_index => in_index = false,
            _ if in_index => {}
            c => out.push(c),
        }
    }
    out
}

/// `live` is `want` exactly: every manifest field has the manifest's value,
/// lists have the same items in the same order, and the live object holds
/// nothing more — except at the paths listed in `defaults` (server defaults,
/// see [`SERVER_DEFAULTS`]), which may be present or not.
fn exact(want: &Value, live: &Value, path: &str, defaults: &[&str]) -> Result<()> {
    match (want, live) {
        (Value::Object(w), Value::Object(l)) => {
            for (key, value) in w {
                let inner = format!("{path}.{key}");
                let got = l
                    .get(key)
                    .with_context(|| format!("{inner} is missing from the live object"))?;
                exact(value, got, &inner, defaults)?;
            }
            for (key, value) in l {
                let inner = format!("{path}.{key}");
                ensure!(
                    w.contains_key(key) || defaults.contains(&wildcard(&inner).as_str()),
                    "{inner} is in the live object ({value}) but not in the manifest, \
                     and is not a listed server default"
                );
            }
            Ok(())
        }
        (Value::Array(w), Value::Array(l)) => {
            ensure!(
                w.len() == l.len(),
                "{path}: the live list has {} items, the manifest {}:\nlive: {live}\nmanifest: {want}",
                l.len(),
                w.len()
            );
            for (i, (w, l)) in w.iter().zip(l).enumerate() {
                exact(w, l, &format!("{path}[{i}]"), defaults)?;
            }
            Ok(())
        }
        _ => {
            ensure!(want == live, "{path}: live {live}, manifest {want}");
            Ok(())
        }
    }
}

/// `want` is contained in `live`: every key of an object, recursively, and
/// lists element by element with the same length (so nothing is left over
/// in a list; fields the server defaults are tolerated in objects).
fn contained(want: &Value, live: &Value, path: &str) -> Result<()> {
    match (want, live) {
        (Value::Object(w), Value::Object(l)) => {
            for (key, value) in w {
                let inner = format!("{path}.{key}");
                let got = l
                    .get(key)
                    .with_context(|| format!("{inner} is missing from the live object"))?;
                contained(value, got, &inner)?;
            }
            Ok(())
        }
        (Value::Array(w), Value::Array(l)) => {
            ensure!(
                w.len() == l.len(),
                "{path}: the live list has {} items, the manifest {}:\nlive: {live}\nmanifest: {want}",
                l.len(),
                w.len()
            );
            for (i, (w, l)) in w.iter().zip(l).enumerate() {
                contained(w, l, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ => {
            ensure!(want == live, "{path}: live {live}, manifest {want}");
            Ok(())
        }
    }
}

/// A server error as kubectl prints it: a line `Error from server (Reason):
/// message` containing `message_part`, and no sign of a decoding failure.
fn expect_server_error(stderr: &str, reason: &str, message_part: &str) -> Result<()> {
    let prefix = format!("Error from server ({reason}): ");
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&prefix))
        .with_context(|| format!("no `{prefix}...` line in stderr:\n{stderr}"))?;
    ensure!(
        line.contains(message_part),
        "`{line}` does not contain `{message_part}`"
    );
    no_decoding_error(stderr)
}

/// A 422 `Invalid` Status, which kubectl prints as `The Kind "name" is
/// invalid: ...` (or `The request is invalid: ...` without details).
fn expect_invalid(stderr: &str, message_part: &str) -> Result<()> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("The ") && l.contains(" is invalid"))
        .with_context(|| format!("no `The ... is invalid: ...` line in stderr:\n{stderr}"))?;
    ensure!(
        stderr.contains(message_part),
        "`{line}` (stderr: {stderr}) does not contain `{message_part}`"
    );
    no_decoding_error(stderr)
}

fn no_decoding_error(stderr: &str) -> Result<()> {
    for marker in CLIENT_DECODING_ERRORS {
        ensure!(
            !stderr.contains(marker),
            "kubectl could not decode the server's answer (`{marker}`):\n{stderr}"
        );
    }
    Ok(())
}

/// One kubectl binary against one server, with its own discovery cache and
/// scratch directory (manifests, the editor script).
struct Kubectl {
    /// `1.29`, or `PATH` for the `kubectl` on PATH.
    label: String,
    binary: String,
    kubeconfig: PathBuf,
    scratch: PathBuf,
    /// The discovery cache (`--cache-dir`).
    cache: PathBuf,
    /// The client's minor version (asked from the binary itself).
    minor: u32,
}

impl Kubectl {
    fn new(label: &str, binary: &str, server: &ApiServer, scratch: &Path) -> Result<Self> {
        let mut kubectl = Kubectl {
            label: label.to_string(),
            binary: binary.to_string(),
            kubeconfig: server.kubeconfig(),
            scratch: scratch.to_path_buf(),
            cache: scratch.join("cache"),
            minor: 0,
        };
        let version: Value = serde_json::from_str(&kubectl.ok(&["version", "-o", "json"])?)
            .context("kubectl version -o json")?;
        let minor = version["clientVersion"]["minor"]
            .as_str()
            .context("clientVersion.minor")?;
        kubectl.minor = minor
            .trim_end_matches('+')
            .parse()
            .with_context(|| format!("clientVersion.minor {minor:?}"))?;
        if let Some(wanted) = label.strip_prefix("1.") {
            ensure!(
                minor == wanted,
                "{binary} is kubectl 1.{minor}, not {label}"
            );
        }
        Ok(kubectl)
    }

    fn cache_dir(&self) -> String {
        self.cache.display().to_string()
    }

    /// The same kubectl with another kubeconfig and discovery cache.
    fn with_config(&self, kubeconfig: PathBuf, cache: PathBuf) -> Kubectl {
        Kubectl {
            label: self.label.clone(),
            binary: self.binary.clone(),
            kubeconfig,
            scratch: self.scratch.clone(),
            cache,
            minor: self.minor,
        }
    }

    fn run_env(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let cache = self.cache_dir();
        let mut all = vec!["--cache-dir", cache.as_str()];
        all.extend_from_slice(args);
        kubectl_at_env(&self.binary, &self.kubeconfig, &all, stdin, env)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, None, &[])
    }

    fn describe(&self, args: &[&str], output: &Output) -> String {
        format!(
            "`kubectl {}` (kubectl {}, {}) exited with {}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            self.label,
            self.binary,
            output.status,
            text(&output.stdout),
            text(&output.stderr)
        )
    }

    /// stdout of a run that must succeed.
    fn ok(&self, args: &[&str]) -> Result<String> {
        self.ok_output(args, self.run(args))
    }

    fn ok_output(&self, args: &[&str], output: Output) -> Result<String> {
        if !output.status.success() {
            bail!("failed: {}", self.describe(args, &output));
        }
        Ok(text(&output.stdout))
    }

    /// stderr of a run that must fail.
    fn fails(&self, args: &[&str]) -> Result<String> {
        let output = self.run(args);
        if output.status.success() {
            bail!("succeeded but must fail: {}", self.describe(args, &output));
        }
        Ok(text(&output.stderr))
    }

    /// A kubectl call whose whole stdout must be exactly one line.
    fn ok_line(&self, args: &[&str], want: &str) -> Result<()> {
        let out = self.ok(args)?;
        ensure!(
            out.trim_end() == want,
            "`kubectl {}` printed {out:?}, expected {want:?}",
            args.join(" ")
        );
        Ok(())
    }

    /// `kubectl annotate deployment web -n scenario ARGS`.
    fn annotate(&self, args: &[&str]) -> Result<()> {
        let mut all = vec!["annotate", "deployment", "web", "-n", NS];
        all.extend_from_slice(args);
        let out = self.ok(&all)?;
        // kubectl 1.27 itself prints "annotate" for "annotated".
        let want: &[&str] = if self.minor == 27 {
            &[
                "deployment.apps/web annotated",
                "deployment.apps/web annotate",
            ]
        } else {
            &["deployment.apps/web annotated"]
        };
        ensure!(
            want.contains(&out.trim_end()),
            "`kubectl {}` printed {out:?}, expected {want:?}",
            all.join(" ")
        );
        Ok(())
    }

    fn get_json(&self, args: &[&str]) -> Result<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.ok(&all)?;
        serde_json::from_str(&out).with_context(|| format!("kubectl -o json printed {out}"))
    }

    fn deployment(&self, name: &str) -> Result<Value> {
        self.get_json(&["deployment", name, "-n", NS])
    }

    /// Writes a file into the scratch directory; returns its path.
    fn file(&self, name: &str, contents: &str) -> Result<String> {
        let path = self.scratch.join(name);
        std::fs::write(&path, contents)?;
        Ok(path.display().to_string())
    }

    /// Starts `kubectl get ... -w` in the background.
    fn watch(&self, args: &[&str]) -> Result<KubectlWatch> {
        let mut command = Command::new(&self.binary);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache_dir())
            .args(args);
        KubectlWatch::spawn(command).with_context(|| format!("starting {} {args:?}", self.binary))
    }

    /// Starts a kubectl that waits for something (`rollout status`, `wait`)
    /// in the background, with `-v=6` so that its request log (stderr,
    /// merged into stdout) shows when its watch is open.
    fn background(&self, args: &[&str]) -> Result<Background> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(r#"exec "$0" "$@" 2>&1"#)
            .arg(&self.binary)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache_dir())
            .args(args)
            .arg("-v=6")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {} {args:?}", self.binary))?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Background {
            what: format!("kubectl {} {}", self.label, args.join(" ")),
            child,
            lines,
            seen: Vec::new(),
        })
    }
}

/// A kubectl running in the background, its stdout and stderr read line by
/// line. Killed when dropped.
struct Background {
    what: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Background {
    /// Reads lines until one satisfies `want`; fails after `timeout` or if
    /// kubectl's output ends first.
    fn until(&mut self, timeout: Duration, what: &str, want: impl Fn(&str) -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = want(&line);
                    self.seen.push(line);
                    if found {
                        return Ok(());
                    }
                }
                Err(e) => bail!(
                    "`{}`: no line {what} within {timeout:?} ({e}); output so far:\n{}",
                    self.what,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits until the watch request (`watch=true`) has been answered.
    fn watching(&mut self) -> Result<()> {
        self.until(WATCH_LINE_TIMEOUT, "showing an open watch", |l| {
            l.contains("watch=true") && l.contains("200 OK")
        })
    }

    /// Waits for kubectl to print `line` (exactly, as a whole line) and to exit 0.
    fn finishes_with(&mut self, line: &str) -> Result<()> {
        self.until(WATCH_LINE_TIMEOUT, &format!("`{line}`"), |l| l == line)?;
        let status = wait_for(WATCH_LINE_TIMEOUT, "kubectl to exit", || {
            self.child.try_wait().ok().flatten()
        })?;
        ensure!(
            status.success(),
            "`{}` printed `{line}` but exited with {status}:\n{}",
            self.what,
            self.seen.join("\n")
        );
        Ok(())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one step, naming it (and the kubectl version) in its error.
fn step(k: &Kubectl, name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let started = Instant::now();
    f().with_context(|| format!("kubectl {}: step {name} failed", k.label))?;
    eprintln!(
        "kubectl {}: step {name} passed in {:.1?}",
        k.label,
        started.elapsed()
    );
    Ok(())
}

/// The whole scenario with one kubectl.
fn scenario(k: &Kubectl) -> Result<()> {
    step(k, "0 (create namespace)", || {
        k.ok_line(&["create", "namespace", NS], "namespace/scenario created")
    })?;

    let v1 = k.file("deployment-v1.yaml", DEPLOYMENT_V1)?;
    let v2 = k.file("deployment-v2.yaml", DEPLOYMENT_V2)?;

    step(k, "1 (apply -f creates a Deployment)", || {
        k.ok_line(&["apply", "-f", &v1], "deployment.apps/web created")?;
        let live = k.deployment("web")?;
        let manifest = yaml(DEPLOYMENT_V1);
        exact(&manifest["spec"], &live["spec"], "spec", SERVER_DEFAULTS)?;
        contained(&manifest["metadata"], &live["metadata"], "metadata")?;
        exact(
            &manifest["metadata"]["labels"],
            &live["metadata"]["labels"],
            "metadata.labels",
            &[],
        )?;
        let last_applied = live["metadata"]["annotations"]
            ["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .context("no last-applied-configuration annotation")?;
        let last_applied: Value = serde_json::from_str(last_applied)?;
        ensure!(
            last_applied["spec"] == manifest["spec"],
            "last-applied {last_applied} is not the manifest"
        );
        ensure!(live["metadata"]["generation"] == 1, "{live}");
        Ok(())
    })?;

    step(
        k,
        "2 (apply -f again: the live object is the new manifest)",
        || {
            k.ok_line(&["apply", "-f", &v2], "deployment.apps/web configured")?;
            let live = k.deployment("web")?;
            let manifest = yaml(DEPLOYMENT_V2);
            // Exactly the manifest: whatever V1 had and V2 dropped (a container,
            // an env var, a port, `args`, a label, a whole map, a map key) is gone.
            exact(&manifest["spec"], &live["spec"], "spec", SERVER_DEFAULTS)?;
            exact(
                &manifest["metadata"]["labels"],
                &live["metadata"]["labels"],
                "metadata.labels",
                &[],
            )?;
            let pod = &live["spec"]["template"];
            ensure!(
                pod["metadata"].get("annotations").is_none()
                    && pod["spec"]["nodeSelector"] == json!({"disk": "ssd"})
                    && pod["spec"]["containers"][0].get("args").is_none()
                    && pod["spec"]["containers"][0]["ports"]
                        == json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}])
                    && pod["spec"]["containers"][0]["env"]
                        == json!([{"name": "MODE", "value": "new"}, {"name": "LEVEL", "value": "1"}]),
                "V1 leftovers in the live object: {pod}"
            );
            ensure!(live["metadata"]["generation"] == 2, "{}", live["metadata"]);
            let last_applied: Value = serde_json::from_str(
                live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                    .as_str()
                    .context("no last-applied-configuration annotation")?,
            )?;
            ensure!(
                last_applied["spec"] == manifest["spec"],
                "last-applied {last_applied} is not the second manifest"
            );
            // Applying the same manifest again changes nothing.
            let rv = live["metadata"]["resourceVersion"].clone();
            k.ok_line(&["apply", "-f", &v2], "deployment.apps/web unchanged")?;
            ensure!(
                k.deployment("web")?["metadata"]["resourceVersion"] == rv,
                "an unchanged apply wrote the object"
            );
            Ok(())
        },
    )?;

    step(k, "3 (get tables: columns, -A, -o wide)", || {
        let rows = table(&k.ok(&["get", "deploy", "-n", NS])?);
        ensure!(
            rows.len() == 2
                && rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
                && starts(&rows[1], &["web", "0/2", "0", "0"])
                && rows[1].len() == 5
                && is_age(&rows[1][4]),
            "get deploy: {rows:?}"
        );
        let rows = table(&k.ok(&["get", "deploy", "-n", NS, "-o", "wide"])?);
        ensure!(
            rows.len() == 2
                && rows[0]
                    == [
                        "NAME",
                        "READY",
                        "UP-TO-DATE",
                        "AVAILABLE",
                        "AGE",
                        "CONTAINERS",
                        "IMAGES",
                        "SELECTOR"
                    ]
                && rows[1].len() == 8
                && starts(&rows[1], &["web", "0/2", "0", "0"])
                && rows[1][5..] == ["app", "nginx:1.27", "app=web"],
            "get deploy -o wide: {rows:?}"
        );

        let cms = k.file("configmaps.yaml", CONFIGMAPS)?;
        let created = k.ok(&["apply", "-f", &cms])?;
        ensure!(
            created.lines().collect::<Vec<_>>()
                == ["configmap/settings created", "configmap/other created"],
            "{created}"
        );
        let rows = table(&k.ok(&["get", "cm", "-A"])?);
        ensure!(
            rows.first()
                .is_some_and(|h| h == &["NAMESPACE", "NAME", "DATA", "AGE"]),
            "get cm -A: {rows:?}"
        );
        for want in [["default", "other", "2"], ["scenario", "settings", "1"]] {
            ensure!(
                rows.iter()
                    .any(|r| r.len() == 4 && r[..3] == want && is_age(&r[3])),
                "get cm -A has no row {want:?}: {rows:?}"
            );
        }
        let rows = table(&k.ok(&["get", "cm", "-A", "-o", "wide"])?);
        ensure!(
            rows.first()
                .is_some_and(|h| h == &["NAMESPACE", "NAME", "DATA", "AGE"])
                && rows.iter().any(|r| starts(r, &["scenario", "settings"])),
            "get cm -A -o wide: {rows:?}"
        );
        let rows = table(&k.ok(&["get", "cm", "-n", NS])?);
        ensure!(
            rows.len() == 2
                && rows[0] == ["NAME", "DATA", "AGE"]
                && starts(&rows[1], &["settings", "1"]),
            "get cm -n {NS}: {rows:?}"
        );
        Ok(())
    })?;

    step(k, "4 (get cm -w sees changes)", || {
        let mut watch = k.watch(&["get", "cm", "-n", NS, "-w"])?;
        let header = watch.next_row(WATCH_LINE_TIMEOUT)?;
        ensure!(header == ["NAME", "DATA", "AGE"], "header {header:?}");
        let first = watch.next_row(WATCH_LINE_TIMEOUT)?;
        ensure!(starts(&first, &["settings", "1"]), "first row {first:?}");

        k.ok_line(
            &[
                "create",
                "configmap",
                "watched",
                "-n",
                NS,
                "--from-literal=k=v",
            ],
            "configmap/watched created",
        )?;
        let row = watch.next_row(WATCH_LINE_TIMEOUT)?;
        ensure!(starts(&row, &["watched", "1"]), "after create: {row:?}");

        k.ok_line(
            &[
                "patch",
                "cm",
                "settings",
                "-n",
                NS,
                "--type=merge",
                "-p",
                r#"{"data":{"size":"L"}}"#,
            ],
            "configmap/settings patched",
        )?;
        let row = watch.next_row(WATCH_LINE_TIMEOUT)?;
        ensure!(starts(&row, &["settings", "2"]), "after patch: {row:?}");

        k.ok(&["delete", "cm", "watched", "-n", NS])?;
        let row = watch.next_row(WATCH_LINE_TIMEOUT)?;
        ensure!(starts(&row, &["watched", "1"]), "after delete: {row:?}");
        ensure!(
            watch.running(),
            "kubectl get -w gave up: {}",
            watch.exit_note()
        );
        Ok(())
    })?;

    step(k, "5 (diff -f shows the change, changes nothing)", || {
        let before = k.deployment("web")?;
        // The applied manifest: no difference, exit code 0.
        let same = k.run(&["diff", "-f", &v2]);
        ensure!(
            same.status.code() == Some(0) && same.stdout.is_empty(),
            "diff of the applied manifest: {}",
            k.describe(&["diff", "-f", &v2], &same)
        );
        let v3 = k.file(
            "deployment-v3.yaml",
            &DEPLOYMENT_V2.replace("image: nginx:1.27", "image: nginx:1.28"),
        )?;
        let args = ["diff", "-f", v3.as_str()];
        let diff = k.run(&args);
        ensure!(
            diff.status.code() == Some(1),
            "kubectl diff must exit 1 when there are differences: {}",
            k.describe(&args, &diff)
        );
        let out = text(&diff.stdout);
        let changed: Vec<&str> = out
            .lines()
            .filter(|l| {
                (l.starts_with('-') || l.starts_with('+'))
                    && !l.starts_with("---")
                    && !l.starts_with("+++")
            })
            .map(str::trim)
            .collect();
        for want in ["-        image: nginx:1.27", "+        image: nginx:1.28"] {
            ensure!(
                out.lines().any(|l| l == want),
                "diff lacks `{want}`:\n{out}"
            );
        }
        // Only the image and the generation a real update would bump.
        ensure!(
            changed
                .iter()
                .all(|l| l.contains("image: nginx:1.2") || l.contains("generation:")),
            "diff shows more than the change: {changed:?}\n{out}"
        );
        let after = k.deployment("web")?;
        ensure!(
            after == before,
            "kubectl diff changed the object:\nbefore: {before}\nafter: {after}"
        );
        Ok(())
    })?;

    step(k, "6 (scale: deployment, statefulset, replicaset)", || {
        k.ok_line(
            &["scale", "deployment", "web", "-n", NS, "--replicas=3"],
            "deployment.apps/web scaled",
        )?;
        let live = k.deployment("web")?;
        ensure!(live["spec"]["replicas"] == 3, "{}", live["spec"]);
        let rows = table(&k.ok(&["get", "deploy", "web", "-n", NS])?);
        ensure!(starts(&rows[1], &["web", "0/3"]), "{rows:?}");

        // StatefulSets and ReplicaSets scale through their /scale too.
        let workloads = k.file("workloads.yaml", WORKLOADS)?;
        let out = k.ok(&["apply", "-f", &workloads])?;
        ensure!(
            out.lines().collect::<Vec<_>>()
                == [
                    "statefulset.apps/db created",
                    "replicaset.apps/cache created"
                ],
            "{out}"
        );
        k.ok_line(
            &["scale", "statefulset", "db", "-n", NS, "--replicas=3"],
            "statefulset.apps/db scaled",
        )?;
        k.ok_line(
            &["scale", "rs/cache", "-n", NS, "--replicas=2"],
            "replicaset.apps/cache scaled",
        )?;
        let list = k.get_json(&["sts/db", "rs/cache", "-n", NS])?;
        let items = list["items"].as_array().context("a List")?;
        ensure!(items.len() == 2, "{list}");
        for (live, want) in items.iter().zip([3, 2]) {
            ensure!(
                live["spec"]["replicas"] == want && live["metadata"]["generation"] == 2,
                "{}/{} after scale: {}",
                live["kind"],
                live["metadata"]["name"],
                live["spec"]
            );
        }
        // One table per kind.
        let rows = table(&k.ok(&["get", "sts,rs", "-n", NS])?);
        ensure!(
            rows.len() == 4
                && rows[0] == ["NAME", "READY", "AGE"]
                && starts(&rows[1], &["statefulset.apps/db", "0/3"])
                && rows[2] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
                && starts(&rows[3], &["replicaset.apps/cache", "2", "0", "0"]),
            "get sts,rs: {rows:?}"
        );
        // (`scale` of a missing object is reported by kubectl itself: "no
        // objects passed to scale".) A missing object is a NotFound Status:
        let stderr = k.fails(&["get", "deployment", "nope", "-n", NS])?;
        ensure!(
            stderr.trim_end()
                == r#"Error from server (NotFound): deployments.apps "nope" not found"#,
            "{stderr}"
        );
        expect_server_error(&stderr, "NotFound", r#"deployments.apps "nope" not found"#)
    })?;

    step(k, "7 (patch: json, merge, strategic)", || {
        let patch = |kind: Option<&str>, body: &str| -> Result<String> {
            let mut args = vec!["patch", "deployment", "web", "-n", NS, "-p", body];
            if let Some(kind) = kind {
                args.push(kind);
            }
            k.ok(&args)
        };
        let out = patch(
            Some("--type=json"),
            r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.28"},{"op":"add","path":"/spec/revisionHistoryLimit","value":4}]"#,
        )?;
        ensure!(out.trim_end() == "deployment.apps/web patched", "{out}");
        let live = k.deployment("web")?;
        ensure!(
            live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
                && live["spec"]["revisionHistoryLimit"] == 4,
            "json patch not applied: {}",
            live["spec"]
        );

        let merge =
            r#"{"spec":{"minReadySeconds":5},"metadata":{"annotations":{"patched-by":"merge"}}}"#;
        let out = patch(Some("--type=merge"), merge)?;
        ensure!(out.trim_end() == "deployment.apps/web patched", "{out}");
        let live = k.deployment("web")?;
        ensure!(
            live["spec"]["minReadySeconds"] == 5
                && live["metadata"]["annotations"]["patched-by"] == "merge",
            "merge patch not applied: {live}"
        );
        // The same patch again is a no-op: same resourceVersion, kubectl says so.
        let out = patch(Some("--type=merge"), merge)?;
        ensure!(
            out.trim_end() == "deployment.apps/web patched (no change)",
            "{out}"
        );
        ensure!(
            k.deployment("web")?["metadata"]["resourceVersion"]
                == live["metadata"]["resourceVersion"],
            "a no-op merge patch wrote the object"
        );

        // Strategic (the default): containers and env merge by name.
        let out = patch(
            None,
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"EXTRA","value":"x"}]},{"name":"helper","image":"busybox:1.36"}]}}}}"#,
        )?;
        ensure!(out.trim_end() == "deployment.apps/web patched", "{out}");
        let live = k.deployment("web")?;
        let containers = live["spec"]["template"]["spec"]["containers"]
            .as_array()
            .context("containers")?;
        let by_name = |name: &str| containers.iter().find(|c| c["name"] == name);
        let app = by_name("app").context("strategic patch lost container app")?;
        let helper = by_name("helper").context("strategic patch did not add helper")?;
        ensure!(containers.len() == 2, "{containers:?}");
        ensure!(
            app["image"] == "nginx:1.28" && helper["image"] == "busybox:1.36",
            "{containers:?}"
        );
        let mut env: Vec<String> = app["env"]
            .as_array()
            .context("env")?
            .iter()
            .map(|e| {
                format!(
                    "{}={}",
                    e["name"].as_str().unwrap_or("?"),
                    e["value"].as_str().unwrap_or("?")
                )
            })
            .collect();
        env.sort();
        ensure!(env == ["EXTRA=x", "LEVEL=1", "MODE=new"], "env {env:?}");

        // Failures are Status answers, printed by kubectl as such.
        let stderr = k.fails(&[
            "patch",
            "deployment",
            "nope",
            "-n",
            NS,
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":1}}"#,
        ])?;
        expect_server_error(&stderr, "NotFound", r#"deployments.apps "nope" not found"#)?;
        let rv = live["metadata"]["resourceVersion"].clone();
        let stderr = k.fails(&[
            "patch",
            "deployment",
            "web",
            "-n",
            NS,
            "--type=merge",
            "-p",
            "{bad",
        ])?;
        expect_server_error(&stderr, "BadRequest", "")?;
        let stderr = k.fails(&[
            "patch",
            "deployment",
            "web",
            "-n",
            NS,
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":"three"}}"#,
        ])?;
        expect_invalid(&stderr, "replicas")?;
        let stderr = k.fails(&[
            "patch",
            "deployment",
            "web",
            "-n",
            NS,
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":99}]"#,
        ])?;
        // A failed `test` operation is a 422 about that path.
        expect_invalid(&stderr, "/spec/replicas")?;
        ensure!(
            k.deployment("web")?["metadata"]["resourceVersion"] == rv,
            "a failed patch changed the object"
        );
        Ok(())
    })?;

    step(k, "8 (label, annotate)", || {
        k.ok_line(
            &["label", "deployment", "web", "-n", NS, "tier=frontend"],
            "deployment.apps/web labeled",
        )?;
        k.ok_line(
            &[
                "get",
                "deploy",
                "-n",
                NS,
                "-l",
                "tier=frontend",
                "-o",
                "name",
            ],
            "deployment.apps/web",
        )?;
        // An existing label needs --overwrite (kubectl checks that itself).
        let stderr = k.fails(&["label", "deployment", "web", "-n", NS, "tier=backend"])?;
        ensure!(stderr.contains("--overwrite is false"), "{stderr}");
        k.ok_line(
            &[
                "label",
                "deployment",
                "web",
                "-n",
                NS,
                "tier=backend",
                "--overwrite",
            ],
            "deployment.apps/web labeled",
        )?;
        k.annotate(&["owner=team-a"])?;
        let live = k.deployment("web")?;
        ensure!(
            live["metadata"]["labels"] == json!({"app": "web", "tier": "backend"})
                && live["metadata"]["annotations"]["owner"] == "team-a",
            "{}",
            live["metadata"]
        );
        k.annotate(&["owner-"])?;
        k.ok_line(
            &["label", "deployment", "web", "-n", NS, "tier-"],
            "deployment.apps/web unlabeled",
        )?;
        let live = k.deployment("web")?;
        ensure!(
            live["metadata"]["labels"] == json!({"app": "web"})
                && live["metadata"]["annotations"].get("owner").is_none(),
            "{}",
            live["metadata"]
        );
        Ok(())
    })?;

    step(k, "9 (edit via KUBE_EDITOR)", || {
        let editor = k.file("editor.sh", EDITOR_SCRIPT)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755))?;
        }
        let before = k.deployment("web")?;
        let args = ["edit", "deployment", "web", "-n", NS];
        let output = k.run_env(&args, None, &[("KUBE_EDITOR", &editor)]);
        let out = k.ok_output(&args, output)?;
        ensure!(out.trim_end() == "deployment.apps/web edited", "{out}");
        let live = k.deployment("web")?;
        let containers = &live["spec"]["template"]["spec"]["containers"];
        let app = containers
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "app"))
            .context("container app")?;
        let mode = app["env"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["name"] == "MODE"))
            .context("MODE")?;
        ensure!(
            mode["value"] == "edited",
            "edit not applied: {}",
            app["env"]
        );
        ensure!(
            containers.as_array().map(Vec::len) == Some(2)
                && app["env"].as_array().map(Vec::len) == Some(3),
            "edit changed more than MODE: {containers}"
        );
        ensure!(
            live["metadata"]["generation"].as_i64()
                == before["metadata"]["generation"].as_i64().map(|g| g + 1),
            "generation {} → {}",
            before["metadata"]["generation"],
            live["metadata"]["generation"]
        );
        Ok(())
    })?;

    step(k, "10 (explain deployment.spec.replicas)", || {
        let out = k.ok(&["explain", "deployment.spec.replicas"])?;
        ensure!(
            out.contains("KIND:")
                && out.contains("Deployment")
                && out.contains("replicas")
                && out.contains("<integer>")
                && out.contains("Number of desired pods"),
            "{out}"
        );
        Ok(())
    })?;

    step(
        k,
        "11 (apply --server-side: conflict, --force-conflicts)",
        || {
            let alice = k.file("ssa-alice.yaml", SSA_ALICE)?;
            let bob = k.file("ssa-bob.yaml", SSA_BOB)?;
            let ssa = |file: &str, manager: &str, force: bool| -> Output {
                let manager = format!("--field-manager={manager}");
                let mut args = vec!["apply", "--server-side", manager.as_str(), "-f", file];
                if force {
                    args.push("--force-conflicts");
                }
                k.run(&args)
            };
            let out = k.ok_output(
                &["apply --server-side (alice)"],
                ssa(&alice, "alice", false),
            )?;
            ensure!(
                out.trim_end() == "configmap/ssa serverside-applied",
                "{out}"
            );
            let before = k.get_json(&["cm", "ssa", "-n", NS])?;

            let conflict = ssa(&bob, "bob", false);
            ensure!(
                !conflict.status.success(),
                "bob took alice's field without --force-conflicts: {}",
                k.describe(&["apply --server-side (bob)"], &conflict)
            );
            let stderr = text(&conflict.stderr);
            ensure!(
                stderr.contains("Apply failed with 1 conflict")
                    && stderr.contains(r#"conflict with "alice""#)
                    && stderr.contains(".data.shared"),
                "{stderr}"
            );
            no_decoding_error(&stderr)?;
            ensure!(
                k.get_json(&["cm", "ssa", "-n", NS])? == before,
                "a conflicting apply changed the object"
            );

            let out = k.ok_output(
                &["apply --server-side --force-conflicts (bob)"],
                ssa(&bob, "bob", true),
            )?;
            ensure!(
                out.trim_end() == "configmap/ssa serverside-applied",
                "{out}"
            );
            let live = k.get_json(&["cm", "ssa", "-n", NS, "--show-managed-fields"])?;
            ensure!(
                live["data"] == json!({"owner": "alice", "shared": "from-bob"}),
                "{}",
                live["data"]
            );
            let managed = live["metadata"]["managedFields"]
                .as_array()
                .context("managedFields")?;
            let fields_of = |manager: &str| {
                managed
                    .iter()
                    .find(|m| m["manager"] == manager && m["operation"] == "Apply")
                    .map(|m| m["fieldsV1"]["f:data"].clone())
            };
            ensure!(
                fields_of("alice") == Some(json!({"f:owner": {}})),
                "alice should own only data.owner now: {managed:?}"
            );
            ensure!(
                fields_of("bob") == Some(json!({"f:shared": {}})),
                "bob should own data.shared: {managed:?}"
            );
            Ok(())
        },
    )?;

    step(k, "12 (create deployment / configmap)", || {
        // -v=7 logs request headers: 1.32+ send protobuf bodies here.
        let body_type = if k.minor >= 32 {
            "Content-Type: application/vnd.kubernetes.protobuf"
        } else {
            "Content-Type: application/json"
        };
        let create = |args: &[&str], want: &str| -> Result<()> {
            let mut all = args.to_vec();
            all.extend_from_slice(&["-n", NS, "-v=7"]);
            let output = k.run(&all);
            let stderr = text(&output.stderr);
            let out = k.ok_output(&all, output)?;
            ensure!(out.trim_end() == want, "{out}");
            ensure!(
                stderr.contains(body_type),
                "kubectl 1.{} did not send `{body_type}`:\n{stderr}",
                k.minor
            );
            Ok(())
        };
        create(
            &["create", "deployment", "web2", "--image=nginx"],
            "deployment.apps/web2 created",
        )?;
        create(
            &["create", "configmap", "c2", "--from-literal=a=b"],
            "configmap/c2 created",
        )?;
        let web2 = k.deployment("web2")?;
        contained(
            &json!({
                "metadata": {"name": "web2", "namespace": NS, "labels": {"app": "web2"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web2"}},
                    "template": {"metadata": {"labels": {"app": "web2"}},
                        "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}
            }),
            &web2,
            "web2",
        )?;
        let c2 = k.get_json(&["cm", "c2", "-n", NS])?;
        ensure!(c2["data"] == json!({"a": "b"}), "{c2}");
        // `create configmap` wraps the server's message in its own words...
        let stderr = k.fails(&["create", "configmap", "c2", "-n", NS, "--from-literal=a=c"])?;
        ensure!(
            stderr.trim_end()
                == r#"error: failed to create configmap: configmaps "c2" already exists"#,
            "{stderr}"
        );
        no_decoding_error(&stderr)?;
        // ... `create -f` prints the Status.
        let stderr = k.fails(&["create", "-f", &v2])?;
        expect_server_error(
            &stderr,
            "AlreadyExists",
            r#"deployments.apps "web" already exists"#,
        )
    })?;

    step(k, "13 (a CRD and its custom resources)", || {
        let crd = k.file("crd.yaml", CRD)?;
        k.ok_line(
            &["apply", "-f", &crd],
            &format!("customresourcedefinition.apiextensions.k8s.io/{CRD_NAME} created"),
        )?;
        k.ok_line(
            &[
                "wait",
                "--for=condition=Established",
                &format!("crd/{CRD_NAME}"),
                "--timeout=30s",
            ],
            &format!("customresourcedefinition.apiextensions.k8s.io/{CRD_NAME} condition met"),
        )?;
        // Apply twice: created, then configured to exactly the new manifest.
        let g1 = k.file("gadget-v1.yaml", GADGET_V1)?;
        let g2 = k.file("gadget-v2.yaml", GADGET_V2)?;
        k.ok_line(
            &["apply", "-f", &g1],
            "gadget.scenario.example.com/g1 created",
        )?;
        k.ok_line(
            &["apply", "-f", &g2],
            "gadget.scenario.example.com/g1 configured",
        )?;
        let live = k.get_json(&["gadget", "g1", "-n", NS])?;
        exact(
            &yaml(GADGET_V2)["spec"],
            &live["spec"],
            "spec",
            SERVER_DEFAULTS,
        )?;
        ensure!(live["metadata"]["generation"] == 2, "{}", live["metadata"]);
        let elsewhere = k.file("gadget-default.yaml", GADGET_ELSEWHERE)?;
        k.ok_line(
            &["apply", "-f", &elsewhere],
            "gadget.scenario.example.com/g0 created",
        )?;
        // The printer columns, through the short name; -A adds NAMESPACE.
        let rows = table(&k.ok(&["get", "gdg", "-n", NS])?);
        ensure!(
            rows.len() == 2
                && rows[0] == ["NAME", "SIZE", "COLOR", "AGE"]
                && starts(&rows[1], &["g1", "4", "blue"])
                && rows[1].len() == 4
                && is_age(&rows[1][3]),
            "get gdg: {rows:?}"
        );
        let rows = table(&k.ok(&["get", "gdg", "-A"])?);
        ensure!(
            rows.len() == 3
                && rows[0] == ["NAMESPACE", "NAME", "SIZE", "COLOR", "AGE"]
                && starts(&rows[1], &["default", "g0", "1", "green"])
                && starts(&rows[2], &["scenario", "g1", "4", "blue"]),
            "get gdg -A: {rows:?}"
        );
        // The schema's validation and description reach kubectl.
        let stderr = k.fails(&[
            "patch",
            "gadget",
            "g1",
            "-n",
            NS,
            "--type=merge",
            "-p",
            r#"{"spec":{"size":0}}"#,
        ])?;
        expect_invalid(&stderr, "spec.size")?;
        let out = k.ok(&["explain", "gadget.spec.size"])?;
        ensure!(
            out.contains("KIND:")
                && out.contains("Gadget")
                && out.contains("<integer>")
                && out.contains("How big the gadget is, in gadget units."),
            "{out}"
        );
        // Deleting the CRD takes its objects (in every namespace) with it:
        // the resource is no longer served, and a recreated CRD starts empty.
        let out = k.ok(&["delete", "crd", CRD_NAME])?;
        ensure!(
            out.trim_end()
                == format!(r#"customresourcedefinition.apiextensions.k8s.io "{CRD_NAME}" deleted"#),
            "{out}"
        );
        let gone = k.run(&["get", "--raw", "/apis/scenario.example.com/v1/gadgets"]);
        let stderr = text(&gone.stderr);
        ensure!(
            !gone.status.success()
                && stderr.starts_with("Error from server (NotFound): ")
                && stderr.contains("/apis/scenario.example.com/v1/gadgets"),
            "after the CRD's deletion: {}",
            k.describe(&["get", "--raw", "..."], &gone)
        );
        k.ok(&["apply", "-f", &crd])?;
        k.ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{CRD_NAME}"),
            "--timeout=30s",
        ])?;
        let left = k.run(&["get", "gdg", "-A"]);
        ensure!(
            left.status.success()
                && left.stdout.is_empty()
                && text(&left.stderr).trim_end() == "No resources found",
            "the recreated CRD serves old objects: {}",
            k.describe(&["get", "gdg", "-A"], &left)
        );
        Ok(())
    })?;

    step(
        k,
        "14 (rollout status, wait: condition, jsonpath, delete)",
        || {
            k.ok_line(
                &[
                    "create",
                    "deployment",
                    "api",
                    "-n",
                    NS,
                    "--image=nginx:1.27",
                    "--replicas=2",
                ],
                "deployment.apps/api created",
            )?;
            // The server has no controllers: nothing is rolled out yet...
            k.ok_line(
                &["rollout", "status", "deploy/api", "-n", NS, "--watch=false"],
                "Waiting for deployment spec update to be observed...",
            )?;
            let stderr = k.fails(&[
                "wait",
                "--for=condition=Available",
                "deploy/api",
                "-n",
                NS,
                "--timeout=0s",
            ])?;
            ensure!(
                stderr.trim_end() == "error: condition not met for deployments/api",
                "{stderr}"
            );
            // ... until the status says so (written through /status, as a
            // controller would): each waiting kubectl, already watching, sees it.
            let mut rollout =
                k.background(&["rollout", "status", "deploy/api", "-n", NS, "--timeout=60s"])?;
            let mut available = k.background(&[
                "wait",
                "--for=condition=Available",
                "deploy/api",
                "-n",
                NS,
                "--timeout=60s",
            ])?;
            let mut ready = k.background(&[
                "wait",
                "--for=jsonpath={.status.readyReplicas}=2",
                "deploy/api",
                "-n",
                NS,
                "--timeout=60s",
            ])?;
            for b in [&mut rollout, &mut available, &mut ready] {
                b.watching()?;
            }
            let generation = k.deployment("api")?["metadata"]["generation"].clone();
            let status = json!({"status": {"observedGeneration": generation, "replicas": 2,
            "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}});
            k.ok_line(
                &[
                    "patch",
                    "deploy",
                    "api",
                    "-n",
                    NS,
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    &status.to_string(),
                ],
                "deployment.apps/api patched",
            )?;
            rollout.finishes_with(r#"deployment "api" successfully rolled out"#)?;
            available.finishes_with("deployment.apps/api condition met")?;
            ready.finishes_with("deployment.apps/api condition met")?;
            let live = k.deployment("api")?;
            ensure!(
                live["status"] == status["status"] && live["metadata"]["generation"] == generation,
                "the /status patch changed more than the status: {live}"
            );
            // wait --for=delete, watching while the object goes.
            let mut deleted = k.background(&[
                "wait",
                "--for=delete",
                "deploy/api",
                "-n",
                NS,
                "--timeout=60s",
            ])?;
            deleted.watching()?;
            let out = k.ok(&["delete", "deploy", "api", "-n", NS])?;
            ensure!(out.starts_with(r#"deployment.apps "api" deleted"#), "{out}");
            deleted.finishes_with("deployment.apps/api condition met")
        },
    )?;

    step(k, "15 (errors are printed kubectl's way)", || {
        // Conflict: `replace` with a stale resourceVersion.
        let stale = k.ok(&["get", "cm", "settings", "-n", NS, "-o", "yaml"])?;
        let stale = k.file("settings-stale.yaml", &stale)?;
        k.ok_line(
            &[
                "patch",
                "cm",
                "settings",
                "-n",
                NS,
                "--type=merge",
                "-p",
                r#"{"data":{"fresh":"yes"}}"#,
            ],
            "configmap/settings patched",
        )?;
        let stderr = k.fails(&["replace", "-f", &stale])?;
        expect_server_error(
            &stderr,
            "Conflict",
            r#"Operation cannot be fulfilled on configmaps "settings": the object has been modified; please apply your changes to the latest version and try again"#,
        )?;
        ensure!(
            k.get_json(&["cm", "settings", "-n", NS])?["data"]["fresh"] == "yes",
            "a stale replace went through"
        );

        // Forbidden: a system namespace cannot be deleted.
        let stderr = k.fails(&["delete", "namespace", "default"])?;
        expect_server_error(
            &stderr,
            "Forbidden",
            r#"namespaces "default" is forbidden: this namespace may not be deleted"#,
        )?;

        // RequestEntityTooLarge: a body over 3 MiB.
        let big = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: {NS}\ndata:\n  blob: {}\n",
            "x".repeat(3 * 1024 * 1024 + 1024)
        );
        let big = k.file("big.yaml", &big)?;
        let stderr = k.fails(&["create", "-f", &big])?;
        expect_server_error(&stderr, "RequestEntityTooLarge", "limit is 3145728")?;

        // BadRequest: unknown fields with server-side strict validation
        // (the default of `create`, and `apply --validate=strict`).
        let unknown = k.file("unknown-top-level.yaml", UNKNOWN_TOP_LEVEL_FIELD)?;
        let stderr = k.fails(&["create", "-f", &unknown])?;
        expect_server_error(
            &stderr,
            "BadRequest",
            r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datta""#,
        )?;
        let nested = k.file("unknown-nested.yaml", UNKNOWN_NESTED_FIELD)?;
        let stderr = k.fails(&["apply", "--validate=strict", "-f", &nested])?;
        expect_server_error(
            &stderr,
            "BadRequest",
            r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolicyy""#,
        )?;
        let names = k.ok(&["get", "cm,deploy", "-n", NS, "-o", "name"])?;
        ensure!(
            !names.contains("/strict"),
            "a write refused as strict was stored: {names}"
        );

        // Unauthorized: a kubeconfig with a wrong token. With discovery
        // cached, the request's own Status is printed...
        let config = std::fs::read_to_string(&k.kubeconfig)?;
        ensure!(config.contains("token: "), "no token in {config}");
        let wrong: String = config
            .lines()
            .map(|l| match l.split_once("token: ") {
                Some((indent, _)) => format!("{indent}token: not-the-token\n"),
                None => format!("{l}\n"),
            })
            .collect();
        let wrong_config = k.scratch.join("kubeconfig-wrong-token");
        std::fs::write(&wrong_config, wrong)?;
        let intruder = k.with_config(wrong_config.clone(), k.cache.clone());
        let stderr = intruder.fails(&["get", "cm", "-n", NS])?;
        ensure!(
            stderr.trim_end() == "error: You must be logged in to the server (Unauthorized)",
            "{stderr}"
        );
        // ... without, discovery fails first and client-go words it itself
        // (as against any Kubernetes API server).
        let fresh = intruder.with_config(wrong_config, k.scratch.join("cache-wrong-token"));
        let stderr = fresh.fails(&["get", "cm", "-n", NS])?;
        ensure!(
            stderr.lines().last()
                == Some("error: You must be logged in to the server (the server has asked for the client to provide credentials)"),
            "{stderr}"
        );
        Ok(())
    })?;

    step(k, "16 (api-resources)", || {
        let rows = table(&k.ok(&["api-resources"])?);
        ensure!(
            rows.first()
                .is_some_and(|h| starts(h, &["NAME", "SHORTNAMES"])
                    && h.ends_with(&["NAMESPACED".to_string(), "KIND".to_string()])),
            "header {:?}",
            rows.first()
        );
        for want in [
            ["deployments", "deploy", "apps/v1", "true", "Deployment"],
            ["configmaps", "cm", "v1", "true", "ConfigMap"],
            ["namespaces", "ns", "v1", "false", "Namespace"],
            ["statefulsets", "sts", "apps/v1", "true", "StatefulSet"],
        ] {
            ensure!(
                rows.iter().any(|r| r[..] == want),
                "api-resources lacks {want:?}: {rows:?}"
            );
        }
        let names = k.ok(&["api-resources", "--api-group=apps", "-o", "name"])?;
        ensure!(names.lines().any(|l| l == "deployments.apps"), "{names}");
        Ok(())
    })?;

    step(k, "17 (delete an object, then the namespace)", || {
        let out = k.ok(&["delete", "deployment", "web2", "-n", NS])?;
        ensure!(
            out.starts_with(r#"deployment.apps "web2" deleted"#),
            "{out}"
        );
        let stderr = k.fails(&["get", "deployment", "web2", "-n", NS])?;
        expect_server_error(&stderr, "NotFound", r#"deployments.apps "web2" not found"#)?;
        let stderr = k.fails(&["delete", "cm", "nope", "-n", NS])?;
        expect_server_error(&stderr, "NotFound", r#"configmaps "nope" not found"#)?;

        let out = k.ok(&["delete", "namespace", NS, "--wait=false"])?;
        ensure!(out.starts_with(r#"namespace "scenario" deleted"#), "{out}");
        wait_for(Duration::from_secs(30), "the namespace to be gone", || {
            let output = k.run(&["get", "namespace", NS]);
            (!output.status.success()).then(|| text(&output.stderr))
        })
        .and_then(|stderr| {
            expect_server_error(&stderr, "NotFound", r#"namespaces "scenario" not found"#)
        })?;
        let left = k.ok(&["get", "deploy,sts,rs,cm", "-n", NS, "-o", "name"])?;
        ensure!(
            left.trim().is_empty(),
            "objects outlived their namespace: {left}"
        );
        // On a NotFound kubectl asks for the namespace, and reports that one.
        let stderr = k.fails(&["get", "deployment", "web", "-n", NS])?;
        expect_server_error(&stderr, "NotFound", r#"namespaces "scenario" not found"#)?;
        let everywhere = k.ok(&[
            "get",
            "cm",
            "-A",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}"#,
        ])?;
        ensure!(
            everywhere.lines().collect::<Vec<_>>() == ["default/other"],
            "only default/other should be left: {everywhere:?}"
        );
        Ok(())
    })?;
    Ok(())
}

/// Starts a server for one kubectl and runs the scenario; a failure names
/// the version and step and ends with the tail of the server's log.
fn run_one(label: &str, binary: &str) -> std::result::Result<Duration, String> {
    let started = Instant::now();
    let server = ApiServer::start().map_err(|e| format!("kubectl {label}: no server: {e:#}"))?;
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Kubectl::new(label, binary, &server, scratch.path()).and_then(|k| scenario(&k))
    }));
    let error = match result {
        Ok(Ok(())) => return Ok(started.elapsed()),
        Ok(Err(e)) => format!("{e:#}"),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("kubectl {label}: panicked: {message}")
        }
    };
    let log = server.log();
    let lines: Vec<&str> = log.lines().collect();
    Err(format!(
        "{error}\n--- server log {} (last 40 lines):\n{}",
        server.data_dir.join("apiserver.log").display(),
        lines[lines.len().saturating_sub(40)..].join("\n")
    ))
}

/// (label, binary) of every kubectl to run: the installed versioned ones,
/// then the one on PATH.
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
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if on_path {
        all.push(("PATH".to_string(), "kubectl".to_string()));
    } else {
        eprintln!("note: skipping the kubectl on PATH: there is none");
    }
    all
}

#[test]
fn kubectl_scenario_with_every_kubectl_version() {
    let queue = Mutex::new(kubectls());
    if queue.lock().unwrap().is_empty() {
        eprintln!("note: no kubectl installed: nothing to run");
        return;
    }
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let Some((label, binary)) = queue.lock().unwrap().pop() else {
                    break;
                };
                let result = run_one(&label, &binary);
                results.lock().unwrap().push((label, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut failures = Vec::new();
    for (label, result) in &results {
        match result {
            Ok(took) => eprintln!("kubectl {label}: steps 0-17 passed in {took:.1?}"),
            Err(e) => {
                eprintln!("kubectl {label}: FAILED");
                failures.push(e.clone());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} kubectl versions failed the scenario:\n\n{}",
        failures.len(),
        results.len(),
        failures.join("\n\n==========\n\n")
    );
}

/// The comparison of step 2 fails on anything left over or missing, and
/// tolerates exactly the listed server defaults.
#[test]
fn exact_comparison_allows_only_listed_defaults() {
    let manifest = json!({"replicas": 2, "template": {"spec": {"containers": [{"name": "a"}]}}});
    let live = |extra: Value| {
        let mut live = manifest.clone();
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                live["template"]["spec"]["containers"][0][&k] = v;
            }
        }
        live
    };
    assert!(exact(&manifest, &manifest, "spec", &[]).is_ok());
    let defaulted = live(json!({"terminationMessagePath": "/dev/termination-log"}));
    let err = exact(&manifest, &defaulted, "spec", &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("spec.template.spec.containers[0].terminationMessagePath"),
        "{err}"
    );
    let allowed = ["spec.template.spec.containers[*].terminationMessagePath"];
    assert!(exact(&manifest, &defaulted, "spec", &allowed).is_ok());
    // A listed default does not excuse a changed or missing manifest field.
    let changed = live(json!({"name": "b"}));
    assert!(exact(&manifest, &changed, "spec", &allowed).is_err());
    assert!(exact(&manifest, &json!({"replicas": 2}), "spec", &allowed).is_err());
    let longer = json!({"replicas": 2, "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}});
    assert!(exact(&manifest, &longer, "spec", &allowed).is_err());
    assert_eq!(wildcard("a[0].b[12].c"), "a[*].b[*].c");
}
