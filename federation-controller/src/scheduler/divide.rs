//! Dividing replicas over clusters: Webster (Sainte-Laguë) apportionment
//! by weights, within per-cluster minimums and caps, and the steady
//! variant that only moves the difference from a previous assignment.
//!
//! # Guarantees
//! - The result sums to the requested total, or the call fails saying
//!   why (the caps cannot hold it).
//! - Every cluster gets at least its minimum and at most its cap.
//! - Deterministic: ties go to the cluster whose name sorts first (when
//!   adding) or last (when removing), so the same inputs give the same
//!   result on every run and every replica of the controller.

use std::collections::BTreeMap;

/// What one cluster may hold and how much it weighs.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub weight: f64,
    pub min: u32,
    /// At most this many (capacity, `maxReplicas`); `None`: no cap.
    pub cap: Option<u32>,
}

/// Why a division is impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DivideError {
    #[error("the clusters' minimums ({mins}) exceed the {total} replicas")]
    MinimumsTooHigh { mins: u64, total: u32 },
    #[error("the clusters can hold {room} of the {total} replicas")]
    NoRoom { room: u64, total: u32 },
    #[error("no cluster has a positive weight")]
    NoWeight,
}

/// Names in a deterministic order.
type Assignment = BTreeMap<String, u32>;

fn room(shares: &BTreeMap<String, Share>) -> Option<u64> {
    shares
        .values()
        .map(|s| s.cap.map(u64::from))
        .sum::<Option<u64>>()
}

fn check(shares: &BTreeMap<String, Share>, total: u32) -> Result<(), DivideError> {
    let mins: u64 = shares.values().map(|s| u64::from(s.min)).sum();
    if mins > u64::from(total) {
        return Err(DivideError::MinimumsTooHigh { mins, total });
    }
    if let Some(room) = room(shares) {
        if room < u64::from(total) {
            return Err(DivideError::NoRoom { room, total });
        }
    }
    Ok(())
}

/// Adds `extra` seats one at a time, each to the cluster with the highest
/// Webster quotient `weight / (2·seats + 1)` that is below its cap.
fn add_seats(
    assignment: &mut Assignment,
    shares: &BTreeMap<String, Share>,
    extra: u32,
) -> Result<(), DivideError> {
    for _ in 0..extra {
        let mut best: Option<(&str, f64)> = None;
        for (name, share) in shares {
            let seats = assignment.get(name).copied().unwrap_or(0);
            if share.cap.is_some_and(|cap| seats >= cap) {
                continue;
            }
            let quotient = share.weight / (2.0 * f64::from(seats) + 1.0);
            // Strictly greater: the first name (in order) wins ties.
            if best.is_none_or(|(_, q)| quotient > q) {
                best = Some((name, quotient));
            }
        }
        match best {
            Some((name, q)) if q > 0.0 => *assignment.entry(name.to_string()).or_insert(0) += 1,
            // Only zero-weight clusters have room left: fill them in name order.
            Some((name, _)) => *assignment.entry(name.to_string()).or_insert(0) += 1,
            None => {
                return Err(DivideError::NoRoom {
                    room: u64::from(assignment.values().sum::<u32>()),
                    total: 0,
                })
            }
        }
    }
    Ok(())
}

/// Removes `fewer` seats one at a time, each from the cluster whose last
/// seat has the lowest quotient `weight / (2·seats − 1)` (the most
/// over-represented), never below its minimum.
fn remove_seats(assignment: &mut Assignment, shares: &BTreeMap<String, Share>, fewer: u32) {
    for _ in 0..fewer {
        let mut worst: Option<(String, f64)> = None;
        for (name, seats) in assignment.iter() {
            let min = shares.get(name).map_or(0, |s| s.min);
            if *seats == 0 || *seats <= min {
                continue;
            }
            let weight = shares.get(name).map_or(0.0, |s| s.weight);
            let quotient = weight / (2.0 * f64::from(*seats) - 1.0);
            // Less or equal: the last name (in order) loses ties.
            if worst.as_ref().is_none_or(|(_, q)| quotient <= *q) {
                worst = Some((name.clone(), quotient));
            }
        }
        match worst {
            Some((name, _)) => {
                if let Some(s) = assignment.get_mut(&name) {
                    *s -= 1;
                }
            }
            None => break,
        }
    }
}

