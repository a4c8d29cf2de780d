//! `fieldValidation` for fields repeated within one JSON object of a
//! request body, as kube-apiserver's strict decoder treats them:
//!
//! - `Strict`: 400 `KIND in version "V" cannot be handled as a KIND: strict
//!   decoding error: duplicate field "data"` on create, update and apply
//!   (422 `Invalid` on the field `patch` for merge and strategic merge
//!   patches), nothing stored;
//! - `Warn` (the default): accepted, one `Warning: 299 - "duplicate field
//!   \"data\""` header per repeated field;
//! - `Ignore`: accepted silently; the last occurrence wins.
//!
//! Repeated and unknown fields are one Strict error (all strict decoding
//! errors in one message, repeats first), and Warn warns about both; a
//! repeat of a field that is itself unknown is reported as unknown only,
//! as Kubernetes' typed decoder does. Unknown fields in a patch under
//! Strict are a 422 on `patch` too, as in kube-apiserver.
//!
//! Bodies are sent raw (serde cannot write a repeated key), and through
//! `kubectl create --raw`, which sends a file's bytes as they are (a plain
//! `kubectl create -f` decodes the file first, so it never repeats a field).

use flotilla_e2e::{kubectl_at, ApiServer, HttpResponse, Https};
use serde_json::json;

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

/// A ConfigMap body whose `data` appears twice.
fn repeated_data(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"a":"1"}},"data":{{"b":"2"}}}}"#
    )
}

fn post(h: &Https, query: &str, body: &str) -> HttpResponse {
    h.request(
        "POST",
        &format!("{CONFIGMAPS}{query}"),
        Some("application/json"),
        body.as_bytes(),
    )
    .expect("POST")
}

fn warnings(r: &HttpResponse) -> Vec<String> {
    r.headers
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .collect()
}

/// What the server does today with every mode's "accept" half: the body is
/// decoded with the last occurrence winning (Kubernetes' `Ignore`).
#[test]
fn repeated_fields_with_ignore_keep_the_last_occurrence() {
    let server = ApiServer::start().unwrap();
    let h = server.https();
    let r = post(&h, "?fieldValidation=Ignore", &repeated_data("ignored"));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["data"], json!({"b": "2"}), "{}", r.text());
    assert!(warnings(&r).is_empty(), "{:?}", r.headers);
    let stored = h.get(&format!("{CONFIGMAPS}/ignored")).unwrap().json();
    assert_eq!(stored["data"], json!({"b": "2"}));
    // Repeats at any depth, in a list element too.
    let body = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","name":"web"},
        "spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
            "spec":{"containers":[{"name":"c","image":"a","image":"b"}]}}}}"#;
    let r = h
        .request(
            "POST",
            "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Ignore",
            Some("application/json"),
            body.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let d = r.json();
    assert_eq!(d["metadata"]["name"], "web");
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "b");
}

