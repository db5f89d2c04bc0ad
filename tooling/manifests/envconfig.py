"""overlays/<env>/env.yaml: what the tooling knows about an env, checked against its schema
(schemas/env.schema.yaml, yamale) and against what the env actually renders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding, Rule, Severity
from tooling import repo

SCHEMA = Rule("env.schema", Severity.ERROR, "env.yaml matches schemas/env.schema.yaml")
CONSISTENT = Rule("env.consistency", Severity.ERROR, "env.yaml's namespace/bucket/prefix/endpoints match the rendered env")

SCHEMA_PATH = repo.SCHEMAS / "env.schema.yaml"

# env.yaml key -> the pipeline parameter it must equal
_PARAM_OF = {"bucket": "output_bucket", "prefix": "output_prefix", "s3_endpoint": "s3_endpoint",
             "stac_api_url": "stac_api_url"}


def check_env_schema(path: Path, env: str = "", schema_path: Path = SCHEMA_PATH) -> tuple[list[Finding], dict[str, Any]]:
    """Findings of env.yaml against its yamale schema, and its data (empty when unreadable)."""
    import yamale

    file = repo.relpath(path)
    try:
        schema = yamale.make_schema(str(schema_path))
        data = yamale.make_data(str(path))
    except (OSError, SyntaxError, ValueError, yaml.YAMLError) as e:  # unreadable or not YAML
        return [SCHEMA.finding(f"cannot read: {e}", env=env, file=file)], {}
    out = []
    for result in yamale.validate(schema, data, strict=True, _raise_error=False):
        for error in result.errors:
            field = error.split(":", 1)[0]
            out.append(SCHEMA.finding(error, path=field, env=env, file=file))
    content = data[0][0] if data and isinstance(data[0][0], dict) else {}
    return out, content


def check_env_consistency(config: dict[str, Any], docs: Sequence[Any], effective: dict[str, Any],
                          env: str, file: str) -> list[Finding]:
    out = []
    namespace = config.get("namespace")
    if namespace:
        for doc in docs:
            ns = doc.namespace
            if ns and ns != namespace:
                out.append(CONSISTENT.finding(
                    f"env.yaml says namespace {namespace!r} but {doc.kind} {doc.name} renders into {ns!r}",
                    path="namespace", env=env, file=file, kind=doc.kind, name=doc.name))
    for key, param in _PARAM_OF.items():
        if key in config and param in effective and config[key] != effective[param]:
            out.append(CONSISTENT.finding(
                f"env.yaml says {key} {config[key]!r} but the env's {param} is {effective[param]!r} "
                "(params.json + overlay literals)", path=key, env=env, file=file))
    # the conformance DAG writes its reports under {output_prefix}/conformance/<workflow>/
    prefix = effective.get("output_prefix")
    if "report_prefix" in config and prefix and config["report_prefix"] != f"{prefix}/conformance":
        out.append(CONSISTENT.finding(
            f"env.yaml says report_prefix {config['report_prefix']!r} but the conformance DAG writes its "
            f"reports under {prefix + '/conformance'!r} (output_prefix/conformance)",
            path="report_prefix", env=env, file=file))
    return out
