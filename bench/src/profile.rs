//! Optional per-phase CPU profiles of the server with `perf record`
//! (`--perf-dir DIR`): one `DIR/PHASE.data` per measured phase; read them
//! with `perf report -i DIR/PHASE.data --sort dso,sym`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `perf record` attached to the server; stopped with SIGINT.
pub struct Recording {
    child: Child,
    output: PathBuf,
}

/// Starts profiling `pid` into `dir/phase.data` when `dir` is set.
pub fn start(dir: Option<&Path>, phase: &str, pid: u32) -> Option<Recording> {
    let dir = dir?;
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("perf: cannot create {}: {e}", dir.display());
        return None;
    }
    let output = dir.join(format!("{phase}.data"));
    let child = Command::new("perf")
        .args(["record", "-F", "999", "-p", &pid.to_string(), "-o"])
        .arg(&output)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(child) => {
            // Give perf a moment to attach before the load starts.
            std::thread::sleep(Duration::from_millis(300));
            Some(Recording { child, output })
        }
        Err(e) => {
            eprintln!("perf: cannot start `perf record`: {e}");
            None
        }
    }
}

/// Stops a recording if there is one.
pub fn stop(recording: Option<Recording>) {
    if let Some(r) = recording {
        r.stop();
    }
}

impl Recording {
    /// Stops the recording (SIGINT lets perf write its file) and waits for it.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let _ = self.child.wait();
        println!("perf profile: {}", self.output.display());
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        // Only reached when `stop` was not called (an error): do not leave it running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
