//! Unknown fields: what `fieldValidation=Strict|Warn|Ignore` acts on.
//!
//! A field is unknown when the object schema it sits in lists `properties`
//! without it and allows no `additionalProperties`. Schemas without
//! `properties` (free-form objects such as `FieldsV1` or `RawExtension`) and
//! those marked `x-kubernetes-preserve-unknown-fields` accept anything.
//! Paths are dotted, with list indexes: `spec.template.spec.containers[0].imagez`.

use axum::response::Response;
use http::HeaderValue;
use parking_lot::Mutex;
use serde_json::Value;

use super::schemas::{ref_name, BuiltinSchemas, KindSchema, SchemaSource, Schemas};
use crate::rest::api::Target;
use crate::rest::registry::ResourceType;
use crate::rest::request_info::Query;
use crate::status::ApiError;

/// Schemas nest far less deeply than this; it only guards against cycles.
const MAX_DEPTH: usize = 64;

/// Dotted paths of the fields of `obj` that `rt`'s schema does not know.
/// Kinds without a published schema have no unknown fields.
pub fn unknown_fields(rt: &ResourceType, obj: &Value) -> Vec<String> {
    if let Some(schema) = rt.schema_check.structural() {
        return crate::rest::crd_schema::prune(&mut obj.clone(), schema);
    }
    match BuiltinSchemas::get().kind_schema(rt) {
        Some(schema) => unknown_fields_in(schema, obj),
        None => Vec::new(),
    }
}

/// Dotted paths of the fields of `obj` unknown to `schema`.
pub fn unknown_fields_in(schema: KindSchema<'_>, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(root) = schema.components.get(schema.name) {
        collect(schema.components, root, obj, "", &mut out, 0);
    }
    out
}

/// Removes from `obj` every field `rt`'s schema does not know.
pub fn prune_unknown_fields(rt: &ResourceType, obj: &mut Value) {
    if let Some(schema) = rt.schema_check.structural() {
        crate::rest::crd_schema::prune(obj, schema);
        return;
    }
    if let Some(schema) = BuiltinSchemas::get().kind_schema(rt) {
        if let Some(root) = schema.components.get(schema.name) {
            prune(schema.components, root, obj, 0);
        }
    }
}

/// `fieldValidation` of a write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop them and warn (`Warning: 299 - "unknown field ..."`); Kubernetes' default.
    Warn,
    /// Reject the request (400 BadRequest).
    Strict,
}

impl FieldValidation {
    pub fn from_query(query: &Query) -> Result<Self, ApiError> {
        match query.get("fieldValidation") {
            None | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}; valid values are Ignore, Warn, Strict"
            ))),
        }
    }
}

/// Applies the request's `fieldValidation` to a decoded object: an error for
/// Strict with unknown fields; otherwise the unknown fields are removed and
/// the warnings to send (Warn only) are returned.
pub fn check_fields(
    rt: &ResourceType,
    query: &Query,
    obj: &mut Value,
) -> Result<Vec<String>, ApiError> {
    let mode = FieldValidation::from_query(query)?;
    let unknown = unknown_fields(rt, obj);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|path| format!("unknown field \"{path}\""))
        .collect();
    match mode {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            messages.join(", "),
            kind = rt.kind,
            version = rt.version,
        ))),
        FieldValidation::Warn | FieldValidation::Ignore => {
            prune_unknown_fields(rt, obj);
            Ok(if mode == FieldValidation::Warn {
                messages
            } else {
                Vec::new()
            })
        }
    }
}

/// Field validation of one write request, for the write path: objects pass
/// through [`FieldCheck::checked`] before they are stored and the response
/// through [`FieldCheck::respond`], which adds the Warn-mode warnings.
pub struct FieldCheck<'a> {
    rt: &'a ResourceType,
    query: &'a Query,
    warnings: Mutex<Vec<String>>,
}

impl<'a> FieldCheck<'a> {
    pub fn new(target: &'a Target) -> Self {
        FieldCheck {
            rt: &target.rt,
            query: &target.query,
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Applies [`check_fields`] to a built object (errors pass through).
    pub fn checked(&self, object: Result<Value, ApiError>) -> Result<Value, ApiError> {
        let mut object = object?;
        let warnings = check_fields(self.rt, self.query, &mut object)?;
        // A retried write reports the warnings of its last attempt only.
        *self.warnings.lock() = warnings;
        Ok(object)
    }

    /// Adds the collected warnings to a successful response.
    pub fn respond(&self, response: Response) -> Response {
        with_warnings(response, &self.warnings.lock())
    }
}

/// Adds one `Warning: 299 - "..."` header per message (kubectl prints them).
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(http::header::WARNING, value);
        }
    }
    response
}

/// Follows `$ref` and single-entry `allOf` wrappers to the schema that has the shape.
fn resolve<'a>(components: &'a Schemas, mut schema: &'a Value) -> &'a Value {
    for _ in 0..MAX_DEPTH {
        if let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(ref_name)
        {
            match components.get(name) {
                Some(next) => schema = next,
                None => return schema,
            }
        } else if let Some([only]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            if schema.get("properties").is_some() {
                return schema;
            }
            schema = only;
        } else {
            return schema;
        }
    }
    schema
}

/// What an object schema says about one field.
enum Field<'a> {
    Known(&'a Value),
    Unknown,
    /// The schema does not constrain field names.
    Free,
}

fn field<'a>(schema: &'a Value, name: &str) -> Field<'a> {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return Field::Free;
    }
    let additional = schema.get("additionalProperties");
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        if let Some(known) = properties.get(name) {
            return Field::Known(known);
        }
        return match additional {
            Some(s @ Value::Object(_)) => Field::Known(s),
            Some(Value::Bool(true)) => Field::Free,
            _ => Field::Unknown,
        };
    }
    match additional {
        Some(s @ Value::Object(_)) => Field::Known(s),
        _ => Field::Free,
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn collect(
    components: &Schemas,
    schema: &Value,
    value: &Value,
    path: &str,
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let schema = resolve(components, schema);
    match value {
        Value::Object(map) => {
            for (name, v) in map {
                match field(schema, name) {
                    Field::Known(s) => collect(components, s, v, &join(path, name), out, depth + 1),
                    Field::Unknown => out.push(join(path, name)),
                    Field::Free => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    collect(
                        components,
                        item_schema,
                        v,
                        &format!("{path}[{i}]"),
                        out,
                        depth + 1,
                    );
                }
            }
        }
        _ => {}
    }
}

fn prune(components: &Schemas, schema: &Value, value: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let schema = resolve(components, schema);
    match value {
        Value::Object(map) => {
            map.retain(|name, _| !matches!(field(schema, name), Field::Unknown));
            for (name, v) in map.iter_mut() {
                if let Field::Known(s) = field(schema, name) {
                    prune(components, s, v, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for v in items {
                    prune(components, item_schema, v, depth + 1);
                }
            }
        }
        _ => {}
    }
}
