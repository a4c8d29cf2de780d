//! Validation and pruning of custom resources against a CRD's structural
//! `openAPIV3Schema`, the way kube-apiserver treats them:
//!
//! - **Pruning**: fields the schema does not declare are dropped (unless the
//!   schema says `x-kubernetes-preserve-unknown-fields: true` there); the
//!   dropped paths are returned so `fieldValidation=Strict|Warn` can report
//!   them. `apiVersion`, `kind` and `metadata` at the root are never pruned.
//! - **Validation**: `type`, `nullable`, `properties`, `required`, `items`,
//!   `additionalProperties`, `enum`, `minimum`/`maximum` (and exclusive),
//!   `minLength`/`maxLength`, `minItems`/`maxItems`, `minProperties`/
//!   `maxProperties`, `x-kubernetes-int-or-string`. Every violation becomes
//!   a [`Cause`] with the field path, in Kubernetes' wording.
//!
//! # Caveats
//! `pattern`, `format` and CEL `x-kubernetes-validations` are not checked yet.

use serde_json::{Map, Value};

use crate::status::Cause;

/// Drops undeclared fields; returns their dotted paths (e.g. `spec.replicaz`).
pub fn prune(object: &mut Value, schema: &Value) -> Vec<String> {
    let mut pruned = Vec::new();
    if let Some(map) = object.as_object_mut() {
        prune_map(map, schema, "", true, &mut pruned);
    }
    pruned
}

fn preserves_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn prune_map(
    map: &mut Map<String, Value>,
    schema: &Value,
    path: &str,
    root: bool,
    pruned: &mut Vec<String>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if root && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let child_path = join(path, &key);
        let child_schema = properties
            .and_then(|p| p.get(&key))
            .or_else(|| additional.filter(|a| a.is_object()));
        match child_schema {
            Some(child) => {
                if let Some(value) = map.get_mut(&key) {
                    prune_value(value, child, &child_path, pruned);
                }
            }
            None if preserves_unknown(schema) || additional == Some(&Value::Bool(true)) => {}
            None => {
                map.remove(&key);
                pruned.push(child_path);
            }
        }
    }
}

