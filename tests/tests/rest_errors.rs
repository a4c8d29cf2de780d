//! Every REST error answers the documented HTTP code with a Kubernetes
//! `Status` body, and changes nothing: after each rejected request the
//! stored objects and the collections' resourceVersions are exactly as
//! before, and the server still answers.

use std::time::Duration;

use bytes::Bytes;
use flotilla_e2e::{ApiServer, HttpResponse, Https};
use serde_json::{json, Value};

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name}, "data": {"k": "v"}})
}

fn deployment(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name},
           "spec": {"replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// Asserts a `Status` failure with `code` and `reason` and returns it.
fn expect_status(r: &HttpResponse, code: u16, reason: &str, what: &str) -> Value {
    assert_eq!(
        r.status,
        code,
        "{what}: expected {code} {reason}, got {}: {}",
        r.status,
        r.text()
    );
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{what}: Status content type {ct:?}"
    );
    let s = r.json();
    assert_eq!(s["kind"], "Status", "{what}: {s}");
    assert_eq!(s["apiVersion"], "v1", "{what}: {s}");
    assert_eq!(s["status"], "Failure", "{what}: {s}");
    assert_eq!(s["reason"], reason, "{what}: {s}");
    assert_eq!(s["code"], code, "{what}: {s}");
    let message = s["message"].as_str().unwrap_or("");
    assert!(
        message.len() >= 10,
        "{what}: the message should say what went wrong: {s}"
    );
    s
}

/// Everything a test could have changed, including each collection's
/// resourceVersion (the store's revision: any write moves it).
fn state(h: &Https) -> Vec<Value> {
    [
        "/api/v1/namespaces",
        "/api/v1/configmaps",
        "/api/v1/secrets",
        "/api/v1/services",
        "/apis/apps/v1/deployments",
    ]
    .iter()
    .map(|p| {
        let r = h.get(p).unwrap();
        assert_eq!(r.status, 200, "GET {p}: {}", r.text());
        let v = r.json();
        assert!(
            v["metadata"]["resourceVersion"]
                .as_str()
                .is_some_and(|rv| !rv.is_empty()),
            "{p} has a resourceVersion: {v}"
        );
        v
    })
    .collect()
}

fn assert_unchanged(h: &Https, before: &[Value], what: &str) {
    let after = state(h);
    assert_eq!(before, after, "{what} changed the stored state");
    let ready = h.get("/readyz").unwrap();
    assert_eq!(ready.status, 200, "{what}: server stopped answering");
}

/// Sends a request that must fail with `code`/`reason` and change nothing.
fn rejected(
    h: &Https,
    what: &str,
    code: u16,
    reason: &str,
    send: impl FnOnce() -> anyhow::Result<HttpResponse>,
) -> Value {
    let before = state(h);
    let r = send().unwrap_or_else(|e| panic!("{what}: request failed: {e:#}"));
    let s = expect_status(&r, code, reason, what);
    assert_unchanged(h, &before, what);
    s
}

/// A server with a ConfigMap `existing` and a Deployment `web` in `default`.
fn seeded() -> (ApiServer, Https, Value, Value) {
    let server = ApiServer::start().expect("server starts");
    let h = server.https();
    let r = h.post_json(CMS, &cm("existing")).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let r2 = h.post_json(DEPLOYS, &deployment("web")).unwrap();
    assert_eq!(r2.status, 201, "{}", r2.text());
    (server, h, r.json(), r2.json())
}

