//! `kubectl fed`: the federation's own commands.
//!
//! - `up`: a whole local federation in one process ([`up`]).
//! - `sim`: one simulated member cluster, and `sim fault` to make a running
//!   one misbehave ([`sim`]).
//! - `join`/`unjoin`, `cordon`/`uncordon`/`drain`, `rollout`: verbs that
//!   talk to a federation ([`join`], [`maintenance`], [`rollout`]).

pub mod federation;
pub mod join;
pub mod maintenance;
pub mod rollout;
pub mod sim;
pub mod up;

use clap::{Parser, Subcommand};

/// Flotilla's kubectl plugin: run a local federation, simulate member
/// clusters, inject faults.
#[derive(Debug, Parser)]
#[command(name = "kubectl-fed", bin_name = "kubectl fed", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a local federation: the API server (embedded store), the
    /// controller and N simulated member clusters, in one process.
    Up(up::UpArgs),
    /// Run one simulated member cluster as its own process, or (`sim fault`)
    /// inject faults into running ones.
    Sim(sim::SimArgs),
    /// Register a member cluster (real or simulated) through its kubeconfig.
    Join(join::JoinArgs),
    /// Remove a member cluster and its stored credentials.
    Unjoin(join::UnjoinArgs),
    /// Mark a member unschedulable: nothing new is placed there; what it
    /// runs stays.
    Cordon(maintenance::CordonArgs),
    /// Make a cordoned member schedulable again (and end a drain).
    Uncordon(maintenance::CordonArgs),
    /// Move every replica Flotilla placed on a member to the others, new
    /// copies ready before old ones go; returns once the member is empty.
    Drain(maintenance::DrainArgs),
    /// Cross-cluster rollouts: status (per-cluster progress, waits for the
    /// end), pause, resume, undo.
    Rollout(rollout::RolloutArgs),
}

/// Logs to stderr; `RUST_LOG` overrides the default level.
pub fn init_logging(cli: &Cli) {
    let default = match cli.command {
        // A local federation logs what matters, not every member's chatter.
        Command::Up(_) => "warn,kubectl_fed=info",
        Command::Sim(_) => "info",
        _ => "warn",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Up(args) => up::run(args, federation_apiserver::server::shutdown_signal()).await,
        Command::Sim(args) => sim::run(args).await,
        Command::Join(args) => join::join(args).await,
        Command::Unjoin(args) => join::unjoin(args).await,
        Command::Cordon(args) => maintenance::set_unschedulable(args, true).await,
        Command::Uncordon(args) => maintenance::set_unschedulable(args, false).await,
        Command::Drain(args) => maintenance::drain(args).await,
        Command::Rollout(args) => rollout::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
