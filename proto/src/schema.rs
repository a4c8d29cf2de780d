//! Schema helpers for fields that hold arbitrary JSON.

use schemars::{json_schema, Schema, SchemaGenerator};

/// Any JSON value (a structural schema's `x-kubernetes-preserve-unknown-fields`).
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"x-kubernetes-preserve-unknown-fields": true, "nullable": true})
}
