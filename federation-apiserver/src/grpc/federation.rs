//! `flotilla.v1.Federation`: every call a REST call through the
//! [`Bridge`], answered with the API's messages.

use std::pin::Pin;
use std::time::{Duration, Instant};

use federation_proto::grpc::v1 as pb;
use federation_proto::grpc::v1::federation_server::Federation;
use federation_proto::{binding, maintenance, Cluster, ResourceBinding};
use futures::Stream;
use http::Method;
use serde_json::Value;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use super::bridge::{encode, Bridge};
use super::convert;
use crate::auth::UserInfo;
use crate::rest::body::MAX_BODY_BYTES;

type Events<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// How often a drain's progress is read.
const DRAIN_POLL: Duration = Duration::from_millis(500);

/// The longest a Drain call streams (the drain itself goes on after it).
const DRAIN_STREAM_LIMIT: Duration = Duration::from_secs(3600);

/// The manager of the fields Cordon, Uncordon and Drain set.
const FIELD_MANAGER: &str = "flotilla-grpc";

pub struct FederationService {
    pub bridge: Bridge,
}

fn user<T>(request: &Request<T>) -> Result<UserInfo, Status> {
    request
        .extensions()
        .get::<UserInfo>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("send `authorization: Bearer TOKEN` metadata"))
}

/// A list answer's items, each with the list's apiVersion and kind filled
/// in (a REST list leaves them out).
fn items(list: &mut Value, api_version: &str, kind: &str) -> Vec<Value> {
    let Value::Array(items) = list["items"].take() else {
        return Vec::new();
    };
    items
        .into_iter()
        .map(|mut item| {
            item["apiVersion"] = Value::from(api_version);
            item["kind"] = Value::from(kind);
            item
        })
        .collect()
}

/// `?labelSelector=...` (or nothing).
fn selector_query(selector: &str) -> String {
    if selector.is_empty() {
        String::new()
    } else {
        format!("labelSelector={}", encode(selector))
    }
}

/// An object the REST handler answered with, passed on as its JSON text.
fn passed_on(text: bytes::Bytes) -> Result<pb::Object, Status> {
    convert::object_from_json_text(text).map_err(|e| Status::internal(format!("the answer: {e}")))
}

/// A manifest's JSON: a JSON or YAML object, at most the REST body limit.
fn parse_manifest(bytes: &[u8]) -> Result<Value, Status> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Status::resource_exhausted(format!(
            "the manifest is {} bytes; the limit is {} bytes (3 MiB), as for REST",
            bytes.len(),
            MAX_BODY_BYTES
        )));
    }
    let manifest: Value = serde_yaml_ng::from_slice(bytes).map_err(|e| {
        Status::invalid_argument(format!("the manifest is not valid JSON or YAML: {e}"))
    })?;
    if !manifest.is_object() {
        return Err(Status::invalid_argument(
            "the manifest must be one object with apiVersion, kind and metadata",
        ));
    }
    Ok(manifest)
}

impl FederationService {
    /// The REST path of the object `r` names.
    fn object_path(&self, r: &pb::ObjectRef) -> Result<String, Status> {
        let t = self.bridge.resource_type(&r.api_version, &r.kind)?;
        if r.name.is_empty() {
            return Err(Status::invalid_argument("name is required"));
        }
        self.bridge.path(&t, &r.namespace, &r.name)
    }

    /// A manifest's type and namespace (`default` for a namespaced kind
    /// that names none, none for a cluster-scoped kind).
    fn target_of(
        &self,
        manifest: &Value,
    ) -> Result<(std::sync::Arc<crate::rest::registry::ResourceType>, String), Status> {
        let api_version = manifest["apiVersion"].as_str().unwrap_or("");
        let kind = manifest["kind"].as_str().unwrap_or("");
        let t = self.bridge.resource_type(api_version, kind)?;
        // As kubectl: a cluster-scoped object's namespace is ignored, an
        // empty one is no namespace.
        let namespace = match manifest["metadata"]["namespace"].as_str() {
            _ if !t.namespaced => String::new(),
            Some(ns) if !ns.is_empty() => ns.to_string(),
            _ => "default".to_string(),
        };
        Ok((t, namespace))
    }

    async fn get_json(&self, user: &UserInfo, r: &pb::ObjectRef) -> Result<Value, Status> {
        let path = self.object_path(r)?;
        self.bridge
            .call(user, Method::GET, &path, "application/json", Vec::new())
            .await
    }

