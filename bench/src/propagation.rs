//! `flotilla-bench-propagation`: Deployments applied at the federation,
//! each Divided over 3 member clusters — how long until every member copy
//! exists (per Deployment: p50/p99 from the federation write; and in
//! total) — side by side, in the same run, with the same client applying
//! the same member objects directly to the members (the physical limit);
//! plus the controller's memory per federated Deployment.
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release -p flotilla-bench --bin flotilla-bench-propagation -- --members 100
//! ```
//!
//! The federation API server and the controller run as their own release
//! processes; the members run in this process (the `member-sim` library)
//! and are watched over HTTPS to see when copies appear.

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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use member_sim::MemberConfig;
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Propagation latency and throughput, against applying to members directly")]
struct Cli {
    /// Simulated members (a multiple of 3 is used: groups of three).
    #[arg(long, default_value_t = 10)]
    members: u32,
    /// Federated Deployments (each Divided over the 3 clusters of its group).
    #[arg(long, default_value_t = 1000)]
    deployments: usize,
    /// Concurrent clients (one HTTPS connection each) applying objects.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Skip the direct-to-members baseline.
    #[arg(long)]
    skip_direct: bool,
}

const NAMESPACE: &str = "bench";

fn deployment(name: &str, group: usize) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"group": group.to_string()}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}
            }
        }))
        .expect("json"),
    )
}

fn policy(group: usize, clusters: &[String]) -> Value {
    json!({
        "apiVersion": "flotilla.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": format!("group-{group}"), "namespace": NAMESPACE},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                "labelSelector": {"matchLabels": {"group": group.to_string()}}}],
            "placement": {
                "clusterAffinity": {"clusterNames": clusters},
                "replicaScheduling": {"replicaSchedulingType": "Divided"}
            }
        }
    })
}

fn namespace() -> Bytes {
    Bytes::from(
        serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
        )
        .expect("json"),
    )
}

/// Object index → the requests that create it: (endpoint index, path, body).
type Work = Arc<dyn Fn(usize) -> Vec<(usize, String, Bytes)> + Send + Sync>;

/// When each Deployment name first appeared on one member.
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

/// Watches the bench namespace's Deployments on a member, recording when each appears.
async fn watch_member(endpoint: client::Endpoint, seen: Seen) -> Result<()> {
    let mut conn = endpoint.connect(false).await?;
    let response = conn
        .send(
            Method::GET,
            &format!(
                "/apis/apps/v1/namespaces/{NAMESPACE}/deployments?watch=true&timeoutSeconds=3600"
            ),
            None,
        )
        .await?;
    let mut body = response.into_body();
    let mut buffer = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let now = Instant::now();
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            if let Ok(event) = serde_json::from_slice::<Value>(&line) {
                if event["type"] == "ADDED" {
                    if let Some(name) = event["object"]["metadata"]["name"].as_str() {
                        seen.lock()
                            .expect("lock")
                            .entry(name.to_string())
                            .or_insert(now);
                    }
                }
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn memory_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

struct Outcome {
    total: Duration,
    latencies: Vec<Duration>,
}

/// Applies `work` (object index → requests) with `clients` concurrent connections,
/// recording when each object's requests started.
async fn apply_all(
    endpoints: Vec<client::Endpoint>,
    work: Work,
    count: usize,
    clients: usize,
) -> Result<(Instant, Vec<Instant>)> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let starts = Arc::new(Mutex::new(vec![Instant::now(); count]));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, starts, work, endpoints) = (
            next.clone(),
            starts.clone(),
            work.clone(),
            endpoints.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conns: HashMap<usize, client::Conn> = HashMap::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), anyhow::Error>(());
                }
                starts.lock().expect("lock")[i] = Instant::now();
                for (endpoint, path, body) in work(i) {
                    if let std::collections::hash_map::Entry::Vacant(slot) = conns.entry(endpoint) {
                        slot.insert(endpoints[endpoint].connect(false).await?);
                    }
                    let conn = conns.get_mut(&endpoint).expect("connected");
                    conn.expect(Method::POST, &path, Some(body), StatusCode::CREATED)
                        .await?;
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let starts = starts.lock().expect("lock").clone();
    Ok((began, starts))
}

