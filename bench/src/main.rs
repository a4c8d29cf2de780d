//! `flotilla-bench`: load figures for the real `federation-apiserver` binary
//! (durable creates, GETs, LISTs, watch delivery) and for its storage alone.
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release -p flotilla-bench -- [--quick] [--clients 32] ...
//! ```
//!
//! See BENCHMARKS.md at the workspace root for what each figure measures.

mod baseline;
mod client;
mod machine;
mod profile;
mod report;
mod scenarios;
mod server;
mod stats;
mod watchers;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use http::{Method, StatusCode};
use serde_json::Value;

use crate::report::ServerResults;
use crate::scenarios::{configmaps_path, create_namespace, object_name, Target};
use crate::stats::ms;

/// Benchmarks the release federation-apiserver binary and its storage.
#[derive(Parser, Debug)]
#[command(about)]
struct Cli {
    /// Smaller counts and shorter phases (a quick sanity run).
    #[arg(long)]
    quick: bool,
    /// Concurrent clients (one persistent HTTPS connection each) for creates and GETs,
    /// and concurrent tasks/threads for the storage baselines.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// ConfigMaps to create in the create phase [default: 20000, quick 3000].
    #[arg(long)]
    creates: Option<usize>,
    /// Length of the GET phase in seconds [default: 10, quick 3].
    #[arg(long)]
    get_seconds: Option<u64>,
    /// At most this many GETs [default: 100000, quick 30000].
    #[arg(long)]
    get_requests: Option<usize>,
    /// ConfigMaps in the namespace that is LISTed [default: 10000].
    #[arg(long, default_value_t = 10_000)]
    list_objects: usize,
    /// Full LIST requests to time [default: 20, quick 5].
    #[arg(long)]
    list_requests: Option<usize>,
    /// Open watch streams [default: 1000, quick 200].
    #[arg(long)]
    watchers: Option<usize>,
    /// Writes made while the watches are open [default: 200, quick 50].
    #[arg(long)]
    watch_writes: Option<usize>,
    /// Milliseconds between those writes.
    #[arg(long, default_value_t = 20)]
    watch_interval_ms: u64,
    /// Multiplex the watches over this many HTTP/2 connections
    /// (0: one HTTP/1.1 connection per watch).
    #[arg(long, default_value_t = 0)]
    watch_h2_connections: usize,
    /// Time cap per storage baseline in seconds [default: 15, quick 4].
    #[arg(long)]
    baseline_seconds: Option<u64>,
    /// Skip the server phases (storage baselines only).
    #[arg(long)]
    skip_server: bool,
    /// Skip the storage baselines.
    #[arg(long)]
    skip_baseline: bool,
    /// The federation-apiserver binary [default: next to this binary].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where the temporary data dirs go [default: the system temp dir].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Record a `perf record` CPU profile of the server per phase into this dir.
    #[arg(long)]
    perf_dir: Option<PathBuf>,
}

