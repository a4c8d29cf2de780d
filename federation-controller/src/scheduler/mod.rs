//! The scheduler: template + policy + clusters → ResourceBinding.
//!
//! [`placement`] is the pure decision (filters, spread, division, steady
//! adjustment), [`divide`] the apportionment arithmetic, [`filters`] the
//! cluster predicates.

pub mod controller;
pub mod divide;
pub mod filters;
pub mod placement;
pub mod policy_match;

#[cfg(test)]
#[path = "tests_placement.rs"]
mod tests_placement;
