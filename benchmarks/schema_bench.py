"""Per-document cost of the strict Kubernetes schema step against the
`kubernetes-validate` CLI on the same documents, the per-document cost of the CRD step
(vendored upstream CRDs + CEL rules), and the Argo corpus lint time.

Documents: the built-in kinds of every rendered env (real `kubectl kustomize`),
or, when rendering is impossible, a fixed sample of built-in objects.
Goal: the schema step >= 5x cheaper per document than the CLI.
Exit 0 goal met, 1 missed, 2 cannot run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tooling import repo
from tooling.schema.documents import Document, load_documents

GOAL = 5.0
K8S_VERSION = repo.TARGET_KUBERNETES_VERSION

SAMPLE = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: geozarr-convert}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: geozarr-params}
data: {collection: sentinel-2-l2a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: geozarr-executor}
rules: [{apiGroups: [argoproj.io], resources: [workflowtaskresults], verbs: [create, patch]}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: geozarr-scratch}
spec: {accessModes: [ReadWriteOnce], storageClassName: csi-cinder-high-speed, resources: {requests: {storage: 20Gi}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: geozarr-egress}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: 53, protocol: UDP}]}]
"""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def builtin_documents() -> tuple[list[Document], str]:
    """Built-in-kind documents of the rendered envs (or the fixed sample) and where they came from."""
    from tooling.schema import kubernetes

    kubectl = shutil.which("kubectl")
    docs: list[Document] = []
    if kubectl:
        for env in repo.ENVS:
            run = subprocess.run([kubectl, "kustomize", str(repo.overlay_dir(env))], check=False, capture_output=True, text=True)
            if run.returncode == 0:
                docs += load_documents(run.stdout, f"rendered/{env}")[0]
    source = "rendered envs"
    builtin = [d for d in docs if kubernetes.is_builtin(d, K8S_VERSION)]
    if not builtin:
        builtin, source = load_documents(SAMPLE, "sample")[0], "built-in sample"
    return builtin, source


def engine_cost(docs: list[Document], rounds: int = 20) -> tuple[float, float]:
    """(cold seconds for all docs incl. compiling validators, warm seconds per document)."""
    from tooling.schema import kubernetes

    for cache in (kubernetes.validator_for, kubernetes.registry, kubernetes.schema_dir):
        cache.cache_clear()
    start = time.perf_counter()
    for d in docs:
        kubernetes.check_kubernetes(d, K8S_VERSION)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(rounds):
        for d in docs:
            kubernetes.check_kubernetes(d, K8S_VERSION)
    warm = (time.perf_counter() - start) / (rounds * len(docs))
    return cold, warm


