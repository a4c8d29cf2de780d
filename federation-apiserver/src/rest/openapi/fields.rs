//! Unknown fields: what `fieldValidation=Strict|Warn|Ignore` acts on, with
//! the fields a JSON body repeats (found by `body`'s decoder): [`FieldCheck`]
//! reports both as kube-apiserver does, in one Strict error.
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
use crate::rest::body::{go_format, Decoded};
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

/// `fieldValidation` of a write request: what to do with unknown fields
/// and fields repeated within one JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop unknown fields silently; a repeated field's last occurrence wins.
    Ignore,
    /// The same, with a warning each (`Warning: 299 - "unknown field ..."`,
    /// `"duplicate field ..."`); Kubernetes' default.
    Warn,
    /// Reject the request: 400 BadRequest for create, update and apply,
    /// 422 Invalid on `patch` for the other patches.
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
/// the warnings to send (Warn only) are returned. On an error `obj` is left
/// `null`.
pub fn check_fields(
    rt: &ResourceType,
    query: &Query,
    obj: &mut Value,
) -> Result<Vec<String>, ApiError> {
    let mode = FieldValidation::from_query(query)?;
    let decoded = Decoded::new(std::mem::take(obj));
    let (value, warnings) = check(rt, mode, decoded, Body::Object)?;
    *obj = value;
    Ok(warnings)
}

/// How a request body became the object checked, which decides what
/// Kubernetes reports and how.
#[derive(Clone, Copy)]
enum Body<'a> {
    /// A create or update body.
    Object,
    /// A server-side apply configuration (decoded into a map first).
    Apply,
    /// The object a JSON, merge or strategic merge patch built; Strict
    /// errors show the patched object's JSON, or Go's print of the
    /// strategic merge patch `strategic`.
    Patch { strategic: Option<&'a Value> },
}

/// The strict-decoding errors of `decoded` (its repeated fields and the
/// fields `rt`'s schema does not know) under `mode`: an error for Strict;
/// otherwise the object without its unknown fields and the warnings (Warn).
fn check(
    rt: &ResourceType,
    mode: FieldValidation,
    mut decoded: Decoded,
    body: Body<'_>,
) -> Result<(Value, Vec<String>), ApiError> {
    let unknown = unknown_fields(rt, &decoded.value);
    // Only a built-in kind's create/update body is decoded into its Go type.
    let typed = matches!(body, Body::Object) && rt.schema_check.structural().is_none();
    decoded.add_unknown_fields(&unknown, typed);
    let (mut value, warnings) = match body {
        Body::Object | Body::Apply => decoded.validate_object(mode, &rt.kind, &rt.version)?,
        Body::Patch { strategic } => decoded.validate_patch(mode, |patched| match strategic {
            Some(patch) => go_format(patch),
            None => patched.to_string(),
        })?,
    };
    if !unknown.is_empty() {
        prune_unknown_fields(rt, &mut value);
    }
    Ok((value, warnings))
}

/// Field validation of one write request, for the write path: the object
/// to store passes through [`FieldCheck::checked_object`] (create, update),
/// [`FieldCheck::checked_apply`] or [`FieldCheck::checked_patch`] and the
/// response through [`FieldCheck::respond`], which adds the Warn-mode
/// warnings of the last check.
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

    fn run(&self, decoded: Decoded, body: Body<'_>) -> Result<Value, ApiError> {
        let mode = FieldValidation::from_query(self.query)?;
        let (value, warnings) = check(self.rt, mode, decoded, body)?;
        // A retried write reports the warnings of its last attempt only.
        *self.warnings.lock() = warnings;
        Ok(value)
    }

    /// A create or update body (decoding errors pass through): Strict
    /// refuses its repeated and unknown fields in one 400 BadRequest.
    pub fn checked_object(&self, decoded: Result<Decoded, ApiError>) -> Result<Value, ApiError> {
        self.run(decoded?, Body::Object)
    }

    /// A server-side apply configuration: as [`FieldCheck::checked_object`].
    pub fn checked_apply(&self, decoded: Result<Decoded, ApiError>) -> Result<Value, ApiError> {
        self.run(decoded?, Body::Apply)
    }

    /// The object a patch built (errors pass through), with the fields the
    /// patch repeats (`duplicates`, [`Decoded::duplicates`] of the patch):
    /// Strict refuses them and the object's unknown fields in one 422
    /// Invalid on `patch` showing, as kube-apiserver does, the patched
    /// object's JSON (JSON and merge patches) or Go's print of the patch
    /// (`strategic`: a strategic merge patch). Called once per attempt of
    /// the write: the warnings are the last attempt's.
    pub fn checked_patch(
        &self,
        patched: Result<Value, ApiError>,
        duplicates: &[String],
        strategic: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let mut decoded = Decoded::new(patched?);
        decoded.duplicates = duplicates.to_vec();
        self.run(decoded, Body::Patch { strategic })
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
