//! Strategic merge patch metadata of the built-in kinds: which lists merge
//! element-wise and by which key, which lists are sets of primitives, which
//! objects are replaced whole.
//!
//! The source of truth is Kubernetes' `patchStrategy` / `patchMergeKey`
//! struct tags (as compiled into kubectl 1.33). Only fields whose behaviour
//! differs from the default, and the structs on the way to them, are listed:
//! a field without metadata merges like a JSON merge patch (objects merge key
//! by key, lists are replaced whole), which is exactly what Kubernetes does
//! for untagged (atomic) lists such as `tolerations`, `args` or `rules`.
//! A few atomic lists are listed anyway ([`atomic`]) to document them.
//!
//! A kind without an entry here ([`for_kind`] → `None`, e.g. a custom
//! resource) does not support strategic merge patch: the API answers 415.

/// How one field is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Objects merge key by key; lists (and scalars) are replaced whole.
    Default,
    /// `patchStrategy:"merge"` with a `patchMergeKey`: a list of objects
    /// merged element-wise, elements matched by this key.
    MergeByKey(&'static str),
    /// `patchStrategy:"merge"` without a key: a set of primitives (union).
    MergeSet,
    /// `patchStrategy:"replace"`: an object replaced whole.
    Replace,
}

/// Metadata of one field of a struct.
#[derive(Debug)]
pub struct Field {
    /// The JSON field name.
    pub name: &'static str,
    pub strategy: Strategy,
    /// `retainKeys` is among the strategies: clients send `$retainKeys` for
    /// it (the server honours `$retainKeys` wherever it appears).
    pub retain_keys: bool,
    /// The struct of the value, or of each element of a list.
    pub schema: Option<&'static Schema>,
}

/// Metadata of one struct: its fields with non-default behaviour (or
/// leading to some).
#[derive(Debug)]
pub struct Schema {
    /// The Kubernetes type name (for messages and tests).
    pub name: &'static str,
    pub fields: &'static [Field],
}

impl Schema {
    /// The metadata of one field, if it has any.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A nested struct merged key by key.
const fn object(name: &'static str, schema: &'static Schema) -> Field {
    Field {
        name,
        strategy: Strategy::Default,
        retain_keys: false,
        schema: Some(schema),
    }
}

/// A struct tagged `patchStrategy:"retainKeys"`.
const fn retain_keys(name: &'static str) -> Field {
    Field {
        name,
        strategy: Strategy::Default,
        retain_keys: true,
        schema: None,
    }
}

/// A list of objects merged by `key`; `elem` describes the elements.
const fn merge(name: &'static str, key: &'static str, elem: Option<&'static Schema>) -> Field {
    Field {
        name,
        strategy: Strategy::MergeByKey(key),
        retain_keys: false,
        schema: elem,
    }
}

/// A list of objects merged by `key` whose elements also carry `retainKeys`.
const fn merge_retain(name: &'static str, key: &'static str) -> Field {
    Field {
        name,
        strategy: Strategy::MergeByKey(key),
        retain_keys: true,
        schema: None,
    }
}

/// A set of primitives merged as a union.
const fn set(name: &'static str) -> Field {
    Field {
        name,
        strategy: Strategy::MergeSet,
        retain_keys: false,
        schema: None,
    }
}

/// A list replaced whole (no patch tags). Same as having no entry.
const fn atomic(name: &'static str) -> Field {
    Field {
        name,
        strategy: Strategy::Default,
        retain_keys: false,
        schema: None,
    }
}

/// An object replaced whole (`patchStrategy:"replace"`).
const fn replace(name: &'static str) -> Field {
    Field {
        name,
        strategy: Strategy::Replace,
        retain_keys: false,
        schema: None,
    }
}

// ---- meta/v1 ----------------------------------------------------------------

pub static OBJECT_META: Schema = Schema {
    name: "ObjectMeta",
    fields: &[
        set("finalizers"),
        merge("ownerReferences", "uid", None),
        atomic("managedFields"),
    ],
};

/// Status of every kind whose conditions are keyed by `type`.
static CONDITIONS_STATUS: Schema = Schema {
    name: "Status",
    fields: &[merge("conditions", "type", None)],
};

// ---- core/v1 ----------------------------------------------------------------

pub static CONTAINER: Schema = Schema {
    name: "Container",
    fields: &[
        merge("ports", "containerPort", None),
        merge("env", "name", None),
        merge("volumeMounts", "mountPath", None),
        merge("volumeDevices", "devicePath", None),
        atomic("envFrom"),
        atomic("command"),
        atomic("args"),
        atomic("resizePolicy"),
    ],
};

pub static POD_SPEC: Schema = Schema {
    name: "PodSpec",
    fields: &[
        merge_retain("volumes", "name"),
        merge("initContainers", "name", Some(&CONTAINER)),
        merge("containers", "name", Some(&CONTAINER)),
        // EphemeralContainerCommon carries the same tags as Container.
        merge("ephemeralContainers", "name", Some(&CONTAINER)),
        merge("imagePullSecrets", "name", None),
        merge("hostAliases", "ip", None),
        merge("topologySpreadConstraints", "topologyKey", None),
        merge("schedulingGates", "name", None),
        merge_retain("resourceClaims", "name"),
        atomic("tolerations"),
        atomic("readinessGates"),
    ],
};

pub static POD_TEMPLATE_SPEC: Schema = Schema {
    name: "PodTemplateSpec",
    fields: &[object("metadata", &OBJECT_META), object("spec", &POD_SPEC)],
};

static NAMESPACE: Schema = Schema {
    name: "Namespace",
    fields: &[
        object("metadata", &OBJECT_META),
        object("status", &CONDITIONS_STATUS),
    ],
};

/// ConfigMap, Secret, Event, Ingress, Lease, RBAC, ControllerRevision:
/// nothing beyond metadata.
static METADATA_ONLY: Schema = Schema {
    name: "Object",
    fields: &[object("metadata", &OBJECT_META)],
};

static SERVICE_SPEC: Schema = Schema {
    name: "ServiceSpec",
    fields: &[
        merge("ports", "port", None),
        atomic("externalIPs"),
        atomic("clusterIPs"),
        atomic("ipFamilies"),
        atomic("loadBalancerSourceRanges"),
    ],
};

static SERVICE: Schema = Schema {
    name: "Service",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &SERVICE_SPEC),
        object("status", &CONDITIONS_STATUS),
    ],
};

