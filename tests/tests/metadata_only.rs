//! Metadata-only reads (`as=PartialObjectMetadata`): gets, lists and
//! watches carry only metadata, as kube-rs' `Api<PartialObjectMeta<K>>` and
//! client-go's metadata informers expect.

use std::time::Duration;

use flotilla_e2e::ApiServer;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PartialObjectMeta, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;

#[test]
fn raw_requests_get_only_metadata() {
    let server = ApiServer::start().expect("server");
    let https = server.https();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "m", "labels": {"team": "a"}}, "data": {"password": "hunter2"}});
    assert_eq!(
        https
            .post_json("/api/v1/namespaces/default/configmaps", &cm)
            .expect("create")
            .status,
        201
    );
    let accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
    let get = https
        .request_with_accept("GET", "/api/v1/namespaces/default/configmaps/m", accept)
        .expect("get");
    assert_eq!(get.status, 200);
    let body = get.json();
    assert_eq!(body["kind"], "PartialObjectMetadata");
    assert_eq!(body["metadata"]["labels"]["team"], "a");
    assert!(
        !get.text().contains("hunter2"),
        "data leaked into metadata: {}",
        get.text()
    );
    assert!(get.headers["content-type"]
        .to_str()
        .unwrap_or("")
        .contains("as=PartialObjectMetadata"));
    let list = https
        .request_with_accept(
            "GET",
            "/api/v1/namespaces/default/configmaps",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        )
        .expect("list");
    assert_eq!(list.json()["kind"], "PartialObjectMetadataList");
    assert_eq!(list.json()["items"][0]["metadata"]["name"], "m");
    assert!(!list.text().contains("hunter2"));
    // A plain request still gets the whole object.
    let plain = https
        .get("/api/v1/namespaces/default/configmaps/m")
        .expect("plain");
    assert!(plain.text().contains("hunter2"));
}

#[test]
fn kube_rs_metadata_watches_see_changes() {
    let server = ApiServer::start().expect("server");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(metadata_watch(&server));
}

async fn metadata_watch(server: &ApiServer) {
    let client = server.kube_client().await.expect("client");
    let metas: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(client.clone(), "default");
    let full: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut events = watcher(metas.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "w", "labels": {"v": "1"}},
        "data": {"k": "v"}}))
        .expect("cm");
    full.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            let meta = event.expect("event");
            if meta.metadata.name.as_deref() == Some("w") {
                return meta;
            }
        }
        panic!("the watch ended");
    })
    .await
    .expect("the metadata watch sees the create");
    assert_eq!(
        seen.metadata
            .labels
            .unwrap_or_default()
            .get("v")
            .map(String::as_str),
        Some("1")
    );
    let listed = metas.list(&ListParams::default()).await.expect("list");
    assert!(listed
        .items
        .iter()
        .any(|m| m.metadata.name.as_deref() == Some("w")));
}
