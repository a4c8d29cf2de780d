//! API discovery: `/api`, `/apis`, `/api/v1`, `/apis/{group}[/{version}]` and `/version`.
//!
//! Everything here is a pure function of the [`Registry`], so the documents
//! always describe exactly what the REST handlers serve, in registry order.
//!
//! Two wire formats exist (see `KUBECTL-WIRE.md`, section Discovery):
//!
//! * **Aggregated discovery** (`apidiscovery.k8s.io` `APIGroupDiscoveryList`):
//!   kubectl 1.27–1.29 ask for `v2beta1`, 1.30+ ask for `v2` first. One
//!   request to `/api` and one to `/apis` then describe every resource.
//!   Only `/api` and `/apis` answer in this format.
//! * **Legacy discovery** (plain `application/json`): `APIVersions` at `/api`,
//!   `APIGroupList` at `/apis`, `APIGroup` at `/apis/{group}` and one
//!   `APIResourceList` per group-version.
//!
//! [`negotiate`] picks the format from the `Accept` header, and
//! [`discovery_response`] is the single entry point the router calls.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::rest::registry::{Registry, ResourceType};
use crate::status::ApiError;

/// The Kubernetes major version this server reports at `/version`.
pub const SERVED_MAJOR: &str = "1";

/// The Kubernetes minor version this server reports at `/version`.
///
/// The `kubectl` dispatcher on these machines runs the kubectl binary whose
/// minor matches this value, so it must name an installed kubectl (1.27–1.33).
pub const SERVED_MINOR: &str = "33";

/// The group of aggregated discovery documents.
const DISCOVERY_GROUP: &str = "apidiscovery.k8s.io";
/// The `as=` parameter naming the aggregated discovery list kind.
const DISCOVERY_LIST_KIND: &str = "APIGroupDiscoveryList";
/// Verbs of the `/status` subresource.
const STATUS_VERBS: [&str; 3] = ["get", "patch", "update"];

/// The representation a discovery client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryFormat {
    /// Plain `application/json`: `APIVersions` / `APIGroupList` / `APIResourceList`.
    Legacy,
    /// `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList` (kubectl 1.30+).
    AggregatedV2,
    /// `apidiscovery.k8s.io/v2beta1` `APIGroupDiscoveryList` (kubectl 1.27–1.29).
    AggregatedV2Beta1,
}

impl DiscoveryFormat {
    /// The exact `Content-Type` answered for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            DiscoveryFormat::Legacy => "application/json",
            DiscoveryFormat::AggregatedV2 => {
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            }
            DiscoveryFormat::AggregatedV2Beta1 => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
        }
    }

    /// `apiVersion` of an aggregated list; `None` for [`DiscoveryFormat::Legacy`].
    pub fn api_version(self) -> Option<&'static str> {
        match self {
            DiscoveryFormat::Legacy => None,
            DiscoveryFormat::AggregatedV2 => Some("apidiscovery.k8s.io/v2"),
            DiscoveryFormat::AggregatedV2Beta1 => Some("apidiscovery.k8s.io/v2beta1"),
        }
    }
}

/// Picks the discovery format from an `Accept` header.
///
/// The header is a comma-separated list of media ranges with optional
/// parameters and `q` values. Ranges are tried from the highest `q` down and,
/// for equal `q` (the usual case for kubectl), in the order the client listed
/// them; `q=0` ranges are never chosen. The first range this server can
/// produce wins. Ranges it cannot produce (protobuf, `as=Table`, ...) are
/// skipped. A missing header, or one with nothing acceptable, yields
/// [`DiscoveryFormat::Legacy`]: plain JSON is what every client can fall back to.
pub fn negotiate(accept: Option<&str>) -> DiscoveryFormat {
    let Some(accept) = accept else {
        return DiscoveryFormat::Legacy;
    };
    let mut ranges: Vec<(f32, DiscoveryFormat)> = accept
        .split(',')
        .filter_map(|range| {
            let (q, format) = parse_media_range(range)?;
            (q > 0.0).then_some((q, format))
        })
        .collect();
    // A stable sort keeps the client's order among equal q-values.
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges
        .first()
        .map_or(DiscoveryFormat::Legacy, |&(_, format)| format)
}

