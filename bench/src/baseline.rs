//! The storage's own create limit, measured in this process with no server
//! and no HTTP: the server's redb backend (group commit), the server's whole
//! storage stack (watch cache over it), and plain redb.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use federation_apiserver::storage::redb_store::RedbStorage;
use federation_apiserver::storage::watch_cache::{WatchCache, WindowLimits};
use federation_apiserver::storage::Storage;
use redb::{Database, TableDefinition};
use serde_json::{json, Value};

use crate::stats::{Meter, Rate, Samples};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");

/// How much work each baseline does: `total` objects or `limit` of time,
/// whichever comes first.
#[derive(Clone, Copy)]
pub struct Budget {
    pub total: usize,
    pub limit: Duration,
    pub concurrency: usize,
}

pub struct BaselineResult {
    pub name: String,
    pub rate: Rate,
    pub latency: Samples,
}

/// A ConfigMap shaped like the ones the server stores (uid, timestamps, …).
pub fn default_template() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "cm", "namespace": "bench", "labels": {"app": "flotilla-bench"},
            "uid": "0f8f4b6e-4c36-4d5e-9a43-7f4d1b1b2c3d",
            "creationTimestamp": "2025-01-01T00:00:00Z", "generation": 1,
        },
        "data": {"key": format!("cm-{}", "x".repeat(48))},
    })
}

fn object(template: &Value, i: usize) -> (String, Value) {
    let name = format!("base-{i:06}");
    let mut value = template.clone();
    value["metadata"]["name"] = Value::String(name.clone());
    (format!("/core/configmaps/bench/{name}"), value)
}

/// Every baseline, in order, each on a fresh database under `dir`.
pub async fn run_all(dir: &Path, budget: Budget, template: &Value) -> Result<Vec<BaselineResult>> {
    let c = budget.concurrency;
    let mut out = Vec::new();
    out.push(
        storage(
            dir,
            budget,
            template,
            false,
            format!("RedbStorage::create (group commit), {c} tasks"),
        )
        .await?,
    );
    out.push(
        storage(
            dir,
            budget,
            template,
            true,
            format!("WatchCache over RedbStorage (server's stack), {c} tasks"),
        )
        .await?,
    );
    out.push(raw_per_object(dir, budget, template).await?);
    for batch in [c, 512] {
        out.push(raw_batched(dir, budget, template, batch).await?);
    }
    Ok(out)
}

/// `concurrency` tasks calling `Storage::create` on the redb backend,
/// optionally behind the watch cache.
async fn storage(
    dir: &Path,
    budget: Budget,
    template: &Value,
    cached: bool,
    name: String,
) -> Result<BaselineResult> {
    let db = tempfile::tempdir_in(dir)?;
    let path = db.path().join("flotilla.redb");
    let redb = tokio::task::spawn_blocking(move || RedbStorage::open(&path)).await??;
    let store: Arc<dyn Storage> = if cached {
        Arc::new(WatchCache::new(Arc::new(redb), WindowLimits::default()).await?)
    } else {
        Arc::new(redb)
    };
    let next = Arc::new(AtomicUsize::new(0));
    let template = Arc::new(template.clone());
    let meter = Meter::start(None);
    let deadline = Instant::now() + budget.limit;
    let tasks: Vec<_> = (0..budget.concurrency)
        .map(|_| {
            let (store, next, template) = (store.clone(), next.clone(), template.clone());
            tokio::spawn(async move {
                let mut latency = Samples::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= budget.total || Instant::now() > deadline {
                        break;
                    }
                    let (key, value) = object(&template, i);
                    let started = Instant::now();
                    store.create(&key, value).await?;
                    latency.push(started.elapsed());
                }
                anyhow::Ok(latency)
            })
        })
        .collect();
    let latency = crate::scenarios::join_samples(tasks).await?;
    let rate = meter.stop(latency.len());
    Ok(BaselineResult {
        name,
        rate,
        latency,
    })
}

fn open_raw(dir: &Path) -> Result<(tempfile::TempDir, Arc<Database>)> {
    let tmp = tempfile::tempdir_in(dir)?;
    let db = Database::create(tmp.path().join("raw.redb"))?;
    let txn = db.begin_write()?;
    txn.open_table(OBJECTS)?;
    txn.commit()?;
    Ok((tmp, Arc::new(db)))
}

/// `concurrency` threads, each committing one durable transaction per
/// object (redb serialises write transactions, so they take turns).
async fn raw_per_object(dir: &Path, budget: Budget, template: &Value) -> Result<BaselineResult> {
    let (_tmp, db) = open_raw(dir)?;
    let next = Arc::new(AtomicUsize::new(0));
    let template = Arc::new(template.clone());
    let deadline = Instant::now() + budget.limit;
    let meter = Meter::start(None);
    let threads: Vec<_> = (0..budget.concurrency)
        .map(|_| {
            let (db, next, template) = (db.clone(), next.clone(), template.clone());
            std::thread::spawn(move || -> Result<Samples> {
                let mut latency = Samples::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= budget.total || Instant::now() > deadline {
                        break;
                    }
                    let (key, value) = object(&template, i);
                    let started = Instant::now();
                    let bytes = serde_json::to_vec(&value)?;
                    let txn = db.begin_write()?;
                    txn.open_table(OBJECTS)?
                        .insert(key.as_str(), bytes.as_slice())?;
                    txn.commit()?;
                    latency.push(started.elapsed());
                }
                Ok(latency)
            })
        })
        .collect();
    let latency = tokio::task::spawn_blocking(move || -> Result<Samples> {
        let mut all = Samples::default();
        for t in threads {
            all.extend(
                t.join()
                    .map_err(|_| anyhow::anyhow!("a thread panicked"))??,
            );
        }
        Ok(all)
    })
    .await??;
    let rate = meter.stop(latency.len());
    Ok(BaselineResult {
        name: format!(
            "raw redb, {} threads, 1 durable txn per object",
            budget.concurrency
        ),
        rate,
        latency,
    })
}

/// One thread committing `batch` objects per durable transaction (the best
/// case for group commit with that many writes queued). Latency is per
/// transaction.
async fn raw_batched(
    dir: &Path,
    budget: Budget,
    template: &Value,
    batch: usize,
) -> Result<BaselineResult> {
    let (_tmp, db) = open_raw(dir)?;
    let template = template.clone();
    let meter = Meter::start(None);
    let (done, latency) = tokio::task::spawn_blocking(move || -> Result<(usize, Samples)> {
        let deadline = Instant::now() + budget.limit;
        let mut latency = Samples::default();
        let mut done = 0;
        while done < budget.total && Instant::now() < deadline {
            let started = Instant::now();
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(OBJECTS)?;
                for i in done..(done + batch).min(budget.total) {
                    let (key, value) = object(&template, i);
                    let bytes = serde_json::to_vec(&value)?;
                    table.insert(key.as_str(), bytes.as_slice())?;
                }
            }
            txn.commit().context("commit")?;
            done = (done + batch).min(budget.total);
            latency.push(started.elapsed());
        }
        Ok((done, latency))
    })
    .await??;
    let rate = meter.stop(done);
    Ok(BaselineResult {
        name: format!("raw redb, 1 thread, {batch} objects per durable txn"),
        rate,
        latency,
    })
}
