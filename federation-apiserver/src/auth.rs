//! Bearer-token authentication.
//!
//! A [`TokenAuthenticator`] maps tokens to users: the admin token (user
//! `flotilla-admin`, groups `system:masters` and `system:authenticated`) plus,
//! optionally, users from a kube-apiserver static token file
//! (`--token-file`). [`authenticate`] is the axum middleware that enforces it.
//!
//! Tokens never appear in logs, errors or `Debug` output.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;

use crate::status::ApiError;

/// The admin user's name (and uid).
pub const ADMIN_USER: &str = "flotilla-admin";
/// Group every authenticated user belongs to.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Superuser group.
pub const MASTERS_GROUP: &str = "system:masters";

/// The authenticated user, inserted into request extensions by
/// [`authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

/// Errors loading a static token file.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read token file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A malformed line; the message never contains the line's content.
    #[error("token file line {line}: {reason}")]
    Malformed { line: usize, reason: String },
}

/// Token → user table.
///
/// # Caveats
/// Lookup is a `HashMap` lookup (SipHash with a random key), not a
/// constant-time comparison; an attacker cannot steer which stored token a
/// guess is compared against, which makes the residual timing signal
/// impractical to exploit.
#[derive(Clone, Default)]
pub struct TokenAuthenticator {
    tokens: HashMap<String, UserInfo>,
}

impl fmt::Debug for TokenAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuthenticator")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl TokenAuthenticator {
    /// An authenticator knowing only the admin token.
    pub fn new(admin_token: &str) -> Self {
        let mut tokens = HashMap::new();
        tokens.insert(
            admin_token.to_string(),
            UserInfo {
                name: ADMIN_USER.to_string(),
                uid: ADMIN_USER.to_string(),
                groups: vec![MASTERS_GROUP.to_string(), AUTHENTICATED_GROUP.to_string()],
            },
        );
        Self { tokens }
    }

    /// The admin token plus the users of `token_file`, if given.
    pub fn with_token_file(
        admin_token: &str,
        token_file: Option<&Path>,
    ) -> Result<Self, AuthError> {
        let mut auth = Self::new(admin_token);
        if let Some(path) = token_file {
            let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
                path: path.display().to_string(),
                source,
            })?;
            auth.add_token_csv(&text)?;
        }
        Ok(auth)
    }

    /// Adds users from kube-apiserver static token CSV:
    /// `token,user,uid[,"group1,group2"]`.
    ///
    /// # Guarantees
    /// - Blank lines and lines starting with `#` are skipped; fields are
    ///   trimmed; empty groups are dropped; columns after the fourth are
    ///   ignored (as kube-apiserver does).
    /// - Every user also gets `system:authenticated`.
    /// - Nothing is added unless the whole text parses.
    ///
    /// # Caveats
    /// Unlike kube-apiserver (which warns and keeps the last one), a duplicate
    /// token, including one equal to the admin token, is an error.
    pub fn add_token_csv(&mut self, text: &str) -> Result<(), AuthError> {
        let mut parsed: HashMap<String, UserInfo> = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let malformed = |reason: &str| AuthError::Malformed {
                line,
                reason: reason.to_string(),
            };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields = split_csv_line(trimmed).map_err(malformed)?;
            if fields.len() < 3 {
                return Err(AuthError::Malformed {
                    line,
                    reason: format!(
                        "expected at least 3 columns (token,user,uid), found {}",
                        fields.len()
                    ),
                });
            }
            let (token, name, uid) = (&fields[0], &fields[1], &fields[2]);
            if token.is_empty() {
                return Err(malformed("empty token"));
            }
            if name.is_empty() {
                return Err(malformed("empty user name"));
            }
            let mut groups: Vec<String> = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
                groups.push(AUTHENTICATED_GROUP.to_string());
            }
            if self.tokens.contains_key(token) || parsed.contains_key(token) {
                return Err(malformed("duplicate token"));
            }
            let user = UserInfo {
                name: name.clone(),
                uid: uid.clone(),
                groups,
            };
            parsed.insert(token.clone(), user);
        }
        self.tokens.extend(parsed);
        Ok(())
    }

    /// The user owning `token`, if any.
    pub fn lookup(&self, token: &str) -> Option<&UserInfo> {
        self.tokens.get(token)
    }

    /// The user named by an `Authorization` header value
    /// (`Bearer <token>`, scheme case-insensitive).
    pub fn authenticate_header(&self, value: &str) -> Option<&UserInfo> {
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim();
        if token.is_empty() {
            return None;
        }
        self.lookup(token)
    }

    /// Number of known tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// Splits one CSV line (RFC 4180 quoting, `""` escapes a quote inside a
/// quoted field). Fields are trimmed. Errors never quote the input.
fn split_csv_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted field"),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            match chars.next() {
                None => {
                    fields.push(field.trim().to_string());
                    return Ok(fields);
                }
                Some(',') => fields.push(field.trim().to_string()),
                Some(_) => return Err("unexpected character after closing quote"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim().to_string());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("bare quote in unquoted field"),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field.trim().to_string());
        }
    }
}

/// True for the unauthenticated health and version endpoints.
pub fn is_public_path(path: &str) -> bool {
    ["/healthz", "/livez", "/readyz"].iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    }) || path == "/version"
        || path == "/version/"
}

