//! Reading the fields of workload objects the way Kubernetes defaults them,
//! and writing the parts of status every workload kind shares.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::pods::Millis;

/// An integer field, or `default` when absent (or not a number).
pub fn int_at(object: &Value, pointer: &str, default: i64) -> i64 {
    object
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// `spec.replicas`, defaulting to 1 as the API server does.
pub fn replicas(object: &Value) -> u32 {
    int_at(object, "/spec/replicas", 1).clamp(0, i64::from(u32::MAX)) as u32
}

/// `metadata.generation` (1 if unset).
pub fn generation(object: &Value) -> i64 {
    int_at(object, "/metadata/generation", 1)
}

/// `minReadySeconds` in milliseconds.
pub fn min_ready(object: &Value) -> Millis {
    int_at(object, "/spec/minReadySeconds", 0).max(0) as Millis * 1000
}

pub fn name(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// An IntOrString (`3` or `"25%"`) scaled against `total`; percentages
/// round up or down as Kubernetes' `GetScaledValueFromIntOrPercent` does.
/// Absent or malformed values take `default`.
pub fn int_or_percent(value: Option<&Value>, total: u32, round_up: bool, default: &str) -> u32 {
    let default_value = Value::String(default.to_string());
    let value = value.filter(|v| !v.is_null()).unwrap_or(&default_value);
    let scaled = match value {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<u64>().ok()) {
            Some(percent) => {
                let product = percent * u64::from(total);
                if round_up {
                    product.div_ceil(100)
                } else {
                    product / 100
                }
            }
            None => s.parse::<u64>().unwrap_or(0),
        },
        _ => 0,
    };
    scaled.min(u64::from(u32::MAX)) as u32
}

/// A stable hash of a pod template (FNV-1a over its JSON).
pub fn template_hash(template: Option<&Value>) -> u64 {
    let bytes = template
        .map(|t| serde_json::to_vec(t).unwrap_or_default())
        .unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A revision hash spelled the way Kubernetes spells pod-template hashes
/// (consonants and digits only, so it never forms words): `5d8f7b9c4x`.
pub fn hash_suffix(hash: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = (hash ^ (hash >> 32)) as u32 as u64;
    let mut out = String::new();
    for _ in 0..10 {
        out.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
        n /= ALPHABET.len() as u64;
        if n == 0 {
            break;
        }
    }
    out
}

/// Whether a pod template runs an image tagged `bad` (a crash-looping release).
pub fn has_bad_image(template: Option<&Value>) -> bool {
    let Some(spec) = template.and_then(|t| t.get("spec")) else {
        return false;
    };
    ["containers", "initContainers"].iter().any(|list| {
        spec.get(*list)
            .and_then(Value::as_array)
            .is_some_and(|containers| {
                containers.iter().any(|c| {
                    c.get("image")
                        .and_then(Value::as_str)
                        .is_some_and(image_tag_is_bad)
                })
            })
    })
}

/// `repo/app:bad` (and `host:5000/app:bad`), not `bad/app` nor a digest.
fn image_tag_is_bad(image: &str) -> bool {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_segment = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last_segment
        .split_once(':')
        .is_some_and(|(_, tag)| tag == "bad")
}

/// Wall-clock time of a simulation instant, as Kubernetes writes times.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    /// The wall time at [`Millis`] 0.
    pub origin: DateTime<Utc>,
}

impl WallClock {
    pub fn at(&self, ms: Millis) -> String {
        let t = self.origin + chrono::TimeDelta::milliseconds(ms as i64);
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

/// One condition as the workload controller wants it now.
pub struct Condition<'a> {
    pub type_: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub message: String,
    /// Deployment conditions carry `lastUpdateTime` too.
    pub last_update: Option<String>,
}

/// Builds a conditions list, keeping each condition's `lastTransitionTime`
/// from `previous` while its status is unchanged (else `now`), so a pass
/// that changes nothing writes nothing.
pub fn conditions(previous: &Value, wanted: Vec<Condition<'_>>, now: &str) -> Value {
    let old = previous.get("conditions").and_then(Value::as_array);
    let list: Vec<Value> = wanted
        .into_iter()
        .map(|c| {
            let before = old.and_then(|list| {
                list.iter()
                    .find(|o| o.get("type").and_then(Value::as_str) == Some(c.type_))
            });
            let transition = match before {
                Some(b) if b.get("status").and_then(Value::as_str) == Some(c.status) => b
                    .get("lastTransitionTime")
                    .cloned()
                    .unwrap_or_else(|| json!(now)),
                _ => json!(now),
            };
            let mut condition = json!({
                "type": c.type_,
                "status": c.status,
                "reason": c.reason,
                "message": c.message,
                "lastTransitionTime": transition,
            });
            if let Some(update) = c.last_update {
                condition["lastUpdateTime"] = json!(update);
            }
            condition
        })
        .collect();
    Value::Array(list)
}

/// Inserts `value` under `key` unless it is zero (Kubernetes' `omitempty`).
pub fn put_count(status: &mut serde_json::Map<String, Value>, key: &str, value: u32) {
    if value > 0 {
        status.insert(key.to_string(), json!(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_like_kubernetes() {
        let v = |s: &str| Some(json!(s));
        assert_eq!(int_or_percent(v("25%").as_ref(), 10, true, "25%"), 3);
        assert_eq!(int_or_percent(v("25%").as_ref(), 10, false, "25%"), 2);
        assert_eq!(int_or_percent(Some(&json!(2)), 10, false, "25%"), 2);
        assert_eq!(int_or_percent(None, 4, true, "25%"), 1);
        assert_eq!(int_or_percent(None, 3, false, "25%"), 0);
        assert_eq!(int_or_percent(v("100%").as_ref(), 5, false, "0"), 5);
    }

    #[test]
    fn only_the_tag_bad_is_bad() {
        let t = |image: &str| json!({"spec": {"containers": [{"name": "a", "image": image}]}});
        assert!(has_bad_image(Some(&t("nginx:bad"))));
        assert!(has_bad_image(Some(&t("registry:5000/team/app:bad"))));
        assert!(!has_bad_image(Some(&t("bad/app:1.0"))));
        assert!(!has_bad_image(Some(&t("registry:5000/app"))));
        assert!(!has_bad_image(Some(&t("nginx:badger"))));
        assert!(!has_bad_image(None));
    }

    #[test]
    fn template_hashes_follow_content() {
        let a = json!({"spec": {"containers": [{"image": "a:1"}]}});
        let b = json!({"spec": {"containers": [{"image": "a:2"}]}});
        assert_eq!(template_hash(Some(&a)), template_hash(Some(&a.clone())));
        assert_ne!(template_hash(Some(&a)), template_hash(Some(&b)));
        let suffix = hash_suffix(template_hash(Some(&a)));
        assert!(!suffix.is_empty() && suffix.len() <= 10, "{suffix}");
    }

    #[test]
    fn condition_transition_times_survive_unchanged_status() {
        let previous = json!({"conditions": [
            {"type": "Available", "status": "True", "lastTransitionTime": "then"}]});
        let wanted = |status| {
            vec![Condition {
                type_: "Available",
                status,
                reason: "R",
                message: "m".into(),
                last_update: None,
            }]
        };
        let same = conditions(&previous, wanted("True"), "now");
        assert_eq!(same[0]["lastTransitionTime"], "then");
        let flipped = conditions(&previous, wanted("False"), "now");
        assert_eq!(flipped[0]["lastTransitionTime"], "now");
    }
}