    /// Every object of one of Flotilla's own kinds (`plural`), typed.
    async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        user: &UserInfo,
        plural: &str,
        kind: &str,
    ) -> Result<Vec<T>, Status> {
        let path = format!("/apis/{}/{plural}", federation_proto::API_VERSION);
        let mut list = self
            .bridge
            .call(user, Method::GET, &path, "application/json", Vec::new())
            .await?;
        items(&mut list, federation_proto::API_VERSION, kind)
            .into_iter()
            .map(|o| serde_json::from_value(o).map_err(|e| Status::internal(e.to_string())))
            .collect()
    }

    async fn clusters(&self, user: &UserInfo) -> Result<Vec<Cluster>, Status> {
        self.list_all(user, "clusters", "Cluster").await
    }

    async fn bindings(&self, user: &UserInfo) -> Result<Vec<ResourceBinding>, Status> {
        self.list_all(user, "resourcebindings", "ResourceBinding")
            .await
    }

    async fn cluster(&self, user: &UserInfo, name: &str) -> Result<Cluster, Status> {
        if name.is_empty() {
            return Err(Status::invalid_argument("name is required"));
        }
        let json = self
            .bridge
            .call(
                user,
                Method::GET,
                &format!("/apis/flotilla.io/v1alpha1/clusters/{}", encode(name)),
                "application/json",
                Vec::new(),
            )
            .await
            .map_err(|e| match e.code() {
                tonic::Code::NotFound => Status::not_found(format!(
                    "no cluster named {name} is joined (ListClusters lists them)"
                )),
                _ => e,
            })?;
        serde_json::from_value(json).map_err(|e| Status::internal(e.to_string()))
    }

    async fn patch_cluster(
        &self,
        user: &UserInfo,
        name: &str,
        patch: &Value,
    ) -> Result<Cluster, Status> {
        let json = self
            .bridge
            .call(
                user,
                Method::PATCH,
                &format!(
                    "/apis/flotilla.io/v1alpha1/clusters/{}?fieldManager={FIELD_MANAGER}",
                    encode(name)
                ),
                "application/merge-patch+json",
                serde_json::to_vec(patch).unwrap_or_default(),
            )
            .await?;
        serde_json::from_value(json).map_err(|e| Status::internal(e.to_string()))
    }

    async fn set_unschedulable(
        &self,
        request: Request<pb::ClusterRequest>,
        unschedulable: bool,
    ) -> Result<Response<pb::Cluster>, Status> {
        let user = user(&request)?;
        let name = &request.get_ref().name;
        let cluster = self.cluster(&user, name).await?;
        let cluster = match maintenance::cordon_patch(&cluster, unschedulable) {
            Some(patch) => self.patch_cluster(&user, name, &patch).await?,
            None => cluster,
        };
        Ok(Response::new(convert::cluster(&cluster)))
    }

    /// A REST watch as a stream of `(type, object)`.
    async fn watch_events(
        &self,
        user: &UserInfo,
        path: &str,
        selector: &str,
        resource_version: &str,
    ) -> Result<impl Stream<Item = Result<(pb::EventType, Value), Status>>, Status> {
        let mut query = vec!["watch=true".to_string()];
        if !selector.is_empty() {
            query.push(selector_query(selector));
        }
        if !resource_version.is_empty() {
            query.push(format!("resourceVersion={}", encode(resource_version)));
        }
        let events = self
            .bridge
            .watch(user, &format!("{path}?{}", query.join("&")))
            .await?;
        Ok(ReceiverStream::new(events).filter_map(|event| match event {
            Ok(event) => convert::event_type(event["type"].as_str().unwrap_or(""))
                .map(|t| Ok((t, event["object"].clone()))),
            Err(status) => Some(Err(status)),
        }))
    }
}

#[tonic::async_trait]
impl Federation for FederationService {
    async fn list_clusters(
        &self,
        request: Request<pb::ListClustersRequest>,
    ) -> Result<Response<pb::ListClustersResponse>, Status> {
        let user = user(&request)?;
        let clusters = self.clusters(&user).await?;
        Ok(Response::new(pb::ListClustersResponse {
            clusters: clusters.iter().map(convert::cluster).collect(),
        }))
    }

    type WatchClustersStream = Events<pb::ClusterEvent>;

