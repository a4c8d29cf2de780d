//! OpenAPI 3.0 documents, one per served group-version, as kube-apiserver
//! publishes them at `/openapi/v3/apis/{group}/{version}`.
//!
//! Each document holds `components.schemas` for every served kind of the
//! group-version (with `x-kubernetes-group-version-kind`, which `kubectl
//! explain` looks for) and everything they reference, and `paths` for every
//! resource path with Kubernetes' operations. kubectl's apply/create check
//! that the PATCH operation of the kind (tagged with an
//! `x-kubernetes-group-version-kind` object) lists a `fieldValidation` query
//! parameter before they rely on server-side field validation.
//!
//! PATCH operations do not list `application/strategic-merge-patch+json`
//! although the server accepts it: kubectl would then compute strategic
//! merge patches from these schemas, which carry no patch merge keys;
//! without it kubectl uses its compiled-in types, which do.

use serde_json::{json, Map, Value};

use super::schemas::{
    self, copy_closure, list_schema, permissive_schema, reference, BuiltinSchemas, SchemaSource,
    Schemas, DELETE_OPTIONS, OBJECT_META, PATCH, SCALE, STATUS,
};
use crate::rest::discovery::{SERVED_MAJOR, SERVED_MINOR};
use crate::rest::registry::{Registry, ResourceType};

/// The document path of a group-version below `/openapi/v3/`: `api/v1`, `apis/apps/v1`.
pub fn document_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Every served group-version as `(group, version)`, in registry order.
pub fn group_versions(registry: &Registry) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for group in registry.groups() {
        for version in registry.versions(&group) {
            out.push((group.clone(), version));
        }
    }
    out
}

/// The OpenAPI 3 document of one group-version (`None` if nothing is served there).
pub fn group_version_document(
    registry: &Registry,
    group: &str,
    version: &str,
    source: &dyn SchemaSource,
) -> Option<Value> {
    let resources = registry.resources(group, version);
    if resources.is_empty() {
        return None;
    }
    let builtin = BuiltinSchemas::get().components();
    let mut components = Schemas::new();
    for name in [STATUS, DELETE_OPTIONS, PATCH] {
        copy_closure(name, builtin, &mut components);
    }
    let mut paths = Map::new();
    for rt in &resources {
        let kind_name = add_kind_schemas(rt, source, builtin, &mut components);
        if rt.has_scale {
            copy_closure(SCALE, builtin, &mut components);
        }
        add_paths(rt, &kind_name, &mut paths);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {
            "title": "Flotilla",
            "version": format!("v{SERVED_MAJOR}.{SERVED_MINOR}.0"),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "name": "authorization",
                    "in": "header",
                    "description": "Bearer Token authentication",
                },
            },
        },
        "security": [{ "BearerToken": [] }],
    }))
}

/// Adds the kind's schema, its list schema and their references; returns the kind's name.
fn add_kind_schemas(
    rt: &ResourceType,
    source: &dyn SchemaSource,
    builtin: &Schemas,
    components: &mut Schemas,
) -> String {
    let name = match source.kind_schema(rt) {
        Some(found) => {
            copy_closure(found.name, found.components, components);
            copy_closure(&format!("{}List", found.name), found.components, components);
            found.name.to_string()
        }
        None => {
            let (name, schema) = permissive_schema(rt);
            components.insert(name.clone(), schema);
            copy_closure(OBJECT_META, builtin, components);
            name
        }
    };
    let list_name = format!("{name}List");
    if !components.contains_key(&list_name) {
        let (list_name, list) = list_schema(&rt.group, &rt.version, &rt.kind, &name);
        components.insert(list_name, list);
    }
    copy_closure(schemas::LIST_META, builtin, components);
    name
}

/// `AppsV1`, `CoreV1`, `NetworkingV1`, `RbacAuthorizationV1`: the group-version
/// part of Kubernetes' operation ids.
fn operation_prefix(rt: &ResourceType) -> String {
    let group = if rt.group.is_empty() {
        "core"
    } else {
        rt.group.strip_suffix(".k8s.io").unwrap_or(&rt.group)
    };
    let mut out: String = group.split(['.', '-']).map(capitalize).collect();
    out.push_str(&capitalize(&rt.version));
    out
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "description": description, "schema": schema })
}