fn causes(status: &Value) -> Vec<(String, String, String)> {
    status["details"]["causes"]
        .as_array()
        .unwrap_or_else(|| panic!("details.causes missing: {status}"))
        .iter()
        .map(|c| {
            (
                c["reason"].as_str().unwrap_or("").to_string(),
                c["field"].as_str().unwrap_or("").to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Asserts a cause on `field` whose message contains `text`.
fn has_cause(status: &Value, reason: &str, field: &str, text: &str) {
    let c = causes(status);
    assert!(
        c.iter()
            .any(|(r, f, m)| r == reason && f == field && m.contains(text)),
        "expected a {reason} cause on {field:?} containing {text:?}, got {c:?}"
    );
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains(field),
        "the message names the field {field}: {message}"
    );
}

#[test]
fn bad_requests_are_400() {
    let (_server, h, _, _) = seeded();
    let post = |ct: &str, b: &[u8]| h.request("POST", CMS, Some(ct), b);

    let s = rejected(&h, "malformed JSON", 400, "BadRequest", || {
        post("application/json", b"{\"apiVersion\": \"v1\", kind")
    });
    assert!(s["message"].as_str().unwrap().contains("decode"), "{s}");
    rejected(&h, "malformed JSON on PUT", 400, "BadRequest", || {
        h.request(
            "PUT",
            &format!("{CMS}/existing"),
            Some("application/json"),
            b"{oops",
        )
    });
    rejected(&h, "malformed merge patch", 400, "BadRequest", || {
        h.request(
            "PATCH",
            &format!("{CMS}/existing"),
            Some("application/merge-patch+json"),
            b"{oops",
        )
    });
    rejected(&h, "empty body", 400, "BadRequest", || {
        post("application/json", b"")
    });
    let s = rejected(&h, "malformed YAML", 400, "BadRequest", || {
        post(
            "application/yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: [name: x\n",
        )
    });
    assert!(s["message"].as_str().unwrap().contains("decode"), "{s}");
    rejected(&h, "two YAML documents", 400, "BadRequest", || {
        post(
            "application/yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y1}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: y2}\n",
        )
    });
    let s = rejected(&h, "a JSON array body", 400, "BadRequest", || {
        post("application/json", &body(&json!([cm("in-array")])))
    });
    assert!(s["message"].as_str().unwrap().contains("array"), "{s}");
    rejected(&h, "a JSON string body", 400, "BadRequest", || {
        post("application/json", b"\"configmap\"")
    });
    rejected(
        &h,
        "a JSON patch that is not a list",
        400,
        "BadRequest",
        || {
            h.patch(
                &format!("{CMS}/existing"),
                "application/json-patch+json",
                &json!({"op": "add"}),
            )
        },
    );

    for selector in ["a in (", "a=b,", "=b", "a in (b", "k!", "a b", "Bad Key=x"] {
        let q = format!("labelSelector={}", encode(selector));
        let what = format!("labelSelector {selector:?}");
        rejected(&h, &what, 400, "BadRequest", || {
            h.get(&format!("{CMS}?{q}"))
        });
        rejected(
            &h,
            &format!("{what} cluster-wide"),
            400,
            "BadRequest",
            || h.get(&format!("/api/v1/configmaps?{q}")),
        );
        // A bad selector on deletecollection must not delete everything.
        rejected(
            &h,
            &format!("{what} on deletecollection"),
            400,
            "BadRequest",
            || h.delete(&format!("{CMS}?{q}")),
        );
        rejected(&h, &format!("{what} on watch"), 400, "BadRequest", || {
            h.get(&format!("{CMS}?watch=true&{q}"))
        });
    }
    let s = rejected(&h, "unsupported field selector", 400, "BadRequest", || {
        h.get(&format!("{CMS}?fieldSelector=spec.foo%3Dbar"))
    });
    assert!(s["message"].as_str().unwrap().contains("spec.foo"), "{s}");
    rejected(
        &h,
        "unsupported field selector on a deployment",
        400,
        "BadRequest",
        || h.get(&format!("{DEPLOYS}?fieldSelector=spec.replicas%3D1")),
    );
    rejected(
        &h,
        "unsupported field selector on deletecollection",
        400,
        "BadRequest",
        || h.delete(&format!("{CMS}?fieldSelector=spec.foo%3Dbar")),
    );
    rejected(&h, "malformed field selector", 400, "BadRequest", || {
        h.get(&format!("{CMS}?fieldSelector=metadata.name"))
    });
    rejected(&h, "bad limit", 400, "BadRequest", || {
        h.get(&format!("{CMS}?limit=ten"))
    });
    rejected(&h, "bad continue token", 400, "BadRequest", || {
        h.get(&format!("{CMS}?limit=1&continue=not-a-token"))
    });
    rejected(&h, "malformed DeleteOptions", 400, "BadRequest", || {
        h.request(
            "DELETE",
            &format!("{CMS}/existing"),
            Some("application/json"),
            b"{nope",
        )
    });
}

#[test]
fn unauthenticated_requests_are_401() {
    let (server, h, _, _) = seeded();
    let anon = server.anonymous();
    let wrong = h.with_token(Some("not-the-admin-token"));
    let empty = h.with_token(Some(""));
    for (who, client) in [
        ("no token", &anon),
        ("bad token", &wrong),
        ("empty token", &empty),
    ] {
        for path in [
            "/api/v1/namespaces",
            "/api/v1/namespaces/default/configmaps/existing",
            "/api",
            "/apis",
            "/apis/apps/v1",
            "/api/v1/configmaps?watch=true",
        ] {
            let r = client.get(path).unwrap();
            expect_status(&r, 401, "Unauthorized", &format!("{who}: GET {path}"));
        }
        rejected(&h, &format!("{who}: create"), 401, "Unauthorized", || {
            client.post_json(CMS, &cm("sneaky"))
        });
        rejected(&h, &format!("{who}: update"), 401, "Unauthorized", || {
            client.put_json(&format!("{CMS}/existing"), &cm("existing"))
        });
        rejected(&h, &format!("{who}: patch"), 401, "Unauthorized", || {
            client.patch(
                &format!("{CMS}/existing"),
                "application/merge-patch+json",
                &json!({"data": {"k": "stolen"}}),
            )
        });
        rejected(&h, &format!("{who}: delete"), 401, "Unauthorized", || {
            client.delete(&format!("{CMS}/existing"))
        });
        rejected(
            &h,
            &format!("{who}: deletecollection"),
            401,
            "Unauthorized",
            || client.delete(CMS),
        );
        rejected(
            &h,
            &format!("{who}: delete namespace"),
            401,
            "Unauthorized",
            || client.delete("/api/v1/namespaces/default"),
        );
    }
}

#[test]
fn unknown_paths_and_missing_objects_are_404() {
    let (_server, h, _, _) = seeded();
    for path in [
        "/api/v1/nopes",
        "/apis/nope/v1/things",
        "/apis/apps/v2/deployments",
        "/api/v2/configmaps",
        "/api/v1/namespaces/default/nopes",
        "/api/v1/namespaces/default/nopes/x",
        "/apis/nope/v1",
        "/apis/nope",
        "/api/v9",
        "/nope",
        // A cluster-scoped kind under a namespace.
        "/api/v1/namespaces/default/namespaces",
        // Unknown subresources; configmaps have no /status.
        "/apis/apps/v1/namespaces/default/deployments/web/nope",
        "/api/v1/namespaces/default/configmaps/existing/status",
    ] {
        let s = rejected(&h, &format!("GET {path}"), 404, "NotFound", || h.get(path));
        assert!(s["message"].as_str().unwrap().len() > 10, "{s}");
    }
    // A named object of a namespaced kind exists only under its namespace:
    // the all-namespaces path has no objects (Kubernetes serves no such path).
    let unnamespaced = "/api/v1/configmaps/existing";
    let mut applied = cm("existing");
    applied["metadata"]["namespace"] = json!("default");
    for (what, send) in [
        (
            "GET",
            Box::new(|| h.get(unnamespaced)) as Box<dyn Fn() -> anyhow::Result<HttpResponse>>,
        ),
        ("PUT", Box::new(|| h.put_json(unnamespaced, &applied))),
        ("DELETE", Box::new(|| h.delete(unnamespaced))),
        (
            "server-side apply",
            Box::new(|| {
                h.patch(
                    &format!("{unnamespaced}?fieldManager=test"),
                    "application/apply-patch+yaml",
                    &applied,
                )
            }),
        ),
    ] {
        rejected(
            &h,
            &format!("{what} a namespaced object without its namespace"),
            404,
            "NotFound",
            send,
        );
    }
    rejected(&h, "POST to an unknown resource", 404, "NotFound", || {
        h.post_json("/api/v1/namespaces/default/nopes", &cm("x"))
    });
    rejected(&h, "POST to an unknown group", 404, "NotFound", || {
        h.post_json("/apis/nope/v1/namespaces/default/things", &cm("x"))
    });

    let missing = format!("{CMS}/missing");
    for (what, send) in [
        (
            "GET",
            Box::new(|| h.get(&missing)) as Box<dyn Fn() -> anyhow::Result<HttpResponse>>,
        ),
        ("PUT", Box::new(|| h.put_json(&missing, &cm("missing")))),
        (
            "PATCH",
            Box::new(|| {
                h.patch(
                    &missing,
                    "application/merge-patch+json",
                    &json!({"data": {"a": "b"}}),
                )
            }),
        ),
        (
            "JSON PATCH",
            Box::new(|| {
                h.patch(
                    &missing,
                    "application/json-patch+json",
                    &json!([{"op": "add", "path": "/data/a", "value": "b"}]),
                )
            }),
        ),
        ("DELETE", Box::new(|| h.delete(&missing))),
    ] {
        let s = rejected(
            &h,
            &format!("{what} a missing object"),
            404,
            "NotFound",
            send,
        );
        assert_eq!(s["details"]["name"], "missing", "{s}");
        assert_eq!(s["details"]["kind"], "configmaps", "{s}");
        assert!(
            s["message"]
                .as_str()
                .unwrap()
                .contains("\"missing\" not found"),
            "{s}"
        );
    }
    let s = rejected(&h, "GET a missing deployment", 404, "NotFound", || {
        h.get(&format!("{DEPLOYS}/missing"))
    });
    assert_eq!(s["details"]["group"], "apps", "{s}");
    assert_eq!(s["details"]["kind"], "deployments", "{s}");

    // Creating into a namespace that does not exist: NotFound for the namespace.
    for dry_run in ["", "?dryRun=All"] {
        let s = rejected(
            &h,
            &format!("create in a missing namespace{dry_run}"),
            404,
            "NotFound",
            || {
                h.post_json(
                    &format!("/api/v1/namespaces/nowhere/configmaps{dry_run}"),
                    &cm("a"),
                )
            },
        );
        assert_eq!(s["details"]["kind"], "namespaces", "{s}");
        assert_eq!(s["details"]["name"], "nowhere", "{s}");
        assert!(
            s["message"].as_str().unwrap().contains("\"nowhere\""),
            "{s}"
        );
    }
    let s = rejected(
        &h,
        "create a deployment in a missing namespace",
        404,
        "NotFound",
        || {
            h.post_json(
                "/apis/apps/v1/namespaces/nowhere/deployments",
                &deployment("web2"),
            )
        },
    );
    assert_eq!(s["details"]["name"], "nowhere", "{s}");
}

#[test]
fn conflicts_are_409() {
    let (_server, h, existing, web) = seeded();
    let s = rejected(&h, "duplicate create", 409, "AlreadyExists", || {
        h.post_json(CMS, &cm("existing"))
    });
    assert_eq!(s["details"]["name"], "existing", "{s}");
    assert_eq!(s["details"]["kind"], "configmaps", "{s}");
    assert!(
        s["message"].as_str().unwrap().contains("already exists"),
        "{s}"
    );
    rejected(
        &h,
        "duplicate create (dry run)",
        409,
        "AlreadyExists",
        || h.post_json(&format!("{CMS}?dryRun=All"), &cm("existing")),
    );
    rejected(&h, "duplicate deployment", 409, "AlreadyExists", || {
        h.post_json(DEPLOYS, &deployment("web"))
    });
    rejected(&h, "duplicate namespace", 409, "AlreadyExists", || {
        h.post_json(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        )
    });

    // Move the object on so that its first resourceVersion is stale.
    let path = format!("{CMS}/existing");
    let stale_rv = existing["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h
        .patch(
            &path,
            "application/merge-patch+json",
            &json!({"data": {"k": "v2"}}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let current_rv = r.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(stale_rv, current_rv);

    let mut stale = existing.clone();
    stale["data"]["k"] = json!("from a stale read");
    let s = rejected(
        &h,
        "PUT with a stale resourceVersion",
        409,
        "Conflict",
        || h.put_json(&path, &stale),
    );
    assert_eq!(s["details"]["name"], "existing", "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("the object has been modified"),
        "{s}"
    );
    rejected(
        &h,
        "PUT with a stale resourceVersion (dry run)",
        409,
        "Conflict",
        || h.put_json(&format!("{path}?dryRun=All"), &stale),
    );
    rejected(
        &h,
        "merge patch with a stale resourceVersion",
        409,
        "Conflict",
        || {
            h.patch(
                &path,
                "application/merge-patch+json",
                &json!({"metadata": {"resourceVersion": stale_rv}, "data": {"k": "patched"}}),
            )
        },
    );
    rejected(
        &h,
        "merge patch with a stale resourceVersion (dry run)",
        409,
        "Conflict",
        || {
            h.patch(
                &format!("{path}?dryRun=All"),
                "application/merge-patch+json",
                &json!({"metadata": {"resourceVersion": stale_rv}, "data": {"k": "patched"}}),
            )
        },
    );
    let mut stale_web = web.clone();
    stale_web["spec"]["replicas"] = json!(5);
    let r = h
        .patch(
            &format!("{DEPLOYS}/web"),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"moved": "on"}}}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    rejected(
        &h,
        "PUT a deployment with a stale resourceVersion",
        409,
        "Conflict",
        || h.put_json(&format!("{DEPLOYS}/web"), &stale_web),
    );
    // A resourceVersion "from the future" is just as stale.
    let mut future = existing.clone();
    future["metadata"]["resourceVersion"] = json!("999999");
    rejected(
        &h,
        "PUT with a future resourceVersion",
        409,
        "Conflict",
        || h.put_json(&path, &future),
    );

    let uid = existing["metadata"]["uid"].as_str().unwrap();
    for (what, options) in [
        (
            "uid",
            json!({"preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}}),
        ),
        (
            "resourceVersion",
            json!({"preconditions": {"resourceVersion": stale_rv}}),
        ),
        (
            "both",
            json!({"preconditions": {"uid": uid, "resourceVersion": stale_rv}}),
        ),
    ] {
        let s = rejected(
            &h,
            &format!("DELETE with a failing {what} precondition"),
            409,
            "Conflict",
            || h.request("DELETE", &path, Some("application/json"), &body(&options)),
        );
        assert!(
            s["message"]
                .as_str()
                .unwrap()
                .contains("Precondition failed"),
            "{s}"
        );
    }
    let r = h.get(&path).unwrap();
    assert_eq!(
        r.json()["data"]["k"],
        "v2",
        "the object kept its last good write"
    );
}

/// How a raw upload frames its body.
#[derive(Clone, Copy, Debug)]
enum Framing {
    ContentLength,
    Chunked,
}

/// One HTTP/1.1 request over TLS that writes its body while reading the
/// response, as curl and Go's client do: a server may answer (413) before
/// it has read the body, and the answer must still reach the client.
async fn raw_upload(
    server: &ApiServer,
    method: &str,
    path: &str,
    framing: Framing,
    body: Vec<u8>,
) -> anyhow::Result<HttpResponse> {
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tls = federation_apiserver::pki::client_config_trusting(&server.ca_pem)?;
    let tcp = tokio::net::TcpStream::connect(&server.addr).await?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::try_from("localhost")?.to_owned(), tcp)
        .await?;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let framing_header = match framing {
        Framing::ContentLength => format!("Content-Length: {}", body.len()),
        Framing::Chunked => "Transfer-Encoding: chunked".to_string(),
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\n{framing_header}\r\nConnection: close\r\n\r\n",
        server.addr, server.token
    );
    let write = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for chunk in body.chunks(64 * 1024) {
            match framing {
                Framing::ContentLength => writer.write_all(chunk).await?,
                Framing::Chunked => {
                    writer
                        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                        .await?;
                    writer.write_all(chunk).await?;
                    writer.write_all(b"\r\n").await?;
                }
            }
        }
        if let Framing::Chunked = framing {
            writer.write_all(b"0\r\n\r\n").await?;
        }
        writer.flush().await?;
        Ok::<_, std::io::Error>(writer)
    });
    // Read until the response is complete (or the connection ends).
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let parsed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(r) = parse_response(&buf)? {
                return Ok::<_, anyhow::Error>(r);
            }
            let n = reader.read(&mut chunk).await?;
            anyhow::ensure!(
                n > 0,
                "connection closed before a complete response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await??;
    write.abort();
    Ok(parsed)
}

/// A complete HTTP/1.1 response in `buf`, if there is one yet.
fn parse_response(buf: &[u8]) -> anyhow::Result<Option<HttpResponse>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end])?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("bad status line {status_line:?}"))?;
    let mut headers = http::HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.append(
                http::HeaderName::from_bytes(k.trim().as_bytes())?,
                http::HeaderValue::from_str(v.trim())?,
            );
        }
    }
    let rest = &buf[end + 4..];
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let body = if let Some(len) = header("content-length") {
        let len: usize = len.parse()?;
        if rest.len() < len {
            return Ok(None);
        }
        rest[..len].to_vec()
    } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let Some(eol) = rest[pos..].windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[pos..pos + eol])?.trim(), 16)?;
            pos += eol + 2;
            if size == 0 {
                break;
            }
            if rest.len() < pos + size + 2 {
                return Ok(None);
            }
            out.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
        out
    } else {
        anyhow::bail!("response without a length: {head}");
    };
    Ok(Some(HttpResponse {
        status,
        headers,
        body: Bytes::from(body),
    }))
}

