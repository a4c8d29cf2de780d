//! The sync controller: ResourceBinding → member objects → status back up.
//!
//! For every target cluster of a binding it renders the template (the
//! cluster's replicas, its override rules, Flotilla's labels), applies it
//! with server-side apply under field manager `flotilla` when the member's
//! copy differs, removes copies from clusters the binding left, and writes
//! what it found into the binding's status and the template's own status.
//!
//! # Guarantees
//! - Drift is repaired and deleted copies are recreated: every change of a
//!   managed member object triggers its binding (see [`crate::members`]).
//! - A member object Flotilla did not create is never taken over unless
//!   the policy says `conflictResolution: Overwrite`; the binding reports
//!   the conflict.
//! - Clusters are worked on concurrently, each request bounded by a
//!   timeout; a not-Ready cluster is skipped (and retried), so one broken
//!   member never stalls the others.
//! - A deleted binding keeps its finalizer until its copies are deleted
//!   from every reachable cluster.
//! - Failover purge: a copy on a cluster the binding left while that
//!   cluster is not Ready goes at once (`purgeMode: Immediate`), once the
//!   remaining clusters are fully available (`Graceful`, the default), or
//!   never (`Never`).

pub mod aggregate;
pub mod overrides;
pub mod render;
pub mod rollout;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use federation_proto::binding::MemberStatus;
use federation_proto::override_policy::Overriders;
use federation_proto::policy::ConflictResolution;
use federation_proto::{Cluster, OverridePolicy, ResourceBinding};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{DeleteParams, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::kinds::{self, Kind};
use crate::members::{Members, MEMBER_TIMEOUT};
use crate::scheduler::filters;

/// Bindings synced at once (each works on its clusters concurrently).
pub const SYNC_CONCURRENCY: u16 = 32;

/// The finalizer that keeps a binding until its member copies are gone.
pub const BINDING_FINALIZER: &str = "flotilla.io/sync";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {name}: {source}")]
    Api {
        what: &'static str,
        name: String,
        source: kube::Error,
    },
}

fn api_error<'a>(what: &'static str, name: &'a str) -> impl FnOnce(kube::Error) -> Error + 'a {
    move |source| Error::Api {
        what,
        name: name.to_string(),
        source,
    }
}

pub struct Context {
    pub client: Client,
    pub members: Arc<Members>,
    pub clusters: Store<Cluster>,
    pub overrides: Store<OverridePolicy>,
    /// Rollout soak clocks.
    pub soak: rollout::Soak,
    /// Rollout progress-deadline clocks.
    pub updating: rollout::Soak,
}

/// What happened on one cluster.
struct Outcome {
    status: MemberStatus,
    /// The member's copy as last seen.
    object: Option<Value>,
    /// Worth retrying soon (not Ready, unreachable, conflict).
    retry: bool,
    /// The cluster could not be reached: what was last known of its copy
    /// (applied or not, its status) still holds.
    unknown: bool,
}

/// The fields of a member object's status worth keeping in the binding:
/// counts, revisions, job times and conditions (type, status, reason), not
/// messages and condition times.
pub fn summary(status: &Value) -> Value {
    const FIELDS: &[&str] = &[
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
        "currentReplicas",
        "currentRevision",
        "updateRevision",
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "numberMisscheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberUnavailable",
        "fullyLabeledReplicas",
        "active",
        "ready",
        "succeeded",
        "failed",
        "startTime",
        "completionTime",
    ];
    let mut out = serde_json::Map::new();
    for f in FIELDS {
        if let Some(v) = status.get(*f) {
            out.insert(f.to_string(), v.clone());
        }
    }
    if let Some(conditions) = status.get("conditions").and_then(Value::as_array) {
        let short: Vec<Value> = conditions
            .iter()
            .map(|c| json!({"type": c["type"], "status": c["status"], "reason": c["reason"]}))
            .collect();
        out.insert("conditions".into(), Value::Array(short));
    }
    Value::Object(out)
}

/// What the status aggregation reads of a member copy: its generation, the
/// template generation and binding it was rendered for, and its status
/// summary.
pub fn compact(object: &Value) -> Value {
    let pointer = |path: &str| object.pointer(path).cloned().unwrap_or(Value::Null);
    let annotation = |name: &str| {
        pointer(&format!(
            "/metadata/annotations/{}",
            name.replace('/', "~1")
        ))
    };
    json!({
        "metadata": {
            "generation": pointer("/metadata/generation"),
            "annotations": {
                render::GENERATION_ANNOTATION: annotation(render::GENERATION_ANNOTATION),
                render::BINDING_ANNOTATION: annotation(render::BINDING_ANNOTATION),
            },
            "labels": {
                render::MANAGED_BY_LABEL:
                    pointer(&format!("/metadata/labels/{}", render::MANAGED_BY_LABEL.replace('/', "~1"))),
            },
        },
        "status": object.get("status").map(summary).unwrap_or(Value::Null),
    })
}

