//! The REST entry point: one handler for every resource path, dispatching on
//! the parsed [`RequestInfo`] and the HTTP method to generic verbs.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{header, Method, StatusCode};
use serde_json::Value;

use super::body::MAX_BODY_BYTES;
use super::namespaces::NamespaceFinalizer;
use super::registry::{Registry, ResourceType};
use super::request_info::{self, Query, RequestInfo};
use super::{deletes, discovery, reads, scale, watch, writes};
use crate::status::ApiError;
use crate::storage::{Object, Storage, StorageError};

/// Everything a request handler needs.
pub struct ApiState {
    pub storage: Arc<dyn Storage>,
    /// The served types now: built-ins plus established CRDs, replaced as a
    /// whole by the CRD controller. Each request takes one snapshot.
    registry: parking_lot::RwLock<Arc<Registry>>,
    /// The types served without any CRD (what the registry is rebuilt from).
    base: Registry,
    /// `host:port` advertised in `/api` discovery.
    pub server_address: String,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// Becomes `true` when the server starts shutting down: open watches end
    /// at once instead of holding the shutdown for its grace period.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
    namespaces: Arc<NamespaceFinalizer>,
}

impl ApiState {
    pub fn new(storage: Arc<dyn Storage>, registry: Registry, server_address: String) -> Self {
        let namespaces = Arc::new(NamespaceFinalizer::new(storage.clone(), &registry));
        Self {
            storage,
            registry: parking_lot::RwLock::new(Arc::new(registry.clone())),
            base: registry,
            server_address,
            bookmark_interval: Duration::from_secs(10),
            shutting_down: tokio::sync::watch::channel(false).1,
            namespaces,
        }
    }

    /// A snapshot of the served types.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().clone()
    }

    /// The types served without any CRD.
    pub fn base_registry(&self) -> &Registry {
        &self.base
    }

    /// Replaces the served types (the CRD controller's rebuild).
    pub fn set_registry(&self, registry: Registry) {
        self.namespaces.set_types(registry.namespaced());
        *self.registry.write() = Arc::new(registry);
    }

    /// The task runner that empties deleted namespaces.
    pub fn namespace_finalizer(&self) -> Arc<NamespaceFinalizer> {
        self.namespaces.clone()
    }
}

/// One resolved request: what it addresses and with which type.
pub struct Target {
    pub info: RequestInfo,
    pub rt: Arc<ResourceType>,
    pub query: Query,
    /// The request's `Accept` header (tables, see [`super::table`]).
    pub accept: Option<String>,
}

impl Target {
    pub fn namespace(&self) -> Option<&str> {
        self.info.namespace.as_deref()
    }

    /// The addressed object's name (`""` for collection requests).
    pub fn name(&self) -> &str {
        self.info.name.as_deref().unwrap_or("")
    }

    pub fn key(&self, name: &str) -> String {
        self.rt.key(self.namespace(), name)
    }

    /// Maps a storage failure to the Kubernetes error for this resource.
    pub fn storage_error(&self, name: &str, error: StorageError) -> ApiError {
        let (group, plural) = (&self.rt.group, &self.rt.plural);
        match error {
            StorageError::NotFound(_) => ApiError::not_found(group, plural, name),
            StorageError::AlreadyExists(_) => ApiError::already_exists(group, plural, name),
            StorageError::Conflict { .. } => ApiError::stale(group, plural, name),
            StorageError::Expired { requested, oldest } => {
                ApiError::gone_expired(format!("too old resource version: {requested} ({oldest})"))
            }
            StorageError::TooDeep => ApiError::invalid(
                &self.rt.group,
                &self.rt.kind,
                name,
                vec![crate::status::Cause::new(
                    "FieldValueInvalid",
                    "",
                    format!(
                        "the object (with its managedFields) nests deeper than {} levels",
                        crate::storage::MAX_DEPTH
                    ),
                )],
            ),
            e @ (StorageError::Corrupt(_) | StorageError::Backend(_)) => {
                tracing::error!(error = %e, "storage failure");
                ApiError::internal(format!("storage failure: {e}"))
            }
        }
    }
}

