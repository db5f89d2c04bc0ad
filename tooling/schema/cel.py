"""The CEL rules of CRDs (`x-kubernetes-validations`), evaluated with cel-python.

`Verdicts.check(rule, value)` says whether one rule holds for one value (`self`), as the API
server evaluates it: a rule that is false, or that cannot be evaluated, is a violation.
Importing cel-python and building its parser costs over a second, while a repo's documents
rarely change: verdicts are pure functions of (rule, value), so they are kept in a JSON file
keyed by both (`cache_file`, tagged with cel-python's version) and cel-python is imported only
for a value never seen before. `save()` writes the new verdicts (atomically).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_OK = ""
FORMAT = "2"
MAX_VERDICTS = 50_000  # the file keeps the newest ones (a few MB at most)  # bump when what a verdict is keyed on, or how a value is given to CEL, changes


def _as_json(value: Any) -> str:
    """VALUE as JSON, as the API server holds it (YAML dates are strings there)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _key(rule: str, text: str) -> str:
    return hashlib.sha256(f"{rule}\0{text}".encode()).hexdigest()[:32]


@dataclass
class _Programs:
    """cel-python's environment and the compiled programs, built on first use."""

    env: Any = None
    programs: dict[str, Any] = field(default_factory=dict)

    def evaluate(self, rule: str, value: Any) -> str:
        """'' when the rule holds, else why not."""
        import celpy

        if self.env is None:
            self.env = celpy.Environment()
        program = self.programs.get(rule)
        try:
            if program is None:
                program = self.programs[rule] = self.env.program(self.env.compile(rule))
            result = program.evaluate({"self": celpy.json_to_cel(value)})
        except Exception as e:  # noqa: BLE001 - cel-python raises several types; all mean "fails"
            return f"cannot be evaluated: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        if isinstance(result, Exception):  # cel-python returns evaluation errors as values
            return f"cannot be evaluated: {result}"
        return _OK if bool(result) else "false"


@dataclass
class Verdicts:
    """Rule verdicts, remembered in `cache_file` (None: in memory only)."""

    cache_file: Path | None = None
    known: dict[str, str] = field(default_factory=dict)
    dirty: bool = False
    _programs: _Programs = field(default_factory=_Programs)

    @classmethod
    def load(cls, cache_file: Path | None) -> Verdicts:
        known: dict[str, str] = {}
        if cache_file is not None:
            try:
                loaded = json.loads(cache_file.read_text())
                known = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                known = {}
        return cls(cache_file, known)

    def check(self, rule: str, value: Any) -> str:
        """'' when `rule` holds for `value` (its `self`), else a short reason ("false", ...)."""
        text = _as_json(value)
        key = _key(rule, text)
        verdict = self.known.get(key)
        if verdict is None:
            verdict = self.known[key] = self._programs.evaluate(rule, json.loads(text))
            self.dirty = True
        return verdict

    def save(self) -> None:
        if not self.dirty or self.cache_file is None:
            return
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_file.with_name(f"{self.cache_file.name}.{os.getpid()}.tmp")
            kept = dict(list(self.known.items())[-MAX_VERDICTS:])
            tmp.write_text(json.dumps(kept, separators=(",", ":")))
            tmp.replace(self.cache_file)
            self.dirty = False
        except OSError:
            pass  # a read-only checkout: verdicts are recomputed next time


def cache_name() -> str:
    """The verdict file's name for the installed cel-python (a new version recomputes all)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"cel-verdicts-f{FORMAT}-{version('cel-python')}.json"
    except PackageNotFoundError:
        return f"cel-verdicts-f{FORMAT}.json"
