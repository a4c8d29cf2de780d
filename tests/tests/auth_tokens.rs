//! Bearer-token authentication: `--token-file` users, unknown tokens, the
//! admin token, public endpoints, and a malformed token file that stops the
//! server with an error naming the line but never a token.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use flotilla_e2e::{binary, wait_for, ApiServer, HttpResponse};
use serde_json::{json, Value};

const ALICE: &str = "alice-secret-token-0001";
const BOB: &str = "bob-secret-token-0002";

fn expect_401(r: &HttpResponse, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.text());
    let s = r.json();
    assert_eq!(s["kind"], "Status", "{what}: {s}");
    assert_eq!(s["apiVersion"], "v1", "{what}: {s}");
    assert_eq!(s["status"], "Failure", "{what}: {s}");
    assert_eq!(s["reason"], "Unauthorized", "{what}: {s}");
    assert_eq!(s["code"], 401, "{what}: {s}");
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}})
}

fn write_token_file(dir: &Path, text: &str) -> String {
    let path = dir.join("tokens.csv");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn token_file_users_and_the_admin_are_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_token_file(
        dir.path(),
        &format!(
            "# static tokens: token,user,uid,\"groups\"\n\
             {ALICE},alice,uid-alice,\"dev,ops\"\n\
             \n\
             {BOB}, bob ,uid-bob\n"
        ),
    );
    let server = ApiServer::start_with(&["--token-file", &file]).expect("server starts");
    let admin = server.https();
    let alice = admin.with_token(Some(ALICE));
    let bob = admin.with_token(Some(BOB));
    let cms = "/api/v1/namespaces/default/configmaps";

    for (who, client) in [("admin", &admin), ("alice", &alice), ("bob", &bob)] {
        for path in [
            "/api/v1/namespaces",
            "/api",
            "/apis",
            "/apis/apps/v1/deployments",
        ] {
            let r = client.get(path).unwrap();
            assert_eq!(r.status, 200, "{who}: GET {path}: {}", r.text());
        }
        let name = format!("made-by-{who}");
        let r = client.post_json(cms, &cm(&name)).unwrap();
        assert_eq!(r.status, 201, "{who}: create: {}", r.text());
    }
    // One user's object is visible to and deletable by another.
    let r = bob.get(&format!("{cms}/made-by-alice")).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = bob.delete(&format!("{cms}/made-by-alice")).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // Unknown, altered and empty tokens are 401, and change nothing.
    let before = admin.get(cms).unwrap().json();
    let wrong = [
        "unknown-token",
        "ALICE-SECRET-TOKEN-0001",
        "alice-secret-token-000",
        "alice-secret-token-00011",
        "alice",
        "uid-alice",
        "",
    ];
    for token in wrong {
        let client = admin.with_token(Some(token));
        expect_401(
            &client.get("/api/v1/namespaces").unwrap(),
            &format!("token {token:?}"),
        );
        expect_401(
            &client.post_json(cms, &cm("sneaky")).unwrap(),
            &format!("create with token {token:?}"),
        );
        expect_401(
            &client.delete(&format!("{cms}/made-by-bob")).unwrap(),
            &format!("delete with token {token:?}"),
        );
    }
    expect_401(&server.anonymous().get(cms).unwrap(), "no token");
    assert_eq!(
        admin.get(cms).unwrap().json(),
        before,
        "rejected requests changed nothing"
    );

    // Health and version are public, with or without a (bad) token.
    for path in ["/healthz", "/livez", "/readyz", "/version"] {
        for (who, client) in [
            ("anonymous", server.anonymous()),
            ("bad token", admin.with_token(Some("unknown-token"))),
            ("alice", alice.clone()),
        ] {
            let r = client.get(path).unwrap();
            assert_eq!(r.status, 200, "{who}: {path}: {}", r.text());
        }
    }
    // ...but nothing else is.
    for path in [
        "/api",
        "/apis",
        "/api/v1",
        "/openapi/v2",
        "/healthzx",
        "/versions",
        "/",
    ] {
        expect_401(&server.anonymous().get(path).unwrap(), path);
    }

    // No token ever reaches the log.
    let log = server.log();
    assert!(log.contains("listening"), "the log is being written: {log}");
    for secret in [ALICE, BOB, server.token.as_str(), "unknown-token"] {
        assert!(!log.contains(secret), "the log shows a token ({secret})");
    }
}

#[test]
fn file_users_exist_only_with_the_file() {
    let server = ApiServer::start().expect("server starts");
    let alice = server.https().with_token(Some(ALICE));
    expect_401(
        &alice.get("/api/v1/namespaces").unwrap(),
        "alice without --token-file",
    );
    assert_eq!(
        server.https().get("/api/v1/namespaces").unwrap().status,
        200
    );
}

/// Runs the server with `--token-file PATH` on a fresh data dir; it must
/// exit with an error (polled with a deadline). Returns stdout + stderr.
fn refused_with(dir: &Path, token_file: &Path) -> String {
    let data = dir.join("data");
    let stderr_path = dir.join("stderr.log");
    let stdout_path = dir.join("stdout.log");
    let mut child = Command::new(binary("federation-apiserver"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0", "--token-file"])
        .arg(token_file)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&stdout_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
        .spawn()
        .expect("spawn federation-apiserver");
    let status = wait_for(Duration::from_secs(30), "the server to exit", || {
        child.try_wait().ok().flatten()
    });
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{e}: the server kept running with a bad token file");
        }
    };
    let output = format!(
        "{}{}",
        std::fs::read_to_string(&stdout_path).unwrap(),
        std::fs::read_to_string(&stderr_path).unwrap()
    );
    assert!(!status.success(), "exit status {status}; output: {output}");
    assert!(
        !data.join("kubeconfig").exists(),
        "no kubeconfig is written by a server that does not serve"
    );
    output
}

fn refused(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = write_token_file(dir.path(), text);
    refused_with(dir.path(), Path::new(&file))
}

#[test]
fn malformed_token_files_stop_the_server_without_printing_tokens() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "ok-token-aaaa1111,ann,uid-a\n# a comment\nshort-secret-xyz987,onlyuser\n",
            "line 3",
            &["ok-token-aaaa1111", "short-secret-xyz987"],
        ),
        (
            "good-token-bbbb2222,bo,uid-b\nunterminated-secret-qq55,carl,uid-c,\"dev,ops\n",
            "line 2",
            &["good-token-bbbb2222", "unterminated-secret-qq55"],
        ),
        (
            "dup-secret-token-cccc,dan,uid-d\ndup-secret-token-cccc,eve,uid-e\n",
            "line 2",
            &["dup-secret-token-cccc"],
        ),
        (",frank,uid-f\n", "line 1", &["frank"]),
        (
            "no-user-secret-dddd,,uid-g\n",
            "line 1",
            &["no-user-secret-dddd"],
        ),
        (
            "bare\"quote-secret-eeee,greg,uid-h\n",
            "line 1",
            &["quote-secret-eeee"],
        ),
    ];
    for (text, line, secrets) in cases {
        let output = refused(text);
        assert!(
            output.contains(line),
            "the error names {line} for {text:?}: {output}"
        );
        assert!(
            output.to_lowercase().contains("token file"),
            "the error says it is about the token file: {output}"
        );
        for secret in *secrets {
            assert!(
                !output.contains(secret),
                "the error output shows {secret:?}: {output}"
            );
        }
    }

    // A missing file is an error naming the path.
    let dir = tempfile::tempdir().unwrap();
    let output = refused_with(dir.path(), &dir.path().join("nope.csv"));
    assert!(output.contains("nope.csv"), "{output}");
}
