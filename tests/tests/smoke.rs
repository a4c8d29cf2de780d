//! The server starts, answers health checks anonymously and requires a token elsewhere.

use flotilla_e2e::ApiServer;

#[test]
fn starts_and_requires_a_token() {
    let server = ApiServer::start().expect("server starts");
    assert_eq!(server.anonymous().get("/healthz").unwrap().status, 200);
    assert_eq!(server.anonymous().get("/version").unwrap().status, 200);
    let denied = server.anonymous().get("/api/v1/namespaces").unwrap();
    assert_eq!(denied.status, 401);
    assert_eq!(denied.json()["kind"], "Status");
    let ns = server.https().get("/api/v1/namespaces/default").unwrap();
    assert_eq!(ns.status, 200, "{}", ns.text());
}
