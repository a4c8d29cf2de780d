//! The scheduler controller: for each template of a propagated kind, the
//! policy that places it, and the ResourceBinding that says where.
//!
//! # Guarantees
//! - Level-triggered: every reconcile recomputes the placement from the
//!   template, the winning policy, the Clusters and the binding's current
//!   assignment (kept, so nothing running moves unless it must).
//! - A template without a matching policy has no binding (its member
//!   copies go with the binding); a template being deleted keeps its
//!   finalizer until its binding — and so its copies — are gone.
//! - Cluster events trigger rescheduling only when something scheduling
//!   reads changed (readiness, taints, cordon, labels, placement fields),
//!   not on every probe's status write.
//! - Asking for a fresh placement: set the annotation
//!   `flotilla.io/reschedule` on the template to a new value.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use federation_proto::binding::{ObjectReference, ResourceBindingSpec, ResourceBindingStatus};
use federation_proto::{Cluster, ClusterPropagationPolicy, PropagationPolicy, ResourceBinding};
use futures::{FutureExt, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::watch;

use super::filters::ClusterView;
use super::placement::{self, Request};
use super::policy_match::{self, TemplateRef};
use crate::kinds::{Kind, SYSTEM_NAMESPACES};

/// The finalizer that keeps a placed template until its copies are gone.
pub const TEMPLATE_FINALIZER: &str = "flotilla.io/propagation";
/// Annotation asking for a fresh placement (any new value).
pub const RESCHEDULE_ANNOTATION: &str = "flotilla.io/reschedule";
/// Annotation on the binding: the reschedule value last honoured.
pub const RESCHEDULED_ANNOTATION: &str = "flotilla.io/rescheduled";
/// Annotation on bindings: a hash of `spec.decisions`, which the shared
/// binding cache does not keep (a tenth of a binding per member cluster).
pub const DECISIONS_HASH_ANNOTATION: &str = "flotilla.io/decisions-hash";
/// Label on bindings: the template's kind (lowercase).
pub const KIND_LABEL: &str = "flotilla.io/kind";

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

/// What every scheduler reconcile shares.
pub struct Context {
    pub client: Client,
    pub kind: &'static Kind,
    pub clusters: Store<Cluster>,
    pub policies: Store<PropagationPolicy>,
    pub cluster_policies: Store<ClusterPropagationPolicy>,
    /// The sync controller's view of the bindings (read instead of asking
    /// the server; a stale one makes the write fail with a conflict, and
    /// the reconcile is retried).
    pub bindings: Store<ResourceBinding>,
}

/// The binding of a template: `NAME-KIND`.
pub fn binding_name(template: &str, kind: &Kind) -> String {
    federation_proto::binding::binding_name(template, kind.kind)
}

/// A stable hash of a binding's decisions (see [`DECISIONS_HASH_ANNOTATION`]).
pub fn decisions_hash(decisions: &[federation_proto::binding::ClusterDecision]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(decisions)
        .unwrap_or_default()
        .hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Where the binding of a template lives: the template's namespace, or
/// `flotilla-system` for a cluster-scoped template (whose objects the
/// scheduler never places, so the names cannot collide).
pub fn binding_namespace<'a>(template_namespace: &'a str, kind: &Kind) -> &'a str {
    if kind.namespaced {
        template_namespace
    } else {
        federation_proto::SYSTEM_NAMESPACE
    }
}

