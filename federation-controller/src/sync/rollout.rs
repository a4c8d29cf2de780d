//! Cross-cluster rollout waves: which clusters may get a template's new
//! revision now.
//!
//! `AllAtOnce` (the default) updates every copy at once. `ClusterByCluster`
//! updates at most `maxConcurrentClusters` copies at a time (a number, or a
//! percentage of the placed clusters; default 1), in a stable order (by
//! cluster name); the next cluster starts when one in progress runs all its
//! replicas of the new revision, updated and available. `Canary` does the
//! same with `canaryClusters` first: no other cluster starts until every
//! canary is done.
//!
//! A copy counts as done once it has stayed fully updated and available
//! for `soakSeconds` ([`Soak`]); a copy that regresses during its soak
//! starts it again when it recovers.
//!
//! A copy still updating after `progressDeadlineSeconds` has failed; beyond
//! `maxFailures` (default 0) no further cluster starts, so the clusters not
//! reached never see the bad revision; within it, a failed cluster frees
//! its slot.
//!
//! # Caveats
//! Automatic rollback is not implemented yet: a failed copy keeps the new
//! revision (the others keep the previous one). Soak clocks live in the
//! controller's memory: a restarted controller soaks again.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use federation_proto::policy::Rollout;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// One target's copy, as the member watch last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyState {
    pub cluster: String,
    /// The template generation the copy was rendered from (`None`: no copy).
    pub generation: Option<i64>,
    /// It runs all its replicas of that generation, updated and available.
    pub done: bool,
    /// It has been updating longer than `progressDeadlineSeconds`.
    pub failed: bool,
}

/// How long each copy has been in a state (done, for the soak; updating,
/// for the progress deadline) with a revision: (binding, cluster) →
/// (template generation, since).
#[derive(Default)]
pub struct Soak {
    since: Mutex<HashMap<(String, String), (i64, Instant)>>,
}

impl Soak {
    /// Whether a copy that is `done_now` at `generation` has soaked for
    /// `soak`, and if not, how long it still has to.
    pub fn settle(
        &self,
        binding: &str,
        cluster: &str,
        generation: i64,
        done_now: bool,
        soak: Duration,
        now: Instant,
    ) -> (bool, Option<Duration>) {
        let Ok(mut since) = self.since.lock() else {
            return (done_now, None);
        };
        let key = (binding.to_string(), cluster.to_string());
        if !done_now {
            since.remove(&key);
            return (false, None);
        }
        let entry = since.entry(key).or_insert((generation, now));
        if entry.0 != generation {
            *entry = (generation, now);
        }
        let soaked = now.saturating_duration_since(entry.1);
        if soaked >= soak {
            (true, None)
        } else {
            (false, Some(soak - soaked))
        }
    }
}

/// How many clusters may be mid-update at once.
fn limit(rollout: &Rollout, clusters: usize) -> usize {
    let n = match &rollout.max_concurrent_clusters {
        None => 1,
        Some(IntOrString::Int(n)) => (*n).max(0) as usize,
        Some(IntOrString::String(s)) => match s.strip_suffix('%').map(str::parse::<usize>) {
            Some(Ok(pct)) => (clusters * pct).div_ceil(100),
            _ => s.parse().unwrap_or(1),
        },
    };
    n.max(1)
}

