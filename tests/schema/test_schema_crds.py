"""Custom resources against the vendored upstream CRDs: strict schema, CEL rules, quantities,
the compiled-schema and CEL-verdict caches, and any CRD dropped into the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tooling import repo, sealing, versions
from tooling.schema import cel, check_documents, crds
from tooling.schema.documents import Document, load_documents

MANIFEST_FIXTURES = Path(__file__).parents[1] / "manifests" / "fixtures"


def _check(text: str) -> list[tuple[str, str, str]]:
    docs, found = load_documents(text, "t.yaml")
    assert found == []
    return [(f.rule, f.path, f.message) for f in check_documents(docs, "1.32")[0]]


def test_vendored_folders_are_the_declared_upstream_releases() -> None:
    """schemas/crds/ holds exactly the folders tooling.versions declares, each with its LICENSE,
    byte-identical to the upstream copies in ../shared/crds."""
    assert {p.name for p in repo.CRDS.iterdir() if p.is_dir()} == set(versions.UPSTREAM_CRDS)
    shared = {"argo-workflows": "argo-workflows-v4.0.9"}
    for folder in versions.UPSTREAM_CRDS:
        ours = repo.CRDS / folder
        assert (ours / "LICENSE").is_file(), folder
        upstream = repo.SHARED / "crds" / shared.get(folder, folder)
        for path in ours.glob("*.yaml"):
            assert path.read_bytes() == (upstream / path.name).read_bytes(), path
    assert versions.upstream_version("argo-workflows") == "v4.0.9"
    assert repo.TARGET_KUBERNETES_VERSION == versions.KUBERNETES == "1.32"


def test_every_vendored_crd_is_in_the_catalogue() -> None:
    catalogue = crds.Catalogue(repo.CRDS)
    assert set(catalogue.files) >= {
        ("argoproj.io", "Workflow"), ("argoproj.io", "WorkflowTemplate"),
        ("argoproj.io", "ClusterWorkflowTemplate"), ("argoproj.io", "CronWorkflow"),
        ("bitnami.com", "SealedSecret"), ("monitoring.coreos.com", "PrometheusRule"),
        ("monitoring.coreos.com", "AlertmanagerConfig"), ("monitoring.coreos.com", "PodMonitor"),
        ("monitoring.coreos.com", "ServiceMonitor"), ("kustomize.toolkit.fluxcd.io", "Kustomization"),
        ("source.toolkit.fluxcd.io", "GitRepository"),
    }


def test_a_sealed_secret_as_kubeseal_writes_it_passes() -> None:
    """kubeseal's output: `creationTimestamp: null` in both metadata blocks."""
    cert = (MANIFEST_FIXTURES / "sealing" / "tls.crt").read_bytes()
    doc = sealing.sealed_secret(cert, "geozarr-staging", "s3-credentials", {"AWS_ACCESS_KEY_ID": "x"})
    doc["metadata"] = {"creationTimestamp": None} | doc["metadata"]
    doc["spec"]["template"]["metadata"] = {"creationTimestamp": None} | doc["spec"]["template"]["metadata"]
    assert _check(yaml.safe_dump(doc)) == []


def test_prometheus_rule_with_status_passes() -> None:
    assert _check(
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: r}\n"
        "spec: {groups: [{name: g, rules: [{alert: A, expr: up == 0, for: 5m}]}]}\n"
        "status: {bindings: []}\n"
    ) == []


def test_yaml_dates_are_strings_as_kubernetes_reads_them() -> None:
    assert _check(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {since: 2024-01-01}}\n"
        "data: {day: 2024-01-01}\n---\n"
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: t}\n"
        "spec: {templates: [{name: a, container: {image: b, args: [2024-01-01]}}]}\n"
    ) == []


ARGO_HEAD = "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: t}\nspec:\n"


