//! The gRPC calls' way into the REST API: each call becomes an in-process
//! request to the same handler kubectl's requests reach, with the caller's
//! identity, so storage, validation, admission, defaults and server-side
//! apply have one implementation.
//!
//! # Guarantees
//! - A REST error becomes the gRPC status DESIGN §3b names for it, with the
//!   REST `Status` message (see [`status_of`]).
//! - A watch is read as the REST handler writes it (one JSON event per
//!   line) into a bounded channel: a consumer that stops reading stops the
//!   read, and the watch cache ends a watcher that falls too far behind, so
//!   memory stays bounded.

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use futures::StreamExt;
use http::{header, Method, Request, StatusCode};
use serde_json::Value;
use tokio::sync::mpsc;
use tonic::{Code, Status};
use tower::ServiceExt;

use crate::auth::UserInfo;
use crate::rest::api::{self, ApiState};
use crate::rest::body::MAX_BODY_BYTES;
use crate::rest::registry::ResourceType;

/// Watch events buffered between the REST watch and the gRPC stream.
pub const WATCH_BUFFER: usize = 64;

/// The largest REST answer read (a big List); the REST handler builds it
/// in memory either way.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;

/// The REST handler, without the HTTP layers (the gRPC side authenticates
/// and bounds messages itself).
#[derive(Clone)]
pub struct Bridge {
    api: Arc<ApiState>,
    rest: Router,
}

