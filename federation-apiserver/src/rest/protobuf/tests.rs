//! Protobuf bodies encoded with the k8s-pb crate's prost types (an encoder
//! independent of the decoder's table), wrapped in the `runtime.Unknown`
//! envelope as kubectl sends them.

use std::collections::BTreeMap;

use k8s_pb::api::{apps::v1 as apps, coordination::v1 as coordination, core::v1 as core};
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::json;

use super::*;
use crate::rest::body::decode_object;
use crate::rest::registry::Registry;

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [MAGIC.to_vec(), unknown.encode_to_vec()].concat()
}

fn body<M: Message + k8s_pb::Resource>(m: &M) -> Vec<u8> {
    envelope(M::API_VERSION, M::KIND, m.encode_to_vec())
}

fn decode_pb(bytes: &[u8]) -> Result<Value, ApiError> {
    decode_object(Some("application/vnd.kubernetes.protobuf"), bytes)
}

/// Object metadata as Go's encoder writes it: every non-pointer field present.
fn go_meta(name: &str, namespace: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: Some(name.into()),
        generate_name: Some(String::new()),
        namespace: Some(namespace.into()),
        self_link: Some(String::new()),
        uid: Some(String::new()),
        resource_version: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    })
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check_schema(object: &Value) {
    let r = Registry::builtin();
    let (group, version) = match object["apiVersion"].as_str().unwrap().split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (
            String::new(),
            object["apiVersion"].as_str().unwrap().to_string(),
        ),
    };
    let rt = r
        .all()
        .iter()
        .find(|t| t.group == group && t.version == version && t.kind == object["kind"])
        .expect("served kind");
    rt.schema_check
        .check(object)
        .expect("the decoded object passes the schema check");
}

#[test]
fn schema_table_is_complete() {
    let schema = schema().expect("schema.txt parses");
    assert!(schema.len() > 200, "{}", schema.len());
    for (name, fields) in schema {
        for f in fields.values() {
            let ty = match &f.ty {
                Type::Map(inner) => inner.as_ref(),
                ty => ty,
            };
            if let Type::Msg(target) = ty {
                let special = special(target, &[], "t").unwrap().is_some();
                assert!(
                    special || schema.contains_key(target),
                    "{name}.{}: {target} missing",
                    f.json
                );
            }
        }
    }
    // The zero-value lists name real fields of the right types.
    let field = |path: &str| {
        let (message, json) = path.rsplit_once('.').unwrap();
        let fields = schema.get(message).unwrap_or_else(|| panic!("{path}"));
        let f = fields.values().find(|f| f.json == json);
        f.unwrap_or_else(|| panic!("{path}")).ty.clone()
    };
    for path in KEEP_EMPTY {
        assert_eq!(field(path), Type::Str, "{path}");
    }
    for path in DROP_ZERO {
        let ty = field(path);
        assert!(
            matches!(ty, Type::I32 | Type::I64 | Type::Bool),
            "{path}: {ty:?}"
        );
    }
    // kubectl sends CRDs as JSON (apiextensions is not in its scheme).
    for r in Registry::builtin()
        .all()
        .iter()
        .filter(|r| r.group != "apiextensions.k8s.io")
    {
        assert!(supports(&r.api_version(), &r.kind), "{}", r.kind);
    }
    assert!(supports(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview"
    ));
    assert!(!supports("example.com/v1", "Widget"));
    assert!(!supports("apps.example.com/v1", "Deployment"));
    assert!(supports("networking.k8s.io/v1", "Ingress"));
}

#[test]
fn deployment_as_kubectl_create_sends_it() {
    let app = labels(&[("app", "web")]);
    let d = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            labels: app.clone(),
            ..go_meta("web", "x").unwrap()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(2),
            selector: Some(meta::LabelSelector {
                match_labels: app.clone(),
                ..Default::default()
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: app.clone(),
                    ..go_meta("", "").unwrap()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![core::Container {
                        name: Some("nginx".into()),
                        image: Some("nginx:1".into()),
                        working_dir: Some(String::new()),
                        resources: Some(core::ResourceRequirements {
                            limits: [(
                                "cpu".to_string(),
                                Quantity {
                                    string: Some("500m".into()),
                                },
                            )]
                            .into(),
                            ..Default::default()
                        }),
                        ports: vec![core::ContainerPort {
                            container_port: Some(80),
                            host_port: Some(0),
                            protocol: Some("TCP".into()),
                            ..Default::default()
                        }],
                        security_context: Some(core::SecurityContext {
                            run_as_user: Some(0),
                            allow_privilege_escalation: Some(false),
                            ..Default::default()
                        }),
                        stdin: Some(false),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy::default()),
            min_ready_seconds: Some(0),
            ..Default::default()
        }),
        status: Some(apps::DeploymentStatus::default()),
    };
    let v = decode_pb(&body(&d)).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "x",
                         "creationTimestamp": null, "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx", "image": "nginx:1",
                        "resources": {"limits": {"cpu": "500m"}},
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": false}
                    }]}
                },
                "strategy": {}
            },
            "status": {}
        })
    );
    check_schema(&v);
}

