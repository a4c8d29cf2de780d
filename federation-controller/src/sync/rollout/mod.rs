//! Cross-cluster rollouts: which targets may get a template's new revision
//! now, which render from the last good one, and what the binding says.
//!
//! With a `rollout` block in the policy, a template change reaches the
//! clusters as the strategy says. `AllAtOnce` updates every copy at once.
//! `ClusterByCluster` goes in waves of `maxConcurrentClusters` (a number,
//! or a percentage of the placed clusters; default 1) in a stable order (by
//! cluster name); a wave starts once every cluster of the wave before is
//! through. `Canary` puts `canaryClusters` in the first waves, alone
//! ([`waves`]).
//!
//! A copy is done once it has stayed fully updated and available for
//! `soakSeconds` ([`StateClock`]); done is final for the revision (a later
//! dip is ordinary health). A copy still updating after
//! `progressDeadlineSeconds`, or that stops being fully updated and
//! available during its soak, has failed. Beyond `maxFailures` (default 0)
//! the rollout stops (phase `Failed`): no further cluster starts, so the
//! clusters not reached never see the bad revision; within it, a failed
//! cluster counts as through and the rollout can complete. With
//! `autoRollback: true` every target is rendered from the last good
//! revision instead (phase `RolledBack`) until the template changes.
//!
//! The last good revision is the last one that completed, recorded in the
//! [`history`]. `kubectl fed rollout pause` (annotation
//! [`ROLLOUT_PAUSED_ANNOTATION`] on the binding) lets the clusters
//! mid-update finish and starts no further one (phase `Paused`). While a
//! rollout holds (paused or stopped), a target without a copy (new to the
//! placement, or its copy deleted) gets the last good revision, or nothing
//! while there is none.
//!
//! # Guarantees
//! - A stop is final for its revision: every failure counts, also of a
//!   cluster the placement has left since, and the binding's status keeps
//!   `Failed`/`RolledBack` across a controller restart. A new template
//!   revision (an edit, `kubectl fed rollout undo`) starts a new rollout.
//! - A held target is never rendered from the template, even while its
//!   copy is out of sight (its member watch relisting).
//! - The decision to roll back is kept in memory as soon as it is made and
//!   in the binding's status after that, so a stale binding cache never
//!   undoes it; if the last good revision is gone from the history, the
//!   rollout stays `Failed` rather than rolling forward.
//! - A target whose cluster is not Ready and whose copy was never listed is
//!   held (state `Unknown`); the clusters of its wave and the waves before
//!   go on, later waves wait for it.
//!
//! # Caveats
//! Soak and deadline clocks live in the controller's memory: a restarted
//! controller soaks (and waits for deadlines) again. A copy whose apply the
//! member refuses fails at the progress deadline like one that never gets
//! ready (the clock starts when the gate lets it go).

pub mod clock;
pub mod history;
pub mod waves;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use federation_proto::binding::{ClusterRollout, RolloutStatus, ROLLOUT_PAUSED_ANNOTATION};
use federation_proto::ResourceBinding;
use kube::api::DynamicObject;
use kube::ResourceExt;
use serde_json::Value;

pub use clock::StateClock;
pub use waves::{allowed, CopyState};

use super::status::fully_updated;
use super::{api_error, earliest, render, Context, Error};
use crate::kinds::Kind;

/// What the gate decided for one reconcile of a binding.
pub(super) struct Gate {
    /// Targets that keep the copy they have (their wave has not come, the
    /// rollout is paused or stopped, the copy cannot be seen).
    pub waiting: BTreeSet<String>,
    /// The last good revision, for the targets in `from_last_good`.
    pub last_good: Option<Arc<DynamicObject>>,
    /// Targets rendered from `last_good` instead of the template: all of
    /// them in a rollback; those without a copy while the rollout holds.
    pub from_last_good: BTreeSet<String>,
    /// When a soak or a progress deadline ends.
    pub wake_in: Option<Duration>,
    pub status: RolloutStatus,
}

pub(super) enum Decision {
    /// No rollout block: every target renders from the template.
    Ungated,
    /// Not every target's copy has been seen yet: decide once it has.
    Unknown,
    Gate(Gate),
}

/// What the gate keeps of a binding between reconciles.
#[derive(Default, Clone)]
struct Remembered {
    last_good: Option<i64>,
    /// The revision rolled back, and why.
    rolled_back: Option<(i64, String)>,
    /// (cluster, revision) that failed, and how.
    failed: HashMap<(String, i64), String>,
    /// (cluster, revision) that finished: done for good.
    done: HashSet<(String, i64)>,
    /// (cluster, revision) let go: its deadline runs even while its copy
    /// has not taken the revision (an apply the member refuses).
    started: HashSet<(String, i64)>,
    /// The last good revision's template, once loaded for a rollback.
    rollback_template: Option<(i64, Arc<DynamicObject>)>,
}

