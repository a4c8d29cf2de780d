//! The simulated workload controllers of a member cluster.
//!
//! [`Simulation`] is a pure state machine: given the stored workload objects,
//! the member's nodes and the time, [`Simulation::step`] creates, schedules,
//! starts and removes simulated pods the way Kubernetes' controllers and
//! scheduler would, and [`Simulation::statuses`] says what each workload's
//! `.status` should be. The async driver that reads objects from the store
//! and writes statuses back is [`crate::controller`].
//!
//! # Guarantees
//! - Level-triggered: a step depends only on the objects handed in, the
//!   simulation's pods and the time, so repeating a step changes nothing.
//! - At most the member's capacity (the sum of its schedulable nodes'
//!   allocatable pods) of pods hold a place at any time; the rest stay
//!   unscheduled and unready.
//! - Statuses are deterministic: with nothing happening, the same status
//!   comes out on every pass (timestamps come from recorded instants).

pub mod daemonset;
pub mod deployment;
pub mod job;
pub mod pods;
pub mod replicaset;
pub mod spec;
pub mod statefulset;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use pods::{Millis, PodFactory, SimPod};
use spec::WallClock;

/// The workload kinds the simulator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Deployment,
    StatefulSet,
    ReplicaSet,
    DaemonSet,
    Job,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::ReplicaSet,
        Kind::DaemonSet,
        Kind::Job,
    ];

    /// The storage key prefix of this kind's objects.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Kind::Deployment => "/apps/deployments/",
            Kind::StatefulSet => "/apps/statefulsets/",
            Kind::ReplicaSet => "/apps/replicasets/",
            Kind::DaemonSet => "/apps/daemonsets/",
            Kind::Job => "/batch/jobs/",
        }
    }
}

/// What a workload controller sees of a node.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    pub name: String,
    pub labels: HashMap<String, String>,
    /// `status.allocatable.pods`.
    pub allocatable_pods: u32,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
}

/// The member's pod capacity: allocatable pods of its schedulable nodes.
pub fn capacity(nodes: &[NodeView]) -> u32 {
    nodes
        .iter()
        .filter(|n| !n.unschedulable)
        .map(|n| n.allocatable_pods)
        .sum()
}

/// What a reconcile step may use: the time, the nodes, and a pod factory.
pub struct Env<'a> {
    pub now: Millis,
    pub startup: Millis,
    pub nodes: &'a [NodeView],
    factory: &'a mut PodFactory,
}

impl Env<'_> {
    pub fn new_pod(&mut self, revision: u64, ordinal: u32, broken: bool) -> SimPod {
        self.factory.new_pod(revision, ordinal, broken, self.now)
    }
}

#[derive(Debug, Clone)]
enum KindState {
    Deployment(deployment::State),
    StatefulSet(statefulset::State),
    ReplicaSet,
    DaemonSet,
    Job(job::State),
}

/// One workload object and its simulated pods.
#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: Kind,
    /// The object as last read from the store.
    pub object: Value,
    pub pods: Vec<SimPod>,
    state: KindState,
}

impl Workload {
    fn new(kind: Kind, object: Value, now: Millis) -> Self {
        let state = match kind {
            Kind::Deployment => KindState::Deployment(deployment::State::new(&object, now)),
            Kind::StatefulSet => KindState::StatefulSet(statefulset::State::new(&object)),
            Kind::ReplicaSet => KindState::ReplicaSet,
            Kind::DaemonSet => KindState::DaemonSet,
            Kind::Job => KindState::Job(job::State::default()),
        };
        Workload {
            kind,
            object,
            pods: Vec::new(),
            state,
        }
    }

    fn reconcile(&mut self, env: &mut Env) -> bool {
        let (object, pods) = (&self.object, &mut self.pods);
        match &mut self.state {
            KindState::Deployment(s) => deployment::reconcile(s, object, pods, env),
            KindState::StatefulSet(s) => statefulset::reconcile(s, object, pods, env),
            KindState::ReplicaSet => replicaset::reconcile(object, pods, env),
            KindState::DaemonSet => daemonset::reconcile(object, pods, env),
            KindState::Job(s) => job::reconcile(s, object, pods, env),
        }
    }

    fn observe(&mut self, now: Millis) {
        if let KindState::Deployment(s) = &mut self.state {
            deployment::observe(s, &self.object, &self.pods, now);
        }
    }