#[test]
fn bodies_over_3_mib_are_413() {
    let (server, h, _, _) = seeded();
    let limit = 3 * 1024 * 1024;
    let mut big = cm("too-big");
    big["data"]["k"] = json!("x".repeat(limit));
    let big_bytes = body(&big);
    assert!(big_bytes.len() > limit);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upload = |method: &str, path: &str, framing: Framing, b: Vec<u8>| {
        runtime
            .block_on(raw_upload(&server, method, path, framing, b))
            .map_err(|e| e.context(format!("{method} {path} ({framing:?})")))
    };
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let s = rejected(
            &h,
            &format!("POST over 3 MiB ({framing:?})"),
            413,
            "RequestEntityTooLarge",
            || upload("POST", CMS, framing, big_bytes.clone()),
        );
        assert!(s["message"].as_str().unwrap().contains("3145728"), "{s}");
        let mut big_existing = big.clone();
        big_existing["metadata"]["name"] = json!("existing");
        rejected(
            &h,
            &format!("PUT over 3 MiB ({framing:?})"),
            413,
            "RequestEntityTooLarge",
            || {
                upload(
                    "PUT",
                    &format!("{CMS}/existing"),
                    framing,
                    body(&big_existing),
                )
            },
        );
    }
    rejected(&h, "PATCH over 3 MiB", 413, "RequestEntityTooLarge", || {
        upload(
            "PATCH",
            &format!("{CMS}/existing"),
            Framing::ContentLength,
            body(&json!({"data": {"k": "x".repeat(limit)}})),
        )
    });
    // Just under the limit is fine (the object itself is not too large).
    let mut fits = cm("fits");
    fits["data"]["k"] = json!("x".repeat(limit - 200));
    let r = h.post_json(CMS, &fits).unwrap();
    assert_eq!(r.status, 201, "a body just under 3 MiB is accepted");
    let r = h.delete(&format!("{CMS}/fits")).unwrap();
    assert_eq!(r.status, 200);

    // Small uploads through the same raw client work, so the 413s were about size.
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let r = upload("POST", CMS, framing, body(&cm("raw-small"))).unwrap();
        assert_eq!(r.status, 201, "{framing:?}: {}", r.text());
        let r = h.delete(&format!("{CMS}/raw-small")).unwrap();
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        h.get(&format!("{CMS}/too-big")).unwrap().status,
        404,
        "nothing of the rejected upload was stored"
    );
}

