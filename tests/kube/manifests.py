"""Small Kubernetes objects for the kube tier's tests, as plain dicts (JSON for kubectl)."""

IMAGE = "nginx:1.27"  # never pulled: KWOK runs no containers


def _containers(names, port=None):
    out = []
    for name in names:
        c = {"name": name, "image": IMAGE}
        if port and not out:
            c["ports"] = [{"name": "http", "containerPort": port}]
        out.append(c)
    return out


def pod_spec(containers=("app",), init_containers=(), port=8080, **extra):
    spec = {"containers": _containers(containers, port)}
    if init_containers:
        spec["initContainers"] = _containers(init_containers)
    spec.update(extra)
    return spec


def pod(name, containers=("app",), init_containers=(), labels=None, annotations=None,
        **spec_extra):
    meta = {"name": name, "labels": dict(labels or {"app": name})}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": pod_spec(containers, init_containers, **spec_extra)}


def deployment(name, replicas=1, containers=None, annotations=None, labels=None, **spec_extra):
    template_meta = {"labels": {"app": name, **(labels or {})}}
    if annotations:
        template_meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": template_meta,
                         "spec": pod_spec(containers or (name,), **spec_extra)},
        },
    }