/// A hash of a rendered object (what was applied).
fn rendering_hash(object: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(object)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

fn member_status(
    cluster: &str,
    applied: bool,
    message: Option<String>,
    object: Option<&Value>,
) -> MemberStatus {
    let status = object.and_then(|o| o.get("status")).map(summary);
    let health = match (applied, &status) {
        (false, _) => "Unknown",
        (true, Some(s)) if healthy(s) => "Healthy",
        (true, Some(_)) => "Unhealthy",
        (true, None) => "Healthy",
    };
    MemberStatus {
        cluster_name: cluster.to_string(),
        applied,
        applied_message: message,
        status,
        health: Some(health.to_string()),
    }
}

/// Whether a copy (compact object) runs all `replicas` of the current
/// generation and they are available; kinds without divisible replicas
/// count as fully available when healthy.
fn fully_available(object: Option<&Value>, replicas: i32, kind: &Kind) -> bool {
    let Some(object) = object else {
        return false;
    };
    let status = &object["status"];
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = status.get("observedGeneration").and_then(Value::as_i64);
    if generation.is_some() && observed < generation {
        return false;
    }
    if !kind.divisible {
        return healthy(status);
    }
    let count = |f: &str| status.get(f).and_then(Value::as_i64).unwrap_or(0);
    let want = i64::from(replicas);
    count("availableReplicas") >= want && count("readyReplicas") >= want
}

/// The sooner of two optional waits.
fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// [`fully_available`], and every replica runs the copy's current spec.
fn fully_updated(object: Option<&Value>, replicas: i32, kind: &Kind) -> bool {
    if !fully_available(object, replicas, kind) {
        return false;
    }
    if !kind.divisible {
        return true;
    }
    let status = object.map_or(&Value::Null, |o| &o["status"]);
    let count = |f: &str| status.get(f).and_then(Value::as_i64).unwrap_or(0);
    let want = i64::from(replicas);
    // Updated, and no old replica left (a rolling update surges).
    count("updatedReplicas") >= want && count("replicas") <= want
}

/// A workload is healthy when its Available condition (if any) is True
/// and no Progressing/Failed condition says otherwise.
fn healthy(status: &Value) -> bool {
    let conditions = status.get("conditions").and_then(Value::as_array);
    conditions.is_none_or(|list| {
        list.iter().all(|c| match c["type"].as_str() {
            Some("Available") => c["status"] == "True",
            Some("Progressing") => c["reason"] != "ProgressDeadlineExceeded",
            Some("Failed") => c["status"] != "True",
            _ => true,
        })
    })
}

/// The override rules of the template's OverridePolicies that target `cluster`.
fn rules_for<'a>(
    policies: &'a [Arc<OverridePolicy>],
    template: &DynamicObject,
    kind: &Kind,
    cluster: &filters::ClusterView,
) -> Vec<&'a Overriders> {
    let namespace = template.namespace();
    let mut matching: Vec<&Arc<OverridePolicy>> = policies
        .iter()
        .filter(|p| p.namespace() == namespace)
        .filter(|p| {
            p.spec.resource_selectors.iter().any(|s| {
                s.api_version == kind.api_version()
                    && s.kind == kind.kind
                    && s.name.as_ref().is_none_or(|n| *n == template.name_any())
                    && s.label_selector
                        .as_ref()
                        .is_none_or(|l| filters::selector_matches(l, template.labels()))
            })
        })
        .collect();
    matching.sort_by_key(|p| p.name_any());
    matching
        .into_iter()
        .flat_map(|p| p.spec.override_rules.iter())
        .filter(|r| {
            let t = &r.target_cluster;
            (t.cluster_names.is_empty() && t.label_selector.is_none())
                || filters::targets(t, cluster)
        })
        .map(|r| &r.overriders)
        .collect()
}

