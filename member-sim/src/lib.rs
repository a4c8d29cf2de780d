//! Flotilla's member-cluster simulator — like kwok, but self-contained.
//!
//! A simulated member is a Kubernetes-compatible API server (the federation
//! API server's own library on an in-memory store, serving nodes and pods
//! too) plus simulated workload controllers that move Deployments,
//! StatefulSets, ReplicaSets, DaemonSets and Jobs towards ready the way a
//! real cluster would — bounded by the member's pod capacity, in seconds —
//! and fault injection (down, partition, latency, errors) for testing what
//! the federation does when a member misbehaves.
//!
//! - [`member`]: start one member ([`member::start`]).
//! - [`workloads`]: the controllers as a pure state machine.
//! - [`controller`]: the driver between the store and that state machine.
//! - [`nodes`]: the member's Node objects (its capacity).
//! - [`pod_objects`]: Pod objects for the simulated pods (optional).
//! - [`faults`]: fault modes and the layer that plays them.
//! - [`control`]: the control socket through which `kubectl fed sim fault`
//!   reaches a running member.

pub mod control;
pub mod controller;
pub mod faults;
pub mod member;
pub mod nodes;
pub mod pod_objects;
pub mod workloads;

pub use faults::{Fault, FaultInjector};
pub use member::{start, MemberConfig, RunningMember};
