//! `flotilla-bench-grpc`: Apply and Get throughput over the gRPC API
//! against the same operations over REST, in one run, on one release
//! `federation-apiserver`.
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release -p flotilla-bench --bin flotilla-bench-grpc -- [--clients 16] [--rounds 3]
//! ```
//!
//! Both sides use one HTTP/2 connection multiplexed by `--clients`
//! concurrent callers (gRPC: one tonic channel; REST: one hyper HTTP/2
//! connection), the same ConfigMaps (`--objects` names, a fresh prefix per
//! side) and the same server-side apply (`fieldManager=bench`). Rounds
//! alternate which side goes first; the table shows the median round.

#[allow(dead_code)]
#[path = "client.rs"]
mod client;
#[allow(dead_code)]
#[path = "machine.rs"]
mod machine;
#[allow(dead_code)]
#[path = "server.rs"]
mod server;
#[allow(dead_code)]
#[path = "stats.rs"]
mod stats;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use federation_proto::grpc::{client as grpc_client, v1 as pb};
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use crate::stats::{ms, Meter, Rate, Samples};

#[derive(Parser, Debug)]
#[command(about = "Apply and Get throughput: gRPC vs REST on one federation-apiserver")]
struct Cli {
    /// Concurrent callers on each side's one HTTP/2 connection.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Applies per side per round.
    #[arg(long, default_value_t = 3000)]
    applies: usize,
    /// Gets per side per round.
    #[arg(long, default_value_t = 20000)]
    gets: usize,
    /// Distinct ConfigMaps per side (applies cycle over them).
    #[arg(long, default_value_t = 500)]
    objects: usize,
    /// Rounds (each: REST and gRPC, the order alternating).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The server binary (default: next to this one).
    #[arg(long)]
    server_bin: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Rest,
    Grpc,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Apply,
    Get,
}

/// One side's connection, shared by its callers.
#[derive(Clone)]
enum Caller {
    Rest(Arc<client::Conn>),
    Grpc(grpc_client::Client),
}

fn manifest(prefix: &str, i: usize, objects: usize, round: usize) -> String {
    format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"{prefix}-{}\",\
         \"namespace\":\"default\"}},\"data\":{{\"n\":\"{i}\",\"round\":\"{round}\"}}}}",
        i % objects
    )
}

impl Caller {
    async fn call(
        &mut self,
        op: Op,
        prefix: &str,
        i: usize,
        objects: usize,
        round: usize,
    ) -> Result<()> {
        let name = format!("{prefix}-{}", i % objects);
        match self {
            Caller::Rest(conn) => {
                let mut conn = conn.h2_clone().context("an HTTP/2 connection")?;
                let path = format!("/api/v1/namespaces/default/configmaps/{name}");
                let response = match op {
                    Op::Apply => {
                        let body = Bytes::from(manifest(prefix, i, objects, round));
                        conn.send_as(
                            Method::PATCH,
                            &format!("{path}?fieldManager=bench&force=true"),
                            "application/apply-patch+yaml",
                            Some(body),
                        )
                        .await?
                    }
                    Op::Get => conn.send(Method::GET, &path, None).await?,
                };
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                if !(status == StatusCode::OK || status == StatusCode::CREATED) {
                    bail!(
                        "REST {op:?} {name}: {status} {}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
            Caller::Grpc(client) => match op {
                Op::Apply => {
                    client
                        .apply(pb::ApplyRequest {
                            manifest: manifest(prefix, i, objects, round).into_bytes(),
                            field_manager: "bench".into(),
                            dry_run: false,
                            force: true,
                        })
                        .await
                        .with_context(|| format!("gRPC Apply {name}"))?;
                }
                Op::Get => {
                    client
                        .get(pb::ObjectRef {
                            api_version: "v1".into(),
                            kind: "ConfigMap".into(),
                            namespace: "default".into(),
                            name: name.clone(),
                        })
                        .await
                        .with_context(|| format!("gRPC Get {name}"))?;
                }
            },
        }
        Ok(())
    }
}

/// One phase: `count` operations by `clients` concurrent callers.
struct Job {
    op: Op,
    prefix: String,
    count: usize,
    clients: usize,
    objects: usize,
    round: usize,
    server_pid: u32,
}

/// Runs a [`Job`]: its rate and latencies.
async fn phase(caller: &Caller, job: &Job) -> Result<(Rate, Samples)> {
    let Job {
        op,
        count,
        clients,
        objects,
        round,
        server_pid,
        ..
    } = *job;
    let prefix = job.prefix.as_str();
    let next = Arc::new(AtomicUsize::new(0));
    let meter = Meter::start(Some(server_pid));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut caller = caller.clone();
        let next = next.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::with_capacity(count / clients + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(samples);
                }
                let started = Instant::now();
                caller.call(op, &prefix, i, objects, round).await?;
                samples.push(started.elapsed());
            }
        }));
    }
    let mut all = Samples::with_capacity(count);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((meter.stop(count), all))
}