impl Cli {
    fn pick<T>(&self, set: Option<T>, full: T, quick: T) -> T {
        set.unwrap_or(if self.quick { quick } else { full })
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

/// Raises the soft open-files limit to the hard one (the server, started
/// from here, inherits it) and warns when it is still below what we need.
fn raise_nofile(needed: u64) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => eprintln!(
            "warning: open-files limit is {limit}, the watch phase needs about {needed}: \
             raise it (ulimit -n) or use --watchers / --watch-h2-connections"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-files limit: {e}"),
    }
}

async fn run(cli: Cli) -> Result<()> {
    let creates = cli.pick(cli.creates, 20_000, 3_000);
    let watchers = cli.pick(cli.watchers, 1_000, 200);
    let watch_writes = cli.pick(cli.watch_writes, 200, 50);
    anyhow::ensure!(
        creates > 0 && cli.clients > 0 && watchers > 0 && watch_writes > 0,
        "--creates, --clients, --watchers and --watch-writes must be at least 1"
    );
    raise_nofile(watchers as u64 + 512);
    let data_parent = cli.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    let machine = machine::machine(&data_parent);
    println!("machine: {machine}");
    println!("load average at start: {}", machine::loadavg());

    let mut results = ServerResults {
        clients: cli.clients,
        ..Default::default()
    };
    let mut template = baseline::default_template();
    if !cli.skip_server {
        let binary = server::locate_binary(cli.server_bin.as_deref())?;
        let mut server = server::ServerGuard::start(&binary, Some(&data_parent)).await?;
        println!(
            "server: {} (pid {}) on https://{}, data dir {}",
            binary.display(),
            server.pid,
            server.endpoint.addr,
            server.data_dir.display()
        );
        let target = Target {
            endpoint: server.endpoint.clone(),
            server_pid: server.pid,
            clients: cli.clients,
        };
        let outcome = server_phases(&cli, &target, creates, watchers, watch_writes).await;
        if !server.alive() {
            eprintln!("the server died; its log ends with:\n{}", server.log_tail());
        }
        let (r, t) = outcome?;
        results = r;
        template = t;
        drop(server);
    }

    let mut baselines = Vec::new();
    if !cli.skip_baseline {
        let budget = baseline::Budget {
            total: creates,
            limit: Duration::from_secs(cli.pick(cli.baseline_seconds, 15, 4)),
            concurrency: cli.clients,
        };
        println!("\n== storage baselines (this process, no server) ==");
        for b in baseline::run_all(&data_parent, budget, &template).await? {
            let s = b.latency.summary();
            println!(
                "{}: {:.0} creates/s ({} in {:.1} s), p50 {}, p99 {}; {}",
                b.name,
                b.rate.per_second(),
                b.rate.ops,
                b.rate.elapsed.as_secs_f64(),
                ms(s.p50),
                ms(s.p99),
                b.rate.cpu.describe(b.rate.elapsed, b.rate.ops)
            );
            baselines.push(b);
        }
    }

    println!("\n== results ==\n");
    println!("{}", report::table(&results, &baselines));
    print!("{}", report::cpu_lines(&results));
    println!("\nmachine: {machine}");
    println!("load average at end: {}", machine::loadavg());
    Ok(())
}

/// Every server phase in order; returns the results and a stored object
/// (the template for the storage baselines).
async fn server_phases(
    cli: &Cli,
    target: &Target,
    creates: usize,
    watchers: usize,
    watch_writes: usize,
) -> Result<(ServerResults, Value)> {
    let mut results = ServerResults {
        clients: cli.clients,
        ..Default::default()
    };
    let mut admin = target.endpoint.connect(false).await?;
    create_namespace(&mut admin, "bench").await?;
    create_namespace(&mut admin, "bench-list").await?;

    println!("\n== {creates} durable creates, {} clients ==", cli.clients);
    let perf = profile::start(cli.perf_dir.as_deref(), "creates", target.server_pid);
    let m = scenarios::creates(target, "bench", "cm", creates).await?;
    profile::stop(perf);
    print_phase("creates", &m);
    let sample = admin
        .expect(
            Method::GET,
            &format!("{}/{}", configmaps_path("bench"), object_name("cm", 0)),
            None,
            StatusCode::OK,
        )
        .await?;
    let template: Value = serde_json::from_slice(&sample).context("a stored ConfigMap")?;
    results.creates = Some(m);

    let seconds = cli.pick(cli.get_seconds, 10, 3);
    let max = cli.pick(cli.get_requests, 100_000, 30_000);
    println!(
        "\n== GETs: {seconds} s or {max} requests, {} clients ==",
        cli.clients
    );
    let perf = profile::start(cli.perf_dir.as_deref(), "gets", target.server_pid);
    let m = scenarios::gets(
        target,
        "bench",
        "cm",
        creates,
        Duration::from_secs(seconds),
        max,
    )
    .await?;
    profile::stop(perf);
    print_phase("GETs", &m);
    results.gets = Some(m);

    let n = cli.list_objects;
    println!("\n== filling a namespace with {n} ConfigMaps ==");
    let m = scenarios::creates(target, "bench-list", "item", n).await?;
    print_phase("creates", &m);
    results.populate = Some(m);
    let requests = cli.pick(cli.list_requests, 20, 5);
    println!("\n== {requests} full LISTs of {n} ConfigMaps, one at a time ==");
    let perf = profile::start(cli.perf_dir.as_deref(), "lists", target.server_pid);
    let (m, bytes) = scenarios::lists(target, "bench-list", n, requests).await?;
    profile::stop(perf);
    print_phase("LISTs", &m);
    results.lists = Some((m, n, bytes));

    let setup = watchers::WatchSetup {
        watchers,
        writes: watch_writes,
        interval: Duration::from_millis(cli.watch_interval_ms),
        h2_connections: cli.watch_h2_connections,
    };
    println!(
        "\n== watch delivery: {watchers} watchers ({}), {watch_writes} writes {} ms apart ==",
        if setup.h2_connections == 0 {
            "one HTTP/1.1 connection each".to_string()
        } else {
            format!("over {} HTTP/2 connections", setup.h2_connections)
        },
        cli.watch_interval_ms
    );
    let perf = profile::start(cli.perf_dir.as_deref(), "watch", target.server_pid);
    let w = watchers::run(target, &setup).await?;
    profile::stop(perf);
    let s = w.delay.summary();
    println!(
        "delivered {}/{} events; {} of {watchers} watchers got every event; {} unexpected lines",
        w.delivered, w.expected, w.complete, w.unexpected
    );
    println!(
        "delay write-start → event: p50 {}, p99 {}, max {}",
        ms(s.p50),
        ms(s.p99),
        ms(s.max)
    );
    results.watch = Some((w, watchers, watch_writes));
    Ok((results, template))
}

fn print_phase(name: &str, m: &scenarios::Measured) {
    let s = m.latency.summary();
    println!(
        "{}: {:.0} {name}/s ({} in {:.2} s); latency p50 {}, p99 {}, max {}; {}",
        name,
        m.rate.per_second(),
        m.rate.ops,
        m.rate.elapsed.as_secs_f64(),
        ms(s.p50),
        ms(s.p99),
        ms(s.max),
        m.rate.cpu.describe(m.rate.elapsed, m.rate.ops)
    );
}
