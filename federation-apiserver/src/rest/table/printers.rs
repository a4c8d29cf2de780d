//! The columns of the built-in kinds, as `kubectl get` shows them against a
//! real cluster. Where kube-apiserver would have defaulted a field that this
//! server stores as written (replicas, Service type, port protocol, Secret
//! type, HPA minReplicas, CronJob suspend), the cell shows the default.

use serde_json::Value;

use super::cells::*;
use super::{since, CellFn, Column, Printer};

fn col(name: &str, type_: &str, description: &str, cell: CellFn) -> Column {
    Column::computed(name, type_, 0, description, cell)
}

/// A column shown only with `-o wide`.
fn wide(name: &str, description: &str, cell: CellFn) -> Column {
    Column::computed(name, "string", 1, description, cell)
}

const CONTAINERS: &str = "Names of each container in the template.";
const IMAGES: &str = "Images referenced by each container in the template.";

fn pod_template_columns(wide_selector: Option<CellFn>) -> Vec<Column> {
    let mut columns = vec![
        wide("Containers", CONTAINERS, |o, _| {
            containers(o, "/spec/template/spec/containers", "name")
        }),
        wide("Images", IMAGES, |o, _| {
            containers(o, "/spec/template/spec/containers", "image")
        }),
    ];
    if let Some(selector) = wide_selector {
        columns.push(wide("Selector", "Label query over pods.", selector));
    }
    columns
}

fn with(mut head: Vec<Column>, tail: Vec<Column>) -> Printer {
    head.extend(tail);
    Printer::new(head)
}

