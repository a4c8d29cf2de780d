//! What a cluster's probes add up to: the published `Ready` state (with
//! failure and success thresholds, so one lost probe never flips a
//! cluster), the latency window, and the taints that follow from `Ready`.
//!
//! Pure: fed probe outcomes in order, it says what to publish.

use std::collections::VecDeque;

use federation_proto::cluster::{Health, Latency, TAINT_NOT_READY, TAINT_UNREACHABLE};
use k8s_openapi::api::core::v1::Taint;

/// What one probe found.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `/readyz` (or `/healthz`) answered ok, in `latency_ms`.
    Ready { latency_ms: f64 },
    /// The member answered, but not ok (e.g. 500 from `/readyz`).
    NotReady { latency_ms: f64, message: String },
    /// No answer: refused, timed out, TLS failure...
    Unreachable { message: String },
}

/// The published readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(String),
    Unreachable(String),
}

impl Readiness {
    /// `(status, reason, message)` of the `Ready` condition.
    pub fn condition(&self) -> (&'static str, &'static str, String) {
        match self {
            Readiness::Ready => (
                "True",
                "ClusterReady",
                "cluster is healthy and ready to accept workloads".into(),
            ),
            Readiness::NotReady(m) => ("False", "ClusterNotReady", m.clone()),
            Readiness::Unreachable(m) => ("Unknown", "ClusterNotReachable", m.clone()),
        }
    }

    /// The taints the controller keeps on a cluster in this state.
    pub fn taint_key(&self) -> Option<&'static str> {
        match self {
            Readiness::Ready => None,
            Readiness::NotReady(_) => Some(TAINT_NOT_READY),
            Readiness::Unreachable(_) => Some(TAINT_UNREACHABLE),
        }
    }
}

/// How many probe round trips the latency percentiles cover.
pub const LATENCY_WINDOW: usize = 60;

/// The probe history of one cluster.
#[derive(Debug, Default)]
pub struct Tracker {
    published: Option<Readiness>,
    ok_streak: u32,
    failure_streak: u32,
    window: VecDeque<f64>,
    last_ms: Option<f64>,
}

impl Tracker {
    /// Starts from what the cluster's status already says (a restarted or
    /// newly elected controller continues, instead of starting over).
    pub fn resume(published: Option<Readiness>) -> Self {
        Tracker {
            published,
            ..Tracker::default()
        }
    }

    /// Takes one probe outcome; returns the readiness to publish now.
    ///
    /// The first outcome is published as it is. After that, leaving Ready
    /// takes `failure_threshold` failures in a row and returning to Ready
    /// takes `success_threshold` successes in a row; between the two kinds
    /// of failure (not ready / unreachable) the latest one is shown.
    pub fn observe(&mut self, outcome: Outcome, health: Health) -> Readiness {
        match &outcome {
            Outcome::Ready { latency_ms } | Outcome::NotReady { latency_ms, .. } => {
                self.last_ms = Some(*latency_ms);
                self.window.push_back(*latency_ms);
                if self.window.len() > LATENCY_WINDOW {
                    self.window.pop_front();
                }
            }
            Outcome::Unreachable { .. } => {}
        }
        let observed = match outcome {
            Outcome::Ready { .. } => Readiness::Ready,
            Outcome::NotReady { message, .. } => Readiness::NotReady(message),
            Outcome::Unreachable { message } => Readiness::Unreachable(message),
        };
        if observed == Readiness::Ready {
            self.ok_streak += 1;
            self.failure_streak = 0;
        } else {
            self.failure_streak += 1;
            self.ok_streak = 0;
        }
        let next = match &self.published {
            None => observed,
            Some(Readiness::Ready) if observed != Readiness::Ready => {
                if self.failure_streak >= health.failure_threshold {
                    observed
                } else {
                    Readiness::Ready
                }
            }
            Some(Readiness::Ready) => Readiness::Ready,
            Some(failing) if observed == Readiness::Ready => {
                if self.ok_streak >= health.success_threshold {
                    Readiness::Ready
                } else {
                    failing.clone()
                }
            }
            // Failing, and still failing: show the latest failure.
            Some(_) => observed,
        };
        self.published = Some(next.clone());
        next
    }

