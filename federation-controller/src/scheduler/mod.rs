//! The scheduler: template + policy + clusters → ResourceBinding.
//!
//! [`placement`] is the pure decision (filters, spread, division, steady
//! adjustment), [`divide`] the apportionment arithmetic, [`filters`] the
//! cluster predicates.

pub mod divide;
pub mod filters;
pub mod placement;

#[cfg(test)]
#[path = "tests_placement.rs"]
mod tests_placement;
