use http::{HeaderMap, Method};
use serde_json::{json, Value};

use super::schemas::{collect_refs, ref_name, BuiltinSchemas};
use super::*;
use crate::rest::registry::{Registry, ResourceType};

fn get(registry: &Registry, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = response(registry, &Method::GET, path, None, &HeaderMap::new())
        .unwrap_or_else(|| panic!("{path} is not an OpenAPI path"));
    let status = response.status();
    let headers = response.headers().clone();
    let body = futures::executor::block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
        .expect("body");
    (status, headers, body.to_vec())
}

fn doc(registry: &Registry, path: &str) -> Value {
    let (status, _, body) = get(registry, path);
    assert_eq!(status, StatusCode::OK, "{path}");
    serde_json::from_slice(&body).expect("JSON document")
}

#[test]
fn v2_is_empty_protobuf() {
    let (status, headers, body) = get(&Registry::builtin(), "/openapi/v2");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], V2_CONTENT_TYPE);
    assert!(body.is_empty());
}

#[test]
fn other_paths_are_not_ours() {
    let registry = Registry::builtin();
    for path in [
        "/api",
        "/apis/apps/v1",
        "/openapi",
        "/openapi/v4",
        "/openapiv3",
    ] {
        assert!(response(&registry, &Method::GET, path, None, &HeaderMap::new()).is_none());
    }
    let post = response(
        &registry,
        &Method::POST,
        "/openapi/v3",
        None,
        &HeaderMap::new(),
    );
    assert_eq!(post.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        get(&registry, "/openapi/v3/apis/nope/v1").0,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn root_lists_every_group_version_with_its_hash() {
    let registry = Registry::builtin();
    let root = doc(&registry, "/openapi/v3");
    let paths = root["paths"].as_object().unwrap();
    for (group, version) in v3::group_versions(&registry) {
        let path = v3::document_path(&group, &version);
        let url = paths[&path]["serverRelativeURL"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("/openapi/v3/{path}?hash=")),
            "{url}"
        );
        // The hash in the URL is the document's ETag; asking with it is cacheable forever.
        let (path_part, query) = url.split_once('?').unwrap();
        let response = response(
            &registry,
            &Method::GET,
            path_part,
            Some(query),
            &HeaderMap::new(),
        )
        .unwrap();
        let hash = query.trim_start_matches("hash=");
        assert_eq!(
            response.headers()[header::ETAG],
            format!("\"{hash}\"").as_str()
        );
        assert!(response.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable"));
        let mut conditional = HeaderMap::new();
        conditional.insert(
            header::IF_NONE_MATCH,
            format!("\"{hash}\"").parse().unwrap(),
        );
        let again =
            super::response(&registry, &Method::GET, path_part, None, &conditional).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }
    assert!(paths.contains_key("api/v1") && paths.contains_key("apis/apps/v1"));
}

/// Every kind served has a schema with its GVK and a description; every
/// `$ref` in the document resolves; every resource has a PATCH operation
/// tagged with its GVK (an object) and listing `fieldValidation`.
#[test]
fn documents_describe_every_kind_and_resolve() {
    let registry = Registry::builtin();
    for (group, version) in v3::group_versions(&registry) {
        let path = format!("/openapi/v3/{}", v3::document_path(&group, &version));
        let document = doc(&registry, &path);
        assert_eq!(document["openapi"], "3.0.0");
        let schemas = document["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        collect_refs(&document, &mut refs);
        for r in &refs {
            assert!(schemas.contains_key(r), "{path}: dangling $ref {r}");
        }
        for rt in registry.resources(&group, &version) {
            let expected = json!([{ "group": group, "version": version, "kind": rt.kind }]);
            let kind_schema = schemas
                .values()
                .find(|s| s["x-kubernetes-group-version-kind"] == expected)
                .unwrap_or_else(|| panic!("{path}: no schema for {}", rt.kind));
            assert!(kind_schema["description"].is_string(), "{}", rt.kind);
            assert!(
                kind_schema["properties"]["metadata"].is_object(),
                "{}",
                rt.kind
            );
            let list = json!([{ "group": group, "version": version, "kind": rt.list_kind() }]);
            assert!(schemas
                .values()
                .any(|s| s["x-kubernetes-group-version-kind"] == list));
            assert_patch_operation(&document, &rt);
        }
    }
}

fn assert_patch_operation(document: &Value, rt: &ResourceType) {
    let gvk = json!({ "group": rt.group, "version": rt.version, "kind": rt.kind });
    let namespace = if rt.namespaced {
        "namespaces/{namespace}/"
    } else {
        ""
    };
    let object_path = format!(
        "/{}/{namespace}{}/{{name}}",
        v3::document_path(&rt.group, &rt.version),
        rt.plural
    );
    let item = &document["paths"][&object_path];
    for verb in ["get", "put", "delete", "patch"] {
        assert!(item[verb].is_object(), "{object_path} has no {verb}");
    }
    let patch = &item["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"], gvk,
        "{object_path}"
    );
    let params = patch["parameters"].as_array().unwrap();
    assert!(params
        .iter()
        .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
    let content = patch["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/merge-patch+json"));
    let collection = object_path.trim_end_matches("/{name}");
    for verb in ["get", "post", "delete"] {
        // deletecollection only where served (not for namespaces).
        let served = verb != "delete" || rt.strategy.delete_collection;
        assert_eq!(
            document["paths"][collection][verb].is_object(),
            served,
            "{collection} {verb}"
        );
    }
    if rt.has_status {
        let status = &document["paths"][format!("{object_path}/status")]["patch"];
        assert_eq!(status["x-kubernetes-group-version-kind"], gvk);
    }
}

#[test]
fn builtin_schemas_carry_descriptions_and_kubernetes_names() {
    let builtin = BuiltinSchemas::get();
    let name = builtin.name_of("apps", "v1", "Deployment").unwrap();
    assert_eq!(name, "io.k8s.api.apps.v1.Deployment");
    let components = builtin.components();
    let spec = &components["io.k8s.api.apps.v1.DeploymentSpec"];
    assert!(spec["properties"]["replicas"]["description"]
        .as_str()
        .unwrap()
        .contains("desired pods"));
    // References with a description are wrapped in allOf, as kube-apiserver does.
    let template = &spec["properties"]["template"];
    assert!(template["description"].is_string());
    let target = template["allOf"][0]["$ref"].as_str().unwrap();
    assert_eq!(ref_name(target), Some("io.k8s.api.core.v1.PodTemplateSpec"));
    assert!(components.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
}

#[test]
fn kinds_without_a_schema_get_a_permissive_one() {
    let mut rt = Registry::builtin()
        .lookup("", "v1", "configmaps")
        .unwrap()
        .as_ref()
        .clone();
    rt.group = "flotilla.io".into();
    rt.version = "v1alpha1".into();
    rt.kind = "Cluster".into();
    rt.plural = "clusters".into();
    let registry = Registry::new(vec![rt]);
    let document = doc(&registry, "/openapi/v3/apis/flotilla.io/v1alpha1");
    let schema = &document["components"]["schemas"]["io.flotilla.v1alpha1.Cluster"];
    assert_eq!(schema["x-kubernetes-preserve-unknown-fields"], true);
    assert!(
        document["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
            .is_object()
    );
    assert!(
        document["paths"]["/apis/flotilla.io/v1alpha1/namespaces/{namespace}/clusters/{name}"]
            ["patch"]
            .is_object()
    );
}

#[test]
fn unknown_fields_are_found_with_their_paths() {
    let registry = Registry::builtin();
    let deployment = registry.lookup("apps", "v1", "deployments").unwrap();
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x", "labels": {"any": "label"}, "bogus": 1},
        "spec": {
            "replicaz": 3,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                {"name": "a", "image": "a", "resources": {"limits": {"cpu": "1"}}},
                {"name": "b", "imagez": "b", "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]},
            ]}},
        },
        "status": {"replicas": 1},
    });
    assert_eq!(
        unknown_fields(&deployment, &object),
        vec![
            "metadata.bogus",
            "spec.replicaz",
            "spec.template.spec.containers[1].imagez"
        ]
    );
    let mut pruned = object.clone();
    fields::prune_unknown_fields(&deployment, &mut pruned);
    assert!(unknown_fields(&deployment, &pruned).is_empty());
    assert_eq!(
        pruned["spec"]["template"]["spec"]["containers"][0],
        object["spec"]["template"]["spec"]["containers"][0]
    );
    // Free-form parts (managedFields' fieldsV1) accept anything.
    let managed = json!({"metadata": {"name": "x", "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:x": {}}}}]}});
    assert!(unknown_fields(&deployment, &managed).is_empty());
}