/// The targets that may be rendered from `generation` now; the others keep
/// the copy they have.
pub fn allowed(
    rollout: Option<&Rollout>,
    generation: i64,
    copies: &[CopyState],
) -> BTreeSet<String> {
    let everyone = || copies.iter().map(|c| c.cluster.clone()).collect();
    let Some(rollout) = rollout else {
        return everyone();
    };
    let strategy = rollout.strategy.as_deref().unwrap_or("AllAtOnce");
    if strategy != "ClusterByCluster" && strategy != "Canary" {
        return everyone();
    }
    let canaries: &[String] = if strategy == "Canary" {
        &rollout.canary_clusters
    } else {
        &[]
    };
    // No copy yet (nothing to roll) or already on this revision: free to go.
    let mut allowed: BTreeSet<String> = copies
        .iter()
        .filter(|c| c.generation.is_none_or(|g| g >= generation))
        .map(|c| c.cluster.clone())
        .collect();
    // Beyond maxFailures the rollout stops: the clusters not reached keep
    // the previous revision.
    let failures = copies.iter().filter(|c| c.failed).count();
    if failures > rollout.max_failures.unwrap_or(0).max(0) as usize {
        return allowed;
    }
    let in_progress = copies
        .iter()
        .filter(|c| c.generation.is_some_and(|g| g >= generation) && !c.done && !c.failed)
        .count();
    let mut pending: Vec<&CopyState> = copies
        .iter()
        .filter(|c| c.generation.is_some_and(|g| g < generation))
        .collect();
    let rank = |c: &CopyState| {
        canaries
            .iter()
            .position(|n| *n == c.cluster)
            .unwrap_or(usize::MAX)
    };
    pending.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cluster.cmp(&b.cluster)));
    let canaries_done = copies
        .iter()
        .filter(|c| canaries.contains(&c.cluster))
        .all(|c| (c.done || c.failed) && c.generation.is_some_and(|g| g >= generation));
    let slots = limit(rollout, copies.len()).saturating_sub(in_progress);
    for c in pending.into_iter().take(slots) {
        if !canaries.contains(&c.cluster) && !canaries_done {
            break;
        }
        allowed.insert(c.cluster.clone());
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(cluster: &str, generation: i64, done: bool) -> CopyState {
        CopyState {
            cluster: cluster.into(),
            generation: Some(generation),
            done,
            failed: false,
        }
    }

    fn names(set: BTreeSet<String>) -> Vec<String> {
        set.into_iter().collect()
    }

    fn rollout(strategy: &str, max: Option<IntOrString>, canaries: &[&str]) -> Rollout {
        Rollout {
            strategy: Some(strategy.into()),
            max_concurrent_clusters: max,
            canary_clusters: canaries.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn all_at_once_lets_everyone_go() {
        let copies = [copy("m1", 1, true), copy("m2", 1, true)];
        assert_eq!(names(allowed(None, 2, &copies)), ["m1", "m2"]);
        let r = rollout("AllAtOnce", None, &[]);
        assert_eq!(names(allowed(Some(&r), 2, &copies)), ["m1", "m2"]);
    }

    #[test]
    fn cluster_by_cluster_one_at_a_time_in_name_order() {
        let r = rollout("ClusterByCluster", Some(IntOrString::Int(1)), &[]);
        let start = [
            copy("m2", 1, true),
            copy("m1", 1, true),
            copy("m3", 1, true),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &start)), ["m1"]);
        // m1 is mid-update: nobody else starts.
        let busy = [
            copy("m1", 2, false),
            copy("m2", 1, true),
            copy("m3", 1, true),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &busy)), ["m1"]);
        // m1 done: m2 goes.
        let next = [
            copy("m1", 2, true),
            copy("m2", 1, true),
            copy("m3", 1, true),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &next)), ["m1", "m2"]);
        // A new cluster without a copy is never held back.
        let fresh = [
            copy("m1", 2, false),
            CopyState {
                cluster: "m4".into(),
                generation: None,
                done: false,
                failed: false,
            },
        ];
        assert_eq!(names(allowed(Some(&r), 2, &fresh)), ["m1", "m4"]);
    }

    #[test]
    fn percentages_round_up_and_never_reach_zero() {
        let copies: Vec<CopyState> = (1..=4).map(|i| copy(&format!("m{i}"), 1, true)).collect();
        let half = rollout(
            "ClusterByCluster",
            Some(IntOrString::String("50%".into())),
            &[],
        );
        assert_eq!(names(allowed(Some(&half), 2, &copies)), ["m1", "m2"]);
        let tiny = rollout(
            "ClusterByCluster",
            Some(IntOrString::String("1%".into())),
            &[],
        );
        assert_eq!(names(allowed(Some(&tiny), 2, &copies)), ["m1"]);
        let zero = rollout("ClusterByCluster", Some(IntOrString::Int(0)), &[]);
        assert_eq!(names(allowed(Some(&zero), 2, &copies)), ["m1"]);
    }

    #[test]
    fn a_copy_is_done_after_its_soak_and_starts_over_when_it_regresses() {
        let soak = Soak::default();
        let t0 = Instant::now();
        let ten = Duration::from_secs(10);
        assert_eq!(soak.settle("b", "m1", 2, false, ten, t0), (false, None));
        assert_eq!(soak.settle("b", "m1", 2, true, ten, t0), (false, Some(ten)));
        let t4 = t0 + Duration::from_secs(4);
        assert_eq!(
            soak.settle("b", "m1", 2, true, ten, t4),
            (false, Some(Duration::from_secs(6)))
        );
        // A regression resets the clock.
        assert_eq!(soak.settle("b", "m1", 2, false, ten, t4), (false, None));
        let t5 = t0 + Duration::from_secs(5);
        assert_eq!(soak.settle("b", "m1", 2, true, ten, t5), (false, Some(ten)));
        assert_eq!(soak.settle("b", "m1", 2, true, ten, t5 + ten), (true, None));
        // A new revision soaks anew; no soak asked: done at once.
        assert_eq!(
            soak.settle("b", "m1", 3, true, ten, t5 + ten),
            (false, Some(ten))
        );
        assert_eq!(
            soak.settle("b", "m2", 3, true, Duration::ZERO, t0),
            (true, None)
        );
    }

    #[test]
    fn failures_beyond_the_limit_stop_the_rollout() {
        let r = rollout("ClusterByCluster", Some(IntOrString::Int(1)), &[]);
        let mut failed = copy("m1", 2, false);
        failed.failed = true;
        let copies = [failed.clone(), copy("m2", 1, true), copy("m3", 1, true)];
        // maxFailures 0: m2 and m3 keep the previous revision.
        assert_eq!(names(allowed(Some(&r), 2, &copies)), ["m1"]);
        // maxFailures 1: the failed cluster frees its slot, m2 goes.
        let tolerant = Rollout {
            max_failures: Some(1),
            ..r.clone()
        };
        assert_eq!(names(allowed(Some(&tolerant), 2, &copies)), ["m1", "m2"]);
        // A failed canary stops a Canary rollout.
        let canary = rollout("Canary", Some(IntOrString::Int(1)), &["m1"]);
        assert_eq!(names(allowed(Some(&canary), 2, &copies)), ["m1"]);
    }

    #[test]
    fn canaries_first_and_alone_until_done() {
        let r = rollout("Canary", Some(IntOrString::Int(2)), &["m3"]);
        let start = [
            copy("m1", 1, true),
            copy("m2", 1, true),
            copy("m3", 1, true),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &start)), ["m3"]);
        let canary_busy = [
            copy("m1", 1, true),
            copy("m2", 1, true),
            copy("m3", 2, false),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &canary_busy)), ["m3"]);
        let canary_done = [
            copy("m1", 1, true),
            copy("m2", 1, true),
            copy("m3", 2, true),
        ];
        assert_eq!(
            names(allowed(Some(&r), 2, &canary_done)),
            ["m1", "m2", "m3"]
        );
    }
}