    async fn watch_clusters(
        &self,
        request: Request<pb::WatchClustersRequest>,
    ) -> Result<Response<Self::WatchClustersStream>, Status> {
        let user = user(&request)?;
        let events = self
            .watch_events(&user, "/apis/flotilla.io/v1alpha1/clusters", "", "")
            .await?;
        let stream = events.map(|event| {
            let (t, object) = event?;
            let cluster =
                convert::cluster_json(&object).map_err(|e| Status::internal(e.to_string()))?;
            Ok(pb::ClusterEvent {
                r#type: t as i32,
                cluster: Some(cluster),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn apply(
        &self,
        request: Request<pb::ApplyRequest>,
    ) -> Result<Response<pb::Object>, Status> {
        let user = user(&request)?;
        let r = request.into_inner();
        if r.field_manager.is_empty() {
            return Err(Status::invalid_argument(
                "field_manager is required: it names who owns the applied fields",
            ));
        }
        let manifest = parse_manifest(&r.manifest)?;
        let name = manifest["metadata"]["name"].as_str().unwrap_or("");
        if name.is_empty() {
            return Err(Status::invalid_argument(
                "the manifest has no metadata.name",
            ));
        }
        let (t, namespace) = self.target_of(&manifest)?;
        let mut query = vec![format!("fieldManager={}", encode(&r.field_manager))];
        if r.force {
            query.push("force=true".into());
        }
        if r.dry_run {
            query.push("dryRun=All".into());
        }
        let path = self.bridge.path(&t, &namespace, name)?;
        let stored = self
            .bridge
            .call_bytes(
                &user,
                Method::PATCH,
                &format!("{path}?{}", query.join("&")),
                "application/apply-patch+yaml",
                r.manifest,
            )
            .await?;
        Ok(Response::new(passed_on(stored)?))
    }

    async fn create(
        &self,
        request: Request<pb::CreateRequest>,
    ) -> Result<Response<pb::Object>, Status> {
        let user = user(&request)?;
        let r = request.into_inner();
        let manifest = parse_manifest(&r.manifest)?;
        let (t, namespace) = self.target_of(&manifest)?;
        let manager = if r.field_manager.is_empty() {
            "grpc"
        } else {
            r.field_manager.as_str()
        };
        let mut query = vec![format!("fieldManager={}", encode(manager))];
        if r.dry_run {
            query.push("dryRun=All".into());
        }
        let path = self.bridge.path(&t, &namespace, "")?;
        let stored = self
            .bridge
            .call_bytes(
                &user,
                Method::POST,
                &format!("{path}?{}", query.join("&")),
                "application/json",
                serde_json::to_vec(&manifest).unwrap_or_default(),
            )
            .await?;
        Ok(Response::new(passed_on(stored)?))
    }

    async fn get(&self, request: Request<pb::ObjectRef>) -> Result<Response<pb::Object>, Status> {
        let user = user(&request)?;
        let r = request.get_ref();
        let path = self.object_path(r)?;
        let text = self
            .bridge
            .call_bytes(&user, Method::GET, &path, "application/json", Vec::new())
            .await?;
        Ok(Response::new(passed_on(text)?))
    }

    async fn delete(
        &self,
        request: Request<pb::ObjectRef>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let user = user(&request)?;
        let r = request.get_ref();
        let path = self.object_path(r)?;
        self.bridge
            .call(&user, Method::DELETE, &path, "application/json", Vec::new())
            .await?;
        Ok(Response::new(pb::DeleteResponse {}))
    }

    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let user = user(&request)?;
        let r = request.get_ref();
        let t = self.bridge.resource_type(&r.api_version, &r.kind)?;
        let mut query = Vec::new();
        if !r.label_selector.is_empty() {
            query.push(selector_query(&r.label_selector));
        }
        if r.limit < 0 {
            return Err(Status::invalid_argument("limit must not be negative"));
        }
        if r.limit > 0 {
            query.push(format!("limit={}", r.limit));
        }
        if !r.continue_token.is_empty() {
            query.push(format!("continue={}", encode(&r.continue_token)));
        }
        let mut path = self.bridge.path(&t, &r.namespace, "")?;
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let mut list = self
            .bridge
            .call(&user, Method::GET, &path, "application/json", Vec::new())
            .await?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let resource_version = text(&list["metadata"]["resourceVersion"]);
        let continue_token = text(&list["metadata"]["continue"]);
        Ok(Response::new(pb::ListResponse {
            items: items(&mut list, &r.api_version, &r.kind)
                .iter()
                .map(convert::object)
                .collect(),
            resource_version,
            continue_token,
        }))
    }

    type WatchStream = Events<pb::WatchEvent>;

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let user = user(&request)?;
        let r = request.get_ref();
        let t = self.bridge.resource_type(&r.api_version, &r.kind)?;
        let path = self.bridge.path(&t, &r.namespace, "")?;
        let events = self
            .watch_events(&user, &path, &r.label_selector, &r.resource_version)
            .await?;
        let stream = events.map(|event| {
            let (t, object) = event?;
            Ok(pb::WatchEvent {
                r#type: t as i32,
                object: Some(convert::object(&object)),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_placement(
        &self,
        request: Request<pb::ObjectRef>,
    ) -> Result<Response<pb::Placement>, Status> {
        let user = user(&request)?;
        let r = request.get_ref();
        let t = self.bridge.resource_type(&r.api_version, &r.kind)?;
        // The template must exist (NotFound otherwise, in its own words).
        self.get_json(&user, r).await?;
        let namespace = if t.namespaced {
            r.namespace.as_str()
        } else {
            federation_proto::SYSTEM_NAMESPACE
        };
        let path = format!(
            "/apis/flotilla.io/v1alpha1/namespaces/{}/resourcebindings/{}",
            encode(namespace),
            encode(&binding::binding_name(&r.name, &t.kind))
        );
        let json = self
            .bridge
            .call(&user, Method::GET, &path, "application/json", Vec::new())
            .await
            .map_err(|e| match e.code() {
                tonic::Code::NotFound => Status::not_found(format!(
                    "{} {} is not placed: no PropagationPolicy selects it",
                    r.kind, r.name
                )),
                _ => e,
            })?;
        let binding: ResourceBinding =
            serde_json::from_value(json).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(convert::placement(&binding)))
    }

    async fn cordon(
        &self,
        request: Request<pb::ClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        self.set_unschedulable(request, true).await
    }

    async fn uncordon(
        &self,
        request: Request<pb::ClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        self.set_unschedulable(request, false).await
    }

    type DrainStream = Events<pb::DrainProgress>;

    async fn drain(
        &self,
        request: Request<pb::DrainRequest>,
    ) -> Result<Response<Self::DrainStream>, Status> {
        let user = user(&request)?;
        let r = request.into_inner();
        if r.name.is_empty() {
            return Err(Status::invalid_argument("name is required"));
        }
        let clusters = self.clusters(&user).await?;
        if !clusters
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some(r.name.as_str()))
        {
            return Err(Status::not_found(format!(
                "no cluster named {} is joined (ListClusters lists them)",
                r.name
            )));
        }
        let bindings = self.bindings(&user).await?;
        maintenance::drain_check(&r.name, &clusters, &bindings)
            .map_err(Status::failed_precondition)?;
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        self.patch_cluster(&user, &r.name, &maintenance::drain_patch(&now))
            .await?;
        let timeout = match r.timeout_seconds {
            0 => Duration::from_secs(300),
            s => Duration::from_secs(u64::from(s)).min(DRAIN_STREAM_LIMIT),
        };
        let bridge = Bridge::clone(&self.bridge);
        let mut shutting_down = bridge.shutting_down();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            let stopping = async move {
                let _ = shutting_down.wait_for(|s| *s).await.is_ok();
            };
            tokio::pin!(stopping);
            let service = FederationService { bridge };
            let started = Instant::now();
            let mut last = None;
            loop {
                let left = match service.bindings(&user).await {
                    Ok(list) => maintenance::placed_on(&list, &r.name),
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                let done = left.0 == 0;
                if last != Some(left) || done {
                    let progress = pb::DrainProgress {
                        cluster: r.name.clone(),
                        workloads_left: left.0 as u32,
                        replicas_left: left.1,
                        done,
                        message: if done {
                            format!("cluster {} drained", r.name)
                        } else {
                            format!(
                                "{} workloads ({} replicas) left on {}",
                                left.0, left.1, r.name
                            )
                        },
                    };
                    if tx.send(Ok(progress)).await.is_err() || done {
                        return;
                    }
                    last = Some(left);
                }
                if started.elapsed() >= timeout {
                    let _ = tx
                        .send(Err(Status::deadline_exceeded(format!(
                            "{} workloads still on {} after {} s; the drain goes on (Uncordon ends it)",
                            left.0,
                            r.name,
                            timeout.as_secs()
                        ))))
                        .await;
                    return;
                }
                // The caller went away: stop polling; the server stops: say so.
                tokio::select! {
                    () = tokio::time::sleep(DRAIN_POLL) => {}
                    () = tx.closed() => return,
                    () = &mut stopping => {
                        let _ = tx
                            .send(Err(Status::unavailable(
                                "the server is shutting down; the drain goes on (call Drain again to follow it)",
                            )))
                            .await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