async fn wait_seen(
    seens: &[Seen],
    names: &[String],
    groups: &[Vec<usize>],
    deadline: Duration,
) -> Result<Vec<Instant>> {
    let started = Instant::now();
    loop {
        let mut done = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let mut latest: Option<Instant> = None;
            for m in &groups[i] {
                match seens[*m].lock().expect("lock").get(name) {
                    Some(t) => latest = Some(latest.map_or(*t, |l| l.max(*t))),
                    None => {
                        latest = None;
                        break;
                    }
                }
            }
            match latest {
                Some(t) => done.push(t),
                None => break,
            }
        }
        if done.len() == names.len() {
            return Ok(done);
        }
        if started.elapsed() > deadline {
            bail!(
                "only {} of {} objects reached all their members",
                done.len(),
                names.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Many members, each with a connection per client: raise the fd limit.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let groups_count = (cli.members / 3).max(1) as usize;
    let apiserver_bin = server::locate_binary(None)?;
    let controller_bin = apiserver_bin.with_file_name("federation-controller");
    println!(
        "flotilla-bench-propagation: {} Deployments, each Divided over 3 of {} members ({} groups), {} clients",
        cli.deployments, cli.members, groups_count, cli.clients
    );
    let federation = server::ServerGuard::start(&apiserver_bin, None).await?;
    let kubeconfig = federation.data_dir.join("kubeconfig");
    let kube_client = kubectl_fed::federation::FederationArgs {
        kubeconfig: Some(kubeconfig.clone()),
        context: None,
    }
    .client()
    .await?;
    let root = tempfile::tempdir()?;
    let mut members = Vec::new();
    let mut endpoints = Vec::new();
    for i in 1..=cli.members {
        let name = format!("member-{i}");
        let mut config = MemberConfig::new(&name, root.path().join(&name), "127.0.0.1:0".parse()?);
        config.capacity_pods = 100_000;
        let member = member_sim::start(config).await?;
        let own = kube::config::Kubeconfig::read_from(&member.kubeconfig)?;
        let (flat, endpoint) = kubectl_fed::join::flatten(&own, Some(&name))?;
        kubectl_fed::join::register(
            &kube_client,
            &name,
            &flat,
            &endpoint,
            &kubectl_fed::join::MemberInfo::default(),
            kubectl_fed::join::Existing::Refuse,
        )
        .await?;
        let ca = std::fs::read_to_string(member.config.data_dir.join("ca.crt"))?;
        let token = std::fs::read_to_string(member.config.data_dir.join("admin.token"))?;
        endpoints.push(client::Endpoint::new(
            &member.addr.to_string(),
            &ca,
            token.trim(),
        )?);
        members.push(member);
    }
    let mut fed = federation.endpoint.connect(false).await?;
    fed.expect(
        Method::POST,
        "/api/v1/namespaces",
        Some(namespace()),
        StatusCode::CREATED,
    )
    .await?;
    let names: Vec<String> = (0..cli.deployments)
        .map(|i| format!("web-{i:05}"))
        .collect();
    let groups: Vec<Vec<usize>> = (0..cli.deployments)
        .map(|i| {
            let g = i % groups_count;
            (0..3).map(|k| (g * 3 + k) % cli.members as usize).collect()
        })
        .collect();
    for g in 0..groups_count {
        let clusters: Vec<String> = (0..3)
            .map(|k| format!("member-{}", (g * 3 + k) % cli.members as usize + 1))
            .collect();
        let body = Bytes::from(serde_json::to_vec(&policy(g, &clusters))?);
        fed.expect(
            Method::POST,
            &format!("/apis/flotilla.io/v1alpha1/namespaces/{NAMESPACE}/propagationpolicies"),
            Some(body),
            StatusCode::CREATED,
        )
        .await?;
    }
    // The namespace on every member, for the direct baseline.
    for e in &endpoints {
        e.connect(false)
            .await?
            .expect(
                Method::POST,
                "/api/v1/namespaces",
                Some(namespace()),
                StatusCode::CREATED,
            )
            .await?;
    }

    let log = std::fs::File::create(root.path().join("controller.log"))?;
    let mut controller = Command::new(&controller_bin)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--identity", "bench"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting federation-controller")?;
    let controller_pid = controller.id();
    // Every member Ready before timing.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let body = fed
            .expect(
                Method::GET,
                "/apis/flotilla.io/v1alpha1/clusters",
                None,
                StatusCode::OK,
            )
            .await?;
        let list: Value = serde_json::from_slice(&body)?;
        let ready = list["items"].as_array().map_or(0, |l| {
            l.iter()
                .filter(|c| {
                    c["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
                })
                .count()
        });
        if ready == cli.members as usize {
            break;
        }
        if Instant::now() > deadline {
            bail!("members never all turned Ready");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = memory_mib(controller_pid);

    // Watches on every member.
    let seens: Vec<Seen> = (0..members.len()).map(|_| Seen::default()).collect();
    for (e, seen) in endpoints.iter().zip(&seens) {
        tokio::spawn(watch_member(e.clone(), seen.clone()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Federation: apply every Deployment, wait for every copy.
    let fed_endpoints = vec![federation.endpoint.clone()];
    let fed_names = names.clone();
    let work: Work = Arc::new(move |i| {
        vec![(
            0,
            format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments"),
            deployment(&fed_names[i], i % groups_count),
        )]
    });
    let cpu0 = (
        stats::process_cpu(Some(controller_pid)),
        stats::process_cpu(Some(federation.pid)),
        stats::process_cpu(None),
    );
    let (began, starts) = apply_all(fed_endpoints, work, cli.deployments, cli.clients).await?;
    let applied = began.elapsed();
    let done = wait_seen(&seens, &names, &groups, Duration::from_secs(600)).await?;
    let cpu1 = (
        stats::process_cpu(Some(controller_pid)),
        stats::process_cpu(Some(federation.pid)),
        stats::process_cpu(None),
    );
    println!("federated phase: templates written in {:.1} s; CPU: controller {:.1} s, federation API server {:.1} s, members + bench {:.1} s",
        applied.as_secs_f64(), (cpu1.0 - cpu0.0).as_secs_f64(), (cpu1.1 - cpu0.1).as_secs_f64(), (cpu1.2 - cpu0.2).as_secs_f64());
    let federated = Outcome {
        total: done.iter().max().copied().unwrap_or(began) - began,
        latencies: {
            let mut l: Vec<Duration> = done
                .iter()
                .zip(&starts)
                .map(|(d, s)| d.saturating_duration_since(*s))
                .collect();
            l.sort();
            l
        },
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = memory_mib(controller_pid);
    println!(
        "federation: total {:.1} ms, per Deployment p50 {:.1} ms, p99 {:.1} ms",
        federated.total.as_secs_f64() * 1000.0,
        percentile(&federated.latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&federated.latencies, 0.99).as_secs_f64() * 1000.0
    );

    // Direct: the same member objects, applied by the same client to the members.
    let direct = if cli.skip_direct {
        None
    } else {
        let direct_names: Vec<String> = (0..cli.deployments)
            .map(|i| format!("direct-{i:05}"))
            .collect();
        let (names2, groups2) = (direct_names.clone(), groups.clone());
        let work: Work = Arc::new(move |i| {
            groups2[i]
                .iter()
                .map(|m| {
                    (
                        *m,
                        format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments"),
                        deployment(&names2[i], 0),
                    )
                })
                .collect()
        });
        let cpu0 = (
            stats::process_cpu(Some(controller_pid)),
            stats::process_cpu(Some(federation.pid)),
            stats::process_cpu(None),
        );
        let (began, starts) =
            apply_all(endpoints.clone(), work, cli.deployments, cli.clients).await?;
        let done = wait_seen(&seens, &direct_names, &groups, Duration::from_secs(600)).await?;
        let cpu1 = (
            stats::process_cpu(Some(controller_pid)),
            stats::process_cpu(Some(federation.pid)),
            stats::process_cpu(None),
        );
        println!("direct phase: CPU: controller {:.1} s, federation API server {:.1} s, members + bench {:.1} s",
            (cpu1.0 - cpu0.0).as_secs_f64(), (cpu1.1 - cpu0.1).as_secs_f64(), (cpu1.2 - cpu0.2).as_secs_f64());
        let mut l: Vec<Duration> = done
            .iter()
            .zip(&starts)
            .map(|(d, s)| d.saturating_duration_since(*s))
            .collect();
        l.sort();
        Some(Outcome {
            total: done.iter().max().copied().unwrap_or(began) - began,
            latencies: l,
        })
    };

    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!();
    println!("| figure | federation | direct to members | ratio |");
    println!("|---|---:|---:|---:|");
    let row = |label: &str, f: Duration, d: Option<Duration>| {
        let (dtext, ratio) = match d {
            Some(d) => (
                ms(d),
                format!("{:.2}×", f.as_secs_f64() / d.as_secs_f64().max(1e-9)),
            ),
            None => ("–".into(), "–".into()),
        };
        println!("| {label} | {} | {dtext} | {ratio} |", ms(f));
    };
    row(
        &format!(
            "total, {} Deployments → {} member objects",
            cli.deployments,
            cli.deployments * 3
        ),
        federated.total,
        direct.as_ref().map(|d| d.total),
    );
    row(
        "per Deployment, write → every copy exists, p50",
        percentile(&federated.latencies, 0.5),
        direct.as_ref().map(|d| percentile(&d.latencies, 0.5)),
    );
    row(
        "p99",
        percentile(&federated.latencies, 0.99),
        direct.as_ref().map(|d| percentile(&d.latencies, 0.99)),
    );
    row(
        "max",
        federated.latencies.last().copied().unwrap_or_default(),
        direct.as_ref().and_then(|d| d.latencies.last().copied()),
    );
    println!();
    println!("controller RSS: {rss_before:.1} MiB before, {rss_after:.1} MiB after → {:.1} KiB per federated Deployment",
        (rss_after - rss_before).max(0.0) * 1024.0 / cli.deployments as f64);
    let _ = controller.kill();
    let _ = controller.wait();
    for m in members {
        m.shutdown().await;
    }
    Ok(())
}