#[test]
fn secret_bytes_become_base64_and_configmap_maps() {
    let s = core::Secret {
        metadata: go_meta("s", "x"),
        data: [("p".to_string(), b"q".to_vec()), ("e".to_string(), vec![])].into(),
        string_data: labels(&[("k", "v")]),
        r#type: Some("Opaque".into()),
        immutable: Some(false),
    };
    let v = decode_pb(&body(&s)).unwrap();
    assert_eq!(v["data"], json!({"p": "cQ==", "e": ""}));
    assert_eq!(v["stringData"], json!({"k": "v"}));
    assert_eq!(
        (v["type"].as_str(), v["immutable"].as_bool()),
        (Some("Opaque"), Some(false))
    );
    check_schema(&v);

    let cm = core::ConfigMap {
        metadata: go_meta("c", "x"),
        data: labels(&[("a", "b"), ("empty", "")]),
        binary_data: [("bin".to_string(), vec![0u8, 255])].into(),
        immutable: None,
    };
    let v = decode_pb(&body(&cm)).unwrap();
    assert_eq!(v["data"], json!({"a": "b", "empty": ""}));
    assert_eq!(v["binaryData"], json!({"bin": "AP8="}));
    assert!(v.get("immutable").is_none());
    check_schema(&v);

    let ns = core::Namespace {
        metadata: go_meta("x", ""),
        spec: Some(core::NamespaceSpec::default()),
        status: Some(core::NamespaceStatus::default()),
    };
    let v = decode_pb(&body(&ns)).unwrap();
    assert_eq!(
        v["metadata"],
        json!({"name": "x", "creationTimestamp": null})
    );
    assert_eq!(
        (v["spec"].clone(), v["status"].clone()),
        (json!({}), json!({}))
    );
    check_schema(&v);
}

