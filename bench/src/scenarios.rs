//! Request scenarios against the running server: durable creates, GETs of
//! existing objects, and full LISTs of a large namespace.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::client::{Conn, Endpoint};
use crate::stats::{Meter, Rate, Samples};

/// The ConfigMap every create sends: a name, one label, ~64 bytes of data.
pub fn configmap(name: &str, annotations: Option<Value>) -> Bytes {
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "flotilla-bench"}},
        "data": {"key": format!("{name}-{}", "x".repeat(48))},
    });
    if let Some(a) = annotations {
        object["metadata"]["annotations"] = a;
    }
    Bytes::from(serde_json::to_vec(&object).expect("JSON"))
}

pub fn configmaps_path(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/configmaps")
}

/// Name of the `i`-th object of a series.
pub fn object_name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:06}")
}

/// Creates a namespace (201 expected).
pub async fn create_namespace(conn: &mut Conn, name: &str) -> Result<()> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    conn.expect(
        Method::POST,
        "/api/v1/namespaces",
        Some(Bytes::from(serde_json::to_vec(&body)?)),
        StatusCode::CREATED,
    )
    .await?;
    Ok(())
}

/// Opens `n` connections, `parallel` handshakes at a time.
pub async fn connect_many(endpoint: &Endpoint, n: usize, http2: bool) -> Result<Vec<Conn>> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    stream::iter(0..n)
        .map(|_| endpoint.connect(http2))
        .buffer_unordered(64)
        .try_collect()
        .await
}

/// The server under test and how many concurrent clients load it.
#[derive(Clone)]
pub struct Target {
    pub endpoint: Endpoint,
    pub server_pid: u32,
    pub clients: usize,
}

/// What a load phase measured.
pub struct Measured {
    pub rate: Rate,
    pub latency: Samples,
}

/// Creates `total` ConfigMaps named `prefix-NNNNNN` in `namespace` from
/// the target's concurrent clients, one persistent connection each.
pub async fn creates(
    target: &Target,
    namespace: &str,
    prefix: &str,
    total: usize,
) -> Result<Measured> {
    let clients = target.clients;
    let conns = connect_many(&target.endpoint, clients, false).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let path = Arc::new(configmaps_path(namespace));
    let prefix = Arc::new(prefix.to_string());
    let meter = Meter::start(Some(target.server_pid));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (next, path, prefix) = (next.clone(), path.clone(), prefix.clone());
            tokio::spawn(async move {
                let mut latency = Samples::with_capacity(total / clients + 1);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let body = configmap(&object_name(&prefix, i), None);
                    let started = Instant::now();
                    conn.expect(Method::POST, &path, Some(body), StatusCode::CREATED)
                        .await?;
                    latency.push(started.elapsed());
                }
                anyhow::Ok(latency)
            })
        })
        .collect();
    let latency = join_samples(tasks).await?;
    let rate = meter.stop(latency.len());
    Ok(Measured { rate, latency })
}

/// GETs random existing objects `prefix-000000..existing` from the
/// target's clients until `duration` passes or `max_requests` were sent.
pub async fn gets(
    target: &Target,
    namespace: &str,
    prefix: &str,
    existing: usize,
    duration: Duration,
    max_requests: usize,
) -> Result<Measured> {
    ensure!(existing > 0, "nothing to GET");
    let clients = target.clients;
    let conns = connect_many(&target.endpoint, clients, false).await?;
    let sent = Arc::new(AtomicUsize::new(0));
    let base = Arc::new(configmaps_path(namespace));
    let prefix = Arc::new(prefix.to_string());
    let meter = Meter::start(Some(target.server_pid));
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(c, mut conn)| {
            let (sent, base, prefix) = (sent.clone(), base.clone(), prefix.clone());
            tokio::spawn(async move {
                let mut latency = Samples::with_capacity(max_requests / clients + 1);
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (c as u64 + 1);
                while Instant::now() < deadline
                    && sent.fetch_add(1, Ordering::Relaxed) < max_requests
                {
                    // xorshift64: a cheap, well-spread pick of an existing object.
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let name = object_name(&prefix, (rng % existing as u64) as usize);
                    let path = format!("{base}/{name}");
                    let started = Instant::now();
                    conn.expect(Method::GET, &path, None, StatusCode::OK)
                        .await?;
                    latency.push(started.elapsed());
                }
                anyhow::Ok(latency)
            })
        })
        .collect();
    let latency = join_samples(tasks).await?;
    let rate = meter.stop(latency.len());
    Ok(Measured { rate, latency })
}

/// Full LISTs of one namespace, one after another on one connection, each
/// timed until its whole body is read. Checks the first one holds `expected` items.
pub async fn lists(
    target: &Target,
    namespace: &str,
    expected: usize,
    requests: usize,
) -> Result<(Measured, usize)> {
    let mut conn = target.endpoint.connect(false).await?;
    let path = configmaps_path(namespace);
    // One untimed LIST to check the content (and warm the connection).
    let body = conn
        .expect(Method::GET, &path, None, StatusCode::OK)
        .await?;
    let list: Value = serde_json::from_slice(&body).context("LIST body")?;
    let items = list["items"].as_array().map(Vec::len).unwrap_or(0);
    ensure!(
        items == expected,
        "LIST returned {items} items, expected {expected}"
    );
    let meter = Meter::start(Some(target.server_pid));
    let mut latency = Samples::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        conn.expect(Method::GET, &path, None, StatusCode::OK)
            .await?;
        latency.push(started.elapsed());
    }
    let rate = meter.stop(latency.len());
    Ok((Measured { rate, latency }, body.len()))
}

/// Awaits every task and merges their samples (the first error wins).
pub async fn join_samples(tasks: Vec<tokio::task::JoinHandle<Result<Samples>>>) -> Result<Samples> {
    let mut all = Samples::default();
    for task in tasks {
        all.extend(task.await.context("a client task panicked")??);
    }
    Ok(all)
}
