//! Request body decoding: objects (JSON or YAML), patch content types and
//! `DeleteOptions`.
//!
//! Every failure is an [`ApiError`] a client can act on: undecodable bodies
//! are 400 BadRequest (never 500), unknown or unsupported media types 415,
//! oversized bodies 413.
//!
//! JSON bodies are decoded by one pass that also notes every field repeated
//! within an object ([`Decoded::duplicates`], Kubernetes' strict-decoding
//! wording `duplicate field "spec.paused"`); the last occurrence wins, as
//! with `fieldValidation=Ignore` in Kubernetes. The schema check
//! (`openapi::fields::FieldCheck`) adds the unknown fields
//! ([`Decoded::add_unknown_fields`]); [`Decoded::validate_object`] and
//! [`Decoded::validate_patch`] turn both into what kube-apiserver answers
//! for `Strict` (one error naming them all) and `Warn` (warnings).

// `ApiError` is this crate's error type for every API-facing result; it is
// large by design (a full Status), and these are not hot paths.

use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::openapi::FieldValidation;
use crate::status::{ApiError, Cause};

/// The largest request body accepted (Kubernetes' limit is 3 MiB too).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

const DECODE_PREFIX: &str = "the server could not decode the request body";
const PATCH_TYPES: &str = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json";

/// The media type of a `Content-Type` header: lowercased, parameters dropped.
fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn decode_error(detail: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{DECODE_PREFIX}: {detail}"))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A decoded body and its strict-decoding errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The body; a repeated field holds its last occurrence.
    pub value: Value,
    /// One `duplicate field "PATH"` per field repeated within a JSON object
    /// (dotted paths, list indexes in brackets: Kubernetes' wording), in
    /// document order, each once, at most [`MAX_STRICT_ERRORS`]. Always
    /// empty for YAML (whose parser refuses repeated keys: 400) and
    /// protobuf bodies.
    pub duplicates: Vec<String>,
    /// One `unknown field "PATH"` per field the kind's schema does not
    /// know: empty from the decoders, filled by the schema check
    /// ([`Decoded::add_unknown_fields`]).
    pub unknown: Vec<String>,
}

/// Kubernetes' decoder stops collecting strict-decoding errors at 100.
pub const MAX_STRICT_ERRORS: usize = 100;

/// kube-apiserver's answer to a create or update body with strict-decoding
/// errors under `fieldValidation=Strict`: 400 `KIND in version "V" cannot
/// be handled as a KIND: strict decoding error: E1, E2`.
pub fn strict_decoding_error(kind: &str, version: &str, errors: &[String]) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        errors.join(", ")
    ))
}

/// kube-apiserver's answer to a patch with strict-decoding errors under
/// `fieldValidation=Strict`: 422 `Invalid` on the field `patch`, whose
/// value is `shown` (the patched object's JSON for JSON and merge patches,
/// [`go_format`] of the patch for strategic merge patches).
pub fn strict_patch_error(shown: &str, errors: &[String]) -> ApiError {
    ApiError::invalid(
        "",
        "",
        "",
        vec![Cause::new(
            "FieldValueInvalid",
            "patch",
            format!(
                "Invalid value: {shown:?}: strict decoding error: {}",
                errors.join(", ")
            ),
        )],
    )
}

/// A decoded JSON value as Go's `fmt` prints it with `%+v` (`map[a:1
/// b:[x y]]`, keys sorted, `<nil>` for null): how kube-apiserver shows a
/// strategic merge patch in its errors.
pub fn go_format(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Null => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => out.push_str(s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                let mut fields: Vec<_> = map.iter().collect();
                fields.sort_by(|a, b| a.0.cmp(b.0));
                out.push_str("map[");
                for (i, (k, v)) in fields.into_iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    write(v, out);
                }
                out.push(']');
            }
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

impl Decoded {
    fn plain(value: Value) -> Self {
        Decoded {
            value,
            duplicates: Vec::new(),
            unknown: Vec::new(),
        }
    }

    /// A body that was not decoded here (no repeated fields noted).
    pub fn new(value: Value) -> Self {
        Decoded::plain(value)
    }

