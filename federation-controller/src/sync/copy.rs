//! One member cluster's copy of a template: applying it, removing it.

use std::sync::Arc;

use federation_proto::binding::MemberStatus;
use federation_proto::override_policy::Overriders;
use federation_proto::policy::ConflictResolution;
use federation_proto::OverridePolicy;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use super::status::{compact, member_status};
use super::{render, Context};
use crate::kinds::Kind;
use crate::members::MEMBER_TIMEOUT;
use crate::scheduler::filters;

/// What happened on one cluster.
pub(super) struct Outcome {
    pub(super) status: MemberStatus,
    /// The member's copy as last seen.
    pub(super) object: Option<Value>,
    /// Worth retrying soon (not Ready, unreachable, conflict).
    pub(super) retry: bool,
    /// The cluster could not be reached: what was last known of its copy
    /// (applied or not, its status) still holds.
    pub(super) unknown: bool,
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
pub(super) async fn sync_cluster(
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
    let Some(cluster) = ctx.cluster(cluster_name) else {
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
pub(super) async fn remove_copy(
    ctx: &Context,
    binding_key: &str,
    kind: &'static Kind,
    namespace: &str,
    name: &str,
    cluster_name: &str,
) -> bool {
    let Some(cluster) = ctx.cluster(cluster_name) else {
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
