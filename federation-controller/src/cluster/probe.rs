//! One health probe of a member (`GET /readyz`, `/healthz` where there is
//! no `/readyz`) with its round-trip time, and the slower refresh of what
//! the member is (version) and has (pod capacity and use).

use std::time::{Duration, Instant};

use federation_proto::cluster::ResourceSummary;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::{Api, Client};

use super::health::Outcome;

/// Probes `client`'s cluster, giving up after `timeout`.
pub async fn probe(client: &Client, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let answer = tokio::time::timeout(timeout, async {
        match get(client, "/readyz").await {
            Err(kube::Error::Api(status)) if status.code == 404 => get(client, "/healthz").await,
            other => other,
        }
    })
    .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match answer {
        Err(_) => Outcome::Unreachable {
            message: format!(
                "no answer to the health probe within {}s",
                timeout.as_secs()
            ),
        },
        Ok(Ok(_)) => Outcome::Ready { latency_ms },
        Ok(Err(kube::Error::Api(status))) => Outcome::NotReady {
            latency_ms,
            message: format!("the health probe answered HTTP {}", status.code),
        },
        Ok(Err(e)) => Outcome::Unreachable {
            message: describe(&e),
        },
    }
}

async fn get(client: &Client, path: &str) -> Result<String, kube::Error> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    client.request_text(request).await
}

/// A short description of a transport failure (never request contents).
fn describe(e: &kube::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("refused") {
        "connection refused".into()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "the connection timed out".into()
    } else if lower.contains("certificate") || lower.contains("tls") {
        "TLS handshake failed (check the member's CA)".into()
    } else if lower.contains("reset") || lower.contains("closed") || lower.contains("eof") {
        "the connection was closed".into()
    } else {
        "the member's API server did not answer".into()
    }
}

/// The member's Kubernetes version and pod room, within `timeout`.
pub async fn summary(client: &Client, timeout: Duration) -> Option<(String, ResourceSummary)> {
    tokio::time::timeout(timeout, async {
        let version = client.apiserver_version().await.ok()?.git_version;
        let nodes = Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await
            .ok()?;
        let allocatable: i64 = nodes
            .items
            .iter()
            .filter(|n| {
                let ready = n
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                let cordoned = n
                    .spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false);
                ready && !cordoned
            })
            .filter_map(|n| n.status.as_ref()?.allocatable.as_ref()?.get("pods"))
            .filter_map(|q| q.0.parse::<i64>().ok())
            .sum();
        let allocated = pods_in_use(client).await;
        Some((
            version,
            ResourceSummary {
                allocatable_pods: allocatable,
                allocated_pods: allocated,
                available_pods: (allocatable - allocated).max(0),
            },
        ))
    })
    .await
    .ok()
    .flatten()
}

/// Running and pending pods; where the member shows no pods at all (a
/// simulated member without pod objects), the replicas its workloads hold.
async fn pods_in_use(client: &Client) -> i64 {
    let all = ListParams::default();
    let pods = Api::<Pod>::all(client.clone()).list(&all).await;
    let running = pods
        .map(|l| {
            l.items
                .iter()
                .filter(|p| {
                    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                    !matches!(phase, Some("Succeeded") | Some("Failed"))
                })
                .count() as i64
        })
        .unwrap_or(0);
    if running > 0 {
        return running;
    }
    let mut replicas = 0i64;
    if let Ok(list) = Api::<Deployment>::all(client.clone()).list(&all).await {
        replicas += list
            .items
            .iter()
            .filter_map(|d| d.status.as_ref()?.replicas)
            .map(i64::from)
            .sum::<i64>();
    }
    if let Ok(list) = Api::<StatefulSet>::all(client.clone()).list(&all).await {
        replicas += list
            .items
            .iter()
            .filter_map(|s| Some(s.status.as_ref()?.replicas))
            .map(i64::from)
            .sum::<i64>();
    }
    if let Ok(list) = Api::<ReplicaSet>::all(client.clone()).list(&all).await {
        replicas += list
            .items
            .iter()
            .filter(|r| {
                r.metadata
                    .owner_references
                    .as_ref()
                    .is_none_or(|o| o.is_empty())
            })
            .filter_map(|r| Some(r.status.as_ref()?.replicas))
            .map(i64::from)
            .sum::<i64>();
    }
    if let Ok(list) = Api::<DaemonSet>::all(client.clone()).list(&all).await {
        replicas += list
            .items
            .iter()
            .filter_map(|d| Some(d.status.as_ref()?.current_number_scheduled))
            .map(i64::from)
            .sum::<i64>();
    }
    if let Ok(list) = Api::<Job>::all(client.clone()).list(&all).await {
        replicas += list
            .items
            .iter()
            .filter_map(|j| j.status.as_ref()?.active)
            .map(i64::from)
            .sum::<i64>();
    }
    replicas
}