/// A stored object as served through `rt`'s version: custom resources are
/// stored once for all versions, so their `apiVersion` is set to the
/// version read through (conversion strategy `None`, as in Kubernetes).
pub fn as_served(rt: &ResourceType, object: &Object) -> Object {
    if rt.crd.is_none() {
        return object.clone();
    }
    let want = rt.api_version();
    if object.value().get("apiVersion").and_then(Value::as_str) == Some(want.as_str()) {
        return object.clone();
    }
    let mut value = object.value().clone();
    value["apiVersion"] = Value::String(want);
    crate::storage::object(value)
}

/// Serialises a response object as JSON with the given status code.
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A stored object as the response body, using its cached JSON bytes.
pub fn object_response(code: StatusCode, object: &Object) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        object.json().clone(),
    )
        .into_response()
}

/// The handler behind every non-health path.
pub async fn handle(State(api): State<Arc<ApiState>>, request: Request) -> Response {
    match dispatch(&api, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn dispatch(api: &Arc<ApiState>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let registry = api.registry();
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(response) = discovery::discovery_response(
        &registry,
        &parts.method,
        &path,
        accept.as_deref(),
        &api.server_address,
    ) {
        return Ok(response);
    }
    if let Some(response) = super::openapi::response(
        &registry,
        &parts.method,
        &path,
        parts.uri.query(),
        &parts.headers,
    ) {
        return Ok(response);
    }
    let info = request_info::parse(&path).ok_or_else(|| ApiError::no_such_path(&path))?;
    let rt = registry
        .lookup(&info.group, &info.version, &info.resource)
        .ok_or_else(|| ApiError::no_such_path(&path))?;
    if info.namespace.is_some() && !rt.namespaced {
        return Err(ApiError::no_such_path(&path));
    }
    // The all-namespaces path of a namespaced kind is a collection only
    // (no objects under it), served for list and watch only.
    if info.namespace.is_none() && rt.namespaced {
        if info.name.is_some() {
            return Err(ApiError::no_such_path(&path));
        }
        if parts.method != Method::GET {
            return Err(not_allowed(&parts.method, &path));
        }
    }
    let target = Target {
        query: Query::parse(parts.uri.query()).with_user_agent(
            parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        ),
        info,
        rt,
        accept: accept.clone(),
    };
    match target.info.subresource.as_deref() {
        None => {}
        Some("status") if target.rt.has_status => {}
        Some("scale") if target.rt.has_scale && target.info.name.is_some() => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
                .await
                .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?;
            return scale::handle(api, &target, &parts.method, content_type, &bytes).await;
        }
        Some(_) => return Err(ApiError::no_such_path(&path)),
    }
    // `/status` is read and written, never created or deleted.
    if target.info.subresource.is_some()
        && !matches!(parts.method, Method::GET | Method::PUT | Method::PATCH)
    {
        return Err(not_allowed(&parts.method, &path));
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let has_name = target.info.name.is_some();
    let method = parts.method.clone();
    // Bodies are read only for verbs that take one, with the size limit.
    let read_body = |body: Body| async move {
        axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))
    };
    match (method, has_name) {
        (Method::GET, _) if target.query.flag("watch") => watch::watch(api, &target).await,
        (Method::GET, true) => reads::get(api, &target).await,
        (Method::GET, false) => reads::list(api, &target).await,
        (Method::POST, false) => {
            let bytes = read_body(body).await?;
            writes::create(api, &target, content_type.as_deref(), &bytes).await
        }
        (Method::PUT, true) => {
            let bytes = read_body(body).await?;
            writes::update(api, &target, content_type.as_deref(), &bytes).await
        }
        (Method::PATCH, true) => {
            let bytes = read_body(body).await?;
            writes::patch(api, &target, content_type.as_deref(), &bytes).await
        }
        (Method::DELETE, true) => {
            let bytes = read_body(body).await?;
            deletes::delete(api, &target, &bytes).await
        }
        (Method::DELETE, false) if target.rt.strategy.delete_collection => {
            let bytes = read_body(body).await?;
            deletes::delete_collection(api, &target, &bytes).await
        }
        (method, _) => Err(not_allowed(&method, &path)),
    }
}

/// 405, as kube-apiserver answers a verb a path does not serve.
fn not_allowed(method: &Method, path: &str) -> ApiError {
    ApiError::method_not_allowed(format!(
        "the server does not allow this method on the requested resource ({method} {path})"
    ))
}
