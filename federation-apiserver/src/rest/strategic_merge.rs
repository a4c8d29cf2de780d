//! Strategic merge patch (`application/strategic-merge-patch+json`), with
//! Kubernetes' semantics, driven by the per-kind metadata of [`patch_meta`].
//!
//! - Objects merge key by key; `null` deletes a key.
//! - Lists with a merge key merge element-wise; `{"$patch": "delete", KEY: V}`
//!   removes an element, `{"$patch": "replace"}` makes the remaining patch
//!   elements the whole list. Elements are ordered by
//!   `$setElementOrder/FIELD` when present; otherwise the patch's elements
//!   keep the patch's relative order, the others the live order, and the two
//!   are interleaved by the live order — so, as in Kubernetes, an element new
//!   to the list lands before the live elements that follow the patched ones.
//! - Lists of primitives with the `merge` strategy are unions (same
//!   ordering); `$deleteFromPrimitiveList/FIELD` removes values.
//! - Other lists (and every list without metadata) are replaced.
//! - On an object: `$patch: replace` replaces it, `$patch: delete` empties it,
//!   `$retainKeys` drops the keys it does not list before merging (keys it
//!   lists that the patch does not hold are kept; a patch key it does not
//!   list is a 400).
//! - `$patch: merge` is refused, as by Kubernetes' apimachinery: on a list
//!   element "merging lists cannot yet be specified in the patch", on an
//!   object "unknown patch type: merge in map". (kube-apiserver passes
//!   those two through as unclassified errors, i.e. 500s; they are client
//!   errors, so this server answers 400 with the same words.)
//!
//! Values the patch adds where the live object has nothing are merged into
//! nothing, so their directives are applied and their nulls dropped: no
//! directive ever reaches storage. Client input never panics: malformed
//! directives are [`SmpError::BadRequest`] (400), patches that do not fit
//! the object are [`SmpError::Invalid`] (422).
//!
//! [`patch_meta`]: super::patch_meta

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::patch_meta::{Field, Schema, Strategy};
use crate::status::ApiError;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVES: &str = "$deleteFromPrimitiveList/";

/// Why a strategic merge patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// The patch itself is malformed (a bad directive): 400.
    #[error("{0}")]
    BadRequest(String),
    /// The patch does not fit the object (wrong types, lists of lists): 422.
    #[error("{0}")]
    Invalid(String),
}

impl From<SmpError> for ApiError {
    fn from(e: SmpError) -> Self {
        match e {
            SmpError::BadRequest(m) => {
                ApiError::bad_request(format!("invalid strategic merge patch: {m}"))
            }
            SmpError::Invalid(m) => ApiError::new(
                422,
                "Invalid",
                format!("the strategic merge patch could not be applied: {m}"),
            ),
        }
    }
}

fn bad(path: &str, msg: impl std::fmt::Display) -> SmpError {
    SmpError::BadRequest(format!("{}: {msg}", show(path)))
}

fn invalid(path: &str, msg: impl std::fmt::Display) -> SmpError {
    SmpError::Invalid(format!("{}: {msg}", show(path)))
}

/// An object whose `$patch` is neither `replace` nor `delete` (Kubernetes'
/// `ErrBadPatchType` wording, with the object as JSON).
fn unknown_patch(path: &str, directive: &Value, object: &Map<String, Value>) -> SmpError {
    let shown = match directive {
        Value::String(d) => d.clone(),
        other => other.to_string(),
    };
    bad(
        path,
        format!(
            "unknown patch type: {shown} in map: {}: $patch must be \"replace\" or \"delete\"",
            Value::Object(object.clone())
        ),
    )
}

/// Kubernetes' wording for `$patch: merge` on a list element.
const MERGING_LISTS: &str = "merging lists cannot yet be specified in the patch";

/// Kubernetes' `ErrBadPatchFormatForRetainKeys` wording.
const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";

