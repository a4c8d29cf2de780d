//! A minimal HTTPS client for raw API requests (status codes, headers and
//! bodies exactly as the server sent them), over rustls trusting the
//! server's CA. One connection per request: simple and isolated.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A response read to the end.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// A raw HTTPS client for one server.
#[derive(Clone)]
pub struct Https {
    addr: String,
    token: Option<String>,
    tls: Arc<rustls::ClientConfig>,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Https {
    pub fn new(addr: &str, ca_pem: &str, token: Option<String>) -> Self {
        crate::init_crypto();
        let tls =
            federation_apiserver::pki::client_config_trusting(ca_pem).expect("client TLS config");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            addr: addr.to_string(),
            token,
            tls,
            runtime: Arc::new(runtime),
        }
    }

    /// The same client with another bearer token (or none).
    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            token: token.map(str::to_string),
            ..self.clone()
        }
    }

    pub fn get(&self, path: &str) -> Result<HttpResponse> {
        self.request("GET", path, None, &[])
    }

    pub fn delete(&self, path: &str) -> Result<HttpResponse> {
        self.request("DELETE", path, None, &[])
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Result<HttpResponse> {
        self.request(
            "POST",
            path,
            Some("application/json"),
            &serde_json::to_vec(body)?,
        )
    }

    pub fn put_json(&self, path: &str, body: &Value) -> Result<HttpResponse> {
        self.request(
            "PUT",
            path,
            Some("application/json"),
            &serde_json::to_vec(body)?,
        )
    }

    pub fn patch(&self, path: &str, content_type: &str, body: &Value) -> Result<HttpResponse> {
        self.request(
            "PATCH",
            path,
            Some(content_type),
            &serde_json::to_vec(body)?,
        )
    }

    /// A GET that gives up after `timeout`, connecting and handshake included
    /// (for servers that may hang, like a partitioned member).
    pub fn get_within(&self, path: &str, timeout: Duration) -> Result<HttpResponse> {
        self.runtime.block_on(async {
            tokio::time::timeout(
                timeout,
                Self::read(self.send("GET", path, None, Bytes::new())),
            )
            .await
            .with_context(|| format!("no answer within {timeout:?}"))?
        })
    }

    /// Any request, read to the end (blocking; for synchronous tests).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<HttpResponse> {
        let body = Bytes::copy_from_slice(body);
        self.runtime
            .block_on(Self::read(self.send(method, path, content_type, body)))
    }

    /// Reads a response to the end.
    async fn read(
        sending: impl std::future::Future<Output = Result<http::Response<Incoming>>>,
    ) -> Result<HttpResponse> {
        let response = sending.await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(Duration::from_secs(30), response.into_body().collect())
            .await
            .context("reading the body timed out")??
            .to_bytes();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// A bodiless request with an `Accept` header, read to the end.
    pub fn request_with_accept(
        &self,
        method: &str,
        path: &str,
        accept: &str,
    ) -> Result<HttpResponse> {
        self.runtime.block_on(Self::read(self.send_with_headers(
            method,
            path,
            None,
            Bytes::new(),
            &[("accept", accept)],
        )))
    }

    /// Sends a request and returns the response with its body unread
    /// (for watches: read it with [`Https::lines`]). Async.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<http::Response<Incoming>> {
        self.send_with_headers(method, path, content_type, body, &[])
            .await
    }

    /// [`Https::send`] with extra request headers.
    pub async fn send_with_headers(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> Result<http::Response<Incoming>> {
        let tcp = TcpStream::connect(&self.addr).await.context("connecting")?;
        tcp.set_nodelay(true)?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(ServerName::try_from("localhost")?.to_owned(), tcp)
            .await
            .context("TLS handshake")?;
        let io = hyper_util::rt::TokioIo::new(tls);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr);
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(body))?;
        Ok(sender.send_request(request).await?)
    }

    /// Opens a watch (async) and returns a reader of its JSON lines.
    pub async fn watch(&self, path: &str) -> Result<(u16, WatchLines)> {
        let response = self.send("GET", path, None, Bytes::new()).await?;
        let status = response.status().as_u16();
        Ok((
            status,
            WatchLines {
                body: response.into_body(),
                buffer: Vec::new(),
            },
        ))
    }
}

/// Reads newline-delimited JSON events from a streaming body.
pub struct WatchLines {
    body: Incoming,
    buffer: Vec<u8>,
}

impl WatchLines {
    /// The next event, `None` when the stream ended; errors after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                return Ok(Some(
                    serde_json::from_slice(&line[..line.len() - 1]).with_context(|| {
                        format!("watch line is not JSON: {}", String::from_utf8_lossy(&line))
                    })?,
                ));
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .context("timed out waiting for a watch event")?;
            match frame {
                None => {
                    anyhow::ensure!(self.buffer.is_empty(), "stream ended mid-line");
                    return Ok(None);
                }
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}
