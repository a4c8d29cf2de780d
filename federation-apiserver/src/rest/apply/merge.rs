//! Values and field sets: the field set of a value, merging an applied
//! configuration into a live object, comparing two states, and removing
//! paths. Lists follow [`Lists`] (associative by key, set, or atomic).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::fieldset::{field, key_element, value_element, Element, FieldSet, Path};
use super::lists::{key_default, ListKind, Lists};

/// What changed between two states, as field sets.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// Present only in the new state (with everything below them).
    pub added: FieldSet,
    /// Present in both with different values (leaves and atomic lists).
    pub modified: FieldSet,
    /// Present only in the old state (remove the whole subtree).
    pub removed: FieldSet,
}

/// A walk position: the field names (for list semantics) and the path.
struct At<'l> {
    lists: &'l Lists,
    names: Vec<String>,
    path: Path,
}

impl<'l> At<'l> {
    fn new(lists: &'l Lists) -> Self {
        Self {
            lists,
            names: Vec::new(),
            path: Vec::new(),
        }
    }

    fn enter_field(&mut self, name: &str) {
        self.names.push(name.to_string());
        self.path.push(field(name));
    }

    fn leave_field(&mut self) {
        self.names.pop();
        self.path.pop();
    }

    fn list_kind(&self) -> ListKind {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        self.lists.kind(&names)
    }

    /// The list kind of the list here, given its values (on every side):
    /// atomic unless every item has a valid, unique element.
    fn effective_kind(&self, sides: &[&[Value]]) -> ListKind {
        let kind = self.list_kind();
        if kind == ListKind::Atomic {
            return kind;
        }
        for items in sides {
            match elements(&kind, items) {
                Some(_) => {}
                None => return ListKind::Atomic,
            }
        }
        kind
    }
}

/// The element of one list item, if it has one under `kind`.
fn item_element(kind: &ListKind, item: &Value) -> Option<Element> {
    match kind {
        ListKind::Atomic => None,
        ListKind::Set => match item {
            Value::Object(_) | Value::Array(_) | Value::Null => None,
            v => Some(value_element(v)),
        },
        ListKind::Map(keys) => {
            let obj = item.as_object()?;
            let mut fields = Vec::with_capacity(keys.len());
            for k in keys {
                match obj.get(*k) {
                    Some(v) if !v.is_null() => fields.push((*k, v.clone())),
                    _ => fields.push((*k, key_default(k)?)),
                }
            }
            Some(key_element(&fields))
        }
    }
}

/// Every item's element, or `None` when one is missing or repeated.
fn elements(kind: &ListKind, items: &[Value]) -> Option<Vec<Element>> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let e = item_element(kind, item)?;
        if !seen.insert(e.clone()) {
            return None;
        }
        out.push(e);
    }
    Some(out)
}

/// The field set of a value (an object): its leaves, atomic lists, list
/// items, and empty objects.
pub fn to_set(value: &Value, lists: &Lists) -> FieldSet {
    let mut out = FieldSet::new();
    let mut at = At::new(lists);
    if let Value::Object(map) = value {
        object_set(map, &mut at, &mut out);
    }
    out
}

fn object_set(map: &Map<String, Value>, at: &mut At, out: &mut FieldSet) {
    for (k, v) in map {
        at.enter_field(k);
        value_set(v, at, out);
        at.leave_field();
    }
}

/// The set of the value at `at.path` (a field's value).
fn value_set(value: &Value, at: &mut At, out: &mut FieldSet) {
    match value {
        Value::Object(m) if !m.is_empty() => object_set(m, at, out),
        Value::Array(items) => {
            let kind = at.effective_kind(&[items]);
            if kind == ListKind::Atomic {
                out.insert(&at.path);
                return;
            }
            for item in items {
                let e = item_element(&kind, item).expect("checked by effective_kind");
                at.path.push(e);
                out.insert(&at.path);
                if let Value::Object(m) = item {
                    object_set(m, at, out);
                }
                at.path.pop();
            }
        }
        _ => out.insert(&at.path),
    }
}

/// `value` without object fields that are `null` (at any depth).
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        v => v.clone(),
    }
}

/// Merges an applied configuration into a live object: fields set in the
/// configuration win, `null` removes a field, associative lists and sets
/// are merged item by item, atomic lists replaced.
pub fn merge(live: &Value, config: &Value, lists: &Lists) -> Value {
    merge_value(Some(live), config, &mut At::new(lists))
}

fn merge_value(live: Option<&Value>, config: &Value, at: &mut At) -> Value {
    match (live, config) {
        (Some(Value::Object(l)), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    out.remove(k);
                    continue;
                }
                at.enter_field(k);
                let merged = merge_value(l.get(k), cv, at);
                at.leave_field();
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(l)), Value::Array(c)) => merge_list(l, c, at),
        (_, c) => strip_nulls(c),
    }
}

/// Config items keep the config's order; live-only items keep their place
/// relative to the config items around them.
fn merge_list(live: &[Value], config: &[Value], at: &mut At) -> Value {
    let kind = at.effective_kind(&[live, config]);
    let (Some(le), Some(ce)) = (elements(&kind, live), elements(&kind, config)) else {
        return strip_nulls(&Value::Array(config.to_vec()));
    };
    if kind == ListKind::Atomic {
        return strip_nulls(&Value::Array(config.to_vec()));
    }
    let live_index: HashMap<&Element, usize> = le.iter().enumerate().map(|(i, e)| (e, i)).collect();
    let config_index: HashMap<&Element, usize> =
        ce.iter().enumerate().map(|(i, e)| (e, i)).collect();
    let mut out = Vec::with_capacity(live.len() + config.len());
    let mut next = 0;
    let mut emit = |upto: usize, out: &mut Vec<Value>, at: &mut At| {
        while next <= upto && next < config.len() {
            let li = live_index.get(&ce[next]).map(|&i| &live[i]);
            out.push(merge_value(li, &config[next], at));
            next += 1;
        }
    };
    for (i, e) in le.iter().enumerate() {
        match config_index.get(e) {
            Some(&ci) => emit(ci, &mut out, at),
            None => out.push(live[i].clone()),
        }
    }
    emit(config.len(), &mut out, at);
    Value::Array(out)
}

