//! `metadata.managedFields`: who owns which fields, and how a write moves
//! ownership.
//!
//! An entry is identified by manager, operation (`Apply` | `Update`) and
//! subresource — and, for `Update`, apiVersion (as in Kubernetes). Entries
//! whose field set becomes empty are dropped; entries are kept sorted like
//! Kubernetes sorts them (Apply first, then by time, manager, apiVersion,
//! subresource).

use serde_json::{json, Map, Value};

use super::fieldset::{path_string, FieldSet, Path};
use super::lists::Lists;
use super::merge::{compare, to_set, Comparison};

pub const APPLY: &str = "Apply";
pub const UPDATE: &str = "Update";

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub set: FieldSet,
}

impl Entry {
    fn is(&self, op: &Op, operation: &str) -> bool {
        self.manager == op.manager
            && self.operation == operation
            && self.subresource.as_deref() == op.subresource
            && (operation == APPLY || self.api_version == op.api_version)
    }

    /// The manager as Kubernetes names it in conflicts: `"a"` for an
    /// applier, `"b" using apps/v1` for an updater.
    pub fn describe(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == UPDATE {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    fn decode(v: &Value) -> Option<Entry> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Entry {
            manager: s("manager").unwrap_or_default(),
            operation: s("operation")?,
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").filter(|s| !s.is_empty()),
            set: FieldSet::from_fields_v1(v.get("fieldsV1")?).ok()?,
        })
    }

    fn encode(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), json!(s));
        }
        Value::Object(m)
    }
}

/// Who is writing, and how.
pub struct Op<'a> {
    pub manager: &'a str,
    /// `apps/v1` (`v1` for the core group).
    pub api_version: &'a str,
    pub subresource: Option<&'a str>,
    pub lists: &'a Lists,
    /// The time written into changed entries.
    pub now: &'a str,
}

/// The entries of an object (invalid entries and empty sets are skipped).
pub fn decode(object: &Value) -> Vec<Entry> {
    object
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Entry::decode)
                .filter(|e| !e.set.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `entries` (sorted) into `metadata.managedFields`; none removes it.
pub fn store(object: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(Entry::encode).collect()),
        );
    }
}

/// The object without the fields nobody owns: apiVersion, kind and the
/// server-owned metadata (name, uid, resourceVersion, managedFields...).
pub fn owned_view(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in [
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "generation",
                "managedFields",
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                meta.remove(f);
            }
            if meta.is_empty() {
                map.remove("metadata");
            }
        }
    }
    copy
}

fn changes(live: &Value, new: &Value, lists: &Lists) -> Comparison {
    compare(&owned_view(live), &owned_view(new), lists)
}

/// Records a non-apply write (create, update, patch) of `live` to `new` by
/// `op.manager` as an `Update` entry: the fields it changed become its own
/// and are taken from every other manager; removed fields leave every set.
///
/// The base is the managedFields the client sent in `new` when it sent a
/// non-empty list (a client may rewrite them; `[{}]` clears them), else
/// the live object's.
pub fn record_update(op: &Op, live: Option<&Value>, new: &mut Value) {
    let sent = new
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let mut entries = match (sent, live) {
        (true, _) | (false, None) => decode(new),
        (false, Some(live)) => decode(live),
    };
    let empty = json!({});
    let cmp = changes(live.unwrap_or(&empty), new, op.lists);
    let changed = cmp.modified.union(&cmp.added);
    let mut mine = None;
    for (i, e) in entries.iter_mut().enumerate() {
        if e.is(op, UPDATE) {
            mine = Some(i);
            e.set = e.set.recursive_difference(&cmp.removed).union(&changed);
        } else {
            e.set = e
                .set
                .difference(&changed)
                .recursive_difference(&cmp.removed);
        }
    }
    if !changed.is_empty() {
        match mine {
            Some(i) => entries[i].time = Some(op.now.to_string()),
            None => entries.push(Entry {
                manager: op.manager.to_string(),
                operation: UPDATE.into(),
                api_version: op.api_version.to_string(),
                time: Some(op.now.to_string()),
                subresource: op.subresource.map(str::to_string),
                set: changed,
            }),
        }
    }
    cap_updates(&mut entries);
    store(new, entries);
}

