//! The [`SchemaSource`] for custom resources: each type carrying a CRD's
//! structural schema is published as one component named by
//! [`custom_name`], with `apiVersion`, `kind` and a typed `metadata` (as
//! kube-apiserver does), so `kubectl explain` and client-side validation
//! see the CRD's fields. Everything else comes from [`BuiltinSchemas`].

use std::collections::HashMap;

use serde_json::{json, Value};

use super::schemas::{
    copy_closure, custom_name, gvk, permissive_schema, BuiltinSchemas, KindSchema, SchemaSource,
    Schemas, OBJECT_META,
};
use crate::rest::registry::{Registry, ResourceType};

/// Schemas of the registry's custom resources, falling back to the built-ins.
pub struct CustomSchemas {
    components: Schemas,
    /// (group, version, kind) → component name.
    kinds: HashMap<(String, String, String), String>,
}

impl CustomSchemas {
    pub fn new(registry: &Registry) -> Self {
        let mut components = Schemas::new();
        let mut kinds = HashMap::new();
        for rt in registry.all() {
            let Some(schema) = rt.schema_check.structural() else {
                continue;
            };
            let name = custom_name(&rt.group, &rt.version, &rt.kind);
            components.insert(name.clone(), kind_schema(rt, schema));
            kinds.insert(
                (rt.group.clone(), rt.version.clone(), rt.kind.clone()),
                name,
            );
        }
        if !kinds.is_empty() {
            copy_closure(
                OBJECT_META,
                BuiltinSchemas::get().components(),
                &mut components,
            );
        }
        CustomSchemas { components, kinds }
    }
}

/// A CRD schema as a component: typed `metadata`, `apiVersion`/`kind`, GVK.
fn kind_schema(rt: &ResourceType, schema: &Value) -> Value {
    let mut out = schema.clone();
    if !out.is_object() {
        out = json!({"type": "object"});
    }
    let (_, permissive) = permissive_schema(rt);
    let properties = out
        .as_object_mut()
        .expect("an object")
        .entry("properties")
        .or_insert_with(|| json!({}));
    if let Some(properties) = properties.as_object_mut() {
        for field in ["apiVersion", "kind", "metadata"] {
            properties.insert(field.into(), permissive["properties"][field].clone());
        }
    }
    out["x-kubernetes-group-version-kind"] = gvk(&rt.group, &rt.version, &rt.kind);
    out
}

impl SchemaSource for CustomSchemas {
    fn kind_schema(&self, rt: &ResourceType) -> Option<KindSchema<'_>> {
        match self
            .kinds
            .get(&(rt.group.clone(), rt.version.clone(), rt.kind.clone()))
        {
            Some(name) => Some(KindSchema {
                name,
                components: &self.components,
            }),
            None => BuiltinSchemas::get().kind_schema(rt),
        }
    }
}