    /// Adds `unknown field "PATH"` for each of `paths` (the fields of
    /// [`Decoded::value`] the kind's schema does not know).
    ///
    /// `typed`: the body is decoded the way kube-apiserver decodes a
    /// built-in kind's create or update body, into its Go type, which skips
    /// an unknown field's value whole: a repeat of an unknown field, or
    /// inside one, is reported as that unknown field only. Custom
    /// resources, patches and apply configurations are decoded into maps
    /// first, so Kubernetes reports those repeats too.
    pub fn add_unknown_fields(&mut self, paths: &[String], typed: bool) {
        if typed && !paths.is_empty() {
            let covered: Vec<String> = paths
                .iter()
                .map(|p| {
                    let quoted = format!("duplicate field {p:?}");
                    quoted[..quoted.len() - 1].to_string()
                })
                .collect();
            self.duplicates.retain(|d| {
                !covered.iter().any(|c| {
                    d.strip_prefix(c.as_str())
                        .is_some_and(|rest| rest == "\"" || rest.starts_with(['.', '[']))
                })
            });
        }
        self.unknown
            .extend(paths.iter().map(|p| format!("unknown field {p:?}")));
    }

    /// Every strict-decoding error, as Kubernetes lists them in one
    /// message: the repeated fields, then the unknown ones.
    pub fn strict_errors(&self) -> Vec<String> {
        self.duplicates
            .iter()
            .chain(&self.unknown)
            .cloned()
            .collect()
    }

    fn validate(
        self,
        mode: FieldValidation,
        refuse: impl FnOnce(&Value, &[String]) -> ApiError,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let errors = self.strict_errors();
        match mode {
            FieldValidation::Strict if !errors.is_empty() => Err(refuse(&self.value, &errors)),
            FieldValidation::Strict | FieldValidation::Ignore => Ok((self.value, Vec::new())),
            FieldValidation::Warn => Ok((self.value, errors)),
        }
    }

    /// `fieldValidation` for the strict-decoding errors of a create or
    /// update body (its repeated fields, and the unknown ones once
    /// [`Decoded::add_unknown_fields`] added them), as kube-apiserver's
    /// decoder applies it: `Strict` is one 400 naming them all
    /// ([`strict_decoding_error`]: `KIND in version "V" cannot be handled
    /// as a KIND: strict decoding error: duplicate field "data"`), `Warn`
    /// returns the warnings to send (one `Warning` header each), `Ignore`
    /// none (the last occurrence won). `kind` and `version` are the
    /// request's. Unknown fields are still in the value returned: removing
    /// them is the schema check's part.
    pub fn validate_object(
        self,
        mode: FieldValidation,
        kind: &str,
        version: &str,
    ) -> Result<(Value, Vec<String>), ApiError> {
        self.validate(mode, |_, errors| {
            strict_decoding_error(kind, version, errors)
        })
    }

    /// The same for a patch: kube-apiserver answers `Strict` with a 422
    /// `Invalid` on the field `patch` ([`strict_patch_error`]) showing
    /// `shown` of the value (called only then).
    pub fn validate_patch(
        self,
        mode: FieldValidation,
        shown: impl FnOnce(&Value) -> String,
    ) -> Result<(Value, Vec<String>), ApiError> {
        self.validate(mode, |value, errors| {
            strict_patch_error(&shown(value), errors)
        })
    }
}

/// Decodes a create/update body into a JSON object.
///
/// `application/json` (also a missing content type and any other `+json`
/// type that is not a patch type) is JSON; `application/yaml`,
/// `application/x-yaml` and `text/yaml` are YAML (one document);
/// `application/vnd.kubernetes.protobuf` is decoded by [`super::protobuf`]
/// (415 for kinds it has no schema for). Every other type is 415; an empty,
/// malformed or non-object body is 400. A repeated JSON field holds its
/// last occurrence; [`decode_object_checked`] also reports them.
pub fn decode_object(content_type: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    decode_object_checked(content_type, body).map(|d| d.value)
}

/// [`decode_object`], with the repeated fields for `fieldValidation`
/// ([`Decoded::validate_object`]).
pub fn decode_object_checked(content_type: Option<&str>, body: &[u8]) -> Result<Decoded, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    let media = media_type(content_type);
    let decoded = match media.as_str() {
        "" | "application/json" => parse_json_checked(body)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            Decoded::plain(parse_yaml(body)?)
        }
        super::protobuf::MEDIA_TYPE => Decoded::plain(super::protobuf::decode(body)?),
        m if patch_type(Some(m)).is_ok() => {
            return Err(ApiError::unsupported_media_type(format!(
                "{m} is a patch content type and is only accepted by PATCH: send the object as application/json or application/yaml"
            )))
        }
        m if m.ends_with("+json") => parse_json_checked(body)?,
        m => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({m}) - accepted media types include: application/json, application/yaml"
            )))
        }
    };
    expect_object_decoded(decoded)
}

fn expect_object(value: Value) -> Result<Value, ApiError> {
    if value.is_object() {
        Ok(value)
    } else {
        Err(decode_error(format!(
            "expected a JSON object, got {}",
            type_name(&value)
        )))
    }
}

