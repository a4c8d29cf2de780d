//! `kubectl fed join` and `unjoin`: register a member cluster (any real
//! cluster, or a simulated one) with the federation, and remove it.
//!
//! `join` stores the member's credentials — one context of its kubeconfig,
//! flattened (files inlined) — in the Secret `cluster-NAME` in
//! `flotilla-system`, and creates the Cluster pointing at it. The
//! credentials never appear in the Cluster, in output or in errors.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use clap::Args;
use federation_proto::cluster::{ClusterSpec, SecretRef};
use federation_proto::{Cluster, SYSTEM_NAMESPACE};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, ResourceExt};

use crate::federation::FederationArgs;

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The member's name in the federation.
    pub name: String,
    /// The MEMBER's kubeconfig.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: PathBuf,
    /// Context of the member's kubeconfig (default: its current context).
    #[arg(long)]
    pub context: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub zone: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    /// Seconds between health probes (controller default: 10).
    #[arg(long)]
    pub probe_period_seconds: Option<i32>,
    /// Seconds a probe may take (controller default: 5).
    #[arg(long)]
    pub probe_timeout_seconds: Option<i32>,
    /// Failed probes in a row before the cluster is not Ready (default: 3).
    #[arg(long)]
    pub failure_threshold: Option<i32>,
    /// Good probes in a row before it is Ready again (default: 1).
    #[arg(long)]
    pub success_threshold: Option<i32>,
    /// Join even if the member does not answer now.
    #[arg(long)]
    pub no_verify: bool,
    #[command(flatten)]
    pub federation: FederationArgs,
}

#[derive(Debug, Args)]
pub struct UnjoinArgs {
    /// The member's name in the federation.
    pub name: String,
    /// Leave the objects Flotilla placed on the member where they are.
    #[arg(long)]
    pub keep_objects: bool,
    #[command(flatten)]
    pub federation: FederationArgs,
}

/// The Secret holding a member's credentials.
pub fn secret_name(cluster: &str) -> String {
    format!("cluster-{cluster}")
}

/// One context of a kubeconfig, with every referenced file inlined, as
/// YAML; and the server URL it points at.
pub fn flatten(kubeconfig: &Kubeconfig, context: Option<&str>) -> anyhow::Result<(String, String)> {
    let name = context
        .map(str::to_string)
        .or_else(|| kubeconfig.current_context.clone())
        .context("the member kubeconfig has no current context: pass --context")?;
    let ctx = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.clone())
        .with_context(|| format!("the member kubeconfig has no context {name:?}"))?;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.clone())
        .with_context(|| format!("context {name:?} names a cluster the kubeconfig lacks"))?;
    let server = cluster
        .server
        .clone()
        .context("the member's cluster has no server URL")?;
    let user = match &ctx.user {
        Some(user) => kubeconfig
            .auth_infos
            .iter()
            .find(|u| &u.name == user)
            .and_then(|u| u.auth_info.clone())
            .with_context(|| format!("context {name:?} names a user the kubeconfig lacks"))?,
        None => Default::default(),
    };
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(bytes);
    let inline = |data: &Option<String>,
                  file: &Option<PathBuf>,
                  what: &str|
     -> anyhow::Result<Option<String>> {
        match (data, file) {
            (Some(d), _) => Ok(Some(d.clone())),
            (None, Some(f)) => Ok(Some(b64(std::fs::read(f).with_context(|| {
                format!("reading the member's {what} file {}", f.display())
            })?))),
            (None, None) => Ok(None),
        }
    };
    let ca = inline(
        &cluster.certificate_authority_data,
        &cluster.certificate_authority.as_ref().map(PathBuf::from),
        "CA",
    )?;
    let cert = inline(
        &user.client_certificate_data,
        &user.client_certificate.as_ref().map(PathBuf::from),
        "client certificate",
    )?;
    let key = inline(
        &user
            .client_key_data
            .as_ref()
            .map(|k| secrecy::ExposeSecret::expose_secret(k).to_string()),
        &user.client_key.as_ref().map(PathBuf::from),
        "client key",
    )?;
    let token = match (&user.token, &user.token_file) {
        (Some(t), _) => Some(secrecy::ExposeSecret::expose_secret(t).to_string()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading the member's token file {f}"))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    if token.is_none() && (cert.is_none() || key.is_none()) {
        bail!(
            "context {name:?} has no token and no client certificate: Flotilla needs one of them"
        );
    }
    let mut cluster_entry = serde_json::json!({"server": server});
    if let Some(ca) = ca {
        cluster_entry["certificate-authority-data"] = ca.into();
    }
    if cluster.insecure_skip_tls_verify == Some(true) {
        cluster_entry["insecure-skip-tls-verify"] = true.into();
    }
    let mut user_entry = serde_json::json!({});
    if let Some(token) = token {
        user_entry["token"] = token.into();
    }
    if let (Some(cert), Some(key)) = (cert, key) {
        user_entry["client-certificate-data"] = cert.into();
        user_entry["client-key-data"] = key.into();
    }
    let flat = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "member",
        "clusters": [{"name": "member", "cluster": cluster_entry}],
        "users": [{"name": "member", "user": user_entry}],
        "contexts": [{"name": "member", "context": {"cluster": "member", "user": "member"}}],
    });
    Ok((serde_yaml_ng::to_string(&flat)?, server))
}

