//! Assembles the API server: PKI and kubeconfig, storage stack, the tower
//! layer stack, and the TLS listener.
//!
//! Layers, outermost first (each request passes them top-down):
//! 1. `trace_requests` — one debug line per request (method, path, status, time)
//! 2. `grpc::by_content_type` — `application/grpc` requests go to the gRPC
//!    services ([`grpc`]: their own token check and message limit), the
//!    rest on down
//! 3. `limit_body_size` — 413 `Status` for a declared body over 3 MiB
//! 4. `auth::authenticate` — 401 `Status` without a valid bearer token
//!    (health and version paths are public)
//! 5. routes: health, `/version`, then every other path to [`rest::api::handle`]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::auth::{self, TokenAuthenticator};
use crate::rest::api::ApiState;
use crate::rest::body::MAX_BODY_BYTES;
use crate::rest::namespaces::{self};
use crate::rest::registry::Registry;
use crate::rest::{api, discovery};
use crate::status::ApiError;
use crate::storage::memory::MemoryStorage;
use crate::storage::redb_store::RedbStorage;
use crate::storage::watch_cache::{
    WatchCache, WindowLimits, BACKEND_EVENT_BUFFER, DEFAULT_WINDOW, DEFAULT_WINDOW_BYTES,
};
use crate::storage::Storage;
use crate::{grpc, kubeconfig, pki, tls};

/// Which storage backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageKind {
    /// Embedded redb database under the data dir (durable; the default).
    Embedded,
    /// In memory only: nothing survives a restart (tests, simulated members).
    Memory,
}

/// `federation-apiserver` settings (also its command line).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerConfig {
    /// Directory for the database, CA, serving certificate, admin token and kubeconfig.
    #[arg(long, default_value = "./.flotilla")]
    pub data_dir: PathBuf,
    /// Address to serve HTTPS on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Storage backend.
    #[arg(long, value_enum, default_value_t = StorageKind::Embedded)]
    pub storage: StorageKind,
    /// Static token file (CSV: token,user,uid,"group1,group2") adding users.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Extra DNS names or IPs for the serving certificate.
    #[arg(long = "tls-san")]
    pub tls_sans: Vec<String>,
    /// Recent events kept by the watch cache for watches that resume from the past.
    #[arg(long, default_value_t = DEFAULT_WINDOW)]
    pub watch_cache_events: usize,
    /// MiB of recent events (their objects' JSON) the watch cache keeps at most.
    #[arg(long, default_value_t = DEFAULT_WINDOW_BYTES / (1024 * 1024))]
    pub watch_cache_mib: usize,
    /// Seconds between BOOKMARK events on watches that ask for them.
    #[arg(long, default_value_t = 10)]
    pub bookmark_interval_seconds: u64,
    /// Events the storage backend buffers for the watch cache (allocated up
    /// front, ~90 bytes each); a cache that falls further behind relists.
    #[arg(long, default_value_t = BACKEND_EVENT_BUFFER)]
    pub storage_event_buffer: usize,
}

impl ServerConfig {
    /// A config for `data_dir` on `listen` with every other setting at its default.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen,
            storage: StorageKind::Embedded,
            token_file: None,
            tls_sans: Vec::new(),
            watch_cache_events: DEFAULT_WINDOW,
            watch_cache_mib: DEFAULT_WINDOW_BYTES / (1024 * 1024),
            bookmark_interval_seconds: 10,
            storage_event_buffer: BACKEND_EVENT_BUFFER,
        }
    }
}

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("certificates: {0}")]
    Pki(#[from] pki::PkiError),
    #[error("token file: {0}")]
    Auth(#[from] auth::AuthError),
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("writing the kubeconfig: {0}")]
    Kubeconfig(std::io::Error),
}

