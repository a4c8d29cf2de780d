use super::*;
use serde_json::json;

#[test]
fn last_applied_upgrade_allows_unchanged_fields() {
    let lists = Lists::for_kind("apps", "v1", "Deployment");
    let la = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web"}, "spec": {"replicas": 1, "paused": false}});
    let live = json!({"metadata": {"name": "web", "annotations": {LAST_APPLIED: la.to_string()}},
                      "spec": {"replicas": 1, "paused": true}});
    let allowed = last_applied_allowed("kubectl", &live, &lists).unwrap();
    let paths: Vec<String> = allowed
        .paths()
        .iter()
        .map(|p| fieldset::path_string(p))
        .collect();
    assert_eq!(paths, vec![".spec.replicas"]);
    assert!(last_applied_allowed("other", &live, &lists).is_none());

    let mut new = live.clone();
    sync_last_applied(
        "kubectl",
        &live,
        &json!({"spec": {"replicas": 2}}),
        &mut new,
    );
    let text = new["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .unwrap();
    assert_eq!(text, "{\"spec\":{\"replicas\":2}}\n");
}