static SERVICE_ACCOUNT: Schema = Schema {
    name: "ServiceAccount",
    fields: &[
        object("metadata", &OBJECT_META),
        merge("secrets", "name", None),
        // Unlike PodSpec's, ServiceAccount.imagePullSecrets has no patch tags.
        atomic("imagePullSecrets"),
    ],
};

// ---- apps/v1, batch/v1 ------------------------------------------------------

/// The spec of Deployment, StatefulSet, DaemonSet, ReplicaSet and Job.
static WORKLOAD_SPEC: Schema = Schema {
    name: "WorkloadSpec",
    fields: &[
        object("template", &POD_TEMPLATE_SPEC),
        // DeploymentSpec.strategy is `patchStrategy:"retainKeys"`.
        retain_keys("strategy"),
        atomic("volumeClaimTemplates"),
    ],
};

static WORKLOAD: Schema = Schema {
    name: "Workload",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &WORKLOAD_SPEC),
        object("status", &CONDITIONS_STATUS),
    ],
};

static JOB_TEMPLATE_SPEC: Schema = Schema {
    name: "JobTemplateSpec",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &WORKLOAD_SPEC),
    ],
};

static CRON_JOB_SPEC: Schema = Schema {
    name: "CronJobSpec",
    fields: &[object("jobTemplate", &JOB_TEMPLATE_SPEC)],
};

static CRON_JOB: Schema = Schema {
    name: "CronJob",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &CRON_JOB_SPEC),
    ],
};

// ---- policy/v1, autoscaling/v2 ----------------------------------------------

static PDB_SPEC: Schema = Schema {
    name: "PodDisruptionBudgetSpec",
    fields: &[replace("selector")],
};

static PDB: Schema = Schema {
    name: "PodDisruptionBudget",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &PDB_SPEC),
        object("status", &CONDITIONS_STATUS),
    ],
};

static HPA: Schema = Schema {
    name: "HorizontalPodAutoscaler",
    fields: &[
        object("metadata", &OBJECT_META),
        object("status", &CONDITIONS_STATUS),
    ],
};

// ---- core/v1 kinds only members serve -------------------------------------

static POD: Schema = Schema {
    name: "Pod",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &POD_SPEC),
        object("status", &CONDITIONS_STATUS),
    ],
};

static NODE_SPEC: Schema = Schema {
    name: "NodeSpec",
    fields: &[atomic("taints"), atomic("podCIDRs")],
};

static NODE_STATUS: Schema = Schema {
    name: "NodeStatus",
    fields: &[
        merge("conditions", "type", None),
        merge("addresses", "type", None),
    ],
};

static NODE: Schema = Schema {
    name: "Node",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &NODE_SPEC),
        object("status", &NODE_STATUS),
    ],
};

