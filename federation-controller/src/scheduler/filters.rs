//! Which clusters a policy allows: affinity (names, labels, fields,
//! exclusions), taints against tolerations, readiness, cordon, and the
//! grouping spread constraints work on.

use std::collections::BTreeMap;
use std::time::Duration;

use federation_proto::policy::{ClusterAffinity, ClusterTarget, FieldRequirement};
use k8s_openapi::api::core::v1::{Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// What the scheduler knows of one cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub region: Option<String>,
    pub zone: Option<String>,
    pub provider: Option<String>,
    pub ready: bool,
    /// How long it has not been Ready (`None` while Ready).
    pub not_ready_for: Option<Duration>,
    pub unschedulable: bool,
    /// Being drained: holds nothing, not even what it ran.
    pub draining: bool,
    pub taints: Vec<Taint>,
    /// Free pods, when the cluster reports capacity.
    pub available_pods: Option<i64>,
    /// Median probe round trip.
    pub latency_ms: Option<f64>,
    pub cost_per_replica_hour: Option<f64>,
}

impl ClusterView {
    /// The value a spread constraint or field requirement groups by.
    pub fn field(&self, field: &str) -> Option<&str> {
        match field {
            "region" => self.region.as_deref(),
            "zone" => self.zone.as_deref(),
            "provider" => self.provider.as_deref(),
            "cluster" => Some(self.name.as_str()),
            _ => None,
        }
    }
}

/// Whether `labels` satisfy a Kubernetes label selector.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let equal = selector
        .match_labels
        .as_ref()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let expressions = selector.match_expressions.as_ref().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let values = e.values.clone().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
    });
    equal && expressions
}

fn field_matches(requirement: &FieldRequirement, cluster: &ClusterView) -> bool {
    let value = cluster.field(&requirement.key);
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| requirement.values.iter().any(|r| r == v)),
        "NotIn" => value.is_none_or(|v| !requirement.values.iter().any(|r| r == v)),
        _ => false,
    }
}

/// Why affinity rules out `cluster`, if they do.
pub fn affinity_rejects(affinity: &ClusterAffinity, cluster: &ClusterView) -> Option<String> {
    if affinity.exclude.iter().any(|n| n == &cluster.name) {
        return Some("excluded by clusterAffinity.exclude".into());
    }
    if !affinity.cluster_names.is_empty() && !affinity.cluster_names.contains(&cluster.name) {
        return Some("not in clusterAffinity.clusterNames".into());
    }
    if let Some(selector) = &affinity.label_selector {
        if !selector_matches(selector, &cluster.labels) {
            return Some("labels do not match clusterAffinity.labelSelector".into());
        }
    }
    for requirement in &affinity.field_selector {
        if !field_matches(requirement, cluster) {
            return Some(format!(
                "{} {:?} does not satisfy {} {:?}",
                requirement.key,
                cluster.field(&requirement.key).unwrap_or(""),
                requirement.operator,
                requirement.values
            ));
        }
    }
    None
}

/// Whether `target` (cluster names and/or labels) names `cluster`.
pub fn targets(target: &ClusterTarget, cluster: &ClusterView) -> bool {
    let by_name = target.cluster_names.is_empty() || target.cluster_names.contains(&cluster.name);
    let by_labels = target
        .label_selector
        .as_ref()
        .is_none_or(|s| selector_matches(s, &cluster.labels));
    by_name && by_labels && (!target.cluster_names.is_empty() || target.label_selector.is_some())
}

fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let key = toleration.key.as_deref().unwrap_or("");
    match toleration.operator.as_deref().unwrap_or("Equal") {
        // An empty key with Exists tolerates everything.
        "Exists" => key.is_empty() || key == taint.key,
        _ => {
            key == taint.key
                && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// The first NoSchedule/NoExecute taint no toleration tolerates.
pub fn untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn cluster(name: &str, region: &str) -> ClusterView {
        ClusterView {
            name: name.into(),
            labels: [("tier".to_string(), "gold".to_string())].into(),
            region: Some(region.into()),
            ready: true,
            ..Default::default()
        }
    }

    #[test]
    fn affinity_by_names_labels_fields_and_exclusion() {
        let c = cluster("m1", "eu-west");
        let none = ClusterAffinity::default();
        assert_eq!(affinity_rejects(&none, &c), None);
        let names = ClusterAffinity {
            cluster_names: vec!["m2".into()],
            ..Default::default()
        };
        assert!(affinity_rejects(&names, &c).is_some());
        let excluded = ClusterAffinity {
            exclude: vec!["m1".into()],
            ..Default::default()
        };
        assert!(affinity_rejects(&excluded, &c).is_some());
        let labels = ClusterAffinity {
            label_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["gold".into(), "silver".into()]),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(affinity_rejects(&labels, &c), None);
        let fields = ClusterAffinity {
            field_selector: vec![FieldRequirement {
                key: "region".into(),
                operator: "NotIn".into(),
                values: vec!["eu-west".into()],
            }],
            ..Default::default()
        };
        assert!(affinity_rejects(&fields, &c)
            .expect("rejected")
            .contains("region"));
    }

    #[test]
    fn taints_need_tolerations() {
        let taint = Taint {
            key: "gpu".into(),
            value: Some("yes".into()),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let soft = Taint {
            key: "soft".into(),
            effect: "PreferNoSchedule".into(),
            ..Default::default()
        };
        let taints = vec![soft, taint];
        assert_eq!(
            untolerated(&taints, &[]).map(|t| t.key.as_str()),
            Some("gpu")
        );
        let equal = Toleration {
            key: Some("gpu".into()),
            value: Some("yes".into()),
            ..Default::default()
        };
        assert_eq!(untolerated(&taints, &[equal]), None);
        let wrong_value = Toleration {
            key: Some("gpu".into()),
            value: Some("no".into()),
            ..Default::default()
        };
        assert!(untolerated(&taints, &[wrong_value]).is_some());
        let exists_all = Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert_eq!(untolerated(&taints, &[exists_all]), None);
        let other_effect = Toleration {
            key: Some("gpu".into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            ..Default::default()
        };
        assert!(untolerated(&taints, &[other_effect]).is_some());
    }
}
