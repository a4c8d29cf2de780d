//! What a REST path addresses: group, version, namespace, resource, name,
//! subresource — parsed the way kube-apiserver's RequestInfo does.

/// A parsed resource path such as `/apis/apps/v1/namespaces/ns/deployments/web/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// `""` for the core group (`/api/v1`).
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    /// The resource's plural name.
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Subresources of a namespace addressed as `/api/v1/namespaces/NAME/SUB`.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Parses a resource path; `None` for anything that is not one (discovery,
/// health, unknown prefixes) or has empty segments.
pub fn parse(path: &str) -> Option<RequestInfo> {
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let mut info = RequestInfo {
        group: group.to_string(),
        version: version.to_string(),
        namespace: None,
        resource: String::new(),
        name: None,
        subresource: None,
    };
    let rest: &[&str] = match rest {
        [] => return None,
        ["namespaces", ns] => {
            info.resource = "namespaces".into();
            info.name = Some(ns.to_string());
            return Some(info);
        }
        ["namespaces", ns, sub] if NAMESPACE_SUBRESOURCES.contains(sub) => {
            info.resource = "namespaces".into();
            info.name = Some(ns.to_string());
            info.subresource = Some(sub.to_string());
            return Some(info);
        }
        ["namespaces", ns, rest @ ..] => {
            info.namespace = Some(ns.to_string());
            rest
        }
        rest => rest,
    };
    match rest {
        [resource] => info.resource = resource.to_string(),
        [resource, name] => {
            info.resource = resource.to_string();
            info.name = Some(name.to_string());
        }
        [resource, name, sub] => {
            info.resource = resource.to_string();
            info.name = Some(name.to_string());
            info.subresource = Some(sub.to_string());
        }
        _ => return None,
    }
    Some(info)
}

/// Query parameters of a request, tolerant of unknown keys and empty pairs.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
    /// The request's `User-Agent` (the default field manager of writes).
    user_agent: Option<String>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| !k.is_empty())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            pairs,
            user_agent: None,
        }
    }

    /// This query, for a request with this `User-Agent` header.
    pub fn with_user_agent(mut self, user_agent: Option<&str>) -> Self {
        self.user_agent = user_agent.map(str::to_string);
        self
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The last value of `key`, if present and non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// `true` for `key=true` / `key=1`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true") | Some("1"))
    }

    /// Every value of a repeated key (`dryRun=All`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `dryRun=All` was asked for.
    pub fn dry_run(&self) -> bool {
        self.all("dryRun").contains(&"All")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(g: &str, ns: Option<&str>, r: &str, n: Option<&str>, s: Option<&str>) -> RequestInfo {
        RequestInfo {
            group: g.into(),
            version: "v1".into(),
            namespace: ns.map(Into::into),
            resource: r.into(),
            name: n.map(Into::into),
            subresource: s.map(Into::into),
        }
    }

    #[test]
    fn parses_resource_paths() {
        assert_eq!(
            parse("/api/v1/namespaces"),
            Some(info("", None, "namespaces", None, None))
        );
        assert_eq!(
            parse("/api/v1/namespaces/a"),
            Some(info("", None, "namespaces", Some("a"), None))
        );
        assert_eq!(
            parse("/api/v1/namespaces/a/status"),
            Some(info("", None, "namespaces", Some("a"), Some("status")))
        );
        assert_eq!(
            parse("/api/v1/namespaces/a/configmaps"),
            Some(info("", Some("a"), "configmaps", None, None))
        );
        assert_eq!(
            parse("/apis/apps/v1/namespaces/a/deployments/web/scale"),
            Some(info(
                "apps",
                Some("a"),
                "deployments",
                Some("web"),
                Some("scale")
            ))
        );
        assert_eq!(
            parse("/api/v1/configmaps"),
            Some(info("", None, "configmaps", None, None))
        );
        assert_eq!(parse("/api/v1"), None);
        assert_eq!(parse("/apis/apps/v1"), None);
        assert_eq!(parse("/healthz"), None);
        assert_eq!(parse("/api/v1//configmaps"), None);
        assert_eq!(parse("/api/v1/namespaces/a/configmaps/b/c/d"), None);
    }

    #[test]
    fn query_tolerates_noise() {
        let q = Query::parse(Some(
            "&watch=true&timeout=32s&&labelSelector=a%3Db&dryRun=All",
        ));
        assert!(q.flag("watch"));
        assert_eq!(q.get("labelSelector"), Some("a=b"));
        assert!(q.dry_run());
        assert_eq!(q.get("missing"), None);
    }
}