async fn ensure_namespace(client: &Client, namespace: &str) -> Result<(), kube::Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(namespace).await?.is_some() {
        return Ok(());
    }
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_string()),
            labels: Some(
                [(
                    render::MANAGED_BY_LABEL.to_string(),
                    render::MANAGED_BY.to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

fn short(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        _ => "the member's API server did not answer".to_string(),
    }
}

/// Brings one cluster's copy in line.
async fn sync_cluster(
    ctx: &Context,
    binding_key: &str,
    template: &DynamicObject,
    kind: &'static Kind,
    cluster_name: &str,
    replicas: Option<i32>,
    conflict: Option<ConflictResolution>,
) -> Outcome {
    let fail = |message: String, retry: bool| Outcome {
        status: member_status(cluster_name, false, Some(message), None),
        object: None,
        retry,
        unknown: retry,
    };
    let Some(cluster) = ctx
        .clusters
        .state()
        .into_iter()
        .find(|c| c.name_any() == cluster_name)
    else {
        return fail(format!("cluster {cluster_name} is not joined"), true);
    };
    if !cluster.is_ready() {
        return fail(
            "the cluster is not Ready: applied once it is back".into(),
            true,
        );
    }
    let client = match ctx.members.client(&cluster).await {
        Ok(c) => c,
        Err(e) => return fail(e.to_string(), true),
    };
    let view = crate::scheduler::controller::view(&cluster);
    let overrides = ctx.overrides.state();
    let rules = rules_for(&overrides, template, kind, &view);
    let template_value = serde_json::to_value(template).unwrap_or(Value::Null);
    let mut wanted = match render::render(&template_value, binding_key, replicas, &rules) {
        Ok(w) => w,
        Err(e) => return fail(format!("overrides: {e}"), false),
    };
    let namespace = template.namespace().unwrap_or_default();
    let name = template.name_any();
    ctx.members.watch(&cluster, kind).await;
    let _permit = ctx.members.permit(cluster_name).await;
    let api = kind.api(client.clone(), &namespace);
    let copy_key = (
        cluster_name.to_string(),
        kind.kind,
        namespace.clone(),
        name.clone(),
    );
    let rendering = rendering_hash(&wanted);
    // Nothing changed since the last apply: the watch's record says so.
    if let (Some(record), Some((applied, generation))) = (
        ctx.members.record(&copy_key),
        ctx.members.applied(&copy_key),
    ) {
        if applied == rendering
            && generation == record.generation
            && record.binding.as_deref() == Some(binding_key)
        {
            return Outcome {
                status: member_status(cluster_name, true, None, Some(&record.object())),
                object: Some(record.object()),
                retry: false,
                unknown: false,
            };
        }
    }
    let work = async {
        let live = api
            .get_opt(&name)
            .await
            .map_err(|e| short(&e))?
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null));
        if let Some(existing) = &live {
            if !render::is_ours(existing, binding_key)
                && !render::is_adoptable(existing)
                && conflict != Some(ConflictResolution::Overwrite)
            {
                let path = if kind.namespaced {
                    format!("{namespace}/{name}")
                } else {
                    name.clone()
                };
                return Err(format!(
                    "conflict: {} {path} already exists in {cluster_name} and is not Flotilla's \
                     (set conflictResolution: Overwrite in the policy to take it over)",
                    kind.kind
                ));
            }
            if render::retains_replicas(&template_value) {
                render::retain_replicas(&mut wanted, existing);
            }
            if render::contains(existing, &wanted) {
                let generation = existing
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                ctx.members
                    .remember_applied(copy_key.clone(), rendering, generation);
                return Ok(live.map(|l| compact(&l)));
            }
        } else if kind.namespaced && !ctx.members.has_namespace(cluster_name, &namespace).await {
            ensure_namespace(&client, &namespace)
                .await
                .map_err(|e| short(&e))?;
            ctx.members.namespace_exists(cluster_name, &namespace).await;
        }
        let params = PatchParams::apply(federation_proto::FIELD_MANAGER).force();
        let applied = api
            .patch(&name, &params, &Patch::Apply(&wanted))
            .await
            .map_err(|e| short(&e))?;
        ctx.members.remember_applied(
            copy_key.clone(),
            rendering,
            applied.metadata.generation.unwrap_or(0),
        );
        Ok(Some(compact(
            &serde_json::to_value(applied).unwrap_or(Value::Null),
        )))
    };
    match tokio::time::timeout(MEMBER_TIMEOUT * 2, work).await {
        Ok(Ok(object)) => Outcome {
            status: member_status(cluster_name, true, None, object.as_ref()),
            object,
            retry: false,
            unknown: false,
        },
        Ok(Err(message)) => {
            let conflict = message.starts_with("conflict");
            Outcome {
                status: member_status(cluster_name, false, Some(message), None),
                object: None,
                retry: !conflict,
                unknown: !conflict,
            }
        }
        Err(_) => fail("the member did not answer in time".into(), true),
    }
}

