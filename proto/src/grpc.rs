//! The `flotilla.v1` gRPC API: its messages, the `Federation` service (the
//! server trait the API server implements) and a typed client for other
//! Rust tools ([`client::connect`]).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use federation_proto::grpc::{client, v1};
//! let ca = std::fs::read(".flotilla/ca.crt")?;
//! let mut federation = client::connect("https://127.0.0.1:6443", &ca, "TOKEN").await?;
//! let clusters = federation.list_clusters(v1::ListClustersRequest {}).await?;
//! for c in clusters.into_inner().clusters {
//!     println!("{} ready={} p50={}ms", c.name, c.ready, c.latency_p50_ms);
//! }
//! # Ok(())
//! # }
//! ```

/// Generated from `proto/flotilla/v1/federation.proto`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("flotilla.v1");
}

/// The encoded descriptor set of `flotilla.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("flotilla_v1_descriptor");

pub mod client {
    //! A client of a federation: TLS against the federation's CA, and the
    //! bearer token on every call.

    use tonic::metadata::MetadataValue;
    use tonic::service::interceptor::InterceptedService;
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
    use tonic::{Request, Status};

    use super::v1::federation_client::FederationClient;

    /// Adds `authorization: Bearer TOKEN` to every call.
    #[derive(Clone)]
    pub struct BearerToken(MetadataValue<tonic::metadata::Ascii>);

    impl tonic::service::Interceptor for BearerToken {
        fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
            request
                .metadata_mut()
                .insert("authorization", self.0.clone());
            Ok(request)
        }
    }

    /// A connected, authenticated client.
    pub type Client = FederationClient<InterceptedService<Channel, BearerToken>>;

    /// Errors connecting.
    #[derive(Debug, thiserror::Error)]
    pub enum ConnectError {
        #[error("the token is not valid in a header")]
        Token,
        #[error(transparent)]
        Transport(#[from] tonic::transport::Error),
    }

    /// Connects to the federation at `endpoint` (`https://host:port`),
    /// trusting `ca_pem` (the federation's CA), sending `token`.
    pub async fn connect(
        endpoint: &str,
        ca_pem: &[u8],
        token: &str,
    ) -> Result<Client, ConnectError> {
        let channel = Endpoint::from_shared(endpoint.to_string())?
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)))?
            .connect()
            .await?;
        with_token(channel, token)
    }

    /// A client over an existing channel.
    pub fn with_token(channel: Channel, token: &str) -> Result<Client, ConnectError> {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| ConnectError::Token)?;
        Ok(
            FederationClient::with_interceptor(channel, BearerToken(value))
                .max_decoding_message_size(16 * 1024 * 1024),
        )
    }
}
