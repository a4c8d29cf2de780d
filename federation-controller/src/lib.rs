//! Flotilla's federated controller manager.
//!
//! It talks to the federation API server only through the Kubernetes API
//! (kube-rs), never to its storage. Each controller lives in its own module
//! folder (`reconcile`, `error_policy`, a `Context`, an `Error` enum), in the
//! kube-runtime style. The controllers themselves — cluster health,
//! scheduler, sync, status, rollout — arrive with their issues; today the
//! manager connects, checks the server, and runs until told to stop.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

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

/// Where the federation API server is.
#[derive(Debug, Clone, clap::Args)]
pub struct ManagerConfig {
    /// Kubeconfig of the federation API server.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// Context to use (default: the kubeconfig's current context).
    #[arg(long)]
    pub context: Option<String>,
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

/// Connects to the federation and runs until `shutdown` resolves.
pub async fn run(
    config: ManagerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    let client = federation_client(&config).await?;
    let version = client.apiserver_version().await?;
    tracing::info!(server = %version.git_version, "connected to the federation API server");
    shutdown.await;
    tracing::info!("controller manager stopped");
    Ok(())
}
