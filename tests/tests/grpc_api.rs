//! The gRPC API (`flotilla.v1.Federation`) over TLS on the REST port, with
//! the typed client from `federation-proto`: every rpc, health and
//! reflection, the auth failure, each error code, watch resume after a
//! disconnect, and REST and gRPC writes to one object.

use std::time::Duration;

use federation_proto::grpc::client::{self, Client};
use federation_proto::grpc::v1 as pb;
use flotilla_e2e::{ok, ApiServer, FedUp};
use serde_json::{json, Value};
use tokio_stream::StreamExt;
use tonic::Code;

const DEADLINE: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    flotilla_e2e::init_crypto();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A TLS endpoint of the server (trusting its CA), not connected yet.
fn endpoint(addr: &str, ca: &str) -> tonic::transport::Endpoint {
    tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca.as_bytes())),
        )
        .expect("tls")
}

async fn connect(addr: &str, ca: &str, token: &str) -> Client {
    client::connect(&format!("https://{addr}"), ca.as_bytes(), token)
        .await
        .expect("a gRPC client")
}

/// A blocking call (the REST test client, kubectl) inside the runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn object(o: &pb::Object) -> Value {
    serde_json::from_slice(&o.json).expect("object JSON")
}

fn reference(api_version: &str, kind: &str, namespace: &str, name: &str) -> pb::ObjectRef {
    pb::ObjectRef {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn apply(manifest: &str, manager: &str, force: bool) -> pb::ApplyRequest {
    pb::ApplyRequest {
        manifest: manifest.as_bytes().to_vec(),
        field_manager: manager.into(),
        dry_run: false,
        force,
    }
}

#[test]
fn objects_errors_auth_and_watch_resume_over_grpc() {
    let mut server = ApiServer::start_with(&["--watch-cache-events", "20"]).expect("server");
    let rt = runtime();
    // The REST client owns a runtime of its own: made and dropped outside.
    let rest = server.https();
    rt.block_on(async {
        let mut fed = connect(&server.addr, &server.ca_pem, &server.token).await;
        let channel = endpoint(&server.addr, &server.ca_pem)
            .connect()
            .await
            .expect("a channel");

        // Health (no token needed) and reflection.
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let serving = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "flotilla.v1.Federation".into(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(
            serving.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
        let services = reflected_services(channel.clone(), &server.token).await;
        assert!(
            services.iter().any(|s| s == "flotilla.v1.Federation"),
            "{services:?}"
        );

        // No token: Unauthenticated; a wrong one too.
        let mut anonymous = pb::federation_client::FederationClient::new(channel.clone());
        let denied = anonymous
            .list_clusters(pb::ListClustersRequest {})
            .await
            .expect_err("no token");
        assert_eq!(denied.code(), Code::Unauthenticated, "{denied:?}");
        assert!(denied.message().contains("bearer token"), "{denied:?}");
        let mut wrong = client::with_token(channel.clone(), "not-a-token").expect("client");
        assert_eq!(
            wrong
                .get(reference("v1", "ConfigMap", "default", "x"))
                .await
                .expect_err("bad token")
                .code(),
            Code::Unauthenticated
        );

        // Apply creates; Get and List see it; REST sees it too.
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default, labels: {team: a}}\ndata: {a: \"1\"}\n";
        let created = fed.apply(apply(cm, "pipeline", false)).await.expect("apply").into_inner();
        let created_json = object(&created);
        assert_eq!(created_json["data"]["a"], "1");
        assert!(!created.resource_version.is_empty());
        let via_rest = blocking(|| {
            rest.get("/api/v1/namespaces/default/configmaps/settings")
                .expect("REST get")
                .json()
        });
        assert_eq!(via_rest["data"]["a"], "1");
        assert_eq!(
            via_rest["metadata"]["managedFields"][0]["manager"], "pipeline",
            "{via_rest}"
        );
        let listed = fed
            .list(pb::ListRequest {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: "default".into(),
                label_selector: "team=a".into(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(object(&listed.items[0])["kind"], "ConfigMap");
        let none = fed
            .list(pb::ListRequest {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: "default".into(),
                label_selector: "team=b".into(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        assert!(none.items.is_empty());

        // REST writes a field as another manager: gRPC sees it; gRPC
        // applying that field without force conflicts (Aborted), with
        // force takes it over.
        blocking(|| {
            ok(server.kubectl_stdin(
                &["apply", "--server-side", "--field-manager=ops", "-f", "-"],
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {b: \"2\"}\n",
            ))
        });
        let seen = object(
            &fed.get(reference("v1", "ConfigMap", "default", "settings"))
                .await
                .expect("get")
                .into_inner(),
        );
        assert_eq!(seen["data"], json!({"a": "1", "b": "2"}));
        let takeover = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default, labels: {team: a}}\ndata: {a: \"1\", b: \"3\"}\n";
        let conflict = fed
            .apply(apply(takeover, "pipeline", false))
            .await
            .expect_err("a field conflict");
        assert_eq!(conflict.code(), Code::Aborted, "{conflict:?}");
        assert!(conflict.message().contains("conflict"), "{conflict:?}");
        let forced = fed
            .apply(apply(takeover, "pipeline", true))
            .await
            .expect("forced apply")
            .into_inner();
        assert_eq!(object(&forced)["data"]["b"], "3");
        // A REST update from before gRPC's write is a conflict (409).
        let mut stale = via_rest.clone();
        stale["data"]["a"] = json!("stale");
        let put = blocking(|| {
            rest.put_json("/api/v1/namespaces/default/configmaps/settings", &stale)
                .expect("REST put")
        });
        assert_eq!(put.status, 409, "{}", put.text());

        // Create: AlreadyExists the second time.
        let fresh = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"fresh\"},\"data\":{\"x\":\"1\"}}";
        let create = || pb::CreateRequest {
            manifest: fresh.as_bytes().to_vec(),
            field_manager: String::new(),
            dry_run: false,
        };
        fed.create(create()).await.expect("create");
        let again = fed.create(create()).await.expect_err("exists");
        assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");

        // Paging: one item a page, the token for the next.
        let page = |token: String| pb::ListRequest {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "default".into(),
            limit: 1,
            continue_token: token,
            ..Default::default()
        };
        let first_page = fed.list(page(String::new())).await.expect("page 1").into_inner();
        assert_eq!(first_page.items.len(), 1);
        assert!(!first_page.continue_token.is_empty());
        let second_page = fed
            .list(page(first_page.continue_token.clone()))
            .await
            .expect("page 2")
            .into_inner();
        assert_eq!(second_page.items.len(), 1);
        assert_ne!(
            object(&first_page.items[0])["metadata"]["name"],
            object(&second_page.items[0])["metadata"]["name"]
        );
        let bad_token = fed
            .list(page("not-a-token".into()))
            .await
            .expect_err("a bad continue token");
        assert_eq!(bad_token.code(), Code::InvalidArgument, "{bad_token:?}");

        // A cluster-scoped object's namespace is ignored, as kubectl does.
        let ns = fed
            .apply(apply(
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a, namespace: ignored}\n",
                "pipeline",
                false,
            ))
            .await
            .expect("a namespace")
            .into_inner();
        assert_eq!(object(&ns)["metadata"]["name"], "team-a");
        assert!(object(&ns)["metadata"].get("namespace").is_none());

        // Bad input: InvalidArgument, and nothing stored.
        for (manifest, manager, what) in [
            ("kind: [unclosed", "m", "not valid JSON or YAML"),
            (cm, "", "field_manager is required"),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n",
                "m",
                "Bad_Name",
            ),
        ] {
            let e = fed
                .apply(apply(manifest, manager, false))
                .await
                .expect_err(what);
            assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
            assert!(e.message().contains(what), "{what}: {e:?}");
        }
        let unknown = fed
            .get(reference("example.com/v1", "Gizmo", "default", "g"))
            .await
            .expect_err("unknown kind");
        assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
        assert!(unknown.message().contains("api-resources"), "{unknown:?}");
        // Forbidden: the default namespace may not be deleted.
        let forbidden = fed
            .delete(reference("v1", "Namespace", "", "default"))
            .await
            .expect_err("forbidden");
        assert_eq!(forbidden.code(), Code::PermissionDenied, "{forbidden:?}");
        // Oversized: refused, the server stays up, nothing stored.
        let huge = format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"huge\"}},\"data\":{{\"x\":\"{}\"}}}}",
            "y".repeat(4 * 1024 * 1024)
        );
        let too_big = fed
            .apply(apply(&huge, "m", false))
            .await
            .expect_err("too big");
        assert_eq!(too_big.code(), Code::ResourceExhausted, "{too_big:?}");
        let missing = fed
            .get(reference("v1", "ConfigMap", "default", "huge"))
            .await
            .expect_err("not stored");
        assert_eq!(missing.code(), Code::NotFound);

        // A malformed message (a string field that is not UTF-8) is refused
        // before any call runs; the server goes on.
        let mut raw = tonic::client::Grpc::new(channel.clone());
        raw.ready().await.expect("ready");
        let mut garbage = tonic::Request::new(pb::Object {
            json: vec![0xff, 0xfe, 0xfd],
            resource_version: String::new(),
        });
        garbage.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", server.token).parse().expect("header"),
        );
        let refused = raw
            .unary::<_, pb::Object, _>(
                garbage,
                http::uri::PathAndQuery::from_static("/flotilla.v1.Federation/Get"),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .expect_err("malformed");
        assert!(
            refused.message().contains("decode"),
            "{refused:?}"
        );
        fed.get(reference("v1", "ConfigMap", "default", "fresh"))
            .await
            .expect("still serving");

        // Watch, disconnect, resume from the last resourceVersion seen:
        // exactly the changes made meanwhile.
        let watch = |rv: String| pb::WatchRequest {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "default".into(),
            label_selector: "team=a".into(),
            resource_version: rv,
        };
        let mut events = fed
            .watch(watch(forced.resource_version.clone()))
            .await
            .expect("watch")
            .into_inner();
        let set = |n: u32| {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: default, labels: {{team: a}}}}\ndata: {{a: \"1\", b: \"3\", n: \"{n}\"}}\n")
        };
        fed.apply(apply(&set(1), "pipeline", true)).await.expect("n=1");
        let first = tokio::time::timeout(DEADLINE, events.next())
            .await
            .expect("an event in time")
            .expect("an event")
            .expect("not an error");
        assert_eq!(first.r#type, pb::EventType::Modified as i32);
        let first_object = first.object.expect("object");
        assert_eq!(object(&first_object)["data"]["n"], "1");
        drop(events);
        for n in 2..=3 {
            fed.apply(apply(&set(n), "pipeline", true)).await.expect("apply");
        }
        let mut resumed = fed
            .watch(watch(first_object.resource_version.clone()))
            .await
            .expect("resume")
            .into_inner();
        for n in 2..=3 {
            let e = tokio::time::timeout(DEADLINE, resumed.next())
                .await
                .expect("an event in time")
                .expect("an event")
                .expect("not an error");
            assert_eq!(
                object(e.object.as_ref().expect("object"))["data"]["n"],
                n.to_string()
            );
        }
        drop(resumed);
        // Deleted: a DELETED event for a new watcher from the last version.
        fed.delete(reference("v1", "ConfigMap", "default", "settings"))
            .await
            .expect("delete");
        let gone = fed
            .get(reference("v1", "ConfigMap", "default", "settings"))
            .await
            .expect_err("deleted");
        assert_eq!(gone.code(), Code::NotFound);
        // A resourceVersion older than the watch cache keeps: OutOfRange.
        for n in 0..30 {
            let m = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: churn, namespace: default}}\ndata: {{n: \"{n}\"}}\n");
            fed.apply(apply(&m, "pipeline", false)).await.expect("churn");
        }
        let mut old = fed
            .watch(pb::WatchRequest {
                resource_version: created.resource_version.clone(),
                label_selector: String::new(),
                ..watch(String::new())
            })
            .await
            .map(|s| s.into_inner());
        let expired = match &mut old {
            Err(status) => status.clone(),
            Ok(stream) => tokio::time::timeout(DEADLINE, stream.next())
                .await
                .expect("an answer in time")
                .expect("an item")
                .expect_err("too old"),
        };
        assert_eq!(expired.code(), Code::OutOfRange, "{expired:?}");

        // A consumer that stops reading: the server ends its watch (the
        // cursor fell out of the window) instead of buffering without end,
        // and goes on serving.
        let start = fed
            .list(pb::ListRequest {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: "default".into(),
                label_selector: String::new(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner()
            .resource_version;
        // Its connection takes 64 KiB in flight, no more (HTTP/2 windows).
        let narrow = endpoint(&server.addr, &server.ca_pem)
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .expect("a narrow channel");
        let mut slow = client::with_token(narrow, &server.token)
            .expect("client")
            .watch(pb::WatchRequest {
                resource_version: start,
                label_selector: String::new(),
                ..watch(String::new())
            })
            .await
            .expect("watch")
            .into_inner();
        const WRITES: usize = 1000;
        for n in 0..WRITES {
            // 2 KiB events: more than the buffers on the way hold.
            let m = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: churn, namespace: default}}\ndata: {{n: \"slow-{n}\", pad: \"{}\"}}\n", "p".repeat(2048));
            fed.apply(apply(&m, "pipeline", false)).await.expect("churn");
        }
        let mut delivered = 0;
        let ended = loop {
            match tokio::time::timeout(DEADLINE, slow.next())
                .await
                .expect("an answer in time")
            {
                Some(Ok(_)) => delivered += 1,
                Some(Err(status)) => break status,
                None => panic!("the watch ended without an error after {delivered} events"),
            }
        };
        assert_eq!(ended.code(), Code::OutOfRange, "{ended:?}");
        assert!(delivered < WRITES, "{delivered} events delivered");
        fed.get(reference("v1", "ConfigMap", "default", "churn"))
            .await
            .expect("the server still serves");
    });
    // Shutting down: health says NOT_SERVING to a watcher.
    rt.block_on(async {
        let channel = endpoint(&server.addr, &server.ca_pem)
            .connect()
            .await
            .expect("a channel");
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let mut statuses = health
            .watch(tonic_health::pb::HealthCheckRequest {
                service: "flotilla.v1.Federation".into(),
            })
            .await
            .expect("health watch")
            .into_inner();
        use tonic_health::pb::health_check_response::ServingStatus;
        let first = statuses
            .next()
            .await
            .expect("a status")
            .expect("not an error");
        assert_eq!(first.status, ServingStatus::Serving as i32);
        let pid = server.pid().expect("the server's pid");
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let next = tokio::time::timeout(DEADLINE, statuses.next())
            .await
            .expect("a status in time")
            .expect("a status")
            .expect("not an error");
        assert_eq!(next.status, ServingStatus::NotServing as i32);
    });
    // The server gone: Unavailable.
    server.terminate().expect("stop the server");
    rt.block_on(async {
        let channel = endpoint(&server.addr, &server.ca_pem).connect_lazy();
        let mut gone = client::with_token(channel, &server.token).expect("client");
        let e = gone
            .list_clusters(pb::ListClustersRequest {})
            .await
            .expect_err("no server");
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    });
}

/// The services server reflection lists.
async fn reflected_services(channel: tonic::transport::Channel, token: &str) -> Vec<String> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let bearer: tonic::metadata::MetadataValue<_> =
        format!("Bearer {token}").parse().expect("header");
    let mut client =
        ServerReflectionClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", bearer.clone());
            Ok(r)
        });
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let answer = answers
        .next()
        .await
        .expect("an answer")
        .expect("not an error");
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

#[test]
fn clusters_placement_and_maintenance_over_grpc() {
    let up = FedUp::start_ready(2, 200);
    let (addr, ca, token) = up.endpoint("flotilla").expect("the federation endpoint");
    let token = token.expect("a token");
    let rt = runtime();
    rt.block_on(async {
        let mut fed = connect(&addr, &ca, &token).await;
        let clusters = fed
            .list_clusters(pb::ListClustersRequest {})
            .await
            .expect("list clusters")
            .into_inner()
            .clusters;
        let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["member-1", "member-2"]);
        assert!(clusters.iter().all(|c| c.ready && !c.region.is_empty()));
        assert!(clusters.iter().all(|c| c.allocatable_pods > 0));

        let mut changes = fed
            .watch_clusters(pb::WatchClustersRequest {})
            .await
            .expect("watch clusters")
            .into_inner();
        for _ in 0..2 {
            let e = tokio::time::timeout(DEADLINE, changes.next())
                .await
                .expect("in time")
                .expect("an event")
                .expect("not an error");
            assert_eq!(e.r#type, pb::EventType::Added as i32);
        }
        let cordoned = fed
            .cordon(pb::ClusterRequest {
                name: "member-1".into(),
            })
            .await
            .expect("cordon")
            .into_inner();
        assert!(cordoned.unschedulable);
        // The watch shows it (probes modify clusters too: look for it).
        let seen = tokio::time::timeout(DEADLINE, async {
            while let Some(e) = changes.next().await {
                let c = e.expect("not an error").cluster.expect("cluster");
                if c.name == "member-1" && c.unschedulable {
                    return true;
                }
            }
            false
        })
        .await
        .expect("in time");
        assert!(seen);
        drop(changes);
        let back = fed
            .uncordon(pb::ClusterRequest {
                name: "member-1".into(),
            })
            .await
            .expect("uncordon")
            .into_inner();
        assert!(!back.unschedulable);
        let unknown = fed
            .cordon(pb::ClusterRequest {
                name: "nope".into(),
            })
            .await
            .expect_err("no such cluster");
        assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");

        // A Divided Deployment placed through gRPC Apply.
        let manifests = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 4\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: app, image: \"nginx:1.27\"}]\n";
        fed.apply(apply(manifests, "pipeline", false)).await.expect("deployment");
        let policy = "apiVersion: flotilla.io/v1alpha1\nkind: PropagationPolicy\nmetadata: {name: web, namespace: default}\nspec:\n  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]\n  placement:\n    replicaScheduling: {replicaSchedulingType: Divided, replicaDivisionPreference: Weighted}\n";
        fed.apply(apply(policy, "pipeline", false)).await.expect("policy");
        let web = reference("apps/v1", "Deployment", "default", "web");
        let placed = wait_for_async(|| {
            let mut fed = fed.clone();
            let web = web.clone();
            async move {
                let p = fed.get_placement(web).await.ok()?.into_inner();
                let targets: Vec<&pb::ClusterPlacement> =
                    p.clusters.iter().filter(|c| c.selected).collect();
                let ready: i32 = targets.iter().map(|c| c.ready_replicas).sum();
                (targets.len() == 2 && ready == 4).then_some(p)
            }
        })
        .await;
        assert_eq!(placed.replicas, 4);
        assert_eq!(placed.policy, "PropagationPolicy/default/web");
        assert!(placed.clusters.iter().all(|c| c.applied && !c.reason.is_empty()));
        let unplaced = fed
            .get_placement(reference("v1", "ConfigMap", "default", "kube-root-ca.crt"))
            .await
            .expect_err("not placed");
        assert_eq!(unplaced.code(), Code::NotFound, "{unplaced:?}");

        // Drain member-2: progress until it is empty, then every replica
        // runs on member-1.
        let mut progress = fed
            .drain(pb::DrainRequest {
                name: "member-2".into(),
                timeout_seconds: 60,
            })
            .await
            .expect("drain")
            .into_inner();
        let mut last = None;
        while let Some(p) = tokio::time::timeout(DEADLINE, progress.next())
            .await
            .expect("progress in time")
        {
            last = Some(p.expect("not an error"));
        }
        let last = last.expect("some progress");
        assert!(last.done && last.workloads_left == 0, "{last:?}");
        let after = fed.get_placement(web.clone()).await.expect("placement").into_inner();
        let targets: Vec<(&str, i32)> = after
            .clusters
            .iter()
            .filter(|c| c.selected)
            .map(|c| (c.cluster.as_str(), c.replicas))
            .collect();
        assert_eq!(targets, [("member-1", 4)]);
        let listed = fed
            .list_clusters(pb::ListClustersRequest {})
            .await
            .expect("clusters")
            .into_inner()
            .clusters;
        assert!(listed.iter().any(|c| c.name == "member-2" && c.draining && c.unschedulable));
        // A second drain, of the only schedulable cluster left, is refused
        // and changes nothing.
        let refused = fed
            .drain(pb::DrainRequest {
                name: "member-1".into(),
                timeout_seconds: 5,
            })
            .await
            .expect_err("nowhere to go");
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert!(refused.message().contains("cannot drain member-1"), "{refused:?}");
        let member_1 = fed
            .list_clusters(pb::ListClustersRequest {})
            .await
            .expect("clusters")
            .into_inner()
            .clusters
            .into_iter()
            .find(|c| c.name == "member-1")
            .expect("member-1");
        assert!(!member_1.unschedulable && !member_1.draining);
    });
    // kubectl sees what gRPC did.
    let rb = ok(up.kubectl(&["get", "rb", "web-deployment", "-n", "default", "-o", "json"]));
    let rb: Value = serde_json::from_str(&rb).expect("binding JSON");
    assert_eq!(
        rb["spec"]["clusters"],
        json!([{"name": "member-1", "replicas": 4}])
    );
}

/// Polls an async check until it returns `Some`, for up to [`DEADLINE`].
async fn wait_for_async<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not there within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
