"""Deployment policy of a rendered env: one small function per rule, each returning findings.

Every rule takes the env's documents (tooling.schema.documents.Document, `file` = source file)
and the env name; `RULES` lists them for `invoke validate`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from conformance.findings import Finding, Rule, Severity
from tooling import envconfig
from tooling.manifests.images import repository, runner_name
from tooling.manifests.workloads import containers, mounts, references

RESOURCES = Rule("policy.resources", Severity.ERROR, "every container has cpu and memory requests and limits")
IMAGE_TAG = Rule("policy.image-tag", Severity.ERROR, "no image is untagged or :latest")
IMAGE_DIGEST = Rule("policy.image-digest", Severity.ERROR,
                    "images are pinned by digest where env.yaml says images_by_digest (prod)")
SECURITY = Rule("policy.security-context", Severity.ERROR, "every container runs with a restricted securityContext")
PLAINTEXT_SECRET = Rule("policy.plaintext-secret", Severity.ERROR, "no Secret with data/stringData (SealedSecrets only)")
RBAC_WILDCARD = Rule("policy.rbac-wildcard", Severity.ERROR, "no `*` in RBAC verbs, resources or apiGroups")
IMAGE_ENV = Rule("policy.image-env", Severity.ERROR,
                 "GEOZARR_IMAGE equals its container's image; every runner-image container sets it")
REFERENCES = Rule("policy.references", Severity.ERROR,
                  "every referenced ServiceAccount/ConfigMap/Secret/PVC (and key), and every mounted volume, exists")

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _where(doc: Any, env: str) -> dict[str, str]:
    return {"env": env, "file": doc.file, "kind": doc.kind, "name": doc.name}


def check_resources(docs: Sequence[Any], env: str) -> list[Finding]:
    out = []
    for doc in docs:
        for c in containers(doc.obj):
            res = c.spec.get("resources") if isinstance(c.spec.get("resources"), dict) else {}
            for section in ("requests", "limits"):
                values = res.get(section) if isinstance(res.get(section), dict) else {}
                missing = [r for r in ("cpu", "memory") if values.get(r) in (None, "")]
                if missing:
                    out.append(RESOURCES.finding(
                        f"container {c.spec.get('name') or c.path} has no {section}.{'/'.join(missing)}",
                        path=f"{c.path}.resources.{section}", **_where(doc, env)))
    return out


def image_problem(image: str) -> str:
    """Why IMAGE is not acceptable in any env ("" when it is)."""
    if not image:
        return "has no image"
    if "@" in image:
        return "" if _DIGEST.search(image) else f"image {image!r} has a malformed digest"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (it would run :latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses :latest"
    return ""


def check_image_tags(docs: Sequence[Any], env: str) -> list[Finding]:
    out = []
    for doc in docs:
        for c in containers(doc.obj):
            problem = image_problem(str(c.spec.get("image") or ""))
            if problem:
                out.append(IMAGE_TAG.finding(f"container {c.spec.get('name') or c.path}: {problem}",
                                             path=f"{c.path}.image", **_where(doc, env)))
    return out


def check_image_digests(docs: Sequence[Any], env: str) -> list[Finding]:
    if not envconfig.policy_switch(env, "images_by_digest"):
        return []
    out = []
    for doc in docs:
        for c in containers(doc.obj):
            image = str(c.spec.get("image") or "")
            if image and not _DIGEST.search(image):
                out.append(IMAGE_DIGEST.finding(
                    f"image {image!r} is not pinned by digest ({env} runs @sha256:… only; `invoke promote`)",
                    path=f"{c.path}.image", **_where(doc, env)))
    return out


# the env variable the runner records in run.json `image` (docs/interfaces.md)
IMAGE_ENV_NAME = "GEOZARR_IMAGE"


def check_image_env(docs: Sequence[Any], env: str) -> list[Finding]:
    out = []
    for doc in docs:
        for c in containers(doc.obj):
            image = str(c.spec.get("image") or "")
            label = c.spec.get("name") or c.path
            entries = [(i, e) for i, e in enumerate(c.spec.get("env") or []) if isinstance(e, dict)
                       and e.get("name") == IMAGE_ENV_NAME]
            for i, entry in entries:
                value = entry.get("value")
                if value != image:
                    shown = "a valueFrom" if "valueFrom" in entry else repr(value)
                    out.append(IMAGE_ENV.finding(
                        f"container {label}: {IMAGE_ENV_NAME} is {shown}, the container runs {image!r} "
                        "(run.json would record another image; base/kustomizeconfig must pin env values too)",
                        path=f"{c.path}.env[{i}].value", **_where(doc, env)))
            if not entries and image and repository(image).rsplit("/", 1)[-1] == runner_name():
                out.append(IMAGE_ENV.finding(
                    f"container {label} runs {image!r} without {IMAGE_ENV_NAME} (run.json would record no image)",
                    path=f"{c.path}.env", **_where(doc, env)))
    return out


def _security_problems(container: dict[str, Any], pod: dict[str, Any]) -> list[tuple[str, str]]:
    sc = container.get("securityContext") if isinstance(container.get("securityContext"), dict) else {}
    problems = []

    def effective(field: str) -> Any:
        return sc[field] if field in sc else pod.get(field)

    if effective("runAsNonRoot") is not True:
        problems.append(("runAsNonRoot", "runAsNonRoot is not true"))
    if effective("runAsUser") == 0:
        problems.append(("runAsUser", "runs as user 0"))
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(("readOnlyRootFilesystem", "readOnlyRootFilesystem is not true"))
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(("allowPrivilegeEscalation", "allowPrivilegeEscalation is not false"))
    if sc.get("privileged") is True:
        problems.append(("privileged", "is privileged"))
    caps = sc.get("capabilities") if isinstance(sc.get("capabilities"), dict) else {}
    if "ALL" not in (caps.get("drop") or []):
        problems.append(("capabilities.drop", "does not drop ALL capabilities"))
    if caps.get("add"):
        problems.append(("capabilities.add", f"adds capabilities {caps['add']}"))
    seccomp = effective("seccompProfile")
    if not isinstance(seccomp, dict) or seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append(("seccompProfile.type", "seccompProfile.type is not RuntimeDefault (or Localhost)"))
    return problems


def check_security_context(docs: Sequence[Any], env: str) -> list[Finding]:
    out = []
    for doc in docs:
        for c in containers(doc.obj):
            for field, problem in _security_problems(c.spec, c.pod_security):
                out.append(SECURITY.finding(f"container {c.spec.get('name') or c.path}: {problem}",
                                            path=f"{c.path}.securityContext.{field}", **_where(doc, env)))
    return out


def check_plaintext_secrets(docs: Sequence[Any], env: str) -> list[Finding]:
    out = []
    for doc in docs:
        if doc.kind != "Secret" or doc.api_version != "v1":
            continue
        for field in ("data", "stringData"):
            if doc.obj.get(field):
                out.append(PLAINTEXT_SECRET.finding(
                    f"Secret {doc.name} carries plaintext {field} in git: seal it (SealedSecret)",
                    path=field, **_where(doc, env)))
    return out


def check_rbac_wildcards(docs: Sequence[Any], env: str) -> list[Finding]:
    out = []
    for doc in docs:
        if doc.kind not in ("Role", "ClusterRole") or not doc.api_version.startswith("rbac.authorization.k8s.io/"):
            continue
        for i, rule in enumerate(doc.obj.get("rules") or []):
            if not isinstance(rule, dict):
                continue
            for field in ("verbs", "resources", "apiGroups", "nonResourceURLs"):
                if any(isinstance(v, str) and "*" in v for v in rule.get(field) or []):
                    out.append(RBAC_WILDCARD.finding(f"rule {i} grants a wildcard in {field}: {rule[field]}",
                                                     path=f"rules[{i}].{field}", **_where(doc, env)))
    return out


def _available(docs: Sequence[Any]) -> dict[str, dict[str, set[str] | None]]:
    """kind -> name -> keys (None: keys unknown) of what exists in the rendered env."""
    have: dict[str, dict[str, set[str] | None]] = {k: {} for k in ("ServiceAccount", "ConfigMap", "Secret", "PersistentVolumeClaim")}
    for doc in docs:
        if doc.kind == "ConfigMap":
            have["ConfigMap"][doc.name] = set(doc.obj.get("data") or {}) | set(doc.obj.get("binaryData") or {})
        elif doc.kind == "Secret":
            have["Secret"][doc.name] = set(doc.obj.get("data") or {}) | set(doc.obj.get("stringData") or {})
        elif doc.kind == "SealedSecret":
            spec = doc.obj.get("spec") or {}
            tmpl_meta = (spec.get("template") or {}).get("metadata") or {}
            have["Secret"][tmpl_meta.get("name") or doc.name] = set(spec.get("encryptedData") or {}) | set(
                (spec.get("template") or {}).get("data") or {})
        elif doc.kind in ("ServiceAccount", "PersistentVolumeClaim"):
            have[doc.kind][doc.name] = None
    return have


def check_references(docs: Sequence[Any], env: str) -> list[Finding]:
    have = _available(docs)
    out = []
    for doc in docs:
        for ref in references(doc.obj):
            if ref.optional or "{{" in ref.name:  # optional, or chosen per run by an Argo parameter
                continue
            if ref.name not in have[ref.kind]:
                out.append(REFERENCES.finding(f"{ref.kind} {ref.name!r} does not exist in the rendered {env} env",
                                              path=ref.path, **_where(doc, env)))
                continue
            keys = have[ref.kind][ref.name]
            if ref.key and keys is not None and ref.key not in keys:
                out.append(REFERENCES.finding(
                    f"{ref.kind} {ref.name!r} has no key {ref.key!r} (it has: {', '.join(sorted(keys)) or 'none'})",
                    path=ref.path.rsplit(".", 1)[0] + ".key", **_where(doc, env)))
        for m in mounts(doc.obj):
            if m.name not in m.volumes and "{{" not in m.name:
                out.append(REFERENCES.finding(
                    f"volume mount {m.name!r} names no volume (declared: {', '.join(sorted(m.volumes)) or 'none'}; "
                    "Argo: the workflow's volumes or volumeClaimTemplates, or the template's volumes)",
                    path=m.path, **_where(doc, env)))
    return out


Check = Callable[[Sequence[Any], str], list[Finding]]

RULES: tuple[tuple[Rule, Check], ...] = (
    (RESOURCES, check_resources),
    (IMAGE_TAG, check_image_tags),
    (IMAGE_DIGEST, check_image_digests),
    (IMAGE_ENV, check_image_env),
    (SECURITY, check_security_context),
    (PLAINTEXT_SECRET, check_plaintext_secrets),
    (RBAC_WILDCARD, check_rbac_wildcards),
    (REFERENCES, check_references),
)


def check_policy(docs: Iterable[Any], env: str) -> list[Finding]:
    docs = list(docs)
    return [f for _, check in RULES for f in check(docs, env)]
