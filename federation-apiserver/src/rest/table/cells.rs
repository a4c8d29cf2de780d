//! Cell helpers for the built-in printers: reading fields, and the
//! formatting rules of kubectl's printers (selectors, ports, load balancers,
//! job status, HPA metrics, event times).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{human_duration, parse_time, since};

pub(super) fn at<'a>(o: &'a Value, pointer: &str) -> Option<&'a Value> {
    o.pointer(pointer).filter(|v| !v.is_null())
}

pub(super) fn text(o: &Value, pointer: &str) -> String {
    at(o, pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

pub(super) fn int(o: &Value, pointer: &str) -> i64 {
    at(o, pointer).and_then(Value::as_i64).unwrap_or(0)
}

pub(super) fn count(o: &Value, pointer: &str) -> usize {
    match at(o, pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

pub(super) fn list<'a>(o: &'a Value, pointer: &str) -> &'a [Value] {
    at(o, pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub(super) fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// `name1,name2` and `image1,image2` of a pod template's containers.
pub(super) fn containers(o: &Value, pointer: &str, field: &str) -> Value {
    let names: Vec<&str> = list(o, pointer)
        .iter()
        .map(|c| c.get(field).and_then(Value::as_str).unwrap_or(""))
        .collect();
    s(names.join(","))
}

/// A `map[string]string` as `k=v,k2=v2` (sorted), `<none>` when empty.
pub(super) fn format_labels(value: Option<&Value>) -> String {
    let mut pairs: Vec<String> = value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// A `LabelSelector` as a selector string (`app=web,tier in (a,b),!x`),
/// requirements sorted by key; `""` for none; `Err` if malformed.
pub(super) fn selector_string(value: Option<&Value>) -> Result<String, ()> {
    let Some(selector) = value.filter(|v| !v.is_null()) else {
        return Ok(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            requirements.push((k.clone(), format!("{k}={}", v.as_str().ok_or(())?)));
        }
    }
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        let key = expr.get("key").and_then(Value::as_str).ok_or(())?;
        let mut values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        values.sort_unstable();
        let op = expr.get("operator").and_then(Value::as_str).unwrap_or("");
        let text = match op {
            "In" | "NotIn" if values.is_empty() => return Err(()),
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return Err(()),
        };
        requirements.push((key.to_string(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    let parts: Vec<String> = requirements.into_iter().map(|(_, t)| t).collect();
    Ok(parts.join(","))
}

/// `metav1.FormatLabelSelector`: `<none>` when empty, `<error>` if malformed.
pub fn format_label_selector(value: Option<&Value>) -> String {
    match selector_string(value) {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s,
        Err(()) => "<error>".into(),
    }
}

/// The selector as Deployment and DaemonSet print it: `""` when empty.
pub(super) fn plain_selector(o: &Value) -> Value {
    s(selector_string(at(o, "/spec/selector")).unwrap_or_else(|()| "<invalid>".into()))
}

/// Load-balancer ingress points (IP, else hostname), sorted and deduplicated.
pub(super) fn load_balancer(o: &Value) -> String {
    let mut points: Vec<&str> = list(o, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|i| {
            [i.get("ip"), i.get("hostname")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|s| !s.is_empty())
        })
        .collect();
    points.sort_unstable();
    points.dedup();
    points.join(",")
}

pub(super) fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "N/A".into(),
    }
}

pub(super) fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".into(),
    }
}

/// Replicas as the API would default them (1 when unset).
pub(super) fn replicas(o: &Value) -> i64 {
    at(o, "/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
}

pub(super) fn secret_keys(o: &Value) -> usize {
    let mut keys: Vec<&String> = Vec::new();
    for field in ["data", "stringData"] {
        if let Some(m) = o.get(field).and_then(Value::as_object) {
            keys.extend(m.keys());
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys.len()
}

pub(super) fn service_type(o: &Value) -> String {
    let t = text(o, "/spec/type");
    if t.is_empty() {
        "ClusterIP".into()
    } else {
        t
    }
}

pub(super) fn service_external_ip(o: &Value) -> String {
    let external: Vec<&str> = list(o, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match service_type(o).as_str() {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".into(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let lb = load_balancer(o);
            let mut all: Vec<&str> = lb.split(',').filter(|s| !s.is_empty()).collect();
            all.extend(external);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => text(o, "/spec/externalName"),
        _ => "<unknown>".into(),
    }
}

pub(super) fn service_ports(o: &Value) -> String {
    let ports: Vec<String> = list(o, "/spec/ports")
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n > 0) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

pub(super) fn event_first_seen(o: &Value, now: DateTime<Utc>) -> String {
    match at(o, "/firstTimestamp") {
        Some(t) => since(Some(t), now),
        None => since(at(o, "/eventTime"), now),
    }
}

pub(super) fn event_last_seen(o: &Value, now: DateTime<Utc>) -> String {
    if let Some(series) = at(o, "/series") {
        return since(series.get("lastObservedTime"), now);
    }
    match at(o, "/lastTimestamp") {
        Some(t) => since(Some(t), now),
        None => event_first_seen(o, now),
    }
}

pub(super) fn job_condition(o: &Value, kind: &str) -> bool {
    list(o, "/status/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

pub(super) fn job_status(o: &Value) -> &'static str {
    if job_condition(o, "Complete") {
        "Complete"
    } else if job_condition(o, "Failed") {
        "Failed"
    } else if at(o, "/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if job_condition(o, "Suspended") {
        "Suspended"
    } else if job_condition(o, "FailureTarget") {
        "FailureTarget"
    } else if job_condition(o, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

pub(super) fn job_completions(o: &Value) -> String {
    let succeeded = int(o, "/status/succeeded");
    if let Some(completions) = at(o, "/spec/completions").and_then(Value::as_i64) {
        return format!("{succeeded}/{completions}");
    }
    match int(o, "/spec/parallelism") {
        p if p > 1 => format!("{succeeded}/1 of {p}"),
        _ => format!("{succeeded}/1"),
    }
}

pub(super) fn job_duration(o: &Value, now: DateTime<Utc>) -> String {
    let Some(start) = parse_time(at(o, "/status/startTime")) else {
        return String::new();
    };
    let end = parse_time(at(o, "/status/completionTime")).unwrap_or(now);
    human_duration(end - start)
}

pub(super) fn ingress_hosts(o: &Value) -> String {
    const MAX: usize = 3;
    let rules = list(o, "/spec/rules");
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = rule.get("host").and_then(Value::as_str).unwrap_or("");
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".into();
    }
    let joined = hosts.join(",");
    if more {
        format!("{joined} + {} more...", rules.len() - MAX)
    } else {
        joined
    }
}

/// The HPA's metrics as `cpu: 40%/80%, 1k/2k (avg)` (at most two, then `+ N more...`).
pub(super) fn hpa_metrics(o: &Value) -> String {
    const MAX: usize = 2;
    let specs = list(o, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = list(o, "/status/currentMetrics");
    let unknown = || "<unknown>".to_string();
    let mut out: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let kind = spec.get("type").and_then(Value::as_str).unwrap_or("");
        let field = match kind {
            "External" => "external",
            "Pods" => "pods",
            "Object" => "object",
            "Resource" => "resource",
            "ContainerResource" => "containerResource",
            _ => {
                out.push("<unknown type>".into());
                continue;
            }
        };
        let source = spec.get(field).cloned().unwrap_or(Value::Null);
        let target = source.get("target").cloned().unwrap_or(Value::Null);
        let current = statuses
            .get(i)
            .and_then(|st| st.get(field))
            .filter(|v| !v.is_null())
            .map(|st| st.get("current").cloned().unwrap_or(Value::Null));
        let current_of = |key: &str| {
            current
                .as_ref()
                .and_then(|c| c.get(key))
                .filter(|v| !v.is_null())
                .map(|v| quantity(Some(v)))
        };
        let text = match kind {
            "Pods" => format!(
                "{}/{}",
                current_of("averageValue").unwrap_or_else(unknown),
                quantity(target.get("averageValue"))
            ),
            "External" | "Object" => match target.get("averageValue").filter(|v| !v.is_null()) {
                Some(avg) => format!(
                    "{}/{} (avg)",
                    current_of("averageValue").unwrap_or_else(unknown),
                    quantity(Some(avg))
                ),
                None => format!(
                    "{}/{}",
                    current
                        .as_ref()
                        .map_or_else(unknown, |c| quantity(c.get("value"))),
                    quantity(target.get("value"))
                ),
            },
            _ => {
                let resource = source.get("name").and_then(Value::as_str).unwrap_or("");
                match target.get("averageValue").filter(|v| !v.is_null()) {
                    Some(avg) => format!(
                        "{resource}: {}/{}",
                        current
                            .as_ref()
                            .map_or_else(unknown, |c| quantity(c.get("averageValue"))),
                        quantity(Some(avg))
                    ),
                    None => {
                        let pct =
                            |v: Option<&Value>| v.and_then(Value::as_i64).map(|n| format!("{n}%"));
                        format!(
                            "{resource}: {}/{}",
                            pct(current.as_ref().and_then(|c| c.get("averageUtilization")))
                                .unwrap_or_else(unknown),
                            pct(target.get("averageUtilization"))
                                .unwrap_or_else(|| "<auto>".into())
                        )
                    }
                }
            }
        };
        out.push(text);
    }
    let total = out.len();
    if total > MAX {
        out.truncate(MAX);
        format!("{} + {} more...", out.join(", "), total - MAX)
    } else {
        out.join(", ")
    }
}
