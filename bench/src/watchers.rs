//! Watch delivery delay: many open watch streams on one namespace, then a
//! series of spaced writes, each ConfigMap carrying its sequence number and
//! its send time (nanoseconds since a shared `Instant`, as the bench process
//! does both sides). Every watcher records write-start → event-received.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::client::Conn;
use crate::scenarios::{configmap, configmaps_path, connect_many, create_namespace, Target};
use crate::stats::{Meter, Rate, Samples};

/// The annotation holding `SEQ:NANOS` (send time since the shared epoch).
const SENT: &str = "bench.flotilla.io/sent";
/// How that annotation starts in an event's JSON.
const MARKER: &[u8] = b"\"bench.flotilla.io/sent\":\"";

pub struct WatchSetup {
    pub watchers: usize,
    pub writes: usize,
    pub interval: Duration,
    /// 0: one HTTP/1.1 connection per watcher; N: watches multiplexed over N HTTP/2 connections.
    pub h2_connections: usize,
}

pub struct WatchResult {
    /// write-start → event-received, over every delivery.
    pub delay: Samples,
    /// write-start → create acknowledged (durable), per write.
    pub ack: Samples,
    pub expected: usize,
    pub delivered: usize,
    /// Watchers that saw every write exactly once.
    pub complete: usize,
    /// Events that were not ours (ERROR, unexpected) or duplicates.
    pub unexpected: usize,
    pub rate: Rate,
    pub open_time: Duration,
}

pub async fn run(target: &Target, setup: &WatchSetup) -> Result<WatchResult> {
    let namespace = "bench-watch";
    let mut writer = target.endpoint.connect(false).await?;
    create_namespace(&mut writer, namespace).await?;
    let path = configmaps_path(namespace);
    let list = writer
        .expect(
            Method::GET,
            &format!("{path}?limit=1"),
            None,
            StatusCode::OK,
        )
        .await?;
    let list: Value = serde_json::from_slice(&list)?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .context("resourceVersion of the LIST")?
        .to_string();
    let watch_path = format!("{path}?watch=true&resourceVersion={rv}");

    let opened = Instant::now();
    let streams = open_watches(target, setup, &watch_path).await?;
    let open_time = opened.elapsed();

    let epoch = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let readers: Vec<_> = streams
        .into_iter()
        .map(|body| tokio::spawn(read_events(body, epoch, setup.writes, stop_rx.clone())))
        .collect();

    let meter = Meter::start(Some(target.server_pid));
    let mut ack = Samples::with_capacity(setup.writes);
    let first = tokio::time::Instant::now();
    for seq in 0..setup.writes {
        tokio::time::sleep_until(first + setup.interval * seq as u32).await;
        let sent = epoch.elapsed().as_nanos();
        let body = configmap(
            &format!("watch-{seq:05}"),
            Some(json!({ SENT: format!("{seq}:{sent}") })),
        );
        writer
            .expect(Method::POST, &path, Some(body), StatusCode::CREATED)
            .await?;
        ack.push(epoch.elapsed() - Duration::from_nanos(sent as u64));
    }
    // Give the stragglers time, then stop whoever is still incomplete.
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let _ = stop_tx.send(true);
    });
    let mut result = WatchResult {
        delay: Samples::with_capacity(setup.watchers * setup.writes),
        ack,
        expected: setup.watchers * setup.writes,
        delivered: 0,
        complete: 0,
        unexpected: 0,
        rate: Rate::default(),
        open_time,
    };
    for reader in readers {
        let seen = reader.await.context("a watcher task panicked")??;
        result.delivered += seen.delay.len();
        result.unexpected += seen.unexpected;
        if seen.delay.len() == setup.writes && seen.unexpected == 0 {
            result.complete += 1;
        }
        result.delay.extend(seen.delay);
    }
    stopper.abort();
    result.rate = meter.stop(result.delivered);
    Ok(result)
}

/// Opens every watch and waits for its response headers (200).
async fn open_watches(target: &Target, setup: &WatchSetup, path: &str) -> Result<Vec<Incoming>> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let conns: Vec<Conn> = if setup.h2_connections == 0 {
        connect_many(&target.endpoint, setup.watchers, false).await?
    } else {
        let shared = connect_many(&target.endpoint, setup.h2_connections, true).await?;
        (0..setup.watchers)
            .map(|i| {
                shared[i % shared.len()]
                    .h2_clone()
                    .expect("an HTTP/2 connection")
            })
            .collect()
    };
    stream::iter(conns)
        .map(|mut conn| async move {
            let response = conn.send(Method::GET, path, None).await?;
            ensure!(
                response.status() == StatusCode::OK,
                "watch answered {}",
                response.status()
            );
            // The connection task lives on as long as the body is read.
            Ok(response.into_body())
        })
        .buffer_unordered(64)
        .try_collect()
        .await
}

struct Seen {
    delay: Samples,
    unexpected: usize,
}

/// Reads one watch stream until it saw all `writes` events or is stopped.
async fn read_events(
    mut body: Incoming,
    epoch: Instant,
    writes: usize,
    mut stop: watch::Receiver<bool>,
) -> Result<Seen> {
    let mut seen = vec![false; writes];
    let mut out = Seen {
        delay: Samples::with_capacity(writes),
        unexpected: 0,
    };
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    while out.delay.len() < writes {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = stop.wait_for(|s| *s) => break,
        };
        let received = epoch.elapsed();
        let Some(frame) = frame else { break };
        let Ok(data) = frame.context("reading a watch stream")?.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            match parse_sent(&buffer[..end]) {
                Some((seq, sent)) if seq < writes && !seen[seq] => {
                    seen[seq] = true;
                    out.delay
                        .push(received.saturating_sub(Duration::from_nanos(sent)));
                }
                _ => out.unexpected += 1,
            }
            buffer.drain(..=end);
        }
    }
    Ok(out)
}

/// `(seq, nanos)` from an ADDED event line, without parsing the whole JSON.
fn parse_sent(line: &[u8]) -> Option<(usize, u64)> {
    if !line.starts_with(b"{\"type\":\"ADDED\"") {
        return None;
    }
    let at = find(line, MARKER)? + MARKER.len();
    let rest = &line[at..];
    let end = rest.iter().position(|b| *b == b'"')?;
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    let (seq, nanos) = text.split_once(':')?;
    Some((seq.parse().ok()?, nanos.parse().ok()?))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
