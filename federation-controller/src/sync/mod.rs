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
mod copy;
pub mod overrides;
pub mod render;
pub mod rollout;
mod status;

use copy::{remove_copy, sync_cluster, Outcome};
pub use status::{compact, summary};
use status::{
    compact_cached, expanded_status, fully_available, member_status, strip_times, write_status,
};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use federation_proto::binding::MemberStatus;
use federation_proto::{Cluster, OverridePolicy, ResourceBinding};
use futures::StreamExt;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::kinds::{self, Kind};
use crate::members::Members;

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

pub(super) fn api_error<'a>(
    what: &'static str,
    name: &'a str,
) -> impl FnOnce(kube::Error) -> Error + 'a {
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
    /// The rollout gate's clocks and memory.
    pub rollouts: rollout::Tracker,
}

impl Context {
    /// A joined cluster by name (a lookup in the cache, no copy of it).
    pub(super) fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        self.clusters
            .get(&kube::runtime::reflector::ObjectRef::new(name))
    }

    /// Whether the cluster is joined and Ready.
    pub(super) fn is_ready(&self, name: &str) -> bool {
        self.cluster(name).is_some_and(|c| c.is_ready())
    }
}

/// The sooner of two optional waits.
pub(super) fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
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
            if ctx.is_ready(cluster)
                && !remove_copy(&ctx, &key, kind, &template_ns, &resource.name, cluster).await
            {
                left = true;
            }
        }
        if left {
            return Ok(Action::requeue(Duration::from_secs(2)));
        }
        // Only a binding with a rollout has a history (one that lost its
        // rollout block lost its history then).
        let had_rollout = binding.spec.rollout.is_some()
            || binding.status.as_ref().is_some_and(|s| s.rollout.is_some());
        if had_rollout {
            rollout::history::forget(&ctx.client, &namespace, &name)
                .await
                .map_err(api_error("deleting the revision history of binding", &name))?;
        }
        ctx.rollouts.forget(&key);
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
    // Rollout waves: which targets may get this revision now, and from
    // which revision the others render.
    let (waiting, last_good, from_last_good, wake_in, rollout_status) =
        match rollout::decide(&ctx, &binding, kind, &template).await? {
            rollout::Decision::Ungated => {
                // The policy dropped its rollout block: so goes the history
                // (the status write below then drops `status.rollout`).
                if binding.status.as_ref().is_some_and(|s| s.rollout.is_some()) {
                    rollout::history::forget(&ctx.client, &namespace, &name)
                        .await
                        .map_err(api_error("deleting the revision history of binding", &name))?;
                }
                (Default::default(), None, Default::default(), None, None)
            }
            rollout::Decision::Unknown => {
                // Not every copy is known yet: watch, and decide once they are.
                for target in &binding.spec.clusters {
                    if let Some(c) = ctx.cluster(&target.name) {
                        ctx.members.watch(&c, kind).await;
                    }
                }
                return Ok(Action::requeue(Duration::from_millis(500)));
            }
            rollout::Decision::Gate(gate) => (
                gate.waiting,
                gate.last_good,
                gate.from_last_good,
                gate.wake_in,
                Some(gate.status),
            ),
        };
    // Which revision a target renders from: the last good one (a rollback,
    // a new target of a held rollout), else the template.
    let source_for = |cluster: &str| -> &DynamicObject {
        match &last_good {
            Some(good) if from_last_good.contains(cluster) => good.as_ref(),
            _ => &template,
        }
    };
    let mut outcomes = futures::future::join_all(binding.spec.clusters.iter().map(|target| {
        let replicas = kind.divisible.then_some(target.replicas);
        let waits = waiting.contains(&target.name);
        let record = waits.then(|| record_on(&target.name)).flatten();
        let key = &key;
        let ctx = &ctx;
        let source = source_for(&target.name);
        let conflict = binding.spec.conflict_resolution;
        async move {
            match record {
                // Held, and its copy not in sight right now (a member watch
                // relisting, the cluster down): never the template.
                None if waits => Outcome {
                    status: member_status(
                        &target.name,
                        false,
                        Some("waiting for its rollout wave".into()),
                        None,
                    ),
                    object: None,
                    retry: true,
                    unknown: true,
                },
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
                    sync_cluster(ctx, key, source, kind, &target.name, replicas, conflict).await
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
        let state = ctx.cluster(cluster);
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
        let left = left + Duration::from_millis(100);
        // A retry comes first when it is sooner.
        let left = if retry {
            left.min(Duration::from_secs(2))
        } else {
            left
        };
        return Ok(Action::requeue(left));
    }
    Ok(if retry {
        Action::requeue(Duration::from_secs(2))
    } else {
        Action::requeue(Duration::from_secs(300))
    })
}

pub fn error_policy(binding: Arc<ResourceBinding>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(binding = %binding.name_any(), %error, "sync failed");
    Action::requeue(Duration::from_secs(2))
}

/// What of a binding the sync acts on: its spec (generation), whether its
/// rollout is paused and whether it is being deleted — not the status or
/// the finalizer it writes itself.
fn sync_inputs(binding: &ResourceBinding) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    binding.metadata.generation.hash(&mut hasher);
    binding
        .metadata
        .deletion_timestamp
        .is_some()
        .hash(&mut hasher);
    binding
        .annotations()
        .get(federation_proto::binding::ROLLOUT_PAUSED_ANNOTATION)
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
        rollouts: rollout::Tracker::default(),
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