/// Compares two states of an object.
pub fn compare(old: &Value, new: &Value, lists: &Lists) -> Comparison {
    let mut out = Comparison::default();
    let mut at = At::new(lists);
    if let (Value::Object(o), Value::Object(n)) = (old, new) {
        compare_objects(o, n, &mut at, &mut out);
    }
    out
}

fn compare_objects(
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    at: &mut At,
    out: &mut Comparison,
) {
    for (k, ov) in o {
        at.enter_field(k);
        match n.get(k) {
            Some(nv) => compare_values(ov, nv, at, out),
            None => out.removed.insert(&at.path),
        }
        at.leave_field();
    }
    for (k, nv) in n {
        if o.contains_key(k) {
            continue;
        }
        at.enter_field(k);
        add_value(nv, at, out);
        at.leave_field();
    }
}

/// Records `value` at `at.path` as added.
fn add_value(value: &Value, at: &mut At, out: &mut Comparison) {
    let mut set = FieldSet::new();
    value_set(value, at, &mut set);
    out.added.union_with(&set);
}

fn compare_values(ov: &Value, nv: &Value, at: &mut At, out: &mut Comparison) {
    match (ov, nv) {
        (Value::Object(o), Value::Object(n)) if !o.is_empty() && !n.is_empty() => {
            compare_objects(o, n, at, out)
        }
        (Value::Array(o), Value::Array(n)) => {
            let kind = at.effective_kind(&[o, n]);
            // Atomic lists (and lists whose items cannot be told apart, e.g.
            // a set with duplicates) change as a whole.
            let (Some(oe), Some(ne)) = (
                (kind != ListKind::Atomic)
                    .then(|| elements(&kind, o))
                    .flatten(),
                (kind != ListKind::Atomic)
                    .then(|| elements(&kind, n))
                    .flatten(),
            ) else {
                if o != n {
                    out.modified.insert(&at.path);
                }
                return;
            };
            let old_index: HashMap<&Element, usize> =
                oe.iter().enumerate().map(|(i, e)| (e, i)).collect();
            let new_set: HashSet<&Element> = ne.iter().collect();
            for (i, e) in ne.iter().enumerate() {
                at.path.push(e.clone());
                match old_index.get(e) {
                    Some(&oi) => {
                        if let (Value::Object(om), Value::Object(nm)) = (&o[oi], &n[i]) {
                            compare_objects(om, nm, at, out);
                        }
                    }
                    None => {
                        out.added.insert(&at.path);
                        if let Value::Object(m) = &n[i] {
                            let mut set = FieldSet::new();
                            object_set(m, at, &mut set);
                            out.added.union_with(&set);
                        }
                    }
                }
                at.path.pop();
            }
            for e in oe.iter().filter(|e| !new_set.contains(e)) {
                at.path.push(e.clone());
                out.removed.insert(&at.path);
                at.path.pop();
            }
        }
        _ if ov == nv => {}
        _ => {
            if matches!(ov, Value::Object(m) if !m.is_empty())
                || matches!(ov, Value::Array(a) if !a.is_empty())
            {
                out.removed.insert(&at.path);
            }
            let mut set = FieldSet::new();
            value_set(nv, at, &mut set);
            if matches!(nv, Value::Object(m) if !m.is_empty()) || nv.is_array() {
                out.added.union_with(&set);
            } else {
                out.modified.union_with(&set);
            }
        }
    }
}

/// Removes the member paths of `set` (each with everything below it) from
/// `value`. Objects and lists emptied by the removal are removed too.
pub fn remove_paths(value: &mut Value, set: &FieldSet, lists: &Lists) {
    remove_in(value, set, &mut At::new(lists));
}

fn is_empty_container(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.is_empty()) || matches!(v, Value::Array(a) if a.is_empty())
}

fn remove_in(value: &mut Value, set: &FieldSet, at: &mut At) {
    match value {
        Value::Object(map) => {
            for (element, sub) in set.children() {
                let Some(name) = element.strip_prefix("f:") else {
                    continue;
                };
                if sub.is_member() {
                    map.remove(name);
                    continue;
                }
                if let Some(child) = map.get_mut(name) {
                    let was_empty = is_empty_container(child);
                    at.enter_field(name);
                    remove_in(child, sub, at);
                    at.leave_field();
                    if !was_empty && is_empty_container(child) {
                        map.remove(name);
                    }
                }
            }
        }
        Value::Array(items) => {
            let kind = at.effective_kind(&[items]);
            let Some(es) = elements(&kind, items) else {
                return;
            };
            if kind == ListKind::Atomic {
                return;
            }
            let mut kept = Vec::with_capacity(items.len());
            for (mut item, e) in std::mem::take(items).into_iter().zip(es) {
                match set.child(&e) {
                    Some(sub) if sub.is_member() => {}
                    Some(sub) => {
                        remove_in(&mut item, sub, at);
                        kept.push(item);
                    }
                    None => kept.push(item),
                }
            }
            *items = kept;
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