/// At most this many `Update` entries are kept (as in Kubernetes).
pub const MAX_UPDATE_ENTRIES: usize = 10;
/// The manager the oldest `Update` entries are merged into beyond the cap.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// Merges the oldest `Update` entries, per apiVersion, into an
/// `ancient-changes` entry until at most [`MAX_UPDATE_ENTRIES`] remain.
fn cap_updates(entries: &mut Vec<Entry>) {
    let mut updates: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == UPDATE)
        .collect();
    if updates.len() <= MAX_UPDATE_ENTRIES {
        return;
    }
    updates.sort_by(|&a, &b| entries[a].time.cmp(&entries[b].time));
    let mut count = updates.len();
    // apiVersion → the entry that is (or becomes) its bucket.
    let mut buckets: std::collections::HashMap<String, usize> = updates
        .iter()
        .filter(|&&i| entries[i].manager == ANCIENT_CHANGES && entries[i].subresource.is_none())
        .map(|&i| (entries[i].api_version.clone(), i))
        .collect();
    let mut removed = std::collections::HashSet::new();
    for &i in &updates {
        if count <= MAX_UPDATE_ENTRIES {
            break;
        }
        match buckets.get(&entries[i].api_version) {
            Some(&b) if b == i => {}
            Some(&b) => {
                let (set, time) = (entries[i].set.clone(), entries[i].time.clone());
                let bucket = &mut entries[b];
                bucket.manager = ANCIENT_CHANGES.into();
                bucket.subresource = None;
                bucket.set.union_with(&set);
                bucket.time = time.max(bucket.time.take());
                removed.insert(i);
                count -= 1;
            }
            None => {
                buckets.insert(entries[i].api_version.clone(), i);
            }
        }
    }
    let mut index = 0;
    entries.retain(|_| {
        index += 1;
        !removed.contains(&(index - 1))
    });
}

/// The first half of an apply: the applier's new set (from the applied
/// configuration) replaces its old one, the configuration is merged into
/// the live object, and fields the applier set last time but no longer
/// sets — and nobody else owns — are removed.
pub fn plan_apply(op: &Op, live: &Value, config: &Value) -> (Value, Vec<Entry>) {
    let mut entries = decode(live);
    let config_set = to_set(&owned_view(config), op.lists);
    let last = match entries.iter_mut().find(|e| e.is(op, APPLY)) {
        Some(e) => std::mem::replace(&mut e.set, config_set),
        None => {
            entries.push(Entry {
                manager: op.manager.to_string(),
                operation: APPLY.into(),
                api_version: op.api_version.to_string(),
                time: None,
                subresource: op.subresource.map(str::to_string),
                set: config_set,
            });
            FieldSet::new()
        }
    };
    let mut merged = super::merge::merge(live, config, op.lists);
    let owned = entries.iter().fold(FieldSet::new(), |mut acc, e| {
        acc.union_with(&e.set);
        acc
    });
    let prune = last.difference(&owned);
    if !prune.is_empty() {
        super::merge::remove_paths(&mut merged, &prune, op.lists);
    }
    (merged, entries)
}

/// Fields another manager owns that an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// [`Entry::describe`] of the owner.
    pub manager: String,
    pub path: Path,
}

/// The second half of an apply, once `new` is the object to store:
/// conflicts (fields other managers own that the apply changes) fail the
/// apply unless `force` (or `allowed` covers them: see the last-applied
/// upgrade in `mod.rs`); otherwise they move to the applier.
pub fn finish_apply(
    op: &Op,
    live: &Value,
    new: &mut Value,
    mut entries: Vec<Entry>,
    force: bool,
    allowed: Option<&FieldSet>,
) -> Result<(), Vec<Conflict>> {
    let cmp = changes(live, new, op.lists);
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    let mut conflict_set = FieldSet::new();
    for e in entries.iter().filter(|e| !e.is(op, APPLY)) {
        let c = e.set.intersection(&changed);
        for path in c.paths() {
            conflicts.push(Conflict {
                manager: e.describe(),
                path,
            });
        }
        conflict_set.union_with(&c);
    }
    let excused = allowed.is_some_and(|a| conflict_set.difference(a).is_empty());
    if !force && !conflicts.is_empty() && !excused {
        return Err(conflicts);
    }
    let object_changed = !cmp.added.is_empty()
        || !cmp.modified.is_empty()
        || !cmp.removed.is_empty()
        || without_managed(live) != without_managed(new);
    for e in entries.iter_mut() {
        if e.is(op, APPLY) {
            if object_changed || e.time.is_none() {
                e.time = Some(op.now.to_string());
            }
            e.api_version = op.api_version.to_string();
        } else {
            e.set = e
                .set
                .difference(&changed)
                .recursive_difference(&cmp.removed);
        }
    }
    store(new, entries);
    Ok(())
}

fn without_managed(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    c
}

/// Kubernetes' conflict message.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager,
            path_string(&c.path)
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", path_string(&c.path)));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

#[cfg(test)]
#[path = "managed_fields_tests.rs"]
mod tests;
