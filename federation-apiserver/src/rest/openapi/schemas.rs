//! Schemas of the served kinds, as OpenAPI 3 `components.schemas`.
//!
//! Built-in kinds take their schemas (with Kubernetes' descriptions and
//! component names such as `io.k8s.api.apps.v1.Deployment`) from
//! k8s-openapi's `schemars` implementations, generated once on first use for
//! every kind in [`BUILTIN_KINDS`]. Where a kind's schema comes from is the
//! [`SchemaSource`] trait, so custom resources (whose schema a CRD carries)
//! and Flotilla's own kinds can plug in their own; a served kind no source
//! knows gets [`permissive_schema`] (any fields, but typed `metadata`).

use std::collections::HashMap;
use std::sync::OnceLock;

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v1 as autoscaling_v1, autoscaling::v2 as autoscaling,
    batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
    policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use k8s_openapi::schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::rest::registry::ResourceType;

/// Component schemas by name (`io.k8s.api.apps.v1.Deployment` → schema).
pub type Schemas = Map<String, Value>;

/// The `$ref` prefix of component schemas.
pub const REF_PREFIX: &str = "#/components/schemas/";

/// Component names of the shared `meta/v1` types the documents reference.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// `autoscaling/v1 Scale`, the body of every `/scale` subresource.
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

/// A `$ref` to a component schema.
pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

/// One kind's schema as a source provides it.
#[derive(Debug, Clone, Copy)]
pub struct KindSchema<'a> {
    /// Component name of the kind's schema.
    pub name: &'a str,
    /// Components holding `name` and everything it references (it may hold more).
    pub components: &'a Schemas,
}

/// Where kinds' schemas come from.
pub trait SchemaSource: Send + Sync {
    /// The schema of `rt`'s kind, if this source knows it.
    fn kind_schema(&self, rt: &ResourceType) -> Option<KindSchema<'_>>;
}

/// A built-in kind with a k8s-openapi schema.
struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    /// Adds the kind's schema (and its references) to the generator; returns its name.
    add: fn(&mut SchemaGenerator) -> String,
}

fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

macro_rules! builtins {
    ($($group:literal $version:literal $kind:ident => $ty:ty;)*) => {
        &[$(Builtin { group: $group, version: $version, kind: stringify!($kind), add: add::<$ty> },)*]
    };
}

/// Every built-in kind whose schema is known (a superset of what is served).
const BUILTIN_KINDS: &[Builtin] = builtins! {
    "" "v1" Namespace => core::Namespace;
    "" "v1" ConfigMap => core::ConfigMap;
    "" "v1" Secret => core::Secret;
    "" "v1" Service => core::Service;
    "" "v1" ServiceAccount => core::ServiceAccount;
    "" "v1" Event => core::Event;
    "" "v1" Pod => core::Pod;
    "" "v1" PodTemplate => core::PodTemplate;
    "" "v1" Node => core::Node;
    "" "v1" Endpoints => core::Endpoints;
    "" "v1" PersistentVolume => core::PersistentVolume;
    "" "v1" PersistentVolumeClaim => core::PersistentVolumeClaim;
    "" "v1" ReplicationController => core::ReplicationController;
    "" "v1" ResourceQuota => core::ResourceQuota;
    "" "v1" LimitRange => core::LimitRange;
    "apps" "v1" Deployment => apps::Deployment;
    "apps" "v1" StatefulSet => apps::StatefulSet;
    "apps" "v1" DaemonSet => apps::DaemonSet;
    "apps" "v1" ReplicaSet => apps::ReplicaSet;
    "apps" "v1" ControllerRevision => apps::ControllerRevision;
    "batch" "v1" Job => batch::Job;
    "batch" "v1" CronJob => batch::CronJob;
    "networking.k8s.io" "v1" Ingress => networking::Ingress;
    "networking.k8s.io" "v1" IngressClass => networking::IngressClass;
    "networking.k8s.io" "v1" NetworkPolicy => networking::NetworkPolicy;
    "policy" "v1" PodDisruptionBudget => policy::PodDisruptionBudget;
    "autoscaling" "v1" HorizontalPodAutoscaler => autoscaling_v1::HorizontalPodAutoscaler;
    "autoscaling" "v1" Scale => autoscaling_v1::Scale;
    "autoscaling" "v2" HorizontalPodAutoscaler => autoscaling::HorizontalPodAutoscaler;
    "coordination.k8s.io" "v1" Lease => coordination::Lease;
    "discovery.k8s.io" "v1" EndpointSlice => discovery::EndpointSlice;
    "events.k8s.io" "v1" Event => events::Event;
    "rbac.authorization.k8s.io" "v1" Role => rbac::Role;
    "rbac.authorization.k8s.io" "v1" RoleBinding => rbac::RoleBinding;
    "rbac.authorization.k8s.io" "v1" ClusterRole => rbac::ClusterRole;
    "rbac.authorization.k8s.io" "v1" ClusterRoleBinding => rbac::ClusterRoleBinding;
    "scheduling.k8s.io" "v1" PriorityClass => scheduling::PriorityClass;
    "storage.k8s.io" "v1" StorageClass => storage::StorageClass;
    "apiextensions.k8s.io" "v1" CustomResourceDefinition => apiextensions::CustomResourceDefinition;
};