/// The patch metadata of a built-in kind, `None` for any other kind (which
/// then does not support strategic merge patch).
pub fn for_kind(group: &str, version: &str, kind: &str) -> Option<&'static Schema> {
    Some(match (group, version, kind) {
        ("", "v1", "Namespace") => &NAMESPACE,
        ("", "v1", "ConfigMap" | "Secret" | "Event") => &METADATA_ONLY,
        ("", "v1", "Service") => &SERVICE,
        ("", "v1", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "v1", "Pod") => &POD,
        ("", "v1", "Node") => &NODE,
        ("apps", "v1", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => &WORKLOAD,
        ("batch", "v1", "Job") => &WORKLOAD,
        ("batch", "v1", "CronJob") => &CRON_JOB,
        ("networking.k8s.io", "v1", "Ingress") => &METADATA_ONLY,
        ("policy", "v1", "PodDisruptionBudget") => &PDB,
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => &HPA,
        ("coordination.k8s.io", "v1", "Lease") => &METADATA_ONLY,
        // Its data is a RawExtension: a patch replaces it.
        ("apps", "v1", "ControllerRevision") => &METADATA_ONLY,
        // Rules, subjects: no patch strategy (a patch replaces the list).
        (
            "rbac.authorization.k8s.io",
            "v1",
            "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding",
        ) => &METADATA_ONLY,
        // Its lists (versions, columns, conditions) carry no patch strategy.
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => &METADATA_ONLY,
        _ => return None,
    })
}

/// The metadata of the field at a dotted path (`spec.template.spec.containers`),
/// descending through structs and list elements.
pub fn lookup(root: &'static Schema, path: &str) -> Option<&'static Field> {
    let mut schema = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let field = schema.field(part)?;
        if parts.peek().is_none() {
            return Some(field);
        }
        schema = field.schema?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::registry::Registry;

    fn strategy(group: &str, kind: &str, path: &str) -> Option<Strategy> {
        let version = match group {
            "autoscaling" => "v2",
            _ => "v1",
        };
        lookup(for_kind(group, version, kind).unwrap(), path).map(|f| f.strategy)
    }

    #[test]
    fn strategic_every_builtin_kind_has_metadata() {
        for rt in Registry::builtin().all() {
            assert!(
                for_kind(&rt.group, &rt.version, &rt.kind).is_some(),
                "{}/{} {} has no patch metadata",
                rt.group,
                rt.version,
                rt.kind
            );
        }
        assert!(for_kind("example.com", "v1", "Widget").is_none());
        assert!(for_kind("apps", "v1beta1", "Deployment").is_none());
    }

    #[test]
    fn strategic_pod_spec_paths() {
        let pod = "spec.template.spec";
        for kind in ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"] {
            for (field, key) in [
                ("containers", "name"),
                ("initContainers", "name"),
                ("ephemeralContainers", "name"),
                ("volumes", "name"),
                ("imagePullSecrets", "name"),
                ("hostAliases", "ip"),
                ("topologySpreadConstraints", "topologyKey"),
                ("containers.env", "name"),
                ("containers.ports", "containerPort"),
                ("containers.volumeMounts", "mountPath"),
                ("initContainers.volumeDevices", "devicePath"),
            ] {
                assert_eq!(
                    strategy("apps", kind, &format!("{pod}.{field}")),
                    Some(Strategy::MergeByKey(key)),
                    "{kind} {field}"
                );
            }
            assert_eq!(
                strategy("apps", kind, &format!("{pod}.tolerations")),
                Some(Strategy::Default)
            );
            assert_eq!(
                strategy("apps", kind, "spec.template.metadata.finalizers"),
                Some(Strategy::MergeSet)
            );
            assert_eq!(
                strategy("apps", kind, "status.conditions"),
                Some(Strategy::MergeByKey("type"))
            );
        }
        assert_eq!(
            strategy("batch", "Job", "spec.template.spec.containers.env"),
            Some(Strategy::MergeByKey("name"))
        );
        assert_eq!(
            strategy(
                "batch",
                "CronJob",
                "spec.jobTemplate.spec.template.spec.containers"
            ),
            Some(Strategy::MergeByKey("name"))
        );
        assert!(
            lookup(
                for_kind("apps", "v1", "Deployment").unwrap(),
                "spec.strategy"
            )
            .unwrap()
            .retain_keys
        );
    }

    #[test]
    fn strategic_other_kinds() {
        assert_eq!(
            strategy("", "Service", "spec.ports"),
            Some(Strategy::MergeByKey("port"))
        );
        assert_eq!(
            strategy("", "ServiceAccount", "secrets"),
            Some(Strategy::MergeByKey("name"))
        );
        assert_eq!(
            strategy("", "ConfigMap", "metadata.ownerReferences"),
            Some(Strategy::MergeByKey("uid"))
        );
        assert_eq!(
            strategy("policy", "PodDisruptionBudget", "spec.selector"),
            Some(Strategy::Replace)
        );
        assert_eq!(
            strategy(
                "autoscaling",
                "HorizontalPodAutoscaler",
                "status.conditions"
            ),
            Some(Strategy::MergeByKey("type"))
        );
        assert_eq!(
            strategy("", "Namespace", "status.conditions"),
            Some(Strategy::MergeByKey("type"))
        );
        assert_eq!(strategy("", "ConfigMap", "data"), None);
    }
}