/// A started server.
pub struct RunningServer {
    /// The bound address (the real port when `--listen` used port 0).
    pub addr: SocketAddr,
    /// `DIR/kubeconfig`, context `flotilla`.
    pub kubeconfig: PathBuf,
    pub api: Arc<ApiState>,
    serve: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Waits until the server stops (after the shutdown future resolves).
    pub async fn wait(self) -> std::io::Result<()> {
        self.serve
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

async fn open_storage(config: &ServerConfig) -> Result<Arc<dyn Storage>, StartError> {
    let events = config.storage_event_buffer;
    let backend: Arc<dyn Storage> = match config.storage {
        StorageKind::Embedded => {
            let path = config.data_dir.join("flotilla.redb");
            let store = tokio::task::spawn_blocking(move || {
                RedbStorage::open_with_event_buffer(&path, events)
            })
            .await
            .map_err(|e| crate::storage::StorageError::Backend(e.to_string()))??;
            Arc::new(store)
        }
        StorageKind::Memory => Arc::new(MemoryStorage::with_event_buffer(events)),
    };
    Ok(Arc::new(
        WatchCache::new(
            backend,
            WindowLimits {
                events: config.watch_cache_events,
                bytes: config.watch_cache_mib.saturating_mul(1024 * 1024),
            },
        )
        .await?,
    ))
}

/// How a program that embeds the server (the member-cluster simulator,
/// `kubectl fed up`) adapts it. The default is the plain server.
#[derive(Default)]
pub struct Embedding {
    /// Name of the cluster, user and context in `DIR/kubeconfig` (default
    /// [`kubeconfig::DEFAULT_CONTEXT`], `flotilla`).
    pub context: Option<String>,
    /// Wraps the whole service, outside every layer of [`router`] (the
    /// simulator's fault injection).
    pub wrap: Option<Box<dyn FnOnce(Router) -> Router + Send>>,
    /// Controls the accept loop (see [`tls::serve_gated`]).
    pub gate: Option<tokio::sync::watch::Receiver<tls::ConnectionGate>>,
}

/// Starts serving; resolves once the listener is bound and the kubeconfig written.
pub async fn start(
    config: ServerConfig,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, StartError> {
    start_embedded(config, registry, shutdown, Embedding::default()).await
}

/// [`start`] with the adaptations of an embedding program.
pub async fn start_embedded(
    config: ServerConfig,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
    embedding: Embedding,
) -> Result<RunningServer, StartError> {
    let pki = {
        let (dir, ip, sans) = (
            config.data_dir.clone(),
            config.listen.ip(),
            config.tls_sans.clone(),
        );
        tokio::task::spawn_blocking(move || pki::load_or_create(&dir, ip, &sans))
            .await
            .map_err(|e| StartError::Kubeconfig(std::io::Error::other(e)))??
    };
    let authenticator = Arc::new(TokenAuthenticator::with_token_file(
        &pki.admin_token,
        config.token_file.as_deref(),
    )?);
    let storage = open_storage(&config).await?;
    namespaces::ensure_system_namespaces(storage.as_ref(), &registry).await?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let (shutdown_tx, shutting_down) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = shutdown_tx.send(true);
    };
    let mut state = ApiState::new(storage, registry, addr.to_string());
    state.shutting_down = shutting_down;
    state.bookmark_interval = Duration::from_secs(config.bookmark_interval_seconds.max(1));
    let api = Arc::new(state);
    api.namespace_finalizer().resume_all().await?;
    // Serve the stored CRDs from the first request on, then keep in step.
    if let Err(e) = crate::rest::crd::controller::reconcile(&api).await {
        tracing::warn!(error = %e, "initial CRD pass failed; the controller retries");
    }
    crate::rest::crd::controller::spawn(api.clone());

    let mut app = router(api.clone(), authenticator);
    if let Some(wrap) = embedding.wrap {
        app = wrap(app);
    }
    let context = embedding
        .context
        .unwrap_or_else(|| kubeconfig::DEFAULT_CONTEXT.to_string());
    let kubeconfig = kubeconfig::write_admin_kubeconfig(
        &config.data_dir,
        &context,
        addr,
        &pki.ca_cert_pem,
        &pki.admin_token,
    )
    .map_err(StartError::Kubeconfig)?;
    let tls_config = pki.rustls_server_config()?;
    tracing::info!(%addr, kubeconfig = %kubeconfig.display(), "API server listening");
    let serve = tokio::spawn(tls::serve_gated(
        listener,
        tls_config,
        app,
        shutdown,
        embedding.gate,
    ));
    Ok(RunningServer {
        addr,
        kubeconfig,
        api,
        serve,
    })
}

/// The HTTP service with its layers (see the module docs for the order).
pub fn router(api: Arc<ApiState>, authenticator: Arc<TokenAuthenticator>) -> Router {
    let grpc = grpc::routes(api.clone(), authenticator.clone());
    Router::new()
        .route("/healthz", get(ok))
        .route("/healthz/{*check}", get(ok))
        .route("/livez", get(ok))
        .route("/livez/{*check}", get(ok))
        .route("/readyz", get(ok))
        .route("/readyz/{*check}", get(ok))
        .route("/version", get(version))
        .fallback(api::handle)
        .with_state(api)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(trace_requests))
                .layer(middleware::from_fn(move |request, next| {
                    grpc::by_content_type(grpc.clone(), request, next)
                }))
                .layer(middleware::from_fn(limit_body_size))
                .layer(middleware::from_fn_with_state(
                    authenticator,
                    auth::authenticate,
                )),
        )
}

async fn ok() -> &'static str {
    "ok"
}

async fn trace_requests(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64, "request");
    response
}

/// Rejects a declared body over the limit before anything reads it; bodies
/// without a length are cut off at the limit by the handlers.
async fn limit_body_size(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return ApiError::too_large(MAX_BODY_BYTES).into_response();
    }
    next.run(request).await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

async fn version() -> Response {
    discovery::version_response()
}
