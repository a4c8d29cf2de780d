#!/usr/bin/env python3
"""Regenerates schema.txt: the protobuf field table of the kinds Flotilla
decodes from `application/vnd.kubernetes.protobuf` bodies.

Field numbers and wire types come from the k8s-pb crate's generated prost
structs (the Kubernetes generated.proto schema); JSON field names come from
the k8s-openapi crate's serde field names (the Kubernetes JSON schema).

usage: gen_schema.py K8S_PB_SRC_DIR K8S_OPENAPI_SRC_DIR > schema.txt
(e.g. ~/.cargo/registry/src/*/k8s-pb-0.9.0/src and
      ~/.cargo/registry/src/*/k8s-openapi-0.29.0/src)
"""
import glob
import os
import re
import sys

ROOTS = [
    "api.core.v1.Namespace", "api.core.v1.ConfigMap", "api.core.v1.Secret",
    "api.core.v1.Service", "api.core.v1.ServiceAccount", "api.core.v1.Event",
    "api.core.v1.Pod",
    "api.apps.v1.Deployment", "api.apps.v1.StatefulSet", "api.apps.v1.DaemonSet",
    "api.apps.v1.ReplicaSet", "api.apps.v1.ControllerRevision", "api.batch.v1.Job",
    "api.batch.v1.CronJob",
    "api.networking.v1.Ingress", "api.policy.v1.PodDisruptionBudget",
    "api.autoscaling.v2.HorizontalPodAutoscaler", "api.coordination.v1.Lease",
    "api.authorization.v1.SelfSubjectAccessReview",
    "api.rbac.v1.Role", "api.rbac.v1.RoleBinding", "api.rbac.v1.ClusterRole",
    "api.rbac.v1.ClusterRoleBinding",
]
# Decoded by hand in protobuf.rs: their fields are not listed.
SPECIAL = {
    "apimachinery.pkg.apis.meta.v1.Time", "apimachinery.pkg.apis.meta.v1.MicroTime",
    "apimachinery.pkg.apis.meta.v1.Duration", "apimachinery.pkg.apis.meta.v1.FieldsV1",
    "apimachinery.pkg.api.resource.Quantity", "apimachinery.pkg.util.intstr.IntOrString",
    "apimachinery.pkg.runtime.RawExtension",
}
SCALARS = {"string": "s", "int32": "i32", "int64": "i64", "bool": "b", "double": "d"}


def load_pb(src):
    messages = {}
    for path in glob.glob(os.path.join(src, "**", "mod.rs"), recursive=True):
        pkg = os.path.relpath(os.path.dirname(path), src).replace(os.sep, ".")
        text = re.sub(r"^\s*///.*$", "", open(path).read(), flags=re.M)
        for m in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", text, re.S):
            fields = []
            for chunk in m.group(2).split("#[prost(")[1:]:
                attr, rest = chunk.split(")]", 1)
                fm = re.match(r"\s*pub (?:r#)?(\w+):\s*(.*?),?\s*$", rest, re.S)
                fields.append((attr, fm.group(1), re.sub(r"\s+", "", fm.group(2))))
            messages[f"{pkg}.{m.group(1)}"] = fields
    return messages


def resolve(pkg, ty):
    """The dotted message name of a Rust type path seen in package `pkg`."""
    inner = [p for p in re.sub(r"^.*<", "", ty).rstrip(">").split(",") if p][-1]
    parts = inner.split("::")
    base = pkg.split(".")
    while parts and parts[0] == "super":
        base.pop()
        parts.pop(0)
    return ".".join(base + parts)


def json_names(openapi_src):
    names = {}
    for path in sorted(glob.glob(os.path.join(openapi_src, "v1_*", "**", "*.rs"), recursive=True)):
        text = open(path).read()
        sm = re.search(r"pub struct (\w+) \{", text)
        if not sm:
            continue
        pkg = os.path.relpath(os.path.dirname(path), openapi_src).split(os.sep, 1)[1]
        key = (pkg.replace(os.sep, ".") + "." + sm.group(1)).lower()
        for j, r in re.findall(r'"([A-Za-z0-9$_-]+)" => Field::Key_(\w+)', text):
            names.setdefault(key, {}).setdefault(r.rstrip("_"), j)
    return names


def camel(rust):
    head, *rest = rust.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def json_name(names, alias, name, rust):
    """The JSON name of field `rust` of `name` (or of the struct inlining it)."""
    key = name.lower()
    table = dict(names.get(alias.get(key, key), {}), **names.get(key, {}))
    if rust in table:
        return table[rust]
    flat = rust.replace("_", "").lower()
    matches = [j for j in table.values() if j.lower() == flat]
    return matches[0] if len(matches) == 1 else None


def main():
    pb, names = load_pb(sys.argv[1]), json_names(sys.argv[2])
    out, todo, seen, alias = [], list(ROOTS), set(), {}
    while todo:
        name = todo.pop(0)
        if name in seen or name in SPECIAL:
            continue
        seen.add(name)
        pkg = name.rsplit(".", 1)[0]
        cols = []
        for attr, rust, ty in pb[name]:
            tag = re.search(r'tag = "(\d+)"', attr).group(1)
            kind = attr.split(",")[0].strip()
            if kind.startswith("btree_map"):
                value = re.search(r'"string, (\w+)"', attr).group(1)
                t = "{y}" if value == "bytes" else "{s}" if value == "string" else None
                if value == "message":
                    target = resolve(pkg, ty)
                    todo.append(target)
                    t = "{m=" + target + "}"
            elif kind == "message":
                target = resolve(pkg, ty)
                todo.append(target)
                t = "m=" + target
            elif kind.startswith("bytes"):
                t = "y"
            else:
                t = SCALARS[kind]
            if "repeated" in attr:
                t = "*" + t
            json = json_name(names, alias, name, rust)
            if json is None and t.startswith("m="):
                # A Go struct embedded inline: its fields sit in the parent.
                json = ""
                alias.setdefault(t[2:].lower(), alias.get(name.lower(), name.lower()))
                print(f"note: {name}.{rust} ({t}) is inline", file=sys.stderr)
            if json is None:
                json = camel(rust)
                print(f"warning: {name}.{rust}: no JSON name, using {json}", file=sys.stderr)
            cols.append(f"{tag}:{json}:{t}")
        out.append(name + " " + " ".join(cols))
    print("# Generated by gen_schema.py: MESSAGE TAG:JSON_NAME:TYPE ...")
    print("# TYPE: s i32 i64 b d y(bytes) m=MESSAGE; *T repeated; {T} map<string,T>")
    for line in sorted(out):
        print(line)


main()
