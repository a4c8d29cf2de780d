//! Kind-independent object validation: names, metadata, `apiVersion`/`kind`
//! and the per-kind schema check of [`ResourceType::schema_check`].
//!
//! The string checks (`is_*`) follow Kubernetes' `apimachinery/pkg/util/validation`:
//! they return the list of problems (empty = valid) with Kubernetes' wording,
//! so clients see the messages they already know. [`validate_object`] collects
//! every problem of one object into a single 422 `Invalid` [`ApiError`] whose
//! causes read like Kubernetes' (`Invalid value: "x": ...`, `Required value: ...`).

// `ApiError` is this crate's error type for every API-facing result; it is
// large by design (a full Status), and these are not hot paths.

use rand::Rng;
use serde_json::{Map, Value};

use super::registry::ResourceType;
use crate::status::{ApiError, Cause};

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const QUALIFIED_NAME_MAX: usize = 63;
const LABEL_VALUE_MAX: usize = 63;
/// Kubernetes' limit on the summed size of all annotation keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const QUALIFIED_NAME_SLASH_MSG: &str = "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/// Alphabet of generated name suffixes (no vowels, no look-alikes), as Kubernetes.
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const SUFFIX_LEN: usize = 5;
/// Generated names are kept within a DNS label: the prefix is cut to 58 bytes.
const MAX_GENERATED_PREFIX: usize = DNS1123_LABEL_MAX - SUFFIX_LEN;

/// Bytes of the object the schema-error locator may re-decode in total.
const LOCATE_BUDGET_BYTES: usize = 16 * 1024 * 1024;
const LOCATE_MAX_CHECKS: usize = 200;

fn too_long(max: usize) -> String {
    format!("must be no more than {max} characters")
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, any length.
fn matches_dns_label_shape(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, any length.
fn matches_qualified_shape(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// RFC 1123 label: at most 63 characters of `[a-z0-9-]`, alphanumeric at both ends.
/// Returns Kubernetes' messages for every problem; empty means valid.
pub fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        errs.push(too_long(DNS1123_LABEL_MAX));
    }
    if !matches_dns_label_shape(s) {
        errs.push(DNS1123_LABEL_MSG.to_string());
    }
    errs
}

/// RFC 1123 subdomain: at most 253 characters, dot-separated RFC 1123 labels.
pub fn is_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(too_long(DNS1123_SUBDOMAIN_MAX));
    }
    if !s.split('.').all(matches_dns_label_shape) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// RFC 1035 label: an RFC 1123 label that starts with a letter.
pub fn is_dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        errs.push(too_long(DNS1123_LABEL_MAX));
    }
    if !(matches_dns_label_shape(s) && s.as_bytes()[0].is_ascii_lowercase()) {
        errs.push(DNS1035_LABEL_MSG.to_string());
    }
    errs
}

/// A qualified name (label key, annotation key, finalizer): an optional
/// DNS-subdomain prefix and `/`, then a name of at most 63 characters.
pub fn is_qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for msg in is_dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {msg}"));
                }
            }
            *name
        }
        _ => return vec![QUALIFIED_NAME_SLASH_MSG.to_string()],
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else {
        if name.len() > QUALIFIED_NAME_MAX {
            errs.push(format!("name part {}", too_long(QUALIFIED_NAME_MAX)));
        }
        if !matches_qualified_shape(name) {
            errs.push(QUALIFIED_NAME_MSG.to_string());
        }
    }
    errs
}

/// A label value: empty, or at most 63 characters shaped like a qualified name.
pub fn is_valid_label_value(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > LABEL_VALUE_MAX {
        errs.push(too_long(LABEL_VALUE_MAX));
    }
    if !s.is_empty() && !matches_qualified_shape(s) {
        errs.push(LABEL_VALUE_MSG.to_string());
    }
    errs
}

/// Which rule an object's `metadata.name` must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
    /// RFC 1035 label (services: the name becomes a DNS label).
    Dns1035,
}

impl NameRule {
    /// The problems of `name` under this rule; empty means valid.
    pub fn check(self, name: &str) -> Vec<String> {
        match self {
            NameRule::Subdomain => is_dns1123_subdomain(name),
            NameRule::Label => is_dns1123_label(name),
            NameRule::Dns1035 => is_dns1035_label(name),
        }
    }
}

