//! The connection gate of [`super::serve_gated`]: closed refuses and drops,
//! held connections wait for their handshake, reopening binds the same address.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsConnector;

use super::{serve_gated, ConnectionGate};
use crate::pki;

struct Gated {
    addr: std::net::SocketAddr,
    connector: TlsConnector,
    gate: watch::Sender<ConnectionGate>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Gated {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki::load_or_create(dir.path(), "127.0.0.1".parse().expect("ip"), &[]).expect("pki");
    let tls = pki.rustls_server_config().expect("server config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/hang", get(std::future::pending::<&'static str>));
    let (gate, gate_rx) = watch::channel(ConnectionGate::Open);
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_gated(
        listener,
        tls,
        app,
        async {
            let _ = stop_rx.await;
        },
        Some(gate_rx),
    ));
    let connector =
        TlsConnector::from(pki::client_config_trusting(&pki.ca_cert_pem).expect("client"));
    Gated {
        addr,
        connector,
        gate,
        _stop: stop,
        _dir: dir,
    }
}

impl Gated {
    async fn connect(&self) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::try_from("localhost".to_string()).expect("name");
        self.connector.connect(name, tcp).await
    }

    async fn hello(&self) -> std::io::Result<String> {
        let mut tls = self.connect().await?;
        tls.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await?;
        Ok(String::from_utf8_lossy(&response).into_owned())
    }
}

/// Polls `f` until it returns true or `deadline` passes.
async fn eventually(deadline: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + deadline;
    while tokio::time::Instant::now() < end {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn closed_refuses_and_drops_then_reopens_on_the_same_address() {
    let server = start().await;
    assert!(server.hello().await.expect("open").ends_with("hello"));
    // An open connection with a request in flight.
    let mut hung = server.connect().await.expect("connect");
    hung.write_all(b"GET /hang HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");

    server.gate.send_replace(ConnectionGate::Closed);
    let refused = eventually(Duration::from_secs(5), async || {
        matches!(TcpStream::connect(server.addr).await,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
    })
    .await;
    assert!(refused, "connections are refused while closed");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), hung.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the open connection was dropped");
    assert!(rest.is_empty(), "no response on the dropped connection");

    server.gate.send_replace(ConnectionGate::Open);
    let back = eventually(Duration::from_secs(5), async || {
        server.hello().await.is_ok_and(|r| r.ends_with("hello"))
    })
    .await;
    assert!(back, "serves again on the same address after reopening");
}

#[tokio::test]
async fn held_connections_wait_for_their_handshake() {
    let server = start().await;
    server.gate.send_replace(ConnectionGate::Hold);
    // Connecting works (the kernel accepts), the handshake does not finish.
    let pending = tokio::time::timeout(Duration::from_millis(500), server.connect()).await;
    assert!(pending.is_err(), "handshake completed while held");

    let server = Arc::new(server);
    let waiting = tokio::spawn({
        let server = server.clone();
        async move { server.hello().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "a held request finished");
    server.gate.send_replace(ConnectionGate::Open);
    let response = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the held connection proceeds once open")
        .expect("join")
        .expect("request");
    assert!(response.ends_with("hello"));
}
