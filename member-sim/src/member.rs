//! One simulated member cluster: the federation API server's library on an
//! in-memory store (same TLS and token scheme, `DIR/kubeconfig` with a
//! context named after the member), its nodes, the simulated workload
//! controllers and fault injection.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use federation_apiserver::rest::registry::Registry;
use federation_apiserver::rest::validation::is_dns1123_label;
use federation_apiserver::server::{self, Embedding, ServerConfig, StartError, StorageKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::faults::FaultInjector;
use crate::nodes::{self, NodeLayout};

/// Default time from scheduling a pod to it being ready.
pub const DEFAULT_STARTUP_DELAY: Duration = Duration::from_secs(1);

/// How to run one member.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// The member's name: its kubeconfig context, and the prefix of its nodes.
    pub name: String,
    /// PKI, admin token and `kubeconfig` (the objects live in memory only).
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Pods the member has room for, over all its nodes.
    pub capacity_pods: u32,
    pub nodes: u32,
    pub region: Option<String>,
    pub zone: Option<String>,
    /// Time from scheduling a pod to it being ready.
    pub startup_delay: Duration,
    /// Write Pod objects for the simulated pods (status counts alone are
    /// what a federation reads; pods cost a write per pod change).
    pub pods: bool,
}

impl MemberConfig {
    /// A member with 110 pods of room on 3 nodes and the default startup delay.
    pub fn new(name: &str, data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        MemberConfig {
            name: name.to_string(),
            data_dir: data_dir.into(),
            listen,
            capacity_pods: 110,
            nodes: 3,
            region: None,
            zone: None,
            startup_delay: DEFAULT_STARTUP_DELAY,
            pods: false,
        }
    }
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("invalid member name {name:?}: {}", problems.join("; "))]
    InvalidName { name: String, problems: Vec<String> },
    #[error("creating {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("member {name}: {source}")]
    Server { name: String, source: StartError },
    #[error("member {name}: writing its nodes: {source}")]
    Nodes {
        name: String,
        source: federation_apiserver::storage::StorageError,
    },
}

/// A running member.
pub struct RunningMember {
    pub name: String,
    /// The bound address (the real port when `listen` had port 0).
    pub addr: SocketAddr,
    /// `DATA_DIR/kubeconfig`, context = the member's name.
    pub kubeconfig: PathBuf,
    pub faults: FaultInjector,
    pub config: MemberConfig,
    stop: watch::Sender<bool>,
    server: server::RunningServer,
    controller: JoinHandle<()>,
}

impl RunningMember {
    /// Stops serving and the workload controllers; resolves once both ended.
    pub async fn shutdown(self) {
        // A member that is down or partitioned still shuts down promptly.
        self.faults.set(crate::faults::Fault::None);
        let _ = self.stop.send(true);
        let _ = self.server.wait().await;
        let _ = self.controller.await;
    }
}

/// Starts a member: resolves once it serves and its kubeconfig is written.
pub async fn start(config: MemberConfig) -> Result<RunningMember, MemberError> {
    let problems = is_dns1123_label(&config.name);
    if !problems.is_empty() {
        return Err(MemberError::InvalidName {
            name: config.name.clone(),
            problems,
        });
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|source| MemberError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let (stop, stopped) = watch::channel(false);
    let faults = FaultInjector::new(&config.name);
    let mut server_config = ServerConfig::new(&config.data_dir, config.listen);
    server_config.storage = StorageKind::Memory;
    // Members keep a small event window: they serve a few watchers each.
    server_config.watch_cache_events = 2_000;
    server_config.watch_cache_mib = 16;
    server_config.storage_event_buffer = 1024;
    let shutdown = {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let embedding = Embedding {
        context: Some(config.name.clone()),
        wrap: Some(faults.wrap()),
        gate: Some(faults.gate()),
    };
    let running = server::start_embedded(server_config, Registry::member(), shutdown, embedding)
        .await
        .map_err(|source| MemberError::Server {
            name: config.name.clone(),
            source,
        })?;
    let storage = running.api.storage.clone();
    let layout = NodeLayout {
        member: config.name.clone(),
        capacity_pods: config.capacity_pods,
        nodes: config.nodes.clamp(1, config.capacity_pods.max(1)),
        region: config.region.clone(),
        zone: config.zone.clone(),
    };
    nodes::ensure(storage.as_ref(), &layout)
        .await
        .map_err(|source| MemberError::Nodes {
            name: config.name.clone(),
            source,
        })?;
    let settings = crate::controller::Settings {
        startup: config.startup_delay,
        pods: config.pods,
    };
    let controller = tokio::spawn(crate::controller::run(storage, settings, stopped));
    tracing::info!(member = %config.name, addr = %running.addr, capacity = config.capacity_pods,
        "simulated member cluster serving");
    Ok(RunningMember {
        name: config.name.clone(),
        addr: running.addr,
        kubeconfig: running.kubeconfig.clone(),
        faults,
        config,
        stop,
        server: running,
        controller,
    })
}
