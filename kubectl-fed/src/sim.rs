//! `kubectl fed sim`: one simulated member cluster as its own process, and
//! `kubectl fed sim fault` to make running members misbehave.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use member_sim::control::{self, Controlled};
use member_sim::{Fault, MemberConfig};
use serde_json::json;
use tokio::sync::watch;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: Option<SimCommand>,
    #[command(flatten)]
    pub member: MemberArgs,
}

/// One member cluster's settings.
#[derive(Debug, Args)]
pub struct MemberArgs {
    /// The member's name (its kubeconfig context; nodes are NAME-node-1..N).
    #[arg(long, required = true)]
    pub name: Option<String>,
    /// Address to serve HTTPS on (port 0 picks a free port).
    #[arg(long, required = true)]
    pub listen: Option<SocketAddr>,
    /// Directory for the member's CA, certificate, token and kubeconfig
    /// (its objects live in memory only).
    #[arg(long, required = true)]
    pub data_dir: Option<PathBuf>,
    /// Pods the member has room for; replicas beyond it stay unready.
    #[arg(long, default_value_t = 110)]
    pub capacity_pods: u32,
    /// Node objects to spread the capacity over.
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    /// Region (node label topology.kubernetes.io/region).
    #[arg(long)]
    pub region: Option<String>,
    /// Zone (node label topology.kubernetes.io/zone).
    #[arg(long)]
    pub zone: Option<String>,
    /// Milliseconds from scheduling a pod to it being ready.
    #[arg(long, default_value_t = 1000)]
    pub startup_delay_ms: u64,
    /// Also write Pod objects for the simulated pods (`kubectl get pods`).
    #[arg(long)]
    pub pods: bool,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Make a simulated member misbehave (or heal it). Members started by
    /// `kubectl fed up` are found through its data dir.
    Fault(FaultArgs),
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    /// The member (`member-1`, ...).
    pub name: String,
    /// down: connections refused; partition: connections hang; latency:
    /// every request delayed; errors: a share of requests answered 500;
    /// heal: back to normal.
    #[arg(long, value_parser = ["down", "partition", "latency", "errors", "heal"])]
    pub mode: String,
    /// Added delay per request, for --mode latency.
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Share of requests (0 to 1) answered 500, for --mode errors (default 1).
    #[arg(long)]
    pub error_rate: Option<f64>,
    /// Data dir of the running `kubectl fed up` (or `sim`).
    #[arg(long, default_value = "./.flotilla")]
    pub data_dir: PathBuf,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    match args.command {
        Some(SimCommand::Fault(fault)) => inject(fault).await,
        None => serve(args.member).await,
    }
}

async fn inject(args: FaultArgs) -> anyhow::Result<()> {
    let fault = Fault::parse(&args.mode, args.latency_ms, args.error_rate)?;
    let answer = control::request(
        &args.data_dir,
        &json!({"op": "fault", "member": args.name, "fault": fault.to_json()}),
    )
    .await?;
    println!(
        "{}",
        answer["message"].as_str().unwrap_or("fault injection set")
    );
    Ok(())
}

async fn serve(args: MemberArgs) -> anyhow::Result<()> {
    let (Some(name), Some(listen), Some(data_dir)) = (args.name, args.listen, args.data_dir) else {
        anyhow::bail!("--name, --listen and --data-dir are required");
    };
    let config = MemberConfig {
        name,
        data_dir: data_dir.clone(),
        listen,
        capacity_pods: args.capacity_pods,
        nodes: args.nodes,
        region: args.region,
        zone: args.zone,
        startup_delay: Duration::from_millis(args.startup_delay_ms),
        pods: args.pods,
    };
    let member = member_sim::start(config).await?;
    let (stop, stopped) = watch::channel(false);
    let control = control::serve(
        &data_dir,
        vec![Controlled {
            name: member.name.clone(),
            addr: member.addr,
            faults: member.faults.clone(),
        }],
        stopped,
    )
    .context("starting the control socket")?;
    println!(
        "member {} serving on {} (kubeconfig: {}, capacity {} pods)",
        member.name,
        federation_apiserver::kubeconfig::server_url(member.addr),
        member.kubeconfig.display(),
        member.config.capacity_pods
    );
    federation_apiserver::server::shutdown_signal().await;
    let _ = stop.send(true);
    member.shutdown().await;
    let _ = control.await;
    Ok(())
}