fn show(path: &str) -> &str {
    if path.is_empty() {
        "<root>"
    } else {
        path
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Applies `patch` to `original`. `schema` is the kind's metadata
/// ([`super::patch_meta::for_kind`]); `None` merges like a JSON merge patch
/// (lists replaced) while still honouring map directives.
pub fn apply(
    original: &Value,
    patch: &Value,
    schema: Option<&'static Schema>,
) -> Result<Value, SmpError> {
    let patch = patch
        .as_object()
        .ok_or_else(|| bad("", "a strategic merge patch must be a JSON object"))?;
    let original = match original {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    merge_map(original, patch, schema, "").map(Value::Object)
}

/// JSON values are equal, numbers compared by value (`80` == `80.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A hashable form of a value that agrees with [`same`]: numbers by their
/// `f64` value (so `80` matches `80.0`), everything else by its JSON.
fn canon(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("n:{:x}", n.as_f64().unwrap_or(f64::NAN).to_bits()),
        other => other.to_string(),
    }
}

/// Positions of a list's elements by identity (first occurrence wins), so
/// lookups inside loops are O(1) instead of a scan each: big lists (20k
/// finalizers, say) merge in linear time.
struct Positions(HashMap<String, usize>);

impl Positions {
    fn of(list: &[Value], id: Ident) -> Self {
        let mut map = HashMap::with_capacity(list.len());
        for (i, x) in list.iter().enumerate() {
            if let Some(k) = id.of(x) {
                map.entry(canon(k)).or_insert(i);
            }
        }
        Positions(map)
    }

    fn get(&self, id: Ident, v: &Value) -> Option<usize> {
        id.of(v).and_then(|k| self.0.get(&canon(k)).copied())
    }
}

fn field_of(schema: Option<&'static Schema>, key: &str) -> Option<&'static Field> {
    schema.and_then(|s| s.field(key))
}

fn strategy(field: Option<&Field>) -> Strategy {
    field.map_or(Strategy::Default, |f| f.strategy)
}

fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Option<&'static Schema>,
    path: &str,
) -> Result<Map<String, Value>, SmpError> {
    match patch.get(PATCH) {
        None => {}
        Some(Value::String(d)) if d == "delete" => return Ok(Map::new()),
        Some(Value::String(d)) if d == "replace" => {
            let mut rest = patch.clone();
            rest.remove(PATCH);
            return merge_map(Map::new(), &rest, schema, path);
        }
        // `merge` included: Kubernetes accepts only these two on an object.
        Some(d) => return Err(unknown_patch(path, d, patch)),
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        retain_keys(&mut original, patch, retain, path)?;
    }
    // Lists ordered by $setElementOrder are merged (with their patch list) first.
    let mut ordered: Vec<&str> = Vec::new();
    for (key, order) in patch {
        if let Some(field) = key.strip_prefix(SET_ORDER) {
            set_element_order(&mut original, patch, field, order, schema, path)?;
            ordered.push(field);
        }
    }
    for (key, value) in patch {
        if key == PATCH || key == RETAIN_KEYS || key.starts_with(SET_ORDER) {
            continue;
        }
        if ordered.contains(&key.as_str()) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_PRIMITIVES) {
            delete_from_primitive_list(&mut original, field, value, path)?;
            continue;
        }
        if key.starts_with('$') {
            return Err(bad(path, format!("unknown directive {key:?}")));
        }
        if value.is_null() {
            original.remove(key);
            continue;
        }
        let at = child(path, key);
        let field = field_of(schema, key);
        let merged = match (original.remove(key), value) {
            (Some(Value::Object(o)), Value::Object(p)) if strategy(field) != Strategy::Replace => {
                Value::Object(merge_map(o, p, field.and_then(|f| f.schema), &at)?)
            }
            (Some(Value::Array(o)), Value::Array(p)) => Value::Array(merge_list(o, p, field, &at)?),
            (_, value) => fresh(value, field, &at)?,
        };
        original.insert(key.clone(), merged);
    }
    Ok(original)
}

/// A patch value with nothing to merge into: merged into nothing, so its
/// directives are applied and its nulls dropped.
fn fresh(value: &Value, field: Option<&'static Field>, path: &str) -> Result<Value, SmpError> {
    Ok(match value {
        Value::Object(p) => Value::Object(merge_map(
            Map::new(),
            p,
            field.and_then(|f| f.schema),
            path,
        )?),
        Value::Array(p) => Value::Array(merge_list(Vec::new(), p, field, path)?),
        v => v.clone(),
    })
}

fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
    path: &str,
) -> Result<(), SmpError> {
    let not_names = || {
        bad(
            path,
            format!("{BAD_RETAIN_KEYS}: $retainKeys must be a list of field names"),
        )
    };
    let list = retain.as_array().ok_or_else(not_names)?;
    let mut keys = Vec::with_capacity(list.len());
    for k in list {
        keys.push(k.as_str().ok_or_else(not_names)?);
    }
    // Every field the patch sets must be retained; fields retained that
    // the patch does not set keep their live value.
    for (k, v) in patch {
        if v.is_null() || k.starts_with('$') {
            continue;
        }
        if !keys.contains(&k.as_str()) {
            return Err(bad(
                path,
                format!("{BAD_RETAIN_KEYS}: {k:?} is in the patch but not in $retainKeys"),
            ));
        }
    }
    original.retain(|k, _| keys.contains(&k.as_str()));
    Ok(())
}