/// A fresh division of `total` by weight.
pub fn divide(total: u32, shares: &BTreeMap<String, Share>) -> Result<Assignment, DivideError> {
    check(shares, total)?;
    if total > 0 && shares.values().all(|s| s.weight <= 0.0) && shares.values().all(|s| s.min == 0)
    {
        return Err(DivideError::NoWeight);
    }
    let mut assignment: Assignment = shares.iter().map(|(n, s)| (n.clone(), s.min)).collect();
    let placed: u32 = assignment.values().sum();
    add_seats(&mut assignment, shares, total - placed).map_err(|_| DivideError::NoRoom {
        room: room(shares).unwrap_or(0),
        total,
    })?;
    assignment.retain(|_, s| *s > 0);
    Ok(assignment)
}

/// Moves from `previous` to a division of `total`, changing only the
/// difference: clusters no longer in `shares` lose their replicas, the
/// others keep theirs (clamped to their cap and minimum), and the seats
/// to add or remove are added or removed by weight.
pub fn adjust(
    total: u32,
    shares: &BTreeMap<String, Share>,
    previous: &BTreeMap<String, u32>,
) -> Result<Assignment, DivideError> {
    check(shares, total)?;
    let mut assignment: Assignment = shares
        .iter()
        .map(|(name, share)| {
            let kept = previous.get(name).copied().unwrap_or(0);
            let kept = share.cap.map_or(kept, |cap| kept.min(cap)).max(share.min);
            (name.clone(), kept)
        })
        .collect();
    let placed: u32 = assignment.values().sum();
    if placed < total {
        if shares.values().all(|s| s.weight <= 0.0) {
            return Err(DivideError::NoWeight);
        }
        add_seats(&mut assignment, shares, total - placed).map_err(|_| DivideError::NoRoom {
            room: room(shares).unwrap_or(0),
            total,
        })?;
    } else if placed > total {
        remove_seats(&mut assignment, shares, placed - total);
    }
    assignment.retain(|_, s| *s > 0);
    Ok(assignment)
}

