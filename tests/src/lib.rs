//! Harness for end-to-end tests: starts the real `federation-apiserver`
//! binary on an ephemeral loopback port with its own data dir, and gives
//! tests a raw HTTPS client, a kube-rs client and the real kubectl.
//!
//! Every process started here is killed when its handle drops.

pub mod controller;
pub mod fed;
pub mod https;
pub mod kubectl_watch;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub use controller::ControllerProcess;
pub use fed::FedUp;
pub use https::{HttpResponse, Https};
pub use kubectl_watch::KubectlWatch;

/// Installs the process-wide rustls crypto provider (ring) once.
pub fn init_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The directory holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/test-xxxx → target/debug
    let deps = exe.parent().expect("deps dir");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("profile dir").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// Path of a workspace binary, built with `cargo build --bins` beforehand
/// (the README test command does that).
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` before the end-to-end tests",
        path.display()
    );
    path
}

/// A loopback port that was free a moment ago (bind to port 0, then release
/// it), for a server that must keep its address across restarts:
/// `ApiServer::start_with(&["--listen", &format!("127.0.0.1:{port}")])`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `federation-apiserver` process — or any binary that serves the
/// same way (writes `DIR/kubeconfig`, answers `/readyz`), such as a
/// simulated member (`kubectl-fed sim`, see [`ApiServer::start_sim`]).
pub struct ApiServer {
    child: Option<Child>,
    /// The binary and the arguments before `--data-dir`.
    command: Vec<String>,
    /// Keeps the data dir alive (None when the caller owns the dir).
    _tempdir: Option<tempfile::TempDir>,
    pub data_dir: PathBuf,
    pub extra_args: Vec<String>,
    pub addr: String,
    pub token: String,
    pub ca_pem: String,
}

impl ApiServer {
    /// Starts a server on a fresh temporary data dir (embedded storage).
    pub fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a server with extra command-line arguments.
    pub fn start_with(extra_args: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut server = ApiServer {
            child: None,
            command: vec!["federation-apiserver".to_string()],
            data_dir: dir.path().to_path_buf(),
            _tempdir: Some(dir),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            addr: String::new(),
            token: String::new(),
            ca_pem: String::new(),
        };
        server.launch()?;
        Ok(server)
    }

    /// Starts a simulated member cluster (`kubectl-fed sim --name NAME`)
    /// with extra arguments (`--capacity-pods`, `--startup-delay-ms`...).
    pub fn start_sim(name: &str, extra_args: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut server = ApiServer {
            child: None,
            command: ["kubectl-fed", "sim", "--name", name]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            data_dir: dir.path().to_path_buf(),
            _tempdir: Some(dir),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            addr: String::new(),
            token: String::new(),
            ca_pem: String::new(),
        };
        server.launch()?;
        Ok(server)
    }

    /// Starts (or restarts) the process on the same data dir and waits until it serves.
    pub fn launch(&mut self) -> Result<()> {
        init_crypto();
        let kubeconfig = self.kubeconfig();
        let _ = std::fs::remove_file(&kubeconfig);
        let log = std::fs::File::create(self.data_dir.join("apiserver.log"))?;
        let mut command = Command::new(binary(&self.command[0]));
        command.args(&self.command[1..]);
        command.arg("--data-dir").arg(&self.data_dir);
        // A `--listen` among the extra arguments (e.g. a fixed port from
        // [`free_port`], so clients survive a restart) replaces the ephemeral one.
        let own_listen = self
            .extra_args
            .iter()
            .any(|a| a == "--listen" || a.starts_with("--listen="));
        if !own_listen {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        let child = command
            .args(&self.extra_args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.command.join(" ")))?;
        self.child = Some(child);
        let child = self.child.as_mut().expect("just spawned");
        let config = wait_for(Duration::from_secs(30), "the kubeconfig", || {
            // A process that already exited will never write it: stop waiting.
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(status));
            }
            std::fs::read_to_string(&kubeconfig).ok().map(Ok)
        })?
        .map_err(|status| {
            anyhow::anyhow!(
                "{} exited ({status}) before serving:\n{}",
                self.command.join(" "),
                self.log()
            )
        })?;
        let server = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .context("server URL in kubeconfig")?;
        self.addr = server.trim().trim_start_matches("https://").to_string();
        self.token = std::fs::read_to_string(self.data_dir.join("admin.token"))?
            .trim()
            .to_string();
        self.ca_pem = std::fs::read_to_string(self.data_dir.join("ca.crt"))?;
        let https = self.https();
        wait_for(Duration::from_secs(30), "/readyz", || {
            https.get("/readyz").ok().filter(|r| r.status == 200)
        })?;
        Ok(())
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig")
    }

    /// A raw HTTPS client authenticated as the admin.
    pub fn https(&self) -> Https {
        Https::new(&self.addr, &self.ca_pem, Some(self.token.clone()))
    }

    /// A raw HTTPS client without credentials.
    pub fn anonymous(&self) -> Https {
        Https::new(&self.addr, &self.ca_pem, None)
    }

    /// A kube-rs client from the server's kubeconfig.
    pub async fn kube_client(&self) -> Result<kube::Client> {
        init_crypto();
        let kubeconfig = kube::config::Kubeconfig::read_from(self.kubeconfig())?;
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Runs `kubectl` (the one on PATH) against this server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl_at("kubectl", &self.kubeconfig(), args, None)
    }

    /// Runs `kubectl` with `stdin` piped in.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        kubectl_at("kubectl", &self.kubeconfig(), args, Some(stdin))
    }

    /// The process id (for signals).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status.
    pub fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("not running")?;
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let status = wait_for(Duration::from_secs(20), "a clean exit", || {
            child.try_wait().ok().flatten()
        })?;
        Ok(status)
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("apiserver.log")).unwrap_or_default()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A kubectl command for a server's kubeconfig, with a discovery cache of
/// its own beside that kubeconfig.
///
/// kubectl caches discovery under `~/.kube/cache/discovery/HOST_PORT` for
/// hours. Test servers listen on ephemeral ports, so a port reused by a later
/// server (of another test binary, or with other CRDs) would otherwise be
/// answered from the earlier server's cached discovery.
pub fn kubectl_command(binary: &str, kubeconfig: &Path) -> Command {
    let cache_dir = kubeconfig
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("kubectl-cache");
    let mut cmd = Command::new(binary);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache_dir);
    cmd
}

/// Runs a kubectl binary with a kubeconfig.
pub fn kubectl_at(binary: &str, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    kubectl_at_env(binary, kubeconfig, args, stdin, &[])
}

/// [`kubectl_at`] with extra environment variables for kubectl (such as
/// `KUBE_EDITOR` for `kubectl edit`).
pub fn kubectl_at_env(
    binary: &str,
    kubeconfig: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    use std::io::Write;
    let mut cmd = kubectl_command(binary, kubeconfig);
    cmd.args(args);
    cmd.envs(env.iter().copied());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running {binary}: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("writing kubectl stdin");
    }
    child.wait_with_output().expect("kubectl output")
}

/// stdout of a successful kubectl run, or a panic showing stderr.
pub fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "kubectl failed ({}):\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
