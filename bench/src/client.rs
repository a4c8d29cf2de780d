//! A minimal HTTPS client for the benchmark: one persistent connection
//! (HTTP/1.1 keep-alive, or HTTP/2 when asked) per [`Conn`], over rustls
//! trusting the server's CA, with the admin bearer token on every request.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where the server is and how to authenticate to it; cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: String,
    authorization: HeaderValue,
    tls_h1: Arc<rustls::ClientConfig>,
    tls_h2: Arc<rustls::ClientConfig>,
}

impl Endpoint {
    pub fn new(addr: &str, ca_pem: &str, token: &str) -> Result<Self> {
        let tls_h1 = federation_apiserver::pki::client_config_trusting(ca_pem)
            .context("TLS client config from the server's CA")?;
        let mut h2 = (*tls_h1).clone();
        h2.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            addr: addr.to_string(),
            authorization: HeaderValue::from_str(&format!("Bearer {token}"))?,
            tls_h1,
            tls_h2: Arc::new(h2),
        })
    }

    /// Opens one TLS connection speaking HTTP/1.1 (or HTTP/2 with `http2`).
    pub async fn connect(&self, http2: bool) -> Result<Conn> {
        let tcp = TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let config = if http2 { &self.tls_h2 } else { &self.tls_h1 };
        let tls = TlsConnector::from(config.clone())
            .connect(ServerName::try_from("localhost")?.to_owned(), tcp)
            .await
            .context("TLS handshake")?;
        let io = TokioIo::new(tls);
        let sender = if http2 {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(connection);
            Sender::H2(sender)
        } else {
            let (sender, connection) = http1::handshake(io).await?;
            tokio::spawn(connection);
            Sender::H1(sender)
        };
        Ok(Conn {
            sender,
            host: HeaderValue::from_str(&self.addr)?,
            authorization: self.authorization.clone(),
        })
    }
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One persistent connection. HTTP/1.1 carries one request at a time (a
/// request waits for the previous response to be read to the end); an
/// HTTP/2 connection can be cloned with [`Conn::h2_clone`] to multiplex.
pub struct Conn {
    sender: Sender,
    host: HeaderValue,
    authorization: HeaderValue,
}

impl Conn {
    /// Another handle on the same HTTP/2 connection (a new stream per request).
    pub fn h2_clone(&self) -> Option<Conn> {
        match &self.sender {
            Sender::H2(s) => Some(Conn {
                sender: Sender::H2(s.clone()),
                host: self.host.clone(),
                authorization: self.authorization.clone(),
            }),
            Sender::H1(_) => None,
        }
    }

    /// Sends a request and returns the response with its body unread.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<http::Response<Incoming>> {
        self.send_as(method, path, "application/json", body).await
    }

    /// [`Conn::send`] with the body's content type.
    pub async fn send_as(
        &mut self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Bytes>,
    ) -> Result<http::Response<Incoming>> {
        let mut builder = http::Request::builder()
            .method(method)
            .header(http::header::AUTHORIZATION, self.authorization.clone());
        builder = match &self.sender {
            // HTTP/2 needs an absolute URI (for :scheme and :authority).
            Sender::H2(_) => builder.uri(format!("https://{}{path}", self.host.to_str()?)),
            Sender::H1(_) => builder
                .uri(path)
                .header(http::header::HOST, self.host.clone()),
        };
        let body = match body {
            Some(b) => {
                builder = builder.header(http::header::CONTENT_TYPE, content_type);
                b
            }
            None => Bytes::new(),
        };
        let request = builder.body(Full::new(body))?;
        let response = match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await.context("connection closed")?;
                s.send_request(request).await?
            }
            Sender::H2(s) => {
                s.ready().await.context("connection closed")?;
                s.send_request(request).await?
            }
        };
        Ok(response)
    }

    /// A request read to the end: status and body.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        let response = self.send(method, path, body).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// A request that must answer `expected`; returns the body.
    pub async fn expect(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        expected: StatusCode,
    ) -> Result<Bytes> {
        let (status, body) = self.request(method.clone(), path, body).await?;
        if status != expected {
            bail!(
                "{method} {path}: expected {expected}, got {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(500)])
            );
        }
        Ok(body)
    }
}