/// One media range → its `q` and the format it selects, if this server can produce it.
fn parse_media_range(range: &str) -> Option<(f32, DiscoveryFormat)> {
    let mut parts = range.split(';').map(str::trim);
    let media_type = parts.next()?.to_ascii_lowercase();
    let (mut q, mut group, mut version, mut list_kind) = (1.0_f32, None, None, None);
    let mut other_profile = false;
    for param in parts.filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "q" => q = value.parse().unwrap_or(1.0),
            "g" => group = Some(value),
            "v" => version = Some(value),
            "as" => list_kind = Some(value),
            "profile" => other_profile = true,
            _ => {} // charset, stream, ... do not change the representation
        }
    }
    let format = match media_type.as_str() {
        "application/json" => match (group, version, list_kind) {
            (None, None, None) if !other_profile => DiscoveryFormat::Legacy,
            (Some(DISCOVERY_GROUP), Some("v2"), Some(DISCOVERY_LIST_KIND)) => {
                DiscoveryFormat::AggregatedV2
            }
            (Some(DISCOVERY_GROUP), Some("v2beta1"), Some(DISCOVERY_LIST_KIND)) => {
                DiscoveryFormat::AggregatedV2Beta1
            }
            _ => return None,
        },
        "*/*" | "application/*" => DiscoveryFormat::Legacy,
        _ => return None,
    };
    Some((q, format))
}

/// Legacy `GET /api`: the `APIVersions` of the core group.
///
/// `server_address` is the `host:port` clients reach this server at (may be empty).
pub fn api_versions(registry: &Registry, server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": registry.versions(""),
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    })
}

/// Legacy `GET /apis`: an `APIGroupList` of every non-core group.
pub fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = non_core_groups(registry)
        .map(|group| group_entry(registry, &group))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Legacy `GET /apis/{group}`: one `APIGroup`, or `None` if the group is not served.
pub fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    if group.is_empty() || registry.versions(group).is_empty() {
        return None;
    }
    let mut entry = group_entry(registry, group);
    let object = entry.as_object_mut()?;
    object.insert("kind".into(), json!("APIGroup"));
    object.insert("apiVersion".into(), json!("v1"));
    Some(entry)
}

/// Legacy `GET /api/v1` or `GET /apis/{group}/{version}`: an `APIResourceList`
/// (each resource followed by its `/status` subresource, if any), or `None`
/// if the group-version is not served. `group` is `""` for the core group.
pub fn api_resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let types = registry.resources(group, version);
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for t in &types {
        let mut entry = json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": t.verbs(),
        });
        insert_names(&mut entry, t);
        resources.push(entry);
        if t.has_status {
            resources.push(json!({
                "name": format!("{}/status", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": STATUS_VERBS,
            }));
        }
        if t.has_scale {
            resources.push(json!({
                "name": format!("{}/scale", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": STATUS_VERBS,
            }));
        }
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": types[0].api_version(),
        "resources": resources,
    }))
}

/// Aggregated `GET /api`: an `APIGroupDiscoveryList` holding the core group
/// (named `""`). `format` must be aggregated; `Legacy` is treated as `v2`.
pub fn aggregated_core(registry: &Registry, format: DiscoveryFormat) -> Value {
    let items: Vec<Value> = if registry.versions("").is_empty() {
        Vec::new()
    } else {
        vec![aggregated_group(registry, "")]
    };
    aggregated_list(items, format)
}

/// Aggregated `GET /apis`: an `APIGroupDiscoveryList` of every non-core group,
/// preferred version first. `format` must be aggregated; `Legacy` is treated as `v2`.
pub fn aggregated_groups(registry: &Registry, format: DiscoveryFormat) -> Value {
    let items: Vec<Value> = non_core_groups(registry)
        .map(|group| aggregated_group(registry, &group))
        .collect();
    aggregated_list(items, format)
}