    /// Latency over the window, if any probe got an answer.
    pub fn latency(&self) -> Option<Latency> {
        let last = self.last_ms?;
        let mut sorted: Vec<f64> = self.window.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            round(sorted[index])
        };
        Some(Latency {
            last_ms: round(last),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            samples: sorted.len() as u32,
        })
    }
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// `taints` with the controller's readiness taint for `readiness` (and only
/// that one of the two) — user taints are kept as they are, in order.
pub fn taints_for(taints: &[Taint], readiness: &Readiness) -> Vec<Taint> {
    let mut out: Vec<Taint> = taints
        .iter()
        .filter(|t| t.key != TAINT_NOT_READY && t.key != TAINT_UNREACHABLE)
        .cloned()
        .collect();
    if let Some(key) = readiness.taint_key() {
        let existing = taints
            .iter()
            .find(|t| t.key == key && t.effect == "NoSchedule")
            .cloned();
        out.push(existing.unwrap_or(Taint {
            key: key.to_string(),
            effect: "NoSchedule".to_string(),
            ..Default::default()
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTH: Health = Health {
        period_seconds: 1,
        timeout_seconds: 1,
        failure_threshold: 3,
        success_threshold: 2,
    };

    fn ok(ms: f64) -> Outcome {
        Outcome::Ready { latency_ms: ms }
    }

    fn down() -> Outcome {
        Outcome::Unreachable {
            message: "connection refused".into(),
        }
    }

    #[test]
    fn thresholds_keep_single_failures_from_flipping_a_cluster() {
        let mut t = Tracker::default();
        assert_eq!(t.observe(ok(1.0), HEALTH), Readiness::Ready);
        assert_eq!(t.observe(down(), HEALTH), Readiness::Ready);
        assert_eq!(t.observe(down(), HEALTH), Readiness::Ready);
        assert_eq!(
            t.observe(ok(1.0), HEALTH),
            Readiness::Ready,
            "the streak restarts"
        );
        assert_eq!(t.observe(down(), HEALTH), Readiness::Ready);
        assert_eq!(t.observe(down(), HEALTH), Readiness::Ready);
        assert!(
            matches!(t.observe(down(), HEALTH), Readiness::Unreachable(_)),
            "third failure in a row"
        );
        // Coming back takes two good probes in a row.
        assert!(matches!(
            t.observe(ok(1.0), HEALTH),
            Readiness::Unreachable(_)
        ));
        assert!(matches!(
            t.observe(down(), HEALTH),
            Readiness::Unreachable(_)
        ));
        assert!(matches!(
            t.observe(ok(1.0), HEALTH),
            Readiness::Unreachable(_)
        ));
        assert_eq!(t.observe(ok(1.0), HEALTH), Readiness::Ready);
    }

    #[test]
    fn the_first_probe_is_published_as_it_is_and_failures_show_the_latest_kind() {
        let mut t = Tracker::default();
        let not_ready = Outcome::NotReady {
            latency_ms: 2.0,
            message: "HTTP 500 from /readyz".into(),
        };
        assert!(matches!(
            t.observe(not_ready, HEALTH),
            Readiness::NotReady(_)
        ));
        assert!(matches!(
            t.observe(down(), HEALTH),
            Readiness::Unreachable(_)
        ));
        let mut resumed = Tracker::resume(Some(Readiness::Ready));
        assert_eq!(
            resumed.observe(down(), HEALTH),
            Readiness::Ready,
            "a resumed Ready needs the threshold too"
        );
    }

    #[test]
    fn latency_percentiles_over_the_window() {
        let mut t = Tracker::default();
        assert_eq!(t.latency(), None);
        for ms in 1..=100 {
            t.observe(ok(ms as f64), HEALTH);
        }
        let latency = t.latency().expect("latency");
        assert_eq!(latency.last_ms, 100.0);
        assert_eq!(latency.samples, LATENCY_WINDOW as u32);
        // The window holds 41..=100.
        assert_eq!(latency.p50_ms, 70.0);
        assert_eq!(latency.p99_ms, 100.0);
        t.observe(down(), HEALTH);
        assert_eq!(
            t.latency().expect("kept").last_ms,
            100.0,
            "failures add no sample"
        );
    }

    #[test]
    fn taints_follow_readiness_and_keep_the_users() {
        let user = Taint {
            key: "team".into(),
            value: Some("payments".into()),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let unreachable = taints_for(
            std::slice::from_ref(&user),
            &Readiness::Unreachable("x".into()),
        );
        assert_eq!(unreachable.len(), 2);
        assert_eq!(unreachable[0], user);
        assert_eq!(unreachable[1].key, TAINT_UNREACHABLE);
        let not_ready = taints_for(&unreachable, &Readiness::NotReady("y".into()));
        assert_eq!(
            not_ready.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(),
            ["team", TAINT_NOT_READY]
        );
        assert_eq!(taints_for(&not_ready, &Readiness::Ready), vec![user]);
    }
}