/// The rollout gate's clocks and memory, shared by every reconcile.
#[derive(Default)]
pub struct Tracker {
    /// Since when each copy has been fully updated (the soak).
    soak: StateClock,
    /// Since when each copy has been updating (the progress deadline).
    updating: StateClock,
    remembered: Mutex<HashMap<String, Remembered>>,
}

impl Tracker {
    fn recall(&self, key: &str) -> Remembered {
        self.remembered
            .lock()
            .ok()
            .and_then(|m| m.get(key).cloned())
            .unwrap_or_default()
    }

    fn keep(&self, key: &str, remembered: Remembered) {
        if let Ok(mut m) = self.remembered.lock() {
            m.insert(key.to_string(), remembered);
        }
    }

    /// Forgets a deleted binding.
    pub fn forget(&self, key: &str) {
        self.soak.forget(key);
        self.updating.forget(key);
        if let Ok(mut m) = self.remembered.lock() {
            m.remove(key);
        }
    }
}

/// One target's copy as the member watch last saw it.
struct Observed<'a> {
    cluster: &'a str,
    /// The template generation it was rendered from.
    generation: Option<i64>,
    /// It runs all its replicas of that generation, updated and available.
    updated: bool,
    /// The binding's status says it failed on this revision.
    failed_before: bool,
    /// The binding's status says it finished this revision.
    done_before: bool,
}

/// The rollout's clock settings, and the time now.
struct Timing {
    soak: Duration,
    deadline: Option<Duration>,
    now: Instant,
}

impl Tracker {
    /// Whether a copy is done with `revision` (fully updated for the
    /// soak), and when to look again. A failure (past the deadline,
    /// regressed during its soak) goes into `memory.failed` for good.
    fn assess(
        &self,
        memory: &mut Remembered,
        key: &str,
        revision: i64,
        copy: &Observed,
        timing: &Timing,
    ) -> (bool, Option<Duration>) {
        let at = copy.generation.unwrap_or(0);
        let on_revision = copy.generation == Some(revision);
        let failure = (copy.cluster.to_string(), revision);
        // Done is final for the revision: a later dip is ordinary health,
        // not a rollout failure.
        if on_revision && (copy.done_before || memory.done.contains(&failure)) {
            memory.done.insert(failure);
            return (true, None);
        }
        let mut fail = |why: String| {
            memory.failed.entry(failure.clone()).or_insert(why);
        };
        // Regressed during its soak: failed.
        let soaking = self
            .soak
            .elapsed(key, copy.cluster, at, timing.now)
            .is_some_and(|e| e < timing.soak);
        if soaking && !copy.updated && on_revision {
            fail("stopped being available during its soak".into());
        }
        // Done: fully updated, and so for the soak time.
        let (done, mut wake) =
            self.soak
                .settle(key, copy.cluster, at, copy.updated, timing.soak, timing.now);
        // Updating (or let go and not yet on the revision) for longer than
        // the progress deadline: failed.
        if let Some(d) = timing.deadline {
            let started = memory.started.contains(&failure) && copy.generation < Some(revision);
            let updating = (on_revision && !copy.updated) || started;
            let (over, left) =
                self.updating
                    .settle(key, copy.cluster, revision, updating, d, timing.now);
            wake = earliest(wake, left);
            if over {
                fail(format!(
                    "not done within progressDeadlineSeconds ({} s)",
                    d.as_secs()
                ));
            }
        }
        // The status remembers failures a restart forgot.
        if copy.failed_before {
            fail("failed".into());
        }
        if done && on_revision && !memory.failed.contains_key(&failure) {
            memory.done.insert(failure);
        }
        (done, wake)
    }
}