/// The status a REST error maps to.
pub fn status_of(code: StatusCode, body: &[u8]) -> Status {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = parsed["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let reason = parsed["reason"].as_str().unwrap_or("");
    let grpc = match code.as_u16() {
        400 | 415 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        405 => Code::Unimplemented,
        409 if reason == "AlreadyExists" => Code::AlreadyExists,
        409 => Code::Aborted,
        410 => Code::OutOfRange,
        413 | 429 => Code::ResourceExhausted,
        503 | 504 => Code::Unavailable,
        _ => Code::Internal,
    };
    Status::new(grpc, message)
}

impl Bridge {
    pub fn new(api: Arc<ApiState>) -> Self {
        let rest = Router::new().fallback(api::handle).with_state(api.clone());
        Self { api, rest }
    }

    /// Turns `true` when the server starts shutting down (long calls end).
    pub fn shutting_down(&self) -> tokio::sync::watch::Receiver<bool> {
        self.api.shutting_down.clone()
    }

    /// The served type of `api_version` + `kind`.
    pub fn resource_type(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Arc<ResourceType>, Status> {
        if api_version.is_empty() || kind.is_empty() {
            return Err(Status::invalid_argument(
                "api_version and kind are required (e.g. \"apps/v1\", \"Deployment\")",
            ));
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.api
            .registry()
            .all()
            .iter()
            .find(|t| t.kind == kind && t.version == version && t.group == group)
            .cloned()
            .ok_or_else(|| {
                Status::not_found(format!(
                    "the server does not serve kind {kind} in {api_version} \
                     (kubectl api-resources lists what it serves)"
                ))
            })
    }

    /// The REST path of a collection (`name` empty) or an object.
    pub fn path(&self, t: &ResourceType, namespace: &str, name: &str) -> Result<String, Status> {
        let mut path = if t.group.is_empty() {
            format!("/api/{}", t.version)
        } else {
            format!("/apis/{}/{}", t.group, t.version)
        };
        match (t.namespaced, namespace.is_empty()) {
            (true, false) => path += &format!("/namespaces/{}", encode(namespace)),
            (true, true) if !name.is_empty() => {
                return Err(Status::invalid_argument(format!(
                    "{} is namespaced: give its namespace",
                    t.kind
                )))
            }
            (false, false) => {
                return Err(Status::invalid_argument(format!(
                    "{} is cluster-scoped: leave the namespace empty",
                    t.kind
                )))
            }
            _ => {}
        }
        path += &format!("/{}", t.plural);
        if !name.is_empty() {
            path += &format!("/{}", encode(name));
        }
        Ok(path)
    }

    fn request(
        user: &UserInfo,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Request<Body>, Status> {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .map_err(|e| Status::invalid_argument(format!("bad request: {e}")))?;
        request.extensions_mut().insert(user.clone());
        Ok(request)
    }

    /// One request through the REST handler; the response, body unread.
    async fn send(
        &self,
        user: &UserInfo,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<http::Response<Body>, Status> {
        let request = Self::request(user, method, uri, content_type, body)?;
        self.rest
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| Status::internal(e.to_string()))
    }

    /// One REST call; its JSON answer, or the mapped error.
    pub async fn call(
        &self,
        user: &UserInfo,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Value, Status> {
        let bytes = self
            .call_bytes(user, method, uri, content_type, body)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| Status::internal(format!("the answer: {e}")))
    }

    /// [`Bridge::call`], the answer left as the JSON text the REST handler
    /// wrote (an object passed on as it is need not be parsed).
    pub async fn call_bytes(
        &self,
        user: &UserInfo,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<bytes::Bytes, Status> {
        let response = self.send(user, method, uri, content_type, body).await?;
        let code = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| Status::internal(format!("reading the answer: {e}")))?;
        if !code.is_success() {
            return Err(status_of(code, &bytes));
        }
        Ok(bytes)
    }

    /// A REST watch as a stream of its events (`type`, `object`); it ends
    /// with the mapped error of an ERROR event.
    pub async fn watch(
        &self,
        user: &UserInfo,
        uri: &str,
    ) -> Result<mpsc::Receiver<Result<Value, Status>>, Status> {
        let response = self
            .send(user, Method::GET, uri, "application/json", Vec::new())
            .await?;
        let code = response.status();
        if !code.is_success() {
            let bytes = axum::body::to_bytes(response.into_body(), MAX_BODY_BYTES)
                .await
                .unwrap_or_default();
            return Err(status_of(code, &bytes));
        }
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let mut body = response.into_body().into_data_stream();
        tokio::spawn(async move {
            let mut buffer: Vec<u8> = Vec::new();
            loop {
                // The caller went away: stop at once, even on a quiet watch.
                let chunk = tokio::select! {
                    chunk = body.next() => chunk,
                    () = tx.closed() => return,
                };
                let Some(Ok(chunk)) = chunk else {
                    return;
                };
                buffer.extend_from_slice(&chunk);
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                        continue;
                    };
                    let item = if event["type"] == "ERROR" {
                        let status = &event["object"];
                        let code = status["code"]
                            .as_u64()
                            .and_then(|c| StatusCode::from_u16(c as u16).ok())
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                        Err(status_of(code, status.to_string().as_bytes()))
                    } else {
                        Ok(event)
                    };
                    let last = item.is_err();
                    // The caller went away: stop reading.
                    if tx.send(item).await.is_err() || last {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_errors_map_to_the_design_codes() {
        let body =
            |reason: &str| format!(r#"{{"kind":"Status","reason":"{reason}","message":"m"}}"#);
        let code = |status: u16, reason: &str| {
            status_of(
                StatusCode::from_u16(status).expect("code"),
                body(reason).as_bytes(),
            )
            .code()
        };
        assert_eq!(code(404, "NotFound"), Code::NotFound);
        assert_eq!(code(409, "AlreadyExists"), Code::AlreadyExists);
        assert_eq!(code(409, "Conflict"), Code::Aborted);
        assert_eq!(code(422, "Invalid"), Code::InvalidArgument);
        assert_eq!(code(400, "BadRequest"), Code::InvalidArgument);
        assert_eq!(code(401, "Unauthorized"), Code::Unauthenticated);
        assert_eq!(code(403, "Forbidden"), Code::PermissionDenied);
        assert_eq!(code(410, "Expired"), Code::OutOfRange);
        assert_eq!(code(503, "ServiceUnavailable"), Code::Unavailable);
        assert_eq!(
            status_of(StatusCode::NOT_FOUND, body("NotFound").as_bytes()).message(),
            "m"
        );
    }
}