/// Deletes the copy on `cluster_name` if it is Flotilla's. Returns whether
/// it is gone (or was never there).
async fn remove_copy(
    ctx: &Context,
    binding_key: &str,
    kind: &'static Kind,
    namespace: &str,
    name: &str,
    cluster_name: &str,
) -> bool {
    let Some(cluster) = ctx
        .clusters
        .state()
        .into_iter()
        .find(|c| c.name_any() == cluster_name)
    else {
        // Unjoined: nothing to reach.
        return true;
    };
    let Ok(client) = ctx.members.client(&cluster).await else {
        return false;
    };
    let api = kind.api(client, namespace);
    let work = async {
        match api.get_opt(name).await {
            Ok(Some(object)) => {
                let value = serde_json::to_value(&object).unwrap_or(Value::Null);
                if !render::is_ours(&value, binding_key) {
                    return true;
                }
                api.delete(name, &DeleteParams::default()).await.is_ok()
                    || matches!(api.get_opt(name).await, Ok(None))
            }
            Ok(None) => true,
            Err(_) => false,
        }
    };
    tokio::time::timeout(MEMBER_TIMEOUT * 2, work)
        .await
        .unwrap_or(false)
}

async fn set_finalizer(
    bindings: &Api<ResourceBinding>,
    binding: &ResourceBinding,
    present: bool,
) -> Result<(), Error> {
    let mut finalizers = binding.finalizers().to_vec();
    if finalizers.iter().any(|f| f == BINDING_FINALIZER) == present {
        return Ok(());
    }
    if present {
        finalizers.push(BINDING_FINALIZER.into());
    } else {
        finalizers.retain(|f| f != BINDING_FINALIZER);
    }
    let name = binding.name_any();
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": binding.resource_version()}});
    match bindings
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(api_error("updating the finalizers of binding", &name)(e)),
    }
}

