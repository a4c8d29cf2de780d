use serde_json::{json, Value};

use super::controller::names_conflict;
use super::*;
use crate::rest::registry::Registry;

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}, "color": {"type": "string"}}},
                     "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}},
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                 "additionalPrinterColumns": [{"name": "Color", "type": "string", "jsonPath": ".spec.color"}]},
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1alpha1", "served": false, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object"}}}
            ]
        }
    })
}

#[test]
fn crd_becomes_one_type_per_served_version() {
    let types = resource_types(&widget_crd());
    assert_eq!(types.len(), 2);
    let v1 = &types[0];
    assert_eq!(
        (v1.group.as_str(), v1.version.as_str()),
        ("example.com", "v1")
    );
    assert_eq!(v1.kind, "Widget");
    assert_eq!(v1.singular, "widget");
    assert_eq!(v1.list_kind(), "WidgetList");
    assert_eq!(v1.short_names, vec!["wd"]);
    assert_eq!(v1.categories, vec!["all"]);
    assert!(v1.namespaced && v1.has_status && v1.has_scale);
    assert_eq!(v1.scale_paths.spec_replicas, ".spec.replicas");
    assert_eq!(v1.scale_paths.label_selector, None);
    assert_eq!(
        v1.printer_columns.as_ref().unwrap()[0].json_path,
        ".spec.color"
    );
    assert!(v1.schema_check.structural().is_some());
    assert_eq!(v1.crd.as_deref(), Some("widgets.example.com"));
    assert_eq!(v1.key(Some("ns"), "a"), types[1].key(Some("ns"), "a"));
    assert!(!types[1].has_status && !types[1].has_scale);
}

#[test]
fn structural_schema_validates_with_causes() {
    let rt = &resource_types(&widget_crd())[0];
    let bad = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "a", "namespace": "default"}, "spec": {"replicas": "three"}});
    let causes = rt.schema_check.causes(&bad).unwrap();
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].field, "spec.replicas");
    let err =
        crate::rest::validation::validate_object(rt, &bad, Some("default"), None).unwrap_err();
    assert_eq!(err.code, 422);
}

#[test]
fn valid_crd_passes() {
    assert_eq!(validate_crd(&widget_crd()), vec![]);
}

#[test]
fn crd_checks_name_versions_scope_and_schema() {
    let mut crd = widget_crd();
    crd["metadata"]["name"] = json!("wrong.example.com");
    crd["spec"]["scope"] = json!("Galaxy");
    crd["spec"]["versions"][1]["storage"] = json!(true);
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["color"] = json!({"description": "no type"});
    crd["spec"]["versions"][2]["schema"] = Value::Null;
    let fields: Vec<String> = validate_crd(&crd).into_iter().map(|c| c.field).collect();
    assert!(fields.contains(&"metadata.name".to_string()), "{fields:?}");
    assert!(fields.contains(&"spec.scope".to_string()), "{fields:?}");
    assert!(fields.contains(&"spec.versions".to_string()), "{fields:?}");
    assert!(
        fields.contains(
            &"spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[color].type"
                .to_string()
        ),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"spec.versions[2].schema.openAPIV3Schema".to_string()),
        "{fields:?}"
    );

    let mut none_served = widget_crd();
    for v in none_served["spec"]["versions"].as_array_mut().unwrap() {
        v["served"] = json!(false);
    }
    assert!(validate_crd(&none_served)
        .iter()
        .any(|c| c.message.contains("served")));
}

#[test]
fn names_conflict_with_served_types() {
    let registry = Registry::builtin();
    assert_eq!(
        names_conflict(&registry, &resource_types(&widget_crd())),
        None
    );
    let mut crd = widget_crd();
    crd["spec"]["group"] = json!("apps");
    crd["spec"]["names"]["plural"] = json!("deployments");
    assert!(names_conflict(&registry, &resource_types(&crd)).is_some());
}

#[test]
fn a_crd_cannot_claim_a_built_in_resource() {
    let mut crd = widget_crd();
    crd["metadata"]["name"] = serde_json::json!("leases.coordination.k8s.io");
    crd["spec"]["group"] = serde_json::json!("coordination.k8s.io");
    crd["spec"]["names"]["plural"] = serde_json::json!("leases");
    let causes = validate_crd(&crd);
    assert!(
        causes
            .iter()
            .any(|c| c.field == "spec.names.plural" && c.message.contains("built-in")),
        "{causes:?}"
    );
}
