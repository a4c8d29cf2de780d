//! Field sets: the sets of field paths a manager owns, and their `FieldsV1`
//! JSON form (`{"f:spec":{"f:replicas":{}}}`).
//!
//! A path is a list of path elements, each kept in its `FieldsV1` spelling:
//! - `f:NAME` — a field of an object,
//! - `k:{"name":"a"}` — an item of an associative list, by its key fields
//!   (JSON with the fields sorted by name),
//! - `v:"x"` — an item of a set (a list of scalars), by its value,
//! - `i:3` — a list item by index (decoded, never produced here).
//!
//! The set is a tree: a node is a *member* when its path itself is owned;
//! a node may also only be the prefix of owned paths. In `FieldsV1` a member
//! without children is `{}`, a member with children carries `".": {}`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One path element in `FieldsV1` spelling (`f:spec`, `k:{...}`, `v:...`).
pub type Element = String;
/// A path from the object root.
pub type Path = Vec<Element>;

/// The element of the field `name`.
pub fn field(name: &str) -> Element {
    format!("f:{name}")
}

/// The element of an associative list item with these key fields.
pub fn key_element(keys: &[(&str, Value)]) -> Element {
    let mut sorted: Vec<&(&str, Value)> = keys.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut map = Map::new();
    for (k, v) in sorted {
        map.insert((*k).to_string(), v.clone());
    }
    // serde_json maps are sorted by key unless `preserve_order` is on; the
    // insertion order above is sorted either way.
    format!("k:{}", Value::Object(map))
}

/// The element of a set item.
pub fn value_element(value: &Value) -> Element {
    format!("v:{value}")
}

/// A path as Kubernetes prints it: `.spec.containers[name="a"].image`.
pub fn path_string(path: &[Element]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = element.strip_prefix("k:") {
            let fields = match serde_json::from_str::<Value>(key) {
                Ok(Value::Object(map)) => map
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => key.to_string(),
            };
            out.push_str(&format!("[{fields}]"));
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[={value}]"));
        } else if let Some(index) = element.strip_prefix("i:") {
            out.push_str(&format!("[{index}]"));
        } else {
            out.push_str(element);
        }
    }
    out
}

/// A set of paths, as a tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<Element, FieldSet>,
}