    /// The `.status` this workload should have now.
    pub fn status(&self, nodes: &[NodeView], now: Millis, wall: &WallClock) -> Value {
        let (object, pods) = (&self.object, self.pods.as_slice());
        match &self.state {
            KindState::Deployment(s) => deployment::status(s, object, pods, now, wall),
            KindState::StatefulSet(s) => statefulset::status(s, object, pods, now, wall),
            KindState::ReplicaSet => replicaset::status(object, pods, now, wall),
            KindState::DaemonSet => daemonset::status(object, pods, nodes, now, wall),
            KindState::Job(s) => job::status(s, object, pods, now, wall),
        }
    }

    fn next_change(&self, now: Millis, startup: Millis) -> Option<Millis> {
        let min_ready = spec::min_ready(&self.object);
        let pods = self
            .pods
            .iter()
            .filter_map(|p| p.next_change(now, min_ready));
        let own = match &self.state {
            KindState::Deployment(s) => deployment::next_change(s, &self.object, &self.pods, now),
            KindState::Job(s) => job::next_change(s, &self.object, &self.pods, startup),
            _ => None,
        };
        pods.chain(own).min()
    }
}

/// Every workload of one member, and the pods they run.
pub struct Simulation {
    workloads: BTreeMap<String, Workload>,
    factory: PodFactory,
    /// Time from scheduling to ready, per pod.
    pub startup: Millis,
    /// A step stopped before everything settled: step again at once.
    unsettled: bool,
}

/// Most rounds of reconcile → schedule → start within one step.
const MAX_ROUNDS: usize = 64;

impl Simulation {
    pub fn new(startup: Millis) -> Self {
        Simulation {
            workloads: BTreeMap::new(),
            factory: PodFactory::default(),
            startup,
            unsettled: false,
        }
    }

    /// Adopts the stored objects: new ones start with no pods, changed ones
    /// are replaced (their pods stay), missing ones are dropped with their pods.
    pub fn sync(&mut self, objects: Vec<(Kind, String, Value)>, now: Millis) {
        let mut seen = std::collections::HashSet::new();
        for (kind, key, object) in objects {
            seen.insert(key.clone());
            let same_uid =
                |w: &Workload| w.object.pointer("/metadata/uid") == object.pointer("/metadata/uid");
            match self.workloads.get_mut(&key) {
                Some(w) if same_uid(w) => w.object = object,
                _ => {
                    self.workloads.insert(key, Workload::new(kind, object, now));
                }
            }
        }
        self.workloads.retain(|key, _| seen.contains(key));
    }

    /// Brings every workload as far towards its spec as the time and the
    /// member's capacity allow. Returns whether any pod changed.
    pub fn step(&mut self, nodes: &[NodeView], now: Millis) -> bool {
        let capacity = capacity(nodes);
        let mut any = false;
        self.unsettled = true;
        for _ in 0..MAX_ROUNDS {
            let mut changed = false;
            for w in self.workloads.values_mut() {
                for pod in &mut w.pods {
                    changed |= pod.advance(now);
                }
            }
            let mut env = Env {
                now,
                startup: self.startup,
                nodes,
                factory: &mut self.factory,
            };
            for w in self.workloads.values_mut() {
                changed |= w.reconcile(&mut env);
            }
            let all_pods = self.workloads.values_mut().flat_map(|w| w.pods.iter_mut());
            changed |= pods::schedule(all_pods, capacity, self.startup, now);
            any |= changed;
            if !changed {
                self.unsettled = false;
                break;
            }
        }
        for w in self.workloads.values_mut() {
            w.observe(now);
        }
        any
    }

    /// Each workload's key, its object as last synced, and its wanted status.
    pub fn statuses<'a>(
        &'a self,
        nodes: &'a [NodeView],
        now: Millis,
        wall: &'a WallClock,
    ) -> impl Iterator<Item = (&'a str, &'a Value, Value)> + 'a {
        self.workloads
            .iter()
            .map(move |(key, w)| (key.as_str(), &w.object, w.status(nodes, now, wall)))
    }

    /// The next instant something changes by itself (a pod becomes ready, a
    /// progress deadline passes), if anything is waiting for time.
    pub fn next_change(&self, now: Millis) -> Option<Millis> {
        if self.unsettled {
            return Some(now);
        }
        self.workloads
            .values()
            .filter_map(|w| w.next_change(now, self.startup))
            .min()
    }

    /// Every workload, in key order.
    pub fn workloads(&self) -> impl Iterator<Item = &Workload> {
        self.workloads.values()
    }

    pub fn workload(&self, key: &str) -> Option<&Workload> {
        self.workloads.get(key)
    }

    /// How many pods hold a place on the member's nodes.
    pub fn scheduled_pods(&self) -> usize {
        self.workloads
            .values()
            .flat_map(|w| &w.pods)
            .filter(|p| p.scheduled())
            .count()
    }
}