#[test]
fn unsupported_media_types_are_415() {
    let (_server, h, _, _) = seeded();
    let path = format!("{CMS}/existing");
    let patch = body(&json!({"data": {"k": "changed"}}));
    for ct in [
        "text/plain",
        "application/json",
        "application/xml",
        "application/yaml",
    ] {
        rejected(
            &h,
            &format!("PATCH as {ct}"),
            415,
            "UnsupportedMediaType",
            || h.request("PATCH", &path, Some(ct), &patch),
        );
    }
    rejected(
        &h,
        "PATCH without a content type",
        415,
        "UnsupportedMediaType",
        || h.request("PATCH", &path, None, &patch),
    );
    // Strategic merge patch is served for every built-in kind (only custom
    // resources answer 415): see tests/strategic_merge.rs.
    // Protobuf bodies as kubectl 1.32+ sends for `kubectl create configmap`:
    // runtime.Unknown{typeMeta{v1, ConfigMap}, raw: ConfigMap{metadata{name}}}.
    // A malformed one (metadata claims 9 bytes, 3 follow) is 400.
    let broken = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x05\x0a\x09pb1";
    let s = rejected(&h, "malformed protobuf create", 400, "BadRequest", || {
        h.request(
            "POST",
            CMS,
            Some("application/vnd.kubernetes.protobuf"),
            broken,
        )
    });
    assert!(
        s["message"].as_str().unwrap().contains("invalid protobuf"),
        "{s}"
    );
    rejected(&h, "malformed protobuf update", 400, "BadRequest", || {
        h.request(
            "PUT",
            &path,
            Some("application/vnd.kubernetes.protobuf"),
            broken,
        )
    });
    // A protobuf body of a kind without a protobuf schema is 415.
    let widget = b"k8s\x00\x0a\x18\x0a\x0eexample.com/v1\x12\x06Widget\x12\x00";
    let s = rejected(
        &h,
        "protobuf of an unknown kind",
        415,
        "UnsupportedMediaType",
        || {
            h.request(
                "POST",
                CMS,
                Some("application/vnd.kubernetes.protobuf"),
                widget,
            )
        },
    );
    assert!(s["message"].as_str().unwrap().contains("Widget"), "{s}");
    let proto = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x07\x0a\x05\x0a\x03pb1";
    rejected(&h, "protobuf patch", 415, "UnsupportedMediaType", || {
        h.request(
            "PATCH",
            &path,
            Some("application/vnd.kubernetes.protobuf"),
            proto,
        )
    });
    let r = h
        .request(
            "POST",
            CMS,
            Some("application/vnd.kubernetes.protobuf"),
            proto,
        )
        .unwrap();
    assert_eq!(r.status, 201, "valid protobuf create: {}", r.text());
    let created = r.json();
    assert_eq!(
        (
            created["kind"].as_str(),
            created["metadata"]["name"].as_str()
        ),
        (Some("ConfigMap"), Some("pb1")),
        "{created}"
    );
    rejected(
        &h,
        "create as text/plain",
        415,
        "UnsupportedMediaType",
        || h.request("POST", CMS, Some("text/plain"), &body(&cm("plain"))),
    );
    rejected(
        &h,
        "create with a patch content type",
        415,
        "UnsupportedMediaType",
        || {
            h.request(
                "POST",
                CMS,
                Some("application/merge-patch+json"),
                &body(&cm("as-patch")),
            )
        },
    );
    rejected(
        &h,
        "update with a patch content type",
        415,
        "UnsupportedMediaType",
        || {
            h.request(
                "PUT",
                &path,
                Some("application/json-patch+json"),
                &body(&cm("existing")),
            )
        },
    );
}

