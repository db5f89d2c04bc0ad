"""An env's configuration, each fact in one place.

`overlays/<env>/env.yaml` (schema: schemas/env.schema.yaml, yamale) holds only what the render
cannot say: the kube context and policy switches (`images_by_digest`). Everything else (namespace,
output bucket and prefix, S3 endpoint, STAC API URL, collection, runner image) is read from the
env's render: the namespace its objects are rendered into, the `geozarr-params` ConfigMap and the
WorkflowTemplates' image. `invoke validate` checks both halves (env.schema, env.render).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding, Rule, Severity
from tooling import repo
from tooling.errors import ToolingError
from tooling.manifests.render import RenderError

SCHEMA = Rule("env.schema", Severity.ERROR, "env.yaml matches schemas/env.schema.yaml")
RENDER_FACTS = Rule("env.render", Severity.ERROR,
                    "the render states what the tooling reads from it: one namespace, the output "
                    "bucket, S3 endpoint and STAC API URL, one runner image")

SCHEMA_PATH = repo.SCHEMAS / "env.schema.yaml"
# the conformance DAG writes its reports under {output_prefix}/{REPORT_DIR}/<workflow>/
REPORT_DIR = "conformance"
# EnvConfig field -> the pipeline parameter (params.json + overlay literals) it is read from
PARAM_OF = {"bucket": "output_bucket", "prefix": "output_prefix", "s3_endpoint": "s3_endpoint",
            "stac_api_url": "stac_api_url", "collection": "collection"}
REQUIRED_PARAMS = ("bucket", "s3_endpoint", "stac_api_url")


class EnvConfigError(ToolingError):
    """The env's config cannot be read (env.yaml invalid, or the render lacks a fact)."""


@dataclass(frozen=True)
class EnvFile:
    """What env.yaml says: only what the render cannot."""

    context: str
    images_by_digest: bool = False


@dataclass(frozen=True)
class EnvConfig:
    """An env as the tooling sees it: env.yaml's facts plus the ones read from its render."""

    env: str
    context: str
    namespace: str
    bucket: str
    prefix: str
    s3_endpoint: str
    stac_api_url: str
    report_prefix: str
    collection: str = ""
    runner_image: str = ""
    images_by_digest: bool = False

    def report_uri(self, workflow_name: str) -> str:
        """Where the DAG's report step writes (the template's s3://bucket/prefix/conformance/<workflow>/
        report.json, with report_prefix = prefix/conformance)."""
        return f"s3://{self.bucket}/{self.report_prefix}/{workflow_name}/report.json"


def _schema_problems(path: Path, schema_path: Path) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(field, message) for each way env.yaml misses its schema, and its data ({} when unreadable)."""
    import yamale

    try:
        with warnings.catch_warnings():  # yamale evaluates regex('\s…') schema strings
            warnings.simplefilter("ignore", SyntaxWarning)
            schema = yamale.make_schema(str(schema_path))
        data = yamale.make_data(str(path))
    except (OSError, SyntaxError, ValueError, yaml.YAMLError) as e:  # unreadable or not YAML
        return [("", f"cannot read: {e}")], {}
    problems = [(error.split(":", 1)[0], error)
                for result in yamale.validate(schema, data, strict=True, _raise_error=False)
                for error in result.errors]
    content = data[0][0] if data and isinstance(data[0][0], dict) else {}
    return problems, content


def check_env_schema(path: Path, env: str = "", schema_path: Path = SCHEMA_PATH
                     ) -> tuple[list[Finding], dict[str, Any]]:
    """Findings of env.yaml against its yamale schema, and its data (empty when unreadable)."""
    problems, content = _schema_problems(path, schema_path)
    file = repo.relpath(path)
    return [SCHEMA.finding(message, env=env, file=file, **({"path": field} if field else {}))
            for field, message in problems], content


def read_env_file(env: str, path: Path | None = None) -> EnvFile:
    """ENV's env.yaml, validated; EnvConfigError naming the file when it is not valid."""
    try:
        path = path or repo.env_config_path(env)
    except ValueError as e:
        raise EnvConfigError(str(e)) from e
    if not path.is_file():
        raise EnvConfigError(f"{repo.relpath(path)} not found: the env's tooling config")
    problems, data = _schema_problems(path, SCHEMA_PATH)
    if problems:
        raise EnvConfigError(f"{repo.relpath(path)}: {'; '.join(m for _, m in problems)}")
    return EnvFile(context=str(data["context"]), images_by_digest=bool(data.get("images_by_digest", False)))


def policy_switch(env: str, name: str) -> bool:
    """A policy switch of ENV's env.yaml (False when absent). Never raises: a file that misses its
    schema is env.schema's finding, and its readable switches still apply."""
    try:
        path = repo.env_config_path(env)
    except ValueError:
        return False
    return bool(_schema_problems(path, SCHEMA_PATH)[1].get(name) is True)


def render_facts(docs: Sequence[Any]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """What the tooling reads from a rendered env, and (field, problem) for each it cannot."""
    from tooling.manifests.images import runner_image
    from tooling.manifests.params import effective_params

    facts: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    namespaces = sorted({d.namespace for d in docs if d.namespace})
    if len(namespaces) == 1:
        facts["namespace"] = namespaces[0]
    else:
        shown = ", ".join(namespaces) or "none"
        problems.append(("namespace", f"the objects render into {len(namespaces)} namespaces ({shown}): expected one"))
    params, _ = effective_params(docs, {})
    for key, param in PARAM_OF.items():
        facts[key] = str(params.get(param) or "").strip("/") if key == "prefix" else str(params.get(param) or "")
    problems += [(key, f"the env's {PARAM_OF[key]} is empty (geozarr-params)")
                 for key in REQUIRED_PARAMS if not facts[key]]
    try:
        facts["runner_image"] = runner_image(docs)
    except RenderError as e:
        problems.append(("runner_image", str(e)))
    return facts, problems


def check_render_facts(docs: Sequence[Any], env: str, file: str) -> list[Finding]:
    """env.render: the facts the tooling reads from ENV's render are there, once."""
    _, problems = render_facts(docs)
    return [RENDER_FACTS.finding(message, path=field, env=env, file=file) for field, message in problems]


def env_config(env: str, file: EnvFile, docs: Sequence[Any]) -> EnvConfig:
    """ENV's config: what its env.yaml says (FILE) plus what its rendered DOCS say."""
    facts, problems = render_facts(docs)
    if problems:
        raise EnvConfigError(f"the {env} render: " + "; ".join(m for _, m in problems))
    report_prefix = "/".join(p for p in (facts["prefix"], REPORT_DIR) if p)
    return EnvConfig(env=env, context=file.context, report_prefix=report_prefix,
                     images_by_digest=file.images_by_digest, **facts)


def read_env_config(env: str, path: Path | None = None, root: Path | None = None) -> EnvConfig:
    """ENV's config, rendering its overlay (EnvConfigError when either cannot be read). ROOT: a
    checkout other than this one (a promotion's throw-away clone): its env.yaml and its overlay."""
    from tooling.manifests.render import kustomize
    from tooling.manifests.rendered import from_rendered, render_env

    if root is not None:
        path = path or root / repo.env_config_path(env).relative_to(repo.ROOT)
    file = read_env_file(env, path)  # a bad env.yaml is named before kubectl runs
    try:
        if root is None:
            rendered = render_env(env)
        else:
            overlay = root / repo.overlay_dir(env).relative_to(repo.ROOT)
            rendered = from_rendered(kustomize(overlay), overlay, env)
    except RenderError as e:
        raise EnvConfigError(str(e)) from e
    return env_config(env, file, rendered.docs)
