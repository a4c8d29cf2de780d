//! Cross-cluster rollouts: `kubectl fed rollout status|pause|resume|undo|history
//! TYPE/NAME`.
//!
//! They read and steer what the sync's rollout gate writes into the
//! template's ResourceBinding (`status.rollout`): `status` follows it until
//! the rollout completes, fails or is rolled back; `pause` and `resume` set
//! and clear the binding's `flotilla.io/rollout-paused` annotation (clusters
//! mid-update finish, no further one starts); `undo` writes a good revision
//! from the history (ControllerRevisions next to the binding) back into the
//! template, which rolls out like any change.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use federation_controller::kinds::{Kind, KINDS};
use federation_controller::scheduler::controller::{binding_name, binding_namespace};
use federation_proto::binding::{revision_selector, RolloutStatus, ROLLOUT_PAUSED_ANNOTATION};
use federation_proto::ResourceBinding;
use k8s_openapi::api::apps::v1::ControllerRevision;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{json, Value};

use crate::federation::FederationArgs;
use crate::maintenance::parse_duration;

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Show each cluster's part in the rollout and wait for it to finish.
    Status(StatusArgs),
    /// Let the clusters mid-update finish and start no further one.
    Pause(Target),
    /// Go on with a paused rollout.
    Resume(Target),
    /// Roll the template back to a good revision (by default the newest
    /// one that differs from it).
    Undo(UndoArgs),
    /// The kept good revisions (what undo can go back to).
    History(Target),
}

/// The template whose rollout to act on.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// TYPE/NAME (deployment/web, sts/db, daemonset.apps/agent) or TYPE.
    pub resource: String,
    /// NAME, when RESOURCE is only the TYPE.
    pub name: Option<String>,
    /// The template's namespace (default: the context's, else `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub federation: FederationArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// Wait for the rollout to finish (false: print where it is and exit).
    #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub watch: bool,
    /// How long to wait (e.g. 90s, 5m, 1h).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub target: Target,
    /// The revision (template generation) to go back to; `kubectl get
    /// controllerrevisions -l flotilla.io/binding-name=NAME-KIND` lists the
    /// kept ones.
    #[arg(long)]
    pub to_revision: Option<i64>,
}

pub async fn run(args: RolloutArgs) -> anyhow::Result<()> {
    match args.command {
        RolloutCommand::Status(args) => status(args).await,
        RolloutCommand::Pause(target) => set_paused(target, true).await,
        RolloutCommand::Resume(target) => set_paused(target, false).await,
        RolloutCommand::Undo(args) => undo(args).await,
        RolloutCommand::History(target) => history(target).await,
    }
}

/// A kind by the names kubectl accepts: kind, plural, singular, short name,
/// optionally with its group (`deployment.apps`).
fn kind_named(text: &str) -> Option<&'static Kind> {
    const SHORT: &[(&str, &str)] = &[
        ("deploy", "Deployment"),
        ("sts", "StatefulSet"),
        ("ds", "DaemonSet"),
        ("rs", "ReplicaSet"),
        ("cj", "CronJob"),
    ];
    let lower = text.to_ascii_lowercase();
    let (name, group) = match lower.split_once('.') {
        Some((n, g)) => (n, Some(g)),
        None => (lower.as_str(), None),
    };
    let short = SHORT.iter().find(|(s, _)| *s == name).map(|(_, k)| *k);
    KINDS.iter().find(|k| {
        let named = k.kind.eq_ignore_ascii_case(name)
            || k.plural == name
            || short.is_some_and(|s| s == k.kind);
        named && group.is_none_or(|g| g == k.group)
    })
}

/// The template a [`Target`] names, and where its binding is.
struct Resolved {
    kind: &'static Kind,
    namespace: String,
    name: String,
    /// `deployment.apps/web`, as kubectl prints it.
    display: String,
    binding_namespace: String,
    binding_name: String,
}

