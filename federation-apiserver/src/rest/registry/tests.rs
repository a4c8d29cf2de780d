use super::*;
use serde_json::json;

#[test]
fn keys_are_scoped() {
    let r = Registry::builtin();
    let cm = r.lookup("", "v1", "configmaps").unwrap();
    assert_eq!(cm.key(Some("default"), "a"), "/core/configmaps/default/a");
    assert_eq!(cm.namespace_prefix(None), "/core/configmaps/");
    let ns = r.lookup("", "v1", "namespaces").unwrap();
    assert_eq!(
        ns.key(Some("ignored"), "kube-system"),
        "/core/namespaces/kube-system"
    );
    let d = r.lookup("apps", "v1", "deployments").unwrap();
    assert_eq!(d.api_version(), "apps/v1");
}

#[test]
fn schema_check_rejects_wrong_types() {
    let r = Registry::builtin();
    let d = r.lookup("apps", "v1", "deployments").unwrap();
    let bad = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},
        "spec":{"replicas":"three","selector":{},"template":{}}});
    assert!(d.schema_check.check(&bad).is_err());
    let good = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},
        "spec":{"replicas":3,"selector":{"matchLabels":{"a":"b"}},"template":{}}});
    assert!(
        d.schema_check.check(&good).is_ok(),
        "{:?}",
        d.schema_check.check(&good)
    );
}