/// `(group, kind, printer)` for every built-in kind.
pub(super) fn builtin() -> Vec<(&'static str, &'static str, Printer)> {
    use Column as C;
    let name = C::name;
    let age = C::age;
    vec![
        (
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            Printer::new(vec![
                name(),
                col("Created At", "date", "Time the CRD was created.", |o, _| {
                    o.pointer("/metadata/creationTimestamp")
                        .cloned()
                        .unwrap_or(Value::Null)
                }),
            ]),
        ),
        (
            "",
            "Namespace",
            Printer::new(vec![
                name(),
                col("Status", "string", "The status of the namespace", |o, _| {
                    s(text(o, "/status/phase"))
                }),
                age(),
            ]),
        ),
        (
            "",
            "ConfigMap",
            Printer::new(vec![
                name(),
                col("Data", "integer", "Number of data entries.", |o, _| {
                    Value::from(count(o, "/data") + count(o, "/binaryData"))
                }),
                age(),
            ]),
        ),
        (
            "",
            "Secret",
            Printer::new(vec![
                name(),
                col("Type", "string", "The type of the secret.", |o, _| {
                    let t = text(o, "/type");
                    s(if t.is_empty() { "Opaque".into() } else { t })
                }),
                col("Data", "integer", "Number of data entries.", |o, _| {
                    Value::from(secret_keys(o))
                }),
                age(),
            ]),
        ),
        (
            "",
            "Service",
            Printer::new(vec![
                name(),
                col("Type", "string", "The type of the service.", |o, _| {
                    s(service_type(o))
                }),
                col(
                    "Cluster-IP",
                    "string",
                    "The service's cluster IP.",
                    |o, _| {
                        let ip = list(o, "/spec/clusterIPs")
                            .first()
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .unwrap_or_else(|| text(o, "/spec/clusterIP"));
                        s(if ip.is_empty() { "<none>".into() } else { ip })
                    },
                ),
                col(
                    "External-IP",
                    "string",
                    "External addresses of the service.",
                    |o, _| s(service_external_ip(o)),
                ),
                col("Port(s)", "string", "The service's ports.", |o, _| {
                    s(service_ports(o))
                }),
                age(),
                wide("Selector", "Label query over pods.", |o, _| {
                    s(format_labels(at(o, "/spec/selector")))
                }),
            ]),
        ),
        (
            "",
            "ServiceAccount",
            Printer::new(vec![
                name(),
                col("Secrets", "integer", "Number of secrets.", |o, _| {
                    Value::from(count(o, "/secrets"))
                }),
                age(),
            ]),
        ),
        ("", "Event", event_printer()),
        (
            "apps",
            "Deployment",
            with(
                vec![
                    name(),
                    ready_of_replicas(),
                    col("Up-to-date", "integer", "Updated replicas.", |o, _| {
                        Value::from(int(o, "/status/updatedReplicas"))
                    }),
                    col("Available", "integer", "Available replicas.", |o, _| {
                        Value::from(int(o, "/status/availableReplicas"))
                    }),
                    age(),
                ],
                pod_template_columns(Some(|o, _| plain_selector(o))),
            ),
        ),
        (
            "apps",
            "StatefulSet",
            with(
                vec![name(), ready_of_replicas(), age()],
                pod_template_columns(None),
            ),
        ),
        (
            "apps",
            "DaemonSet",
            with(
                vec![
                    name(),
                    status_int("Desired", "desiredNumberScheduled"),
                    status_int("Current", "currentNumberScheduled"),
                    status_int("Ready", "numberReady"),
                    status_int("Up-to-date", "updatedNumberScheduled"),
                    status_int("Available", "numberAvailable"),
                    col(
                        "Node Selector",
                        "string",
                        "Node selector of the pods.",
                        |o, _| s(format_labels(at(o, "/spec/template/spec/nodeSelector"))),
                    ),
                    age(),
                ],
                pod_template_columns(Some(|o, _| plain_selector(o))),
            ),
        ),
        (
            "apps",
            "ReplicaSet",
            with(
                vec![
                    name(),
                    col("Desired", "integer", "Desired replicas.", |o, _| {
                        Value::from(replicas(o))
                    }),
                    status_int("Current", "replicas"),
                    status_int("Ready", "readyReplicas"),
                    age(),
                ],
                pod_template_columns(Some(|o, _| {
                    s(format_label_selector(at(o, "/spec/selector")))
                })),
            ),
        ),
        (
            "batch",
            "Job",
            with(
                vec![
                    name(),
                    col("Status", "string", "Status of the job.", |o, _| {
                        s(job_status(o))
                    }),
                    col(
                        "Completions",
                        "string",
                        "Succeeded pods of those needed.",
                        |o, _| s(job_completions(o)),
                    ),
                    col(
                        "Duration",
                        "string",
                        "Time required to complete the job.",
                        |o, now| s(job_duration(o, now)),
                    ),
                    age(),
                ],
                pod_template_columns(Some(|o, _| {
                    s(format_label_selector(at(o, "/spec/selector")))
                })),
            ),
        ),
        ("batch", "CronJob", cron_job_printer()),
        (
            "networking.k8s.io",
            "Ingress",
            Printer::new(vec![
                name(),
                col(
                    "Class",
                    "string",
                    "The IngressClass of the ingress.",
                    |o, _| {
                        s(at(o, "/spec/ingressClassName")
                            .and_then(Value::as_str)
                            .unwrap_or("<none>"))
                    },
                ),
                col("Hosts", "string", "Hosts the rules match.", |o, _| {
                    s(ingress_hosts(o))
                }),
                col(
                    "Address",
                    "string",
                    "Load-balancer ingress points.",
                    |o, _| s(load_balancer(o)),
                ),
                col("Ports", "string", "Ports that open.", |o, _| {
                    s(if count(o, "/spec/tls") > 0 {
                        "80, 443"
                    } else {
                        "80"
                    })
                }),
                age(),
            ]),
        ),
        (
            "policy",
            "PodDisruptionBudget",
            Printer::new(vec![
                name(),
                col(
                    "Min Available",
                    "string",
                    "Minimum available pods.",
                    |o, _| s(int_or_string(at(o, "/spec/minAvailable"))),
                ),
                col(
                    "Max Unavailable",
                    "string",
                    "Maximum unavailable pods.",
                    |o, _| s(int_or_string(at(o, "/spec/maxUnavailable"))),
                ),
                status_int("Allowed Disruptions", "disruptionsAllowed"),
                age(),
            ]),
        ),
        (
            "autoscaling",
            "HorizontalPodAutoscaler",
            Printer::new(vec![
                name(),
                col("Reference", "string", "The scaled object.", |o, _| {
                    s(format!(
                        "{}/{}",
                        text(o, "/spec/scaleTargetRef/kind"),
                        text(o, "/spec/scaleTargetRef/name")
                    ))
                }),
                col(
                    "Targets",
                    "string",
                    "Current and target metrics.",
                    |o, _| s(hpa_metrics(o)),
                ),
                col("MinPods", "string", "Minimum replicas.", |o, _| {
                    s(at(o, "/spec/minReplicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                        .to_string())
                }),
                col("MaxPods", "string", "Maximum replicas.", |o, _| {
                    Value::from(int(o, "/spec/maxReplicas"))
                }),
                col("Replicas", "string", "Current replicas.", |o, _| {
                    Value::from(int(o, "/status/currentReplicas"))
                }),
                age(),
            ]),
        ),
        (
            "coordination.k8s.io",
            "Lease",
            Printer::new(vec![
                name(),
                col("Holder", "string", "The lease's holder.", |o, _| {
                    s(text(o, "/spec/holderIdentity"))
                }),
                age(),
            ]),
        ),
    ]
}

fn status_int(name: &str, field: &'static str) -> Column {
    // Non-capturing: the field is looked up by the column name instead.
    let cell: CellFn = match field {
        "desiredNumberScheduled" => |o, _| Value::from(int(o, "/status/desiredNumberScheduled")),
        "currentNumberScheduled" => |o, _| Value::from(int(o, "/status/currentNumberScheduled")),
        "numberReady" => |o, _| Value::from(int(o, "/status/numberReady")),
        "updatedNumberScheduled" => |o, _| Value::from(int(o, "/status/updatedNumberScheduled")),
        "numberAvailable" => |o, _| Value::from(int(o, "/status/numberAvailable")),
        "replicas" => |o, _| Value::from(int(o, "/status/replicas")),
        "readyReplicas" => |o, _| Value::from(int(o, "/status/readyReplicas")),
        "disruptionsAllowed" => |o, _| Value::from(int(o, "/status/disruptionsAllowed")),
        _ => |_, _| Value::from(0),
    };
    Column::computed(name, "integer", 0, &format!("status.{field}"), cell)
}

fn event_printer() -> Printer {
    use Column as C;
    Printer::new(vec![
        col(
            "Last Seen",
            "string",
            "When the event was last seen.",
            |o, now| s(event_last_seen(o, now)),
        ),
        col("Type", "string", "Normal or Warning.", |o, _| {
            s(text(o, "/type"))
        }),
        col("Reason", "string", "Why the event happened.", |o, _| {
            s(text(o, "/reason"))
        }),
        col(
            "Object",
            "string",
            "The object the event is about.",
            |o, _| {
                let kind = text(o, "/involvedObject/kind").to_lowercase();
                let name = text(o, "/involvedObject/name");
                s(if name.is_empty() {
                    kind
                } else {
                    format!("{kind}/{name}")
                })
            },
        ),
        wide("Subobject", "The part of the object.", |o, _| {
            s(text(o, "/involvedObject/fieldPath"))
        }),
        wide("Source", "The component reporting the event.", |o, _| {
            let first = |a: &str, b: &str| {
                let v = text(o, a);
                if v.is_empty() {
                    text(o, b)
                } else {
                    v
                }
            };
            let component = first("/source/component", "/reportingComponent");
            let instance = first("/source/host", "/reportingInstance");
            s(if instance.is_empty() {
                component
            } else {
                format!("{component}, {instance}")
            })
        }),
        col("Message", "string", "The event's message.", |o, _| {
            s(text(o, "/message").trim())
        }),
        wide("First Seen", "When the event was first seen.", |o, now| {
            s(event_first_seen(o, now))
        }),
        wide("Count", "How often the event happened.", |o, _| {
            let n = match at(o, "/series") {
                Some(series) => series.get("count").and_then(Value::as_i64).unwrap_or(0),
                None => Some(int(o, "/count")).filter(|c| *c != 0).unwrap_or(1),
            };
            Value::from(n)
        }),
        Column {
            priority: 1,
            ..C::name()
        },
    ])
}

fn cron_job_printer() -> Printer {
    use Column as C;
    Printer::new(vec![
        C::name(),
        col("Schedule", "string", "The cron schedule.", |o, _| {
            s(text(o, "/spec/schedule"))
        }),
        col("Timezone", "string", "The schedule's time zone.", |o, _| {
            s(at(o, "/spec/timeZone")
                .and_then(Value::as_str)
                .unwrap_or("<none>"))
        }),
        col(
            "Suspend",
            "boolean",
            "Whether new runs are suspended.",
            |o, _| {
                let suspended = at(o, "/spec/suspend")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                s(if suspended { "True" } else { "False" })
            },
        ),
        col("Active", "integer", "Running jobs.", |o, _| {
            Value::from(count(o, "/status/active"))
        }),
        col(
            "Last Schedule",
            "string",
            "When a job was last scheduled.",
            |o, now| match at(o, "/status/lastScheduleTime") {
                Some(t) => s(since(Some(t), now)),
                None => s("<none>"),
            },
        ),
        C::age(),
        wide("Containers", CONTAINERS, |o, _| {
            containers(o, "/spec/jobTemplate/spec/template/spec/containers", "name")
        }),
        wide("Images", IMAGES, |o, _| {
            containers(
                o,
                "/spec/jobTemplate/spec/template/spec/containers",
                "image",
            )
        }),
        wide("Selector", "Label query over pods.", |o, _| {
            s(format_label_selector(at(
                o,
                "/spec/jobTemplate/spec/selector",
            )))
        }),
    ])
}

/// `READY` as `ready/desired`, shared by Deployments and StatefulSets.
fn ready_of_replicas() -> Column {
    col(
        "Ready",
        "string",
        "Number of the pod with ready state",
        |o, _| {
            s(format!(
                "{}/{}",
                int(o, "/status/readyReplicas"),
                replicas(o)
            ))
        },
    )
}
