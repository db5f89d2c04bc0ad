"""`invoke validate`: render every env with the real `kubectl kustomize` and check it offline.

Per run: YAML sanity of every source file (base/, overlays/, components/, clusters/), params.json
against its schema; the Flux objects of clusters/<env> (tooling.gitops.flux) and the promotion
policies. Per env: the strict schemas and Argo lint (tooling.schema.check_documents),
`promtool check rules`, overlay preservation against the rendered base, policy, params, env.yaml.
Exit 0 no error, 1 errors, 2 cannot run (kubectl or promtool missing, a render failing), 141 when
the reader of stdout left early (`| head`).

Speed: every directory is rendered once per run, the renders concurrently (render.Renders), and
kubectl's and promtool's results and the loaded YAML are read back from build/cache/tools when
every input is byte-for-byte unchanged (tooling.manifests.toolcache; `--no-cache` bypasses it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.findings import Finding, Rule, count_by_severity
from conformance.report import Report
from conformance.stac import collection as stac_collection
from tooling import envconfig, repo, yamlio
from tooling.errors import ToolingError
from tooling.manifests import monitoring, params, policy, preservation, promtool, stdout
from tooling.manifests.render import RenderError, Renders
from tooling.manifests.rendered import Rendered, loader_digest
from tooling.manifests.toolcache import ToolCache
from tooling.storage.policy import SCHEMA_RULE as STORAGE_SCHEMA
from tooling.storage.policy import check_storage

SOURCE_DIRS = ("base", "overlays", "components", "clusters")


@dataclass
class Validation:
    """What one run found: its findings, each env's summary entry, how long it took."""

    findings: list[Finding] = field(default_factory=list)
    envs: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def report(self) -> Report:
        """The run as the one report (kind `validate`, target the envs; `envs` in its JSON)."""
        return Report(kind="validate", target=", ".join(self.envs), findings=list(self.findings), tool="invoke validate",
                      rules=[{"id": r.id, "severity": str(r.severity), "summary": r.summary} for r in rules()],
                      total_seconds=round(self.seconds, 3), extra={"envs": self.envs},
                      notes=env_lines(self.envs))


def rules() -> list[Rule]:
    """Every rule `invoke validate` runs: the schema engine's, then this package's."""
    from tooling import sealing
    from tooling.schema.check import rules as schema_rules

    own = [r for r, _ in policy.RULES] + [
        preservation.STRUCTURE, params.SCHEMA, params.KEYS, params.DEFAULTS,
        envconfig.SCHEMA, envconfig.RENDER_FACTS, promtool.RULES, sealing.TEST_KEY, STORAGE_SCHEMA,
        stac_collection.COLLECTION,
    ]
    return schema_rules() + own + monitoring.RULES + list(flux_rules())


def flux_rules() -> tuple[Rule, ...]:
    from tooling.gitops.flux import RULES
    from tooling.gitops.gate import POLICY

    return (*RULES, POLICY)


def check_flux(envs: list[str], renders: Renders) -> list[Finding]:
    """clusters/<env>: the Flux objects against the Flux CRDs, their paths rendered (RENDERS:
    the run's renders, the overlays already among them); overlays/<env>/promotion.yaml."""
    from tooling.gitops.flux import check_clusters
    from tooling.gitops.gate import check_policy

    return check_clusters(envs, renders) + [f for env in envs for f in check_policy(env)]


def _progress(message: str) -> None:
    print(f"validate: {message}", file=sys.stderr, flush=True)


