//! `flotilla-bench-probes`: the cluster controller probing many member
//! clusters — its CPU and memory, and how punctually each cluster is
//! probed (the spread of the intervals between one cluster's probes).
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release -p flotilla-bench --bin flotilla-bench-probes -- --members 100
//! ```
//!
//! The federation API server and the controller run as their own release
//! processes (so their CPU and memory are theirs alone); the members run in
//! this process (the `member-sim` library, as `kubectl fed up` runs them)
//! and are joined like `kubectl fed join` does, with a 1 s probe period.

#[allow(dead_code)]
#[path = "client.rs"]
mod client;
#[allow(dead_code)]
#[path = "server.rs"]
mod server;
#[allow(dead_code)]
#[path = "stats.rs"]
mod stats;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use http::{Method, StatusCode};
use member_sim::MemberConfig;
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(about = "Cluster-controller cost and probe punctuality with many members")]
struct Cli {
    /// Simulated members to join.
    #[arg(long, default_value_t = 100)]
    members: u32,
    /// Probe period of every member, in seconds.
    #[arg(long, default_value_t = 1)]
    period_seconds: i32,
    /// Seconds of measurement once every member is Ready.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
}

/// `VmRSS` and `VmHWM` of a process, in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Kills the controller process when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn list_clusters(conn: &mut client::Conn) -> Result<Vec<Value>> {
    let body = conn
        .expect(
            Method::GET,
            "/apis/flotilla.io/v1alpha1/clusters",
            None,
            StatusCode::OK,
        )
        .await?;
    let list: Value = serde_json::from_slice(&body)?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

fn is_ready(c: &Value) -> bool {
    c["status"]["conditions"].as_array().is_some_and(|l| {
        l.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let apiserver_bin = server::locate_binary(None)?;
    let controller_bin = apiserver_bin.with_file_name("federation-controller");
    if !controller_bin.exists() {
        bail!(
            "{} is missing: cargo build --release --workspace --bins",
            controller_bin.display()
        );
    }
    println!(
        "flotilla-bench-probes: {} members probed every {} s, measured for {} s",
        cli.members, cli.period_seconds, cli.seconds
    );
    let federation = server::ServerGuard::start(&apiserver_bin, None).await?;
    let kubeconfig = federation.data_dir.join("kubeconfig");
    let client = kubectl_fed::federation::FederationArgs {
        kubeconfig: Some(kubeconfig.clone()),
        context: None,
    }
    .client()
    .await?;

    let root = tempfile::tempdir()?;
    let mut members = Vec::new();
    for i in 1..=cli.members {
        let name = format!("member-{i}");
        let config = MemberConfig::new(&name, root.path().join(&name), "127.0.0.1:0".parse()?);
        let member = member_sim::start(config).await?;
        let own = kube::config::Kubeconfig::read_from(&member.kubeconfig)?;
        let (flat, endpoint) = kubectl_fed::join::flatten(&own, Some(&name))?;
        let info = kubectl_fed::join::MemberInfo {
            health: Some(federation_proto::cluster::HealthSettings {
                period_seconds: Some(cli.period_seconds),
                timeout_seconds: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        };
        kubectl_fed::join::register(
            &client,
            &name,
            &flat,
            &endpoint,
            &info,
            kubectl_fed::join::Existing::Refuse,
        )
        .await?;
        members.push(member);
    }

    let log = std::fs::File::create(root.path().join("controller.log"))?;
    let controller = Child(
        Command::new(&controller_bin)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--identity", "bench"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting federation-controller")?,
    );
    let controller_pid = controller.0.id();
    let mut conn = federation.endpoint.connect(false).await?;
    let started = Instant::now();
    loop {
        let clusters = list_clusters(&mut conn).await?;
        if clusters.len() == cli.members as usize && clusters.iter().all(is_ready) {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("not every member turned Ready within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_ready = started.elapsed();

    // Measure: distinct lastProbeTime values per cluster, polled every 200 ms.
    let cpu_before = (
        stats::process_cpu(Some(controller_pid)),
        stats::process_cpu(Some(federation.pid)),
    );
    let window = Instant::now();
    let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
    let mut latencies = Vec::new();
    while window.elapsed() < Duration::from_secs(cli.seconds) {
        for c in list_clusters(&mut conn).await? {
            let name = c["metadata"]["name"].as_str().unwrap_or("").to_string();
            let Some(at) = c["status"]["lastProbeTime"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            else {
                continue;
            };
            let ms = at.timestamp_millis();
            let times = seen.entry(name).or_default();
            if times.last() != Some(&ms) {
                times.push(ms);
                if let Some(p50) = c["status"]["latency"]["lastMs"].as_f64() {
                    latencies.push(p50);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let wall = window.elapsed();
    let controller_cpu = stats::process_cpu(Some(controller_pid)) - cpu_before.0;
    let apiserver_cpu = stats::process_cpu(Some(federation.pid)) - cpu_before.1;
    let (rss, peak) = memory_mib(controller_pid);

    let mut intervals: Vec<f64> = seen
        .values()
        .flat_map(|t| t.windows(2).map(|w| (w[1] - w[0]) as f64))
        .collect();
    intervals.sort_by(f64::total_cmp);
    latencies.sort_by(f64::total_cmp);
    let probes: usize = seen.values().map(|t| t.len()).sum();
    let cores = controller_cpu.as_secs_f64() / wall.as_secs_f64();
    println!();
    println!("| figure | value |");
    println!("|---|---:|");
    println!(
        "| members joined and Ready after | {:.1} s |",
        all_ready.as_secs_f64()
    );
    println!(
        "| probes seen in {:.0} s | {probes} ({:.1}/s; ideal {:.1}/s) |",
        wall.as_secs_f64(),
        probes as f64 / wall.as_secs_f64(),
        f64::from(cli.members) / f64::from(cli.period_seconds)
    );
    println!("| interval between one cluster's probes, p50 / p99 / max | {:.0} / {:.0} / {:.0} ms (period {} ms) |",
        percentile(&intervals, 0.5), percentile(&intervals, 0.99), intervals.last().copied().unwrap_or(f64::NAN),
        cli.period_seconds * 1000);
    println!(
        "| share of intervals within ±10% of the period | {:.1} % |",
        100.0
            * intervals
                .iter()
                .filter(|i| (*i - f64::from(cli.period_seconds) * 1000.0).abs()
                    <= 100.0 * f64::from(cli.period_seconds))
                .count() as f64
            / intervals.len().max(1) as f64
    );
    println!(
        "| probe round trip (lastMs), p50 / p99 | {:.2} / {:.2} ms |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!(
        "| controller CPU | {cores:.3} cores ({:.0} µs per probe) |",
        controller_cpu.as_secs_f64() * 1e6 / probes.max(1) as f64
    );
    println!(
        "| controller memory, RSS / peak | {rss:.1} / {peak:.1} MiB ({:.0} KiB per member) |",
        rss * 1024.0 / f64::from(cli.members.max(1))
    );
    println!(
        "| federation API server CPU (status writes + this bench's lists) | {:.3} cores |",
        apiserver_cpu.as_secs_f64() / wall.as_secs_f64()
    );

    drop(controller);
    for m in members {
        m.shutdown().await;
    }
    Ok(())
}