async fn resolve(target: &Target) -> anyhow::Result<(Client, Resolved)> {
    let (kind_text, name) = match (target.resource.split_once('/'), &target.name) {
        (Some((k, n)), None) => (k.to_string(), n.to_string()),
        (None, Some(n)) => (target.resource.clone(), n.clone()),
        (Some(_), Some(_)) => bail!("give TYPE/NAME or TYPE NAME, not both"),
        (None, None) => bail!(
            "{}: which one? Give TYPE/NAME (e.g. deployment/web)",
            target.resource
        ),
    };
    let Some(kind) = kind_named(&kind_text) else {
        bail!(
            "{kind_text}: not a kind Flotilla rolls out (Deployment, StatefulSet, DaemonSet, \
             ReplicaSet, Job, and the other propagated kinds)"
        );
    };
    let client = target.federation.client().await?;
    let namespace = match (&target.namespace, kind.namespaced) {
        (_, false) => String::new(),
        (Some(ns), true) => ns.clone(),
        (None, true) => client.default_namespace().to_string(),
    };
    let display = match kind.group {
        "" => format!("{}/{name}", kind.kind.to_ascii_lowercase()),
        g => format!("{}.{g}/{name}", kind.kind.to_ascii_lowercase()),
    };
    let resolved = Resolved {
        kind,
        binding_namespace: binding_namespace(&namespace, kind).to_string(),
        binding_name: binding_name(&name, kind),
        namespace,
        name,
        display,
    };
    Ok((client, resolved))
}

/// The template's binding, or an error saying why there is none.
async fn binding(client: &Client, r: &Resolved) -> anyhow::Result<ResourceBinding> {
    let template = r.kind.api(client.clone(), &r.namespace);
    if template
        .get_opt(&r.name)
        .await
        .with_context(|| format!("reading {}", r.display))?
        .is_none()
    {
        bail!("{} not found in namespace {}", r.display, r.namespace);
    }
    let bindings: Api<ResourceBinding> = Api::namespaced(client.clone(), &r.binding_namespace);
    match bindings
        .get_opt(&r.binding_name)
        .await
        .with_context(|| format!("reading the binding of {}", r.display))?
    {
        Some(b) => Ok(b),
        None => bail!(
            "{} is not placed: no PropagationPolicy selects it (kubectl get pp -n {})",
            r.display,
            r.namespace
        ),
    }
}

/// Where a rollout is, as `rollout status` prints it.
fn describe(display: &str, generation: i64, rollout: Option<&RolloutStatus>) -> String {
    let Some(rollout) = rollout.filter(|r| r.revision == generation) else {
        return format!("{display} revision {generation}: waiting for the rollout to start");
    };
    let mut out = format!("{display} revision {}: {}", rollout.revision, rollout.phase);
    if let (Some(wave), Some(waves)) = (rollout.current_wave, rollout.waves) {
        out += &format!(", wave {wave} of {waves}");
    }
    if let Some(good) = rollout
        .last_good_revision
        .filter(|g| *g != rollout.revision)
    {
        out += &format!(" (last good revision {good})");
    }
    if let Some(message) = &rollout.message {
        out += &format!("\n  {message}");
    }
    let width = rollout
        .clusters
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    for c in &rollout.clusters {
        let wave = c.wave.map(|w| format!("wave {w}")).unwrap_or_default();
        out += &format!("\n  {:width$}  {wave:7}  {}", c.name, c.state);
    }
    out
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let (client, r) = resolve(&args.target).await?;
    let start = Instant::now();
    let mut shown = String::new();
    loop {
        let binding = binding(&client, &r).await?;
        if binding.spec.rollout.is_none() {
            bail!(
                "{}: its policy has no rollout block, so every cluster updates at once \
                 (`kubectl rollout status {}` follows that)",
                r.display,
                r.display
            );
        }
        let generation = r
            .kind
            .api(client.clone(), &r.namespace)
            .get(&r.name)
            .await
            .with_context(|| format!("reading {}", r.display))?
            .metadata
            .generation
            .unwrap_or(0);
        let rollout = binding.status.as_ref().and_then(|s| s.rollout.as_ref());
        let text = describe(&r.display, generation, rollout);
        if text != shown {
            println!("{text}");
            shown = text;
        }
        match rollout.filter(|r| r.revision == generation) {
            Some(rollout) if rollout.phase == "Complete" => {
                println!("{} successfully rolled out", r.display);
                return Ok(());
            }
            Some(rollout) if rollout.phase == "RolledBack" || rollout.phase == "Failed" => {
                bail!(
                    "{} revision {}: {}",
                    r.display,
                    rollout.revision,
                    rollout.phase
                );
            }
            _ => {}
        }
        if !args.watch {
            return Ok(());
        }
        if start.elapsed() > args.timeout {
            let now = shown.lines().next().unwrap_or_default();
            bail!(
                "timed out after {}s waiting for the rollout ({now}); it goes on: \
                 run again to keep following it",
                args.timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn set_paused(target: Target, paused: bool) -> anyhow::Result<()> {
    let (client, r) = resolve(&target).await?;
    let binding = binding(&client, &r).await?;
    if binding.spec.rollout.is_none() {
        bail!(
            "{}: its policy has no rollout block, so there is no cross-cluster rollout to \
             pause or resume (add `rollout:` to the policy)",
            r.display
        );
    }
    let now = binding
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ROLLOUT_PAUSED_ANNOTATION))
        .is_some_and(|v| v == "true");
    let verb = if paused { "paused" } else { "resumed" };
    if now == paused {
        println!("{} rollout already {verb}", r.display);
        return Ok(());
    }
    let value = if paused { json!("true") } else { Value::Null };
    let bindings: Api<ResourceBinding> = Api::namespaced(client, &r.binding_namespace);
    bindings
        .patch(
            &r.binding_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {ROLLOUT_PAUSED_ANNOTATION: value}}})),
        )
        .await
        .with_context(|| format!("updating the binding of {}", r.display))?;
    println!("{} rollout {verb}", r.display);
    Ok(())
}

