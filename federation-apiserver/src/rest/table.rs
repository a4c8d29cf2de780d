//! Server-side printing: `meta.k8s.io/v1 Table` answers for `kubectl get`.
//!
//! kubectl asks for tables with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...,application/json`
//! and prints the cells it receives verbatim (columns with `priority > 0`
//! only with `-o wide`; it adds NAMESPACE itself for `-A`).
//!
//! Columns are data: a [`Printer`] is a list of [`Column`]s, each computing
//! one cell from the object's JSON — either with a function (the built-in
//! kinds, see [`printers`]) or from a field path with a CRD-style type
//! ([`Column::field`]), so later kinds register theirs with [`register`].
//! Kinds without a printer get NAME and AGE.
//!
//! Watches that ask for tables get a one-row Table per event; as in
//! kube-apiserver only the first carries `columnDefinitions` (later ones
//! send `null`, and kubectl reuses the columns it already has).

mod cells;
mod member_printers;
mod printers;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use http::{header, StatusCode};
use serde_json::{json, Map, Value};

use super::api::Target;
use super::registry::ResourceType;
use crate::status::ApiError;

/// Computes one cell from an object, given the current time.
pub type CellFn = fn(&Value, DateTime<Utc>) -> Value;

/// Where a column's cells come from.
#[derive(Clone)]
pub enum CellSource {
    /// Computed by a function (built-in printers).
    Computed(CellFn),
    /// A field such as `.spec.replicas`, rendered by the column's type the way
    /// CRD `additionalPrinterColumns` are: `date` as an age, `integer`,
    /// `number`, `boolean` as JSON values, `string` as text; missing → null.
    Field(String),
}

/// One column: its definition (as sent in `columnDefinitions`) and its cells.
#[derive(Clone)]
pub struct Column {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// `name` for the object-name column, otherwise usually empty.
    pub format: String,
    pub description: String,
    /// 0: always shown; 1: only with `-o wide`.
    pub priority: i64,
    pub source: CellSource,
}

impl Column {
    /// A column computed by a function.
    pub fn computed(name: &str, type_: &str, priority: i64, desc: &str, cell: CellFn) -> Self {
        Column {
            name: name.into(),
            type_: type_.into(),
            format: String::new(),
            description: desc.into(),
            priority,
            source: CellSource::Computed(cell),
        }
    }

    /// A column read from a dotted field path (`.status.phase`).
    pub fn field(name: &str, type_: &str, priority: i64, path: &str) -> Self {
        Column {
            name: name.into(),
            type_: type_.into(),
            format: String::new(),
            description: format!("Custom resource definition column (in JSONPath format): {path}"),
            priority,
            source: CellSource::Field(path.into()),
        }
    }

    /// The NAME column.
    pub fn name() -> Self {
        Column {
            format: "name".into(),
            ..Column::computed("Name", "string", 0, "Name of the object.", |o, _| {
                Value::String(meta_str(o, "name").to_string())
            })
        }
    }

    /// The AGE column (time since `metadata.creationTimestamp`).
    pub fn age() -> Self {
        Column::computed(
            "Age",
            "string",
            0,
            "Time since the object was created (metadata.creationTimestamp).",
            |o, now| Value::String(since(o.pointer("/metadata/creationTimestamp"), now)),
        )
    }

    fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }

    fn cell(&self, object: &Value, now: DateTime<Utc>) -> Value {
        match &self.source {
            CellSource::Computed(f) => f(object, now),
            CellSource::Field(path) => {
                let pointer: String = path
                    .trim_start_matches('.')
                    .split('.')
                    .map(|p| format!("/{p}"))
                    .collect();
                let Some(value) = object.pointer(&pointer).filter(|v| !v.is_null()) else {
                    return Value::Null;
                };
                match (self.type_.as_str(), value) {
                    ("date", Value::String(_)) => match parse_time(Some(value)) {
                        Some(t) => Value::String(human_duration(now - t)),
                        None => Value::String("<invalid>".into()),
                    },
                    ("integer", Value::Number(n)) => n
                        .as_i64()
                        .or_else(|| n.as_f64().map(|f| f as i64))
                        .map_or(Value::Null, Value::from),
                    ("number", Value::Number(_))
                    | ("boolean", Value::Bool(_))
                    | ("string", Value::String(_)) => value.clone(),
                    ("string", other) => Value::String(other.to_string()),
                    _ => Value::Null,
                }
            }
        }
    }
}