/// Syncs one binding.
pub async fn reconcile(binding: Arc<ResourceBinding>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = binding.namespace().unwrap_or_default();
    let name = binding.name_any();
    let key = format!("{namespace}/{name}");
    let bindings: Api<ResourceBinding> = Api::namespaced(ctx.client.clone(), &namespace);
    let resource = &binding.spec.resource;
    let Some(kind) = kinds::find(&resource.api_version, &resource.kind) else {
        return Ok(Action::await_change());
    };
    let template_ns = match kind.namespaced {
        true => resource.namespace.clone().unwrap_or(namespace.clone()),
        false => String::new(),
    };
    let previous = expanded_status(&binding);
    let placed: Vec<String> = previous
        .aggregated_status
        .iter()
        .filter(|s| s.applied)
        .map(|s| s.cluster_name.clone())
        .collect();

    if binding.metadata.deletion_timestamp.is_some() {
        let mut every: Vec<String> = placed.clone();
        every.extend(binding.spec.clusters.iter().map(|t| t.name.clone()));
        every.sort();
        every.dedup();
        let mut left = false;
        for cluster in &every {
            let reachable = ctx
                .clusters
                .state()
                .iter()
                .any(|c| c.name_any() == *cluster && c.is_ready());
            if reachable
                && !remove_copy(&ctx, &key, kind, &template_ns, &resource.name, cluster).await
            {
                left = true;
            }
        }
        if left {
            return Ok(Action::requeue(Duration::from_secs(2)));
        }
        set_finalizer(&bindings, &binding, false).await?;
        return Ok(Action::await_change());
    }
    set_finalizer(&bindings, &binding, true).await?;

    let templates = kind.api(ctx.client.clone(), &template_ns);
    let Some(template) = templates
        .get_opt(&resource.name)
        .await
        .map_err(api_error("reading template", &resource.name))?
    else {
        return Ok(Action::await_change());
    };

    // What the member watch last saw of this template's copy on a cluster.
    let record_on = |cluster: &str| {
        ctx.members.record(&(
            cluster.to_string(),
            kind.kind,
            template_ns.clone(),
            resource.name.clone(),
        ))
    };
    // Rollout waves: which targets may get this revision now.
    let generation = template.metadata.generation.unwrap_or(0);
    let gated = binding
        .spec
        .rollout
        .as_ref()
        .and_then(|r| r.strategy.as_deref())
        .is_some_and(|s| s == "ClusterByCluster" || s == "Canary");
    let mut waiting = std::collections::BTreeSet::new();
    let mut wake_in: Option<Duration> = None;
    let mut rollout_status: Option<federation_proto::binding::RolloutStatus> = None;
    if gated {
        let mut unknown = false;
        let soak = Duration::from_secs(
            binding
                .spec
                .rollout
                .as_ref()
                .and_then(|r| r.soak_seconds)
                .unwrap_or(0)
                .max(0) as u64,
        );
        let deadline = binding
            .spec
            .rollout
            .as_ref()
            .and_then(|r| r.progress_deadline_seconds)
            .map(|s| Duration::from_secs(s.max(1) as u64));
        let now = std::time::Instant::now();
        let mut states_seen = Vec::new();
        let mut failures = 0;
        let states: Vec<rollout::CopyState> = binding
            .spec
            .clusters
            .iter()
            .map(|t| {
                let record = record_on(&t.name);
                if record.is_none() && !ctx.members.is_listed(&t.name, kind.kind) {
                    unknown = true;
                }
                let object = record.map(|r| r.object());
                let copy_generation: Option<i64> = object
                    .as_ref()
                    .and_then(|o| render::annotation(o, render::GENERATION_ANNOTATION))
                    .and_then(|g| g.parse().ok());
                // Done: fully updated, and so for the soak time.
                let (done, left) = ctx.soak.settle(
                    &key,
                    &t.name,
                    copy_generation.unwrap_or(0),
                    fully_updated(object.as_ref(), t.replicas, kind),
                    soak,
                    now,
                );
                wake_in = earliest(wake_in, left);
                let updated = fully_updated(object.as_ref(), t.replicas, kind);
                // Updating for longer than the progress deadline: failed.
                let failed = deadline.is_some_and(|d| {
                    let updating = copy_generation == Some(generation) && !updated;
                    let (over, left) = ctx
                        .updating
                        .settle(&key, &t.name, generation, updating, d, now);
                    wake_in = earliest(wake_in, left);
                    over
                });
                if failed {
                    failures += 1;
                }
                let state = match copy_generation {
                    Some(g) if g < generation => "Pending",
                    None => "Updating",
                    _ if done => "Done",
                    _ if failed => "Failed",
                    _ if updated => "Soaking",
                    _ => "Updating",
                };
                states_seen.push(federation_proto::binding::ClusterRollout {
                    name: t.name.clone(),
                    state: state.to_string(),
                });
                rollout::CopyState {
                    cluster: t.name.clone(),
                    generation: copy_generation,
                    done,
                    failed,
                }
            })
            .collect();
        if unknown {
            // Not every copy is known yet: watch, and decide once they are.
            for c in ctx.clusters.state() {
                if binding.spec.clusters.iter().any(|t| t.name == c.name_any()) {
                    ctx.members.watch(&c, kind).await;
                }
            }
            return Ok(Action::requeue(Duration::from_millis(500)));
        }
        let complete = states_seen.iter().all(|c| c.state == "Done");
        let max_failures = binding
            .spec
            .rollout
            .as_ref()
            .and_then(|r| r.max_failures)
            .unwrap_or(0)
            .max(0) as usize;
        let phase = if complete {
            "Complete"
        } else if failures > max_failures {
            "Failed"
        } else {
            "Progressing"
        };
        rollout_status = Some(federation_proto::binding::RolloutStatus {
            phase: phase.to_string(),
            revision: generation,
            clusters: states_seen,
        });
        let allowed = rollout::allowed(binding.spec.rollout.as_ref(), generation, &states);
        waiting = states
            .iter()
            .filter(|s| !allowed.contains(&s.cluster))
            .map(|s| s.cluster.clone())
            .collect();
    }
    let mut outcomes = futures::future::join_all(binding.spec.clusters.iter().map(|target| {
        let replicas = kind.divisible.then_some(target.replicas);
        let waits = waiting.contains(&target.name);
        let record = waits.then(|| record_on(&target.name)).flatten();
        let key = &key;
        let template = &template;
        let ctx = &ctx;
        let conflict = binding.spec.conflict_resolution;
        async move {
            match record {
                // Its wave has not come: it keeps the revision it runs.
                Some(record) => {
                    let object = record.object();
                    Outcome {
                        status: member_status(
                            &target.name,
                            true,
                            Some("waiting for its rollout wave".into()),
                            Some(&object),
                        ),
                        object: Some(object),
                        retry: true,
                        unknown: false,
                    }
                }
                None => {
                    sync_cluster(ctx, key, template, kind, &target.name, replicas, conflict).await
                }
            }
        }
    }))
    .await;
    // An unreachable cluster's copy is as it was last seen.
    for outcome in outcomes.iter_mut().filter(|o| o.unknown) {
        if let Some(last) = previous
            .aggregated_status
            .iter()
            .find(|s| s.cluster_name == outcome.status.cluster_name && s.applied)
        {
            let message = outcome.status.applied_message.take();
            outcome.status = last.clone();
            outcome.status.applied_message = message;
            outcome.status.health = Some("Unknown".into());
        }
    }
    let mut retry = outcomes.iter().any(|o| o.retry);

    // Copies on clusters the binding left.
    let targets: Vec<&str> = binding
        .spec
        .clusters
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let all_available = outcomes
        .iter()
        .all(|o| o.status.applied && o.status.health.as_deref() == Some("Healthy"));
    // Every target runs all its replicas, up to date: what a drain waits for.
    let all_fully_available = binding
        .spec
        .clusters
        .iter()
        .zip(&outcomes)
        .all(|(t, o)| o.status.applied && fully_available(o.object.as_ref(), t.replicas, kind));
    let mut statuses: Vec<MemberStatus> = outcomes.iter().map(|o| o.status.clone()).collect();
    let mut leftovers: Vec<String> = Vec::new();
    for cluster in placed.iter().filter(|c| !targets.contains(&c.as_str())) {
        let state = ctx
            .clusters
            .state()
            .into_iter()
            .find(|c| c.name_any() == *cluster);
        let ready = state.as_ref().is_some_and(|c| c.is_ready());
        let draining = state.as_ref().is_some_and(|c| c.is_draining());
        let purge = binding.spec.purge_mode.as_deref().unwrap_or("Graceful");
        // A cluster being drained keeps its copy until the replacements
        // run every replica (surge first, so nothing drops); one that is
        // fine was simply dropped from the placement; a failed one is
        // purged by the policy's mode.
        let go = if draining {
            all_fully_available
        } else {
            ready || purge == "Immediate" || (purge == "Graceful" && all_available)
        };
        if go && remove_copy(&ctx, &key, kind, &template_ns, &resource.name, cluster).await {
            continue;
        }
        retry = true;
        let mut kept = previous
            .aggregated_status
            .iter()
            .find(|s| &s.cluster_name == cluster)
            .cloned()
            .unwrap_or_else(|| member_status(cluster, true, None, None));
        leftovers.push(cluster.clone());
        kept.applied_message = Some(if draining {
            "draining: kept until the replacements run every replica".to_string()
        } else if purge == "Never" || !go {
            format!("left by the placement; kept until the purge ({purge}) allows removing it")
        } else {
            "left by the placement; removing it".to_string()
        });
        statuses.push(kept);
    }

    write_status(&bindings, &binding, statuses, rollout_status).await?;
    let mut copies: Vec<aggregate::Copy> = binding
        .spec
        .clusters
        .iter()
        .zip(&outcomes)
        .map(|(t, o)| aggregate::Copy {
            cluster: t.name.as_str(),
            object: o.object.as_ref(),
        })
        .collect();
    // Copies kept on clusters the placement left (a drain, a graceful
    // purge) still run their replicas: they count until they are gone.
    let kept: Vec<(String, Value)> = leftovers
        .iter()
        .filter_map(|cluster| {
            let record = record_on(cluster)?;
            Some((cluster.clone(), record.object()))
        })
        .collect();
    copies.extend(kept.iter().map(|(cluster, object)| aggregate::Copy {
        cluster: cluster.as_str(),
        object: Some(object),
    }));
    let template_value = serde_json::to_value(&template).unwrap_or(Value::Null);
    let now = format!("{:.0}", k8s_openapi::jiff::Timestamp::now());
    if let Some(status) = aggregate::aggregate(kind.aggregate, &template_value, &copies, &now) {
        let unchanged = {
            let mut old = template_value.get("status").cloned().unwrap_or(Value::Null);
            let mut new = status.clone();
            // Times alone do not make a change.
            for v in [&mut old, &mut new] {
                strip_times(v);
            }
            old == new
        };
        if !unchanged {
            templates
                .patch_status(
                    &resource.name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": status})),
                )
                .await
                .map_err(api_error("writing the status of template", &resource.name))?;
        }
    }
    // A soak or a progress deadline ends with no event: come back then.
    if let Some(left) = wake_in {
        return Ok(Action::requeue(left + Duration::from_millis(100)));
    }
    Ok(if retry {
        Action::requeue(Duration::from_secs(2))
    } else {
        Action::requeue(Duration::from_secs(300))
    })
}

