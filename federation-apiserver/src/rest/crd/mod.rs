//! CustomResourceDefinitions: turning a CRD into the [`ResourceType`]s it
//! serves, and the CRD-specific validation of CRD objects. The task that
//! keeps the registry in step with the stored CRDs is [`controller`].

pub mod controller;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use super::registry::{PrinterColumn, ResourceType, ScalePaths, Schema};
use super::validation::is_dns1123_label;
use crate::status::Cause;

/// Storage prefix of every CRD.
pub const CRD_PREFIX: &str = "/apiextensions.k8s.io/customresourcedefinitions/";
/// The finalizer that empties a deleted CRD's resource before it goes.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn strings_at(value: &Value, pointer: &str) -> Vec<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// One [`ResourceType`] per served version of `crd`, in the CRD's order
/// (so the first served version is the preferred one).
pub fn resource_types(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let group = str_at(spec, "/group");
    let kind = str_at(spec, "/names/kind");
    let plural = str_at(spec, "/names/plural");
    let singular = match str_at(spec, "/names/singular") {
        "" => kind.to_ascii_lowercase(),
        s => s.to_string(),
    };
    let list_kind = match str_at(spec, "/names/listKind") {
        "" => format!("{kind}List"),
        s => s.to_string(),
    };
    let crd_name = str_at(crd, "/metadata/name").to_string();
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(false))
        .map(|v| {
            let schema = v
                .pointer("/schema/openAPIV3Schema")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
            let scale = v.pointer("/subresources/scale");
            ResourceType {
                group: group.to_string(),
                version: str_at(v, "/name").to_string(),
                kind: kind.to_string(),
                plural: plural.to_string(),
                singular: singular.clone(),
                namespaced: str_at(spec, "/scope") != "Cluster",
                short_names: strings_at(spec, "/names/shortNames"),
                categories: strings_at(spec, "/names/categories"),
                has_status: v.pointer("/subresources/status").is_some(),
                has_scale: scale.is_some(),
                scale_paths: scale
                    .map(|s| ScalePaths {
                        spec_replicas: str_at(s, "/specReplicasPath").to_string(),
                        status_replicas: str_at(s, "/statusReplicasPath").to_string(),
                        label_selector: s
                            .get("labelSelectorPath")
                            .and_then(Value::as_str)
                            .map(String::from),
                    })
                    .unwrap_or_default(),
                schema_check: Schema::Structural(Arc::new(schema)),
                extra_field_labels: Vec::new(),
                list_kind: list_kind.clone(),
                printer_columns: Some(Arc::new(printer_columns(v))),
                crd: Some(crd_name.clone()),
                strategy: crate::rest::strategy::custom(v.pointer("/subresources/status").is_some()),
            }
        })
        .collect()
}

fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    version["additionalPrinterColumns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| PrinterColumn {
            name: str_at(c, "/name").to_string(),
            type_: str_at(c, "/type").to_string(),
            format: str_at(c, "/format").to_string(),
            description: str_at(c, "/description").to_string(),
            priority: c["priority"].as_i64().unwrap_or(0),
            json_path: str_at(c, "/jsonPath").to_string(),
        })
        .collect()
}

fn cause(reason: &str, field: &str, message: impl Into<String>) -> Cause {
    Cause::new(reason, field, message.into())
}

/// The CRD-specific checks (after the typed decode), as Kubernetes words them.
pub fn validate_crd(crd: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = &crd["spec"];
    let group = str_at(spec, "/group");
    let plural = str_at(spec, "/names/plural");
    let builtin = crate::rest::registry::Registry::builtin();
    if builtin
        .all()
        .iter()
        .any(|b| b.group == group && b.plural == plural)
    {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.names.plural",
            format!("Invalid value: \"{plural}\": {plural}.{group} is a built-in resource and cannot be defined by a CustomResourceDefinition"),
        ));
    }
    if group == federation_proto::GROUP {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.group",
            format!("Invalid value: \"{group}\": the {group} group holds Flotilla's own kinds and cannot be defined by a CustomResourceDefinition"),
        ));
    }
    if group.is_empty() {
        causes.push(cause("FieldValueRequired", "spec.group", "Required value"));
    } else if !group.contains('.') {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.group",
            format!("Invalid value: \"{group}\": should be a domain with at least one dot"),
        ));
    }
    for (field, pointer) in [
        ("spec.names.plural", "/names/plural"),
        ("spec.names.kind", "/names/kind"),
    ] {
        if str_at(spec, pointer).is_empty() {
            causes.push(cause("FieldValueRequired", field, "Required value"));
        }
    }
    for (field, pointer) in [
        ("spec.names.plural", "/names/plural"),
        ("spec.names.singular", "/names/singular"),
    ] {
        let value = str_at(spec, pointer);
        if !value.is_empty() && !is_dns1123_label(value).is_empty() {
            causes.push(cause(
                "FieldValueInvalid",
                field,
                format!("Invalid value: \"{value}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"),
            ));
        }
    }
    let name = str_at(crd, "/metadata/name");
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push(cause(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    match str_at(spec, "/scope") {
        "Namespaced" | "Cluster" => {}
        other => causes.push(cause(
            "FieldValueNotSupported",
            "spec.scope",
            format!(
                "Unsupported value: \"{other}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        )),
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            "spec.versions",
            "Required value: must have exactly one version marked as storage version",
        ));
    }
    let storage = versions.iter().filter(|v| v["storage"] == true).count();
    if !versions.is_empty() && storage != 1 {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.versions",
            format!("Invalid value: must have exactly one version marked as storage version (found {storage})"),
        ));
    }
    if !versions.is_empty() && !versions.iter().any(|v| v["served"] == true) {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.versions",
            "Invalid value: must have at least one version marked as served",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        let field = format!("spec.versions[{i}].schema.openAPIV3Schema");
        match v.pointer("/schema/openAPIV3Schema") {
            None | Some(Value::Null) => causes.push(cause(
                "FieldValueRequired",
                &field,
                "Required value: schemas are required",
            )),
            Some(schema) => {
                if schema["type"] != "object" {
                    causes.push(cause(
                        "FieldValueInvalid",
                        &format!("{field}.type"),
                        "Invalid value: must be object at the root",
                    ));
                }
                structural(schema, &field, &mut causes);
            }
        }
    }
    causes
}

/// Every schema node must say its `type` (unless int-or-string or
/// preserve-unknown-fields), as Kubernetes requires of structural schemas.
fn structural(schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    let typed = schema
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    let exempt = schema["x-kubernetes-int-or-string"] == true
        || schema["x-kubernetes-preserve-unknown-fields"] == true;
    if !typed && !exempt {
        causes.push(cause(
            "FieldValueRequired",
            &format!("{path}.type"),
            "Required value: must not be empty for specified object fields",
        ));
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            structural(child, &format!("{path}.properties[{name}]"), causes);
        }
    }
    if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
        structural(items, &format!("{path}.items"), causes);
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        structural(additional, &format!("{path}.additionalProperties"), causes);
    }
}