/// Strict refuses, Warn warns, Ignore accepts — on create, update and patch.
#[test]
fn repeated_fields_follow_field_validation() {
    let server = ApiServer::start().unwrap();
    let h = server.https();

    // Strict: 400 with Kubernetes' words, nothing stored.
    let r = post(&h, "?fieldValidation=Strict", &repeated_data("strict"));
    assert_eq!(r.status, 400, "{}", r.text());
    let status = r.json();
    assert_eq!(status["reason"], "BadRequest", "{status}");
    assert_eq!(
        status["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data""#
    );
    assert_eq!(
        h.get(&format!("{CONFIGMAPS}/strict")).unwrap().status,
        404,
        "a refused create was stored"
    );

    // Warn, explicit and by default: stored (last wins) with a warning.
    for (query, name) in [("?fieldValidation=Warn", "warned"), ("", "default-mode")] {
        let r = post(&h, query, &repeated_data(name));
        assert_eq!(r.status, 201, "{query}: {}", r.text());
        assert_eq!(r.json()["data"], json!({"b": "2"}));
        assert_eq!(
            warnings(&r),
            [r#"299 - "duplicate field \"data\"""#],
            "{query}: {:?}",
            r.headers
        );
    }

    // Ignore: stored, silently.
    let r = post(&h, "?fieldValidation=Ignore", &repeated_data("ignored"));
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(warnings(&r).is_empty(), "{:?}", r.headers);

    // Update (PUT) with a repeated nested field.
    let current = h.get(&format!("{CONFIGMAPS}/warned")).unwrap().json();
    let rv = current["metadata"]["resourceVersion"].as_str().unwrap();
    let put = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"warned","resourceVersion":"{rv}"}},"data":{{"k":"1","k":"2"}}}}"#
    );
    let r = h
        .request(
            "PUT",
            &format!("{CONFIGMAPS}/warned?fieldValidation=Strict"),
            Some("application/json"),
            put.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text()
            .contains(r#"strict decoding error: duplicate field \"data.k\""#),
        "{}",
        r.text()
    );
    let r = h
        .request(
            "PUT",
            &format!("{CONFIGMAPS}/warned?fieldValidation=Warn"),
            Some("application/json"),
            put.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"], json!({"k": "2"}));
    assert_eq!(warnings(&r), [r#"299 - "duplicate field \"data.k\"""#]);

    // Merge patch: Strict is a 422 on `patch`, nothing changes.
    let before = h.get(&format!("{CONFIGMAPS}/warned")).unwrap().json();
    let r = h
        .request(
            "PATCH",
            &format!("{CONFIGMAPS}/warned?fieldValidation=Strict"),
            Some("application/merge-patch+json"),
            br#"{"data":{"x":"1"},"data":{"y":"2"}}"#,
        )
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains(r#"duplicate field \"data\""#),
        "{}",
        r.text()
    );
    assert_eq!(
        h.get(&format!("{CONFIGMAPS}/warned")).unwrap().json(),
        before
    );

    // kubectl prints the Status its way.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("repeated.json");
    std::fs::write(&file, repeated_data("via-kubectl")).unwrap();
    let out = kubectl_at(
        "kubectl",
        &server.kubeconfig(),
        &[
            "create",
            "--raw",
            &format!("{CONFIGMAPS}?fieldValidation=Strict"),
            "-f",
            &file.display().to_string(),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        r#"Error from server (BadRequest): ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data""#
    );
}

fn request(h: &Https, method: &str, path: &str, content_type: &str, body: &str) -> HttpResponse {
    h.request(method, path, Some(content_type), body.as_bytes())
        .expect(method)
}

/// Repeated and unknown fields are one Strict error; Warn warns about
/// each; a repeated unknown field is one unknown field.
#[test]
fn repeated_and_unknown_fields_are_reported_together() {
    let server = ApiServer::start().unwrap();
    let h = server.https();
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"mixed"},
        "data":{"a":"1"},"data":{"b":"2"},"datta":{"x":"1","x":"2"},"datta":{}}"#;
    let r = post(&h, "?fieldValidation=Strict", body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data", unknown field "datta""#
    );
    assert_eq!(h.get(&format!("{CONFIGMAPS}/mixed")).unwrap().status, 404);

    let r = post(&h, "", body);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        warnings(&r),
        [
            r#"299 - "duplicate field \"data\"""#,
            r#"299 - "unknown field \"datta\"""#
        ]
    );
    let stored = r.json();
    assert_eq!(stored["data"], json!({"b": "2"}));
    assert!(stored.get("datta").is_none(), "{stored}");

    // Server-side apply: the same 400 under Strict, warnings under Warn.
    let apply = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"},
        "data":{"a":"1"},"data":{"a":"2"},"dataz":{}}"#;
    let path = format!("{CONFIGMAPS}/applied?fieldManager=test");
    let r = request(
        &h,
        "PATCH",
        &format!("{path}&fieldValidation=Strict"),
        "application/apply-patch+yaml",
        apply,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data", unknown field "dataz""#
    );
    let r = request(&h, "PATCH", &path, "application/apply-patch+yaml", apply);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["data"], json!({"a": "2"}));
    assert_eq!(
        warnings(&r),
        [
            r#"299 - "duplicate field \"data\"""#,
            r#"299 - "unknown field \"dataz\"""#
        ]
    );
}

