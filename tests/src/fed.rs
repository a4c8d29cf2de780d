//! `kubectl-fed up` as a test fixture: the whole local federation in one
//! process, read back through the kubeconfig it writes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use federation_apiserver::kubeconfig::Kubeconfig;

use crate::{binary, kubectl_at, wait_for, Https};

/// A running `kubectl-fed up`, killed when dropped.
pub struct FedUp {
    child: Option<Child>,
    pub data_dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    /// The line `up` printed once everything served.
    pub ready_line: String,
    /// How long from spawning the process to that line.
    pub startup: Duration,
}

impl FedUp {
    /// `kubectl-fed up --listen 127.0.0.1:0` on a fresh data dir, plus `args`.
    pub fn start(args: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut up = Self::start_in(dir.path(), args)?;
        up._tempdir = Some(dir);
        Ok(up)
    }

    /// `kubectl-fed up` on `dir` (which the caller keeps), plus `args`.
    pub fn start_in(dir: &Path, args: &[&str]) -> Result<Self> {
        crate::init_crypto();
        let log = std::fs::File::create(dir.join("up.log"))?;
        let started = Instant::now();
        let mut child = Command::new(binary("kubectl-fed"))
            .arg("up")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting kubectl-fed up")?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut up = FedUp {
            child: Some(child),
            data_dir: dir.to_path_buf(),
            _tempdir: None,
            ready_line: String::new(),
            startup: Duration::ZERO,
        };
        let deadline = started + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.starts_with("Flotilla is up") => {
                    up.startup = started.elapsed();
                    up.ready_line = line;
                    return Ok(up);
                }
                Ok(_) => {}
                Err(_) => bail!(
                    "kubectl-fed up printed no ready line within 60 s; its log:\n{}",
                    up.log()
                ),
            }
        }
    }

    /// `kubectl fed up --members N --startup-delay-ms MS`, returned once
    /// every member's Cluster is Ready (60 s at most).
    pub fn start_ready(members: usize, startup_delay_ms: u32) -> Self {
        let up = FedUp::start(&[
            "--members",
            &members.to_string(),
            "--startup-delay-ms",
            &startup_delay_ms.to_string(),
        ])
        .expect("kubectl fed up");
        wait_for(Duration::from_secs(60), "every member Ready", || {
            let out = up.kubectl(&["get", "clusters", "-o", "json"]);
            let list: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let ready = list["items"]
                .as_array()?
                .iter()
                .filter(|c| {
                    c["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
                })
                .count();
            (ready == members).then_some(())
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", up.log()));
        up
    }

    /// `kubectl apply -f -` of `yaml` at the federation; panics on failure.
    pub fn apply(&self, yaml: &str) {
        crate::ok(kubectl_at(
            "kubectl",
            &self.kubeconfig(),
            &["apply", "-f", "-"],
            Some(yaml),
        ));
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig")
    }

    /// kubectl (the one on PATH) against the federation's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl_at("kubectl", &self.kubeconfig(), args, None)
    }

    /// A raw HTTPS client for one context of the kubeconfig (`flotilla`,
    /// `member-1`, ...).
    pub fn https(&self, context: &str) -> Result<Https> {
        let (addr, ca, token) = self.endpoint(context)?;
        Ok(Https::new(&addr, &ca, token))
    }

    /// One context of the kubeconfig: `host:port`, the CA (PEM) and the
    /// bearer token.
    pub fn endpoint(&self, context: &str) -> Result<(String, String, Option<String>)> {
        let config = Kubeconfig::load(&self.kubeconfig())?;
        let ctx = config
            .context(context)
            .with_context(|| format!("no context {context} in the kubeconfig"))?;
        let cluster = config
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .context("the context's cluster")?;
        let user = config
            .users
            .iter()
            .find(|u| u.name == ctx.user)
            .context("the context's user")?;
        let ca = base64::engine::general_purpose::STANDARD.decode(
            cluster
                .cluster
                .certificate_authority_data
                .as_deref()
                .unwrap_or(""),
        )?;
        let addr = cluster.cluster.server.trim_start_matches("https://");
        Ok((
            addr.to_string(),
            String::from_utf8(ca)?,
            user.user.token.clone(),
        ))
    }

    /// `kubectl-fed sim fault MEMBER ARGS... --data-dir DIR`.
    pub fn fault(&self, member: &str, args: &[&str]) -> Output {
        Command::new(binary("kubectl-fed"))
            .args(["sim", "fault", member])
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .output()
            .expect("running kubectl-fed sim fault")
    }

    /// `kubectl-fed ARGS...` against this federation (`KUBECONFIG` set).
    pub fn fed(&self, args: &[&str]) -> Output {
        Command::new(binary("kubectl-fed"))
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .output()
            .expect("running kubectl-fed")
    }

    /// SIGINT (Ctrl-C) and wait for the process to exit.
    pub fn interrupt(&mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().context("not running")?;
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()?;
        wait_for(Duration::from_secs(30), "kubectl-fed up to exit", || {
            child.try_wait().ok().flatten()
        })
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("up.log")).unwrap_or_default()
    }
}

impl Drop for FedUp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
