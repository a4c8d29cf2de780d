//! kubectl kubeconfig files for the Flotilla API server.
//!
//! On start the server writes `DATA_DIR/kubeconfig` (mode 0600) with a cluster
//! `flotilla`, user `flotilla-admin` (bearer token) and context `flotilla`,
//! which is also the `current-context`; `kubectl --kubeconfig DATA_DIR/kubeconfig`
//! works as is. [`Kubeconfig::add_context`] adds more entries (e.g. `member-1`
//! for a simulated member cluster).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

/// File name of the admin kubeconfig inside the data directory.
pub const KUBECONFIG_FILE: &str = "kubeconfig";
/// Name of the cluster and context in the admin kubeconfig.
pub const DEFAULT_CONTEXT: &str = "flotilla";

/// A kubeconfig (`apiVersion: v1`, `kind: Config`).
///
/// # Caveats
/// Only the fields Flotilla uses are modelled; [`Kubeconfig::load`] followed
/// by [`Kubeconfig::write`] drops any other fields (client certificates,
/// exec plugins, preferences, extensions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub clusters: Vec<NamedCluster>,
    #[serde(default)]
    pub users: Vec<NamedUser>,
    #[serde(default)]
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    pub current_context: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub name: String,
    pub cluster: Cluster,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// `https://HOST:PORT`.
    pub server: String,
    /// Base64 of the CA certificate PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: User,
}

/// A user's credentials. `Debug` does not print the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    pub name: String,
    pub context: Context,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub cluster: String,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Kubeconfig {
    /// A kubeconfig with one cluster `name`, user `{name}-admin` (bearer
    /// `token`) and context `name`, which is the current context.
    pub fn new_single(name: &str, server_url: &str, ca_pem: &str, token: &str) -> Self {
        let mut config = Self {
            api_version: "v1".to_string(),
            kind: "Config".to_string(),
            clusters: Vec::new(),
            users: Vec::new(),
            contexts: Vec::new(),
            current_context: name.to_string(),
        };
        config.add_context(name, server_url, ca_pem, token);
        config
    }

    /// Adds (or replaces) cluster `name`, user `{name}-admin` and context
    /// `name`. The current context is left unchanged.
    pub fn add_context(&mut self, name: &str, server_url: &str, ca_pem: &str, token: &str) {
        let user_name = format!("{name}-admin");
        let cluster = NamedCluster {
            name: name.to_string(),
            cluster: Cluster {
                server: server_url.to_string(),
                certificate_authority_data: Some(
                    base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes()),
                ),
            },
        };
        let user = NamedUser {
            name: user_name.clone(),
            user: User {
                token: Some(token.to_string()),
            },
        };
        let context = NamedContext {
            name: name.to_string(),
            context: Context {
                cluster: name.to_string(),
                user: user_name,
                namespace: None,
            },
        };
        upsert(&mut self.clusters, cluster, |c| &c.name);
        upsert(&mut self.users, user, |u| &u.name);
        upsert(&mut self.contexts, context, |c| &c.name);
    }

    /// Adds (or replaces) every cluster, user and context of `other`; the
    /// current context is left unchanged.
    pub fn merge_from(&mut self, other: &Kubeconfig) {
        for cluster in &other.clusters {
            upsert(&mut self.clusters, cluster.clone(), |c| &c.name);
        }
        for user in &other.users {
            upsert(&mut self.users, user.clone(), |u| &u.name);
        }
        for context in &other.contexts {
            upsert(&mut self.contexts, context.clone(), |c| &c.name);
        }
    }

    /// The context named `name`, if any.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.context)
    }

    /// Serialises to YAML.
    pub fn to_yaml(&self) -> io::Result<String> {
        serde_yaml_ng::to_string(self).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Writes the kubeconfig to `path` atomically (temp file + rename) with
    /// mode 0600 on Unix.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        crate::pki::write_atomic(path, self.to_yaml()?.as_bytes(), 0o600)
    }

    /// Reads a kubeconfig; YAML errors are reported as
    /// [`io::ErrorKind::InvalidData`].
    pub fn load(path: &Path) -> io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        serde_yaml_ng::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }
}

fn upsert<T>(items: &mut Vec<T>, item: T, name: impl Fn(&T) -> &String) {
    match items.iter().position(|i| name(i) == name(&item)) {
        Some(index) => items[index] = item,
        None => items.push(item),
    }
}

/// `https://HOST:PORT` for a listen address; an unspecified IP (`0.0.0.0`,
/// `::`) becomes `127.0.0.1`, IPv6 addresses are bracketed.
pub fn server_url(listen: SocketAddr) -> String {
    let ip = if listen.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        listen.ip()
    };
    format!("https://{}", SocketAddr::new(ip, listen.port()))
}