/// How [`register`] treats a Cluster that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse (`kubectl fed join`).
    Refuse,
    /// Update its endpoint and credentials (`kubectl fed up` on restart).
    Update,
}

/// Where a member is and what it is.
#[derive(Debug, Clone, Default)]
pub struct MemberInfo {
    pub region: Option<String>,
    pub zone: Option<String>,
    pub provider: Option<String>,
    /// Probe settings (the controller's defaults when unset).
    pub health: Option<federation_proto::cluster::HealthSettings>,
}

/// Stores the credentials and creates (or updates) the Cluster.
pub async fn register(
    federation: &Client,
    name: &str,
    kubeconfig_yaml: &str,
    endpoint: &str,
    info: &MemberInfo,
    existing: Existing,
) -> anyhow::Result<()> {
    federation_controller::ensure_system_namespace(federation)
        .await
        .context("creating the flotilla-system namespace")?;
    let clusters: Api<Cluster> = Api::all(federation.clone());
    let current = clusters.get_opt(name).await?;
    if let (Some(c), Existing::Refuse) = (&current, existing) {
        bail!(
            "cluster {name} is already joined (endpoint {}): unjoin it first, or pick another name",
            c.spec.api_endpoint
        );
    }
    let secrets: Api<Secret> = Api::namespaced(federation.clone(), SYSTEM_NAMESPACE);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(name)),
            namespace: Some(SYSTEM_NAMESPACE.to_string()),
            labels: Some([("flotilla.io/cluster".to_string(), name.to_string())].into()),
            ..Default::default()
        },
        type_: Some("flotilla.io/cluster-credentials".to_string()),
        data: Some(
            [(
                "kubeconfig".to_string(),
                ByteString(kubeconfig_yaml.as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..Default::default()
    };
    match secrets.get_opt(&secret_name(name)).await? {
        Some(old) => {
            let mut updated = secret.clone();
            updated.metadata.resource_version = old.metadata.resource_version;
            secrets
                .replace(&secret_name(name), &PostParams::default(), &updated)
                .await
                .context("storing the member's credentials")?;
        }
        None => {
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .context("storing the member's credentials")?;
        }
    }
    let spec = ClusterSpec {
        api_endpoint: endpoint.to_string(),
        secret_ref: SecretRef {
            namespace: SYSTEM_NAMESPACE.to_string(),
            name: secret_name(name),
        },
        region: info.region.clone(),
        zone: info.zone.clone(),
        provider: info.provider.clone(),
        health: info.health.clone(),
        ..Default::default()
    };
    match current {
        Some(mut cluster) => {
            cluster.spec.api_endpoint = spec.api_endpoint;
            cluster.spec.secret_ref = spec.secret_ref;
            cluster.spec.region = spec.region.or(cluster.spec.region);
            cluster.spec.zone = spec.zone.or(cluster.spec.zone);
            cluster.spec.provider = spec.provider.or(cluster.spec.provider);
            cluster.spec.health = spec.health.or(cluster.spec.health);
            clusters
                .replace(name, &PostParams::default(), &cluster)
                .await
                .with_context(|| format!("updating cluster {name}"))?;
        }
        None => {
            clusters
                .create(&PostParams::default(), &Cluster::new(name, spec))
                .await
                .with_context(|| format!("creating cluster {name}"))?;
        }
    }
    Ok(())
}

/// `kubectl fed join`.
pub async fn join(args: JoinArgs) -> anyhow::Result<()> {
    let member = Kubeconfig::read_from(&args.kubeconfig).with_context(|| {
        format!(
            "reading the member kubeconfig {}",
            args.kubeconfig.display()
        )
    })?;
    let (flat, endpoint) = flatten(&member, args.context.as_deref())?;
    if !args.no_verify {
        verify(&flat).await.with_context(|| {
            format!("the member at {endpoint} does not answer (pass --no-verify to join it anyway)")
        })?;
    }
    let federation = args.federation.client().await?;
    let health = health_settings(&args);
    let info = MemberInfo {
        region: args.region,
        zone: args.zone,
        provider: args.provider,
        health,
    };
    register(
        &federation,
        &args.name,
        &flat,
        &endpoint,
        &info,
        Existing::Refuse,
    )
    .await?;
    println!(
        "cluster {} joined ({endpoint}); it turns Ready once the controller probes it: kubectl get clusters",
        args.name
    );
    Ok(())
}

fn health_settings(args: &JoinArgs) -> Option<federation_proto::cluster::HealthSettings> {
    let settings = federation_proto::cluster::HealthSettings {
        period_seconds: args.probe_period_seconds,
        timeout_seconds: args.probe_timeout_seconds,
        failure_threshold: args.failure_threshold,
        success_threshold: args.success_threshold,
    };
    (settings != Default::default()).then_some(settings)
}

/// Checks that the member answers `/version` with these credentials.
async fn verify(kubeconfig_yaml: &str) -> anyhow::Result<()> {
    let kubeconfig = Kubeconfig::from_yaml(kubeconfig_yaml).context("the flattened kubeconfig")?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(5));
    let client = Client::try_from(config)?;
    tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
        .await
        .context("no answer within 10 s")??;
    Ok(())
}

/// Deletes every object Flotilla manages on the member (label
/// `flotilla.io/managed-by=flotilla`), of every propagated kind. Returns how many.
async fn remove_placed(federation: &Client, cluster: &Cluster) -> anyhow::Result<usize> {
    use federation_controller::sync::render::{BINDING_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL};
    let (member, _) = federation_controller::cluster::member_client::client_for(
        federation,
        cluster,
        Duration::from_secs(10),
    )
    .await?;
    let mut removed = 0;
    let selector =
        kube::api::ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    for kind in federation_controller::kinds::KINDS {
        let all: Api<kube::api::DynamicObject> =
            Api::all_with(member.clone(), &kind.api_resource());
        for object in all.list(&selector).await?.items {
            // Namespaces Flotilla made to hold copies belong to no binding:
            // they may hold the member's own objects by now, so they stay.
            if !object.annotations().contains_key(BINDING_ANNOTATION) {
                continue;
            }
            let namespace = object.metadata.namespace.clone().unwrap_or_default();
            let name = object.metadata.name.clone().unwrap_or_default();
            let api = kind.api(member.clone(), &namespace);
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => removed += 1,
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(removed)
}

/// `kubectl fed unjoin`.
pub async fn unjoin(args: UnjoinArgs) -> anyhow::Result<()> {
    let federation = args.federation.client().await?;
    let clusters: Api<Cluster> = Api::all(federation.clone());
    let Some(cluster) = clusters.get_opt(&args.name).await? else {
        bail!("no cluster named {} is joined", args.name);
    };
    clusters
        .delete(&args.name, &DeleteParams::default())
        .await
        .with_context(|| format!("deleting cluster {}", args.name))?;
    // What Flotilla placed there goes too (the scheduler moves its replicas).
    if args.keep_objects {
        println!(
            "cluster {}: the objects Flotilla placed there are kept (--keep-objects)",
            args.name
        );
    } else {
        // A controller that has not seen the Cluster go may re-create a copy
        // for a moment: sweep until a pass finds nothing.
        let mut swept = Ok(0);
        for pass in 0..5 {
            if pass > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            match remove_placed(&federation, &cluster).await {
                Ok(0) => break,
                Ok(n) => swept = swept.map(|total| total + n),
                Err(e) => {
                    swept = Err(e);
                    break;
                }
            }
        }
        match swept {
            Ok(0) => {}
            Ok(n) => println!("cluster {}: removed {n} objects Flotilla had placed there", args.name),
            Err(e) => eprintln!(
                "warning: could not remove what Flotilla placed on {} ({e:#}); they stay, labelled flotilla.io/managed-by=flotilla",
                args.name
            ),
        }
    }
    let secret = &cluster.spec.secret_ref;
    if secret.namespace == SYSTEM_NAMESPACE && secret.name == secret_name(&args.name) {
        let secrets: Api<Secret> = Api::namespaced(federation, SYSTEM_NAMESPACE);
        match secrets.delete(&secret.name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(e).context("deleting the member's credentials"),
        }
    }
    println!("cluster {} unjoined", args.name);
    Ok(())
}
