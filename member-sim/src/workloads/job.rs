//! Jobs: up to `parallelism` pods at a time until `completions` succeed.
//! A pod runs for the member's startup delay, then for its run time
//! (annotation `sim.flotilla.io/run-seconds` on the Job, default: the
//! startup delay again), then succeeds — or fails, if its image is tagged
//! `bad`. More than `backoffLimit` failures fail the Job; so does running
//! longer than `activeDeadlineSeconds`.

use serde_json::{json, Map, Value};

use super::pods::{remove_pods, Millis, Phase, SimPod};
use super::spec::{self, Condition, WallClock};
use super::Env;

/// Annotation with a Job's simulated pod run time, in seconds.
pub const RUN_SECONDS_ANNOTATION: &str = "sim.flotilla.io/run-seconds";

/// A Job's counters (its pods leave once they finish).
#[derive(Debug, Clone, Default)]
pub struct State {
    succeeded: u32,
    failed: u32,
    started_at: Option<Millis>,
    finished: Option<(Millis, Outcome)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Complete,
    BackoffLimitExceeded,
    DeadlineExceeded,
}

fn completions(object: &Value) -> u32 {
    spec::int_at(object, "/spec/completions", 1).max(0) as u32
}

fn parallelism(object: &Value) -> u32 {
    spec::int_at(object, "/spec/parallelism", 1).max(0) as u32
}

fn suspended(object: &Value) -> bool {
    object
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn run_time(object: &Value, startup: Millis) -> Millis {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(RUN_SECONDS_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| (s * 1000.0) as Millis)
        .unwrap_or(startup)
}

fn active_deadline(object: &Value) -> Option<Millis> {
    object
        .pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .map(|s| s.max(0) as Millis * 1000)
}

pub fn reconcile(state: &mut State, object: &Value, pods: &mut Vec<SimPod>, env: &mut Env) -> bool {
    let now = env.now;
    let run = run_time(object, env.startup);
    let mut changed = false;
    // Pods finish: crashing ones fail, running ones succeed after their run.
    for pod in pods.iter_mut() {
        match pod.phase {
            Phase::CrashLooping => {
                pod.phase = Phase::Failed;
                changed = true;
            }
            Phase::Ready { since } if since + run <= now => {
                pod.phase = Phase::Succeeded;
                changed = true;
            }
            _ => {}
        }
    }
    state.succeeded += pods.iter().filter(|p| p.phase == Phase::Succeeded).count() as u32;
    state.failed += pods.iter().filter(|p| p.phase == Phase::Failed).count() as u32;
    pods.retain(|p| !p.terminal());

    if state.finished.is_none() {
        let backoff = spec::int_at(object, "/spec/backoffLimit", 6).max(0) as u32;
        let outcome = if state.succeeded >= completions(object) {
            Some(Outcome::Complete)
        } else if state.failed > backoff {
            Some(Outcome::BackoffLimitExceeded)
        } else {
            match (state.started_at, active_deadline(object)) {
                (Some(start), Some(limit)) if start + limit <= now => {
                    Some(Outcome::DeadlineExceeded)
                }
                _ => None,
            }
        };
        if let Some(outcome) = outcome {
            state.finished = Some((now, outcome));
            changed = true;
        }
    }
    if state.finished.is_some() || suspended(object) {
        changed |= remove_pods(pods, pods.len(), |_| true) > 0;
        return changed;
    }
    let remaining = completions(object).saturating_sub(state.succeeded) as usize;
    let wanted = (parallelism(object) as usize).min(remaining);
    if pods.len() < wanted {
        let template = object.pointer("/spec/template");
        let revision = spec::template_hash(template);
        for _ in pods.len()..wanted {
            pods.push(env.new_pod(revision, 0, spec::has_bad_image(template)));
        }
        state.started_at.get_or_insert(now);
        changed = true;
    }
    changed
}

/// When a running pod finishes or the active deadline passes.
pub fn next_change(
    state: &State,
    object: &Value,
    pods: &[SimPod],
    startup: Millis,
) -> Option<Millis> {
    if state.finished.is_some() {
        return None;
    }
    let run = run_time(object, startup);
    let finishing = pods.iter().filter_map(|p| match p.phase {
        Phase::Ready { since } => Some(since + run),
        _ => None,
    });
    let deadline = match (state.started_at, active_deadline(object)) {
        (Some(start), Some(limit)) => Some(start + limit),
        _ => None,
    };
    finishing.chain(deadline).min()
}

pub fn status(
    state: &State,
    object: &Value,
    pods: &[SimPod],
    now: Millis,
    wall: &WallClock,
) -> Value {
    let mut status = Map::new();
    if let Some(start) = state.started_at {
        status.insert("startTime".into(), json!(wall.at(start)));
    }
    spec::put_count(&mut status, "active", pods.len() as u32);
    spec::put_count(
        &mut status,
        "ready",
        pods.iter().filter(|p| p.ready()).count() as u32,
    );
    spec::put_count(&mut status, "succeeded", state.succeeded);
    spec::put_count(&mut status, "failed", state.failed);
    let previous = object.get("status").cloned().unwrap_or(Value::Null);
    if let Some((at, outcome)) = state.finished {
        let when = wall.at(at);
        let conditions = match outcome {
            Outcome::Complete => {
                status.insert("completionTime".into(), json!(when));
                vec![
                    condition(
                        "SuccessCriteriaMet",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    ),
                    condition(
                        "Complete",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    ),
                ]
            }
            Outcome::BackoffLimitExceeded => vec![
                condition(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
                condition(
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
            ],
            Outcome::DeadlineExceeded => vec![
                condition(
                    "FailureTarget",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                ),
                condition(
                    "Failed",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                ),
            ],
        };
        status.insert(
            "conditions".into(),
            spec::conditions(&previous, conditions, &when),
        );
    } else if suspended(object) {
        let conditions = vec![Condition {
            type_: "Suspended",
            status: "True",
            reason: "JobSuspended",
            message: "Job suspended".into(),
            last_update: None,
        }];
        status.insert(
            "conditions".into(),
            spec::conditions(&previous, conditions, &wall.at(now)),
        );
    }
    Value::Object(status)
}

fn condition(type_: &'static str, reason: &'static str, message: &str) -> Condition<'static> {
    Condition {
        type_,
        status: "True",
        reason,
        message: message.to_string(),
        last_update: None,
    }
}