#[test]
fn int_or_string_inline_structs_and_times() {
    let port = |p: IntOrString| core::ServicePort {
        name: Some(String::new()),
        port: Some(80),
        target_port: Some(p),
        ..Default::default()
    };
    let svc = core::Service {
        metadata: go_meta("svc", "x"),
        spec: Some(core::ServiceSpec {
            ports: vec![
                port(IntOrString {
                    r#type: Some(0),
                    int_val: Some(8080),
                    str_val: Some(String::new()),
                }),
                port(IntOrString {
                    r#type: Some(1),
                    int_val: Some(0),
                    str_val: Some("http".into()),
                }),
            ],
            cluster_ip: Some(String::new()),
            r#type: Some("ClusterIP".into()),
            ..Default::default()
        }),
        status: None,
    };
    let v = decode_pb(&body(&svc)).unwrap();
    assert_eq!(
        v["spec"],
        json!({"ports": [{"port": 80, "targetPort": 8080}, {"port": 80, "targetPort": "http"}],
               "type": "ClusterIP"})
    );
    check_schema(&v);

    // A Volume's source and a Probe's handler are embedded inline in Go.
    let pod = core::PodSpec {
        volumes: vec![core::Volume {
            name: Some("cfg".into()),
            volume_source: Some(core::VolumeSource {
                config_map: Some(core::ConfigMapVolumeSource {
                    local_object_reference: Some(core::LocalObjectReference {
                        name: Some("c".into()),
                    }),
                    default_mode: Some(0o644),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }],
        containers: vec![core::Container {
            name: Some("a".into()),
            liveness_probe: Some(core::Probe {
                handler: Some(core::ProbeHandler {
                    http_get: Some(core::HttpGetAction {
                        path: Some("/healthz".into()),
                        port: Some(IntOrString {
                            r#type: Some(1),
                            int_val: Some(0),
                            str_val: Some("http".into()),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                initial_delay_seconds: Some(-1),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut out = Map::new();
    let schema = schema().unwrap();
    decode_message(
        schema,
        "api.core.v1.PodSpec",
        &pod.encode_to_vec(),
        0,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({
            "volumes": [{"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}}],
            "containers": [{"name": "a", "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": -1}}]
        })
    );

    // Time has second precision; MicroTime keeps microseconds.
    let lease = coordination::Lease {
        metadata: go_meta("l", "x"),
        spec: Some(coordination::LeaseSpec {
            holder_identity: Some(String::new()),
            acquire_time: Some(meta::MicroTime {
                seconds: Some(1_700_000_000),
                nanos: Some(123_456_789),
            }),
            renew_time: Some(meta::MicroTime::default()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    let v = decode_pb(&body(&lease)).unwrap();
    assert_eq!(
        v["spec"],
        json!({"holderIdentity": "", "acquireTime": "2023-11-14T22:13:20.123456Z",
               "renewTime": null, "leaseDurationSeconds": 15})
    );
    check_schema(&v);
    let ev = core::Event {
        metadata: go_meta("e", "x"),
        last_timestamp: Some(meta::Time {
            seconds: Some(1_700_000_000),
            nanos: Some(5),
        }),
        ..Default::default()
    };
    let v = decode_pb(&body(&ev)).unwrap();
    assert_eq!(v["lastTimestamp"], "2023-11-14T22:13:20Z");
    check_schema(&v);
}

#[test]
fn packed_and_unpacked_repeated_scalars() {
    // PodSecurityContext.supplementalGroups (repeated int64): Go writes it
    // unpacked; proto3-style encoders pack it. Both decode.
    let unpacked = core::PodSecurityContext {
        supplemental_groups: vec![1, 2],
        ..Default::default()
    }
    .encode_to_vec();
    let tag = unpacked[0] >> 3;
    // Packed: one length-delimited run of varints.
    let packed = vec![(tag << 3) | 2, 2, 1, 2];
    for bytes in [unpacked, packed] {
        let mut out = Map::new();
        decode_message(
            schema().unwrap(),
            "api.core.v1.PodSecurityContext",
            &bytes,
            0,
            &mut out,
        )
        .unwrap();
        assert_eq!(Value::Object(out), json!({"supplementalGroups": [1, 2]}));
    }
}

fn bad_request(bytes: &[u8]) -> String {
    let e = decode_pb(bytes).expect_err("malformed");
    assert_eq!(
        (e.code, e.reason.as_str()),
        (400, "BadRequest"),
        "{}",
        e.message
    );
    assert!(e
        .message
        .starts_with("the server could not decode the request body: invalid protobuf: "));
    e.message
}

#[test]
fn malformed_bodies_are_400() {
    assert!(bad_request(b"").contains("k8s"));
    assert!(bad_request(b"{\"kind\":\"ConfigMap\"}").contains("prefix"));
    assert!(bad_request(b"k8s\0").contains("typeMeta"));
    let cm = core::ConfigMap {
        metadata: go_meta("c", "x"),
        data: labels(&[("a", "b")]),
        ..Default::default()
    };
    let good = body(&cm);
    // Every truncation is rejected cleanly or decodes (never a panic).
    for n in 0..good.len() {
        let _ = decode_pb(&good[..n]);
    }
    let truncated = envelope("v1", "ConfigMap", cm.encode_to_vec()[..5].to_vec());
    assert!(bad_request(&truncated).contains("past the end"));
    // metadata (field 1) sent as a varint.
    assert!(bad_request(&envelope("v1", "ConfigMap", vec![0x08, 1])).contains("wire type"));
    // name (ObjectMeta field 1) with invalid UTF-8.
    let bad_utf8 = envelope("v1", "ConfigMap", vec![0x0a, 3, 0x0a, 1, 0xff]);
    assert!(bad_request(&bad_utf8).contains("UTF-8"));
    assert!(bad_request(&envelope("v1", "ConfigMap", vec![0x0b])).contains("wire type 3"));
    assert!(bad_request(&envelope("v1", "ConfigMap", vec![0x00])).contains("field number 0"));
    assert!(bad_request(&envelope("v1", "ConfigMap", vec![0x80; 11])).contains("varint"));
    let mut gz = Unknown::decode(&good[4..]).unwrap();
    gz.content_encoding = Some("gzip".into());
    assert!(bad_request(&[MAGIC.to_vec(), gz.encode_to_vec()].concat()).contains("gzip"));
    // A RawExtension / FieldsV1 that is not JSON.
    let mf = meta::ObjectMeta {
        managed_fields: vec![meta::ManagedFieldsEntry {
            fields_v1: Some(meta::FieldsV1 {
                raw: Some(b"{not json".to_vec()),
            }),
            ..Default::default()
        }],
        ..go_meta("c", "x").unwrap()
    };
    let cm = core::ConfigMap {
        metadata: Some(mf),
        ..Default::default()
    };
    assert!(bad_request(&body(&cm)).contains("does not hold JSON"));
    // Unknown fields are skipped, as kube-apiserver does.
    let extra = vec![0xf8, 0x01, 7]; // field 31, varint 7
    assert_eq!(
        decode_pb(&envelope("v1", "ConfigMap", extra)).unwrap(),
        json!({"apiVersion": "v1", "kind": "ConfigMap"})
    );
}

#[test]
fn unknown_kinds_are_415() {
    let e = decode_pb(&envelope("example.com/v1", "Widget", vec![])).unwrap_err();
    assert_eq!((e.code, e.reason.as_str()), (415, "UnsupportedMediaType"));
    assert!(e.message.contains("example.com/v1 Widget") && e.message.contains("JSON"));
}

#[test]
fn self_subject_access_review() {
    use k8s_pb::api::authorization::v1 as authz;
    let review = authz::SelfSubjectAccessReview {
        metadata: go_meta("", ""),
        spec: Some(authz::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(authz::ResourceAttributes {
                namespace: Some("x".into()),
                verb: Some("create".into()),
                resource: Some("deployments".into()),
                group: Some("apps".into()),
                ..Default::default()
            }),
            non_resource_attributes: None,
        }),
        status: Some(authz::SubjectAccessReviewStatus {
            allowed: Some(false),
            ..Default::default()
        }),
    };
    let v = decode_pb(&body(&review)).unwrap();
    assert_eq!(v["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(
        v["spec"]["resourceAttributes"],
        json!({"namespace": "x", "verb": "create", "group": "apps", "resource": "deployments"})
    );
}