/// The name rule of a resource: namespaces are labels, services RFC 1035 labels.
pub fn name_rule(rt: &ResourceType) -> NameRule {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => NameRule::Label,
        ("", "services") => NameRule::Dns1035,
        _ => NameRule::Subdomain,
    }
}

/// Fields a kind requires that the schema check cannot catch: k8s-openapi
/// decodes a missing required struct field (`spec.selector`) as its default.
fn required_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets") => {
            &["spec.selector"]
        }
        _ => &[],
    }
}

/// Checks a `metadata.generateName` prefix: it must be a valid name once a
/// random suffix is appended, so a trailing `-` is allowed (as Kubernetes does).
pub fn validate_generate_name(rule: NameRule, generate_name: &str) -> Vec<String> {
    match generate_name.strip_suffix('-') {
        Some(stem) => rule.check(&format!("{stem}a")),
        None => rule.check(generate_name),
    }
}

/// A name from `generateName`: the prefix (cut to 58 bytes) plus five random
/// characters from `bcdfghjklmnpqrstvwxz2456789`.
pub fn generate_name(prefix: &str) -> String {
    let mut cut = prefix.len().min(MAX_GENERATED_PREFIX);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut rng = rand::rng();
    let mut name = String::with_capacity(cut + SUFFIX_LEN);
    name.push_str(&prefix[..cut]);
    for _ in 0..SUFFIX_LEN {
        let i = rng.random_range(0..SUFFIX_ALPHABET.len());
        name.push(SUFFIX_ALPHABET[i] as char);
    }
    name
}

/// A JSON-quoted value, as Kubernetes quotes values in messages.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn invalid(field: &str, value: &str, detail: &str) -> Cause {
    Cause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {}: {detail}", quote(value)),
    )
}

fn required(field: &str, detail: &str) -> Cause {
    let msg = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    Cause::new("FieldValueRequired", field, msg)
}

fn wrong_type(field: &str, what: &str) -> Cause {
    Cause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: must be {what}"),
    )
}

/// Validates an object against its resource type, independent of kind:
/// `apiVersion`/`kind`, name (per [`name_rule`]), namespace and name against
/// the request path, labels, annotations, finalizers, then the schema check.
///
/// `path_namespace` is the namespace of the request URL (`None` for
/// cluster-wide requests); for a namespaced kind the body or the path must
/// name one. `path_name` is the name in the URL (PUT), if any. All problems
/// are returned together in one 422 `Invalid` error.
pub fn validate_object(
    rt: &ResourceType,
    obj: &Value,
    path_namespace: Option<&str>,
    path_name: Option<&str>,
) -> Result<(), ApiError> {
    let Some(map) = obj.as_object() else {
        let cause = Cause::new("FieldValueInvalid", "", "the object must be a JSON object");
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            path_name.unwrap_or(""),
            vec![cause],
        ));
    };
    let mut causes = Vec::new();
    check_type_field(map, "apiVersion", &rt.api_version(), &mut causes);
    check_type_field(map, "kind", &rt.kind, &mut causes);
    // The typed decode rejects a wrong apiVersion/kind too: say it only once.
    let type_ok = causes.is_empty();

    let meta = match map.get("metadata") {
        Some(Value::Object(m)) => Some(m),
        None | Some(Value::Null) => None,
        Some(_) => {
            causes.push(wrong_type("metadata", "an object"));
            None
        }
    };
    let empty = Map::new();
    let meta = meta.unwrap_or(&empty);
    let name = validate_metadata(rt, meta, path_namespace, path_name, &mut causes);
    for field in required_fields(rt).iter().filter(|_| type_ok) {
        let mut value = Some(obj);
        for step in field.split('.') {
            value = value.and_then(|v| v.get(step));
        }
        if value.is_none_or(Value::is_null) {
            causes.push(required(field, ""));
        }
    }

    let detailed = if type_ok {
        rt.schema_check.causes(obj)
    } else {
        None
    };
    let schema = match (&detailed, type_ok) {
        (Some(found), _) => {
            causes.extend(found.iter().cloned());
            Ok(())
        }
        (None, true) => rt.schema_check.check(obj),
        (None, false) => Ok(()),
    };
    if let Err(msg) = schema {
        let field = locate_schema_error(rt, obj, &msg);
        let covered = !field.is_empty()
            && causes
                .iter()
                .any(|c| !c.field.is_empty() && field.starts_with(&c.field));
        if !covered {
            causes.push(Cause::new("FieldValueInvalid", &field, msg));
        }
    }

    if causes.is_empty() {
        Ok(())
    } else {
        let name = name.or(path_name).unwrap_or("");
        Err(ApiError::invalid(&rt.group, &rt.kind, name, causes))
    }
}