fn expect_object_decoded(decoded: Decoded) -> Result<Decoded, ApiError> {
    let Decoded {
        value,
        duplicates,
        unknown,
    } = decoded;
    expect_object(value).map(|value| Decoded {
        value,
        duplicates,
        unknown,
    })
}

/// Strips a UTF-8 byte order mark and rejects an all-whitespace body.
fn content(body: &[u8]) -> Result<&[u8], ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(decode_error("the request body is empty"));
    }
    Ok(body)
}

/// Parses a JSON body of any shape; errors carry serde's line and column.
/// A repeated field holds its last occurrence.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    parse_json_checked(body).map(|d| d.value)
}

/// [`parse_json`], noting the repeated fields ([`Decoded::duplicates`]).
pub fn parse_json_checked(body: &[u8]) -> Result<Decoded, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(content(body)?);
    let mut duplicates = Vec::new();
    let value = Checked {
        at: &Segment::Root,
        duplicates: &mut duplicates,
    }
    .deserialize(&mut de)
    .map_err(decode_error)?;
    de.end().map_err(decode_error)?;
    Ok(Decoded {
        value,
        duplicates,
        unknown: Vec::new(),
    })
}

/// Where a value sits in the body, as a chain of segments on the stack.
enum Segment<'a> {
    Root,
    Field(&'a Segment<'a>, &'a str),
    Index(&'a Segment<'a>, usize),
}

impl fmt::Display for Segment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Root => Ok(()),
            Segment::Field(Segment::Root, name) => f.write_str(name),
            Segment::Field(parent, name) => write!(f, "{parent}.{name}"),
            Segment::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Deserializes one JSON value (as `serde_json::Value` does) and notes the
/// fields repeated in its objects.
struct Checked<'a> {
    at: &'a Segment<'a>,
    duplicates: &'a mut Vec<String>,
}

impl Checked<'_> {
    fn note_duplicate(&mut self, name: &str) {
        if self.duplicates.len() >= MAX_STRICT_ERRORS {
            return;
        }
        let message = format!(
            "duplicate field {:?}",
            Segment::Field(self.at, name).to_string()
        );
        if !self.duplicates.contains(&message) {
            self.duplicates.push(message);
        }
    }
}

impl<'de> DeserializeSeed<'de> for Checked<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let at = Segment::Index(self.at, items.len());
            let element = Checked {
                at: &at,
                duplicates: &mut *self.duplicates,
            };
            match seq.next_element_seed(element)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            // Noted before the value, so an outer repeat comes before the
            // repeats inside it (the order of Kubernetes' messages).
            if fields.contains_key(&name) {
                self.note_duplicate(&name);
            }
            let at = Segment::Field(self.at, &name);
            let value = map.next_value_seed(Checked {
                at: &at,
                duplicates: &mut *self.duplicates,
            })?;
            fields.insert(name, value);
        }
        Ok(Value::Object(fields))
    }
}

/// Parses a single-document YAML body into JSON. Non-string map keys
/// (numbers, booleans) become strings, as Kubernetes' YAML-to-JSON does.
pub fn parse_yaml(body: &[u8]) -> Result<Value, ApiError> {
    let body = content(body)?;
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_slice(body) {
        // A failed stream repeats its error forever: stop at the first one.
        let doc = serde_yaml_ng::Value::deserialize(doc).map_err(decode_error)?;
        if !doc.is_null() {
            docs.push(doc);
        }
        if docs.len() > 1 {
            return Err(decode_error(
                "the YAML body holds more than one document; send one object per request",
            ));
        }
    }
    match docs.pop() {
        Some(doc) => yaml_to_json(doc).map_err(decode_error),
        None => Err(decode_error("the request body is empty")),
    }
}

fn yaml_to_json(v: serde_yaml_ng::Value) -> Result<Value, String> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("the number {n} cannot be represented in JSON"))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    Y::Null => "null".to_string(),
                    _ => return Err("YAML map keys must be strings, numbers or booleans".into()),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// The four PATCH content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 JSON patch (`application/json-patch+json`).
    Json,
    /// RFC 7396 merge patch (`application/merge-patch+json`).
    Merge,
    /// Kubernetes strategic merge patch (`application/strategic-merge-patch+json`).
    StrategicMerge,
    /// Server-side apply (`application/apply-patch+yaml`).
    Apply,
}

impl PatchType {
    /// The media type of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// The patch type of a PATCH request's `Content-Type` (parameters ignored);
/// anything else is 415 listing the accepted types.
pub fn patch_type(content_type: Option<&str>) -> Result<PatchType, ApiError> {
    match media_type(content_type).as_str() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::StrategicMerge),
        "application/apply-patch+yaml" => Ok(PatchType::Apply),
        _ => Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: {PATCH_TYPES}"
        ))),
    }
}

