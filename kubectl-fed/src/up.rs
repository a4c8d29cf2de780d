//! `kubectl fed up`: a whole federation in one process — the federation API
//! server on the embedded store, the controller, and N simulated member
//! clusters — with one kubeconfig holding a context for each.
//!
//! # Guarantees
//! - `DIR/kubeconfig` has the current context `flotilla` (the federation)
//!   and one context per member (`member-1`, ...), written before the ready
//!   line is printed.
//! - Restarting on the same data dir keeps the federation's data (redb),
//!   its credentials and the members' credentials; members get their old
//!   ports back when those are still free.
//! - Ctrl-C (or SIGTERM) stops everything and removes the control socket.
//!
//! # Caveats
//! Simulated members keep their objects in memory: after a restart they
//! start empty, as a cluster rebuilt from scratch would.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use federation_apiserver::kubeconfig::{Kubeconfig, DEFAULT_CONTEXT, KUBECONFIG_FILE};
use federation_apiserver::server::{self, ServerConfig};
use member_sim::control::{self, Controlled};
use member_sim::{MemberConfig, RunningMember};
use tokio::sync::watch;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Simulated member clusters to run (0: just the federation).
    #[arg(long, default_value_t = 3)]
    pub members: u32,
    /// Directory for the federation's database, credentials and kubeconfig.
    #[arg(long, default_value = "./.flotilla")]
    pub data_dir: PathBuf,
    /// Address of the federation API server (members listen on the same IP).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Milliseconds from scheduling a pod to it being ready, in every member.
    #[arg(long, default_value_t = 1000)]
    pub startup_delay_ms: u64,
    /// Members also write Pod objects for their simulated pods.
    #[arg(long)]
    pub pods: bool,
}

/// Regions the members are spread over, in turn.
pub const REGIONS: [&str; 3] = ["us-east", "eu-west", "ap-south"];
/// Pod capacities of the members, in turn (distinct, so placement by
/// available room has something to choose).
pub const CAPACITIES: [u32; 5] = [100, 80, 60, 120, 40];

/// The settings of member `index` (1-based) of a federation in `dir`.
pub fn member_config(
    dir: &Path,
    index: u32,
    ip: std::net::IpAddr,
    startup: Duration,
) -> MemberConfig {
    let name = format!("member-{index}");
    let slot = (index - 1) as usize;
    let region = REGIONS[slot % REGIONS.len()];
    let zone = format!("{region}-{}", ['a', 'b', 'c'][(slot / REGIONS.len()) % 3]);
    let data_dir = dir.join("members").join(&name);
    let listen = previous_port(&data_dir)
        .map(|port| SocketAddr::new(ip, port))
        .filter(|addr| std::net::TcpListener::bind(addr).is_ok())
        .unwrap_or(SocketAddr::new(ip, 0));
    let mut config = MemberConfig::new(&name, data_dir, listen);
    config.capacity_pods = CAPACITIES[slot % CAPACITIES.len()];
    config.region = Some(region.to_string());
    config.zone = Some(zone);
    config.startup_delay = startup;
    config
}

const PORT_FILE: &str = "port";