/// One side's figures for one operation over the rounds.
#[derive(Default)]
struct Figures {
    rates: Vec<Rate>,
    samples: Vec<Samples>,
}

impl Figures {
    /// The round with the median throughput.
    fn median(&self) -> (Rate, &Samples) {
        let mut order: Vec<usize> = (0..self.rates.len()).collect();
        order.sort_by(|a, b| {
            self.rates[*a]
                .per_second()
                .total_cmp(&self.rates[*b].per_second())
        });
        let m = order[order.len() / 2];
        (self.rates[m], &self.samples[m])
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let binary = server::locate_binary(cli.server_bin.as_deref())?;
    let guard = server::ServerGuard::start(&binary, None).await?;
    let token = std::fs::read_to_string(guard.data_dir.join("admin.token"))?;
    let ca = std::fs::read(guard.data_dir.join("ca.crt"))?;
    let rest = Caller::Rest(Arc::new(guard.endpoint.connect(true).await?));
    let grpc = Caller::Grpc(
        grpc_client::connect(
            &format!("https://{}", guard.endpoint.addr),
            &ca,
            token.trim(),
        )
        .await
        .context("the gRPC client")?,
    );
    let clients = cli.clients.max(1);
    let mut figures: Vec<((Op, Side), Figures)> = [Op::Apply, Op::Get]
        .iter()
        .flat_map(|op| [Side::Rest, Side::Grpc].map(|side| ((*op, side), Figures::default())))
        .collect();
    // Warm-up: every object exists on both sides, connections are hot.
    for (side, caller) in [(Side::Rest, &rest), (Side::Grpc, &grpc)] {
        let prefix = format!("{side:?}").to_lowercase();
        let job = Job {
            op: Op::Apply,
            prefix,
            count: cli.objects,
            clients,
            objects: cli.objects,
            round: 0,
            server_pid: guard.pid,
        };
        phase(caller, &job).await?;
    }
    for round in 0..cli.rounds {
        let order = if round % 2 == 0 {
            [Side::Rest, Side::Grpc]
        } else {
            [Side::Grpc, Side::Rest]
        };
        for op in [Op::Apply, Op::Get] {
            for side in order {
                let caller = if side == Side::Rest { &rest } else { &grpc };
                let prefix = format!("{side:?}").to_lowercase();
                let count = if op == Op::Apply {
                    cli.applies
                } else {
                    cli.gets
                };
                let job = Job {
                    op,
                    prefix,
                    count,
                    clients,
                    objects: cli.objects,
                    round: round + 1,
                    server_pid: guard.pid,
                };
                let (rate, samples) = phase(caller, &job).await?;
                eprintln!(
                    "round {}: {op:?} over {side:?}: {:.0}/s",
                    round + 1,
                    rate.per_second()
                );
                let f = &mut figures
                    .iter_mut()
                    .find(|(k, _)| *k == (op, side))
                    .expect("a slot")
                    .1;
                f.rates.push(rate);
                f.samples.push(samples);
            }
        }
    }
    println!(
        "gRPC vs REST on one federation-apiserver (release, embedded redb), {clients} callers \
         on one HTTP/2 connection per side, {} rounds (median round shown)",
        cli.rounds
    );
    println!(
        "{:<6} {:<5} {:>10} {:>10} {:>10} {:>16}",
        "op", "api", "ops/s", "p50", "p99", "server CPU/op"
    );
    let mut medians = Vec::new();
    for ((op, side), f) in &figures {
        let (rate, samples) = f.median();
        let summary = samples.summary();
        let cpu = rate.cpu.server.as_secs_f64() * 1e6 / rate.ops.max(1) as f64;
        println!(
            "{:<6} {:<5} {:>10.0} {:>10} {:>10} {:>13.0} µs",
            format!("{op:?}"),
            if *side == Side::Rest { "REST" } else { "gRPC" },
            rate.per_second(),
            ms(summary.p50),
            ms(summary.p99),
            cpu
        );
        medians.push(((*op, *side), rate.per_second(), cpu));
    }
    for op in [Op::Apply, Op::Get] {
        let get = |side| {
            medians
                .iter()
                .find(|(k, _, _)| *k == (op, side))
                .map(|(_, r, c)| (*r, *c))
                .unwrap_or((0.0, 0.0))
        };
        let (rest_rate, rest_cpu) = get(Side::Rest);
        let (grpc_rate, grpc_cpu) = get(Side::Grpc);
        println!(
            "{op:?}: gRPC/REST throughput {:.2}x, server CPU per op {:.2}x",
            grpc_rate / rest_rate.max(1e-9),
            grpc_cpu / rest_cpu.max(1e-9)
        );
    }
    println!("machine: {}", machine::machine(&std::env::temp_dir()));
    Ok(())
}
