//! Which targets may take a template's new revision now, and the order
//! and waves they go in.

use std::collections::BTreeSet;

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

/// Whether the strategy rolls cluster by cluster (`ClusterByCluster`,
/// `Canary`) rather than everywhere at once.
pub fn in_waves(rollout: &Rollout) -> bool {
    matches!(
        rollout.strategy.as_deref(),
        Some("ClusterByCluster" | "Canary")
    )
}

/// The canaries of a `Canary` rollout.
fn canaries(rollout: &Rollout) -> &[String] {
    match rollout.strategy.as_deref() {
        Some("Canary") => &rollout.canary_clusters,
        _ => &[],
    }
}

/// The rollout order of `clusters`, each with its wave (1-based): the
/// canaries first, in the order the policy lists them, then the others by
/// name, `maxConcurrentClusters` to a wave; canaries never share a wave
/// with the others. Everyone is in wave 1 when the strategy is not in
/// waves.
pub fn waves(rollout: &Rollout, clusters: &[String]) -> Vec<(String, i32)> {
    let mut sorted: Vec<&String> = clusters.iter().collect();
    if !in_waves(rollout) {
        sorted.sort();
        return sorted.into_iter().map(|c| (c.clone(), 1)).collect();
    }
    let canaries = canaries(rollout);
    let rank = |c: &String| canaries.iter().position(|n| n == c).unwrap_or(usize::MAX);
    sorted.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    let size = limit(rollout, clusters.len());
    let canary_count = sorted.iter().filter(|c| canaries.contains(c)).count();
    let canary_waves = canary_count.div_ceil(size);
    sorted
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let wave = if i < canary_count {
                i / size
            } else {
                canary_waves + (i - canary_count) / size
            };
            (c.clone(), wave as i32 + 1)
        })
        .collect()
}

/// Whether a copy is through with `generation`: on it, and done or failed.
fn through(copy: &CopyState, generation: i64) -> bool {
    copy.generation.is_some_and(|g| g >= generation) && (copy.done || copy.failed)
}

/// The wave rolling now: the first wave with a copy not yet through with
/// `generation` (`None`: every copy is).
pub fn current_wave(rollout: &Rollout, generation: i64, copies: &[CopyState]) -> Option<i32> {
    let names: Vec<String> = copies.iter().map(|c| c.cluster.clone()).collect();
    waves(rollout, &names)
        .into_iter()
        .filter(|(cluster, _)| {
            copies
                .iter()
                .find(|c| c.cluster == *cluster)
                .is_some_and(|c| !through(c, generation))
        })
        .map(|(_, wave)| wave)
        .min()
}