#[test]
fn invalid_objects_are_422_with_causes() {
    let (_server, h, existing, web) = seeded();
    let create = |v: &Value| h.post_json(CMS, v);

    for (name, text) in [
        ("Upper", "RFC 1123 subdomain"),
        ("under_score", "RFC 1123 subdomain"),
        ("-dash", "RFC 1123 subdomain"),
        ("a..b", "RFC 1123 subdomain"),
    ] {
        let s = rejected(
            &h,
            &format!("configmap named {name:?}"),
            422,
            "Invalid",
            || create(&cm(name)),
        );
        has_cause(&s, "FieldValueInvalid", "metadata.name", text);
        assert_eq!(s["details"]["name"], name, "{s}");
        assert_eq!(s["details"]["kind"], "ConfigMap", "{s}");
    }
    let long = "a".repeat(254);
    let s = rejected(&h, "a 254-character name", 422, "Invalid", || {
        create(&cm(&long))
    });
    has_cause(&s, "FieldValueInvalid", "metadata.name", "no more than 253");

    let ns =
        |name: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    for (name, text) in [
        ("dotted.name", "RFC 1123 label"),
        ("Upper", "RFC 1123 label"),
        ("under_score", "RFC 1123 label"),
    ] {
        let s = rejected(
            &h,
            &format!("namespace named {name:?}"),
            422,
            "Invalid",
            || h.post_json("/api/v1/namespaces", &ns(name)),
        );
        has_cause(&s, "FieldValueInvalid", "metadata.name", text);
    }
    let s = rejected(&h, "a 64-character namespace name", 422, "Invalid", || {
        h.post_json("/api/v1/namespaces", &ns(&"n".repeat(64)))
    });
    has_cause(&s, "FieldValueInvalid", "metadata.name", "no more than 63");
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1svc"},
                     "spec": {"ports": [{"port": 80}]}});
    let s = rejected(
        &h,
        "service name starting with a digit",
        422,
        "Invalid",
        || h.post_json("/api/v1/namespaces/default/services", &svc),
    );
    has_cause(&s, "FieldValueInvalid", "metadata.name", "DNS-1035");

    let mut no_name = cm("x");
    no_name["metadata"] = json!({});
    let s = rejected(&h, "no name and no generateName", 422, "Invalid", || {
        create(&no_name)
    });
    has_cause(&s, "FieldValueRequired", "metadata.name", "Required value");
    let mut bad_gen = cm("x");
    bad_gen["metadata"] = json!({"generateName": "Bad_"});
    let s = rejected(&h, "bad generateName", 422, "Invalid", || create(&bad_gen));
    assert_eq!(causes(&s)[0].1, "metadata.generateName", "{s}");
    let mut bad_label = cm("labelled");
    bad_label["metadata"]["labels"] = json!({"ok": "has space"});
    let s = rejected(&h, "bad label value", 422, "Invalid", || create(&bad_label));
    has_cause(&s, "FieldValueInvalid", "metadata.labels", "has space");

    // apiVersion / kind must be the path's.
    let mut wrong_version = cm("wrong-version");
    wrong_version["apiVersion"] = json!("apps/v1");
    let s = rejected(&h, "wrong apiVersion", 422, "Invalid", || {
        create(&wrong_version)
    });
    has_cause(&s, "FieldValueInvalid", "apiVersion", "must be v1");
    let mut wrong_kind = cm("wrong-kind");
    wrong_kind["kind"] = json!("Secret");
    let s = rejected(&h, "wrong kind", 422, "Invalid", || create(&wrong_kind));
    has_cause(&s, "FieldValueInvalid", "kind", "must be ConfigMap");
    let s = rejected(
        &h,
        "a Deployment posted to configmaps",
        422,
        "Invalid",
        || create(&deployment("confused")),
    );
    has_cause(&s, "FieldValueInvalid", "apiVersion", "must be v1");
    has_cause(&s, "FieldValueInvalid", "kind", "must be ConfigMap");
    let s = rejected(
        &h,
        "a ConfigMap posted to deployments",
        422,
        "Invalid",
        || h.post_json(DEPLOYS, &cm("confused")),
    );
    has_cause(&s, "FieldValueInvalid", "apiVersion", "must be apps/v1");

    // Missing apiVersion and kind are rejected too (create and update).
    let mut untyped = cm("untyped");
    untyped.as_object_mut().unwrap().remove("apiVersion");
    untyped.as_object_mut().unwrap().remove("kind");
    let s = rejected(&h, "missing apiVersion and kind", 422, "Invalid", || {
        create(&untyped)
    });
    has_cause(&s, "FieldValueRequired", "apiVersion", "must be v1");
    has_cause(&s, "FieldValueRequired", "kind", "must be ConfigMap");
    let mut no_kind = cm("no-kind");
    no_kind.as_object_mut().unwrap().remove("kind");
    let s = rejected(&h, "missing kind", 422, "Invalid", || create(&no_kind));
    has_cause(&s, "FieldValueRequired", "kind", "must be ConfigMap");
    let mut untyped_update = existing.clone();
    untyped_update.as_object_mut().unwrap().remove("kind");
    untyped_update["data"]["k"] = json!("changed");
    let s = rejected(&h, "update without kind", 422, "Invalid", || {
        h.put_json(&format!("{CMS}/existing"), &untyped_update)
    });
    has_cause(&s, "FieldValueRequired", "kind", "must be ConfigMap");

    // Schema errors.
    let mut three = deployment("three");
    three["spec"]["replicas"] = json!("three");
    let s = rejected(&h, "replicas: \"three\"", 422, "Invalid", || {
        h.post_json(DEPLOYS, &three)
    });
    has_cause(&s, "FieldValueInvalid", "spec.replicas", "three");
    assert_eq!(s["details"]["group"], "apps", "{s}");
    assert_eq!(s["details"]["kind"], "Deployment", "{s}");
    let mut no_selector = deployment("no-selector");
    no_selector["spec"]
        .as_object_mut()
        .unwrap()
        .remove("selector");
    let s = rejected(
        &h,
        "Deployment without spec.selector",
        422,
        "Invalid",
        || h.post_json(DEPLOYS, &no_selector),
    );
    has_cause(&s, "FieldValueRequired", "spec.selector", "Required value");
    let mut no_spec = deployment("no-spec");
    no_spec.as_object_mut().unwrap().remove("spec");
    let s = rejected(&h, "Deployment without spec", 422, "Invalid", || {
        h.post_json(DEPLOYS, &no_spec)
    });
    has_cause(&s, "FieldValueRequired", "spec.selector", "Required value");
    let mut bad_port = deployment("bad-port");
    bad_port["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": "eighty"}]);
    let s = rejected(&h, "containerPort: \"eighty\"", 422, "Invalid", || {
        h.post_json(DEPLOYS, &bad_port)
    });
    has_cause(
        &s,
        "FieldValueInvalid",
        "spec.template.spec.containers[0].ports[0].containerPort",
        "eighty",
    );
    let mut bad_data = cm("bad-data");
    bad_data["data"] = json!({"k": 1});
    let s = rejected(
        &h,
        "configmap data value not a string",
        422,
        "Invalid",
        || create(&bad_data),
    );
    has_cause(&s, "FieldValueInvalid", "data.k", "invalid type");

    // Schema errors on update and patch leave the object alone.
    let mut web_three = web.clone();
    web_three["spec"]["replicas"] = json!("three");
    let s = rejected(&h, "update to replicas: \"three\"", 422, "Invalid", || {
        h.put_json(&format!("{DEPLOYS}/web"), &web_three)
    });
    has_cause(&s, "FieldValueInvalid", "spec.replicas", "three");
    rejected(
        &h,
        "merge patch to replicas: \"three\"",
        422,
        "Invalid",
        || {
            h.patch(
                &format!("{DEPLOYS}/web"),
                "application/merge-patch+json",
                &json!({"spec": {"replicas": "three"}}),
            )
        },
    );
    let s = rejected(
        &h,
        "merge patch removing the selector",
        422,
        "Invalid",
        || {
            h.patch(
                &format!("{DEPLOYS}/web"),
                "application/merge-patch+json",
                &json!({"spec": {"selector": null}}),
            )
        },
    );
    has_cause(&s, "FieldValueRequired", "spec.selector", "Required value");
    rejected(&h, "JSON patch renaming the object", 422, "Invalid", || {
        h.patch(
            &format!("{CMS}/existing"),
            "application/json-patch+json",
            &json!([{"op": "replace", "path": "/metadata/name", "value": "renamed"}]),
        )
    });
    rejected(&h, "JSON patch whose test fails", 422, "Invalid", || {
        h.patch(
            &format!("{CMS}/existing"),
            "application/json-patch+json",
            &json!([{"op": "test", "path": "/data/k", "value": "not-v"},
                    {"op": "replace", "path": "/data/k", "value": "changed"}]),
        )
    });

    // Namespace in the body must be the path's; name in a PUT body the URL's.
    let mut elsewhere = cm("elsewhere");
    elsewhere["metadata"]["namespace"] = json!("kube-system");
    let s = rejected(
        &h,
        "body namespace differs from the path",
        422,
        "Invalid",
        || create(&elsewhere),
    );
    has_cause(
        &s,
        "FieldValueInvalid",
        "metadata.namespace",
        "does not match the namespace",
    );
    let mut moved = existing.clone();
    moved["metadata"]["namespace"] = json!("kube-system");
    let s = rejected(&h, "update moving the namespace", 422, "Invalid", || {
        h.put_json(&format!("{CMS}/existing"), &moved)
    });
    has_cause(
        &s,
        "FieldValueInvalid",
        "metadata.namespace",
        "does not match the namespace",
    );
    let mut renamed = existing.clone();
    renamed["metadata"]["name"] = json!("other-name");
    let s = rejected(
        &h,
        "PUT body name differs from the URL",
        422,
        "Invalid",
        || h.put_json(&format!("{CMS}/existing"), &renamed),
    );
    has_cause(
        &s,
        "FieldValueInvalid",
        "metadata.name",
        "does not match the name on the URL",
    );
    assert_eq!(
        h.get(&format!("{CMS}/other-name")).unwrap().status,
        404,
        "nothing was stored under the body's name"
    );
    // The same through a dry run: still 422.
    rejected(
        &h,
        "dry-run create of an invalid name",
        422,
        "Invalid",
        || h.post_json(&format!("{CMS}?dryRun=All"), &cm("Upper")),
    );
}