fn strip_times(v: &mut Value) {
    if let Some(list) = v.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in list {
            if let Some(c) = c.as_object_mut() {
                c.remove("lastTransitionTime");
                c.remove("lastUpdateTime");
            }
        }
    }
}

async fn write_status(
    bindings: &Api<ResourceBinding>,
    binding: &ResourceBinding,
    statuses: Vec<MemberStatus>,
    rollout: Option<federation_proto::binding::RolloutStatus>,
) -> Result<(), Error> {
    let old = expanded_status(binding);
    let applied = statuses
        .iter()
        .filter(|s| s.applied && s.health.as_deref() != Some("Unknown"))
        .count();
    let total = binding.spec.clusters.len();
    let failing: Vec<String> = statuses
        .iter()
        .filter(|s| !s.applied || s.health.as_deref() == Some("Unknown"))
        .map(|s| {
            format!(
                "{}: {}",
                s.cluster_name,
                s.applied_message.clone().unwrap_or_default()
            )
        })
        .collect();
    let (status, reason, message) = if failing.is_empty() && applied >= total {
        (
            "True",
            "FullyApplied",
            format!("applied to {total} clusters"),
        )
    } else {
        ("False", "NotFullyApplied", failing.join("; "))
    };
    let previous = old.conditions.iter().find(|c| c.type_ == "FullyApplied");
    let transition = match previous {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(k8s_openapi::jiff::Timestamp::now()),
    };
    let mut conditions: Vec<Condition> = old
        .conditions
        .iter()
        .filter(|c| c.type_ != "FullyApplied")
        .cloned()
        .collect();
    conditions.push(Condition {
        type_: "FullyApplied".into(),
        status: status.into(),
        reason: reason.into(),
        message,
        last_transition_time: transition,
        observed_generation: binding.metadata.generation,
    });
    let same_conditions = {
        let strip = |list: &[Condition]| -> Vec<(String, String, String, String)> {
            list.iter()
                .map(|c| {
                    (
                        c.type_.clone(),
                        c.status.clone(),
                        c.reason.clone(),
                        c.message.clone(),
                    )
                })
                .collect()
        };
        strip(&conditions) == strip(&old.conditions)
    };
    if same_conditions && statuses == old.aggregated_status && rollout == old.rollout {
        return Ok(());
    }
    let name = binding.name_any();
    let patch = json!({"status": {"conditions": conditions, "aggregatedStatus": statuses,
        "rollout": rollout}});
    bindings
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(api_error("writing the status of binding", &name))?;
    Ok(())
}