/// The columns of one kind.
#[derive(Clone)]
pub struct Printer {
    pub columns: Vec<Column>,
}

impl Printer {
    pub fn new(columns: Vec<Column>) -> Self {
        Printer { columns }
    }

    /// NAME and AGE: what kinds without their own columns show.
    pub fn default_columns() -> Self {
        Printer::new(vec![Column::name(), Column::age()])
    }

    /// One row's cells.
    pub fn cells(&self, object: &Value, now: DateTime<Utc>) -> Vec<Value> {
        self.columns.iter().map(|c| c.cell(object, now)).collect()
    }

    pub fn column_definitions(&self) -> Vec<Value> {
        self.columns.iter().map(Column::definition).collect()
    }
}

type PrinterMap = RwLock<HashMap<(String, String), Arc<Printer>>>;

fn printer_map() -> &'static PrinterMap {
    static MAP: OnceLock<PrinterMap> = OnceLock::new();
    MAP.get_or_init(|| {
        let map = printers::builtin()
            .into_iter()
            .chain(member_printers::member())
            .map(|(group, kind, p)| ((group.to_string(), kind.to_string()), Arc::new(p)))
            .collect();
        RwLock::new(map)
    })
}

/// Registers (or replaces) the columns of a kind, e.g. Flotilla's `Cluster`.
pub fn register(group: &str, kind: &str, printer: Printer) {
    let mut map = printer_map().write().unwrap_or_else(|e| e.into_inner());
    map.insert((group.to_string(), kind.to_string()), Arc::new(printer));
}

/// The columns of a kind, NAME and AGE if it has none of its own.
pub fn printer_for(group: &str, kind: &str) -> Arc<Printer> {
    static DEFAULT: OnceLock<Arc<Printer>> = OnceLock::new();
    let map = printer_map().read().unwrap_or_else(|e| e.into_inner());
    map.get(&(group.to_string(), kind.to_string()))
        .cloned()
        .unwrap_or_else(|| {
            DEFAULT
                .get_or_init(|| Arc::new(Printer::default_columns()))
                .clone()
        })
}

/// The columns of a served type: a custom resource's own
/// (`additionalPrinterColumns`, NAME + AGE without any), else the kind's.
pub fn printer_of(rt: &ResourceType) -> Arc<Printer> {
    let Some(columns) = &rt.printer_columns else {
        return printer_for(&rt.group, &rt.kind);
    };
    if columns.is_empty() {
        return Arc::new(Printer::default_columns());
    }
    let mut out = vec![Column::name()];
    for c in columns.iter() {
        let mut column = Column::field(&c.name, &c.type_, c.priority, &c.json_path);
        column.format = c.format.clone();
        if !c.description.is_empty() {
            column.description = c.description.clone();
        }
        out.push(column);
    }
    Arc::new(Printer::new(out))
}

/// What each row's `object` holds (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    /// A `PartialObjectMetadata` (the default).
    Metadata,
    Object,
}