fn prune_value(value: &mut Value, schema: &Value, path: &str, pruned: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if schema.get("properties").is_some() || schema.get("additionalProperties").is_some() {
                prune_map(map, schema, path, false, pruned);
            } else if !preserves_unknown(schema)
                && schema.get("type").and_then(Value::as_str) == Some("object")
            {
                // An object with no declared fields keeps nothing.
                for key in map.keys() {
                    pruned.push(join(path, key));
                }
                map.clear();
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_value(item, item_schema, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

/// Every schema violation of `object`, as causes.
pub fn validate(object: &Value, schema: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    check(object, schema, "", &mut causes);
    causes
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn invalid(path: &str, value: &Value, detail: String) -> Cause {
    let shown = match value {
        Value::Object(_) => "\"object\"".to_string(),
        Value::Array(_) => "\"array\"".to_string(),
        other => other.to_string(),
    };
    Cause::new(
        "FieldValueInvalid",
        path,
        format!("Invalid value: {shown}: {detail}"),
    )
}

fn check(value: &Value, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    let field = if path.is_empty() { "body" } else { path };
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) && schema.get("type").is_some() {
            causes.push(invalid(
                path,
                value,
                format!(
                    "{field} in body must be of type {}: \"null\"",
                    schema["type"].as_str().unwrap_or("object")
                ),
            ));
        }
        return;
    }
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !matches!(type_name(value), "integer" | "string") {
            causes.push(invalid(
                path,
                value,
                format!(
                    "{field} in body must be of type integer or string: \"{}\"",
                    type_name(value)
                ),
            ));
        }
        return;
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let fits = actual == expected || (expected == "number" && actual == "integer");
        if !fits {
            causes.push(invalid(
                path,
                value,
                format!("{field} in body must be of type {expected}: \"{actual}\""),
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            causes.push(Cause::new(
                "FieldValueNotSupported",
                path,
                format!(
                    "Unsupported value: {value}: supported values: {}",
                    list.join(", ")
                ),
            ));
        }
    }
    check_bounds(value, schema, path, field, causes);
    match value {
        Value::Object(map) => {
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(name) = required.as_str() {
                    if !map.contains_key(name) {
                        causes.push(Cause::new(
                            "FieldValueRequired",
                            &join(path, name),
                            "Required value",
                        ));
                    }
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map {
                if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(child_schema) = properties.and_then(|p| p.get(key)).or(additional) {
                    check(child, child_schema, &join(path, key), causes);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item, item_schema, &format!("{path}[{i}]"), causes);
                }
            }
        }
        _ => {}
    }
}

fn check_bounds(value: &Value, schema: &Value, path: &str, field: &str, causes: &mut Vec<Cause>) {
    let limit = |name: &str| schema.get(name).and_then(Value::as_f64);
    let flag = |name: &str| schema.get(name) == Some(&Value::Bool(true));
    if let Some(n) = value.as_f64() {
        if let Some(min) = limit("minimum") {
            if n < min || (flag("exclusiveMinimum") && n == min) {
                let op = if flag("exclusiveMinimum") {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                causes.push(invalid(
                    path,
                    value,
                    format!("{field} in body should be {op} {min}"),
                ));
            }
        }
        if let Some(max) = limit("maximum") {
            if n > max || (flag("exclusiveMaximum") && n == max) {
                let op = if flag("exclusiveMaximum") {
                    "less than"
                } else {
                    "less than or equal to"
                };
                causes.push(invalid(
                    path,
                    value,
                    format!("{field} in body should be {op} {max}"),
                ));
            }
        }
    }
    let size = match value {
        Value::String(s) => Some(("minLength", "maxLength", s.chars().count(), "chars long")),
        Value::Array(a) => Some(("minItems", "maxItems", a.len(), "items")),
        Value::Object(m) => Some(("minProperties", "maxProperties", m.len(), "properties")),
        _ => None,
    };
    if let Some((min_key, max_key, len, unit)) = size {
        if let Some(min) = limit(min_key) {
            if (len as f64) < min {
                causes.push(invalid(
                    path,
                    value,
                    format!("{field} in body should be at least {min} {unit}"),
                ));
            }
        }
        if let Some(max) = limit(max_key) {
            if (len as f64) > max {
                causes.push(invalid(
                    path,
                    value,
                    format!("{field} in body should be at most {max} {unit}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "mode": {"type": "string", "enum": ["fast", "safe"]},
                "name": {"type": "string", "maxLength": 5},
                "port": {"x-kubernetes-int-or-string": true},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "note": {"type": "string", "nullable": true}}},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}})
    }

    #[test]
    fn a_valid_object_has_no_causes() {
        let o = json!({"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "a"},
            "spec": {"size": 3, "mode": "fast", "name": "ab", "port": "http", "tags": ["a"],
                     "labels": {"k": "v"}, "free": {"any": {"thing": 1}}, "note": null}});
        assert_eq!(validate(&o, &schema()), vec![]);
    }

    #[test]
    fn each_rule_reports_its_field() {
        let o = json!({"spec": {"size": "big", "mode": "slow", "name": "toolong", "port": 1.5,
            "tags": ["a", "b", "c"], "labels": {"k": 1}}, "status": {"ready": "yes"}});
        let causes = validate(&o, &schema());
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        for f in [
            "spec.size",
            "spec.mode",
            "spec.name",
            "spec.port",
            "spec.tags",
            "spec.labels.k",
            "status.ready",
        ] {
            assert!(fields.contains(&f), "{f} missing in {causes:?}");
        }
        let size = causes.iter().find(|c| c.field == "spec.size").unwrap();
        assert_eq!(
            size.message,
            "Invalid value: \"big\": spec.size in body must be of type integer: \"string\""
        );
        assert_eq!(
            causes
                .iter()
                .find(|c| c.field == "spec.mode")
                .unwrap()
                .reason,
            "FieldValueNotSupported"
        );
    }

    #[test]
    fn required_and_bounds() {
        let causes = validate(&json!({"spec": {}}), &schema());
        assert_eq!(
            causes,
            vec![Cause::new(
                "FieldValueRequired",
                "spec.size",
                "Required value"
            )]
        );
        let causes = validate(&json!({"spec": {"size": 11}}), &schema());
        assert_eq!(causes.len(), 1);
        assert!(
            causes[0].message.contains("less than or equal to 10"),
            "{causes:?}"
        );
        let causes = validate(&json!({"spec": {"size": 0}}), &schema());
        assert!(
            causes[0].message.contains("greater than or equal to 1"),
            "{causes:?}"
        );
    }

    #[test]
    fn pruning_drops_undeclared_fields_only() {
        let mut o = json!({"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "a", "labels": {"x": "y"}},
            "spec": {"size": 1, "sise": 2, "free": {"kept": true}, "labels": {"any": "v"},
                     "tags": ["a"]}, "extra": 1, "status": {"ready": true, "phase": "x"}});
        let mut pruned = prune(&mut o, &schema());
        pruned.sort();
        assert_eq!(pruned, vec!["extra", "spec.sise", "status.phase"]);
        assert_eq!(
            o["metadata"]["labels"]["x"], "y",
            "metadata is never pruned"
        );
        assert_eq!(o["spec"]["free"]["kept"], true);
        assert_eq!(o["spec"]["labels"]["any"], "v");
        assert!(o.get("extra").is_none());
    }
}