/// A revision's one-line summary: its containers' images, if any.
fn images(data: &Value) -> String {
    let containers = data
        .pointer("/spec/template/spec/containers")
        .or_else(|| data.pointer("/spec/jobTemplate/spec/template/spec/containers"))
        .and_then(Value::as_array);
    let images: Vec<String> = containers
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}={}",
                c["name"].as_str().unwrap_or("?"),
                c["image"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if images.is_empty() {
        "<none>".into()
    } else {
        images.join(",")
    }
}

/// The kept revisions of a template, newest first.
async fn kept_revisions(client: &Client, r: &Resolved) -> anyhow::Result<Vec<ControllerRevision>> {
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), &r.binding_namespace);
    let mut kept = revisions
        .list(&ListParams::default().labels(&revision_selector(&r.binding_name)))
        .await
        .with_context(|| format!("reading the revision history of {}", r.display))?
        .items;
    kept.sort_by_key(|k| std::cmp::Reverse(k.revision));
    Ok(kept)
}

async fn history(target: Target) -> anyhow::Result<()> {
    let (client, r) = resolve(&target).await?;
    let binding = binding(&client, &r).await?;
    let kept = kept_revisions(&client, &r).await?;
    let last_good = binding
        .status
        .as_ref()
        .and_then(|s| s.rollout.as_ref())
        .and_then(|r| r.last_good_revision);
    println!("{}", r.display);
    if kept.is_empty() {
        println!("no good revision kept yet (one is kept when its rollout completes)");
        return Ok(());
    }
    println!("REVISION  IMAGES");
    for k in &kept {
        let data = k.data.as_ref().map(|d| &d.0).unwrap_or(&Value::Null);
        let mark = if Some(k.revision) == last_good {
            "  (last good)"
        } else {
            ""
        };
        println!("{:<8}  {}{mark}", k.revision, images(data));
    }
    Ok(())
}

/// The fields of a template (or a revision) a rollback restores: all but
/// its identity, metadata and status.
fn restorable(object: &Value) -> serde_json::Map<String, Value> {
    object
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// [`restorable`] without `spec.replicas` (which undo leaves as it is):
/// what tells two revisions apart.
fn comparable(object: &Value) -> serde_json::Map<String, Value> {
    let mut fields = restorable(object);
    if let Some(spec) = fields.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("replicas");
    }
    fields
}