/// What the scheduler reads of a Cluster.
pub fn view(cluster: &Cluster) -> ClusterView {
    let status = cluster.status.clone().unwrap_or_default();
    let ready_condition = cluster.ready_condition();
    let ready = cluster.is_ready();
    let not_ready_for = match ready_condition {
        Some(c) if !ready => {
            let since = c.last_transition_time.0;
            let now = k8s_openapi::jiff::Timestamp::now();
            Some(Duration::from_millis(
                now.duration_since(since).as_millis().max(0) as u64,
            ))
        }
        // Never probed yet: not Ready, just now.
        None => Some(Duration::ZERO),
        _ => None,
    };
    ClusterView {
        name: cluster.name_any(),
        labels: cluster.labels().clone(),
        region: cluster.spec.region.clone(),
        zone: cluster.spec.zone.clone(),
        provider: cluster.spec.provider.clone(),
        ready,
        not_ready_for,
        unschedulable: cluster.spec.unschedulable,
        draining: cluster.is_draining(),
        taints: cluster.spec.taints.clone(),
        available_pods: status.resource_summary.map(|s| s.available_pods),
        latency_ms: status.latency.map(|l| l.p50_ms),
        cost_per_replica_hour: cluster.spec.cost.as_ref().map(|c| c.per_replica_hour),
    }
}

/// The fields of a Cluster scheduling depends on (readiness, taints,
/// cordon, labels, placement fields), as one comparable value.
fn fingerprint(cluster: &Cluster) -> String {
    json!([
        cluster.is_ready(),
        cluster.spec.taints,
        cluster.spec.unschedulable,
        cluster.is_draining(),
        cluster.labels(),
        cluster.spec.region,
        cluster.spec.zone,
        cluster.spec.provider,
        cluster.spec.cost,
    ])
    .to_string()
}

/// What of a template placement depends on: its generation (spec), labels
/// and annotations (policy selectors, the reschedule request), and whether
/// it is being deleted.
pub fn placement_inputs<K: kube::Resource>(template: &K) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    template.meta().generation.hash(&mut hasher);
    template.labels().hash(&mut hasher);
    template.annotations().hash(&mut hasher);
    template
        .meta()
        .deletion_timestamp
        .is_some()
        .hash(&mut hasher);
    Some(hasher.finish())
}

fn replicas_of(template: &DynamicObject) -> u32 {
    template
        .data
        .pointer("/spec/replicas")
        .and_then(|v| v.as_i64())
        .unwrap_or(1)
        .clamp(0, i64::from(u32::MAX)) as u32
}

async fn set_finalizer(
    api: &Api<DynamicObject>,
    template: &DynamicObject,
    present: bool,
) -> Result<(), Error> {
    let name = template.name_any();
    let mut finalizers = template.finalizers().to_vec();
    let has = finalizers.iter().any(|f| f == TEMPLATE_FINALIZER);
    if has == present {
        return Ok(());
    }
    if present {
        finalizers.push(TEMPLATE_FINALIZER.to_string());
    } else {
        finalizers.retain(|f| f != TEMPLATE_FINALIZER);
    }
    let patch = json!({"metadata": {"finalizers": finalizers,
        "resourceVersion": template.resource_version()}});
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        // Gone already, or changed meanwhile: the next event retries.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(api_error("updating the finalizers of", &name)(e)),
    }
}