/// The fewest clusters that hold `total`: clusters already used first, then
/// the roomiest, each filled up to its cap (Aggregated).
pub fn aggregate(
    total: u32,
    shares: &BTreeMap<String, Share>,
    previous: &BTreeMap<String, u32>,
) -> Result<Assignment, DivideError> {
    check(shares, total)?;
    let mut order: Vec<(&String, &Share)> = shares.iter().collect();
    order.sort_by(|(a, sa), (b, sb)| {
        let used = |n: &str| previous.get(n).copied().unwrap_or(0);
        used(b)
            .cmp(&used(a))
            .then(sb.cap.unwrap_or(u32::MAX).cmp(&sa.cap.unwrap_or(u32::MAX)))
            .then(a.cmp(b))
    });
    let mut assignment = Assignment::new();
    let mut left = total;
    for (name, share) in &order {
        if share.min > 0 {
            assignment.insert((*name).clone(), share.min);
            left -= share.min.min(left);
        }
    }
    for (name, share) in order {
        if left == 0 {
            break;
        }
        let seats = assignment.entry(name.clone()).or_insert(0);
        let room = share.cap.unwrap_or(u32::MAX).saturating_sub(*seats);
        let take = room.min(left);
        *seats += take;
        left -= take;
    }
    assignment.retain(|_, s| *s > 0);
    Ok(assignment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(weights: &[(&str, f64)]) -> BTreeMap<String, Share> {
        weights
            .iter()
            .map(|(n, w)| {
                (
                    n.to_string(),
                    Share {
                        weight: *w,
                        min: 0,
                        cap: None,
                    },
                )
            })
            .collect()
    }

    fn counts(a: &Assignment) -> Vec<(&str, u32)> {
        a.iter().map(|(n, s)| (n.as_str(), *s)).collect()
    }

    #[test]
    fn webster_gives_exact_known_results() {
        let s = shares(&[("m1", 1.0), ("m2", 2.0), ("m3", 2.0)]);
        assert_eq!(
            counts(&divide(10, &s).expect("10")),
            [("m1", 2), ("m2", 4), ("m3", 4)]
        );
        assert_eq!(
            counts(&divide(15, &s).expect("15")),
            [("m1", 3), ("m2", 6), ("m3", 6)]
        );
        // Sainte-Laguë's classic example: 53/24/23 with 8 seats → 4/2/2.
        let s = shares(&[("a", 53.0), ("b", 24.0), ("c", 23.0)]);
        assert_eq!(
            counts(&divide(8, &s).expect("8")),
            [("a", 4), ("b", 2), ("c", 2)]
        );
        // Equal weights, ties to the first names.
        let s = shares(&[("a", 1.0), ("b", 1.0), ("c", 1.0)]);
        assert_eq!(
            counts(&divide(4, &s).expect("4")),
            [("a", 2), ("b", 1), ("c", 1)]
        );
    }

    #[test]
    fn totals_always_add_up_and_limits_hold() {
        let mut s = shares(&[("a", 5.0), ("b", 1.0), ("c", 1.0)]);
        s.get_mut("a").expect("a").cap = Some(3);
        s.get_mut("c").expect("c").min = 2;
        for total in 2..=20 {
            let a = divide(total, &s).expect("divides");
            assert_eq!(a.values().sum::<u32>(), total);
            assert!(a.get("a").copied().unwrap_or(0) <= 3);
            assert!(a.get("c").copied().unwrap_or(0) >= 2);
        }
        s.get_mut("b").expect("b").cap = Some(1);
        s.get_mut("c").expect("c").cap = Some(2);
        assert_eq!(
            divide(7, &s),
            Err(DivideError::NoRoom { room: 6, total: 7 })
        );
        assert!(matches!(
            divide(1, &s),
            Err(DivideError::MinimumsTooHigh { .. })
        ));
    }

    #[test]
    fn scaling_moves_only_the_difference() {
        let s = shares(&[("m1", 1.0), ("m2", 2.0), ("m3", 2.0)]);
        let ten = divide(10, &s).expect("10");
        let fifteen = adjust(15, &s, &ten).expect("15");
        assert_eq!(counts(&fifteen), [("m1", 3), ("m2", 6), ("m3", 6)]);
        // From an uneven start, scaling up never takes replicas away.
        let uneven: BTreeMap<String, u32> = [("m1".to_string(), 5), ("m2".to_string(), 1)].into();
        let up = adjust(9, &s, &uneven).expect("9");
        assert!(up["m1"] >= 5 && up["m2"] >= 1, "{up:?}");
        assert_eq!(up.values().sum::<u32>(), 9);
        // Scaling down takes from the over-represented first.
        let down = adjust(5, &s, &uneven).expect("5");
        assert_eq!(counts(&down), [("m1", 4), ("m2", 1)]);
        // Same total: nothing moves, however uneven.
        assert_eq!(adjust(6, &s, &uneven).expect("6"), uneven);
        // A cluster that left the shares loses its replicas to the others.
        let without_m3 = shares(&[("m1", 1.0), ("m2", 2.0)]);
        let moved = adjust(10, &without_m3, &ten).expect("moved");
        assert_eq!(moved.values().sum::<u32>(), 10);
        assert!(
            moved["m1"] >= 2 && moved["m2"] >= 4,
            "only m3's replicas move: {moved:?}"
        );
    }

    #[test]
    fn the_same_inputs_give_the_same_result() {
        let s = shares(&[("z", 1.0), ("y", 1.0), ("x", 1.0), ("w", 1.0)]);
        let first = divide(7, &s).expect("7");
        for _ in 0..20 {
            assert_eq!(divide(7, &s).expect("7"), first);
        }
    }

    #[test]
    fn aggregated_uses_the_fewest_clusters() {
        let mut s = shares(&[("a", 1.0), ("b", 1.0), ("c", 1.0)]);
        s.get_mut("a").expect("a").cap = Some(4);
        s.get_mut("b").expect("b").cap = Some(10);
        s.get_mut("c").expect("c").cap = Some(6);
        assert_eq!(
            counts(&aggregate(8, &s, &BTreeMap::new()).expect("8")),
            [("b", 8)]
        );
        assert_eq!(
            counts(&aggregate(14, &s, &BTreeMap::new()).expect("14")),
            [("b", 10), ("c", 4)]
        );
        // Where it already runs comes first.
        let previous: BTreeMap<String, u32> = [("c".to_string(), 6)].into();
        assert_eq!(
            counts(&aggregate(8, &s, &previous).expect("8")),
            [("b", 2), ("c", 6)]
        );
    }
}
