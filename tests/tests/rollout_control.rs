//! Steering cross-cluster rollouts against a `kubectl fed up`-style
//! federation: a bad canary is rolled back automatically and never reaches
//! the other members; `kubectl fed rollout pause|resume|undo|status` work.

use std::time::{Duration, Instant};

use flotilla_e2e::{ok, wait_for, FedUp};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);

fn deployment(namespace: &str, name: &str, image: &str, rollout: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    \
         metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: app, image: \"{image}\"}}]\n\
         ---\napiVersion: flotilla.io/v1alpha1\nkind: PropagationPolicy\n\
         metadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  \
         resourceSelectors: [{{apiVersion: apps/v1, kind: Deployment, name: {name}}}]\n  \
         rollout: {rollout}\n"
    )
}

/// Reads a member copy's image and the binding's rollout status.
struct Probe<'a> {
    up: &'a FedUp,
    namespace: &'a str,
    name: &'a str,
}

impl Probe<'_> {
    fn image(&self, member: &str) -> Option<Value> {
        let c = self.up.https(member).expect("a member client");
        c.get(&format!(
            "/apis/apps/v1/namespaces/{}/deployments/{}",
            self.namespace, self.name
        ))
        .ok()
        .filter(|r| r.status == 200)
        .map(|r| r.json()["spec"]["template"]["spec"]["containers"][0]["image"].clone())
    }

    fn rollout(&self) -> Value {
        let federation = self.up.https("flotilla").expect("a federation client");
        federation
            .get(&format!(
                "/apis/flotilla.io/v1alpha1/namespaces/{}/resourcebindings/{}-deployment",
                self.namespace, self.name
            ))
            .ok()
            .map(|r| r.json()["status"]["rollout"].clone())
            .unwrap_or(Value::Null)
    }

    fn state(rollout: &Value, member: &str) -> Value {
        rollout["clusters"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == member))
            .map(|c| c["state"].clone())
            .unwrap_or(Value::Null)
    }

    /// Waits for the rollout of `revision` to complete, every member on `image`.
    fn complete(&self, revision: i64, image: &str) -> Value {
        wait_for(DEADLINE, "the rollout Complete", || {
            let r = self.rollout();
            let everywhere = ["member-1", "member-2", "member-3"]
                .iter()
                .all(|m| self.image(m) == Some(Value::from(image)));
            (r["phase"] == "Complete" && r["revision"] == revision && everywhere).then_some(r)
        })
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.rollout(), self.up.log()))
    }

    fn set_image(&self, image: &str) {
        ok(self.up.kubectl(&[
            "set",
            "image",
            &format!("deployment/{}", self.name),
            "-n",
            self.namespace,
            &format!("app={image}"),
        ]));
    }
}

