//! Revision history: the last good revisions of each template, kept as
//! `apps/v1` ControllerRevisions next to its binding (the object Kubernetes
//! itself keeps StatefulSet and DaemonSet history in).
//!
//! A revision is recorded when a rollout of it completes on every target.
//! Each holds what a member copy is rendered from: the template without
//! its status and server-set metadata, with its generation (so a copy
//! rendered from it says which revision it runs). Rollbacks render from
//! it; `kubectl fed rollout undo` writes it back into the template.
//!
//! Named `<binding>-<revision>`, labelled [`REVISION_BINDING_LABEL`]; the
//! newest [`HISTORY_LIMIT`] are kept, and all go with the binding.

use federation_proto::binding::{
    revision_label_value, revision_name, revision_selector, REVISION_BINDING_LABEL,
};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{DeleteParams, DynamicObject, ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use serde_json::{json, Value};

use crate::sync::render;

/// Good revisions kept per template.
pub const HISTORY_LIMIT: usize = 3;

/// What of a template a revision keeps: everything a copy is rendered
/// from.
pub fn snapshot(template: &Value) -> Value {
    let meta = &template["metadata"];
    let mut kept = json!({
        "name": meta["name"],
        "generation": meta["generation"],
    });
    for field in ["namespace", "labels", "annotations"] {
        if let Some(v) = meta.get(field).filter(|v| !v.is_null()) {
            kept[field] = v.clone();
        }
    }
    let mut out = json!({"metadata": kept});
    if let Value::Object(map) = template {
        for (k, v) in map {
            if !matches!(k.as_str(), "metadata" | "status") {
                out[k] = v.clone();
            }
        }
    }
    out
}

fn selector(binding_name: &str) -> ListParams {
    ListParams::default().labels(&revision_selector(binding_name))
}

/// Records `template` as a good revision of the binding `namespace/name`
/// and drops revisions beyond [`HISTORY_LIMIT`].
pub async fn record(
    client: &Client,
    namespace: &str,
    binding_name: &str,
    template: &Value,
) -> Result<(), kube::Error> {
    let revision = template["metadata"]["generation"].as_i64().unwrap_or(0);
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
    let object = ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(binding_name, revision)),
            namespace: Some(namespace.to_string()),
            labels: Some(
                [
                    (
                        render::MANAGED_BY_LABEL.to_string(),
                        render::MANAGED_BY.to_string(),
                    ),
                    (
                        REVISION_BINDING_LABEL.to_string(),
                        revision_label_value(binding_name),
                    ),
                ]
                .into(),
            ),
            annotations: Some(
                [(
                    render::BINDING_ANNOTATION.to_string(),
                    format!("{namespace}/{binding_name}"),
                )]
                .into(),
            ),
            ..Default::default()
        },
        data: Some(RawExtension(snapshot(template))),
        revision,
    };
    let name = revision_name(binding_name, revision);
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => {}
        // Recorded already (a controller restart, a retried status write) —
        // or left by an earlier workload of the same name: made right.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api.get(&name).await?;
            if existing.data != object.data {
                let mut replacement = object.clone();
                replacement.metadata.resource_version = existing.metadata.resource_version;
                api.replace(&name, &PostParams::default(), &replacement)
                    .await?;
            }
        }
        Err(e) => return Err(e),
    }
    let mut kept = api.list(&selector(binding_name)).await?.items;
    // The one just recorded is the last good revision: never pruned.
    kept.retain(|r| r.revision != revision);
    kept.sort_by_key(|r| std::cmp::Reverse(r.revision));
    for old in kept.iter().skip(HISTORY_LIMIT - 1) {
        if let Some(name) = &old.metadata.name {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Revision `revision` of the binding's template, as a template to render
/// from (`None`: not kept).
pub async fn load(
    client: &Client,
    namespace: &str,
    binding_name: &str,
    revision: i64,
) -> Result<Option<DynamicObject>, kube::Error> {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
    let Some(kept) = api.get_opt(&revision_name(binding_name, revision)).await? else {
        return Ok(None);
    };
    let Some(RawExtension(data)) = kept.data else {
        return Ok(None);
    };
    serde_json::from_value(data)
        .map(Some)
        .map_err(kube::Error::SerdeError)
}

/// Deletes every revision of a binding (it is being deleted).
pub async fn forget(
    client: &Client,
    namespace: &str,
    binding_name: &str,
) -> Result<(), kube::Error> {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
    match api
        .delete_collection(&DeleteParams::default(), &selector(binding_name))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_keeps_what_copies_are_rendered_from() {
        let template = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "generation": 4,
                "labels": {"app": "web"}, "annotations": {"team": "a"},
                "uid": "u", "resourceVersion": "9", "managedFields": [{}],
                "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"replicas": 3},
            "status": {"readyReplicas": 3},
        });
        let kept = snapshot(&template);
        assert_eq!(
            kept,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop", "generation": 4,
                    "labels": {"app": "web"}, "annotations": {"team": "a"}},
                "spec": {"replicas": 3},
            })
        );
        // What a copy renders from the snapshot is what it renders from
        // the template.
        assert_eq!(
            render::render(&kept, "shop/web-deployment", Some(1), &[]).expect("render"),
            render::render(&template, "shop/web-deployment", Some(1), &[]).expect("render")
        );
    }
}