#[test]
fn wrong_methods_are_405() {
    let (_server, h, _, _) = seeded();
    rejected(
        &h,
        "POST to a named object",
        405,
        "MethodNotAllowed",
        || h.post_json(&format!("{CMS}/existing"), &cm("existing")),
    );
    rejected(
        &h,
        "POST to a named deployment",
        405,
        "MethodNotAllowed",
        || h.post_json(&format!("{DEPLOYS}/web"), &deployment("web")),
    );
    rejected(&h, "PUT to a collection", 405, "MethodNotAllowed", || {
        h.put_json(CMS, &cm("existing"))
    });
    rejected(&h, "PATCH a collection", 405, "MethodNotAllowed", || {
        h.patch(CMS, "application/merge-patch+json", &json!({"data": {}}))
    });
    // Subresources take GET, PUT and PATCH only: a DELETE on /status must
    // not delete the object, a POST must not create one.
    for sub in ["status", "scale"] {
        let path = format!("{DEPLOYS}/web/{sub}");
        rejected(
            &h,
            &format!("DELETE /{sub}"),
            405,
            "MethodNotAllowed",
            || h.delete(&path),
        );
        rejected(&h, &format!("POST /{sub}"), 405, "MethodNotAllowed", || {
            h.post_json(&path, &deployment("web"))
        });
    }
    // The all-namespaces path of a namespaced kind serves list and watch only.
    for path in ["/api/v1/configmaps", "/apis/apps/v1/deployments"] {
        rejected(
            &h,
            &format!("deletecollection across namespaces {path}"),
            405,
            "MethodNotAllowed",
            || h.delete(path),
        );
        rejected(
            &h,
            &format!("deletecollection across namespaces with a selector {path}"),
            405,
            "MethodNotAllowed",
            || h.delete(&format!("{path}?labelSelector=app%3Dweb")),
        );
    }
    rejected(
        &h,
        "POST across namespaces",
        405,
        "MethodNotAllowed",
        || h.post_json("/api/v1/configmaps", &cm("nowhere")),
    );
    rejected(
        &h,
        "POST a deployment across namespaces",
        405,
        "MethodNotAllowed",
        || h.post_json("/apis/apps/v1/deployments", &deployment("nowhere")),
    );
    // Namespaces have no deletecollection.
    rejected(
        &h,
        "deletecollection of namespaces",
        405,
        "MethodNotAllowed",
        || h.delete("/api/v1/namespaces"),
    );
    rejected(
        &h,
        "deletecollection of namespaces by label",
        405,
        "MethodNotAllowed",
        || h.delete("/api/v1/namespaces?labelSelector=kubernetes.io%2Fmetadata.name%3Ddefault"),
    );
    for path in ["/api/v1", "/apis/apps/v1", "/api", "/apis"] {
        rejected(
            &h,
            &format!("POST to discovery {path}"),
            405,
            "MethodNotAllowed",
            || h.post_json(path, &cm("x")),
        );
        rejected(
            &h,
            &format!("DELETE discovery {path}"),
            405,
            "MethodNotAllowed",
            || h.delete(path),
        );
    }
}