/// Decodes a PATCH body: a JSON array for JSON patch, a JSON object for
/// merge and strategic merge patch, a YAML (or JSON) object for apply.
/// A repeated JSON field holds its last occurrence; [`decode_patch_checked`]
/// also reports them.
pub fn decode_patch(pt: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    decode_patch_checked(pt, body).map(|d| d.value)
}

/// [`decode_patch`], with the repeated fields for `fieldValidation`
/// ([`Decoded::validate_patch`] for merge and strategic merge patches,
/// [`Decoded::validate_object`] for apply configurations).
pub fn decode_patch_checked(pt: PatchType, body: &[u8]) -> Result<Decoded, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    match pt {
        PatchType::Json => {
            let decoded = parse_json_checked(body)?;
            match decoded.value {
                Value::Array(_) => Ok(decoded),
                v => Err(decode_error(format!(
                    "a JSON patch must be an array of operations, got {}",
                    type_name(&v)
                ))),
            }
        }
        PatchType::Merge | PatchType::StrategicMerge => {
            expect_object_decoded(parse_json_checked(body)?)
        }
        PatchType::Apply => {
            let trimmed = content(body)?.trim_ascii_start();
            if trimmed.starts_with(b"{") {
                if let Ok(decoded) = parse_json_checked(trimmed) {
                    return expect_object_decoded(decoded);
                }
            }
            expect_object(parse_yaml(body)?).map(Decoded::plain)
        }
    }
}

/// `DeleteOptions.preconditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// The parts of `meta.k8s.io/v1 DeleteOptions` the server acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeleteOptions {
    /// `Orphan`, `Background` or `Foreground`.
    pub propagation_policy: Option<String>,
    pub preconditions: Preconditions,
    pub grace_period_seconds: Option<i64>,
    /// Deprecated form of `propagationPolicy: Orphan`.
    pub orphan_dependents: Option<bool>,
    /// `["All"]` for a dry run.
    pub dry_run: Vec<String>,
}