/// Patches: Strict refuses repeated fields (merge and strategic merge) and
/// unknown fields (every patch type) with kube-apiserver's 422 on `patch`.
#[test]
fn patches_follow_field_validation() {
    let server = ApiServer::start().unwrap();
    let h = server.https();
    let r = post(
        &h,
        "",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p"},"data":{"a":"1"}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let path = format!("{CONFIGMAPS}/p");
    let strict = format!("{path}?fieldValidation=Strict");
    let before = h.get(&path).unwrap().json();

    // Strategic merge patch: the patch as Go prints it.
    let r = request(
        &h,
        "PATCH",
        &strict,
        "application/strategic-merge-patch+json",
        r#"{"data":{"x":"1"},"data":{"y":"2"}}"#,
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let status = r.json();
    assert_eq!(status["reason"], "Invalid", "{status}");
    assert_eq!(
        status["message"],
        r#" "" is invalid: patch: Invalid value: "map[data:map[y:2]]": strict decoding error: duplicate field "data""#
    );
    assert_eq!(status["details"]["causes"][0]["field"], "patch", "{status}");

    // Merge patch, unknown and repeated: one error showing the patched object.
    let r = request(
        &h,
        "PATCH",
        &strict,
        "application/merge-patch+json",
        r#"{"dataz":{"x":"1"},"data":{"x":"1"},"data":{"y":"2"}}"#,
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with(r#" "" is invalid: patch: Invalid value: "{"#)
            && message.contains(r#"\"dataz\":{\"x\":\"1\"}"#)
            && message.ends_with(
                r#"": strict decoding error: duplicate field "data", unknown field "dataz""#
            ),
        "{message}"
    );
    // JSON patch: an unknown field is a 422 as well.
    let r = request(
        &h,
        "PATCH",
        &strict,
        "application/json-patch+json",
        r#"[{"op":"add","path":"/dataz","value":{}}]"#,
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text()
            .contains(r#"strict decoding error: unknown field \"dataz\""#),
        "{}",
        r.text()
    );
    assert_eq!(
        h.get(&path).unwrap().json(),
        before,
        "a refused patch changed the object"
    );

    // Warn: applied (last occurrence, unknown field dropped), one warning each.
    let r = request(
        &h,
        "PATCH",
        &path,
        "application/merge-patch+json",
        r#"{"dataz":{"x":"1"},"data":{"x":"1"},"data":{"y":"2"}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let patched = r.json();
    assert_eq!(patched["data"], json!({"a": "1", "y": "2"}), "{patched}");
    assert!(patched.get("dataz").is_none(), "{patched}");
    assert_eq!(
        warnings(&r),
        [
            r#"299 - "duplicate field \"data\"""#,
            r#"299 - "unknown field \"dataz\"""#
        ]
    );
    // Ignore: silent. A JSON patch's repeated keys are not looked at.
    let r = request(
        &h,
        "PATCH",
        &format!("{path}?fieldValidation=Ignore"),
        "application/strategic-merge-patch+json",
        r#"{"data":{"z":"1"},"data":{"z":"2"},"dataz":1}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(warnings(&r).is_empty(), "{:?}", r.headers);
    assert_eq!(r.json()["data"]["z"], "2");
    let r = request(
        &h,
        "PATCH",
        &strict,
        "application/json-patch+json",
        r#"[{"op":"add","op":"replace","path":"/data/z","value":"3"}]"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(warnings(&r).is_empty(), "{:?}", r.headers);
    assert_eq!(r.json()["data"]["z"], "3");
}