fn delete_from_primitive_list(
    original: &mut Map<String, Value>,
    field: &str,
    value: &Value,
    path: &str,
) -> Result<(), SmpError> {
    let at = child(path, field);
    if field.is_empty() {
        return Err(bad(path, "$deleteFromPrimitiveList/ needs a field name"));
    }
    let remove = value
        .as_array()
        .ok_or_else(|| bad(&at, "$deleteFromPrimitiveList must be a list"))?;
    if let Some(Value::Array(live)) = original.get_mut(field) {
        let remove: HashSet<String> = remove.iter().map(canon).collect();
        live.retain(|v| !remove.contains(&canon(v)));
    }
    Ok(())
}

/// How elements of one list are identified for matching and ordering.
#[derive(Clone, Copy)]
enum Ident {
    /// By the value of this key (lists of objects with a merge key).
    Key(&'static str),
    /// By the whole value (primitives, and lists without a merge key).
    Whole,
}

impl Ident {
    fn of(self, v: &Value) -> Option<&Value> {
        match self {
            Ident::Key(k) => v.get(k),
            Ident::Whole => Some(v),
        }
    }
}

fn ident(field: Option<&Field>) -> Ident {
    match strategy(field) {
        Strategy::MergeByKey(k) => Ident::Key(k),
        _ => Ident::Whole,
    }
}

/// `$setElementOrder/FIELD`: merges FIELD's patch list (if any), then
/// orders the result: listed elements in the listed order, the others
/// (server-only) in their live order, interleaved by the live order.
fn set_element_order(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    field: &str,
    order: &Value,
    schema: Option<&'static Schema>,
    path: &str,
) -> Result<(), SmpError> {
    if field.is_empty() {
        return Err(bad(path, "$setElementOrder/ needs a field name"));
    }
    let at = child(path, field);
    let order = order
        .as_array()
        .ok_or_else(|| bad(&at, "$setElementOrder must be a list"))?;
    let meta = field_of(schema, field);
    let id = ident(meta);
    let live = match original.get(field) {
        None => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(_) => return Err(invalid(&at, "$setElementOrder applies to lists only")),
    };
    let patch_list = match patch.get(field) {
        None => None,
        Some(Value::Array(a)) => Some(a),
        Some(_) => {
            return Err(bad(
                &at,
                "a list with $setElementOrder must be a list in the patch",
            ))
        }
    };
    if let Ident::Key(key) = id {
        for item in order {
            if item.get(key).is_none() {
                return Err(bad(
                    &at,
                    format!("every $setElementOrder element needs the merge key {key:?}"),
                ));
            }
        }
    }
    if let Some(p) = patch_list {
        validate_order(p, order, id, &at)?;
    }
    let merged = match (live.clone(), patch_list) {
        (Some(live), None) => live,
        (live, Some(p)) => merge_list(live.unwrap_or_default(), p, meta, &at)?,
        (None, None) => return Ok(()),
    };
    let live = live.unwrap_or_default();
    let (patched, server_only): (Vec<Value>, Vec<Value>) = merged.into_iter().partition({
        let order = Positions::of(order, id);
        move |v| order.get(id, v).is_some()
    });
    let patched = sort_by(patched, order, id);
    let server_only = sort_by(server_only, &live, id);
    original.insert(
        field.to_string(),
        Value::Array(interleave(server_only, patched, &live, id)),
    );
    Ok(())
}

/// Every (non-directive) patch element must appear in `$setElementOrder`, in
/// the same relative order.
fn validate_order(patch: &[Value], order: &[Value], id: Ident, path: &str) -> Result<(), SmpError> {
    let items: Vec<&Value> = patch
        .iter()
        .filter(|v| !matches!(id, Ident::Key(_)) || v.get(PATCH).is_none())
        .collect();
    let (mut p, mut o) = (0, 0);
    while p < items.len() && o < order.len() {
        let matches = match (id.of(items[p]), id.of(&order[o])) {
            (Some(a), Some(b)) => same(a, b),
            _ => return Err(bad(path, "a list element is missing its merge key")),
        };
        if matches {
            p += 1;
        }
        o += 1;
    }
    if p < items.len() {
        return Err(bad(
            path,
            "the order of the patch list does not match its $setElementOrder list",
        ));
    }
    Ok(())
}

/// Stable sort of `items` by their position in `order` (unlisted last).
fn sort_by(mut items: Vec<Value>, order: &[Value], id: Ident) -> Vec<Value> {
    let order = Positions::of(order, id);
    items.sort_by_key(|v| order.get(id, v).unwrap_or(usize::MAX));
    items
}

/// Merges the server-only and the patched elements (each already sorted):
/// a server-only element goes first only if both are live and it comes
/// first in the live list; otherwise the patched element goes first.
fn interleave(left: Vec<Value>, right: Vec<Value>, live: &[Value], id: Ident) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let live = Positions::of(live, id);
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (live.get(id, l), live.get(id, r)) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// Merges a patch list into a live list according to the field's strategy.
fn merge_list(
    live: Vec<Value>,
    patch: &[Value],
    field: Option<&'static Field>,
    path: &str,
) -> Result<Vec<Value>, SmpError> {
    match strategy(field) {
        Strategy::MergeByKey(key) => {
            merge_keyed(live, patch, key, field.and_then(|f| f.schema), path)
        }
        Strategy::MergeSet => merge_set(live, patch, path),
        Strategy::Default | Strategy::Replace => Ok(patch
            .iter()
            .filter(|v| !is_marker(v, "replace"))
            .cloned()
            .collect()),
    }
}

/// `{"$patch": D}` and nothing else.
fn is_marker(v: &Value, directive: &str) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 1 && m.get(PATCH).and_then(Value::as_str) == Some(directive))
}

