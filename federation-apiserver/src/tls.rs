//! HTTPS serving: a TLS accept loop that hands each connection to hyper's
//! auto (HTTP/1.1 + HTTP/2, with upgrades) connection builder.
//!
//! axum's own `serve` speaks plain TCP only; [`serve`] is its TLS
//! counterpart with bounded handshakes and bounded graceful shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Longest time a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time [`serve`] waits for open connections after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Whether the accept loop admits connections (see [`serve_gated`]).
///
/// The member-cluster simulator drives it to play an unreachable cluster;
/// a plain server is always [`ConnectionGate::Open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionGate {
    /// Connections are accepted and served.
    #[default]
    Open,
    /// New connections are accepted but get no TLS handshake until the gate
    /// opens again: clients hang, as behind a network partition.
    Hold,
    /// The listening socket is closed (connections are refused) and every
    /// open connection is dropped; the same address is bound again when the
    /// gate leaves this state.
    Closed,
}

/// Serves `app` over TLS on `listener` until `shutdown` completes.
///
/// # Guarantees
/// - Each connection runs in its own task: handshake failures, handshake
///   timeouts ([`HANDSHAKE_TIMEOUT`]) and `accept` errors are logged at debug
///   level and never stop the loop.
/// - `TCP_NODELAY` is set on every connection.
/// - On shutdown the listener is dropped (no new connections), every
///   connection is asked to shut down gracefully (HTTP/1.1: close after the
///   in-flight response; HTTP/2: GOAWAY), and `serve` waits at most
///   [`SHUTDOWN_GRACE`] before aborting the connections still open. When it
///   returns, no connection task is left running.
///
/// # Caveats
/// A long-lived response (a watch) keeps its connection open until the grace
/// period ends unless the handler itself ends the stream on shutdown.
/// Returns `Ok(())` on shutdown; there is currently no fatal error path, the
/// `io::Result` is for future use.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_gated(listener, tls, app, shutdown, None).await
}

