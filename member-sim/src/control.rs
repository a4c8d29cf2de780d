//! The control socket (`DIR/control.sock`) through which `kubectl fed sim
//! fault` reaches the process running simulated members (`kubectl fed up`
//! or `kubectl fed sim`), found through its data dir.
//!
//! Protocol: one JSON request per connection, one JSON line back.
//! - `{"op": "fault", "member": NAME, "fault": {"mode": "latency", "latencyMs": 200}}`
//!   → `{"ok": true, "message": "..."}`
//! - `{"op": "status"}` → `{"ok": true, "members": [{"name", "address", "fault"}]}`
//! - failures: `{"ok": false, "error": "..."}`
//!
//! # Caveats
//! Only the owner can use the socket (mode 0600); anyone who can is trusted.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::faults::{Fault, FaultInjector};

/// The socket's file name in the data dir.
pub const SOCKET_FILE: &str = "control.sock";

/// Errors of the control socket.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "another process already runs simulated members from {0} (its control socket answers)"
    )]
    AlreadyRunning(PathBuf),
    #[error(
        "nothing runs simulated members from {dir}: no answer on {socket} \
         (start `kubectl fed up`, or pass the --data-dir it was started with)"
    )]
    NotRunning { dir: PathBuf, socket: PathBuf },
    #[error("control socket {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Refused(String),
    #[error("unreadable answer from the control socket: {0}")]
    BadAnswer(String),
}

/// A member the control socket can act on.
#[derive(Clone)]
pub struct Controlled {
    pub name: String,
    pub addr: SocketAddr,
    pub faults: FaultInjector,
}

/// Serves the control socket in `dir` until `shutdown` turns true, then
/// removes the socket file.
pub fn serve(
    dir: &Path,
    members: Vec<Controlled>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, ControlError> {
    let path = dir.join(SOCKET_FILE);
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(ControlError::AlreadyRunning(dir.to_path_buf()));
        }
        // Left behind by a process that did not stop cleanly.
        let _ = std::fs::remove_file(&path);
    }
    let io_error = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    let listener = UnixListener::bind(&path).map_err(io_error)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_error)?;
    }
    Ok(tokio::spawn(async move {
        loop {
            let stopping = async {
                let _ = shutdown.wait_for(|s| *s).await;
            };
            tokio::select! {
                () = stopping => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let members = members.clone();
                        tokio::spawn(async move {
                            if let Err(e) = answer(stream, &members).await {
                                tracing::debug!(error = %e, "control connection failed");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
            }
        }
        let _ = std::fs::remove_file(&path);
    }))
}

async fn answer(stream: UnixStream, members: &[Controlled]) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Value>(&line) {
        Ok(request) => handle(&request, members),
        Err(e) => refuse(format!("not a JSON request: {e}")),
    };
    let mut bytes = serde_json::to_vec(&reply).unwrap_or_default();
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.shutdown().await
}

fn refuse(error: String) -> Value {
    json!({"ok": false, "error": error})
}

/// Carries out one request.
pub fn handle(request: &Value, members: &[Controlled]) -> Value {
    match request.get("op").and_then(Value::as_str) {
        Some("status") => json!({
            "ok": true,
            "members": members.iter().map(|m| json!({
                "name": m.name,
                "address": m.addr.to_string(),
                "fault": m.faults.current().to_json(),
            })).collect::<Vec<_>>(),
        }),
        Some("fault") => {
            let name = request.get("member").and_then(Value::as_str).unwrap_or("");
            let Some(member) = members.iter().find(|m| m.name == name) else {
                let known: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
                return refuse(format!(
                    "no simulated member named {name:?} here (members: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            };
            match Fault::from_json(request.get("fault").unwrap_or(&Value::Null)) {
                Ok(fault) => {
                    member.faults.set(fault);
                    json!({"ok": true, "message": format!("{}: {fault}", member.name)})
                }
                Err(e) => refuse(e.to_string()),
            }
        }
        _ => refuse("unknown request: expected op \"fault\" or \"status\"".into()),
    }
}

/// Sends one request to the process running from `dir`; returns its answer
/// when it says `ok`.
pub async fn request(dir: &Path, request: &Value) -> Result<Value, ControlError> {
    let socket = dir.join(SOCKET_FILE);
    let mut stream = UnixStream::connect(&socket)
        .await
        .map_err(|_| ControlError::NotRunning {
            dir: dir.to_path_buf(),
            socket: socket.clone(),
        })?;
    let io_error = |source| ControlError::Io {
        path: socket.clone(),
        source,
    };
    let mut bytes = serde_json::to_vec(request).unwrap_or_default();
    bytes.push(b'\n');
    stream.write_all(&bytes).await.map_err(io_error)?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .await
        .map_err(io_error)?;
    let answer: Value =
        serde_json::from_str(&line).map_err(|e| ControlError::BadAnswer(e.to_string()))?;
    if answer.get("ok").and_then(Value::as_bool) == Some(true) {
        Ok(answer)
    } else {
        Err(ControlError::Refused(
            answer
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the request was refused")
                .to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<Controlled> {
        vec![Controlled {
            name: "member-1".into(),
            addr: "127.0.0.1:1".parse().expect("addr"),
            faults: FaultInjector::new("member-1"),
        }]
    }

    #[test]
    fn requests_set_faults_and_report_status() {
        let members = members();
        let reply = handle(
            &json!({"op": "fault", "member": "member-1", "fault": {"mode": "errors", "errorRate": 0.5}}),
            &members,
        );
        assert_eq!(reply["ok"], true, "{reply}");
        assert_eq!(members[0].faults.current(), Fault::Errors(0.5));
        let status = handle(&json!({"op": "status"}), &members);
        assert_eq!(status["members"][0]["fault"]["mode"], "errors");
        let unknown = handle(
            &json!({"op": "fault", "member": "nope", "fault": {"mode": "down"}}),
            &members,
        );
        assert_eq!(unknown["ok"], false);
        assert!(
            unknown["error"].as_str().unwrap_or("").contains("member-1"),
            "{unknown}"
        );
        let bad = handle(
            &json!({"op": "fault", "member": "member-1", "fault": {"mode": "latency"}}),
            &members,
        );
        assert!(
            bad["error"].as_str().unwrap_or("").contains("--latency-ms"),
            "{bad}"
        );
    }

    #[tokio::test]
    async fn over_the_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (stop, stopped) = watch::channel(false);
        let members = members();
        let task = serve(dir.path(), members.clone(), stopped.clone()).expect("serve");
        assert!(matches!(
            serve(dir.path(), members.clone(), stopped),
            Err(ControlError::AlreadyRunning(_))
        ));
        let reply = request(
            dir.path(),
            &json!({"op": "fault", "member": "member-1", "fault": {"mode": "down"}}),
        )
        .await
        .expect("answer");
        assert!(reply["message"].as_str().unwrap_or("").contains("down"));
        assert_eq!(members[0].faults.current(), Fault::Down);
        let refused = request(dir.path(), &json!({"op": "nothing"})).await;
        assert!(matches!(refused, Err(ControlError::Refused(_))));
        stop.send_replace(true);
        task.await.expect("stops");
        assert!(!dir.path().join(SOCKET_FILE).exists(), "socket removed");
        assert!(matches!(
            request(dir.path(), &json!({"op": "status"})).await,
            Err(ControlError::NotRunning { .. })
        ));
    }
}
