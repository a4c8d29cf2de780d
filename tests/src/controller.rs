//! A `federation-controller` process for tests, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

use crate::binary;

pub struct ControllerProcess {
    child: Option<Child>,
    log: PathBuf,
}

impl ControllerProcess {
    /// `federation-controller --kubeconfig KUBECONFIG ARGS...`, logging to `log`.
    pub fn start(kubeconfig: &Path, args: &[&str], log: &Path) -> Result<Self> {
        let file = std::fs::File::create(log)?;
        let child = Command::new(binary("federation-controller"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .context("starting federation-controller")?;
        Ok(ControllerProcess {
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