/// A request answered with tables.
#[derive(Clone)]
pub struct TableRequest {
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`.
    pub api_version: &'static str,
    pub include: IncludeObject,
    pub printer: Arc<Printer>,
}

/// The Table version an `Accept` header selects: the first (highest-`q`)
/// media range this server can produce wins; a plain-object range (JSON,
/// protobuf, wildcards) before any Table range means "no table".
pub fn negotiate(accept: Option<&str>) -> Option<&'static str> {
    let mut ranges: Vec<(f32, Option<&'static str>)> = accept?
        .split(',')
        .filter_map(media_range)
        .filter(|(q, _)| *q > 0.0)
        .collect();
    // Stable: equal q-values keep the client's order.
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges.first().and_then(|(_, table)| *table)
}

/// One media range → its `q` and whether it is a Table (with its
/// apiVersion) or a plain object; `None` if this server cannot produce it.
fn media_range(range: &str) -> Option<(f32, Option<&'static str>)> {
    let mut parts = range.split(';').map(str::trim);
    let media_type = parts.next()?.to_ascii_lowercase();
    let (mut q, mut group, mut version, mut kind) = (1.0_f32, None, None, None);
    for param in parts.filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "q" => q = value.parse().unwrap_or(1.0),
            "g" => group = Some(value),
            "v" => version = Some(value),
            "as" => kind = Some(value),
            _ => {}
        }
    }
    let json = matches!(
        media_type.as_str(),
        "application/json" | "application/*" | "*/*"
    );
    let protobuf = media_type == "application/vnd.kubernetes.protobuf";
    match (kind, group, version) {
        (None, _, _) if json || protobuf => Some((q, None)),
        (Some("Table"), Some("meta.k8s.io"), Some("v1")) if json => {
            Some((q, Some("meta.k8s.io/v1")))
        }
        (Some("Table"), Some("meta.k8s.io"), Some("v1beta1")) if json => {
            Some((q, Some("meta.k8s.io/v1beta1")))
        }
        _ => None,
    }
}

/// Whether (and how) this request is answered with tables; validates
/// `includeObject` as kube-apiserver does (400 for unknown values).
pub fn requested(target: &Target) -> Result<Option<TableRequest>, ApiError> {
    let Some(api_version) = negotiate(target.accept.as_deref()) else {
        return Ok(None);
    };
    let include = match target.query.get("includeObject").unwrap_or("") {
        "" | "Metadata" => IncludeObject::Metadata,
        "None" => IncludeObject::None,
        "Object" => IncludeObject::Object,
        other => {
            return Err(ApiError::bad_request(format!(
                "includeObject: Unsupported value: {other:?}: supported values: \"None\", \"Metadata\", \"Object\""
            )))
        }
    };
    Ok(Some(TableRequest {
        api_version,
        include,
        printer: printer_of(&target.rt),
    }))
}

impl TableRequest {
    /// A Table of `objects`; `columnDefinitions` is `null` without `headers`.
    pub fn table(
        &self,
        objects: &[&Value],
        resource_version: String,
        continue_token: Option<String>,
        headers: bool,
        now: DateTime<Utc>,
    ) -> Value {
        let mut metadata = Map::new();
        metadata.insert("resourceVersion".into(), Value::String(resource_version));
        if let Some(token) = continue_token {
            metadata.insert("continue".into(), Value::String(token));
        }
        let rows: Vec<Value> = objects.iter().map(|o| self.row(o, now)).collect();
        let columns = if headers {
            Value::Array(self.printer.column_definitions())
        } else {
            Value::Null
        };
        json!({
            "kind": "Table",
            "apiVersion": self.api_version,
            "metadata": metadata,
            "columnDefinitions": columns,
            "rows": rows,
        })
    }

    fn row(&self, object: &Value, now: DateTime<Utc>) -> Value {
        let mut row = Map::new();
        row.insert(
            "cells".into(),
            Value::Array(self.printer.cells(object, now)),
        );
        match self.include {
            IncludeObject::None => {}
            IncludeObject::Object => {
                row.insert("object".into(), object.clone());
            }
            IncludeObject::Metadata => {
                let metadata = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
                row.insert(
                    "object".into(),
                    json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": self.api_version,
                        "metadata": metadata,
                    }),
                );
            }
        }
        Value::Object(row)
    }

    /// The Table of one object (GET, watch events): its resourceVersion.
    pub fn object_table(&self, object: &Value, headers: bool) -> Value {
        let rv = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.table(&[object], rv, None, headers, Utc::now())
    }

    /// A 200 response holding a Table.
    pub fn response(&self, table: &Value) -> Response {
        let bytes = serde_json::to_vec(table).unwrap_or_default();
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response()
    }
}

pub(crate) fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// An RFC 3339 timestamp (`Time` or `MicroTime`).
pub(crate) fn parse_time(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = value?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Time since a timestamp as kubectl shows it; `<unknown>` when unset.
pub(crate) fn since(value: Option<&Value>, now: DateTime<Utc>) -> String {
    match parse_time(value) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

/// Kubernetes' `duration.HumanDuration`: about 2–3 significant figures
/// (`45s`, `3m20s`, `15m`, `4h10m`, `20h`, `3d5h`, `45d`, `2y30d`, `9y`).
/// Up to 2s in the future reads as `0s` (clock skew); further is `<invalid>`.
pub fn human_duration(d: TimeDelta) -> String {
    // Whole seconds, truncated toward zero like Go's int(d.Seconds()).
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

#[cfg(test)]
mod cell_tests;
#[cfg(test)]
mod tests;