/// Places one template.
pub async fn reconcile(meta: Arc<Meta>, ctx: Arc<Context>) -> Result<Action, Error> {
    let kind = ctx.kind;
    let namespace = meta.namespace().unwrap_or_default();
    let name = meta.name_any();
    let system = if kind.namespaced {
        SYSTEM_NAMESPACES.contains(&namespace.as_str())
    } else {
        kind.kind == "Namespace"
            && (SYSTEM_NAMESPACES.contains(&name.as_str()) || name == "default")
    };
    if system {
        return Ok(Action::await_change());
    }
    let templates = kind.api(ctx.client.clone(), &namespace);
    // The cache holds metadata only: read the whole template.
    let Some(template) = templates
        .get_opt(&name)
        .await
        .map_err(api_error("reading template", &name))?
    else {
        return Ok(Action::await_change());
    };
    let bindings: Api<ResourceBinding> =
        Api::namespaced(ctx.client.clone(), binding_namespace(&namespace, kind));
    let binding_name = binding_name(&name, kind);
    let current = match ctx.bindings.wait_until_ready().now_or_never() {
        Some(Ok(())) => ctx
            .bindings
            .get(&ObjectRef::new(&binding_name).within(binding_namespace(&namespace, kind)))
            .map(|b| ResourceBinding::clone(&b)),
        _ => bindings
            .get_opt(&binding_name)
            .await
            .map_err(api_error("reading binding", &binding_name))?,
    };

    let deleting = template.metadata.deletion_timestamp.is_some();
    let labels = template.labels().clone();
    let reference = TemplateRef {
        api_version: &kind.api_version(),
        kind: kind.kind,
        namespace: &namespace,
        name: &name,
        labels: &labels,
    };
    let policies: Vec<_> = ctx.policies.state();
    let cluster_policies: Vec<_> = ctx.cluster_policies.state();
    let matched = if deleting {
        None
    } else {
        policy_match::matching(&reference, &policies, &cluster_policies)
    };
    let Some(policy) = matched else {
        // Not (or no longer) placed: the binding goes, then the finalizer.
        // The cache may lag behind a binding just created: ask the server
        // before letting the template go.
        let current = match current {
            Some(b) => Some(b),
            None if template
                .finalizers()
                .iter()
                .any(|f| f == TEMPLATE_FINALIZER) =>
            {
                bindings
                    .get_opt(&binding_name)
                    .await
                    .map_err(api_error("reading binding", &binding_name))?
            }
            None => None,
        };
        if let Some(binding) = &current {
            if binding.metadata.deletion_timestamp.is_none() {
                bindings
                    .delete(&binding_name, &DeleteParams::default())
                    .await
                    .map_err(api_error("deleting binding", &binding_name))?;
            }
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        set_finalizer(&templates, &template, false).await?;
        return Ok(Action::await_change());
    };
    set_finalizer(&templates, &template, true).await?;

    let views: Vec<ClusterView> = ctx.clusters.state().iter().map(|c| view(c)).collect();
    let default_placement = Default::default();
    let placement = policy.spec.placement.as_ref().unwrap_or(&default_placement);
    let previous = current
        .as_ref()
        .map(|b| b.spec.clusters.clone())
        .unwrap_or_default();
    let asked = template.annotations().get(RESCHEDULE_ANNOTATION).cloned();
    let honoured = current
        .as_ref()
        .and_then(|b| b.annotations().get(RESCHEDULED_ANNOTATION).cloned());
    let fresh = asked.is_some() && asked != honoured;
    let request = Request {
        placement,
        failover: policy.spec.failover.as_ref(),
        replicas: kind.divisible.then(|| replicas_of(&template)),
        previous: &previous,
        fresh,
    };
    let outcome = placement::schedule(&request, &views);
    let (clusters, decisions, condition) = match &outcome {
        Ok(s) => (
            s.clusters.clone(),
            s.decisions.clone(),
            (
                "True",
                "Scheduled",
                format!("placed on {} clusters", s.clusters.len()),
            ),
        ),
        Err(u) => (
            previous.clone(),
            u.decisions.clone(),
            ("False", "Unschedulable", u.reason.clone()),
        ),
    };
    let spec = ResourceBindingSpec {
        resource: ObjectReference {
            api_version: kind.api_version(),
            kind: kind.kind.to_string(),
            namespace: kind.namespaced.then(|| namespace.clone()),
            name: name.clone(),
            uid: template.uid(),
            resource_version: None,
        },
        replicas: request.replicas.map_or(0, |r| r as i32),
        clusters,
        policy: Some(policy.reference.clone()),
        decisions,
        conflict_resolution: policy.spec.conflict_resolution,
        purge_mode: policy
            .spec
            .failover
            .as_ref()
            .and_then(|f| f.purge_mode.clone()),
        rollout: policy.spec.rollout.clone(),
    };
    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    annotations.insert(
        DECISIONS_HASH_ANNOTATION.to_string(),
        decisions_hash(&spec.decisions),
    );
    if let Some(value) = &asked {
        if fresh || honoured.as_ref() == Some(value) {
            annotations.insert(RESCHEDULED_ANNOTATION.to_string(), value.clone());
        }
    }
    let written = match current {
        Some(mut binding) => {
            let same_annotations = annotations
                .iter()
                .all(|(k, v)| binding.annotations().get(k) == Some(v));
            // The cached binding has no decisions: their hash stands in.
            let same_spec = ResourceBindingSpec {
                decisions: Vec::new(),
                ..spec.clone()
            } == ResourceBindingSpec {
                decisions: Vec::new(),
                ..binding.spec.clone()
            };
            if !same_spec || !same_annotations {
                binding.spec = spec;
                binding.annotations_mut().extend(annotations);
                match bindings
                    .replace(&binding_name, &PostParams::default(), &binding)
                    .await
                {
                    Ok(b) => b,
                    // The cached binding was stale: again, once it caught up.
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        return Ok(Action::requeue(Duration::from_millis(200)))
                    }
                    Err(e) => return Err(api_error("updating binding", &binding_name)(e)),
                }
            } else {
                binding
            }
        }
        None => {
            let mut binding = ResourceBinding::new(&binding_name, spec);
            binding.metadata.namespace = Some(binding_namespace(&namespace, kind).to_string());
            // The sync's finalizer from the start (saves it a write).
            binding.metadata.finalizers = Some(vec![crate::sync::BINDING_FINALIZER.to_string()]);
            binding.metadata.annotations = Some(annotations);
            binding.metadata.labels =
                Some([(KIND_LABEL.to_string(), kind.kind.to_ascii_lowercase())].into());
            match bindings.create(&PostParams::default(), &binding).await {
                Ok(b) => b,
                // Created moments ago, not in the cache yet.
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    return Ok(Action::requeue(Duration::from_millis(200)))
                }
                Err(e) => return Err(api_error("creating binding", &binding_name)(e)),
            }
        }
    };
    set_scheduled(&bindings, &written, condition).await?;
    // Failover has to happen on time: come back when a kept, not-Ready
    // cluster's toleration runs out.
    let toleration = policy
        .spec
        .failover
        .as_ref()
        .and_then(|f| f.toleration_seconds)
        .map_or(placement::DEFAULT_TOLERATION, |s| {
            Duration::from_secs(s.max(0) as u64)
        });
    let next_failover = views
        .iter()
        .filter(|v| written.spec.clusters.iter().any(|t| t.name == v.name))
        .filter_map(|v| v.not_ready_for)
        .filter(|d| *d < toleration)
        .map(|d| toleration - d + Duration::from_millis(200))
        .min();
    Ok(match (outcome.is_err(), next_failover) {
        (true, _) => Action::requeue(Duration::from_secs(15)),
        (false, Some(at)) => Action::requeue(at),
        (false, None) => Action::requeue(Duration::from_secs(300)),
    })
}