/// The schemas of every built-in kind in [`BUILTIN_KINDS`].
#[derive(Debug)]
pub struct BuiltinSchemas {
    components: Schemas,
    /// (group, version, kind) → component name.
    kinds: HashMap<(String, String, String), String>,
}

impl BuiltinSchemas {
    /// The process-wide schemas, generated on first use.
    pub fn get() -> &'static BuiltinSchemas {
        static SCHEMAS: OnceLock<BuiltinSchemas> = OnceLock::new();
        SCHEMAS.get_or_init(BuiltinSchemas::generate)
    }

    fn generate() -> BuiltinSchemas {
        let mut generator = SchemaSettings::openapi3().into_generator();
        let mut kinds: HashMap<(String, String, String), String> = HashMap::new();
        for b in BUILTIN_KINDS {
            let name = (b.add)(&mut generator);
            kinds.insert((b.group.into(), b.version.into(), b.kind.into()), name);
        }
        for support in [
            add::<meta::Status>,
            add::<meta::DeleteOptions>,
            add::<meta::Patch>,
            add::<meta::ListMeta>,
        ] {
            support(&mut generator);
        }
        let mut components = generator.take_definitions(true);
        for ((group, version, kind), name) in &kinds {
            if let Some(Value::Object(schema)) = components.get_mut(name) {
                schema.insert(
                    "x-kubernetes-group-version-kind".into(),
                    gvk(group, version, kind),
                );
            }
            let (list_name, list) = list_schema(group, version, kind, name);
            components.insert(list_name, list);
        }
        if let Some(Value::Object(status)) = components.get_mut(STATUS) {
            status.insert(
                "x-kubernetes-group-version-kind".into(),
                gvk("", "v1", "Status"),
            );
        }
        if let Some(Value::Object(patch)) = components.get_mut(PATCH) {
            // A Patch body is any JSON; schemars describes it as an empty object.
            patch.insert("type".into(), json!("object"));
        }
        BuiltinSchemas { components, kinds }
    }

    /// Every generated component schema.
    pub fn components(&self) -> &Schemas {
        &self.components
    }

    /// The component name of a built-in kind's schema.
    pub fn name_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .map(String::as_str)
    }
}

impl SchemaSource for BuiltinSchemas {
    fn kind_schema(&self, rt: &ResourceType) -> Option<KindSchema<'_>> {
        let name = self.name_of(&rt.group, &rt.version, &rt.kind)?;
        Some(KindSchema {
            name,
            components: &self.components,
        })
    }
}

/// `x-kubernetes-group-version-kind` of a schema: a list with one GVK.
pub fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!([{ "group": group, "version": version, "kind": kind }])
}

/// Component name of a kind that has no built-in schema, in Kubernetes'
/// style for custom resources: the group reversed (`flotilla.io` → `io.flotilla`).
pub fn custom_name(group: &str, version: &str, kind: &str) -> String {
    let group = if group.is_empty() { "core" } else { group };
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The `{Kind}List` schema of a kind (named like the kind's, plus `List`).
pub fn list_schema(group: &str, version: &str, kind: &str, item: &str) -> (String, Value) {
    let list_kind = format!("{kind}List");
    let schema = json!({
        "description": format!("{list_kind} is a list of {kind} objects."),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": type_meta_field("apiVersion"),
            "kind": type_meta_field("kind"),
            "items": {
                "description": format!("Items is the list of {kind} objects."),
                "type": "array",
                "items": reference(item),
            },
            "metadata": {
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "allOf": [reference(LIST_META)],
            },
        },
        "x-kubernetes-group-version-kind": gvk(group, version, &list_kind),
    });
    (format!("{item}List"), schema)
}

/// The schema of a served kind no source knows: `apiVersion`, `kind` and a
/// typed `metadata`; any other field is kept (`x-kubernetes-preserve-unknown-fields`).
pub fn permissive_schema(rt: &ResourceType) -> (String, Value) {
    let name = custom_name(&rt.group, &rt.version, &rt.kind);
    let schema = json!({
        "description": format!("{} ({}): no schema is published for this kind; any fields are accepted.", rt.kind, rt.api_version()),
        "type": "object",
        "properties": {
            "apiVersion": type_meta_field("apiVersion"),
            "kind": type_meta_field("kind"),
            "metadata": {
                "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
                "allOf": [reference(OBJECT_META)],
            },
        },
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-group-version-kind": gvk(&rt.group, &rt.version, &rt.kind),
    });
    (name, schema)
}

fn type_meta_field(field: &str) -> Value {
    let description = match field {
        "apiVersion" => "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
        _ => "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
    };
    json!({ "description": description, "type": "string" })
}

/// The component name a `$ref` points to (`None` for other references).
pub fn ref_name(reference: &str) -> Option<&str> {
    reference.strip_prefix(REF_PREFIX)
}

/// Adds to `out` the schema `name` and, transitively, every component it
/// references, taking them from `from` (names already in `out` are kept).
pub fn copy_closure(name: &str, from: &Schemas, out: &mut Schemas) {
    let mut pending = vec![name.to_string()];
    while let Some(name) = pending.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(schema) = from.get(&name) else {
            continue;
        };
        collect_refs(schema, &mut pending);
        out.insert(name, schema.clone());
    }
}

/// Every component name referenced anywhere inside `value`.
pub fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.extend(ref_name(r).map(str::to_string)),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