/// The targets that may be rendered from `generation` now; the others keep
/// the copy they have. A wave starts once every cluster of the waves
/// before it is through (done, or failed within `maxFailures`). A `hold`
/// (a pause, a stopped rollout) starts no further cluster.
pub fn allowed(
    rollout: Option<&Rollout>,
    generation: i64,
    copies: &[CopyState],
    hold: bool,
) -> BTreeSet<String> {
    let everyone = || copies.iter().map(|c| c.cluster.clone()).collect();
    let Some(rollout) = rollout else {
        return everyone();
    };
    if !in_waves(rollout) && !hold {
        return everyone();
    }
    // No copy yet (nothing to roll) or already on this revision: free to go.
    let mut allowed: BTreeSet<String> = copies
        .iter()
        .filter(|c| c.generation.is_none_or(|g| g >= generation))
        .map(|c| c.cluster.clone())
        .collect();
    // Beyond maxFailures the rollout stops: the clusters not reached keep
    // the previous revision.
    let failures = copies.iter().filter(|c| c.failed).count();
    if hold || failures > rollout.max_failures.unwrap_or(0).max(0) as usize {
        return allowed;
    }
    let Some(current) = current_wave(rollout, generation, copies) else {
        return everyone();
    };
    let names: Vec<String> = copies.iter().map(|c| c.cluster.clone()).collect();
    allowed.extend(
        waves(rollout, &names)
            .into_iter()
            .filter(|(_, wave)| *wave <= current)
            .map(|(cluster, _)| cluster),
    );
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
        assert_eq!(names(allowed(None, 2, &copies, false)), ["m1", "m2"]);
        let r = rollout("AllAtOnce", None, &[]);
        assert_eq!(names(allowed(Some(&r), 2, &copies, false)), ["m1", "m2"]);
    }

    #[test]
    fn cluster_by_cluster_one_at_a_time_in_name_order() {
        let r = rollout("ClusterByCluster", Some(IntOrString::Int(1)), &[]);
        let start = [
            copy("m2", 1, true),
            copy("m1", 1, true),
            copy("m3", 1, true),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &start, false)), ["m1"]);
        // m1 is mid-update: nobody else starts.
        let busy = [
            copy("m1", 2, false),
            copy("m2", 1, true),
            copy("m3", 1, true),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &busy, false)), ["m1"]);
        // m1 done: m2 goes.
        let next = [
            copy("m1", 2, true),
            copy("m2", 1, true),
            copy("m3", 1, true),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &next, false)), ["m1", "m2"]);
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
        assert_eq!(names(allowed(Some(&r), 2, &fresh, false)), ["m1", "m4"]);
    }

    #[test]
    fn percentages_round_up_and_never_reach_zero() {
        let copies: Vec<CopyState> = (1..=4).map(|i| copy(&format!("m{i}"), 1, true)).collect();
        let half = rollout(
            "ClusterByCluster",
            Some(IntOrString::String("50%".into())),
            &[],
        );
        assert_eq!(names(allowed(Some(&half), 2, &copies, false)), ["m1", "m2"]);
        let tiny = rollout(
            "ClusterByCluster",
            Some(IntOrString::String("1%".into())),
            &[],
        );
        assert_eq!(names(allowed(Some(&tiny), 2, &copies, false)), ["m1"]);
        let zero = rollout("ClusterByCluster", Some(IntOrString::Int(0)), &[]);
        assert_eq!(names(allowed(Some(&zero), 2, &copies, false)), ["m1"]);
    }

    #[test]
    fn failures_beyond_the_limit_stop_the_rollout() {
        let r = rollout("ClusterByCluster", Some(IntOrString::Int(1)), &[]);
        let mut failed = copy("m1", 2, false);
        failed.failed = true;
        let copies = [failed.clone(), copy("m2", 1, true), copy("m3", 1, true)];
        // maxFailures 0: m2 and m3 keep the previous revision.
        assert_eq!(names(allowed(Some(&r), 2, &copies, false)), ["m1"]);
        // maxFailures 1: the failed cluster frees its slot, m2 goes.
        let tolerant = Rollout {
            max_failures: Some(1),
            ..r.clone()
        };
        assert_eq!(
            names(allowed(Some(&tolerant), 2, &copies, false)),
            ["m1", "m2"]
        );
        // A failed canary stops a Canary rollout.
        let canary = rollout("Canary", Some(IntOrString::Int(1)), &["m1"]);
        assert_eq!(names(allowed(Some(&canary), 2, &copies, false)), ["m1"]);
    }

    #[test]
    fn a_wave_starts_when_the_whole_wave_before_it_is_through() {
        let r = rollout("ClusterByCluster", Some(IntOrString::Int(2)), &[]);
        // Wave 1 = m1, m2; wave 2 = m3, m4. m1 done, m2 still updating:
        // wave 2 waits (a slot is free, but waves are whole).
        let copies = [
            copy("m1", 2, true),
            copy("m2", 2, false),
            copy("m3", 1, true),
            copy("m4", 1, true),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &copies, false)), ["m1", "m2"]);
        assert_eq!(current_wave(&r, 2, &copies), Some(1));
        let wave_one_done = [
            copy("m1", 2, true),
            copy("m2", 2, true),
            copy("m3", 1, true),
            copy("m4", 1, true),
        ];
        assert_eq!(
            names(allowed(Some(&r), 2, &wave_one_done, false)),
            ["m1", "m2", "m3", "m4"]
        );
        assert_eq!(current_wave(&r, 2, &wave_one_done), Some(2));
        let all = [
            copy("m1", 2, true),
            copy("m2", 2, true),
            copy("m3", 2, true),
            copy("m4", 2, true),
        ];
        assert_eq!(current_wave(&r, 2, &all), None);
    }

    #[test]
    fn paused_rollouts_start_no_further_cluster() {
        let r = rollout("ClusterByCluster", Some(IntOrString::Int(2)), &[]);
        let copies = [
            copy("m1", 2, false),
            copy("m2", 1, true),
            copy("m3", 1, true),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &copies, false)), ["m1", "m2"]);
        // m1 goes on; m2 waits for the resume.
        assert_eq!(names(allowed(Some(&r), 2, &copies, true)), ["m1"]);
        // Pausing an AllAtOnce rollout holds whoever has not started.
        let all = rollout("AllAtOnce", None, &[]);
        assert_eq!(names(allowed(Some(&all), 2, &copies, true)), ["m1"]);
        assert_eq!(
            names(allowed(Some(&all), 2, &copies, false)),
            ["m1", "m2", "m3"]
        );
    }

    #[test]
    fn waves_put_canaries_first_and_alone() {
        let clusters: Vec<String> = ["m4", "m2", "m1", "m3", "m5"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let canary = rollout("Canary", Some(IntOrString::Int(2)), &["m3"]);
        let w = |r: &Rollout| -> Vec<(String, i32)> { waves(r, &clusters) };
        let expect = |list: &[(&str, i32)]| -> Vec<(String, i32)> {
            list.iter().map(|(c, n)| (c.to_string(), *n)).collect()
        };
        assert_eq!(
            w(&canary),
            expect(&[("m3", 1), ("m1", 2), ("m2", 2), ("m4", 3), ("m5", 3)])
        );
        let one = rollout("ClusterByCluster", None, &[]);
        assert_eq!(
            w(&one),
            expect(&[("m1", 1), ("m2", 2), ("m3", 3), ("m4", 4), ("m5", 5)])
        );
        let all = rollout("AllAtOnce", None, &[]);
        assert!(w(&all).iter().all(|(_, n)| *n == 1));
    }

    #[test]
    fn canaries_first_and_alone_until_done() {
        let r = rollout("Canary", Some(IntOrString::Int(2)), &["m3"]);
        let start = [
            copy("m1", 1, true),
            copy("m2", 1, true),
            copy("m3", 1, true),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &start, false)), ["m3"]);
        let canary_busy = [
            copy("m1", 1, true),
            copy("m2", 1, true),
            copy("m3", 2, false),
        ];
        assert_eq!(names(allowed(Some(&r), 2, &canary_busy, false)), ["m3"]);
        let canary_done = [
            copy("m1", 1, true),
            copy("m2", 1, true),
            copy("m3", 2, true),
        ];
        assert_eq!(
            names(allowed(Some(&r), 2, &canary_done, false)),
            ["m1", "m2", "m3"]
        );
    }
}
