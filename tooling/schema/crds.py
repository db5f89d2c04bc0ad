"""Custom resources against their upstream CRDs (`schemas/crds/`, see `tooling.versions`).

Any CRD file put under the CRD folder is used, by group, kind and version: nothing here names a
kind. Each CRD version's `openAPIV3Schema` becomes a strict JSON Schema (`tooling.schema.openapi`)
validated by one `jsonschema` walk that also evaluates the CEL rules (`x-kubernetes-validations`,
rule `schema.cel`, with the rule's own message) and list uniqueness (`x-kubernetes-list-type`).

The Argo CRDs are 2.5 MB of YAML each (over a second to parse): the compiled form of every CRD
file is cached as JSON under the cache folder, named by the sha256 of the file's bytes, so a
changed or new CRD recompiles by itself and a warm run only reads small JSON files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from jsonschema import FormatChecker, ValidationError, validators

from conformance.findings import Finding, Rule, Severity
from tooling.schema import cel, kubernetes, openapi
from tooling.schema.documents import Document
from tooling.schema.jsonschema_errors import findings_from_errors

CRD_SCHEMA = Rule(
    "schema.crd", Severity.ERROR,
    "custom resources match their upstream CRD's schema, strictly (no unknown fields)",
)
CEL_RULE = Rule("schema.cel", Severity.ERROR, "custom resources satisfy their CRD's CEL rules (x-kubernetes-validations)")
COMPILER_VERSION = "2"  # bump when openapi.convert changes what it produces


class _CrdLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML resolves a plain `=` (an enum value in prometheus-operator's CRDs) to an
    unconstructable `value` tag: here it is the string it is."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: str(node.value))


def compile_crd(text: str) -> dict[str, Any]:
    """{group, kind, scope, versions: {name: {served, deprecated, warning, schema}}} of a CRD."""
    crd = yaml.load(text, Loader=_CrdLoader)  # a SafeLoader subclass
    spec = crd.get("spec") or {} if isinstance(crd, dict) else {}
    versions = {}
    for v in spec.get("versions") or []:
        open_api = ((v.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"}
        versions[v["name"]] = {
            "served": bool(v.get("served", True)),
            "deprecated": bool(v.get("deprecated", False)),
            "warning": v.get("deprecationWarning") or "",
            "schema": openapi.resource_schema(open_api),
        }
    names = spec.get("names") or {}
    return {"group": spec.get("group", ""), "kind": names.get("kind", ""), "scope": spec.get("scope", ""), "versions": versions}


@dataclass
class CrdFile:
    """One vendored CRD file; `compiled` comes from the cache (or is built and cached)."""

    path: Path
    cache_dir: Path | None

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:24]

    def _cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"crd-{self.path.stem}-{self.digest}-c{COMPILER_VERSION}.json"

    @cached_property
    def compiled(self) -> dict[str, Any]:
        cached = self._cache_path()
        if cached is not None and cached.is_file():
            try:
                return json.loads(cached.read_text())
            except ValueError:
                pass  # a torn file: rebuild it
        compiled = compile_crd(self.path.read_text(encoding="utf-8"))
        if cached is not None:
            _write_atomically(cached, json.dumps(compiled, separators=(",", ":")))
        return compiled


def _write_atomically(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    except OSError:
        pass  # read-only checkout: compile again next time


def _header(path: Path) -> tuple[str, str]:
    """(group, kind) of a CRD, reading only what precedes `spec.versions` (the large part) when
    the file is laid out as controller-gen writes it; otherwise the whole file."""
    head: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("  versions:"):
                break
            head.append(line)
    try:
        crd = yaml.load("".join(head), Loader=_CrdLoader)  # a SafeLoader subclass
    except yaml.YAMLError:
        return "", ""
    spec = crd.get("spec") if isinstance(crd, dict) else None
    if not isinstance(spec, dict) or crd.get("kind") != "CustomResourceDefinition":
        return "", ""
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    return str(spec.get("group") or ""), str(names.get("kind") or "")


@dataclass
class Catalogue:
    """The CRDs of a folder (searched recursively), by (group, kind)."""

    crd_dir: Path
    cache_dir: Path | None = None
    files: dict[tuple[str, str], CrdFile] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path in sorted(self.crd_dir.rglob("*.yaml")):
            group, kind = _header(path)
            if group and kind:
                self.files.setdefault((group, kind), CrdFile(path, self.cache_dir))

    def version(self, group: str, kind: str, version: str) -> dict[str, Any] | None:
        """The compiled CRD version (served or not), None when the CRD or version is unknown."""
        crd = self.files.get((group, kind))
        return crd.compiled["versions"].get(version) if crd else None

    def versions(self, group: str, kind: str) -> list[str]:
        crd = self.files.get((group, kind))
        return list(crd.compiled["versions"]) if crd else []

    def source(self, group: str, kind: str) -> Path | None:
        crd = self.files.get((group, kind))
        return crd.path if crd else None


# -- the walk: JSON Schema plus Kubernetes' own keywords ---------------------------------------
def _field_path(field_path: str) -> list[str | int]:
    """`.spec.foo[0]` or `.foo['bar']` (a CEL rule's fieldPath) as path parts."""
    parts: list[str | int] = []
    for token in field_path.replace("[", ".[").split("."):
        if not token:
            continue
        if token.startswith("[") and token.endswith("]"):
            inner = token[1:-1].strip("'\"")
            parts.append(int(inner) if inner.isdigit() else inner)
        else:
            parts.append(token)
    return parts


def _cel_keyword(verdicts: cel.Verdicts):
    def check(validator: Any, rules: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
        for rule in rules if isinstance(rules, list) else ():
            if not isinstance(rule, dict) or "rule" not in rule:
                continue
            verdict = verdicts.check(rule["rule"], instance)
            if not verdict:
                continue
            message = rule.get("message") or f"failed rule: {rule['rule']}"
            if verdict != "false":
                message = f"{message} (rule {rule['rule']!r} {verdict})"
            yield ValidationError(message, path=_field_path(rule.get("fieldPath") or ""))
    return check


def _list_type(validator: Any, list_type: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    """`set`: items unique; `map`: items unique by `x-kubernetes-list-map-keys`."""
    if not isinstance(instance, list) or list_type not in ("set", "map"):
        return
    keys = schema.get("x-kubernetes-list-map-keys") or []
    seen: dict[str, int] = {}
    for i, item in enumerate(instance):
        if list_type == "map" and isinstance(item, dict):
            ident = json.dumps([item.get(k) for k in keys], default=str)
            shown = ", ".join(f"{k}={item.get(k)!r}" for k in keys)
        else:
            ident = json.dumps(item, sort_keys=True, default=str)
            shown = repr(item)
        if ident in seen:
            yield ValidationError(f"duplicate entry {shown} (also at [{seen[ident]}])", path=[i])
        seen.setdefault(ident, i)


_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("byte")
def _is_base64(value: object) -> bool:
    import base64
    import binascii

    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


@_FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    import re

    return not isinstance(value, str) or bool(re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", value,
    ))


def validator_class(verdicts: cel.Verdicts) -> type:
    return validators.extend(
        kubernetes.Validator,
        {"x-kubernetes-validations": _cel_keyword(verdicts), "x-kubernetes-list-type": _list_type},
    )


@dataclass
class CrdChecker:
    """Validates custom resources; one compiled validator per (group, kind, version)."""

    catalogue: Catalogue
    kubernetes_version: str
    verdicts: cel.Verdicts = field(default_factory=cel.Verdicts)
    _validators: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    def knows(self, doc: Document) -> bool:
        return (doc.group, doc.kind) in self.catalogue.files

    def validator(self, group: str, kind: str, version: str) -> Any | None:
        key = (group, kind, version)
        if key not in self._validators:
            compiled = self.catalogue.version(group, kind, version)
            if compiled is None:
                self._validators[key] = None
            else:
                registry = kubernetes.registry(kubernetes.schema_dir(self.kubernetes_version))
                cls = validator_class(self.verdicts)
                self._validators[key] = cls(compiled["schema"], registry=registry, format_checker=_FORMATS)
        return self._validators[key]

    def check(self, doc: Document, obj: dict[str, Any] | None = None) -> list[Finding]:
        """Findings of DOC (or of OBJ, the same object as its controller decodes it)."""
        version = doc.api_version.rpartition("/")[2]
        validator = self.validator(doc.group, doc.kind, version)
        if validator is None:
            served = ", ".join(f"{doc.group}/{v}" for v in self.catalogue.versions(doc.group, doc.kind))
            message = f"{doc.kind} has no version {version!r} in its CRD (served: {served})"
            return [CRD_SCHEMA.finding(message, path="apiVersion", **doc.where())]
        errors = list(validator.iter_errors(doc.obj if obj is None else obj))
        cel_errors = [e for e in errors if e.validator == "x-kubernetes-validations"]
        schema_errors = [e for e in errors if e.validator != "x-kubernetes-validations"]
        if schema_errors:  # a rule fed a value of the wrong type is that type error, not a second one
            cel_errors = [e for e in cel_errors if "cannot be evaluated" not in e.message]
        return findings_from_errors(schema_errors, CRD_SCHEMA, doc.where()) + findings_from_errors(
            cel_errors, CEL_RULE, doc.where()
        )