@pytest.mark.parametrize(
    ("spec", "rule", "path", "fragment"),
    [
        ("  podGC: {strategy: OnPodSucess}\n", "schema.crd", "spec.podGC.strategy", "'OnPodSucess' is not one of"),
        (
            "  templates: [{name: m, retryStrategy: {retryPolicy: always}, container: {image: b}}]\n",
            "schema.crd", "spec.templates[0].retryStrategy.retryPolicy", "'always' is not one of",
        ),
        (
            "  templates: [{name: m, container: {image: b, resources: {limits: {memory: 2GB}}}}]\n",
            "schema.crd", "spec.templates[0].container.resources.limits.memory", "not a Kubernetes quantity",
        ),
        (
            "  volumeClaimTemplates: [{metadata: {name: w}, spec: {resources: {requests: {storage: '50 Gi'}}}}]\n",
            "schema.crd", "spec.volumeClaimTemplates[0].spec.resources.requests.storage", "not a Kubernetes quantity",
        ),
        (
            "  volumeClaimTemplates: [{metadata: {name: w, uid: x}}]\n",
            "schema.crd", "spec.volumeClaimTemplates[0].metadata.uid", "unknown field",
        ),
        (
            ("  templates: [{name: m, timeout: 1h, dag: {tasks: [{name: a, template: l}]}},"
             " {name: l, container: {image: b}}]\n"),
            "schema.cel", "spec.templates", "timeout cannot be applied to steps or dag templates",
        ),
        (
            ("  templates: [{name: m, activeDeadlineSeconds: 5, steps: [[{name: a, template: l}]]},"
             " {name: l, container: {image: b}}]\n"),
            "schema.cel", "spec.templates", "activeDeadlineSeconds is only valid for leaf templates",
        ),
        (
            ("  templates: [{name: m, dag: {tasks: [{name: a, template: l},"
             " {name: b, template: l, depends: a, dependencies: [a]}]}}, {name: l, container: {image: b}}]\n"),
            "schema.cel", "spec.templates[0].dag.tasks[1]", "cannot use both 'depends' and 'dependencies'",
        ),
        (
            ("  templates: [{name: m, dag: {tasks: [{name: a, template: l, withSequence: {count: '3', end: '5'}}]}},"
             " {name: l, container: {image: b}}]\n"),
            "schema.cel", "spec.templates[0].dag.tasks[0].withSequence", "only one of count or end",
        ),
    ],
)
def test_upstream_crd_verdicts(spec: str, rule: str, path: str, fragment: str) -> None:
    found = _check(ARGO_HEAD + spec)
    assert [(r, p) for r, p, _ in found if r.startswith("schema.")] == [(rule, path)], found
    assert fragment in found[0][2]


@pytest.mark.parametrize("value", ["2Gi", "500m", "1e3", "0.5", 3, "+1.5E-2", ".5Ki"])
def test_kubernetes_quantities_are_accepted(value) -> None:
    pvc = (
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: p}\n"
        f"spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: {value!r}}}}}}}\n"
    )
    assert _check(pvc) == []
    assert _check(ARGO_HEAD + f"  templates: [{{name: m, container: {{image: b, resources: {{limits: {{cpu: {value!r}}}}}}}}}]\n") == []


@pytest.mark.parametrize("value", ["2GB", "50 Gi", "1.5 G", "Gi", "2gi", "-"])
def test_malformed_quantities_are_rejected_in_builtin_kinds(value: str) -> None:
    pvc = (
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: p}\n"
        f"spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: {value!r}}}}}}}\n"
    )
    [(rule, path, message)] = _check(pvc)
    assert (rule, path) == ("schema.kubernetes", "spec.resources.requests.storage")
    assert "not a Kubernetes quantity" in message


