//! Per-type behaviour carried by a [`ResourceType`](super::registry::ResourceType)
//! that is data rather than code, so that types created at run time (custom
//! resources) can carry it: the schema, the `/scale` field paths and the
//! table columns.

use std::sync::Arc;

use serde_json::Value;

use super::crd_schema;
use crate::status::Cause;

/// Validates an object of one kind by decoding it into its typed form.
/// Returns a human-readable description of the first schema error.
pub type SchemaCheck = fn(&Value) -> Result<(), String>;

/// Checks beyond the typed decode, as causes (e.g. CRD-specific rules).
pub type ExtraCheck = fn(&Value) -> Vec<Cause>;

/// How objects of a type are validated.
#[derive(Debug, Clone)]
pub enum Schema {
    /// Decode into the k8s-openapi type (built-in kinds).
    Builtin(SchemaCheck),
    /// Decode, then further checks reported as causes.
    BuiltinWith(SchemaCheck, ExtraCheck),
    /// A CRD's structural `openAPIV3Schema`: pruned with
    /// [`crd_schema::prune`], validated with [`crd_schema::validate`].
    Structural(Arc<Value>),
    /// A structural schema, then further checks (Flotilla's own kinds:
    /// rules a schema cannot say, such as "an https URL").
    StructuralWith(Arc<Value>, ExtraCheck),
}

impl Schema {
    /// The first schema problem of `obj`, as one message (`Ok` if none).
    pub fn check(&self, obj: &Value) -> Result<(), String> {
        match self {
            Schema::Builtin(check) => check(obj),
            Schema::BuiltinWith(check, extra) => {
                check(obj)?;
                match extra(obj).into_iter().next() {
                    Some(cause) => Err(format!("{}: {}", cause.field, cause.message)),
                    None => Ok(()),
                }
            }
            Schema::Structural(schema) => {
                match crd_schema::validate(obj, schema).into_iter().next() {
                    Some(cause) => Err(format!("{}: {}", cause.field, cause.message)),
                    None => Ok(()),
                }
            }
            Schema::StructuralWith(schema, extra) => {
                let causes = crd_schema::validate(obj, schema);
                match causes
                    .into_iter()
                    .next()
                    .or_else(|| extra(obj).into_iter().next())
                {
                    Some(cause) => Err(format!("{}: {}", cause.field, cause.message)),
                    None => Ok(()),
                }
            }
        }
    }

    /// Every schema problem of `obj` as causes, when the schema can name
    /// them (`None`: use [`Schema::check`]'s single message).
    pub fn causes(&self, obj: &Value) -> Option<Vec<Cause>> {
        match self {
            Schema::Builtin(_) => None,
            Schema::BuiltinWith(check, extra) => match check(obj) {
                Ok(()) => Some(extra(obj)),
                Err(_) => None,
            },
            Schema::Structural(schema) => Some(crd_schema::validate(obj, schema)),
            Schema::StructuralWith(schema, extra) => {
                let causes = crd_schema::validate(obj, schema);
                Some(if causes.is_empty() {
                    extra(obj)
                } else {
                    causes
                })
            }
        }
    }

    /// The structural schema, for custom resources.
    pub fn structural(&self) -> Option<&Arc<Value>> {
        match self {
            Schema::Structural(schema) | Schema::StructuralWith(schema, _) => Some(schema),
            _ => None,
        }
    }
}

/// Where `/scale` reads and writes its fields (dotted JSON paths, `.spec.replicas`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    /// A `metav1.LabelSelector` object or a selector string; `None`: no selector.
    pub label_selector: Option<String>,
}

impl Default for ScalePaths {
    /// The built-in workloads' paths.
    fn default() -> Self {
        ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".spec.selector".into()),
        }
    }
}

/// A JSON pointer for a dotted path (`.spec.replicas` → `/spec/replicas`).
pub fn pointer(path: &str) -> String {
    let mut out = String::new();
    for step in path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
    {
        out.push('/');
        out.push_str(&step.replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// The value at a dotted path.
pub fn get_path<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    object.pointer(&pointer(path))
}

/// Sets the value at a dotted path, creating objects on the way.
pub fn set_path(object: &mut Value, path: &str, value: Value) {
    let steps: Vec<&str> = path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect();
    let mut current = object;
    for (i, step) in steps.iter().enumerate() {
        if !current.is_object() {
            *current = Value::Object(Default::default());
        }
        let map = current.as_object_mut().expect("made an object above");
        if i + 1 == steps.len() {
            map.insert(step.to_string(), value);
            return;
        }
        current = map
            .entry(step.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

/// One `additionalPrinterColumns` entry of a CRD version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_and_write() {
        let mut o = json!({"spec": {}});
        set_path(&mut o, ".spec.replicas", json!(3));
        set_path(&mut o, ".status.count", json!(1));
        assert_eq!(get_path(&o, ".spec.replicas"), Some(&json!(3)));
        assert_eq!(o["status"]["count"], 1);
        assert_eq!(pointer(".a.b/c"), "/a/b~1c");
    }
}