def source_yaml_files(root: Path = repo.ROOT) -> list[Path]:
    files: list[Path] = []
    for d in SOURCE_DIRS:
        files += sorted(p for p in (root / d).rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return files


def patch_files(root: Path = repo.ROOT) -> set[Path]:
    """Files the kustomizations use as patches: a JSON6902 patch is a YAML list, not an object."""
    import yaml

    found: set[Path] = set()
    for d in SOURCE_DIRS:
        for k in (root / d).rglob("kustomization.yaml"):
            try:
                data = yamlio.load(k.read_text()) or {}
            except (OSError, yaml.YAMLError):
                continue  # check_yaml_file reports it
            entries = (data.get("patches") or []) + (data.get("patchesJson6902") or []) if isinstance(data, dict) else []
            found |= {(k.parent / e["path"]).resolve() for e in entries if isinstance(e, dict) and e.get("path")}
    return found


def check_sources(root: Path = repo.ROOT, cache: ToolCache | None = None) -> list[Finding]:
    """YAML sanity of every source file (duplicate keys kustomize would silently accept, …).
    CACHE: the findings of these exact files (path and bytes), found by this exact code."""
    if cache is None:
        return _check_sources(root)
    from tooling.manifests import rendered, toolcache

    try:
        parts = [p for path in source_yaml_files(root) for p in (str(path), path.read_bytes())]
    except OSError:
        return _check_sources(root)  # an unreadable file: check_yaml_file says so
    here = Path(__file__).read_bytes()
    key = toolcache.digest("sources", rendered.loader_digest(), here, str(root), *parts)
    return cache.memo(key, lambda: _check_sources(root))


def _check_sources(root: Path) -> list[Finding]:
    from tooling.schema.documents import NOT_A_MAPPING, check_yaml_file

    patches = patch_files(root)
    out: list[Finding] = []
    for path in source_yaml_files(root):
        found = check_yaml_file(path)
        if path.resolve() in patches:  # a JSON6902 patch is a list of operations
            found = [f for f in found if f.rule != NOT_A_MAPPING.id]
        out += found
    return out


def start_renders(renders: Renders, directories: dict[str, Path], envs: list[str]) -> None:
    """Begin every render the run needs that is known up front, at once: the base, the overlays
    and clusters/<env> (the Flux step renders the directories those name, once each)."""
    clusters = [repo.cluster_dir(env) for env in envs if repo.cluster_dir(env).is_dir()]
    renders.start(*directories.values(), *clusters)


def check_env(env: str, rendered: Rendered, base: Rendered, base_params: dict[str, Any],
              cache: ToolCache | None = None) -> tuple[list[Finding], dict[str, Any]]:
    """Every per-env check; the findings carry `env`, the dict is the env's summary entry."""
    from tooling.schema import check_documents

    overlay = rendered.directory
    kustomization = repo.relpath(overlay / "kustomization.yaml")
    found = list(rendered.findings)
    schema_findings, schema_summary = check_documents(rendered.docs, kubernetes_version=repo.TARGET_KUBERNETES_VERSION)
    found += schema_findings
    found += promtool.check_rules(rendered.docs, env, cache)
    found += monitoring.check_env(rendered.docs, env, cache=cache)  # alerts, runbooks, promtool tests, dashboard
    found += preservation.check_preservation(base.docs, rendered.docs, env, overlay)
    found += policy.check_policy(rendered.docs, env)
    found += check_test_key(rendered.docs, cache)
    params_findings, effective = params.check_env_params(rendered.docs, base_params, env, kustomization)
    found += params_findings
    found += envconfig.check_env_schema(repo.env_config_path(env), env)[0]
    found += envconfig.check_render_facts(rendered.docs, env, kustomization)
    found += check_storage(env)  # overlays/<env>/storage.yaml (tooling.storage)
    found += _check_collection(overlay, effective)
    found = [f.with_location(env=env) for f in found]
    summary = {
        "documents": len(rendered.docs),
        "kinds": rendered.kinds(),
        "schema": schema_summary,
        "findings": count_by_severity(found),
    }
    return found, summary


def check_test_key(docs: list[Any], cache: ToolCache | None) -> list[Finding]:
    """tooling.sealing's test-key check of DOCS' SealedSecrets. CACHE: its findings for these
    exact SealedSecrets, key and checking code (unsealing is deterministic), so that a warm run
    neither imports cryptography nor decrypts anything."""
    import importlib.util
    import pickle

    from tooling.manifests import toolcache

    def check() -> list[Finding]:
        from tooling import sealing

        return sealing.check_test_key(docs, repo.TEST_SEALING_KEY, cache)

    sealed = [(d.file, d.obj) for d in docs if d.kind == "SealedSecret"]
    spec = importlib.util.find_spec("tooling.sealing")
    if cache is None or not sealed or spec is None or spec.origin is None:
        return check()
    try:
        key_pem = repo.TEST_SEALING_KEY.read_bytes() if repo.TEST_SEALING_KEY.is_file() else b""
        parts = (Path(spec.origin).read_bytes(), key_pem, pickle.dumps(sealed))
    except (OSError, pickle.PicklingError):
        return check()
    return cache.memo(toolcache.digest("sealing.test-key", loader_digest(), *parts), check)


def _check_collection(overlay: Path, effective: dict[str, Any]) -> list[Finding]:
    """The env's STAC collection document against the vendored collection schema."""
    from conformance.stac.collection import check_collection_file

    path = overlay / "collection.json"
    return [f.with_location(file=repo.relpath(path))
            for f in check_collection_file(path, expected_id=str(effective.get("collection") or ""))]


def run(envs: list[str] | None = None, progress: bool = True, use_cache: bool = True) -> Validation:
    """Validate ENVS (default: every env). Raises ToolingError when a tool is missing or a render
    fails. USE_CACHE: read kubectl's and promtool's results back from repo.TOOL_CACHE when their
    inputs are byte-for-byte unchanged (tooling.manifests.toolcache); False runs every tool."""
    with Renders(ToolCache(repo.TOOL_CACHE) if use_cache else None) as renders:
        return _run(envs, say=_progress if progress else (lambda message: None), renders=renders)


def _run(envs: list[str] | None, say: Callable[[str], None], renders: Renders) -> Validation:
    start = time.perf_counter()
    envs = list(envs or repo.ENVS)
    try:
        directories = {"base": repo.BASE} | {env: repo.overlay_dir(env) for env in envs}
    except ValueError as e:
        raise ToolingError(str(e)) from e
    try:
        import tooling.schema  # noqa: F401
    except ImportError as e:  # the schema engine is part of this repo: a broken checkout
        raise ToolingError(f"the schema engine (tooling.schema) cannot be imported: {e}") from e

    say(f"rendering base and {', '.join(envs)} (kubectl kustomize)")
    start_renders(renders, directories, envs)
    try:
        loaded = {name: renders.rendered(d, name) for name, d in directories.items()}
    except RenderError as e:
        raise ToolingError(str(e)) from e

    report = Validation()
    report.findings += check_sources(cache=renders.cache)
    try:
        base_params = params.load_params()
    except params.ParamsError as e:
        report.findings.append(params.SCHEMA.finding(str(e), file=repo.relpath(repo.PARAMS_JSON)))
        base_params = {}
    report.findings += params.check_schema(base_params, repo.relpath(repo.PARAMS_JSON))

    base = loaded["base"]
    report.findings += base.findings
    for env in envs:
        say(f"checking {env}")
        rendered = loaded[env]
        try:
            found, summary = check_env(env, rendered, base, base_params, renders.cache)
        except promtool.PromtoolMissing as e:
            raise ToolingError(str(e)) from e
        report.findings += found
        report.envs[env] = summary
    say(f"checking the Flux objects of clusters/{{{','.join(envs)}}}")
    flux_found = check_flux(envs, renders)
    report.findings += flux_found
    for env in envs:  # the env's verdict counts its clusters/<env> findings too
        report.envs[env]["findings"] = count_by_severity(
            [f for f in report.findings if f.env == env])
    report.seconds = time.perf_counter() - start
    return report


def env_lines(envs: dict[str, dict[str, Any]]) -> list[str]:
    """One line per env (its verdict, documents and counts), then each skipped document."""
    lines: list[str] = []
    for env, s in envs.items():
        kinds = ", ".join(f"{k} {n}" for k, n in s["kinds"].items())
        skipped = s["schema"].get("skipped") or [] if isinstance(s.get("schema"), dict) else []
        state = "valid" if not s["findings"]["error"] else "INVALID"
        lines.append(f"{env}: {state}: {s['documents']} documents checked ({kinds}); "
                     f"{s['findings']['error']} error(s), {s['findings']['warning']} warning(s), {len(skipped)} skipped")
        for skip in skipped:
            lines.append(f"  skipped {skip.get('kind')}/{skip.get('name')} ({skip.get('file')}): {skip.get('reason')}")
    return lines


def main(envs: list[str] | None = None, as_json: bool = False, fmt: str = "",
         use_cache: bool = True) -> int:
    fmt = stdout.chosen_format("validate", fmt, as_json)
    if fmt is None:
        return 2
    try:
        validation = run(envs, use_cache=use_cache)
    except ToolingError as e:
        stdout.cannot_run("validate", str(e), fmt=fmt, target=", ".join(envs or repo.ENVS))
        return e.exit_code
    return stdout.show(validation.report(), fmt)
