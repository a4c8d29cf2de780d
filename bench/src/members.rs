//! `flotilla-bench-members`: how many simulated member clusters one process
//! hosts, and what each costs — memory idle and with a workload, CPU idle,
//! start time, and the time for every member's Deployment to become ready.
//!
//! ```text
//! cargo run --release -p flotilla-bench --bin flotilla-bench-members -- --members 100
//! ```
//!
//! Everything runs in this process (the members are the `member-sim`
//! library, as `kubectl fed up` runs them); requests go over HTTPS on
//! loopback like any client's. See BENCHMARKS.md.

// Shared with the server bench; not every helper is used here.
#[allow(dead_code)]
#[path = "client.rs"]
mod client;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use http::{Method, StatusCode};
use member_sim::{MemberConfig, RunningMember};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Memory and CPU per simulated member cluster, many members in one process")]
struct Cli {
    /// Members to start in this process.
    #[arg(long, default_value_t = 100)]
    members: u32,
    /// Replicas of the one Deployment applied to every member.
    #[arg(long, default_value_t = 10)]
    replicas: u32,
    /// Pod capacity of every member.
    #[arg(long, default_value_t = 110)]
    capacity_pods: u32,
    /// Milliseconds from scheduling a pod to it being ready.
    #[arg(long, default_value_t = 1000)]
    startup_delay_ms: u64,
    /// Seconds of idle time over which CPU use is measured.
    #[arg(long, default_value_t = 5)]
    idle_seconds: u64,
}

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime), counted after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

struct Member {
    running: RunningMember,
    endpoint: client::Endpoint,
}

fn deployment(replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}
        }
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = tempfile::tempdir()?;
    println!(
        "flotilla-bench-members: {} members, one Deployment of {} replicas each, startup delay {} ms",
        cli.members, cli.replicas, cli.startup_delay_ms
    );
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let (base_rss, _) = memory_kib();
    let started = Instant::now();
    let mut members = Vec::new();
    for i in 1..=cli.members {
        let name = format!("member-{i}");
        let mut config = MemberConfig::new(&name, root.path().join(&name), "127.0.0.1:0".parse()?);
        config.capacity_pods = cli.capacity_pods;
        config.startup_delay = Duration::from_millis(cli.startup_delay_ms);
        let running = member_sim::start(config).await?;
        let ca = std::fs::read_to_string(running.config.data_dir.join("ca.crt"))?;
        let token = std::fs::read_to_string(running.config.data_dir.join("admin.token"))?;
        let endpoint = client::Endpoint::new(&running.addr.to_string(), &ca, token.trim())?;
        members.push(Member { running, endpoint });
    }
    let start_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss, _) = memory_kib();

    let cpu_before = cpu_time();
    let idle_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(cli.idle_seconds)).await;
    let idle_cpu = (cpu_time() - cpu_before).as_secs_f64() / idle_started.elapsed().as_secs_f64();

    // One Deployment per member, then wait until every one is ready.
    let body = Bytes::from(serde_json::to_vec(&deployment(cli.replicas))?);
    let applied = Instant::now();
    let mut conns = Vec::new();
    for m in &members {
        let mut conn = m.endpoint.connect(false).await?;
        conn.expect(
            Method::POST,
            "/apis/apps/v1/namespaces/default/deployments",
            Some(body.clone()),
            StatusCode::CREATED,
        )
        .await
        .with_context(|| format!("creating the Deployment on {}", m.running.name))?;
        conns.push(conn);
    }
    let mut pending: Vec<usize> = (0..members.len()).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !pending.is_empty() {
        if Instant::now() > deadline {
            bail!("{} members never got their Deployment ready", pending.len());
        }
        let mut still = Vec::new();
        for i in pending {
            let bytes = conns[i]
                .expect(
                    Method::GET,
                    "/apis/apps/v1/namespaces/default/deployments/web",
                    None,
                    StatusCode::OK,
                )
                .await?;
            let object: Value = serde_json::from_slice(&bytes)?;
            if object["status"]["readyReplicas"].as_u64() != Some(u64::from(cli.replicas)) {
                still.push(i);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let ready_time = applied.elapsed();
    drop(conns);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (busy_rss, peak_rss) = memory_kib();

    let n = f64::from(cli.members.max(1));
    let per_idle = mib(idle_rss.saturating_sub(base_rss)) / n;
    let per_busy = mib(busy_rss.saturating_sub(base_rss)) / n;
    println!();
    println!("| figure | value |");
    println!("|---|---:|");
    println!(
        "| members started | {} in {:.2} s ({:.1} ms each) |",
        cli.members,
        start_time.as_secs_f64(),
        start_time.as_secs_f64() * 1000.0 / n
    );
    println!(
        "| process RSS before / idle / with workloads / peak | {:.0} / {:.0} / {:.0} / {:.0} MiB |",
        mib(base_rss),
        mib(idle_rss),
        mib(busy_rss),
        mib(peak_rss)
    );
    println!("| memory per member, idle | {per_idle:.2} MiB |");
    println!(
        "| memory per member, with a {}-replica Deployment | {per_busy:.2} MiB |",
        cli.replicas
    );
    println!(
        "| CPU while idle ({} s) | {:.3} cores ({:.2} ms/s per member) |",
        cli.idle_seconds,
        idle_cpu,
        idle_cpu * 1000.0 / n
    );
    println!(
        "| every member's Deployment ready after | {:.2} s |",
        ready_time.as_secs_f64()
    );
    let budget = 2048.0 - mib(base_rss);
    println!(
        "| members that fit in 2 GiB at that rate | {:.0} |",
        budget / per_busy.max(0.001)
    );
    let verdict = if mib(peak_rss) < 2048.0 {
        "pass"
    } else {
        "miss"
    };
    println!(
        "| target: {} members under 2 GiB (peak RSS) | {verdict} |",
        cli.members
    );

    for m in members {
        m.running.shutdown().await;
    }
    Ok(())
}