/// Writes the admin kubeconfig (`dir/kubeconfig`, one cluster, user and
/// context named `context` — `flotilla` for the federation) for a server
/// listening on `listen`, and returns its path.
pub fn write_admin_kubeconfig(
    dir: &Path,
    context: &str,
    listen: SocketAddr,
    ca_pem: &str,
    token: &str,
) -> io::Result<PathBuf> {
    let path = dir.join(KUBECONFIG_FILE);
    Kubeconfig::new_single(context, &server_url(listen), ca_pem, token).write(&path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn merging_adds_contexts_and_keeps_the_current_one() {
        let mut fed = Kubeconfig::new_single("flotilla", "https://127.0.0.1:6443", CA, "a");
        let member = Kubeconfig::new_single("member-1", "https://127.0.0.1:7000", CA, "b");
        fed.merge_from(&member);
        fed.merge_from(&member);
        assert_eq!(fed.current_context, "flotilla");
        assert_eq!(fed.contexts.len(), 2);
        assert_eq!(
            fed.context("member-1").map(|c| c.user.as_str()),
            Some("member-1-admin")
        );
        assert_eq!(fed.clusters[1].cluster.server, "https://127.0.0.1:7000");
    }

    #[test]
    fn server_url_handles_unspecified_and_ipv6() {
        let url = |s: &str| server_url(s.parse().expect("addr"));
        assert_eq!(url("0.0.0.0:6443"), "https://127.0.0.1:6443");
        assert_eq!(url("[::]:6443"), "https://127.0.0.1:6443");
        assert_eq!(url("10.0.0.5:443"), "https://10.0.0.5:443");
        assert_eq!(url("[fd00::1]:6443"), "https://[fd00::1]:6443");
    }

    #[test]
    fn yaml_has_kubectl_field_names() {
        let config = Kubeconfig::new_single("flotilla", "https://127.0.0.1:6443", CA, "s3cret");
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&config.to_yaml().expect("yaml")).expect("parse");
        assert_eq!(yaml["apiVersion"], "v1");
        assert_eq!(yaml["kind"], "Config");
        assert_eq!(yaml["current-context"], "flotilla");
        let cluster = &yaml["clusters"][0];
        assert_eq!(cluster["name"], "flotilla");
        assert_eq!(cluster["cluster"]["server"], "https://127.0.0.1:6443");
        let ca_data = cluster["cluster"]["certificate-authority-data"]
            .as_str()
            .expect("ca data");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(ca_data)
            .expect("base64");
        assert_eq!(decoded, CA.as_bytes());
        assert_eq!(yaml["users"][0]["name"], "flotilla-admin");
        assert_eq!(yaml["users"][0]["user"]["token"], "s3cret");
        assert_eq!(yaml["contexts"][0]["name"], "flotilla");
        assert_eq!(yaml["contexts"][0]["context"]["cluster"], "flotilla");
        assert_eq!(yaml["contexts"][0]["context"]["user"], "flotilla-admin");
        assert!(yaml["contexts"][0]["context"].get("namespace").is_none());
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn write_load_round_trip_with_member_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        let listen: SocketAddr = "0.0.0.0:7443".parse().expect("addr");
        let path =
            write_admin_kubeconfig(dir.path(), DEFAULT_CONTEXT, listen, CA, "tok").expect("write");
        assert_eq!(path, dir.path().join("kubeconfig"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let mut config = Kubeconfig::load(&path).expect("load");
        assert_eq!(config.clusters[0].cluster.server, "https://127.0.0.1:7443");
        config.add_context("member-1", "https://127.0.0.1:7444", CA, "member-tok");
        config.add_context("member-1", "https://127.0.0.1:7445", CA, "member-tok2");
        config.write(&path).expect("rewrite");

        let reloaded = Kubeconfig::load(&path).expect("reload");
        assert_eq!(reloaded, config);
        assert_eq!(reloaded.contexts.len(), 2);
        assert_eq!(reloaded.current_context, "flotilla");
        let member = reloaded.context("member-1").expect("member context");
        assert_eq!(member.user, "member-1-admin");
        assert_eq!(
            reloaded.clusters[1].cluster.server,
            "https://127.0.0.1:7445"
        );
        assert_eq!(reloaded.users[1].user.token.as_deref(), Some("member-tok2"));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .collect();
        assert!(leftovers.is_empty(), "temp files left behind");
    }

    #[test]
    fn load_rejects_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad");
        std::fs::write(&path, "clusters: [oops").expect("write");
        let err = Kubeconfig::load(&path).expect_err("invalid");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