async fn undo(args: UndoArgs) -> anyhow::Result<()> {
    let (client, r) = resolve(&args.target).await?;
    binding(&client, &r).await?;
    let kept = kept_revisions(&client, &r).await?;
    let templates = r.kind.api(client.clone(), &r.namespace);
    for _attempt in 0..5 {
        let template = templates
            .get(&r.name)
            .await
            .with_context(|| format!("reading {}", r.display))?;
        let mut current = serde_json::to_value(&template)?;
        let now = comparable(&current);
        let chosen = match args.to_revision {
            Some(n) => kept.iter().find(|k| k.revision == n),
            None => kept
                .iter()
                .find(|k| k.data.as_ref().is_some_and(|d| comparable(&d.0) != now)),
        };
        let Some(chosen) = chosen else {
            let list: Vec<String> = kept.iter().map(|k| k.revision.to_string()).collect();
            match args.to_revision {
                Some(n) => bail!(
                    "{}: revision {n} is not kept (kept: {})",
                    r.display,
                    if list.is_empty() {
                        "none".into()
                    } else {
                        list.join(", ")
                    }
                ),
                None => bail!(
                    "{}: no earlier good revision to roll back to (a revision is kept once \
                     its rollout completes everywhere)",
                    r.display
                ),
            }
        };
        let wanted = chosen
            .data
            .as_ref()
            .map(|d| restorable(&d.0))
            .unwrap_or_default();
        if chosen
            .data
            .as_ref()
            .is_some_and(|d| comparable(&d.0) == now)
        {
            println!("{} already at revision {}", r.display, chosen.revision);
            return Ok(());
        }
        // The replica count is the user's now, not the revision's (as
        // `kubectl rollout undo` leaves it).
        let replicas = current.pointer("/spec/replicas").cloned();
        if let Some(map) = current.as_object_mut() {
            map.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
            map.extend(wanted);
        }
        if let (Some(replicas), Some(spec)) = (replicas, current.get_mut("spec")) {
            spec["replicas"] = replicas;
        }
        let object: kube::api::DynamicObject = serde_json::from_value(current)?;
        match templates
            .replace(&r.name, &PostParams::default(), &object)
            .await
        {
            Ok(_) => {
                println!("{} rolled back to revision {}", r.display, chosen.revision);
                return Ok(());
            }
            // Changed meanwhile: read it again.
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(e).with_context(|| format!("updating {}", r.display)),
        }
    }
    bail!("{} kept changing: try again", r.display)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_compares_and_restores_all_but_replicas() {
        let template = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 9, "template": {"image": "b"}},
            "status": {"replicas": 9}});
        let revision = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": 1},
            "spec": {"replicas": 3, "template": {"image": "a"}}});
        assert!(restorable(&template).get("status").is_none());
        assert_ne!(comparable(&template), comparable(&revision));
        let scaled_only = serde_json::json!({"spec": {"replicas": 3, "template": {"image": "b"}}});
        assert_eq!(comparable(&template), comparable(&scaled_only));
    }

    #[test]
    fn history_lines_name_the_images() {
        let data = serde_json::json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "nginx:1.27"}, {"name": "log", "image": "fluent:2"}]}}}});
        assert_eq!(images(&data), "app=nginx:1.27,log=fluent:2");
        assert_eq!(images(&serde_json::json!({"data": {"a": "1"}})), "<none>");
    }

    #[test]
    fn kinds_go_by_the_names_kubectl_accepts() {
        for name in [
            "deployment",
            "Deployment",
            "deployments",
            "deploy",
            "deployment.apps",
        ] {
            assert_eq!(
                kind_named(name).map(|k| k.kind),
                Some("Deployment"),
                "{name}"
            );
        }
        assert_eq!(kind_named("sts").map(|k| k.kind), Some("StatefulSet"));
        assert!(kind_named("deployment.batch").is_none());
        assert!(kind_named("pods").is_none());
    }

    #[test]
    fn status_lines_show_phase_wave_and_clusters() {
        let rollout = RolloutStatus {
            phase: "Progressing".into(),
            revision: 3,
            last_good_revision: Some(2),
            current_wave: Some(1),
            waves: Some(2),
            message: None,
            clusters: vec![
                federation_proto::binding::ClusterRollout {
                    name: "member-2".into(),
                    state: "Updating".into(),
                    wave: Some(1),
                },
                federation_proto::binding::ClusterRollout {
                    name: "member-1".into(),
                    state: "Pending".into(),
                    wave: Some(2),
                },
            ],
        };
        let text = describe("deployment.apps/web", 3, Some(&rollout));
        assert_eq!(
            text,
            "deployment.apps/web revision 3: Progressing, wave 1 of 2 (last good revision 2)\n  \
             member-2  wave 1   Updating\n  member-1  wave 2   Pending"
        );
        assert!(describe("deployment.apps/web", 4, Some(&rollout)).contains("waiting"));
    }
}
