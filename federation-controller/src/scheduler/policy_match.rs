//! Which policy places a template: of the PropagationPolicies in its
//! namespace and the ClusterPropagationPolicies, the most specific match
//! wins — a selector naming the template beats a label selector, which
//! beats a selector of the whole kind — then the higher `priority`, then a
//! PropagationPolicy over a ClusterPropagationPolicy, then the name that
//! sorts first.

use std::collections::BTreeMap;

use federation_proto::policy::{PolicySpec, ResourceSelector};
use federation_proto::{ClusterPropagationPolicy, PropagationPolicy};
use kube::ResourceExt;

use super::filters::selector_matches;

/// A template as policies see it.
pub struct TemplateRef<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// The policy that won, as `Kind/namespace/name` (or `Kind/name`), and its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched {
    pub reference: String,
    pub spec: PolicySpec,
}

/// How specifically `selector` names `template` (`None`: it does not).
fn specificity(
    selector: &ResourceSelector,
    template: &TemplateRef,
    cluster_wide: bool,
) -> Option<u8> {
    if selector.api_version != template.api_version || selector.kind != template.kind {
        return None;
    }
    if cluster_wide {
        if let Some(ns) = &selector.namespace {
            if ns != template.namespace {
                return None;
            }
        }
    }
    if let Some(name) = &selector.name {
        return (name == template.name).then_some(2);
    }
    if let Some(labels) = &selector.label_selector {
        return selector_matches(labels, template.labels).then_some(1);
    }
    Some(0)
}

fn best(selectors: &[ResourceSelector], template: &TemplateRef, cluster_wide: bool) -> Option<u8> {
    selectors
        .iter()
        .filter_map(|s| specificity(s, template, cluster_wide))
        .max()
}

/// How a candidate ranks: specificity, priority, namespaced (1) or not,
/// and the name reversed (so the first name ranks highest).
type Rank = (u8, i32, u8, std::cmp::Reverse<String>);

/// The winning policy for `template`, if any matches.
pub fn matching(
    template: &TemplateRef,
    namespaced: &[std::sync::Arc<PropagationPolicy>],
    cluster_wide: &[std::sync::Arc<ClusterPropagationPolicy>],
) -> Option<Matched> {
    // (specificity, priority, namespaced?, reversed name order) — highest wins.
    let mut candidates: Vec<(Rank, Matched)> = Vec::new();
    for p in namespaced {
        if p.namespace().as_deref() != Some(template.namespace)
            || p.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        if let Some(s) = best(&p.spec.policy.resource_selectors, template, false) {
            let name = p.name_any();
            candidates.push((
                (
                    s,
                    p.spec.policy.priority.unwrap_or(0),
                    1,
                    std::cmp::Reverse(name.clone()),
                ),
                Matched {
                    reference: format!("PropagationPolicy/{}/{name}", template.namespace),
                    spec: p.spec.policy.clone(),
                },
            ));
        }
    }
    for p in cluster_wide {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(s) = best(&p.spec.policy.resource_selectors, template, true) {
            let name = p.name_any();
            candidates.push((
                (
                    s,
                    p.spec.policy.priority.unwrap_or(0),
                    0,
                    std::cmp::Reverse(name.clone()),
                ),
                Matched {
                    reference: format!("ClusterPropagationPolicy/{name}"),
                    spec: p.spec.policy.clone(),
                },
            ));
        }
    }
    candidates.sort_by(|a, b| b.0.cmp(&a.0));
    candidates.into_iter().next().map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use federation_proto::policy::{ClusterPropagationPolicySpec, PropagationPolicySpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::sync::Arc;

    fn selector(name: Option<&str>, labels: Option<(&str, &str)>) -> ResourceSelector {
        ResourceSelector {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: name.map(String::from),
            namespace: None,
            label_selector: labels.map(|(k, v)| LabelSelector {
                match_labels: Some([(k.to_string(), v.to_string())].into()),
                ..Default::default()
            }),
        }
    }

    fn pp(
        name: &str,
        ns: &str,
        sel: ResourceSelector,
        priority: Option<i32>,
    ) -> Arc<PropagationPolicy> {
        let mut p = PropagationPolicy::new(
            name,
            PropagationPolicySpec {
                policy: PolicySpec {
                    resource_selectors: vec![sel],
                    priority,
                    ..Default::default()
                },
            },
        );
        p.metadata.namespace = Some(ns.into());
        Arc::new(p)
    }

    fn cpp(name: &str, sel: ResourceSelector) -> Arc<ClusterPropagationPolicy> {
        Arc::new(ClusterPropagationPolicy::new(
            name,
            ClusterPropagationPolicySpec {
                policy: PolicySpec {
                    resource_selectors: vec![sel],
                    ..Default::default()
                },
            },
        ))
    }

    #[test]
    fn the_most_specific_policy_wins() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let t = TemplateRef {
            api_version: "apps/v1",
            kind: "Deployment",
            namespace: "demo",
            name: "web",
            labels: &labels,
        };
        let by_kind = pp("a-kind", "demo", selector(None, None), Some(100));
        let by_label = pp(
            "b-label",
            "demo",
            selector(None, Some(("app", "web"))),
            None,
        );
        let by_name = pp("c-name", "demo", selector(Some("web"), None), None);
        let elsewhere = pp("d-other-ns", "prod", selector(Some("web"), None), None);
        let cluster_wide = cpp("e-cpp", selector(Some("web"), None));
        let all = [
            by_kind.clone(),
            by_label.clone(),
            by_name,
            elsewhere.clone(),
        ];
        let won = matching(&t, &all, std::slice::from_ref(&cluster_wide)).expect("match");
        assert_eq!(
            won.reference, "PropagationPolicy/demo/c-name",
            "name beats labels and priority"
        );
        let won = matching(&t, &[by_kind.clone(), by_label], &[]).expect("match");
        assert_eq!(won.reference, "PropagationPolicy/demo/b-label");
        let won = matching(
            &t,
            &[by_kind.clone(), elsewhere.clone()],
            std::slice::from_ref(&cluster_wide),
        )
        .expect("match");
        assert_eq!(
            won.reference, "ClusterPropagationPolicy/e-cpp",
            "a named CPP beats a kind-wide PP"
        );
        assert_eq!(
            matching(&t, &[elsewhere], &[]),
            None,
            "other namespaces do not count"
        );
        let other = TemplateRef { name: "api", ..t };
        assert_eq!(matching(&other, &[], &[cluster_wide]), None);
        // Same specificity: priority, then name.
        let high = pp("z-high", "demo", selector(None, None), Some(5));
        let won = matching(&t, &[by_kind, high], &[]).expect("match");
        assert_eq!(
            won.reference, "PropagationPolicy/demo/a-kind",
            "priority 100 beats 5"
        );
    }
}
