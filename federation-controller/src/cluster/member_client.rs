//! Clients for member clusters, built from the credentials in a Cluster's
//! `secretRef` Secret: a `kubeconfig` key, or `token` plus `ca.crt`.
//!
//! # Guarantees
//! Errors name the Secret and what is missing or unreadable, never any of
//! its contents (a YAML error could quote a token, so parse errors are not
//! passed on).

use std::time::Duration;

use base64::Engine as _;
use federation_proto::Cluster;
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("Secret {namespace}/{name} not found")]
    MissingSecret { namespace: String, name: String },
    #[error("reading Secret {namespace}/{name} failed: {reason}")]
    Unreadable {
        namespace: String,
        name: String,
        reason: String,
    },
    #[error(
        "Secret {namespace}/{name} holds no usable credentials: it needs a `kubeconfig` key, or `token` and `ca.crt`"
    )]
    NoCredentials { namespace: String, name: String },
    #[error("the kubeconfig in Secret {namespace}/{name} cannot be used ({what})")]
    BadKubeconfig {
        namespace: String,
        name: String,
        what: &'static str,
    },
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    let data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone());
    let string = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|s| s.clone().into_bytes());
    data.or(string).and_then(|b| String::from_utf8(b).ok())
}

/// The member's kubeconfig from a Secret: its `kubeconfig` key, or one
/// built from `token` and `ca.crt` for `endpoint`.
pub fn kubeconfig_text(secret: &Secret, endpoint: &str) -> Option<String> {
    if let Some(kubeconfig) = text(secret, "kubeconfig") {
        return Some(kubeconfig);
    }
    let token = text(secret, "token")?;
    let ca = text(secret, "ca.crt")?;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca.as_bytes());
    Some(format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: member\nclusters:\n- name: member\n  cluster:\n    server: {endpoint}\n    certificate-authority-data: {ca}\nusers:\n- name: member\n  user:\n    token: {}\ncontexts:\n- name: member\n  context: {{cluster: member, user: member}}\n",
        token.trim()
    ))
}

/// A client for `cluster`, with `timeout` on connecting and reading.
pub async fn client_for(
    federation: &Client,
    cluster: &Cluster,
    timeout: Duration,
) -> Result<(Client, String), CredentialsError> {
    client_with(federation, cluster, timeout, Some(timeout)).await
}

/// A client for `cluster` with a connect timeout and an optional read
/// timeout (`None` for watches, whose bodies stay open for minutes).
pub async fn client_with(
    federation: &Client,
    cluster: &Cluster,
    timeout: Duration,
    read_timeout: Option<Duration>,
) -> Result<(Client, String), CredentialsError> {
    let secret_ref = &cluster.spec.secret_ref;
    let (namespace, name) = (secret_ref.namespace.clone(), secret_ref.name.clone());
    let secrets: Api<Secret> = Api::namespaced(federation.clone(), &namespace);
    let secret = match secrets.get_opt(&name).await {
        Ok(Some(secret)) => secret,
        Ok(None) => return Err(CredentialsError::MissingSecret { namespace, name }),
        Err(e) => {
            return Err(CredentialsError::Unreadable {
                namespace,
                name,
                reason: match e {
                    kube::Error::Api(status) => status.reason,
                    _ => "the federation API server did not answer".into(),
                },
            })
        }
    };
    let version = secret.metadata.resource_version.clone().unwrap_or_default();
    let bad = |what| CredentialsError::BadKubeconfig {
        namespace: namespace.clone(),
        name: name.clone(),
        what,
    };
    let text = kubeconfig_text(&secret, &cluster.spec.api_endpoint).ok_or_else(|| {
        CredentialsError::NoCredentials {
            namespace: namespace.clone(),
            name: name.clone(),
        }
    })?;
    let kubeconfig = Kubeconfig::from_yaml(&text).map_err(|_| bad("not a kubeconfig"))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|_| bad("no usable context, cluster or user in it"))?;
    if !cluster.spec.api_endpoint.is_empty() {
        config.cluster_url = cluster
            .spec
            .api_endpoint
            .parse()
            .map_err(|_| bad("the Cluster's apiEndpoint is not a URL"))?;
    }
    config.connect_timeout = Some(timeout);
    config.read_timeout = read_timeout;
    config.write_timeout = Some(timeout);
    // A probe measures the member, not a retry loop.
    config.default_retry = false;
    let client = Client::try_from(config).map_err(|_| bad("its TLS settings are unusable"))?;
    Ok((client, version))
}
