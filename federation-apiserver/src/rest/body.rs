//! Request body decoding: objects (JSON or YAML), patch content types and
//! `DeleteOptions`.
//!
//! Every failure is an [`ApiError`] a client can act on: undecodable bodies
//! are 400 BadRequest (never 500), unknown or unsupported media types 415,
//! oversized bodies 413.

// `ApiError` is this crate's error type for every API-facing result; it is
// large by design (a full Status), and these are not hot paths.

use serde::Deserialize;
use serde_json::Value;

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

/// Decodes a create/update body into a JSON object.
///
/// `application/json` (also a missing content type and any other `+json`
/// type that is not a patch type) is JSON; `application/yaml`,
/// `application/x-yaml` and `text/yaml` are YAML (one document);
/// `application/vnd.kubernetes.protobuf` is decoded by [`super::protobuf`]
/// (415 for kinds it has no schema for). Every other type is 415; an empty,
/// malformed or non-object body is 400.
pub fn decode_object(content_type: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    let media = media_type(content_type);
    let value = match media.as_str() {
        "" | "application/json" => parse_json(body)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml(body)?,
        super::protobuf::MEDIA_TYPE => super::protobuf::decode(body)?,
        m if patch_type(Some(m)).is_ok() => {
            return Err(ApiError::unsupported_media_type(format!(
                "{m} is a patch content type and is only accepted by PATCH: send the object as application/json or application/yaml"
            )))
        }
        m if m.ends_with("+json") => parse_json(body)?,
        m => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({m}) - accepted media types include: application/json, application/yaml"
            )))
        }
    };
    expect_object(value)
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

/// Strips a UTF-8 byte order mark and rejects an all-whitespace body.
fn content(body: &[u8]) -> Result<&[u8], ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(decode_error("the request body is empty"));
    }
    Ok(body)
}

/// Parses a JSON body of any shape; errors carry serde's line and column.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(content(body)?).map_err(decode_error)
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
pub fn decode_patch(pt: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    match pt {
        PatchType::Json => match parse_json(body)? {
            v @ Value::Array(_) => Ok(v),
            v => Err(decode_error(format!(
                "a JSON patch must be an array of operations, got {}",
                type_name(&v)
            ))),
        },
        PatchType::Merge | PatchType::StrategicMerge => expect_object(parse_json(body)?),
        PatchType::Apply => {
            let trimmed = content(body)?.trim_ascii_start();
            if trimmed.starts_with(b"{") {
                if let Ok(v) = serde_json::from_slice::<Value>(trimmed) {
                    return expect_object(v);
                }
            }
            expect_object(parse_yaml(body)?)
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
