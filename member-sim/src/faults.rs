//! Fault injection for a simulated member: what `kubectl fed sim fault`
//! switches on and off.
//!
//! | mode | what clients see |
//! |---|---|
//! | `down` | connections are refused (the listening socket is closed) and open connections drop |
//! | `partition` | connections and requests hang: new connections get no TLS handshake, requests get no answer and open watches stop delivering, until healed |
//! | `latency` | every request is answered `latency-ms` later |
//! | `errors` | a share (`error-rate`, 0–1) of requests get a 500 `Status` |
//! | `heal` | none of the above |
//!
//! The first two act on connections (through the API server's
//! [`ConnectionGate`]), the others on requests (an axum layer outside all
//! of the API server's own layers, so `/readyz` is affected too).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use federation_apiserver::status::ApiError;
use federation_apiserver::tls::ConnectionGate;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::watch;

/// The fault a member is playing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Fault {
    /// Healthy.
    #[default]
    None,
    Down,
    Partition,
    Latency(Duration),
    /// The share of requests answered with 500, in `[0, 1]`.
    Errors(f64),
}

/// A fault request that cannot be carried out.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultError {
    #[error("unknown fault mode {0:?}: use down, partition, latency, errors or heal")]
    UnknownMode(String),
    #[error("--mode latency needs --latency-ms N (milliseconds, at least 1)")]
    MissingLatency,
    #[error("--error-rate must be a number from 0 to 1, got {0}")]
    BadErrorRate(f64),
}

impl Fault {
    /// A fault from the command line's `--mode`, `--latency-ms` and `--error-rate`.
    /// `errors` without a rate fails every request.
    pub fn parse(
        mode: &str,
        latency_ms: Option<u64>,
        error_rate: Option<f64>,
    ) -> Result<Self, FaultError> {
        match mode {
            "heal" => Ok(Fault::None),
            "down" => Ok(Fault::Down),
            "partition" => Ok(Fault::Partition),
            "latency" => match latency_ms {
                Some(ms) if ms > 0 => Ok(Fault::Latency(Duration::from_millis(ms))),
                _ => Err(FaultError::MissingLatency),
            },
            "errors" => {
                let rate = error_rate.unwrap_or(1.0);
                if (0.0..=1.0).contains(&rate) {
                    Ok(Fault::Errors(rate))
                } else {
                    Err(FaultError::BadErrorRate(rate))
                }
            }
            other => Err(FaultError::UnknownMode(other.to_string())),
        }
    }

    /// The JSON form used by the control socket.
    pub fn to_json(self) -> Value {
        match self {
            Fault::None => json!({"mode": "heal"}),
            Fault::Down => json!({"mode": "down"}),
            Fault::Partition => json!({"mode": "partition"}),
            Fault::Latency(d) => json!({"mode": "latency", "latencyMs": d.as_millis() as u64}),
            Fault::Errors(rate) => json!({"mode": "errors", "errorRate": rate}),
        }
    }

    pub fn from_json(value: &Value) -> Result<Self, FaultError> {
        let mode = value.get("mode").and_then(Value::as_str).unwrap_or("");
        Fault::parse(
            mode,
            value.get("latencyMs").and_then(Value::as_u64),
            value.get("errorRate").and_then(Value::as_f64),
        )
    }

    fn gate(self) -> ConnectionGate {
        match self {
            Fault::Down => ConnectionGate::Closed,
            Fault::Partition => ConnectionGate::Hold,
            _ => ConnectionGate::Open,
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::None => write!(f, "healthy"),
            Fault::Down => write!(f, "down (connections refused)"),
            Fault::Partition => write!(f, "partitioned (connections hang)"),
            Fault::Latency(d) => write!(f, "{} ms of added latency", d.as_millis()),
            Fault::Errors(rate) => write!(f, "answering {:.0}% of requests with 500", rate * 100.0),
        }
    }
}

/// Switches one member's faults; cheap to clone.
#[derive(Clone)]
pub struct FaultInjector {
    member: Arc<str>,
    fault: Arc<watch::Sender<Fault>>,
    gate: Arc<watch::Sender<ConnectionGate>>,
}

