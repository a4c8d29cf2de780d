//! Starts the real release `federation-apiserver` binary on a fresh data dir
//! and kills it when the guard drops (also on error and panic).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http::{Method, StatusCode};

use crate::client::Endpoint;

/// The running server process and its data dir; both go away on drop.
pub struct ServerGuard {
    pub pid: u32,
    pub endpoint: Endpoint,
    pub data_dir: PathBuf,
    process: Process,
    /// Dropped after the process is killed (field order).
    _tempdir: tempfile::TempDir,
}

/// Kills and reaps the child process when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `federation-apiserver` next to this binary (both in `target/release`),
/// unless `explicit` names one.
pub fn locate_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let path = exe
        .parent()
        .context("the bench binary's directory")?
        .join("federation-apiserver");
    if !path.exists() {
        bail!(
            "{} is missing: build it first with `cargo build --release --workspace --bins` \
             (with the same CARGO_TARGET_DIR), or pass --server-bin PATH",
            path.display()
        );
    }
    Ok(path)
}

impl ServerGuard {
    /// Starts the binary on 127.0.0.1:0 with embedded (redb, durable)
    /// storage in a new temporary dir under `parent` (or the system temp dir).
    pub async fn start(binary: &Path, parent: Option<&Path>) -> Result<Self> {
        let tempdir = match parent {
            Some(p) => tempfile::Builder::new()
                .prefix("flotilla-bench-")
                .tempdir_in(p)?,
            None => tempfile::Builder::new()
                .prefix("flotilla-bench-")
                .tempdir()?,
        };
        let data_dir = tempdir.path().to_path_buf();
        // FLOTILLA_BENCH_REQUEST_LOG=FILE: every request the server answers,
        // logged to FILE (for counting requests per operation).
        let (log, level) = match std::env::var_os("FLOTILLA_BENCH_REQUEST_LOG") {
            Some(path) => (
                std::fs::File::create(path)?,
                "warn,federation_apiserver::server=debug",
            ),
            None => (
                std::fs::File::create(data_dir.join("apiserver.log"))?,
                "warn",
            ),
        };
        let child = Command::new(binary)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", "127.0.0.1:0", "--storage", "embedded"])
            .env("RUST_LOG", level)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id();
        // From here on `process` owns the child: an early return kills it.
        let mut process = Process(child);
        let endpoint = wait_for_kubeconfig(&mut process.0, &data_dir).await?;
        wait_ready(&endpoint, &data_dir).await?;
        Ok(ServerGuard {
            pid,
            endpoint,
            data_dir,
            process,
            _tempdir: tempdir,
        })
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.process.0.try_wait(), Ok(None))
    }

    /// The last lines of the server's log (for error messages).
    pub fn log_tail(&self) -> String {
        log_tail(&self.data_dir)
    }
}

/// Reads the address, CA and admin token the server wrote to its data dir.
async fn wait_for_kubeconfig(child: &mut Child, data_dir: &Path) -> Result<Endpoint> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let kubeconfig = data_dir.join("kubeconfig");
    let config = loop {
        if let Ok(text) = std::fs::read_to_string(&kubeconfig) {
            if text.contains("server: ") {
                break text;
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("the server exited ({status}):\n{}", log_tail(data_dir));
        }
        if Instant::now() > deadline {
            bail!("no kubeconfig after 30 s:\n{}", log_tail(data_dir));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let server = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .context("server URL in the kubeconfig")?;
    let addr = server.trim().trim_start_matches("https://").to_string();
    let token = std::fs::read_to_string(data_dir.join("admin.token"))?;
    let ca_pem = std::fs::read_to_string(data_dir.join("ca.crt"))?;
    Endpoint::new(&addr, &ca_pem, token.trim())
}

async fn wait_ready(endpoint: &Endpoint, data_dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut conn) = endpoint.connect(false).await {
            if let Ok((StatusCode::OK, _)) = conn.request(Method::GET, "/readyz", None).await {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("/readyz not OK after 30 s:\n{}", log_tail(data_dir));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last lines of the server's log (for error messages).
fn log_tail(data_dir: &Path) -> String {
    let log = std::fs::read_to_string(data_dir.join("apiserver.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
