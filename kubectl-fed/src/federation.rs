//! Reaching the federation from the CLI: a kube-rs client from
//! `--federation-kubeconfig` / `--kubeconfig`, else `KUBECONFIG`, else
//! `~/.kube/config`, with `--context` or the current context, like kubectl.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Which federation to talk to.
#[derive(Debug, Clone, Args)]
pub struct FederationArgs {
    /// The federation's kubeconfig (default: KUBECONFIG, then ~/.kube/config).
    #[arg(
        id = "federation_kubeconfig",
        long = "federation-kubeconfig",
        value_name = "FILE"
    )]
    pub kubeconfig: Option<PathBuf>,
    /// Context of that kubeconfig (default: its current context).
    #[arg(
        id = "federation_context",
        long = "federation-context",
        value_name = "CONTEXT"
    )]
    pub context: Option<String>,
}

impl FederationArgs {
    /// The kubeconfig file in use.
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        if let Some(path) = &self.kubeconfig {
            return Ok(path.clone());
        }
        if let Some(env) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            let first = std::env::split_paths(&env).next();
            if let Some(first) = first {
                return Ok(first);
            }
        }
        match std::env::var_os("HOME") {
            Some(home) => Ok(PathBuf::from(home).join(".kube/config")),
            None => {
                bail!("no federation kubeconfig: pass --federation-kubeconfig or set KUBECONFIG")
            }
        }
    }

    /// A client for the federation API server.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let path = self.path()?;
        let kubeconfig = Kubeconfig::read_from(&path)
            .with_context(|| format!("reading the federation kubeconfig {}", path.display()))?;
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .with_context(|| format!("using the federation kubeconfig {}", path.display()))?;
        Ok(kube::Client::try_from(config)?)
    }
}
