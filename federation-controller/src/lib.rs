//! Flotilla's federated controller manager.
//!
//! It talks to the federation API server only through the Kubernetes API
//! (kube-rs), never to its storage, and to member clusters through their
//! own API servers. Each controller lives in its own module folder
//! (`reconcile`, `error_policy`, a `Context`, an `Error` enum), in the
//! kube-runtime style:
//!
//! - [`cluster`]: health, latency and capacity of member clusters.
//! - [`scheduler`]: template + policy + clusters → ResourceBinding.
//! - [`sync`]: ResourceBinding → member objects → status back up.
//!
//! Several replicas may run: [`leader`] elects one through a Lease in
//! `flotilla-system`, and only the leader runs the controllers.

pub mod caches;
pub mod cluster;
pub mod kinds;
pub mod leader;
pub mod members;
pub mod scheduler;
pub mod sync;

use std::path::PathBuf;
use std::time::Duration;

use federation_proto::SYSTEM_NAMESPACE;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Api;
use tokio::sync::watch;

use leader::stopped;

/// The Lease the replicas compete for (in `flotilla-system`).
pub const LEASE_NAME: &str = "flotilla-controller-manager";

/// Errors that stop the controller manager.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("building a client from the kubeconfig: {0}")]
    Client(#[from] kube::Error),
}

/// Where the federation API server is, and how this replica competes.
#[derive(Debug, Clone, clap::Args)]
pub struct ManagerConfig {
    /// Kubeconfig of the federation API server.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// Context to use (default: the kubeconfig's current context).
    #[arg(long)]
    pub context: Option<String>,
    /// This replica's name in the leader Lease (default: host name and pid).
    #[arg(long)]
    pub identity: Option<String>,
    /// Seconds a leader's Lease lasts without renewal before another replica
    /// may take over.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// Seconds between the leader's renewals (and between followers' polls).
    #[arg(long, default_value_t = 2)]
    pub lease_renew_seconds: u64,
}

impl ManagerConfig {
    /// A config for `kubeconfig`'s current context with default settings.
    pub fn new(kubeconfig: impl Into<PathBuf>) -> Self {
        ManagerConfig {
            kubeconfig: kubeconfig.into(),
            context: None,
            identity: None,
            lease_duration_seconds: 15,
            lease_renew_seconds: 2,
        }
    }

    /// The identity written into the Lease.
    pub fn identity(&self) -> String {
        self.identity.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "flotilla".into());
            format!("{host}-{}", std::process::id())
        })
    }

    fn lease(&self) -> leader::LeaseSettings {
        let duration = Duration::from_secs(self.lease_duration_seconds.max(1));
        let renew = Duration::from_secs(self.lease_renew_seconds.max(1)).min(duration / 2);
        leader::LeaseSettings {
            namespace: SYSTEM_NAMESPACE.to_string(),
            name: LEASE_NAME.to_string(),
            identity: self.identity(),
            lease_duration: duration,
            renew_period: renew,
            // Step down well before anyone else may take over.
            renew_deadline: duration.mul_f64(2.0 / 3.0),
            poll_period: Duration::from_millis(250).min(renew),
        }
    }
}

/// A kube-rs client for the federation API server.
pub async fn federation_client(config: &ManagerConfig) -> Result<kube::Client, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig =
        Kubeconfig::read_from(&config.kubeconfig).map_err(|source| Error::Kubeconfig {
            path: config.kubeconfig.clone(),
            source,
        })?;
    let options = KubeConfigOptions {
        context: config.context.clone(),
        ..Default::default()
    };
    let client_config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| Error::Kubeconfig {
            path: config.kubeconfig.clone(),
            source,
        })?;
    Ok(kube::Client::try_from(client_config)?)
}

/// Creates `flotilla-system` if it does not exist.
pub async fn ensure_system_namespace(client: &kube::Client) -> Result<(), kube::Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(SYSTEM_NAMESPACE.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    match namespaces.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Every controller, until `stop` turns true.
pub async fn run_controllers(client: kube::Client, identity: String, stop: watch::Receiver<bool>) {
    let caches = caches::Caches::start(&client, stop.clone()).await;
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(cluster::run(client.clone(), identity, stop.clone()));
    // The sync's binding reflector; the scheduler reads it too.
    let (bindings, binding_writer) = kube::runtime::reflector::store();
    tasks.spawn(sync::run(
        client.clone(),
        caches.clone(),
        binding_writer,
        stop.clone(),
    ));
    for kind in kinds::KINDS {
        tasks.spawn(scheduler::controller::run(
            client.clone(),
            kind,
            caches.clone(),
            bindings.clone(),
            stop.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

/// Connects to the federation and runs until `shutdown` resolves: campaigns
/// for leadership, runs the controllers while leading, and releases the
/// Lease on the way out.
pub async fn run(
    config: ManagerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    let client = federation_client(&config).await?;
    let version = client.apiserver_version().await?;
    tracing::info!(server = %version.git_version, "connected to the federation API server");
    let (stop_tx, mut stop) = watch::channel(false);
    let manager = async {
        // The namespace may not be creatable yet (server starting): retry.
        while let Err(e) = ensure_system_namespace(&client).await {
            tracing::warn!(error = %e, "creating {SYSTEM_NAMESPACE}; retrying");
            tokio::select! {
                () = stopped(&mut stop) => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        let settings = config.lease();
        let identity = settings.identity.clone();
        let mut elector = leader::LeaderElector::new(client.clone(), settings);
        loop {
            tracing::info!(%identity, "waiting for leadership");
            if !elector.acquire(&mut stop).await {
                return;
            }
            tracing::info!(%identity, "leading: starting controllers");
            let (lead_tx, leading) = watch::channel(false);
            let controllers =
                tokio::spawn(run_controllers(client.clone(), identity.clone(), leading));
            let lost = elector.hold(&mut stop).await;
            let _ = lead_tx.send(true);
            let _ = controllers.await;
            if !lost {
                return;
            }
        }
    };
    let mut manager = std::pin::pin!(manager);
    tokio::select! {
        () = &mut manager => {}
        () = shutdown => {
            let _ = stop_tx.send(true);
            manager.await;
        }
    }
    tracing::info!("controller manager stopped");
    Ok(())
}
