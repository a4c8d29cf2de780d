//! The driver of the simulated workload controllers: reads workloads and
//! nodes from the member's store, steps the [`Simulation`], and writes the
//! statuses that changed.
//!
//! # Guarantees
//! - Level-triggered: every pass lists the current objects; watch events
//!   and timers only say *when* to pass again. A missed or repeated event
//!   changes nothing.
//! - Statuses are written with compare-and-swap on the resourceVersion the
//!   pass read; a conflict (someone wrote in between) is left to the next
//!   pass, which the conflicting write's own event triggers.
//! - Idle members cost nothing: the task sleeps until an event or the next
//!   instant a pod or deadline changes by itself.
//!
//! # Caveats
//! Status writes go straight to the store (as kube-controller-manager's would
//! go through `/status`): they record no managedFields entry.

use std::sync::Arc;
use std::time::Duration;

use federation_apiserver::storage::{revision_of, ListOptions, Storage, StorageError, WatchStream};
use futures::stream::{select_all, StreamExt};
use futures::FutureExt as _;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::nodes::{self, NODES_PREFIX};
use crate::workloads::pods::Millis;
use crate::workloads::spec::WallClock;
use crate::workloads::{Kind, NodeView, Simulation};

/// Errors of one controller pass (the driver logs them and retries).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("member store: {0}")]
    Storage(#[from] StorageError),
}

/// The controller's clock: simulation milliseconds and wall time.
struct Clock {
    origin: Instant,
    wall: WallClock,
}

impl Clock {
    fn new() -> Self {
        Clock {
            origin: Instant::now(),
            wall: WallClock {
                origin: chrono::Utc::now(),
            },
        }
    }

    fn now(&self) -> Millis {
        self.origin.elapsed().as_millis() as Millis
    }

    fn instant(&self, ms: Millis) -> Instant {
        self.origin + Duration::from_millis(ms)
    }
}

/// Settings of the workload controllers.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Time from scheduling a pod to it being ready.
    pub startup: Duration,
    /// Write Pod objects for the simulated pods.
    pub pods: bool,
}

/// Runs the workload controllers of one member until `shutdown` turns true.
pub async fn run(
    storage: Arc<dyn Storage>,
    settings: Settings,
    mut shutdown: watch::Receiver<bool>,
) {
    let startup = settings.startup;
    let clock = Clock::new();
    let mut sim = Simulation::new(startup.as_millis() as Millis);
    while !*shutdown.borrow() {
        let mut events = match subscribe(storage.as_ref()).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "workload controller cannot watch; retrying");
                tokio::select! {
                    _ = shutdown.changed() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let wake = match pass(storage.as_ref(), &mut sim, &clock, settings.pods).await {
                Ok(wake) => wake.map(|ms| clock.instant(ms)),
                Err(e) => {
                    tracing::warn!(error = %e, "workload controller pass failed");
                    Some(Instant::now() + Duration::from_millis(500))
                }
            };
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
                () = sleep => {}
                event = events.next() => match event {
                    Some(Ok(_)) => {
                        // Coalesce a burst of events into one pass.
                        while let Some(Some(Ok(_))) = events.next().now_or_never() {}
                    }
                    // The watch ended or fell behind: subscribe again.
                    _ => break,
                },
            }
        }
    }
}

/// One merged watch over the workload kinds and nodes, from now on.
async fn subscribe(storage: &dyn Storage) -> Result<WatchStream, StorageError> {
    let revision = storage.current_revision().await?;
    let mut streams = Vec::new();
    for prefix in Kind::ALL
        .iter()
        .map(|k| k.key_prefix())
        .chain([NODES_PREFIX])
    {
        streams.push(storage.watch(prefix, revision).await?);
    }
    Ok(Box::pin(select_all(streams)))
}

/// Reads the objects, steps the simulation, writes changed statuses, and
/// returns when the next pass is due by time alone.
async fn pass(
    storage: &dyn Storage,
    sim: &mut Simulation,
    clock: &Clock,
    pods: bool,
) -> Result<Option<Millis>, Error> {
    let everything = ListOptions::default();
    let mut objects = Vec::new();
    for kind in Kind::ALL {
        let list = storage.list(kind.key_prefix(), &everything).await?;
        objects.extend(
            list.items
                .into_iter()
                .map(|(key, object)| (kind, key, object.value().clone())),
        );
    }
    let nodes: Vec<NodeView> = storage
        .list(NODES_PREFIX, &everything)
        .await?
        .items
        .iter()
        .map(|(_, node)| nodes::view(node))
        .collect();
    let now = clock.now();
    sim.sync(objects, now);
    sim.step(&nodes, now);
    let writes: Vec<(String, Value)> = sim
        .statuses(&nodes, now, &clock.wall)
        .filter(|(_, object, status)| object.get("status") != Some(status))
        .map(|(key, object, status)| {
            let mut updated = object.clone();
            updated["status"] = status;
            (key.to_string(), updated)
        })
        .collect();
    for (key, object) in writes {
        let expected = revision_of(&object);
        match storage.update(&key, expected, object).await {
            Ok(_) | Err(StorageError::Conflict { .. }) | Err(StorageError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if pods {
        crate::pod_objects::sync(storage, sim, &nodes, &clock.wall).await?;
    }
    Ok(sim.next_change(now))
}