/// A list at an exact resourceVersion the server no longer has (it keeps
/// no snapshots, so any but the current one) is 410 Expired, as
/// kube-apiserver answers for a compacted revision; bad list options are
/// 422 on `ListOptions`.
#[test]
fn exact_lists_of_past_revisions_are_410() {
    let (_server, h, existing, _) = seeded();
    let old = existing["metadata"]["resourceVersion"].as_str().unwrap();
    let current = h.get(CMS).unwrap().json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(old, current);
    let s = rejected(&h, "Exact list of an old revision", 410, "Expired", || {
        h.get(&format!(
            "{CMS}?resourceVersion={old}&resourceVersionMatch=Exact"
        ))
    });
    assert!(s["message"].as_str().unwrap().contains("too old"), "{s}");
    rejected(&h, "Exact list across namespaces", 410, "Expired", || {
        h.get(&format!(
            "/api/v1/configmaps?resourceVersion={old}&resourceVersionMatch=Exact&limit=1"
        ))
    });
    // The current revision, or not older than an old one, are served.
    for query in [
        format!("resourceVersion={current}&resourceVersionMatch=Exact"),
        format!("resourceVersion={old}&resourceVersionMatch=NotOlderThan"),
        format!("resourceVersion={old}"),
    ] {
        let r = h.get(&format!("{CMS}?{query}")).unwrap();
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        assert_eq!(r.json()["items"].as_array().unwrap().len(), 1, "{query}");
    }
    for (query, text) in [
        (
            "resourceVersionMatch=Exact".to_string(),
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            "resourceVersion=0&resourceVersionMatch=Exact".to_string(),
            "forbidden for resourceVersion \"0\"",
        ),
        (
            format!("resourceVersion={current}&resourceVersionMatch=Newest"),
            "Unsupported value: \"Newest\"",
        ),
    ] {
        let s = rejected(&h, &query, 422, "Invalid", || {
            h.get(&format!("{CMS}?{query}"))
        });
        assert!(
            s["message"].as_str().unwrap().contains(text),
            "{query}: {s}"
        );
        assert_eq!(s["details"]["kind"], "ListOptions", "{s}");
        assert_eq!(s["details"]["group"], "meta.k8s.io", "{s}");
    }
}