/// Decides which targets of `binding` take `template`'s revision now.
pub(super) async fn decide(
    ctx: &Context,
    binding: &ResourceBinding,
    kind: &'static Kind,
    template: &DynamicObject,
) -> Result<Decision, Error> {
    let Some(rollout) = binding.spec.rollout.as_ref() else {
        return Ok(Decision::Ungated);
    };
    let namespace = binding.namespace().unwrap_or_default();
    let name = binding.name_any();
    let key = format!("{namespace}/{name}");
    let generation = template.metadata.generation.unwrap_or(0);
    let tracker = &ctx.rollouts;
    let previous = binding
        .status
        .as_ref()
        .and_then(|s| s.rollout.clone())
        .unwrap_or_default();
    let same_revision = previous.revision == generation;
    let mut memory = tracker.recall(&key);
    // Only this revision's outcomes matter.
    memory.failed.retain(|(_, r), _| *r == generation);
    memory.done.retain(|(_, r)| *r == generation);
    memory.started.retain(|(_, r)| *r == generation);
    let last_good = memory.last_good.max(previous.last_good_revision);
    let paused = binding
        .annotations()
        .get(ROLLOUT_PAUSED_ANNOTATION)
        .is_some_and(|v| v == "true");
    let soak = Duration::from_secs(rollout.soak_seconds.unwrap_or(0).max(0) as u64);
    let deadline = rollout
        .progress_deadline_seconds
        .map(|s| Duration::from_secs(s.max(1) as u64));
    let targets: Vec<String> = binding
        .spec
        .clusters
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let order = waves::waves(rollout, &targets);
    let previous_state = |cluster: &str| {
        previous
            .clusters
            .iter()
            .find(|c| c.name == cluster)
            .map(|c| c.state.as_str())
    };
    let timing = Timing {
        soak,
        deadline,
        now: Instant::now(),
    };
    let mut wake_in = None;
    let mut unknown = false;
    // Targets whose copy cannot be seen (not Ready, never listed): held.
    let mut unseen = BTreeSet::new();
    let mut copies = Vec::new();
    // Per copy: fully updated and available now.
    let mut updated_now = Vec::new();
    for (cluster, _) in &order {
        let replicas = binding
            .spec
            .clusters
            .iter()
            .find(|t| t.name == *cluster)
            .map_or(0, |t| t.replicas);
        let record = ctx.members.record(&(
            cluster.clone(),
            kind.kind,
            template.namespace().unwrap_or_default(),
            template.name_any(),
        ));
        if record.is_none() && !ctx.members.is_listed(cluster, kind.kind) {
            if ctx.is_ready(cluster) {
                // Listing any moment now: decide once it has.
                unknown = true;
            } else {
                // Down since before its watch listed: the others go on.
                unseen.insert(cluster.clone());
                updated_now.push(false);
                copies.push(CopyState {
                    cluster: cluster.clone(),
                    generation: Some(0),
                    done: false,
                    failed: false,
                });
                continue;
            }
        }
        let object = record.map(|r| r.object());
        let copy_generation: Option<i64> = object
            .as_ref()
            .and_then(|o| render::annotation(o, render::GENERATION_ANNOTATION))
            .and_then(|g| g.parse().ok());
        let updated = fully_updated(object.as_ref(), replicas, kind);
        let copy = Observed {
            cluster,
            generation: copy_generation,
            updated,
            failed_before: same_revision && previous_state(cluster) == Some("Failed"),
            done_before: same_revision && previous_state(cluster) == Some("Done"),
        };
        let (done, left) = tracker.assess(&mut memory, &key, generation, &copy, &timing);
        wake_in = earliest(wake_in, left);
        let failure = (cluster.clone(), generation);
        updated_now.push(updated);
        copies.push(CopyState {
            cluster: cluster.clone(),
            generation: copy_generation,
            done,
            failed: memory.failed.contains_key(&failure),
        });
    }
    if unknown {
        return Ok(Decision::Unknown);
    }
    // Every failure of this revision counts, also of clusters the
    // placement has left since.
    let mut failed: Vec<String> = memory
        .failed
        .iter()
        .map(|((cluster, _), why)| format!("{cluster}: {why}"))
        .collect();
    failed.sort();
    let max_failures = rollout.max_failures.unwrap_or(0).max(0) as usize;
    // A stop is final for the revision (the status keeps it).
    let stopped = failed.len() > max_failures
        || (same_revision && matches!(previous.phase.as_str(), "Failed" | "RolledBack"));
    let hold = paused || stopped;
    let auto_rollback = rollout.auto_rollback == Some(true);

    // Roll back: decided once per revision, then kept.
    let mut rolled_back = memory
        .rolled_back
        .clone()
        .filter(|(r, _)| *r == generation)
        .or_else(|| {
            (same_revision && previous.phase == "RolledBack")
                .then(|| (generation, previous.message.clone().unwrap_or_default()))
        });
    let mut message = None;
    if rolled_back.is_none() && stopped && auto_rollback {
        match last_good.filter(|l| *l < generation) {
            Some(good) => {
                rolled_back = Some((
                    generation,
                    format!("{}; rolled back to revision {good}", failed.join("; ")),
                ))
            }
            None => {
                message = Some(format!(
                    "{}; no earlier good revision to roll back to",
                    failed.join("; ")
                ))
            }
        }
    }
    // The last good revision renders a rollback, and the copy-less targets
    // of a rollout that holds (they must not start the new revision).
    let copyless = copies.iter().any(|c| c.generation.is_none());
    let needs_last_good = rolled_back.is_some() || (hold && copyless);
    let rollback_template = match (needs_last_good, last_good) {
        (true, Some(good)) => match &memory.rollback_template {
            Some((revision, template)) if *revision == good => Some(template.clone()),
            _ => {
                let loaded = history::load(&ctx.client, &namespace, &name, good)
                    .await
                    .map_err(api_error("reading the revision history of binding", &name))?
                    .map(Arc::new);
                memory.rollback_template = loaded.clone().map(|t| (good, t));
                loaded
            }
        },
        _ => None,
    };
    if rolled_back.is_some() && rollback_template.is_none() {
        // Stays stopped (Failed): never rolls the bad revision forward.
        message = Some(format!(
            "{}; revision {} is no longer in the history: not rolled back",
            failed.join("; "),
            last_good.unwrap_or(0)
        ));
        rolled_back = None;
    }
    memory.rolled_back = rolled_back.clone();

    let wave_of = |cluster: &str| order.iter().find(|(c, _)| c == cluster).map(|(_, w)| *w);
    let waves = order.iter().map(|(_, w)| *w).max();
    let mut clusters = Vec::new();
    let mut waiting = unseen.clone();
    let mut from_last_good = BTreeSet::new();
    let phase;
    if let Some((_, why)) = &rolled_back {
        // Every target renders from the last good revision; the clusters
        // the rollout never reached already run it.
        for c in &copies {
            from_last_good.insert(c.cluster.clone());
            let state = if unseen.contains(&c.cluster) {
                "Unknown"
            } else if c.generation == Some(generation) {
                "RollingBack"
            } else if previous_state(&c.cluster).is_none_or(|s| s != "Pending") {
                "RolledBack"
            } else {
                "Pending"
            };
            clusters.push((c.cluster.clone(), state));
        }
        phase = "RolledBack";
        message = Some(why.clone());
    } else {
        let allowed = allowed(Some(rollout), generation, &copies, hold);
        for c in &copies {
            if allowed.contains(&c.cluster) && c.generation.is_some_and(|g| g < generation) {
                memory.started.insert((c.cluster.clone(), generation));
            }
        }
        for (c, updated) in copies.iter().zip(&updated_now) {
            let state = match c.generation {
                _ if unseen.contains(&c.cluster) => "Unknown",
                _ if c.failed => "Failed",
                Some(g) if g < generation => "Pending",
                None => "Updating",
                _ if c.done => "Done",
                _ if *updated => "Soaking",
                _ => "Updating",
            };
            clusters.push((c.cluster.clone(), state));
            if c.generation.is_none() && hold {
                // A new target while the rollout holds: the last good
                // revision, or nothing until there is one.
                match &rollback_template {
                    Some(_) => from_last_good.insert(c.cluster.clone()),
                    None => waiting.insert(c.cluster.clone()),
                };
            } else if !allowed.contains(&c.cluster) {
                waiting.insert(c.cluster.clone());
            }
        }
        // Complete: every target done, or failed within maxFailures.
        let complete = !stopped && clusters.iter().all(|(_, s)| *s == "Done" || *s == "Failed");
        if complete && !failed.is_empty() {
            message = Some(format!(
                "complete with failures within maxFailures ({max_failures}): {}",
                failed.join("; ")
            ));
        }
        phase = if complete {
            "Complete"
        } else if stopped {
            if message.is_none() {
                message = Some(format!("{}; the rollout stopped", failed.join("; ")));
            }
            "Failed"
        } else if paused {
            message = Some("paused: resume with kubectl fed rollout resume".into());
            "Paused"
        } else {
            "Progressing"
        };
        if complete && last_good != Some(generation) {
            let value = serde_json::to_value(template).unwrap_or(Value::Null);
            history::record(&ctx.client, &namespace, &name, &value)
                .await
                .map_err(api_error(
                    "recording the revision history of binding",
                    &name,
                ))?;
            memory.last_good = Some(generation);
        }
    }
    let current_wave = if phase == "Complete" {
        waves
    } else if phase == "RolledBack" {
        previous.current_wave.filter(|_| same_revision)
    } else {
        waves::current_wave(rollout, generation, &copies)
    };
    let status = RolloutStatus {
        phase: phase.to_string(),
        revision: generation,
        last_good_revision: memory.last_good.max(last_good),
        current_wave,
        waves,
        message,
        clusters: clusters
            .into_iter()
            .map(|(name, state)| ClusterRollout {
                wave: wave_of(&name),
                name,
                state: state.to_string(),
            })
            .collect(),
    };
    memory.last_good = status.last_good_revision;
    tracker.keep(&key, memory);
    Ok(Decision::Gate(Gate {
        waiting,
        last_good: rollback_template.filter(|_| !from_last_good.is_empty()),
        from_last_good,
        wake_in,
        status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(generation: i64, updated: bool) -> Observed<'static> {
        Observed {
            cluster: "m1",
            generation: Some(generation),
            updated,
            failed_before: false,
            done_before: false,
        }
    }

    fn at(t0: Instant, seconds: u64) -> Timing {
        Timing {
            soak: Duration::from_secs(10),
            deadline: Some(Duration::from_secs(30)),
            now: t0 + Duration::from_secs(seconds),
        }
    }

    #[test]
    fn a_copy_that_regresses_during_its_soak_has_failed_for_good() {
        let tracker = Tracker::default();
        let mut memory = Remembered::default();
        let t0 = Instant::now();
        let assess = |memory: &mut Remembered, updated: bool, s: u64| {
            tracker.assess(memory, "ns/b", 2, &observed(2, updated), &at(t0, s))
        };
        assert_eq!(
            assess(&mut memory, true, 0),
            (false, Some(Duration::from_secs(10)))
        );
        assert!(memory.failed.is_empty());
        // Not available any more, 4 s into its soak.
        let (done, _) = assess(&mut memory, false, 4);
        assert!(!done);
        assert_eq!(
            memory
                .failed
                .get(&("m1".to_string(), 2))
                .map(String::as_str),
            Some("stopped being available during its soak")
        );
        // It recovers and soaks: done, and still failed.
        assess(&mut memory, true, 5);
        assert_eq!(assess(&mut memory, true, 15), (true, None));
        assert!(memory.failed.contains_key(&("m1".to_string(), 2)));
    }

    #[test]
    fn a_copy_past_its_deadline_has_failed_and_one_after_its_soak_has_not() {
        let tracker = Tracker::default();
        let mut memory = Remembered::default();
        let t0 = Instant::now();
        // Updating: the deadline clock runs; the wake-up is its end.
        let (done, wake) = tracker.assess(&mut memory, "ns/b", 2, &observed(2, false), &at(t0, 0));
        assert!(!done);
        assert_eq!(wake, Some(Duration::from_secs(30)));
        tracker.assess(&mut memory, "ns/b", 2, &observed(2, false), &at(t0, 31));
        assert_eq!(
            memory
                .failed
                .get(&("m1".to_string(), 2))
                .map(String::as_str),
            Some("not done within progressDeadlineSeconds (30 s)")
        );
        // Another copy soaks through, then goes unavailable: done already,
        // so not a soak failure.
        let mut other = Remembered::default();
        let second = |updated| Observed {
            cluster: "m2",
            ..observed(2, updated)
        };
        tracker.assess(&mut other, "ns/b", 2, &second(true), &at(t0, 0));
        assert_eq!(
            tracker.assess(&mut other, "ns/b", 2, &second(true), &at(t0, 10)),
            (true, None)
        );
        tracker.assess(&mut other, "ns/b", 2, &second(false), &at(t0, 12));
        assert!(other.failed.is_empty());
        // A copy still on the previous revision neither soaks nor fails.
        let mut pending = Remembered::default();
        let (done, wake) =
            tracker.assess(&mut pending, "ns/b", 3, &observed(2, false), &at(t0, 40));
        assert!(!done && wake.is_none() && pending.failed.is_empty());
        // A cluster let go whose copy never takes the revision (its apply
        // refused) fails at the deadline too.
        let mut refused = Remembered::default();
        refused.started.insert(("m1".to_string(), 3));
        tracker.assess(&mut refused, "ns/r", 3, &observed(2, true), &at(t0, 0));
        assert!(refused.failed.is_empty());
        tracker.assess(&mut refused, "ns/r", 3, &observed(2, true), &at(t0, 31));
        assert!(refused.failed.contains_key(&("m1".to_string(), 3)));
        // The status's memory of a failure survives a restart.
        let restarted = Tracker::default();
        let mut fresh = Remembered::default();
        let failed = Observed {
            failed_before: true,
            ..observed(2, true)
        };
        restarted.assess(&mut fresh, "ns/b", 2, &failed, &at(t0, 0));
        assert!(fresh.failed.contains_key(&("m1".to_string(), 2)));
    }
}
