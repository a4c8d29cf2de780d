//! Flotilla's federation API server: a Kubernetes-compatible HTTPS API over a
//! pluggable, durable [`storage::Storage`].
//!
//! Request flow (each step a layer or module, top-down):
//! TLS ([`tls`]) → tracing → gRPC by content type ([`grpc`], which enters
//! the REST handler in-process) → body limit → authentication ([`auth`]) →
//! request parsing ([`rest::request_info`]) → discovery / REST handlers
//! ([`rest`]) → watch cache ([`storage::watch_cache`]) → backend
//! ([`storage::redb_store`] or [`storage::memory`]).

pub mod auth;
pub mod flotilla_kinds;
pub mod grpc;
pub mod kubeconfig;
pub mod pki;
pub mod rest;
pub mod server;
pub mod status;
pub mod storage;
pub mod tls;

pub use server::{ServerConfig, StorageKind};
pub use status::ApiError;