CUSTOM_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: false
    deprecated: true
    deprecationWarning: example.com/v1beta1 Widget is deprecated; use example.com/v1
    schema:
      openAPIV3Schema: {type: object, properties: {spec: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - {rule: "self.min <= self.max", message: min must not exceed max, fieldPath: .min}
            properties:
              min: {type: integer, minimum: 0}
              max: {type: integer}
              label: {type: string, nullable: true}
              size: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items: {type: object, required: [name], properties: {name: {type: string}}}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
              template:
                type: object
                x-kubernetes-embedded-resource: true
                properties: {data: {type: object, additionalProperties: {type: string}}}
"""


@pytest.fixture
def widget_checker(tmp_path: Path) -> crds.CrdChecker:
    (tmp_path / "crds").mkdir()
    (tmp_path / "crds" / "example.com_widgets.yaml").write_text(CUSTOM_CRD)
    catalogue = crds.Catalogue(tmp_path / "crds", tmp_path / "cache")
    return crds.CrdChecker(catalogue, "1.32", cel.Verdicts.load(tmp_path / "cache" / "cel.json"))


def _widget(spec: str, version: str = "v1") -> Document:
    text = f"apiVersion: example.com/{version}\nkind: Widget\nmetadata: {{name: w}}\nspec: {spec}\n"
    return load_documents(text, "w.yaml")[0][0]


def test_any_crd_in_the_folder_is_used(widget_checker: crds.CrdChecker) -> None:
    check = widget_checker.check
    assert check(_widget("{min: 1, max: 2, size: 3, ports: [{name: a}], extra: {any: [1]}}")) == []
    assert check(_widget("{min: 1, max: 1, label: null, size: '3'}")) == []  # nullable, int-or-string
    embedded = "{min: 1, max: 1, template: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: b}}}"
    assert check(_widget(embedded)) == []
    [bad] = check(_widget(embedded.replace("name: c", "nmae: c")))
    assert (bad.rule, bad.path) == ("schema.crd", "spec.template.metadata.nmae")
    assert [(f.rule, f.path, f.message) for f in check(_widget("{min: 3, max: 2}"))] == [
        ("schema.cel", "spec.min", "min must not exceed max")
    ]
    found = check(_widget("{min: -1, max: 2, sise: 1, ports: [{name: a}, {name: a}]}"))
    assert [(f.rule, f.path) for f in found] == [
        ("schema.crd", "spec.min"), ("schema.crd", "spec.ports[1]"), ("schema.crd", "spec.sise"),
    ]
    [unknown] = check(_widget("{}", version="v2"))
    assert unknown.path == "apiVersion" and "served: example.com/v1beta1, example.com/v1" in unknown.message


def test_compiled_crds_are_cached_by_content(widget_checker: crds.CrdChecker, tmp_path: Path) -> None:
    crd = widget_checker.catalogue.files[("example.com", "Widget")]
    assert crd.compiled["versions"]["v1beta1"]["deprecated"] is True
    [cached] = (tmp_path / "cache").glob("crd-*.json")
    again = crds.Catalogue(tmp_path / "crds", tmp_path / "cache").files[("example.com", "Widget")]
    assert again.compiled == crd.compiled and again._cache_path() == cached
    (tmp_path / "crds" / "example.com_widgets.yaml").write_text(CUSTOM_CRD.replace("minimum: 0", "minimum: 1"))
    changed = crds.Catalogue(tmp_path / "crds", tmp_path / "cache").files[("example.com", "Widget")]
    assert changed._cache_path() != cached
    assert changed.compiled["versions"]["v1"]["schema"]["properties"]["spec"]["properties"]["min"]["minimum"] == 1


def test_cel_verdicts_are_remembered(tmp_path: Path) -> None:
    verdicts = cel.Verdicts.load(tmp_path / "v.json")
    assert verdicts.check("self.a < self.b", {"a": 1, "b": 2}) == ""
    assert verdicts.check("self.a < self.b", {"a": 3, "b": 2}) == "false"
    assert verdicts.check("self.nope.x == 1", {"a": 1}).startswith("cannot be evaluated")
    verdicts.save()
    again = cel.Verdicts.load(tmp_path / "v.json")
    assert again.known == verdicts.known and len(again.known) == 3
    assert again.check("self.a < self.b", {"a": 3, "b": 2}) == "false" and not again.dirty


def test_deprecated_crd_version_is_a_warning(widget_checker: crds.CrdChecker, monkeypatch) -> None:
    from tooling.schema import check

    monkeypatch.setattr(check, "crd_checker", lambda version: widget_checker)
    found, _ = check_documents([_widget("{a: 1}", version="v1beta1")], "1.32")
    assert [(f.rule, str(f.severity), f.message) for f in found] == [
        ("schema.deprecated-api", "warning", "example.com/v1beta1 Widget is deprecated; use example.com/v1")
    ]
