//! List semantics for apply: which lists are associative (merged item by
//! item, keyed by merge keys), sets (lists of scalars merged by value), and
//! atomic (replaced whole, owned as one field).
//!
//! Built-in kinds follow their patch metadata ([`patch_meta`], shared with
//! strategic merge patch): `patchMergeKey` lists are associative (ports
//! keyed by port and protocol, as their `x-kubernetes-list-map-keys`),
//! merge lists of primitives are sets, everything else atomic. Custom kinds
//! — with no schema here — have only `metadata`'s lists (finalizers set,
//! ownerReferences by uid) and `status.conditions` (by type), and treat
//! every other list as atomic, which is what a structural CRD schema
//! without `x-kubernetes-list-type` means.

use crate::rest::patch_meta::{self, Schema, Strategy};

/// How a list is merged and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole; owned as one field.
    Atomic,
    /// Items are scalars, unique by value (`v:` elements).
    Set,
    /// Items are objects, unique by these key fields (`k:` elements).
    Map(Vec<&'static str>),
}

/// The list semantics of the lists of one kind.
#[derive(Debug, Clone, Copy)]
pub struct Lists {
    schema: Option<&'static Schema>,
}

impl Lists {
    /// The lists of a kind: built-in kinds follow their patch metadata
    /// ([`patch_meta`]); any other kind has only the lists every object has.
    pub fn for_kind(group: &str, version: &str, kind: &str) -> Self {
        Self {
            schema: patch_meta::for_kind(group, version, kind),
        }
    }

    /// A kind whose lists (beyond `metadata`) are all atomic.
    pub fn schemaless() -> Self {
        Self { schema: None }
    }

    /// The kind of the list at `names` (the field names from the root, list
    /// items skipped: `["spec","template","spec","containers"]`).
    pub fn kind(&self, names: &[&str]) -> ListKind {
        let field = match self.schema {
            Some(schema) => patch_meta::lookup(schema, &names.join(".")),
            None => match names {
                // Conditions keyed by type, as Kubernetes' and Flotilla's
                // own types declare them (items without a type: atomic).
                ["status", "conditions"] => return ListKind::Map(vec!["type"]),
                ["metadata", rest @ ..] if !rest.is_empty() => {
                    patch_meta::lookup(&patch_meta::OBJECT_META, &rest.join("."))
                }
                _ => None,
            },
        };
        match field.map(|f| f.strategy) {
            // Server-side apply keys ports by port *and* protocol.
            Some(Strategy::MergeByKey(key)) if names.last() == Some(&"ports") => {
                ListKind::Map(vec![key, "protocol"])
            }
            Some(Strategy::MergeByKey(key)) => ListKind::Map(vec![key]),
            Some(Strategy::MergeSet) => ListKind::Set,
            _ => ListKind::Atomic,
        }
    }
}

/// A key field's value when an item leaves it out, for keys that have a
/// default (`protocol` is `TCP`).
pub fn key_default(field: &str) -> Option<serde_json::Value> {
    (field == "protocol").then(|| serde_json::Value::String("TCP".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_and_custom_lists() {
        let b = Lists::for_kind("apps", "v1", "Deployment");
        assert_eq!(
            b.kind(&["spec", "template", "spec", "containers"]),
            ListKind::Map(vec!["name"])
        );
        assert_eq!(
            b.kind(&["spec", "template", "spec", "containers", "ports"]),
            ListKind::Map(vec!["containerPort", "protocol"])
        );
        assert_eq!(
            b.kind(&["spec", "template", "spec", "containers", "args"]),
            ListKind::Atomic
        );
        assert_eq!(b.kind(&["metadata", "finalizers"]), ListKind::Set);
        let c = Lists::schemaless();
        assert_eq!(c.kind(&["spec", "containers"]), ListKind::Atomic);
        assert_eq!(c.kind(&["metadata", "finalizers"]), ListKind::Set);
        assert_eq!(c.kind(&["metadata"]), ListKind::Atomic);
        assert_eq!(
            c.kind(&["status", "conditions"]),
            ListKind::Map(vec!["type"])
        );
        assert_eq!(c.kind(&[]), ListKind::Atomic);
    }
}