/// Decodes a DELETE body; an empty body (or `null`) means the defaults.
/// Bad JSON is 400; unsupported values are 422 like Kubernetes'.
pub fn decode_delete_options(body: &[u8]) -> Result<DeleteOptions, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    let trimmed = body
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(body)
        .trim_ascii();
    if trimmed.is_empty() {
        return Ok(DeleteOptions::default());
    }
    let opts = match serde_json::from_slice::<Value>(trimmed).map_err(decode_error)? {
        Value::Null => DeleteOptions::default(),
        v @ Value::Object(_) => DeleteOptions::deserialize(v).map_err(decode_error)?,
        v => {
            return Err(decode_error(format!(
                "expected DeleteOptions, got {}",
                type_name(&v)
            )))
        }
    };
    let mut causes = Vec::new();
    if let Some(p) = &opts.propagation_policy {
        if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
            causes.push(Cause::new(
                "FieldValueNotSupported",
                "propagationPolicy",
                format!("Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""),
            ));
        }
        if opts.orphan_dependents.is_some() {
            causes.push(Cause::new(
                "FieldValueInvalid",
                "propagationPolicy",
                "Invalid value: orphanDependents and deletionPropagation cannot be both set",
            ));
        }
    }
    for v in opts.dry_run.iter().filter(|v| v.as_str() != "All") {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "dryRun",
            format!("Unsupported value: {v:?}: supported values: \"All\""),
        ));
    }
    if causes.is_empty() {
        Ok(opts)
    } else {
        Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            causes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(r: Result<impl std::fmt::Debug, ApiError>) -> (u16, String, String) {
        let e = r.expect_err("expected an error");
        (e.code, e.reason, e.message)
    }

    const CM: &[u8] = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#;

    #[test]
    fn json_content_types() {
        let want = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        for ct in [
            None,
            Some(""),
            Some("application/json"),
            Some("Application/JSON; charset=utf-8"),
            Some("application/vnd.custom+json"),
        ] {
            assert_eq!(decode_object(ct, CM).unwrap(), want, "{ct:?}");
        }
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), CM].concat();
        assert_eq!(decode_object(None, &with_bom).unwrap(), want);
    }

    #[test]
    fn yaml_content_types() {
        let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {on: 'yes'}\ndata:\n  1: one\n  true: t\n  n: 5\n  f: 1.5\n";
        for ct in [
            "application/yaml",
            "application/x-yaml",
            "text/yaml; charset=utf-8",
        ] {
            let v = decode_object(Some(ct), yaml).unwrap();
            assert_eq!(v["metadata"]["labels"]["on"], "yes");
            assert_eq!(
                v["data"],
                json!({"1": "one", "true": "t", "n": 5, "f": 1.5}),
                "{ct}"
            );
        }
        // A leading separator and a trailing empty document are one document.
        let v = decode_object(Some("application/yaml"), b"---\nkind: A\n---\n").unwrap();
        assert_eq!(v, json!({"kind": "A"}));
        // JSON is YAML too.
        assert_eq!(
            decode_object(Some("application/yaml"), CM).unwrap()["kind"],
            "ConfigMap"
        );
        // Tags are dropped.
        assert_eq!(
            decode_object(Some("application/yaml"), b"a: !custom x\n").unwrap(),
            json!({"a": "x"})
        );
    }

    #[test]
    fn yaml_errors_are_bad_requests() {
        let (code, reason, msg) = status(decode_object(
            Some("application/yaml"),
            b"kind: A\n---\nkind: B\n",
        ));
        assert_eq!((code, reason.as_str()), (400, "BadRequest"));
        assert!(msg.contains("more than one document"), "{msg}");
        let (code, _, msg) = status(decode_object(Some("application/yaml"), b"a: [1\n"));
        assert_eq!(code, 400);
        assert!(
            msg.starts_with("the server could not decode the request body: "),
            "{msg}"
        );
        assert_eq!(
            status(decode_object(Some("application/yaml"), b"- a\n- b\n")).0,
            400
        );
        assert_eq!(
            status(decode_object(Some("application/yaml"), b"a: 1\na: 2\n")).0,
            400
        );
        assert_eq!(
            status(decode_object(Some("application/yaml"), b"[1]: x\n")).0,
            400
        );
        assert_eq!(
            status(decode_object(Some("application/yaml"), b"a: .nan\n")).0,
            400
        );
        assert_eq!(
            status(decode_object(
                Some("application/yaml"),
                b"# only a comment\n"
            ))
            .0,
            400
        );
    }

    #[test]
    fn malformed_and_empty_bodies_are_400() {
        let (code, reason, msg) = status(decode_object(None, b"{\"a\": 1,}"));
        assert_eq!((code, reason.as_str()), (400, "BadRequest"));
        assert!(
            msg.starts_with("the server could not decode the request body: "),
            "{msg}"
        );
        assert!(msg.contains("line 1 column"), "{msg}");
        for body in [b"".as_slice(), b"  \n", b"\xEF\xBB\xBF"] {
            let (code, _, msg) = status(decode_object(Some("application/json"), body));
            assert_eq!(code, 400);
            assert!(msg.contains("empty"), "{msg}");
        }
        assert_eq!(status(decode_object(None, b"{} {}")).0, 400);
        assert_eq!(status(decode_object(None, b"\xff\xfe")).0, 400);
        for body in [b"[]".as_slice(), b"\"x\"", b"null", b"3"] {
            let (code, _, msg) = status(decode_object(None, body));
            assert_eq!(code, 400);
            assert!(msg.contains("expected a JSON object"), "{msg}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(status(decode_object(None, deep.as_bytes())).0, 400);
    }

    #[test]
    fn protobuf_bodies_are_decoded() {
        // runtime.Unknown{typeMeta{v1, ConfigMap}, raw: ConfigMap{metadata{name: a}}}.
        let cm = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x05\x0a\x03\x0a\x01a";
        let want = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        for ct in [
            "application/vnd.kubernetes.protobuf",
            "application/vnd.kubernetes.protobuf; charset=utf-8",
        ] {
            assert_eq!(decode_object(Some(ct), cm).unwrap(), want, "{ct}");
        }
        // An envelope without a kind, and a raw object cut short, are 400.
        for body in [b"k8s\0".as_slice(), &cm[..cm.len() - 1], b"{}"] {
            let (code, reason, msg) = status(decode_object(
                Some("application/vnd.kubernetes.protobuf"),
                body,
            ));
            assert_eq!((code, reason.as_str()), (400, "BadRequest"), "{msg}");
            assert!(msg.contains("invalid protobuf"), "{msg}");
        }
    }

    #[test]
    fn unsupported_types_are_415() {
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ] {
            assert_eq!(status(decode_object(Some(ct), CM)).0, 415, "{ct}");
        }
        assert!(
            status(decode_object(Some("application/merge-patch+json"), CM))
                .2
                .contains("PATCH")
        );
    }

    #[test]
    fn oversized_bodies_are_413() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(status(decode_object(None, &big)).0, 413);
        assert_eq!(status(decode_patch(PatchType::Merge, &big)).0, 413);
        assert_eq!(status(decode_delete_options(&big)).0, 413);
    }

    #[test]
    fn patch_types() {
        assert_eq!(
            patch_type(Some("application/json-patch+json")).unwrap(),
            PatchType::Json
        );
        assert_eq!(
            patch_type(Some("application/merge-patch+json; charset=utf-8")).unwrap(),
            PatchType::Merge
        );
        assert_eq!(
            patch_type(Some("application/strategic-merge-patch+json")).unwrap(),
            PatchType::StrategicMerge
        );
        assert_eq!(
            patch_type(Some("application/apply-patch+yaml")).unwrap(),
            PatchType::Apply
        );
        for pt in [
            PatchType::Json,
            PatchType::Merge,
            PatchType::StrategicMerge,
            PatchType::Apply,
        ] {
            assert_eq!(patch_type(Some(pt.content_type())).unwrap(), pt);
        }
        for ct in [
            None,
            Some("application/json"),
            Some("application/yaml"),
            Some("text/plain"),
        ] {
            let (code, reason, msg) = status(patch_type(ct));
            assert_eq!((code, reason.as_str()), (415, "UnsupportedMediaType"));
            assert!(
                msg.contains("application/json-patch+json, application/merge-patch+json"),
                "{msg}"
            );
            assert!(
                msg.contains("application/strategic-merge-patch+json")
                    && msg.contains("application/apply-patch+yaml")
            );
        }
    }

    #[test]
    fn patch_bodies() {
        let ops = decode_patch(
            PatchType::Json,
            br#"[{"op":"replace","path":"/a","value":1}]"#,
        )
        .unwrap();
        assert!(ops.is_array());
        assert_eq!(status(decode_patch(PatchType::Json, br#"{"a":1}"#)).0, 400);
        assert_eq!(
            decode_patch(PatchType::Merge, br#"{"a":null}"#).unwrap(),
            json!({"a": null})
        );
        assert_eq!(
            status(decode_patch(PatchType::StrategicMerge, b"[]")).0,
            400
        );
        assert_eq!(status(decode_patch(PatchType::Merge, b"{")).0, 400);
        // kubectl sends JSON as apply-patch+yaml; YAML works too.
        assert_eq!(
            decode_patch(PatchType::Apply, CM).unwrap()["kind"],
            "ConfigMap"
        );
        assert_eq!(
            decode_patch(PatchType::Apply, b"kind: ConfigMap\n").unwrap()["kind"],
            "ConfigMap"
        );
        assert_eq!(
            decode_patch(PatchType::Apply, b"{kind: ConfigMap}").unwrap()["kind"],
            "ConfigMap"
        );
        assert_eq!(status(decode_patch(PatchType::Apply, b"")).0, 400);
    }

    #[test]
    fn repeated_json_fields_are_noted_with_their_paths() {
        let body = br#"{"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"first","name":"web","labels":{"a":"1","a":"2"}},
            "spec":{"paused":true,"paused":false,"template":{"spec":{"containers":[
                {"name":"a"},
                {"name":"b","imagePullPolicy":"Always","imagePullPolicy":"Never"}]}}}}"#;
        let d = decode_object_checked(None, body).unwrap();
        assert_eq!(
            d.duplicates,
            [
                r#"duplicate field "metadata.name""#,
                r#"duplicate field "metadata.labels.a""#,
                r#"duplicate field "spec.paused""#,
                r#"duplicate field "spec.template.spec.containers[1].imagePullPolicy""#,
            ]
        );
        // The last occurrence wins.
        assert_eq!(d.value["metadata"]["name"], "web");
        assert_eq!(d.value["metadata"]["labels"], json!({"a": "2"}));
        assert_eq!(d.value["spec"]["paused"], false);
        assert_eq!(
            d.value["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"],
            "Never"
        );
        // decode_object is the same value.
        assert_eq!(decode_object(None, body).unwrap(), d.value);

        // A top-level repeat, repeated three times, is one message; an outer
        // repeat comes before the repeats inside it.
        let d = decode_object_checked(
            Some("application/json"),
            br#"{"data":{"a":"1"},"data":{"b":"2","b":"3"},"data":{"c":"4"}}"#,
        )
        .unwrap();
        assert_eq!(
            d.duplicates,
            [r#"duplicate field "data""#, r#"duplicate field "data.b""#]
        );
        assert_eq!(d.value, json!({"data": {"c": "4"}}));
        // No repeats, no messages; the same key in sibling objects is no repeat.
        let d = decode_object_checked(None, br#"{"a":{"x":1},"b":{"x":2},"l":[{"x":1},{"x":2}]}"#)
            .unwrap();
        assert!(d.duplicates.is_empty(), "{:?}", d.duplicates);
        // Escapes are decoded before comparing names.
        let d = decode_object_checked(None, br#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(d.duplicates, [r#"duplicate field "a""#]);
        assert_eq!(d.value, json!({"a": 2}));
        // At most 100 messages.
        let many: Vec<String> = (0..150).map(|i| format!(r#""f{i}":1,"f{i}":2"#)).collect();
        let body = format!("{{{}}}", many.join(","));
        let d = decode_object_checked(None, body.as_bytes()).unwrap();
        assert_eq!(d.duplicates.len(), MAX_STRICT_ERRORS);
        // YAML and protobuf bodies report none (YAML refuses repeats: 400).
        assert!(decode_object_checked(Some("application/yaml"), b"a: 1\n")
            .unwrap()
            .duplicates
            .is_empty());
    }

    #[test]
    fn repeated_fields_in_patches() {
        let d = decode_patch_checked(PatchType::Merge, br#"{"data":{"a":"1"},"data":{"a":"2"}}"#)
            .unwrap();
        assert_eq!(d.duplicates, [r#"duplicate field "data""#]);
        assert_eq!(d.value, json!({"data": {"a": "2"}}));
        let d = decode_patch_checked(
            PatchType::StrategicMerge,
            br#"{"spec":{"replicas":1,"replicas":2}}"#,
        )
        .unwrap();
        assert_eq!(d.duplicates, [r#"duplicate field "spec.replicas""#]);
        let d = decode_patch_checked(
            PatchType::Apply,
            br#"{"kind":"ConfigMap","kind":"ConfigMap"}"#,
        )
        .unwrap();
        assert_eq!(d.duplicates, [r#"duplicate field "kind""#]);
        let d = decode_patch_checked(
            PatchType::Json,
            br#"[{"op":"add","op":"replace","path":"/a","value":1}]"#,
        )
        .unwrap();
        assert_eq!(d.duplicates, [r#"duplicate field "[0].op""#]);
        assert_eq!(d.value[0]["op"], "replace");
    }

    #[test]
    fn field_validation_of_repeated_fields() {
        let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"},"data":{"b":"2"}}"#;
        let decoded = || decode_object_checked(None, body).unwrap();
        let e = decoded()
            .validate_object(FieldValidation::Strict, "ConfigMap", "v1")
            .unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
        assert_eq!(
            e.message,
            r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data""#
        );
        let (value, warnings) = decoded()
            .validate_object(FieldValidation::Warn, "ConfigMap", "v1")
            .unwrap();
        assert_eq!(warnings, [r#"duplicate field "data""#]);
        assert_eq!(value["data"], json!({"b": "2"}));
        let (value, warnings) = decoded()
            .validate_object(FieldValidation::Ignore, "ConfigMap", "v1")
            .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(value["data"], json!({"b": "2"}));
        // Without repeats, Strict passes.
        let (_, warnings) = decode_object_checked(None, CM)
            .unwrap()
            .validate_object(FieldValidation::Strict, "ConfigMap", "v1")
            .unwrap();
        assert!(warnings.is_empty());

        // Patches: Strict is a 422 on the field `patch`.
        let patch = || {
            decode_patch_checked(PatchType::Merge, br#"{"data":{"a":"1"},"data":{"a":"2"}}"#)
                .unwrap()
        };
        let e = patch()
            .validate_patch(FieldValidation::Strict, go_format)
            .unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
        assert_eq!(e.causes[0].field, "patch");
        assert_eq!(
            e.message,
            r#" "" is invalid: patch: Invalid value: "map[data:map[a:2]]": strict decoding error: duplicate field "data""#
        );
        assert_eq!(
            patch()
                .validate_patch(FieldValidation::Warn, |_| unreachable!())
                .unwrap()
                .1,
            [r#"duplicate field "data""#]
        );
        assert!(patch()
            .validate_patch(FieldValidation::Ignore, |_| unreachable!())
            .unwrap()
            .1
            .is_empty());
    }

    #[test]
    fn unknown_fields_join_the_repeated_ones() {
        let body = br#"{"kind":"ConfigMap","data":{"a":"1"},"data":{"a":"2"},
            "datta":{"x":"1","x":"2"},"datta":{},"extra":1}"#;
        let paths = ["datta".to_string(), "extra".to_string()];
        // A typed (built-in) body: repeats of an unknown field, or inside
        // one, are that unknown field only.
        let mut typed = decode_object_checked(None, body).unwrap();
        assert_eq!(
            typed.duplicates,
            [
                r#"duplicate field "data""#,
                r#"duplicate field "datta.x""#,
                r#"duplicate field "datta""#
            ]
        );
        typed.add_unknown_fields(&paths, true);
        assert_eq!(
            typed.strict_errors(),
            [
                r#"duplicate field "data""#,
                r#"unknown field "datta""#,
                r#"unknown field "extra""#
            ]
        );
        let e = typed
            .clone()
            .validate_object(FieldValidation::Strict, "ConfigMap", "v1")
            .unwrap_err();
        assert_eq!(
            e.message,
            r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data", unknown field "datta", unknown field "extra""#
        );
        let (value, warnings) = typed
            .validate_object(FieldValidation::Warn, "ConfigMap", "v1")
            .unwrap();
        assert_eq!(warnings.len(), 3);
        // Removing unknown fields is the schema check's part.
        assert_eq!(value["extra"], 1);
        // Decoded into a map first (custom resources, patches): every repeat.
        let mut mapped = decode_object_checked(None, body).unwrap();
        mapped.add_unknown_fields(&paths, false);
        assert_eq!(mapped.strict_errors().len(), 5);
        // A prefix of a name is not a parent: "dat" covers neither "data" nor "datta".
        let mut d = decode_object_checked(None, br#"{"data":1,"data":2}"#).unwrap();
        d.add_unknown_fields(&["dat".to_string()], true);
        assert_eq!(
            d.strict_errors(),
            [r#"duplicate field "data""#, r#"unknown field "dat""#]
        );
        // Only unknown fields: one Strict error too; none at all passes.
        let mut d = Decoded::new(json!({"a": 1}));
        d.add_unknown_fields(&["a".to_string()], true);
        let e = d
            .validate_patch(FieldValidation::Strict, Value::to_string)
            .unwrap_err();
        assert_eq!((e.code, e.causes[0].field.as_str()), (422, "patch"));
        assert_eq!(
            e.message,
            r#" "" is invalid: patch: Invalid value: "{\"a\":1}": strict decoding error: unknown field "a""#
        );
        assert!(Decoded::new(json!({}))
            .validate_patch(FieldValidation::Strict, |_| unreachable!())
            .is_ok());
    }

    #[test]
    fn go_format_is_fmt_plus_v() {
        assert_eq!(
            go_format(&json!({"b": [1, "x", null, true], "a": {"d": 1.5, "c": {}}})),
            "map[a:map[c:map[] d:1.5] b:[1 x <nil> true]]"
        );
        assert_eq!(go_format(&json!("s")), "s");
    }

    #[test]
    fn delete_options() {
        assert_eq!(
            decode_delete_options(b"").unwrap(),
            DeleteOptions::default()
        );
        assert_eq!(
            decode_delete_options(b" \n").unwrap(),
            DeleteOptions::default()
        );
        assert_eq!(
            decode_delete_options(b"{}").unwrap(),
            DeleteOptions::default()
        );
        assert_eq!(
            decode_delete_options(b"null").unwrap(),
            DeleteOptions::default()
        );
        let kubectl = decode_delete_options(br#"{"propagationPolicy":"Background"}"#).unwrap();
        assert_eq!(kubectl.propagation_policy.as_deref(), Some("Background"));
        let full = decode_delete_options(
            br#"{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0,
                 "preconditions":{"uid":"u-1","resourceVersion":"42"},"dryRun":["All"],
                 "propagationPolicy":"Foreground","somethingNew":true}"#,
        )
        .unwrap();
        assert_eq!(full.grace_period_seconds, Some(0));
        assert_eq!(full.preconditions.uid.as_deref(), Some("u-1"));
        assert_eq!(full.preconditions.resource_version.as_deref(), Some("42"));
        assert_eq!(full.dry_run, ["All"]);
        assert_eq!(
            decode_delete_options(br#"{"orphanDependents":true}"#)
                .unwrap()
                .orphan_dependents,
            Some(true)
        );

        let (code, reason, msg) = status(decode_delete_options(b"{bad"));
        assert_eq!((code, reason.as_str()), (400, "BadRequest"));
        assert!(msg.starts_with("the server could not decode the request body"));
        assert_eq!(
            status(decode_delete_options(br#"{"gracePeriodSeconds":"x"}"#)).0,
            400
        );
        assert_eq!(status(decode_delete_options(b"[]")).0, 400);

        let e = decode_delete_options(br#"{"propagationPolicy":"Sideways","dryRun":["Some"]}"#)
            .unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(e.causes.len(), 2);
        assert_eq!(e.causes[0].reason, "FieldValueNotSupported");
        assert!(
            e.message
                .contains("propagationPolicy: Unsupported value: \"Sideways\""),
            "{}",
            e.message
        );
        let e =
            decode_delete_options(br#"{"propagationPolicy":"Orphan","orphanDependents":false}"#)
                .unwrap_err();
        assert!(e.message.contains("cannot be both set"));
    }
}
