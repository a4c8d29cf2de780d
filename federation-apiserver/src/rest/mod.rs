//! Kubernetes REST: generic over resource types (see [`registry`]).

pub mod body;
pub mod discovery;
pub mod registry;
pub mod selectors;
pub mod validation;