fn merge_keyed(
    mut live: Vec<Value>,
    patch: &[Value],
    key: &'static str,
    elem: Option<&'static Schema>,
    path: &str,
) -> Result<Vec<Value>, SmpError> {
    if live.is_empty() && patch.is_empty() {
        return Ok(live);
    }
    let id = Ident::Key(key);
    // The patch's elements (path, element, merge key value), directives aside.
    let mut items: Vec<(String, &Map<String, Value>, &Value)> = Vec::with_capacity(patch.len());
    let mut replace = false;
    for (i, element) in patch.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Value::Object(m) = element else {
            return Err(invalid(
                &at,
                format!("the list is merged by {key:?}: its elements must be objects"),
            ));
        };
        let directive = m.get(PATCH);
        match directive {
            Some(Value::String(d)) if d == "replace" => replace = true,
            Some(Value::String(d)) if d == "merge" => return Err(bad(&at, MERGING_LISTS)),
            None | Some(Value::String(_)) => {
                let value = m.get(key).ok_or_else(|| {
                    bad(&at, format!("the element is missing its merge key {key:?}"))
                })?;
                match directive.and_then(Value::as_str) {
                    None => items.push((at, m, value)),
                    Some("delete") => live.retain(|v| !v.get(key).is_some_and(|v| same(v, value))),
                    Some(_) => return Err(unknown_patch(&at, &m[PATCH], m)),
                }
            }
            Some(d) => return Err(unknown_patch(&at, d, m)),
        }
    }
    if replace {
        live.clear();
    }
    if let Some(i) = live.iter().position(|v| !v.is_object()) {
        return Err(invalid(
            &format!("{path}[{i}]"),
            format!("the list is merged by {key:?}: its elements must be objects"),
        ));
    }
    let key_only = |v: &Value| json!({ key: v });
    let live_order: Vec<Value> = live
        .iter()
        .map(|v| v.get(key).map_or(Value::Null, key_only))
        .collect();
    let patch_order: Vec<Value> = items.iter().map(|(_, _, v)| key_only(v)).collect();
    let mut positions = Positions::of(&live, Ident::Key(key));
    for (at, item, value) in items {
        match positions.0.get(&canon(value)).copied() {
            Some(pos) => {
                let current = match std::mem::take(&mut live[pos]) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                live[pos] = Value::Object(merge_map(current, item, elem, &at)?);
            }
            None => {
                positions.0.insert(canon(value), live.len());
                live.push(Value::Object(merge_map(Map::new(), item, elem, &at)?));
            }
        }
    }
    let (patched, server_only): (Vec<Value>, Vec<Value>) = live.into_iter().partition({
        let patched = Positions::of(&patch_order, id);
        move |v| patched.get(id, v).is_some()
    });
    let patched = sort_by(patched, &patch_order, id);
    Ok(interleave(server_only, patched, &live_order, id))
}