/// `GET /version` body: the Kubernetes version this server mimics.
pub fn version_info() -> Value {
    json!({
        "major": SERVED_MAJOR,
        "minor": SERVED_MINOR,
        "gitVersion": format!(
            "v{SERVED_MAJOR}.{SERVED_MINOR}.0-flotilla.{}",
            env!("CARGO_PKG_VERSION")
        ),
        "gitCommit": "",
        "gitTreeState": "clean",
        // What Kubernetes reports when no build date was stamped in.
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": platform(),
    })
}

/// `GET /version` as a response (plain JSON, 200).
pub fn version_response() -> Response {
    json_response(StatusCode::OK, "application/json", &version_info())
}

/// Answers a discovery request, or returns `None` if `path` is not a discovery path.
///
/// Discovery paths are `/api`, `/api/{version}`, `/apis`, `/apis/{group}` and
/// `/apis/{group}/{version}`, each with or without a trailing slash (a query
/// string, if passed, is ignored). Resource paths such as `/api/v1/namespaces`
/// return `None`. On a discovery path:
///
/// * `GET` (and `HEAD`) answer the document; `/api` and `/apis` answer aggregated
///   discovery when `accept` asks for it (see [`negotiate`]);
/// * an unserved group or version answers a 404 `Status`;
/// * any other method answers a 405 `Status`.
///
/// Every discovery response carries `Vary: Accept`.
pub fn discovery_response(
    registry: &Registry,
    method: &Method,
    path: &str,
    accept: Option<&str>,
    server_address: &str,
) -> Option<Response> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    let is_discovery = trimmed.starts_with('/')
        && matches!(
            segments.as_slice(),
            ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _]
        );
    if !is_discovery {
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource (method {method}, path {trimmed})"
        ))
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(with_vary(response));
    }
    let format = negotiate(accept);
    let aggregated = format != DiscoveryFormat::Legacy;
    let document = match segments.as_slice() {
        ["api"] if aggregated => Some(aggregated_core(registry, format)),
        ["api"] => Some(api_versions(registry, server_address)),
        ["apis"] if aggregated => Some(aggregated_groups(registry, format)),
        ["apis"] => Some(api_group_list(registry)),
        ["api", version] => api_resource_list(registry, "", version),
        ["apis", group] => api_group(registry, group),
        ["apis", group, version] if !group.is_empty() => {
            api_resource_list(registry, group, version)
        }
        _ => None,
    };
    let response = match document {
        Some(body) => {
            let is_root = segments.len() == 1;
            let content_type = if is_root {
                format.content_type()
            } else {
                DiscoveryFormat::Legacy.content_type()
            };
            json_response(StatusCode::OK, content_type, &body)
        }
        None => ApiError::no_such_path(trimmed).into_response(),
    };
    Some(with_vary(response))
}

/// Non-core groups in registry order.
fn non_core_groups(registry: &Registry) -> impl Iterator<Item = String> {
    registry.groups().into_iter().filter(|g| !g.is_empty())
}

/// `{name, versions:[{groupVersion, version}], preferredVersion}` of one group.
fn group_entry(registry: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = registry
        .versions(group)
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// One aggregated `APIGroupDiscovery`: every version of `group`, preferred first.
fn aggregated_group(registry: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = registry
        .versions(group)
        .iter()
        .map(|version| {
            let resources: Vec<Value> = registry
                .resources(group, version)
                .iter()
                .map(|t| aggregated_resource(t))
                .collect();
            json!({"version": version, "freshness": "Current", "resources": resources})
        })
        .collect();
    json!({"metadata": {"name": group}, "versions": versions})
}

/// One aggregated `APIResourceDiscovery`, with its `/status` subresource if any.
fn aggregated_resource(t: &ResourceType) -> Value {
    let response_kind = json!({"group": t.group, "version": t.version, "kind": t.kind});
    let mut entry = json!({
        "resource": t.plural,
        "responseKind": response_kind,
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular,
        "verbs": t.verbs(),
    });
    insert_names(&mut entry, t);
    let mut subresources = Vec::new();
    if t.has_status {
        subresources.push(json!({
            "subresource": "status",
            "responseKind": response_kind,
            "verbs": STATUS_VERBS,
        }));
    }
    if t.has_scale {
        subresources.push(json!({
            "subresource": "scale",
            "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "verbs": STATUS_VERBS,
        }));
    }
    if !subresources.is_empty() {
        entry["subresources"] = Value::Array(subresources);
    }
    entry
}

/// Adds `shortNames` and `categories`, each only when non-empty.
fn insert_names(entry: &mut Value, t: &ResourceType) {
    if !t.short_names.is_empty() {
        entry["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        entry["categories"] = json!(t.categories);
    }
}

/// Wraps aggregated items in an `APIGroupDiscoveryList` of the requested version.
fn aggregated_list(items: Vec<Value>, format: DiscoveryFormat) -> Value {
    let api_version = format.api_version().unwrap_or("apidiscovery.k8s.io/v2");
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": api_version,
        "metadata": Value::Object(Map::new()),
        "items": items,
    })
}