fn check_type_field(map: &Map<String, Value>, field: &str, want: &str, causes: &mut Vec<Cause>) {
    match map.get(field) {
        Some(Value::String(s)) if s == want => {}
        Some(Value::String(s)) if !s.is_empty() => {
            causes.push(invalid(field, s, &format!("must be {want}")))
        }
        None | Some(Value::Null) | Some(Value::String(_)) => {
            causes.push(required(field, &format!("must be {want}")))
        }
        Some(_) => causes.push(wrong_type(field, &format!("the string {want}"))),
    }
}

/// Validates `metadata`; returns the object's name if it has one.
fn validate_metadata<'a>(
    rt: &ResourceType,
    meta: &'a Map<String, Value>,
    path_namespace: Option<&str>,
    path_name: Option<&str>,
    causes: &mut Vec<Cause>,
) -> Option<&'a str> {
    let rule = name_rule(rt);
    let name = match meta.get("name") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
        None | Some(Value::Null) | Some(Value::String(_)) => None,
        Some(_) => {
            causes.push(wrong_type("metadata.name", "a string"));
            None
        }
    };
    match name {
        None => causes.push(required(
            "metadata.name",
            "name or generateName is required",
        )),
        Some(name) => {
            for msg in rule.check(name) {
                causes.push(invalid("metadata.name", name, &msg));
            }
            if path_name.is_some_and(|want| want != name) {
                causes.push(invalid(
                    "metadata.name",
                    name,
                    "the name of the object does not match the name on the URL",
                ));
            }
        }
    }
    if let Some(Value::String(gen)) = meta.get("generateName") {
        if !gen.is_empty() {
            for msg in validate_generate_name(rule, gen) {
                causes.push(invalid("metadata.generateName", gen, &msg));
            }
        }
    }

    if rt.namespaced {
        let body_ns = match meta.get("namespace") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
            None | Some(Value::Null) | Some(Value::String(_)) => None,
            Some(_) => {
                causes.push(wrong_type("metadata.namespace", "a string"));
                None
            }
        };
        match (body_ns, path_namespace) {
            (Some(ns), Some(path)) if ns != path => causes.push(invalid(
                "metadata.namespace",
                ns,
                "the namespace of the provided object does not match the namespace sent on the request",
            )),
            (Some(ns), None) => {
                for msg in is_dns1123_label(ns) {
                    causes.push(invalid("metadata.namespace", ns, &msg));
                }
            }
            (None, None) => causes.push(required("metadata.namespace", "")),
            _ => {}
        }
    }

    validate_labels(meta.get("labels"), causes);
    validate_annotations(meta.get("annotations"), causes);
    validate_finalizers(meta.get("finalizers"), causes);
    name
}

fn string_map<'a>(
    v: Option<&'a Value>,
    field: &str,
    causes: &mut Vec<Cause>,
) -> Option<&'a Map<String, Value>> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            causes.push(wrong_type(field, "a map of string keys to string values"));
            None
        }
    }
}

fn validate_labels(labels: Option<&Value>, causes: &mut Vec<Cause>) {
    const FIELD: &str = "metadata.labels";
    let Some(labels) = string_map(labels, FIELD, causes) else {
        return;
    };
    for (k, v) in labels {
        for msg in is_qualified_name(k) {
            causes.push(invalid(FIELD, k, &msg));
        }
        match v.as_str() {
            Some(v) => {
                for msg in is_valid_label_value(v) {
                    causes.push(invalid(FIELD, v, &msg));
                }
            }
            None => causes.push(wrong_type(&format!("{FIELD}.{k}"), "a string")),
        }
    }
}

