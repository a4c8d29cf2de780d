//! Kubernetes REST: generic over resource types (see [`registry`]).

pub mod api;
pub mod apply;
pub mod body;
pub mod crd;
pub mod crd_schema;
pub mod defaults;
pub mod deletes;
pub mod discovery;
pub mod metadata_only;
pub mod namespaces;
pub mod object_meta;
pub mod openapi;
pub mod patch_meta;
pub mod protobuf;
pub mod reads;
pub mod registry;
pub mod request_info;
pub mod scale;
pub mod selectors;
pub mod strategic_merge;
pub mod strategy;
pub mod table;
pub mod type_behaviour;
pub mod validation;
pub mod watch;
pub mod writes;