/// [`serve`], with the admission of connections controlled by `gate`.
///
/// # Guarantees
/// - [`ConnectionGate::Closed`]: the listener is dropped at once (connects
///   are refused) and every connection task is aborted (their sockets
///   close); when the gate changes again the loop binds the same address,
///   retrying every 100 ms while it is taken.
/// - [`ConnectionGate::Hold`]: accepted connections wait before their TLS
///   handshake (the handshake timeout starts only when the gate opens).
///   Already established connections are not affected; a request layer can
///   hold their requests (the simulator's fault layer does).
/// - Shutdown behaves as in [`serve`] in every state.
pub async fn serve_gated(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    gate: Option<watch::Receiver<ConnectionGate>>,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    // Without a gate: one that stays open forever.
    let mut watching_gate = true;
    let (_open_tx, mut gate) = match gate {
        Some(gate) => (None, gate),
        None => {
            let (tx, rx) = watch::channel(ConnectionGate::Open);
            (Some(tx), rx)
        }
    };
    let addr = listener.local_addr()?;
    let mut listener = Some(listener);

    loop {
        if watching_gate && *gate.borrow_and_update() == ConnectionGate::Closed {
            if listener.take().is_some() {
                connections.abort_all();
                tracing::info!(%addr, "connection gate closed: refusing connections");
            }
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                changed = gate.changed() => {
                    if changed.is_err() {
                        // The gate's owner is gone: stay closed until shutdown.
                        (&mut shutdown).await;
                        break;
                    }
                }
            }
            continue;
        }
        let Some(bound) = listener.as_ref() else {
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    tracing::info!(%addr, "connection gate reopened: accepting connections");
                    listener = Some(l);
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "cannot bind again; retrying");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
            continue;
        };
        tokio::select! {
            () = &mut shutdown => break,
            changed = gate.changed(), if watching_gate => {
                // A dropped gate sender leaves the last state in force.
                watching_gate = changed.is_ok();
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = bound.accept() => match accepted {
                Ok((stream, peer)) => {
                    let conn = Connection {
                        acceptor: acceptor.clone(),
                        builder: builder.clone(),
                        app: app.clone(),
                        stop: stop_rx.clone(),
                        gate: gate.clone(),
                    };
                    connections.spawn(async move {
                        if let Err(e) = conn.run(stream).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
        }
    }

    drop(listener);
    let _ = stop_tx.send(true);
    let open = connections.len();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            open,
            still_open = connections.len(),
            "grace period over; closing remaining connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Everything one connection task needs.
struct Connection {
    acceptor: TlsAcceptor,
    builder: Builder<TokioExecutor>,
    app: Router,
    stop: watch::Receiver<bool>,
    gate: watch::Receiver<ConnectionGate>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Connection {
    async fn run(mut self, stream: TcpStream) -> Result<(), BoxError> {
        stream.set_nodelay(true)?;
        // A held connection waits here, before its handshake (a closed gate
        // aborts this task from the accept loop).
        tokio::select! {
            open = self.gate.wait_for(|g| *g == ConnectionGate::Open) => {
                if open.is_err() {
                    return Ok(());
                }
            }
            _ = self.stop.wait_for(|stop| *stop) => return Ok(()),
        }
        let tls_stream = tokio::select! {
            handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)) => {
                match handshake {
                    Ok(Ok(tls_stream)) => tls_stream,
                    Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}").into()),
                    Err(_) => return Err("TLS handshake timed out".into()),
                }
            }
            _ = self.stop.wait_for(|stop| *stop) => return Ok(()),
        };

        let app = self.app;
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            app.clone().oneshot(request)
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => return result,
            _ = self.stop.wait_for(|stop| *stop) => {}
        }
        connection.as_mut().graceful_shutdown();
        connection.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki;
    use axum::routing::get;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::TlsConnector;

    struct Running {
        addr: std::net::SocketAddr,
        ca_pem: String,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<io::Result<()>>,
        _dir: tempfile::TempDir,
    }

    async fn start() -> Running {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki =
            pki::load_or_create(dir.path(), "127.0.0.1".parse().expect("ip"), &[]).expect("pki");
        let tls = pki.rustls_server_config().expect("server config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/hello", get(|| async { "hello over tls" }))
            .route("/hang", get(std::future::pending::<&'static str>));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, tls, app, async {
            let _ = stop_rx.await;
        }));
        Running {
            addr,
            ca_pem: pki.ca_cert_pem,
            stop: Some(stop_tx),
            task,
            _dir: dir,
        }
    }

    async fn get_hello(server: &Running, name: &str) -> String {
        let connector =
            TlsConnector::from(pki::client_config_trusting(&server.ca_pem).expect("client"));
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let server_name = ServerName::try_from(name.to_string()).expect("server name");
        let mut tls = connector
            .connect(server_name, tcp)
            .await
            .expect("handshake");
        tls.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await.expect("read");
        String::from_utf8_lossy(&response).into_owned()
    }

    #[tokio::test]
    async fn serves_https_for_dns_and_ip_names_and_survives_bad_clients() {
        let mut server = start().await;

        // A client that is not speaking TLS must not stop the server.
        let mut junk = TcpStream::connect(server.addr).await.expect("connect");
        junk.write_all(b"this is not a TLS ClientHello\r\n\r\n")
            .await
            .expect("write");
        let mut sink = Vec::new();
        let _ = junk.read_to_end(&mut sink).await;
        // An idle client in the middle of nothing must not block others.
        let _idle = TcpStream::connect(server.addr).await.expect("connect");

        for name in ["localhost", "127.0.0.1"] {
            let response = get_hello(&server, name).await;
            assert!(response.starts_with("HTTP/1.1 200"), "{name}: {response}");
            assert!(response.ends_with("hello over tls"), "{name}: {response}");
        }

        // A name outside the certificate's SANs is rejected by the client.
        let connector =
            TlsConnector::from(pki::client_config_trusting(&server.ca_pem).expect("client"));
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let wrong = ServerName::try_from("wrong.example".to_string()).expect("name");
        assert!(connector.connect(wrong, tcp).await.is_err());

        if let Some(stop) = server.stop.take() {
            let _ = stop.send(());
        }
        let result =
            tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(5), &mut server.task)
                .await
                .expect("serve returns after shutdown")
                .expect("join");
        assert!(result.is_ok());
        assert!(
            TcpStream::connect(server.addr).await.is_err(),
            "listener closed"
        );
    }

    #[tokio::test]
    async fn serves_http2_when_negotiated() {
        let server = start().await;
        let mut config = (*pki::client_config_trusting(&server.ca_pem).expect("client")).clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let name = ServerName::try_from("localhost".to_string()).expect("name");
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .expect("h2 handshake");
        tokio::spawn(conn);
        let request = http::Request::get("https://localhost/hello")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(response.version(), http::Version::HTTP_2);
    }

    #[tokio::test]
    async fn shutdown_does_not_wait_for_hung_requests_forever() {
        let mut server = start().await;
        let connector =
            TlsConnector::from(pki::client_config_trusting(&server.ca_pem).expect("client"));
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let name = ServerName::try_from("localhost".to_string()).expect("name");
        // A request whose response never comes (like a watch).
        let mut tls = connector.connect(name, tcp).await.expect("handshake");
        tls.write_all(b"GET /hang HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("write");
        tls.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_millis(100)).await;

        if let Some(stop) = server.stop.take() {
            let _ = stop.send(());
        }
        let started = std::time::Instant::now();
        let result =
            tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(5), &mut server.task)
                .await
                .expect("serve returns")
                .expect("join");
        assert!(result.is_ok());
        let elapsed = started.elapsed();
        assert!(
            elapsed >= SHUTDOWN_GRACE - Duration::from_millis(500),
            "{elapsed:?}"
        );
        assert!(
            elapsed <= SHUTDOWN_GRACE + Duration::from_secs(2),
            "{elapsed:?}"
        );
        // The aborted connection is closed: the client sees EOF or an error.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), tls.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "connection closed after abort");
    }
}

#[cfg(test)]
#[path = "tls_gate_tests.rs"]
mod gate_tests;