fn validate_annotations(annotations: Option<&Value>, causes: &mut Vec<Cause>) {
    const FIELD: &str = "metadata.annotations";
    let Some(annotations) = string_map(annotations, FIELD, causes) else {
        return;
    };
    let mut total = 0usize;
    for (k, v) in annotations {
        // Kubernetes checks annotation keys case-insensitively.
        for msg in is_qualified_name(&k.to_ascii_lowercase()) {
            causes.push(invalid(FIELD, k, &msg));
        }
        total += k.len();
        match v.as_str() {
            Some(v) => total += v.len(),
            None => causes.push(wrong_type(&format!("{FIELD}.{k}"), "a string")),
        }
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        causes.push(Cause::new(
            "FieldValueTooLong",
            FIELD,
            format!("Too long: may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
        ));
    }
}

fn validate_finalizers(finalizers: Option<&Value>, causes: &mut Vec<Cause>) {
    const FIELD: &str = "metadata.finalizers";
    let list = match finalizers {
        None | Some(Value::Null) => return,
        Some(Value::Array(list)) => list,
        Some(_) => return causes.push(wrong_type(FIELD, "a list of strings")),
    };
    let mut names = Vec::new();
    for (i, f) in list.iter().enumerate() {
        let field = format!("{FIELD}[{i}]");
        let Some(f) = f.as_str() else {
            causes.push(wrong_type(&field, "a string"));
            continue;
        };
        for msg in is_qualified_name(f) {
            causes.push(invalid(&field, f, &msg));
        }
        names.push(f);
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        causes.push(Cause::new(
            "FieldValueInvalid",
            FIELD,
            "Invalid value: finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// Best-effort path of a schema error: removes members one at a time and
/// descends into the member whose removal makes the error go away or change.
/// Bounded by a decode budget; `""` when nothing could be narrowed down.
fn locate_schema_error(rt: &ResourceType, obj: &Value, original: &str) -> String {
    let size = serde_json::to_vec(obj)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    let mut budget = (LOCATE_BUDGET_BYTES / size.max(1)).min(LOCATE_MAX_CHECKS);
    let mut path: Vec<PathStep> = Vec::new();
    let mut current = obj;
    'descend: loop {
        let steps: Vec<(PathStep, &Value)> = match current {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| (PathStep::Key(k.clone()), v))
                .collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (PathStep::Index(i), v))
                .collect(),
            _ => break,
        };
        for (step, child) in steps {
            if budget == 0 {
                break 'descend;
            }
            budget -= 1;
            let mut probe = obj.clone();
            remove_at(&mut probe, &path, &step);
            // Decoding stops at the first error, so the error changes exactly
            // when the removed member held it ("missing field" says nothing).
            let moved = match rt.schema_check.check(&probe) {
                Ok(()) => true,
                Err(e) => e != original && !e.starts_with("missing field"),
            };
            if moved {
                path.push(step);
                current = child;
                continue 'descend;
            }
        }
        break;
    }
    let mut out = String::new();
    for step in path {
        match step {
            PathStep::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&k);
            }
            PathStep::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

enum PathStep {
    Key(String),
    Index(usize),
}

fn remove_at(root: &mut Value, path: &[PathStep], last: &PathStep) {
    let mut cur = root;
    for step in path {
        let next = match (step, cur) {
            (PathStep::Key(k), Value::Object(m)) => m.get_mut(k),
            (PathStep::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (last, cur) {
        (PathStep::Key(k), Value::Object(m)) => {
            m.remove(k);
        }
        (PathStep::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::registry::Registry;
    use serde_json::json;
    use std::sync::Arc;

    fn rt(group: &str, plural: &str) -> Arc<ResourceType> {
        let version = if group == "autoscaling" { "v2" } else { "v1" };
        Registry::builtin().lookup(group, version, plural).unwrap()
    }

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "default"}, "data": {"a": "b"}})
    }

    fn causes(r: Result<(), ApiError>) -> Vec<Cause> {
        let e = r.expect_err("expected a validation error");
        assert_eq!(e.code, 422, "{e}");
        assert_eq!(e.reason, "Invalid");
        e.causes
    }

    fn has(causes: &[Cause], reason: &str, field: &str, text: &str) -> bool {
        causes
            .iter()
            .any(|c| c.reason == reason && c.field == field && c.message.contains(text))
    }

    #[test]
    fn dns1123_subdomain() {
        for ok in [
            "a",
            "example.com",
            "a-b.c-d",
            "0",
            "1.2.3",
            &"a".repeat(253),
        ] {
            assert!(is_dns1123_subdomain(ok).is_empty(), "{ok}");
        }
        for bad in [
            "", "A", "a_b", "-a", "a-", "a..b", ".a", "a.", "a.-b", "ä", "a/b",
        ] {
            assert!(!is_dns1123_subdomain(bad).is_empty(), "{bad}");
        }
        let errs = is_dns1123_subdomain("Bad_Name");
        assert_eq!(errs, vec![DNS1123_SUBDOMAIN_MSG.to_string()]);
        assert!(errs[0].starts_with("a lowercase RFC 1123 subdomain must consist of"));
        assert_eq!(
            is_dns1123_subdomain(&"a".repeat(254)),
            vec!["must be no more than 253 characters"]
        );
    }

    #[test]
    fn dns1123_and_dns1035_labels() {
        for ok in ["a", "abc-123", "0a", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok).is_empty(), "{ok}");
        }
        for bad in ["", "a.b", "A", "-a", "a-", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad).is_empty(), "{bad}");
        }
        assert!(is_dns1123_label("a.b")[0].starts_with("a lowercase RFC 1123 label"));
        assert!(is_dns1035_label("my-svc").is_empty());
        assert!(is_dns1035_label("1abc")[0].starts_with("a DNS-1035 label"));
        assert!(!is_dns1035_label("a.b").is_empty());
        assert_eq!(
            is_dns1035_label(&"a".repeat(64)),
            vec!["must be no more than 63 characters"]
        );
    }

    #[test]
    fn qualified_names_and_label_values() {
        for ok in [
            "app",
            "app.kubernetes.io/name",
            "My_Key.x-1",
            "example.com/MyName",
            "a/b",
        ] {
            assert!(is_qualified_name(ok).is_empty(), "{ok}");
        }
        assert_eq!(
            is_qualified_name("/a"),
            vec!["prefix part must be non-empty"]
        );
        assert_eq!(is_qualified_name("a/"), vec!["name part must be non-empty"]);
        assert_eq!(is_qualified_name(""), vec!["name part must be non-empty"]);
        assert!(is_qualified_name("a/b/c")[0].starts_with("a qualified name must consist"));
        assert!(is_qualified_name("Example.com/x")[0]
            .starts_with("prefix part a lowercase RFC 1123 subdomain"));
        assert!(is_qualified_name("-a")[0].starts_with("name part must consist"));
        assert_eq!(
            is_qualified_name(&"a".repeat(64)),
            vec!["name part must be no more than 63 characters"]
        );
        assert!(is_qualified_name(&format!("{}/a", "a".repeat(254)))[0].contains("253"));

        for ok in ["", "v1", "My_Value", "1.2.3", &"x".repeat(63)] {
            assert!(is_valid_label_value(ok).is_empty(), "{ok:?}");
        }
        for bad in ["-a", "a b", "a/b", "a_", &"x".repeat(64)] {
            assert!(!is_valid_label_value(bad).is_empty(), "{bad}");
        }
        assert!(is_valid_label_value("a b")[0].starts_with("a valid label must be an empty string"));
    }

    #[test]
    fn name_rules_per_kind() {
        assert_eq!(name_rule(&rt("", "namespaces")), NameRule::Label);
        assert_eq!(name_rule(&rt("", "services")), NameRule::Dns1035);
        assert_eq!(name_rule(&rt("", "configmaps")), NameRule::Subdomain);
        assert_eq!(name_rule(&rt("apps", "deployments")), NameRule::Subdomain);
    }

    #[test]
    fn generated_names() {
        let name = generate_name("web-");
        assert_eq!(name.len(), 9);
        assert!(name.starts_with("web-"));
        assert!(
            name[4..].bytes().all(|b| SUFFIX_ALPHABET.contains(&b)),
            "{name}"
        );
        let distinct: std::collections::HashSet<String> =
            (0..20).map(|_| generate_name("web-")).collect();
        assert!(distinct.len() > 1, "suffixes should vary");
        let long = generate_name(&"a".repeat(100));
        assert_eq!(long.len(), 63);
        assert!(is_dns1123_label(&long).is_empty());
        // The cut never splits a multi-byte character.
        let odd = generate_name(&format!("{}é", "a".repeat(57)));
        assert!(odd.starts_with(&"a".repeat(57)) && odd.len() == 62);

        assert!(validate_generate_name(NameRule::Subdomain, "web-").is_empty());
        assert!(validate_generate_name(NameRule::Label, "ns-").is_empty());
        assert!(!validate_generate_name(NameRule::Subdomain, "Web-").is_empty());
        assert!(!validate_generate_name(NameRule::Dns1035, "1-").is_empty());
    }

    #[test]
    fn valid_objects_pass() {
        let cms = rt("", "configmaps");
        assert!(validate_object(&cms, &cm("settings"), Some("default"), None).is_ok());
        assert!(validate_object(&cms, &cm("settings"), Some("default"), Some("settings")).is_ok());
        // Namespace taken from the path when the body has none.
        let mut obj = cm("settings");
        obj["metadata"].as_object_mut().unwrap().remove("namespace");
        assert!(validate_object(&cms, &obj, Some("default"), None).is_ok());

        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}});
        assert!(validate_object(&rt("", "namespaces"), &ns, None, None).is_ok());
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web", "tier": ""},
                         "annotations": {"Example.COM/Note": "x"}, "finalizers": ["example.com/cleanup"]},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
        let r = validate_object(&rt("apps", "deployments"), &deploy, Some("default"), None);
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn non_object_is_invalid() {
        let c = causes(validate_object(
            &rt("", "configmaps"),
            &json!([1]),
            Some("default"),
            None,
        ));
        assert_eq!(c.len(), 1);
        assert!(c[0].message.contains("JSON object"));
    }

    #[test]
    fn api_version_and_kind_must_match() {
        let deploys = rt("apps", "deployments");
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}});
        let c = causes(validate_object(&deploys, &obj, Some("default"), None));
        assert!(
            has(
                &c,
                "FieldValueInvalid",
                "apiVersion",
                "Invalid value: \"v1\": must be apps/v1"
            ),
            "{c:?}"
        );
        assert!(
            has(&c, "FieldValueInvalid", "kind", "must be Deployment"),
            "{c:?}"
        );
        assert_eq!(c[0].field, "apiVersion", "type problems come first");
        // The schema check would only repeat the type problem.
        assert_eq!(c.len(), 2, "{c:?}");

        let c = causes(validate_object(
            &deploys,
            &json!({"metadata": {"name": "web"}}),
            Some("default"),
            None,
        ));
        assert!(
            has(&c, "FieldValueRequired", "apiVersion", "must be apps/v1"),
            "{c:?}"
        );
        assert!(
            has(&c, "FieldValueRequired", "kind", "must be Deployment"),
            "{c:?}"
        );
    }

    #[test]
    fn name_is_required_and_checked() {
        let cms = rt("", "configmaps");
        let mut obj = cm("x");
        obj["metadata"].as_object_mut().unwrap().remove("name");
        let c = causes(validate_object(&cms, &obj, Some("default"), None));
        assert!(has(
            &c,
            "FieldValueRequired",
            "metadata.name",
            "Required value: name or generateName is required"
        ));

        let e = validate_object(&cms, &cm("Bad_Name"), Some("default"), None).unwrap_err();
        assert_eq!(e.name.as_deref(), Some("Bad_Name"));
        assert_eq!(e.kind.as_deref(), Some("ConfigMap"));
        assert_eq!(
            e.message,
            format!("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": {DNS1123_SUBDOMAIN_MSG}")
        );

        // Rules per kind: fine for a ConfigMap, not for a Service or a Namespace.
        assert!(validate_object(&cms, &cm("1.web"), Some("default"), None).is_ok());
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1web"}});
        let c = causes(validate_object(
            &rt("", "services"),
            &svc,
            Some("default"),
            None,
        ));
        assert!(
            has(&c, "FieldValueInvalid", "metadata.name", "DNS-1035"),
            "{c:?}"
        );
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}});
        let c = causes(validate_object(&rt("", "namespaces"), &ns, None, None));
        assert!(
            has(&c, "FieldValueInvalid", "metadata.name", "RFC 1123 label"),
            "{c:?}"
        );

        let mut obj = cm("web-abcde");
        obj["metadata"]["generateName"] = json!("Web-");
        let c = causes(validate_object(&cms, &obj, Some("default"), None));
        assert!(
            has(
                &c,
                "FieldValueInvalid",
                "metadata.generateName",
                "Invalid value: \"Web-\""
            ),
            "{c:?}"
        );
    }

    #[test]
    fn path_namespace_and_name_must_match() {
        let cms = rt("", "configmaps");
        let c = causes(validate_object(&cms, &cm("a"), Some("other"), None));
        assert!(has(
            &c,
            "FieldValueInvalid",
            "metadata.namespace",
            "the namespace of the provided object does not match the namespace sent on the request"
        ));
        let c = causes(validate_object(&cms, &cm("a"), Some("default"), Some("b")));
        assert!(has(
            &c,
            "FieldValueInvalid",
            "metadata.name",
            "the name of the object does not match the name on the URL"
        ));
        // Neither body nor path names a namespace.
        let mut obj = cm("a");
        obj["metadata"].as_object_mut().unwrap().remove("namespace");
        let c = causes(validate_object(&cms, &obj, None, None));
        assert!(
            has(
                &c,
                "FieldValueRequired",
                "metadata.namespace",
                "Required value"
            ),
            "{c:?}"
        );
        // Cluster-scoped kinds ignore namespaces entirely.
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "y"}});
        assert!(validate_object(&rt("", "namespaces"), &ns, Some("z"), Some("x")).is_ok());
    }

    #[test]
    fn labels_annotations_finalizers() {
        let cms = rt("", "configmaps");
        let mut obj = cm("a");
        obj["metadata"]["labels"] = json!({"bad key": "v", "ok": "bad value", "n": 1});
        obj["metadata"]["annotations"] = json!({"a/b/c": "x"});
        obj["metadata"]["finalizers"] =
            json!(["ok.io/f", "bad/fin/alizer", "orphan", "foregroundDeletion"]);
        let c = causes(validate_object(&cms, &obj, Some("default"), None));
        assert!(
            has(
                &c,
                "FieldValueInvalid",
                "metadata.labels",
                "Invalid value: \"bad key\": name part must consist"
            ),
            "{c:?}"
        );
        assert!(
            has(
                &c,
                "FieldValueInvalid",
                "metadata.labels",
                "Invalid value: \"bad value\": a valid label"
            ),
            "{c:?}"
        );
        assert!(
            has(
                &c,
                "FieldValueInvalid",
                "metadata.labels.n",
                "must be a string"
            ),
            "{c:?}"
        );
        assert!(
            has(
                &c,
                "FieldValueInvalid",
                "metadata.annotations",
                "Invalid value: \"a/b/c\""
            ),
            "{c:?}"
        );
        assert!(
            has(
                &c,
                "FieldValueInvalid",
                "metadata.finalizers[1]",
                "bad/fin/alizer"
            ),
            "{c:?}"
        );
        assert!(
            has(
                &c,
                "FieldValueInvalid",
                "metadata.finalizers",
                "cannot be both set"
            ),
            "{c:?}"
        );
        assert!(!c.iter().any(|c| c.field == "metadata.finalizers[0]"));
        // Schema error about labels.n is already covered by the labels cause.
        assert!(!c.iter().any(|c| c.field.is_empty()), "{c:?}");

        let mut obj = cm("a");
        obj["metadata"]["annotations"] = json!({"big": "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT)});
        let c = causes(validate_object(&cms, &obj, Some("default"), None));
        assert!(
            has(
                &c,
                "FieldValueTooLong",
                "metadata.annotations",
                "may not be more than 262144 bytes"
            ),
            "{c:?}"
        );
        obj["metadata"]["annotations"] =
            json!({"big": "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT - 3)});
        assert!(validate_object(&cms, &obj, Some("default"), None).is_ok());
    }

    #[test]
    fn schema_errors_are_located_when_possible() {
        let deploys = rt("apps", "deployments");
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": "three", "selector": {"matchLabels": {"a": "b"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let c = causes(validate_object(&deploys, &obj, Some("default"), None));
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].reason, "FieldValueInvalid");
        assert_eq!(c[0].field, "spec.replicas");
        assert!(c[0].message.contains("three"), "{c:?}");

        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": "80"}]}]}}}});
        let c = causes(validate_object(&deploys, &obj, Some("default"), None));
        assert_eq!(
            c[0].field, "spec.template.spec.containers[0].ports[0].containerPort",
            "{c:?}"
        );

        // A wrong type for a whole list is located at the list.
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]},
                     "template": {"spec": {"containers": {"name": "c"}}}}});
        let c = causes(validate_object(&deploys, &obj, Some("default"), None));
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            c[0].field, "spec.selector.matchExpressions[0].values",
            "{c:?}"
        );
        assert!(c[0].message.contains("invalid type"), "{c:?}");
    }

    #[test]
    fn all_problems_are_collected() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "Bad", "namespace": "other", "labels": {"-x": "y"}}, "data": {"k": 1}});
        let c = causes(validate_object(
            &rt("", "configmaps"),
            &obj,
            Some("default"),
            Some("good"),
        ));
        let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "metadata.name",
                "metadata.name",
                "metadata.namespace",
                "metadata.labels",
                "data.k"
            ],
            "{c:?}"
        );
    }
}
