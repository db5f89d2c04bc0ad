"""Policy rules: each rule passes the valid fixture and fails its invalid one, naming the field."""

from __future__ import annotations

import pytest

from tooling.manifests import policy

# (rule, invalid fixture, env, field path the finding must name, resource name)
CASES = [
    (policy.RESOURCES, "resources.invalid.yaml", "staging", "spec.templates[0].script.resources.limits", "no-limits"),
    (policy.IMAGE_TAG, "image-tag.invalid.yaml", "staging", "spec.templates[0].sidecars[0].image", "untagged"),
    (policy.IMAGE_DIGEST, "image-digest.invalid.yaml", "prod", "spec.templates[0].container.image", "by-tag"),
    (policy.IMAGE_ENV, "image-env.invalid.yaml", "staging", "spec.templates[1].container.env[1].value", "stale"),
    (policy.SECURITY, "security-context.invalid.yaml", "staging",
     "spec.templates[0].container.securityContext.readOnlyRootFilesystem", "loose"),
    (policy.PLAINTEXT_SECRET, "plaintext-secret.invalid.yaml", "staging", "stringData", "s3"),
    (policy.RBAC_WILDCARD, "rbac-wildcard.invalid.yaml", "staging", "rules[0].verbs", "too-much"),
    (policy.REFERENCES, "references.invalid.yaml", "staging",
     "spec.synchronization.semaphores[0].configMapKeyRef.key", "dangling"),
    (policy.REFERENCES, "references-mount.invalid.yaml", "staging",
     "spec.templates[2].container.volumeMounts[1].name", "unmounted"),
]
CHECKS = dict(policy.RULES)


@pytest.mark.parametrize("rule", [r for r, _ in policy.RULES], ids=lambda r: r.id)
@pytest.mark.parametrize("env", ["staging", "prod"])
def test_valid_fixture_passes(rule, env, docs_of):
    assert CHECKS[rule](docs_of("policy/valid.yaml"), env) == []


@pytest.mark.parametrize(("rule", "fixture", "env", "path", "name"), CASES, ids=[c[1] for c in CASES])
def test_invalid_fixture_fails(rule, fixture, env, path, name, docs_of):
    found = CHECKS[rule](docs_of(f"policy/{fixture}"), env)
    assert found, f"{rule.id} accepted {fixture}"
    assert {f.rule for f in found} == {rule.id}
    assert path in {f.path for f in found}
    hit = next(f for f in found if f.path == path)
    assert (hit.name, hit.env, hit.file) == (name, env, f"policy/{fixture}")


def test_every_rule_has_a_case():
    assert {r.id for r, *_ in CASES} == {r.id for r, _ in policy.RULES}


def test_references_reports_missing_pvc_too(docs_of):
    found = policy.check_references(docs_of("policy/references.invalid.yaml"), "staging")
    assert any("PersistentVolumeClaim 'scratch'" in f.message for f in found)


def test_mount_resolves_only_in_its_own_template(docs_of):
    """A template's own volume is not visible to another template; claim templates are to all."""
    found = policy.check_references(docs_of("policy/references-mount.invalid.yaml"), "staging")
    assert [f.path for f in found] == ["spec.templates[2].container.volumeMounts[1].name"]
    assert "'scratch' names no volume (declared: work;" in found[0].message


POD_MOUNTS = """
apiVersion: apps/v1
kind: {kind}
metadata: {{name: db}}
spec:
  template:
    spec:
      volumes: [{{name: config, configMap: {{name: db}}}}]
      containers:
        - name: db
          volumeMounts: [{{name: config, mountPath: /etc/db}}, {{name: data, mountPath: /data}}]
  volumeClaimTemplates:
    - metadata: {{name: data}}
"""


@pytest.mark.parametrize(("kind", "dangling"), [("StatefulSet", []), ("Deployment", ["data"])])
def test_pod_mounts_resolve_against_volumes_and_statefulset_claims(kind, dangling):
    import yaml

    from tooling.manifests.workloads import mounts

    obj = yaml.safe_load(POD_MOUNTS.format(kind=kind))
    assert [m.name for m in mounts(obj) if m.name not in m.volumes] == dangling


def test_image_env_stale_and_missing(docs_of):
    found = policy.check_image_env(docs_of("policy/image-env.invalid.yaml"), "staging")
    assert [f.path for f in found] == ["spec.templates[1].container.env[1].value", "spec.templates[2].container.env"]
    assert "GEOZARR_IMAGE is 'ghcr.io/example/geozarr-runner:0.1.0'" in found[0].message
    assert "without GEOZARR_IMAGE" in found[1].message


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"name": "GEOZARR_IMAGE", "value": "r/other:1"}, "is 'r/other:1'"),
        ({"name": "GEOZARR_IMAGE", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "image"}}}, "is a valueFrom"),
        ({"name": "GEOZARR_IMAGE", "value": "r/tool:1"}, ""),
        ({"name": "OTHER", "value": "x"}, ""),  # not the runner image: GEOZARR_IMAGE is optional
    ],
)
def test_image_env_entries(entry, problem):
    from tooling.schema.documents import Document

    obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "t"},
           "spec": {"templates": [{"name": "a", "container": {"image": "r/tool:1", "env": [entry]}}]}}
    found = policy.check_image_env([Document(obj=obj, file="t.yaml", index=0, line=None)], "staging")
    assert len(found) == (1 if problem else 0)
    assert all(problem in f.message for f in found)


def test_staging_may_use_a_tag(docs_of):
    assert policy.check_image_digests(docs_of("policy/image-digest.invalid.yaml"), "staging") == []


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("ghcr.io/x/runner:1.0", True),
        ("localhost:5000/runner:1.0", True),
        ("localhost:5000/runner", False),
        ("runner:latest", False),
        ("ghcr.io/x/runner@sha256:" + "a" * 64, True),
        ("ghcr.io/x/runner@sha256:abc", False),
        ("", False),
    ],
)
def test_image_problem(image, ok):
    assert (policy.image_problem(image) == "") is ok


def test_the_runner_image_name_is_read_from_the_rendered_base():
    from tooling.manifests.images import runner_name

    assert runner_name() == "geozarr-runner"