#[test]
fn a_bad_canary_is_rolled_back_automatically_and_undo_restores_the_template() {
    let up = FedUp::start_ready(3, 300);
    let rollout = "{strategy: Canary, canaryClusters: [member-2], progressDeadlineSeconds: 3, \
                   autoRollback: true}";
    up.apply(&deployment("canary", "api", "nginx:1.27", rollout));
    let probe = Probe {
        up: &up,
        namespace: "canary",
        name: "api",
    };
    // The first revision completes everywhere: it is the last good one.
    let first = probe.complete(1, "nginx:1.27");
    assert_eq!(first["lastGoodRevision"], 1, "{first}");
    let revisions = ok(up.kubectl(&["get", "controllerrevisions", "-n", "canary", "-o", "name"]));
    assert!(
        revisions.contains("controllerrevision.apps/api-deployment-1"),
        "{revisions}"
    );

    // A release whose pods never get ready: the canary takes it, misses its
    // deadline, and goes back to revision 1; nobody else ever sees it.
    probe.set_image("nginx:bad");
    let mut canary_had_it = false;
    let rolled_back = wait_for(DEADLINE, "the rollout RolledBack", || {
        for m in ["member-1", "member-3"] {
            assert_eq!(
                probe.image(m),
                Some(Value::from("nginx:1.27")),
                "{m} got the bad release"
            );
        }
        canary_had_it |= probe.image("member-2") == Some(Value::from("nginx:bad"));
        let r = probe.rollout();
        let back = probe.image("member-2") == Some(Value::from("nginx:1.27"));
        (r["phase"] == "RolledBack" && Probe::state(&r, "member-2") == "RolledBack" && back)
            .then_some(r)
    })
    .unwrap_or_else(|e| panic!("{e}: {}\n{}", probe.rollout(), up.log()));
    assert!(canary_had_it, "the canary never ran the bad release");
    assert_eq!(rolled_back["revision"], 2, "{rolled_back}");
    assert_eq!(rolled_back["lastGoodRevision"], 1, "{rolled_back}");
    assert_eq!(
        Probe::state(&rolled_back, "member-1"),
        "Pending",
        "{rolled_back}"
    );
    let message = rolled_back["message"].as_str().unwrap_or("");
    assert!(
        message.contains("member-2") && message.contains("rolled back to revision 1"),
        "{rolled_back}"
    );
    // The canary's copy runs every replica of revision 1 again.
    wait_for(DEADLINE, "the canary available again", || {
        let c = up.https("member-2").expect("a member client");
        let copy = c
            .get("/apis/apps/v1/namespaces/canary/deployments/api")
            .ok()?
            .json();
        (copy["status"]["availableReplicas"].as_i64() >= copy["spec"]["replicas"].as_i64())
            .then_some(())
    })
    .expect("the canary recovers");
    let table = ok(up.kubectl(&["get", "rb", "api-deployment", "-n", "canary"]));
    assert!(table.contains("RolledBack to 1"), "{table}");
    // `rollout status` says so, and fails.
    let status = up.fed(&["rollout", "status", "deployment/api", "-n", "canary"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(!status.status.success(), "{text}");
    assert!(text.contains("RolledBack"), "{text}");
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("RolledBack"),
        "{status:?}"
    );

    // Undo writes revision 1 back into the template, which rolls out.
    let undo = ok(up.fed(&["rollout", "undo", "deployment/api", "-n", "canary"]));
    assert!(undo.contains("rolled back to revision 1"), "{undo}");
    let template = up.https("flotilla").expect("a federation client");
    let image = template
        .get("/apis/apps/v1/namespaces/canary/deployments/api")
        .expect("the template")
        .json()["spec"]["template"]["spec"]["containers"][0]["image"]
        .clone();
    assert_eq!(image, "nginx:1.27");
    let done = probe.complete(3, "nginx:1.27");
    assert_eq!(done["lastGoodRevision"], 3, "{done}");
    let status = ok(up.fed(&["rollout", "status", "deployment/api", "-n", "canary"]));
    assert!(status.contains("successfully rolled out"), "{status}");
}

#[test]
fn pause_holds_the_rollout_resume_goes_on_and_undo_goes_back() {
    let up = FedUp::start_ready(3, 300);
    let rollout = "{strategy: ClusterByCluster, maxConcurrentClusters: 1}";
    up.apply(&deployment("steer", "web", "nginx:1.27", rollout));
    let probe = Probe {
        up: &up,
        namespace: "steer",
        name: "web",
    };
    probe.complete(1, "nginx:1.27");

    let paused = ok(up.fed(&["rollout", "pause", "deployment/web", "-n", "steer"]));
    assert!(
        paused.contains("deployment.apps/web rollout paused"),
        "{paused}"
    );
    probe.set_image("nginx:1.28");
    let held = wait_for(DEADLINE, "the rollout Paused", || {
        let r = probe.rollout();
        (r["phase"] == "Paused" && r["revision"] == 2).then_some(r)
    })
    .unwrap_or_else(|e| panic!("{e}: {}\n{}", probe.rollout(), up.log()));
    for m in ["member-1", "member-2", "member-3"] {
        assert_eq!(Probe::state(&held, m), "Pending", "{held}");
    }
    // Paused means nobody starts: watched for longer than one member takes.
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        for m in ["member-1", "member-2", "member-3"] {
            assert_eq!(
                probe.image(m),
                Some(Value::from("nginx:1.27")),
                "{m} updated while paused"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let once = up.fed(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "steer",
        "--watch=false",
    ]);
    let text = ok(once);
    assert!(text.contains("revision 2: Paused"), "{text}");
    assert!(text.contains("member-1  wave 1   Pending"), "{text}");

    let resumed = ok(up.fed(&["rollout", "resume", "deployment/web", "-n", "steer"]));
    assert!(resumed.contains("rollout resumed"), "{resumed}");
    let status = ok(up.fed(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "steer",
        "--timeout=60s",
    ]));
    assert!(status.contains("successfully rolled out"), "{status}");
    let done = probe.complete(2, "nginx:1.28");
    assert_eq!(done["currentWave"], 3, "{done}");
    assert_eq!(done["waves"], 3, "{done}");

    // History lists the kept good revisions, newest first.
    let history = ok(up.fed(&["rollout", "history", "deployment/web", "-n", "steer"]));
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines[0], "deployment.apps/web", "{history}");
    assert!(
        lines[2].starts_with("2 ")
            && lines[2].contains("app=nginx:1.28")
            && lines[2].contains("(last good)"),
        "{history}"
    );
    assert!(
        lines[3].starts_with("1 ") && lines[3].contains("app=nginx:1.27"),
        "{history}"
    );

    // Undo after a good rollout goes back to the revision before it.
    let undo = ok(up.fed(&["rollout", "undo", "deployment/web", "-n", "steer"]));
    assert!(undo.contains("rolled back to revision 1"), "{undo}");
    probe.complete(3, "nginx:1.27");
    // Asking for a revision that is not kept changes nothing.
    let missing = up.fed(&[
        "rollout",
        "undo",
        "deployment/web",
        "-n",
        "steer",
        "--to-revision",
        "7",
    ]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("revision 7 is not kept"), "{stderr}");
    let unknown = up.fed(&["rollout", "status", "deployment/nope", "-n", "steer"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("not found"),
        "{unknown:?}"
    );
}
