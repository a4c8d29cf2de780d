//! OverridePolicy rules applied to a rendered member object: image parts,
//! labels, annotations and JSON patches, for the clusters a rule targets.

use serde_json::{json, Map, Value};

use federation_proto::override_policy::{
    ImageOverrider, MapOverrider, Overriders, PlaintextOverrider,
};

/// Why an override could not be applied (reported on the binding).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("plaintext override {op} {path}: {reason}")]
    Patch {
        op: String,
        path: String,
        reason: String,
    },
    #[error("unknown operator {0:?} (add, remove or replace)")]
    Operator(String),
}

/// An image reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Image {
    pub registry: Option<String>,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Image {
    /// `[registry/]repository[:tag][@digest]`; the first segment is a
    /// registry when it has a dot or a port, or is `localhost`.
    pub fn parse(image: &str) -> Image {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (image, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_string()), path)
            }
            _ => (None, rest),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) => (repo.to_string(), Some(tag.to_string())),
            None => (path.to_string(), None),
        };
        Image {
            registry,
            repository,
            tag,
            digest,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(r) = &self.registry {
            out.push_str(r);
            out.push('/');
        }
        out.push_str(&self.repository);
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(d);
        }
        out
    }
}

fn change_image(image: &str, o: &ImageOverrider) -> Result<String, OverrideError> {
    let mut parsed = Image::parse(image);
    let value = o.value.clone().unwrap_or_default();
    let slot = match o.component.as_str() {
        "Registry" => &mut parsed.registry,
        "Tag" => &mut parsed.tag,
        "Repository" => {
            match o.operator.as_str() {
                "add" => parsed.repository.push_str(&value),
                "replace" => parsed.repository = value,
                "remove" => {}
                other => return Err(OverrideError::Operator(other.into())),
            }
            return Ok(parsed.render());
        }
        _ => return Ok(image.to_string()),
    };
    match o.operator.as_str() {
        "add" => *slot = Some(format!("{}{value}", slot.clone().unwrap_or_default())),
        "replace" => *slot = Some(value),
        "remove" => *slot = None,
        other => return Err(OverrideError::Operator(other.into())),
    }
    Ok(parsed.render())
}

/// The container lists of a workload (or pod) object.
fn container_lists(object: &mut Value) -> Vec<&mut Vec<Value>> {
    let pod_spec = if object.pointer("/spec/jobTemplate").is_some() {
        object.pointer_mut("/spec/jobTemplate/spec/template/spec")
    } else if object.pointer("/spec/template").is_some() {
        object.pointer_mut("/spec/template/spec")
    } else {
        object.pointer_mut("/spec")
    };
    let Some(Value::Object(spec)) = pod_spec else {
        return Vec::new();
    };
    spec.iter_mut()
        .filter(|(k, _)| *k == "containers" || *k == "initContainers")
        .filter_map(|(_, v)| v.as_array_mut())
        .collect()
}

fn change_map(map: &mut Map<String, Value>, o: &MapOverrider) -> Result<(), OverrideError> {
    for (k, v) in &o.value {
        match o.operator.as_str() {
            "add" | "replace" => {
                map.insert(k.clone(), json!(v));
            }
            "remove" => {
                map.remove(k);
            }
            other => return Err(OverrideError::Operator(other.into())),
        }
    }
    Ok(())
}

fn metadata_map<'a>(object: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    if !object["metadata"][field].is_object() {
        object["metadata"][field] = json!({});
    }
    object["metadata"][field]
        .as_object_mut()
        .expect("just made an object")
}

fn patch(object: &mut Value, p: &PlaintextOverrider) -> Result<(), OverrideError> {
    let op = match p.operator.as_str() {
        "add" => json!({"op": "add", "path": p.path, "value": p.value}),
        "replace" => json!({"op": "replace", "path": p.path, "value": p.value}),
        "remove" => json!({"op": "remove", "path": p.path}),
        other => return Err(OverrideError::Operator(other.into())),
    };
    let patch: json_patch::Patch =
        serde_json::from_value(json!([op])).map_err(|e| OverrideError::Patch {
            op: p.operator.clone(),
            path: p.path.clone(),
            reason: e.to_string(),
        })?;
    json_patch::patch(object, &patch).map_err(|e| OverrideError::Patch {
        op: p.operator.clone(),
        path: p.path.clone(),
        reason: e.to_string(),
    })
}

/// Applies one rule's overriders to `object`.
pub fn apply(object: &mut Value, overriders: &Overriders) -> Result<(), OverrideError> {
    for o in &overriders.image_overrider {
        for list in container_lists(object) {
            for container in list.iter_mut() {
                let name = container.get("name").and_then(Value::as_str).unwrap_or("");
                if o.container.as_deref().is_some_and(|c| c != name) {
                    continue;
                }
                if let Some(image) = container.get("image").and_then(Value::as_str) {
                    let changed = change_image(image, o)?;
                    container["image"] = json!(changed);
                }
            }
        }
    }
    for o in &overriders.labels_overrider {
        change_map(metadata_map(object, "labels"), o)?;
    }
    for o in &overriders.annotations_overrider {
        change_map(metadata_map(object, "annotations"), o)?;
    }
    for p in &overriders.plaintext {
        patch(object, p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_and_join() {
        for image in [
            "nginx",
            "nginx:1.27",
            "registry.io:5000/team/app:v2",
            "localhost/app@sha256:abc",
            "team/app:1",
        ] {
            assert_eq!(Image::parse(image).render(), image);
        }
        let p = Image::parse("registry.io:5000/team/app:v2");
        assert_eq!(p.registry.as_deref(), Some("registry.io:5000"));
        assert_eq!(p.repository, "team/app");
        assert_eq!(p.tag.as_deref(), Some("v2"));
        assert_eq!(Image::parse("team/app").registry, None);
    }

    #[test]
    fn overriders_change_only_what_they_name() {
        let mut d = json!({"metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 3, "template": {"spec": {
                "containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "side", "image": "envoy:1"}]}}}});
        let overriders: Overriders = serde_json::from_value(json!({
            "imageOverrider": [{"component": "Registry", "operator": "replace", "value": "eu.registry.io"},
                               {"component": "Tag", "operator": "replace", "value": "1.28", "container": "app"}],
            "labelsOverrider": [{"operator": "add", "value": {"region": "eu"}}],
            "annotationsOverrider": [{"operator": "add", "value": {"note": "x"}}],
            "plaintext": [{"path": "/spec/replicas", "operator": "replace", "value": 5}]
        }))
        .expect("overriders");
        apply(&mut d, &overriders).expect("applied");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "eu.registry.io/nginx:1.28"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][1]["image"],
            "eu.registry.io/envoy:1"
        );
        assert_eq!(
            d["metadata"]["labels"],
            json!({"app": "web", "region": "eu"})
        );
        assert_eq!(d["metadata"]["annotations"]["note"], "x");
        assert_eq!(d["spec"]["replicas"], 5);
        let bad: Overriders = serde_json::from_value(json!({
            "plaintext": [{"path": "/spec/nothing/here", "operator": "replace", "value": 1}]}))
        .expect("o");
        assert!(matches!(
            apply(&mut d, &bad),
            Err(OverrideError::Patch { .. })
        ));
    }
}