impl FaultInjector {
    pub fn new(member: &str) -> Self {
        FaultInjector {
            member: member.into(),
            fault: Arc::new(watch::channel(Fault::None).0),
            gate: Arc::new(watch::channel(ConnectionGate::Open).0),
        }
    }

    /// Puts `fault` in force at once (replacing the previous one).
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
        self.gate.send_replace(fault.gate());
        tracing::info!(member = %self.member, %fault, "fault injection");
    }

    pub fn current(&self) -> Fault {
        *self.fault.borrow()
    }

    /// The connection gate for the member's accept loop.
    pub fn gate(&self) -> watch::Receiver<ConnectionGate> {
        self.gate.subscribe()
    }

    /// Wraps the member's whole service with the request-level faults.
    pub fn wrap(&self) -> Box<dyn FnOnce(Router) -> Router + Send> {
        let injector = self.clone();
        Box::new(move |router: Router| {
            router.layer(middleware::from_fn_with_state(injector, inject))
        })
    }
}

async fn inject(State(injector): State<FaultInjector>, request: Request, next: Next) -> Response {
    let mut fault = injector.fault.subscribe();
    let current = *fault.borrow_and_update();
    match current {
        Fault::Partition => {
            let _ = fault.wait_for(|f| *f != Fault::Partition).await;
        }
        Fault::Latency(delay) => tokio::time::sleep(delay).await,
        Fault::Errors(rate) if rand::random::<f64>() < rate => {
            return ApiError::internal(format!(
                "simulated fault: member {} answers {:.0}% of requests with errors \
                 (kubectl fed sim fault {} --mode heal clears it)",
                injector.member,
                rate * 100.0,
                injector.member
            ))
            .into_response();
        }
        _ => {}
    }
    let is_watch = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let response = next.run(request).await;
    if !is_watch {
        return response;
    }
    // An open watch stops delivering while the member is partitioned.
    let (parts, body) = response.into_parts();
    let frames = body.into_data_stream().then(move |frame| {
        let mut fault = fault.clone();
        async move {
            let _ = fault.wait_for(|f| *f != Fault::Partition).await;
            frame
        }
    });
    Response::from_parts(parts, Body::from_stream(frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_with_their_settings() {
        assert_eq!(Fault::parse("heal", None, None), Ok(Fault::None));
        assert_eq!(Fault::parse("down", None, None), Ok(Fault::Down));
        assert_eq!(
            Fault::parse("latency", Some(250), None),
            Ok(Fault::Latency(Duration::from_millis(250)))
        );
        assert_eq!(
            Fault::parse("latency", None, None),
            Err(FaultError::MissingLatency)
        );
        assert_eq!(Fault::parse("errors", None, None), Ok(Fault::Errors(1.0)));
        assert_eq!(
            Fault::parse("errors", None, Some(0.25)),
            Ok(Fault::Errors(0.25))
        );
        assert_eq!(
            Fault::parse("errors", None, Some(2.0)),
            Err(FaultError::BadErrorRate(2.0))
        );
        assert!(matches!(
            Fault::parse("flaky", None, None),
            Err(FaultError::UnknownMode(_))
        ));
    }

    #[test]
    fn json_round_trips() {
        for fault in [
            Fault::None,
            Fault::Down,
            Fault::Partition,
            Fault::Latency(Duration::from_millis(40)),
            Fault::Errors(0.5),
        ] {
            assert_eq!(Fault::from_json(&fault.to_json()), Ok(fault));
        }
    }

    #[test]
    fn connection_faults_drive_the_gate() {
        let injector = FaultInjector::new("m");
        let gate = injector.gate();
        injector.set(Fault::Down);
        assert_eq!(*gate.borrow(), ConnectionGate::Closed);
        injector.set(Fault::Partition);
        assert_eq!(*gate.borrow(), ConnectionGate::Hold);
        injector.set(Fault::Latency(Duration::from_millis(5)));
        assert_eq!(*gate.borrow(), ConnectionGate::Open);
        assert_eq!(injector.current(), Fault::Latency(Duration::from_millis(5)));
    }
}
