//! Per-kind write behaviour as data — what kube-apiserver's per-kind
//! *strategies* decide (which verbs a kind has), carried by every
//! [`ResourceType`](super::registry::ResourceType) so that generic REST code
//! never branches on a kind's name.

/// What a kind's strategy decides, beyond its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strategy {
    /// Whether `DELETE` on the collection (deletecollection) is served.
    /// Namespaces have none in Kubernetes.
    pub delete_collection: bool,
}

impl Default for Strategy {
    /// A kind with every verb.
    fn default() -> Self {
        Strategy {
            delete_collection: true,
        }
    }
}

/// The strategy of a built-in kind (`group`, `plural`).
pub fn builtin(group: &str, plural: &str) -> Strategy {
    match (group, plural) {
        ("", "namespaces") => Strategy {
            delete_collection: false,
        },
        _ => Strategy::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_have_no_deletecollection() {
        assert!(!builtin("", "namespaces").delete_collection);
        assert!(builtin("", "configmaps").delete_collection);
        assert!(Strategy::default().delete_collection);
    }
}