fn string_query(name: &str, description: &str) -> Value {
    query(
        name,
        description,
        json!({ "type": "string", "uniqueItems": true }),
    )
}

fn path_param(name: &str, description: &str) -> Value {
    json!({
        "name": name, "in": "path", "required": true, "description": description,
        "schema": { "type": "string", "uniqueItems": true },
    })
}

fn dry_run() -> Value {
    string_query("dryRun", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed")
}

fn field_manager() -> Value {
    string_query("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.")
}

/// The parameter kubectl looks for before relying on server-side field validation.
fn field_validation() -> Value {
    string_query("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default when no value is given. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.")
}

fn list_parameters() -> Vec<Value> {
    let boolean = json!({ "type": "boolean", "uniqueItems": true });
    let integer = json!({ "type": "integer", "uniqueItems": true });
    vec![
        query("allowWatchBookmarks", "allowWatchBookmarks requests watch events with type \"BOOKMARK\".", boolean.clone()),
        string_query("continue", "The continue option should be set when retrieving more results from the server."),
        string_query("fieldSelector", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
        string_query("labelSelector", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
        query("limit", "limit is a maximum number of responses to return for a list call.", integer.clone()),
        string_query("resourceVersion", "resourceVersion sets a constraint on what resource versions a request may be served from."),
        string_query("resourceVersionMatch", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
        query("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`: the stream begins with synthetic events for the current state, then a bookmark.", boolean.clone()),
        query("timeoutSeconds", "Timeout for the list/watch call.", integer),
        query("watch", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.", boolean),
    ]
}

fn delete_parameters() -> Vec<Value> {
    vec![
        dry_run(),
        query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", json!({ "type": "integer", "uniqueItems": true })),
        query("orphanDependents", "Deprecated: please use the PropagationPolicy.", json!({ "type": "boolean", "uniqueItems": true })),
        string_query("propagationPolicy", "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'."),
    ]
}

fn responses(codes: &[&str], schema: &Value) -> Value {
    let mut out = Map::new();
    for code in codes {
        let description = match *code {
            "201" => "Created",
            "202" => "Accepted",
            _ => "OK",
        };
        out.insert(
            code.to_string(),
            json!({ "description": description, "content": { "application/json": { "schema": schema } } }),
        );
    }
    out.insert("401".into(), json!({ "description": "Unauthorized" }));
    Value::Object(out)
}

/// Builds the operations of one resource.
struct Operations<'a> {
    rt: &'a ResourceType,
    /// Operation id tail: `V1NamespacedDeployment` after the group prefix.
    prefix: String,
    kind_ref: Value,
    list_ref: Value,
}

impl Operations<'_> {
    fn operation(&self, action: &str, id: String, kind: &str, body: Option<Value>) -> Value {
        let (gvk_group, gvk_version) = match kind {
            "Scale" => ("autoscaling", "v1"),
            _ => (self.rt.group.as_str(), self.rt.version.as_str()),
        };
        let mut op = json!({
            "operationId": id,
            "tags": [self.prefix.clone()],
            "description": format!("{action} {}", self.rt.kind),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": { "group": gvk_group, "version": gvk_version, "kind": kind },
        });
        if let Some(body) = body {
            op["requestBody"] = body;
        }
        op
    }

    fn get(&self, id: String, kind: &str, schema: &Value, params: Vec<Value>) -> Value {
        let mut op = self.operation("get", id, kind, None);
        op["parameters"] = Value::Array(params);
        op["responses"] = responses(&["200"], schema);
        op
    }

    fn write(&self, action: &str, id: String, kind: &str, schema: &Value) -> Value {
        let body = json!({ "content": { "*/*": { "schema": schema } }, "required": true });
        let mut op = self.operation(action, id, kind, Some(body));
        op["parameters"] = json!([dry_run(), field_manager(), field_validation()]);
        let codes: &[&str] = if action == "post" {
            &["200", "201", "202"]
        } else {
            &["200", "201"]
        };
        op["responses"] = responses(codes, schema);
        op
    }

    fn patch(&self, id: String, kind: &str, schema: &Value) -> Value {
        let patch = json!({ "schema": reference(PATCH) });
        let body = json!({
            "content": {
                "application/apply-patch+yaml": patch,
                "application/json-patch+json": patch,
                "application/merge-patch+json": patch,
            },
            "required": true,
        });
        let mut op = self.operation("patch", id, kind, Some(body));
        let force = query(
            "force",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
            json!({ "type": "boolean", "uniqueItems": true }),
        );
        op["parameters"] = json!([dry_run(), field_manager(), field_validation(), force]);
        op["responses"] = responses(&["200", "201"], schema);
        op
    }

    fn delete(&self, id: String, collection: bool) -> Value {
        let body = json!({ "content": { "*/*": { "schema": reference(DELETE_OPTIONS) } } });
        let action = if collection {
            "deletecollection"
        } else {
            "delete"
        };
        let mut op = self.operation(action, id, &self.rt.kind, Some(body));
        let mut params = delete_parameters();
        if collection {
            params.extend(list_parameters());
        }
        op["parameters"] = Value::Array(params);
        op["responses"] = responses(&["200", "202"], &reference(STATUS));
        op
    }
}

/// Adds every path of one resource to `paths`.
fn add_paths(rt: &ResourceType, kind_name: &str, paths: &mut Map<String, Value>) {
    let ops = Operations {
        rt,
        prefix: operation_prefix(rt),
        kind_ref: reference(kind_name),
        list_ref: reference(&format!("{kind_name}List")),
    };
    let base = format!("/{}", document_path(&rt.group, &rt.version));
    let scope = if rt.namespaced { "Namespaced" } else { "" };
    let id = |verb: &str, tail: &str| format!("{verb}{}{scope}{}{tail}", ops.prefix, rt.kind);
    let pretty = string_query("pretty", "If 'true', then the output is pretty printed.");
    let name = path_param("name", &format!("name of the {}", rt.kind));
    let mut common = vec![pretty.clone()];
    let collection = if rt.namespaced {
        common.push(path_param(
            "namespace",
            "object name and auth scope, such as for teams and projects",
        ));
        format!("{base}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{base}/{}", rt.plural)
    };
    let kind = rt.kind.as_str();
    let mut collection_ops = json!({
        "get": ops.get(id("list", ""), kind, &ops.list_ref, list_parameters()),
        "post": ops.write("post", id("create", ""), kind, &ops.kind_ref),
        "parameters": common.clone(),
    });
    if rt.strategy.delete_collection {
        collection_ops["delete"] = ops.delete(id("deleteCollection", ""), true);
    }
    paths.insert(collection.clone(), collection_ops);
    let mut object_params = common.clone();
    object_params.insert(0, name.clone());
    paths.insert(
        format!("{collection}/{{name}}"),
        json!({
            "get": ops.get(id("read", ""), kind, &ops.kind_ref, vec![]),
            "put": ops.write("put", id("replace", ""), kind, &ops.kind_ref),
            "patch": ops.patch(id("patch", ""), kind, &ops.kind_ref),
            "delete": ops.delete(id("delete", ""), false),
            "parameters": object_params.clone(),
        }),
    );
    if rt.namespaced {
        paths.insert(
            format!("{base}/{}", rt.plural),
            json!({
                "get": ops.get(format!("list{}{}ForAllNamespaces", ops.prefix, rt.kind), kind, &ops.list_ref, list_parameters()),
                "parameters": [pretty],
            }),
        );
    }
    let mut subresources = Vec::new();
    if rt.has_status {
        subresources.push(("status", "Status", kind, ops.kind_ref.clone()));
    }
    if rt.has_scale {
        subresources.push(("scale", "Scale", "Scale", reference(SCALE)));
    }
    for (sub, tail, sub_kind, schema) in subresources {
        paths.insert(
            format!("{collection}/{{name}}/{sub}"),
            json!({
                "get": ops.get(id("read", tail), sub_kind, &schema, vec![]),
                "put": ops.write("put", id("replace", tail), sub_kind, &schema),
                "patch": ops.patch(id("patch", tail), sub_kind, &schema),
                "parameters": object_params.clone(),
            }),
        );
    }
}