async fn set_scheduled(
    bindings: &Api<ResourceBinding>,
    binding: &ResourceBinding,
    (status, reason, message): (&str, &str, String),
) -> Result<(), Error> {
    let old = binding.status.clone().unwrap_or_default();
    let previous = old.conditions.iter().find(|c| c.type_ == "Scheduled");
    if previous.is_some_and(|c| c.status == status && c.reason == reason && c.message == message)
        && old.scheduler_observed_generation == binding.metadata.generation
    {
        return Ok(());
    }
    let transition = match previous {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(k8s_openapi::jiff::Timestamp::now()),
    };
    let mut conditions: Vec<Condition> = old
        .conditions
        .into_iter()
        .filter(|c| c.type_ != "Scheduled")
        .collect();
    conditions.insert(
        0,
        Condition {
            type_: "Scheduled".into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_transition_time: transition,
            observed_generation: binding.metadata.generation,
        },
    );
    let status = ResourceBindingStatus {
        conditions,
        scheduler_observed_generation: binding.metadata.generation,
        ..Default::default()
    };
    let patch = json!({"status": {"conditions": status.conditions,
        "schedulerObservedGeneration": status.scheduler_observed_generation}});
    let name = binding.name_any();
    bindings
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(api_error("writing the status of binding", &name))?;
    Ok(())
}