/// Creating an object that carries a resourceVersion fails the way
/// kube-apiserver's storage refuses it: 500 with no reason and its message
/// (kubectl: `Error from server: resourceVersion should not be set on
/// objects to be created`); nothing is stored.
#[test]
fn creates_with_a_resource_version_are_refused() {
    let (_server, h, _, _) = seeded();
    let before = state(&h);
    let mut body = cm("versioned");
    body["metadata"]["resourceVersion"] = json!("12");
    for path in [CMS.to_string(), format!("{CMS}?fieldManager=x")] {
        let r = h.post_json(&path, &body).unwrap();
        assert_eq!(r.status, 500, "{}", r.text());
        let s = r.json();
        assert_eq!(s["kind"], "Status", "{s}");
        assert_eq!(s["status"], "Failure", "{s}");
        assert_eq!(s["code"], 500, "{s}");
        assert!(
            s.get("reason").is_none(),
            "StatusReasonUnknown is omitted: {s}"
        );
        assert_eq!(
            s["message"], "resourceVersion should not be set on objects to be created",
            "{s}"
        );
    }
    assert_unchanged(&h, &before, "create with a resourceVersion");
    // An empty or zero resourceVersion is no resourceVersion.
    for rv in ["", "0"] {
        let mut body = cm(&format!("rv{}", rv.len()));
        body["metadata"]["resourceVersion"] = json!(rv);
        let r = h.post_json(CMS, &body).unwrap();
        assert_eq!(r.status, 201, "resourceVersion {rv:?}: {}", r.text());
    }
}
