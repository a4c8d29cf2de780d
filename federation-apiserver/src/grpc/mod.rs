//! The public gRPC API (`flotilla.v1.Federation`, DESIGN §3b) on the REST
//! port, with `grpc.health.v1.Health` and server reflection.
//!
//! [`by_content_type`] sends requests whose content type is
//! `application/grpc...` here, ahead of the REST layers; everything else
//! goes on to REST. Calls are authenticated by the same bearer tokens
//! ([`Authenticate`]; health is public, like `/healthz`), manifests bounded by the
//! REST body limit, and answered through the REST handler
//! ([`bridge`]), so both APIs share one set of rules.

pub mod bridge;
mod convert;
mod federation;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use federation_proto::grpc::v1::federation_server::FederationServer;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::Status;
use tower::ServiceExt;

use crate::auth::TokenAuthenticator;
use crate::rest::api::ApiState;
use crate::rest::body::MAX_BODY_BYTES;

/// The largest message decoded at all: room for a manifest at the REST
/// body limit plus its envelope.
pub const MAX_DECODED_BYTES: usize = MAX_BODY_BYTES * 4;

/// The gRPC interceptor that authenticates `authorization: Bearer TOKEN`
/// metadata and hands the user on (as REST's `authenticate` layer does).
#[derive(Clone)]
pub struct Authenticate(Arc<TokenAuthenticator>);

impl Interceptor for Authenticate {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let user = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| self.0.authenticate_header(v))
            .cloned();
        match user {
            Some(user) => {
                request.metadata_mut().remove("authorization");
                request.extensions_mut().insert(user);
                Ok(request)
            }
            None => Err(Status::unauthenticated(
                "no valid bearer token: send `authorization: Bearer TOKEN` metadata \
                 (the token of your kubeconfig's user)",
            )),
        }
    }
}

/// The gRPC services: Federation and reflection behind [`Authenticate`],
/// health without it.
pub fn routes(api: Arc<ApiState>, authenticator: Arc<TokenAuthenticator>) -> Router {
    let auth = Authenticate(authenticator);
    let federation = FederationServer::new(federation::FederationService {
        bridge: bridge::Bridge::new(api.clone()),
    })
    // Manifests are held to the REST limit by the calls themselves
    // (RESOURCE_EXHAUSTED); tonic refuses anything far beyond it
    // (OUT_OF_RANGE) before decoding.
    .max_decoding_message_size(MAX_DECODED_BYTES)
    .max_encoding_message_size(bridge::MAX_ANSWER_BYTES);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    let mut shutting_down = api.shutting_down.clone();
    tokio::spawn(async move {
        type Served = FederationServer<federation::FederationService>;
        health_reporter.set_serving::<Served>().await;
        // Shutting down: NOT_SERVING, so balancers stop sending calls.
        if shutting_down.wait_for(|s| *s).await.is_ok() {
            health_reporter.set_not_serving::<Served>().await;
        }
    });
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(federation_proto::grpc::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the compiled-in descriptor set is valid");
    tonic::service::Routes::new(health)
        .add_service(InterceptedService::new(federation, auth.clone()))
        .add_service(InterceptedService::new(reflection, auth))
        .into_axum_router()
}

/// Whether a request is a gRPC call (content type `application/grpc`,
/// `application/grpc+proto`...).
pub fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// axum middleware: gRPC calls to `grpc`, the rest on down the REST layers.
pub async fn by_content_type(grpc: Router, request: Request, next: Next) -> Response {
    if !is_grpc(&request) {
        return next.run(request).await;
    }
    match grpc.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
