//! Simulated pods: what a workload's replicas are doing, and the member's
//! pod capacity that bounds how many of them can run.
//!
//! Time is a plain millisecond counter ([`Millis`]) handed in by the caller,
//! so every transition is a pure function of the state and the time.

/// Milliseconds since the member started.
pub type Millis = u64;

/// Where a simulated pod is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not scheduled: the member has no room for it (an unschedulable pod).
    Pending,
    /// Scheduled and starting; ready (or crashing) at `ready_at`.
    Starting { ready_at: Millis },
    /// Running and ready since `since` (a job pod: running its work).
    Ready { since: Millis },
    /// Scheduled but crash-looping (an image tagged `bad`): never ready.
    CrashLooping,
    /// A job pod that finished its work.
    Succeeded,
    /// A job pod that failed (an image tagged `bad`).
    Failed,
}

/// One simulated pod of a workload.
#[derive(Debug, Clone)]
pub struct SimPod {
    /// Unique in the member; lower ids were created first (and are
    /// scheduled first when room frees up).
    pub id: u64,
    /// Hash of the pod template it was created from.
    pub revision: u64,
    /// StatefulSet ordinal, DaemonSet node index; 0 for the others.
    pub ordinal: u32,
    pub phase: Phase,
    /// The template has an image tagged `bad`: the pod never becomes ready.
    pub broken: bool,
    pub created: Millis,
}

impl SimPod {
    /// Holds a place on a node.
    pub fn scheduled(&self) -> bool {
        matches!(
            self.phase,
            Phase::Starting { .. } | Phase::Ready { .. } | Phase::CrashLooping
        )
    }

    pub fn ready(&self) -> bool {
        matches!(self.phase, Phase::Ready { .. })
    }

    /// Ready for at least `min_ready` milliseconds (`minReadySeconds`).
    pub fn available(&self, now: Millis, min_ready: Millis) -> bool {
        match self.phase {
            Phase::Ready { since } => since.saturating_add(min_ready) <= now,
            _ => false,
        }
    }

    /// Succeeded or failed (job pods only).
    pub fn terminal(&self) -> bool {
        matches!(self.phase, Phase::Succeeded | Phase::Failed)
    }

    /// Moves a starting pod on once its start time has come: to `Ready`, or
    /// to `CrashLooping` when broken. Returns whether anything changed.
    pub fn advance(&mut self, now: Millis) -> bool {
        match self.phase {
            Phase::Starting { ready_at } if ready_at <= now => {
                self.phase = if self.broken {
                    Phase::CrashLooping
                } else {
                    Phase::Ready { since: ready_at }
                };
                true
            }
            _ => false,
        }
    }

    /// When this pod changes next by itself (becomes ready, or available
    /// after `min_ready`), if ever.
    pub fn next_change(&self, now: Millis, min_ready: Millis) -> Option<Millis> {
        match self.phase {
            Phase::Starting { ready_at } => Some(ready_at),
            Phase::Ready { since } if since + min_ready > now => Some(since + min_ready),
            _ => None,
        }
    }
}

/// Makes pods with member-unique, increasing ids.
#[derive(Debug, Default)]
pub struct PodFactory {
    next_id: u64,
}

impl PodFactory {
    pub fn new_pod(&mut self, revision: u64, ordinal: u32, broken: bool, now: Millis) -> SimPod {
        self.next_id += 1;
        SimPod {
            id: self.next_id,
            revision,
            ordinal,
            phase: Phase::Pending,
            broken,
            created: now,
        }
    }
}

/// Schedules pending pods, oldest first, while the member has room.
/// `pods` are every pod of the member. Returns whether any was scheduled.
///
/// # Guarantees
/// - Never more than `capacity` pods hold a place afterwards, unless more
///   already did before (shrinking capacity evicts nothing, as cordoning a
///   node evicts nothing).
/// - A scheduled pod starts at `now` and is ready `startup` later.
pub fn schedule<'a>(
    pods: impl IntoIterator<Item = &'a mut SimPod>,
    capacity: u32,
    startup: Millis,
    now: Millis,
) -> bool {
    let mut pending: Vec<&mut SimPod> = Vec::new();
    let mut used: u64 = 0;
    for pod in pods {
        if pod.scheduled() {
            used += 1;
        } else if pod.phase == Phase::Pending {
            pending.push(pod);
        }
    }
    pending.sort_by_key(|p| p.id);
    let mut changed = false;
    for pod in pending {
        if used >= u64::from(capacity) {
            break;
        }
        pod.phase = Phase::Starting {
            ready_at: now + startup,
        };
        used += 1;
        changed = true;
    }
    changed
}

/// Which pods to remove first when scaling down: unscheduled, then
/// not-ready, then the newest ready ones (as Kubernetes' controllers rank
/// pods for deletion).
pub fn deletion_rank(pod: &SimPod) -> (u8, std::cmp::Reverse<u64>) {
    let class = match pod.phase {
        Phase::Pending => 0,
        Phase::Starting { .. } | Phase::CrashLooping | Phase::Failed => 1,
        Phase::Succeeded => 1,
        Phase::Ready { .. } => 2,
    };
    (class, std::cmp::Reverse(pod.id))
}

/// Removes up to `count` pods for which `eligible` holds, in
/// [`deletion_rank`] order. Returns how many were removed.
pub fn remove_pods(
    pods: &mut Vec<SimPod>,
    count: usize,
    eligible: impl Fn(&SimPod) -> bool,
) -> usize {
    if count == 0 {
        return 0;
    }
    let mut candidates: Vec<(u8, std::cmp::Reverse<u64>, u64)> = pods
        .iter()
        .filter(|p| eligible(p))
        .map(|p| {
            let (class, newest) = deletion_rank(p);
            (class, newest, p.id)
        })
        .collect();
    candidates.sort();
    let doomed: Vec<u64> = candidates.iter().take(count).map(|c| c.2).collect();
    pods.retain(|p| !doomed.contains(&p.id));
    doomed.len()
}