/// axum middleware (`axum::middleware::from_fn_with_state`): authenticates
/// `Authorization: Bearer <token>`.
///
/// # Guarantees
/// - Public paths ([`is_public_path`]) pass without a token.
/// - Otherwise a missing, malformed or unknown token is answered with 401 and
///   a Kubernetes `Status` body; a known token puts its [`UserInfo`] into the
///   request extensions.
/// - After successful authentication the `Authorization` header is removed,
///   so later layers cannot leak the token.
pub async fn authenticate(
    State(auth): State<Arc<TokenAuthenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let user = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| auth.authenticate_header(v))
        .cloned();
    match user {
        Some(user) => {
            request.headers_mut().remove(AUTHORIZATION);
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        None if is_public_path(request.uri().path()) => next.run(request).await,
        None => {
            tracing::debug!(
                method = %request.method(),
                path = %request.uri().path(),
                has_authorization = request.headers().contains_key(AUTHORIZATION),
                "rejected unauthenticated request"
            );
            ApiError::unauthorized().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::{Extension, Router};
    use http::StatusCode;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const ADMIN: &str = "admin-token-0123456789abcdef";

    #[test]
    fn csv_quoted_groups_missing_groups_and_comments() {
        let mut auth = TokenAuthenticator::new(ADMIN);
        let csv = "# a comment\n\n\
                   tok-a,alice,uid-a,\"dev,ops\"\r\n\
                   tok-b, bob ,uid-b\n\
                   \x20 # indented comment\n\
                   tok-c,carol,uid-c,\"\",extra\n\
                   tok-d,dave,uid-d,single\n";
        auth.add_token_csv(csv).expect("valid csv");
        assert_eq!(auth.len(), 5);
        let alice = auth.lookup("tok-a").expect("alice");
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.uid, "uid-a");
        assert_eq!(alice.groups, ["dev", "ops", AUTHENTICATED_GROUP]);
        let bob = auth.lookup("tok-b").expect("bob");
        assert_eq!(bob.name, "bob");
        assert_eq!(bob.groups, [AUTHENTICATED_GROUP]);
        assert_eq!(
            auth.lookup("tok-c").expect("carol").groups,
            [AUTHENTICATED_GROUP]
        );
        assert_eq!(
            auth.lookup("tok-d").expect("dave").groups,
            ["single", AUTHENTICATED_GROUP]
        );
        let admin = auth.lookup(ADMIN).expect("admin");
        assert_eq!(admin.groups, [MASTERS_GROUP, AUTHENTICATED_GROUP]);
    }

    #[test]
    fn csv_errors_name_the_line_not_the_token() {
        let cases = [
            ("ok,u,1\nsecret-tok,only-user\n", 2),
            ("# c\n\nsecret-tok,u,1,\"a,b\n", 3),
            ("secret-tok,u,1,\"a\"b\n", 1),
            (",u,1\n", 1),
            ("secret-tok,u,1\nsecret-tok,v,2\n", 2),
            (&format!("{ADMIN},u,1\n"), 1),
        ];
        for (csv, line) in cases {
            let mut auth = TokenAuthenticator::new(ADMIN);
            let err = auth.add_token_csv(csv).expect_err(csv);
            assert!(
                matches!(err, AuthError::Malformed { line: l, .. } if l == line),
                "{err}"
            );
            let message = err.to_string();
            assert!(
                !message.contains("secret-tok") && !message.contains(ADMIN),
                "{message}"
            );
            assert_eq!(auth.len(), 1, "nothing added on error");
        }
    }

    #[test]
    fn token_file_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, "t1,u1,1\n").expect("write");
        let auth = TokenAuthenticator::with_token_file(ADMIN, Some(&path)).expect("load");
        assert_eq!(auth.lookup("t1").map(|u| u.name.as_str()), Some("u1"));
        assert!(
            TokenAuthenticator::with_token_file(ADMIN, Some(&dir.path().join("nope"))).is_err()
        );
        assert!(!format!("{auth:?}").contains(ADMIN));
    }

    #[test]
    fn public_paths() {
        for p in [
            "/healthz",
            "/livez",
            "/readyz",
            "/readyz/ping",
            "/healthz/etcd",
            "/version",
        ] {
            assert!(is_public_path(p), "{p}");
        }
        for p in [
            "/",
            "/api",
            "/healthzz",
            "/readyzx/ping",
            "/versions",
            "/api/v1/healthz",
        ] {
            assert!(!is_public_path(p), "{p}");
        }
    }

    fn app() -> Router {
        let auth = Arc::new(TokenAuthenticator::new(ADMIN));
        Router::new()
            .route("/readyz/ping", get(|| async { "ok" }))
            .route(
                "/api",
                get(
                    |Extension(user): Extension<UserInfo>, headers: http::HeaderMap| async move {
                        assert!(!headers.contains_key(AUTHORIZATION), "header stripped");
                        user.name
                    },
                ),
            )
            .layer(axum::middleware::from_fn_with_state(auth, authenticate))
    }

    async fn call(path: &str, token: Option<&str>) -> (StatusCode, Vec<u8>) {
        let mut request = http::Request::builder().uri(path);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = app()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, body.to_vec())
    }

    #[tokio::test]
    async fn middleware_enforces_tokens() {
        let (status, body) = call("/readyz/ping", None).await;
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"ok"[..]));

        for token in [None, Some("wrong"), Some("")] {
            let (status, body) = call("/api", token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            let status_json: serde_json::Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(status_json["kind"], "Status");
            assert_eq!(status_json["code"], 401);
            assert_eq!(status_json["reason"], "Unauthorized");
        }

        let (status, body) = call("/api", Some(ADMIN)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, ADMIN_USER.as_bytes());
    }
}
