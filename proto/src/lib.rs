//! Flotilla's API: the `flotilla.io` group's types and (with the gRPC issue)
//! the `flotilla.v1` protobuf definitions, shared by the API server, the
//! controller and the CLI.
//!
//! The kinds themselves (Cluster, PropagationPolicy, ClusterPropagationPolicy,
//! OverridePolicy, ResourceBinding) arrive with the member-cluster issue;
//! this crate fixes the names every component agrees on.

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

#[cfg(test)]
mod tests {
    #[test]
    fn api_version_is_group_slash_version() {
        assert_eq!(
            super::API_VERSION,
            format!("{}/{}", super::GROUP, super::VERSION)
        );
    }
}