fn merge_set(live: Vec<Value>, patch: &[Value], path: &str) -> Result<Vec<Value>, SmpError> {
    if live.is_empty() && patch.is_empty() {
        return Ok(live);
    }
    let kind = |v: &Value| match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    };
    let first = kind(live.first().or(patch.first()).expect("not both empty"));
    for v in live.iter().chain(patch) {
        match kind(v) {
            4 => return Err(invalid(path, "lists of lists cannot be merged")),
            5 => return Err(invalid(path, "a list of primitives cannot hold objects")),
            k if k != first => {
                return Err(invalid(path, "the list's elements are not all of one type"))
            }
            _ => {}
        }
    }
    let mut merged: Vec<Value> = Vec::with_capacity(live.len() + patch.len());
    let mut seen = HashSet::with_capacity(live.len() + patch.len());
    for v in live.iter().chain(patch) {
        if seen.insert(canon(v)) {
            merged.push(v.clone());
        }
    }
    let (patched, server_only): (Vec<Value>, Vec<Value>) = merged.into_iter().partition({
        let in_patch: HashSet<String> = patch.iter().map(canon).collect();
        move |v| in_patch.contains(&canon(v))
    });
    let patched = sort_by(patched, patch, Ident::Whole);
    Ok(interleave(server_only, patched, &live, Ident::Whole))
}

#[cfg(test)]
#[path = "strategic_merge_tests.rs"]
mod tests;