/// How the binding cache keeps each cluster's status summary: as its JSON
/// text (a parsed `Value` tree takes several times the memory).
///
/// # Caveats
/// A cached binding's `aggregatedStatus[].status` is a JSON string; read it
/// through [`expanded_status`].
fn compact_cached(binding: &mut ResourceBinding) {
    for s in binding
        .status
        .iter_mut()
        .flat_map(|st| st.aggregated_status.iter_mut())
    {
        if let Some(v) = s.status.take() {
            s.status = Some(match v {
                Value::String(text) => Value::String(text),
                v => Value::String(v.to_string()),
            });
        }
    }
}

/// The status of a (cached) binding with every summary parsed again.
fn expanded_status(binding: &ResourceBinding) -> federation_proto::binding::ResourceBindingStatus {
    let mut status = binding.status.clone().unwrap_or_default();
    for s in &mut status.aggregated_status {
        if let Some(Value::String(text)) = &s.status {
            s.status = serde_json::from_str(text).ok();
        }
    }
    status
}

pub fn error_policy(binding: Arc<ResourceBinding>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(binding = %binding.name_any(), %error, "sync failed");
    Action::requeue(Duration::from_secs(2))
}

/// What of a binding the sync acts on: its spec (generation) and whether
/// it is being deleted — not the status or the finalizer it writes itself.
fn sync_inputs(binding: &ResourceBinding) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    binding.metadata.generation.hash(&mut hasher);
    binding
        .metadata
        .deletion_timestamp
        .is_some()
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// Runs the sync controller until `stop` turns true.
///
/// `bindings` fills the binding store the scheduler reads too.
pub async fn run(
    client: Client,
    caches: crate::caches::Caches,
    bindings: kube::runtime::reflector::store::Writer<ResourceBinding>,
    mut stop: watch::Receiver<bool>,
) {
    use crate::caches::Change;
    use kube::runtime::WatchStreamExt;
    let (members, triggers) = Members::new(client.clone());
    // Templates: their propagated content (spec, labels, annotations)
    // triggers their binding; metadata is enough to tell.
    let mut template_changes = Vec::new();
    for kind in kinds::KINDS {
        let api: Api<kube::api::PartialObjectMeta<DynamicObject>> =
            Api::all_with(client.clone(), &kind.api_resource());
        let changes = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .predicate_filter(
                crate::scheduler::controller::placement_inputs,
                Default::default(),
            )
            .map(move |t| t.map(|t| (kind, t)));
        template_changes.push(changes.boxed());
    }
    let ctx = Arc::new(Context {
        client: client.clone(),
        members,
        clusters: caches.clusters.clone(),
        overrides: caches.overrides.clone(),
        soak: rollout::Soak::default(),
        updating: rollout::Soak::default(),
    });
    let store = bindings.as_reader();
    let binding_changes = watcher(
        Api::<ResourceBinding>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    // Neither controller reads these from the cache (the scheduler
    // compares the decisions' hash annotation instead).
    .modify(|b| {
        b.managed_fields_mut().clear();
        b.spec.decisions = Vec::new();
        compact_cached(b);
    })
    .reflect(bindings)
    .applied_objects()
    .predicate_filter(sync_inputs, Default::default());
    let controller = Controller::for_stream(binding_changes, store.clone()).with_config(
        kube::runtime::controller::Config::default()
            .concurrency(SYNC_CONCURRENCY)
            // A burst of member events (a rollout) becomes one reconcile.
            .debounce(Duration::from_millis(100)),
    );
    let all_bindings = move || {
        store
            .state()
            .iter()
            .map(|b| kube::runtime::reflector::ObjectRef::from_obj(b.as_ref()))
            .collect::<Vec<_>>()
    };
    let readiness: Arc<std::sync::Mutex<BTreeMap<String, (bool, bool)>>> = Arc::default();
    let on_cluster = {
        let all = all_bindings.clone();
        move |change: Change<Cluster>| {
            let Change::Object(cluster) = change else {
                return all();
            };
            // Readiness and drain decide what the sync does with a cluster.
            let ready = (cluster.is_ready(), cluster.is_draining());
            let changed = readiness
                .lock()
                .map(|mut seen| seen.insert(cluster.name_any(), ready) != Some(ready))
                .unwrap_or(true);
            if changed {
                all()
            } else {
                Vec::new()
            }
        }
    };
    let template_triggers = futures::stream::select_all(template_changes).filter_map(|event| {
        std::future::ready(event.ok().map(
            |(kind, t): (&'static Kind, kube::api::PartialObjectMeta<DynamicObject>)| {
                use crate::scheduler::controller::{binding_name, binding_namespace};
                let binding = binding_name(&t.name_any(), kind);
                let namespace = t.namespace().unwrap_or_default();
                kube::runtime::reflector::ObjectRef::new(&binding)
                    .within(binding_namespace(&namespace, kind))
            },
        ))
    });
    let member_triggers = UnboundedReceiverStream::new(crate::members::coalesce(
        triggers,
        crate::members::TRIGGER_WINDOW,
    ));
    // Cluster and override changes come from the caches' own streams, so a
    // reconcile reads the change that triggered it.
    let cluster_triggers = caches
        .cluster_changes
        .subscribe()
        .flat_map(move |c| futures::stream::iter(on_cluster(c)));
    let override_triggers = caches
        .override_changes
        .subscribe()
        .flat_map(move |_| futures::stream::iter(all_bindings()));
    controller
        .reconcile_on(futures::stream::select_all([
            template_triggers.boxed(),
            member_triggers.boxed(),
            cluster_triggers.boxed(),
            override_triggers.boxed(),
        ]))
        .graceful_shutdown_on(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| std::future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use federation_proto::binding::{ObjectReference, ResourceBindingSpec, ResourceBindingStatus};

    #[test]
    fn cached_summaries_are_text_and_read_back_the_same() {
        let summary = summary(&json!({"replicas": 2, "readyReplicas": 1, "ignored": "x",
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                "message": "long text", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}));
        assert!(summary.get("ignored").is_none());
        assert!(summary["conditions"][0].get("message").is_none());
        let mut binding = ResourceBinding::new(
            "web-deployment",
            ResourceBindingSpec {
                resource: ObjectReference {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    namespace: Some("shop".into()),
                    name: "web".into(),
                    uid: None,
                    resource_version: None,
                },
                replicas: 2,
                clusters: Vec::new(),
                policy: None,
                decisions: Vec::new(),
                conflict_resolution: None,
                purge_mode: None,
                rollout: None,
            },
        );
        binding.status = Some(ResourceBindingStatus {
            aggregated_status: vec![member_status(
                "m1",
                true,
                None,
                Some(&json!({"status": summary})),
            )],
            ..Default::default()
        });
        let original = binding.status.clone().expect("status");
        compact_cached(&mut binding);
        let cached = &binding.status.as_ref().expect("status").aggregated_status[0];
        assert!(
            matches!(cached.status, Some(Value::String(_))),
            "{cached:?}"
        );
        compact_cached(&mut binding);
        assert_eq!(expanded_status(&binding), original);
    }
}
