//! A kubectl command running in the background (`get -w`), read line by
//! line with a deadline. Killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// A background kubectl whose stdout lines arrive through a channel.
pub struct KubectlWatch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl KubectlWatch {
    /// Runs the kubectl on PATH with the server's kubeconfig.
    pub fn start(server: &crate::ApiServer, args: &[&str]) -> Self {
        let mut command = crate::kubectl_command("kubectl", &server.kubeconfig());
        command.args(args);
        Self::spawn(command).expect("starting kubectl in the background")
    }

    /// Runs `command` (any kubectl binary, any environment) with its output piped.
    pub fn spawn(mut command: Command) -> Result<Self> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning kubectl")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// The next line printed; an error after `timeout` says what was seen
    /// so far and whether (and how) kubectl exited.
    pub fn next_line(&mut self, timeout: Duration) -> Result<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Ok(line)
            }
            Err(e) => {
                let note = self.exit_note();
                bail!(
                    "no line from kubectl within {timeout:?} ({e}); lines so far: {:?}; {note}",
                    self.seen
                )
            }
        }
    }

    /// The whitespace-separated cells of the next line.
    pub fn next_row(&mut self, timeout: Duration) -> Result<Vec<String>> {
        Ok(self
            .next_line(timeout)?
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// Every line read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Whether kubectl is still running (a watch must not give up on its stream).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// How kubectl ended (status and stderr), or that it is still running.
    pub fn exit_note(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                format!("kubectl exited ({status}), stderr: {stderr}")
            }
            _ => "kubectl is still running".to_string(),
        }
    }
}

impl Drop for KubectlWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