/// `linux/amd64`-style platform of this build (Go's architecture names).
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

fn json_response(code: StatusCode, content_type: &'static str, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
}

fn with_vary(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;

    const KUBECTL_130: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    const KUBECTL_127: &str =
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    /// Calls [`discovery_response`] with GET and returns (status, content type, vary, body).
    async fn get(path: &str, accept: Option<&str>) -> (u16, String, String, Value) {
        let registry = Registry::builtin();
        let response = discovery_response(&registry, &Method::GET, path, accept, "10.0.0.1:6443")
            .unwrap_or_else(|| panic!("{path} should be a discovery path"));
        split(response).await
    }

    async fn split(response: Response) -> (u16, String, String, Value) {
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let (content_type, vary) = (header(header::CONTENT_TYPE), header(header::VARY));
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap();
        (status, content_type, vary, body)
    }

    fn names(resources: &Value, key: &str) -> Vec<String> {
        resources
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[key].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn negotiates_aggregated_and_plain_json() {
        use DiscoveryFormat::*;
        assert_eq!(negotiate(Some(KUBECTL_130)), AggregatedV2);
        assert_eq!(negotiate(Some(KUBECTL_127)), AggregatedV2Beta1);
        assert_eq!(negotiate(Some("application/json")), Legacy);
        assert_eq!(negotiate(None), Legacy);
        assert_eq!(negotiate(Some("*/*")), Legacy);
        // Unproducible ranges are skipped, whitespace and quotes tolerated.
        let proto = "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList, application/json; g=apidiscovery.k8s.io; v=\"v2beta1\"; as=APIGroupDiscoveryList";
        assert_eq!(negotiate(Some(proto)), AggregatedV2Beta1);
        assert_eq!(
            negotiate(Some("application/json;as=Table;v=v1;g=meta.k8s.io")),
            Legacy
        );
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf")),
            Legacy
        );
        // q-values outrank order; q=0 is never chosen.
        let weighted = "application/json;q=0.5,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        assert_eq!(negotiate(Some(weighted)), AggregatedV2);
        let refused = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0,application/json";
        assert_eq!(negotiate(Some(refused)), Legacy);
        let unknown =
            "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(Some(unknown)), Legacy);
    }

    #[tokio::test]
    async fn legacy_api_lists_core_versions() {
        let (status, content_type, vary, body) = get("/api", Some("application/json")).await;
        assert_eq!(
            (status, content_type.as_str(), vary.as_str()),
            (200, "application/json", "Accept")
        );
        assert_eq!(body["kind"], "APIVersions");
        assert_eq!(body["versions"], json!(["v1"]));
        assert_eq!(
            body["serverAddressByClientCIDRs"],
            json!([{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}])
        );
        serde_json::from_value::<meta::APIVersions>(body).unwrap();
    }

    #[tokio::test]
    async fn legacy_apis_lists_non_core_groups_in_registry_order() {
        let (status, _, _, body) = get("/apis/", None).await;
        assert_eq!(status, 200);
        assert_eq!(body["kind"], "APIGroupList");
        let groups = &body["groups"];
        let expected = [
            "apps",
            "batch",
            "networking.k8s.io",
            "policy",
            "autoscaling",
            "coordination.k8s.io",
            "rbac.authorization.k8s.io",
            "apiextensions.k8s.io",
        ];
        assert_eq!(names(groups, "name"), expected);
        assert_eq!(
            groups[0]["versions"],
            json!([{"groupVersion": "apps/v1", "version": "v1"}])
        );
        assert_eq!(groups[0]["preferredVersion"]["groupVersion"], "apps/v1");
        assert_eq!(groups[4]["preferredVersion"]["version"], "v2");
        serde_json::from_value::<meta::APIGroupList>(body).unwrap();

        let (status, _, _, group) = get("/apis/apps", None).await;
        assert_eq!(status, 200);
        assert_eq!(
            (group["kind"].as_str(), group["name"].as_str()),
            (Some("APIGroup"), Some("apps"))
        );
        serde_json::from_value::<meta::APIGroup>(group).unwrap();
    }

    #[tokio::test]
    async fn apps_v1_lists_deployments_and_status() {
        let (status, content_type, _, body) = get("/apis/apps/v1", Some(KUBECTL_130)).await;
        assert_eq!((status, content_type.as_str()), (200, "application/json"));
        assert_eq!(
            (body["kind"].as_str(), body["groupVersion"].as_str()),
            (Some("APIResourceList"), Some("apps/v1"))
        );
        let resources = &body["resources"];
        let listed = names(resources, "name");
        assert_eq!(&listed[..2], ["deployments", "deployments/status"]);
        assert_eq!(
            resources[0],
            json!({"name": "deployments", "singularName": "deployment", "namespaced": true,
                "kind": "Deployment", "verbs": ["create", "delete", "deletecollection", "get",
                "list", "patch", "update", "watch"], "shortNames": ["deploy"], "categories": ["all"]})
        );
        assert_eq!(
            resources[1],
            json!({"name": "deployments/status", "singularName": "", "namespaced": true,
                "kind": "Deployment", "verbs": ["get", "patch", "update"]})
        );
        serde_json::from_value::<meta::APIResourceList>(body).unwrap();
    }

    #[tokio::test]
    async fn core_v1_lists_cluster_scoped_namespaces_without_status_for_configmaps() {
        let (status, _, _, body) = get("/api/v1/", None).await;
        assert_eq!(status, 200);
        assert_eq!(body["groupVersion"], "v1");
        let resources = &body["resources"];
        assert_eq!(resources[0]["name"], "namespaces");
        assert_eq!(resources[0]["namespaced"], false);
        assert_eq!(resources[0]["shortNames"], json!(["ns"]));
        assert!(resources[0].get("categories").is_none());
        let listed = names(resources, "name");
        assert!(listed.contains(&"namespaces/status".to_string()));
        assert!(!listed.contains(&"configmaps/status".to_string()));
    }

    #[tokio::test]
    async fn aggregated_api_v2_holds_the_core_group() {
        let (status, content_type, vary, body) = get("/api", Some(KUBECTL_130)).await;
        assert_eq!(status, 200);
        assert_eq!(content_type, DiscoveryFormat::AggregatedV2.content_type());
        assert_eq!(vary, "Accept");
        assert_eq!(body["kind"], "APIGroupDiscoveryList");
        assert_eq!(body["apiVersion"], "apidiscovery.k8s.io/v2");
        assert_eq!(body["metadata"], json!({}));
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["metadata"]["name"], "");
        let version = &items[0]["versions"][0];
        assert_eq!(
            (version["version"].as_str(), version["freshness"].as_str()),
            (Some("v1"), Some("Current"))
        );
        let namespaces = &version["resources"][0];
        assert_eq!(namespaces["resource"], "namespaces");
        assert_eq!(namespaces["scope"], "Cluster");
        assert_eq!(namespaces["singularResource"], "namespace");
        assert_eq!(
            namespaces["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Namespace"})
        );
        let configmaps = &version["resources"][1];
        assert_eq!(configmaps["scope"], "Namespaced");
        assert!(configmaps.get("subresources").is_none());
    }

    #[tokio::test]
    async fn aggregated_apis_v2beta1_holds_every_other_group() {
        let (status, content_type, _, body) = get("/apis", Some(KUBECTL_127)).await;
        assert_eq!(status, 200);
        assert_eq!(
            content_type,
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        );
        assert_eq!(body["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        let items = body["items"].as_array().unwrap();
        let groups: Vec<&str> = items
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(groups, Registry::builtin().groups()[1..]);
        let mut seen = 0;
        for item in items {
            let group = item["metadata"]["name"].as_str().unwrap();
            for version in item["versions"].as_array().unwrap() {
                for resource in version["resources"].as_array().unwrap() {
                    let kind = &resource["responseKind"];
                    assert_eq!(kind["group"], group, "{resource}");
                    assert_eq!(kind["version"], version["version"], "{resource}");
                    assert!(
                        kind["kind"].as_str().is_some_and(|k| !k.is_empty()),
                        "{resource}"
                    );
                    for sub in resource["subresources"].as_array().into_iter().flatten() {
                        match sub["subresource"].as_str() {
                            Some("scale") => assert_eq!(
                                sub["responseKind"],
                                json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
                            ),
                            _ => assert_eq!(&sub["responseKind"], kind),
                        }
                    }
                    seen += 1;
                }
            }
        }
        assert_eq!(
            seen,
            Registry::builtin()
                .all()
                .iter()
                .filter(|t| !t.group.is_empty())
                .count()
        );
        let deployments = &items[0]["versions"][0]["resources"][0];
        assert_eq!(deployments["resource"], "deployments");
        assert_eq!(deployments["shortNames"], json!(["deploy"]));
        assert_eq!(
            deployments["subresources"],
            json!([{"subresource": "status", "verbs": ["get", "patch", "update"],
                "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"}},
                {"subresource": "scale", "verbs": ["get", "patch", "update"],
                "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}}])
        );
    }

    #[tokio::test]
    async fn unknown_group_or_version_is_a_404_status() {
        for path in [
            "/apis/nope/v1",
            "/apis/nope",
            "/api/v2",
            "/apis/apps/v2",
            "/apis//v1",
        ] {
            let (status, content_type, _, body) = get(path, None).await;
            assert_eq!(
                (status, content_type.as_str()),
                (404, "application/json"),
                "{path}"
            );
            assert_eq!(body["kind"], "Status");
            assert_eq!(body["reason"], "NotFound");
            assert_eq!(body["code"], 404);
            assert!(body["message"].as_str().unwrap().contains(path), "{body}");
        }
    }

    #[tokio::test]
    async fn non_get_is_405_and_resource_paths_are_not_discovery() {
        let registry = Registry::builtin();
        let response =
            discovery_response(&registry, &Method::POST, "/apis/apps/v1", None, "").unwrap();
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
        let (status, _, _, body) = split(response).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (405, Some("MethodNotAllowed"))
        );
        for path in [
            "/api/v1/namespaces",
            "/apis/apps/v1/deployments",
            "/apis/apps/v1/namespaces/a/deployments",
            "/version",
            "/healthz",
            "/apisx",
            "/openapi/v2",
            "/",
            "",
            "x/api",
        ] {
            assert!(
                discovery_response(&registry, &Method::GET, path, None, "").is_none(),
                "{path}"
            );
        }
        let with_query = discovery_response(
            &registry,
            &Method::GET,
            "/apis?timeout=32s",
            Some(KUBECTL_130),
            "",
        );
        assert_eq!(with_query.unwrap().status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn version_reports_the_served_minor() {
        let (status, content_type, _, body) = split(version_response()).await;
        assert_eq!((status, content_type.as_str()), (200, "application/json"));
        assert_eq!(
            (body["major"].as_str(), body["minor"].as_str()),
            (Some("1"), Some(SERVED_MINOR))
        );
        let git_version = body["gitVersion"].as_str().unwrap();
        assert_eq!(
            git_version,
            format!("v1.33.0-flotilla.{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(body["compiler"], "rustc");
        for key in [
            "gitCommit",
            "gitTreeState",
            "buildDate",
            "goVersion",
            "platform",
        ] {
            assert!(body[key].is_string(), "{key}");
        }
    }
}
