"""`invoke drift --env ENV`: what differs between the live objects and the render, i.e. what
Flux's next apply would change (`kubectl diff --server-side` with Flux's field manager).

Secret values never reach the output. kubectl masks a Secret's `data` values itself, but not the
`kubectl.kubernetes.io/last-applied-configuration` annotation (the whole Secret, base64 values
included, on any Secret once `kubectl apply`-ed by hand) nor `stringData`; `redact` masks every
value of a Secret's diff except its apiVersion/kind/type and its metadata names and labels, in
stdout, stderr and --json alike. Exit codes are kubectl diff's: 0 no drift, 1 drift, 2 cannot run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from tooling import repo

FIELD_MANAGER = "kustomize-controller"  # Flux's field manager: the diff is what Flux would change
MASK = "***"
SAFE_TOP = {"apiVersion", "kind", "type", "immutable", "metadata"}
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_KEY = re.compile(r"^(\s*)(-\s+)?([^\s:#][^:]*?|\"[^\"]*\"|'[^']*'):(\s|$)")


class DriftError(Exception):
    """kubectl missing or failing (exit 2)."""


@dataclass(frozen=True)
class ObjectDiff:
    """The diff of one object, as kubectl diff names it (LIVE-…/<group.>version.Kind.ns.name)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace,
                "name": self.name, "diff": self.text}


def parse_object(path: str) -> tuple[str, str, str, str]:
    """(apiVersion, kind, namespace, name) from kubectl diff's file name."""
    parts = path.rstrip().rsplit("/", 1)[-1].split(".")
    kind_at = next((i for i, p in enumerate(parts) if p[:1].isupper()), None)
    if kind_at is None or kind_at == 0 or len(parts) < kind_at + 3:
        return "", "", "", parts[-1] if parts else ""
    version, group = parts[kind_at - 1], ".".join(parts[: kind_at - 1])
    api = f"{group}/{version}" if group else version
    return api, parts[kind_at], parts[kind_at + 1], ".".join(parts[kind_at + 2:])


def split(output: str) -> tuple[str, list[ObjectDiff]]:
    """kubectl diff's stdout as (text before the first object, one ObjectDiff per object)."""
    chunks = re.split(r"(?m)^(?=diff -u -N )", output)
    head = "" if chunks[0].startswith("diff -u -N ") else chunks.pop(0)
    objects = []
    for chunk in chunks:
        first = chunk.split("\n", 1)[0].split()
        objects.append(ObjectDiff(*parse_object(first[-1] if first else ""), chunk))
    return head, objects


def _mask(marker: str) -> str:
    return {"-": f"'{MASK} (before)'", "+": f"'{MASK} (after)'"}.get(marker, f"'{MASK}'")


def _redact_value(marker: str, content: str) -> str:
    m = _KEY.match(content)
    if not m:
        return f"{marker}{' ' * (len(content) - len(content.lstrip()))}{MASK}"
    return f"{marker}{content[: m.end(3) + 1]} {_mask(marker)}"


def redact_secret(text: str) -> str:
    """A Secret's unified diff with every value masked but its top-level identity fields and
    metadata (names, labels, annotations other than last-applied-configuration)."""
    out: list[str] = []
    section = "unknown"  # a hunk may start anywhere: unknown until a top-level key is seen
    secret_indent = -1  # inside the last-applied annotation: lines indented deeper are masked
    for line in text.split("\n"):
        if line.startswith(("diff ", "--- ", "+++ ", "@@", "\\")) or not line:
            if line.startswith("@@"):
                section, secret_indent = "unknown", -1
            out.append(line)
            continue
        marker, content = line[0], line[1:]
        indent = len(content) - len(content.lstrip(" "))
        key = _KEY.match(content)
        if indent == 0 and key:
            section = "safe" if key.group(3) in SAFE_TOP else "secret"
            secret_indent = -1
            out.append(line if section == "safe" or not content[key.end():].strip()
                       else _redact_value(marker, content))
            continue
        if secret_indent >= 0 and indent > secret_indent:
            out.append(_redact_value(marker, content))
            continue
        secret_indent = -1
        if section == "safe" and key and key.group(3).strip("'\"") == LAST_APPLIED:
            secret_indent = indent
            out.append(_redact_value(marker, content))
        elif section == "safe":
            out.append(line)
        else:
            out.append(_redact_value(marker, content))
    return "\n".join(out)


def redact(output: str) -> str:
    """kubectl diff output with the values of every Secret masked (other objects unchanged)."""
    head, objects = split(output)
    return head + "".join(redact_secret(o.text) if o.kind == "Secret" else o.text for o in objects)


def redact_objects(output: str) -> list[ObjectDiff]:
    _, objects = split(output)
    return [ObjectDiff(o.api_version, o.kind, o.namespace, o.name,
                       redact_secret(o.text) if o.kind == "Secret" else o.text) for o in objects]


def kubectl_diff(rendered: str, context: str, kubectl: str = "kubectl") -> tuple[int, str, str]:
    """`kubectl diff --server-side` of RENDERED against the cluster of CONTEXT: (exit, out, err)."""
    cmd = [kubectl, "--context", context, "diff", "--server-side", f"--field-manager={FIELD_MANAGER}",
           "--force-conflicts", "-f", "-"]
    try:
        done = subprocess.run(cmd, input=rendered, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise DriftError(f"{kubectl} not found on PATH") from e
    return done.returncode, done.stdout, done.stderr


def main(env: str, as_json: bool = False) -> int:
    from tooling.envconfig import EnvConfigError, read_env_config
    from tooling.manifests.render import RenderError, render

    try:
        cfg = read_env_config(env)
        code, out, err = kubectl_diff(render(env), cfg.context)
    except (EnvConfigError, RenderError, DriftError, ValueError) as e:
        print(f"drift: {e}", file=sys.stderr)
        return 2
    if code > 1:
        lines = [ln for ln in redact(err).strip().splitlines() if ln.strip()]
        print(f"drift: kubectl diff for {env} failed (exit {code}): "
              f"{lines[-1] if lines else 'no message'}", file=sys.stderr)
        return 2
    objects = redact_objects(out)
    if as_json:
        doc: dict[str, Any] = {"env": env, "context": cfg.context, "drift": code == 1,
                               "objects": [o.to_dict() for o in objects]}
        print(json.dumps(doc, indent=2))
    else:
        print(redact(out), end="")
        print(f"drift: {env} ({cfg.context}): " + (f"{len(objects)} object(s) differ from "
              f"{repo.relpath(repo.overlay_dir(env))}" if code else "no drift"), file=sys.stderr)
    return code
