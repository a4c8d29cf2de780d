//! How long each copy has been in a state: done (for the soak), updating
//! (for the progress deadline).
//!
//! # Caveats
//! The clocks live in the controller's memory: a restarted controller
//! soaks (and waits for deadlines) again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long each copy has been in a state (done, for the soak; updating,
/// for the progress deadline) with a revision: (binding, cluster) →
/// (template generation, since).
#[derive(Default)]
pub struct StateClock {
    since: Mutex<HashMap<(String, String), (i64, Instant)>>,
}

impl StateClock {
    /// How long the copy has been in the state at `generation`, if it is.
    pub fn elapsed(
        &self,
        binding: &str,
        cluster: &str,
        generation: i64,
        now: Instant,
    ) -> Option<Duration> {
        let since = self.since.lock().ok()?;
        let (g, at) = since.get(&(binding.to_string(), cluster.to_string()))?;
        (*g == generation).then(|| now.saturating_duration_since(*at))
    }

    /// Forgets a binding's clocks (it is gone).
    pub fn forget(&self, binding: &str) {
        if let Ok(mut since) = self.since.lock() {
            since.retain(|(b, _), _| b != binding);
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_done_after_its_soak_and_starts_over_when_it_regresses() {
        let soak = StateClock::default();
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
        assert_eq!(soak.elapsed("b", "m1", 3, t5 + ten), Some(Duration::ZERO));
        assert_eq!(soak.elapsed("b", "m1", 2, t5 + ten), None);
        soak.forget("b");
        assert_eq!(soak.elapsed("b", "m1", 3, t5 + ten), None);
    }
}