impl FieldSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding the one path.
    pub fn of(path: &[Element]) -> Self {
        let mut set = Self::new();
        set.insert(path);
        set
    }

    /// No path at all (invariant: no empty child nodes are kept).
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    /// Whether the path at this node itself is in the set.
    pub fn is_member(&self) -> bool {
        self.member
    }

    pub fn children(&self) -> &BTreeMap<Element, FieldSet> {
        &self.children
    }

    pub fn child(&self, element: &str) -> Option<&FieldSet> {
        self.children.get(element)
    }

    pub fn insert(&mut self, path: &[Element]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Adds `sub` under `prefix`.
    pub fn insert_set(&mut self, prefix: &[Element], sub: &FieldSet) {
        if sub.is_empty() {
            return;
        }
        match prefix.split_first() {
            None => self.union_with(sub),
            Some((first, rest)) => self
                .children
                .entry(first.clone())
                .or_default()
                .insert_set(rest, sub),
        }
    }

    pub fn contains(&self, path: &[Element]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Adds every path of `other`, in place (no copy of `self`: adding many
    /// small sets one by one stays linear).
    pub fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, v) in &other.children {
            match self.children.get_mut(k) {
                Some(mine) => mine.union_with(v),
                None => {
                    self.children.insert(k.clone(), v.clone());
                }
            }
        }
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (k, v) in &other.children {
            let merged = match out.children.get(k) {
                Some(mine) => mine.union(v),
                None => v.clone(),
            };
            out.children.insert(k.clone(), merged);
        }
        out
    }

    /// The paths of `self` that are not in `other` (path by path).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, v) in &self.children {
            let rest = match other.children.get(k) {
                Some(o) => v.difference(o),
                None => v.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(k.clone(), rest);
            }
        }
        out
    }

    /// Like [`difference`](Self::difference), but a member of `other` also
    /// removes every path below it.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        if other.member {
            return FieldSet::new();
        }
        let mut out = FieldSet {
            member: self.member,
            children: BTreeMap::new(),
        };
        for (k, v) in &self.children {
            let rest = match other.children.get(k) {
                Some(o) => v.recursive_difference(o),
                None => v.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(k.clone(), rest);
            }
        }
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, v) in &self.children {
            if let Some(o) = other.children.get(k) {
                let both = v.intersection(o);
                if !both.is_empty() {
                    out.children.insert(k.clone(), both);
                }
            }
        }
        out
    }

    /// Every member path, in tree order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, v) in &self.children {
            prefix.push(k.clone());
            v.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` JSON of this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, v) in &self.children {
            map.insert(k.clone(), v.to_fields_v1());
        }
        Value::Object(map)
    }

    /// Decodes `FieldsV1` JSON.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        let mut set = FieldSet::new();
        set.decode_into(value, true)?;
        Ok(set)
    }

    fn decode_into(&mut self, value: &Value, root: bool) -> Result<(), String> {
        let map = value
            .as_object()
            .ok_or_else(|| format!("expected an object in fieldsV1, got {value}"))?;
        if map.is_empty() && !root {
            self.member = true;
        }
        for (k, v) in map {
            if k == "." {
                self.member = true;
                continue;
            }
            let valid = match k.split_at_checked(2) {
                Some(("f:", _)) => true,
                Some(("k:", rest)) => {
                    serde_json::from_str::<Value>(rest).is_ok_and(|v| v.is_object())
                }
                Some(("v:", rest)) => serde_json::from_str::<Value>(rest).is_ok(),
                Some(("i:", rest)) => rest.parse::<usize>().is_ok(),
                _ => false,
            };
            if !valid {
                return Err(format!("invalid fieldsV1 path element {k:?}"));
            }
            let mut child = FieldSet::new();
            child.decode_into(v, false)?;
            if !child.is_empty() {
                self.children.insert(k.clone(), child);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(elements: &[&str]) -> Path {
        elements.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fields_v1_round_trip() {
        let v1 = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:containers": {
                    "k:{\"name\":\"a\"}": {".": {}, "f:image": {}, "f:name": {}}
                }
            },
            "f:finalizers": {"v:\"x\"": {}, "v:\"y\"": {}}
        });
        let set = FieldSet::from_fields_v1(&v1).unwrap();
        assert!(set.contains(&p(&["f:metadata", "f:labels", "f:app"])));
        assert!(!set.contains(&p(&["f:metadata", "f:labels"])));
        assert!(set.contains(&p(&["f:spec", "f:containers", "k:{\"name\":\"a\"}"])));
        assert!(set.contains(&p(&["f:finalizers", "v:\"y\""])));
        assert_eq!(set.paths().len(), 7);
        assert_eq!(set.to_fields_v1(), v1);
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:notjson": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({})).unwrap().is_empty());
    }

    #[test]
    fn key_and_value_elements() {
        let k = key_element(&[("protocol", json!("TCP")), ("containerPort", json!(80))]);
        assert_eq!(k, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}");
        assert_eq!(value_element(&json!("a")), "v:\"a\"");
        assert_eq!(
            path_string(&p(&[
                "f:spec",
                "f:containers",
                &key_element(&[("name", json!("a"))]),
                "f:image"
            ])),
            ".spec.containers[name=\"a\"].image"
        );
        assert_eq!(
            path_string(&p(&["f:metadata", "f:finalizers", "v:\"x\""])),
            ".metadata.finalizers[=\"x\"]"
        );
    }

    #[test]
    fn set_algebra() {
        let a = FieldSet::from_fields_v1(&json!({"f:spec": {"f:replicas": {}, "f:paused": {}}}))
            .unwrap();
        let b =
            FieldSet::from_fields_v1(&json!({"f:spec": {"f:replicas": {}, "f:x": {}}})).unwrap();
        assert_eq!(
            a.intersection(&b),
            FieldSet::of(&p(&["f:spec", "f:replicas"]))
        );
        assert_eq!(a.difference(&b), FieldSet::of(&p(&["f:spec", "f:paused"])));
        assert_eq!(a.union(&b).paths().len(), 3);
        let whole = FieldSet::of(&p(&["f:spec"]));
        assert_eq!(a.difference(&whole), a, "difference is path by path");
        assert!(a.recursive_difference(&whole).is_empty());
        let mut c = FieldSet::new();
        c.insert_set(&p(&["f:spec"]), &FieldSet::of(&p(&["f:x"])));
        assert!(c.contains(&p(&["f:spec", "f:x"])));
    }
}