fn previous_port(member_dir: &Path) -> Option<u16> {
    std::fs::read_to_string(member_dir.join(PORT_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Runs the federation until `shutdown` resolves.
pub async fn run(args: UpArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = &args.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    if std::os::unix::net::UnixStream::connect(dir.join(control::SOCKET_FILE)).is_ok() {
        bail!(
            "a federation is already running from {} (stop it, or use another --data-dir)",
            dir.display()
        );
    }
    let (stop, stopped) = watch::channel(false);
    let when_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let federation = server::start(
        ServerConfig::new(&dir, args.listen),
        federation_apiserver::flotilla_kinds::federation_registry(),
        when_stopped(stopped.clone()),
    )
    .await
    .context("starting the federation API server")?;

    let startup = Duration::from_millis(args.startup_delay_ms);
    let mut members: Vec<RunningMember> = Vec::new();
    for index in 1..=args.members {
        let mut config = member_config(&dir, index, federation.addr.ip(), startup);
        config.pods = args.pods;
        let member = member_sim::start(config).await?;
        std::fs::write(
            member.config.data_dir.join(PORT_FILE),
            member.addr.port().to_string(),
        )?;
        members.push(member);
    }

    let kubeconfig_path = dir.join(KUBECONFIG_FILE);
    write_kubeconfig(&kubeconfig_path, &members)?;
    let controlled = members
        .iter()
        .map(|m| Controlled {
            name: m.name.clone(),
            addr: m.addr,
            faults: m.faults.clone(),
        })
        .collect();
    let control = control::serve(&dir, controlled, stopped.clone())?;
    register_members(&kubeconfig_path, &members).await?;
    let controller = tokio::spawn(federation_controller::run(
        federation_controller::ManagerConfig {
            context: Some(DEFAULT_CONTEXT.to_string()),
            identity: Some("kubectl-fed-up".to_string()),
            ..federation_controller::ManagerConfig::new(kubeconfig_path.clone())
        },
        when_stopped(stopped.clone()),
    ));

    println!(
        "{}",
        ready_line(
            federation.addr,
            &members,
            &kubeconfig_path,
            started.elapsed()
        )
    );

    shutdown.await;
    tracing::info!("stopping the federation");
    let _ = stop.send(true);
    for member in members {
        member.shutdown().await;
    }
    if let Ok(Err(e)) = controller.await {
        tracing::warn!(error = %e, "the controller ended with an error");
    }
    let _ = federation.wait().await;
    let _ = control.await;
    Ok(())
}

/// How `up` probes its members: every 2 s (a local federation should react
/// in seconds), 1 s timeout, the default thresholds.
pub fn member_health() -> federation_proto::cluster::HealthSettings {
    federation_proto::cluster::HealthSettings {
        period_seconds: Some(2),
        timeout_seconds: Some(1),
        failure_threshold: None,
        success_threshold: None,
    }
}

/// Registers (or, after a restart, updates) every member as a Cluster.
async fn register_members(kubeconfig: &Path, members: &[RunningMember]) -> anyhow::Result<()> {
    let federation = crate::federation::FederationArgs {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        context: Some(DEFAULT_CONTEXT.to_string()),
    }
    .client()
    .await?;
    for member in members {
        let own = kube::config::Kubeconfig::read_from(&member.kubeconfig)?;
        let (flat, endpoint) = crate::join::flatten(&own, Some(&member.name))?;
        let info = crate::join::MemberInfo {
            region: member.config.region.clone(),
            zone: member.config.zone.clone(),
            provider: Some("flotilla-sim".to_string()),
            health: Some(member_health()),
        };
        crate::join::register(
            &federation,
            &member.name,
            &flat,
            &endpoint,
            &info,
            crate::join::Existing::Update,
        )
        .await
        .with_context(|| format!("registering {}", member.name))?;
    }
    Ok(())
}

/// `DIR/kubeconfig`: the federation's context (current) and every member's.
fn write_kubeconfig(path: &Path, members: &[RunningMember]) -> anyhow::Result<()> {
    let mut config = Kubeconfig::load(path)?;
    for member in members {
        config.merge_from(&Kubeconfig::load(&member.kubeconfig)?);
    }
    config.current_context = DEFAULT_CONTEXT.to_string();
    config.write(path)?;
    Ok(())
}

/// The one line printed once everything serves.
pub fn ready_line(
    addr: SocketAddr,
    members: &[RunningMember],
    kubeconfig: &Path,
    took: Duration,
) -> String {
    let list: Vec<String> = members
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m.name,
                m.config.region.as_deref().unwrap_or("no region")
            )
        })
        .collect();
    let members_text = if list.is_empty() {
        "no members".to_string()
    } else {
        format!("{} members ({})", list.len(), list.join(", "))
    };
    let next = match members.first() {
        Some(m) => format!(
            "export KUBECONFIG={}; kubectl get namespaces; kubectl --context {} get nodes",
            kubeconfig.display(),
            m.name
        ),
        None => format!(
            "export KUBECONFIG={}; kubectl get namespaces",
            kubeconfig.display()
        ),
    };
    format!(
        "Flotilla is up in {:.1}s: federation {} with {members_text}. Next: {next}",
        took.as_secs_f64(),
        federation_apiserver::kubeconfig::server_url(addr),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_spread_over_regions_with_distinct_capacities() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ip = "127.0.0.1".parse().expect("ip");
        let configs: Vec<MemberConfig> = (1..=6)
            .map(|i| member_config(dir.path(), i, ip, Duration::from_secs(1)))
            .collect();
        let regions: Vec<&str> = configs
            .iter()
            .map(|c| c.region.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(
            regions,
            ["us-east", "eu-west", "ap-south", "us-east", "eu-west", "ap-south"]
        );
        assert_eq!(configs[0].zone.as_deref(), Some("us-east-a"));
        assert_eq!(configs[3].zone.as_deref(), Some("us-east-b"));
        assert_eq!(configs[0].name, "member-1");
        assert_eq!(
            configs[0].listen.port(),
            0,
            "no previous port: an ephemeral one"
        );
        let capacities: std::collections::HashSet<u32> =
            configs[..3].iter().map(|c| c.capacity_pods).collect();
        assert_eq!(
            capacities.len(),
            3,
            "the first three members differ in capacity"
        );
    }

    #[test]
    fn a_free_previous_port_is_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ip = "127.0.0.1".parse().expect("ip");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let member_dir = dir.path().join("members/member-1");
        std::fs::create_dir_all(&member_dir).expect("dir");
        std::fs::write(member_dir.join(PORT_FILE), port.to_string()).expect("write");
        assert_eq!(
            member_config(dir.path(), 1, ip, Duration::ZERO)
                .listen
                .port(),
            port
        );
        // Taken by someone else: an ephemeral port instead.
        let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
        assert_eq!(
            member_config(dir.path(), 1, ip, Duration::ZERO)
                .listen
                .port(),
            0
        );
    }
}