def cli_cost(docs: list[Document]) -> float | None:
    """Seconds per document of one `kubernetes-validate --strict` run over all of them."""
    exe = Path(sys.executable).parent / "kubernetes-validate"
    cli = str(exe) if exe.exists() else shutil.which("kubernetes-validate")
    if cli is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "docs.yaml"
        path.write_text(yaml.safe_dump_all([d.obj for d in docs]))
        best = None
        for _ in range(3):
            start = time.perf_counter()
            run = subprocess.run([cli, "--strict", "--quiet", "-k", K8S_VERSION, str(path)], check=False, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if run.returncode != 0:
                _log(f"kubernetes-validate disagrees (exit {run.returncode}): {run.stdout.strip()[:300]}")
            best = elapsed if best is None else min(best, elapsed)
    return best / len(docs)


def library_cost(docs: list[Document], rounds: int = 5) -> float:
    """Seconds per document of `kubernetes_validate.validate()` in-process (no process start)."""
    import kubernetes_validate

    start = time.perf_counter()
    for _ in range(rounds):
        for d in docs:
            kubernetes_validate.validate(d.obj, K8S_VERSION, strict=True)
    return (time.perf_counter() - start) / (rounds * len(docs))


def custom_documents() -> list[Document]:
    """The custom resources of the rendered envs and of Argo's example corpus (when present)."""
    from tooling.manifests import lint
    from tooling.schema.check import crd_checker
    from tooling.schema.documents import read_documents

    checker = crd_checker(K8S_VERSION)
    docs: list[Document] = []
    kubectl = shutil.which("kubectl")
    for env in repo.ENVS if kubectl else ():
        run = subprocess.run([kubectl, "kustomize", str(repo.overlay_dir(env))], check=False, capture_output=True, text=True)
        docs += load_documents(run.stdout, f"rendered/{env}")[0] if run.returncode == 0 else []
    examples = repo.SHARED / "corpora" / "argo" / "examples"
    for path in lint.yaml_files(examples) if examples.is_dir() else []:
        docs += read_documents(path)[0]
    return [d for d in docs if checker.knows(d)]


def crd_cost(docs: list[Document], rounds: int = 3) -> dict[str, float]:
    """Seconds: compiling every CRD used from YAML, loading them from the compiled cache, and
    per document warm (validators compiled, CEL verdicts known) and with CEL evaluated afresh."""
    from tooling.schema import cel, crds

    kinds = {(d.group, d.kind) for d in docs}
    start = time.perf_counter()
    fresh = crds.Catalogue(repo.CRDS, None)
    for key in kinds:
        fresh.files[key].compiled  # noqa: B018 - the property compiles
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    cached = crds.Catalogue(repo.CRDS, repo.SCHEMA_CACHE)
    for key in kinds:
        cached.files[key].compiled  # noqa: B018 - the property loads the cache
    load_s = time.perf_counter() - start
    checker = crds.CrdChecker(cached, K8S_VERSION, cel.Verdicts())
    start = time.perf_counter()
    for d in docs:
        checker.check(d)
    cel_cold = (time.perf_counter() - start) / len(docs)
    start = time.perf_counter()
    for _ in range(rounds):
        for d in docs:
            checker.check(d)
    warm = (time.perf_counter() - start) / (rounds * len(docs))
    return {"compile": compile_s, "load": load_s, "cel_cold": cel_cold, "warm": warm, "kinds": len(kinds)}


def print_crd_cost() -> None:
    docs = custom_documents()
    if not docs:
        print("CRD step: no custom resources to time")
        return
    cost = crd_cost(docs)
    print(f"CRD step: {len(docs)} custom resources ({cost['kinds']} kinds, rendered envs + Argo corpus)")
    print(f"  warm:                 {cost['warm'] * 1e3:8.3f} ms/doc (validators compiled, CEL verdicts known)")
    print(f"  CEL evaluated afresh: {cost['cel_cold'] * 1e3:8.3f} ms/doc (first run, incl. importing cel-python)")
    print(f"  CRDs from YAML:       {cost['compile']:8.2f} s  vs from the compiled cache {cost['load']:.3f} s "
          f"(ratio {cost['compile'] / max(cost['load'], 1e-9):.0f}x)")


def corpus_lint_time() -> tuple[float, int] | None:
    from tooling.manifests import lint

    examples = repo.SHARED / "corpora" / "argo" / "examples"
    if not examples.is_dir():
        return None
    files = lint.yaml_files(examples)
    start = time.perf_counter()
    _, summary = lint.lint_paths(files)
    return time.perf_counter() - start, summary["documents"]


def main() -> int:
    try:
        docs, source = builtin_documents()
    except Exception as e:  # noqa: BLE001 - the edge
        print(f"schema bench: cannot run: {e}", file=sys.stderr)
        return 2
    n = len(docs)
    _log(f"timing the Kubernetes schema step on {n} documents ({source})")
    cold, warm = engine_cost(docs)
    cli = cli_cost(docs)
    lib = library_cost(docs)
    print(f"documents: {n} built-in ({source}), Kubernetes {K8S_VERSION}, strict")
    print(f"engine, warm:       {warm * 1e3:8.3f} ms/doc (validators compiled once per kind and reused)")
    print(f"engine, cold:       {cold / n * 1e3:8.3f} ms/doc (incl. loading + compiling: {cold * 1e3:.0f} ms total)")
    print(f"kubernetes_validate.validate(): {lib * 1e3:8.3f} ms/doc in-process (reloads schemas per call)")
    ok = True
    if cli is None:
        print("kubernetes-validate CLI: not installed (uv sync)")
        ok = False
    else:
        print(f"kubernetes-validate CLI: {cli * 1e3:8.3f} ms/doc (one process for all {n} documents)")
        ratio_warm, ratio_cold = cli / warm, cli / (cold / n)
        print(f"ratio CLI/engine: {ratio_warm:.0f}x warm, {ratio_cold:.1f}x cold (goal >= {GOAL:.0f}x)")
        ok = min(ratio_warm, ratio_cold) >= GOAL
    print(f"in-process ratio validate()/engine: {lib / warm:.0f}x warm")
    print_crd_cost()
    corpus = corpus_lint_time()
    if corpus is None:
        print("Argo corpus lint: ../shared/corpora/argo absent, not timed")
    else:
        seconds, count = corpus
        print(f"Argo corpus lint: {count} documents in {seconds:.2f} s ({seconds / count * 1e3:.2f} ms/doc)")
    print("goal met" if ok else "goal NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
