//! Flotilla's API: the `flotilla.io/v1alpha1` kinds and the `flotilla.v1`
//! gRPC API ([`grpc`]), shared by the API server (which serves the kinds
//! like CustomResourceDefinitions, from [`crds`], and the gRPC service), the
//! controller and the CLI; and the cluster maintenance rules
//! ([`maintenance`]) the CLI and the gRPC service share.
//!
//! | kind | scope | short | module |
//! |---|---|---|---|
//! | Cluster | cluster | | [`cluster`] |
//! | PropagationPolicy | namespaced | pp | [`policy`] |
//! | ClusterPropagationPolicy | cluster | cpp | [`policy`] |
//! | OverridePolicy | namespaced | op | [`override_policy`] |
//! | ResourceBinding | namespaced | rb | [`binding`] |

pub mod binding;
pub mod cluster;
pub mod grpc;
pub mod maintenance;
pub mod override_policy;
pub mod policy;
mod schema;

pub use binding::ResourceBinding;
pub use cluster::{Cluster, DRAIN_ANNOTATION};
pub use override_policy::OverridePolicy;
pub use policy::{ClusterPropagationPolicy, PropagationPolicy};

use kube_core::CustomResourceExt;

/// The API group of Flotilla's own kinds.
pub const GROUP: &str = "flotilla.io";
/// The served version of that group.
pub const VERSION: &str = "v1alpha1";
/// `flotilla.io/v1alpha1`.
pub const API_VERSION: &str = "flotilla.io/v1alpha1";
/// The namespace holding Flotilla's own objects (member credentials, leases).
pub const SYSTEM_NAMESPACE: &str = "flotilla-system";
/// The field manager Flotilla applies member objects with.
pub const FIELD_MANAGER: &str = "flotilla";

/// The CustomResourceDefinitions of every Flotilla kind (apiextensions.k8s.io/v1, as JSON).
pub fn crds() -> Vec<serde_json::Value> {
    [
        Cluster::crd(),
        PropagationPolicy::crd(),
        ClusterPropagationPolicy::crd(),
        OverridePolicy::crd(),
        ResourceBinding::crd(),
    ]
    .into_iter()
    .map(|crd| serde_json::to_value(crd).expect("a CRD serialises"))
    .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_has_a_crd_in_the_group() {
        let crds = super::crds();
        let kinds: Vec<&str> = crds
            .iter()
            .map(|c| c["spec"]["names"]["kind"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            kinds,
            [
                "Cluster",
                "PropagationPolicy",
                "ClusterPropagationPolicy",
                "OverridePolicy",
                "ResourceBinding"
            ]
        );
        for crd in &crds {
            assert_eq!(crd["spec"]["group"], super::GROUP);
            assert_eq!(crd["spec"]["versions"][0]["name"], super::VERSION);
            let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
            assert_eq!(schema["type"], "object", "{crd}");
        }
        let cluster = &crds[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let spec = &cluster["properties"]["spec"];
        assert!(spec["required"]
            .as_array()
            .is_some_and(|r| r.contains(&"apiEndpoint".into())));
        assert_eq!(
            spec["properties"]["health"]["properties"]["periodSeconds"]["minimum"],
            1.0
        );
    }

    #[test]
    fn api_version_is_group_slash_version() {
        assert_eq!(
            super::API_VERSION,
            format!("{}/{}", super::GROUP, super::VERSION)
        );
    }
}