/// What the scheduler caches of a template.
pub type Meta = kube::api::PartialObjectMeta<DynamicObject>;

pub fn error_policy(template: Arc<Meta>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(template = %template.name_any(), %error, "scheduling failed");
    Action::requeue(Duration::from_secs(2))
}

/// Runs the scheduler for one kind until `stop` turns true.
pub async fn run(
    client: Client,
    kind: &'static Kind,
    caches: crate::caches::Caches,
    bindings: Store<ResourceBinding>,
    mut stop: watch::Receiver<bool>,
) {
    use crate::caches::Change;
    let api: Api<Meta> = Api::all_with(client.clone(), &kind.api_resource());
    let writer = kube::runtime::reflector::store::Writer::<Meta>::new(kind.api_resource());
    let templates = writer.as_reader();
    // Only what placement reads triggers it, not the status the sync writes.
    let changes = watcher(api, watcher::Config::default())
        .default_backoff()
        // Nothing reads them; they are most of a template's metadata.
        .modify(|t| t.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects()
        .predicate_filter(placement_inputs, Default::default());
    let controller = Controller::for_stream_with(changes, templates.clone(), kind.api_resource())
        .with_config(kube::runtime::controller::Config::default().concurrency(16));
    let everything = {
        let templates = templates.clone();
        move || -> Vec<ObjectRef<Meta>> {
            templates
                .state()
                .iter()
                .map(|t| ObjectRef::from_obj_with(t.as_ref(), kind.api_resource()))
                .collect()
        }
    };
    let in_namespace = {
        let templates = templates.clone();
        move |ns: Option<String>| -> Vec<ObjectRef<Meta>> {
            templates
                .state()
                .iter()
                .filter(|t| ns.is_none() || t.namespace() == ns)
                .map(|t| ObjectRef::from_obj_with(t.as_ref(), kind.api_resource()))
                .collect()
        }
    };
    let seen: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let on_cluster = {
        let everything = everything.clone();
        move |change: Change<Cluster>| match change {
            Change::Object(cluster) => {
                let print = fingerprint(&cluster);
                let changed = seen
                    .lock()
                    .map(|mut seen| {
                        seen.insert(cluster.name_any(), print.clone()).as_ref() != Some(&print)
                    })
                    .unwrap_or(true);
                if changed {
                    everything()
                } else {
                    Vec::new()
                }
            }
            Change::Lagged => everything(),
        }
    };
    // Any change of a policy may add or remove templates of this kind
    // (including a selector that no longer names it).
    let on_policy = {
        let in_namespace = in_namespace.clone();
        move |change: Change<PropagationPolicy>| match change {
            Change::Object(p) => in_namespace(p.namespace()),
            Change::Lagged => in_namespace(None),
        }
    };
    let on_cluster_policy = {
        let in_namespace = in_namespace.clone();
        move |_: Change<ClusterPropagationPolicy>| in_namespace(None)
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        kind,
        clusters: caches.clusters.clone(),
        policies: caches.policies.clone(),
        cluster_policies: caches.cluster_policies.clone(),
        bindings,
    });
    // Triggered from the caches' own streams, so the reconcile reads the
    // change that triggered it.
    let triggers = futures::stream::select_all([
        caches
            .cluster_changes
            .subscribe()
            .flat_map(move |c| futures::stream::iter(on_cluster(c)))
            .boxed(),
        caches
            .policy_changes
            .subscribe()
            .flat_map(move |c| futures::stream::iter(on_policy(c)))
            .boxed(),
        caches
            .cluster_policy_changes
            .subscribe()
            .flat_map(move |c| futures::stream::iter(on_cluster_policy(c)))
            .boxed(),
    ]);
    controller
        .reconcile_on(triggers)
        .graceful_shutdown_on(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| std::future::ready(()))
        .await;
}