#[test]
fn field_validation_modes() {
    use crate::rest::request_info::Query;
    let registry = Registry::builtin();
    let cm = registry.lookup("", "v1", "configmaps").unwrap();
    let object =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dataz": {}});
    let strict = check_fields(
        &cm,
        &Query::parse(Some("fieldValidation=Strict")),
        &mut object.clone(),
    );
    let message = strict.unwrap_err().to_status()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("strict decoding error: unknown field \"dataz\""),
        "{message}"
    );
    let mut warned = object.clone();
    let warnings = check_fields(
        &cm,
        &Query::parse(Some("fieldValidation=Warn")),
        &mut warned,
    )
    .unwrap();
    assert_eq!(warnings, vec!["unknown field \"dataz\"".to_string()]);
    assert!(warned.get("dataz").is_none());
    let mut ignored = object.clone();
    assert!(check_fields(
        &cm,
        &Query::parse(Some("fieldValidation=Ignore")),
        &mut ignored
    )
    .unwrap()
    .is_empty());
    assert!(ignored.get("dataz").is_none());
    assert!(check_fields(
        &cm,
        &Query::parse(Some("fieldValidation=Bogus")),
        &mut object.clone()
    )
    .is_err());
    let response = with_warnings(StatusCode::OK.into_response(), &warnings);
    assert_eq!(
        response.headers()[header::WARNING],
        "299 - \"unknown field \\\"dataz\\\"\""
    );
}

#[test]
fn every_builtin_schema_reference_resolves() {
    let components = BuiltinSchemas::get().components();
    let mut refs = Vec::new();
    for schema in components.values() {
        collect_refs(schema, &mut refs);
    }
    for r in refs {
        assert!(components.contains_key(&r), "dangling {r}");
    }
    for schema in components.values() {
        let text = schema.to_string();
        assert!(
            !text.contains("\"$defs") && !text.contains("#/$defs"),
            "{text:.200}"
        );
    }
}
