"""A content-addressed cache of the external tools `invoke validate` runs (`kubectl kustomize`,
`promtool check rules`, `promtool test rules`), so that a warm run starts no process at all.

A result is stored under the SHA-256 of everything that can change it: the tool (its resolved
path, size and modification time, and its version string), the argument list, and the bytes of
every input file, named relative to the working directory. For a kustomize render the input files
are every file under the kustomization's directory and under every local directory it references
(`resources`, `bases`, `components`, `generators`, `transformers`, `validators`), transitively:
kustomize's default load restrictor forbids reading files outside those roots. A render whose
references cannot all be resolved locally (a remote base) or whose kustomization does not parse is
never cached. Change one byte of any input, or the tool, and the key changes: a stale verdict
cannot be served. Only results that are verdicts are stored (exit codes the caller names: 0 for
kustomize; 0 and 1 for promtool), never a crash or a signal.

The same store keeps loaded YAML (`memo`): the documents and YAML findings of a rendered set or
of the repo's source files, keyed by the text's bytes and by the source code of the modules that
load it (`code_digest`), so a change to the loader is a miss like a change to the text.

Entries are written atomically (temporary file, then rename); an unreadable entry is a miss.
`invoke validate --no-cache` bypasses the cache; deleting `build/cache/tools/` is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from tooling import yamlio

T = TypeVar("T")
FORMAT = "toolcache-1"  # bump when the key or the entry layout changes
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# kustomization fields whose entries may name another kustomization directory (outside the root)
REFERENCE_FIELDS = ("resources", "bases", "components", "generators", "transformers", "validators")
VERSION_ARGS = {"kubectl": ("version", "--client"), "promtool": ("--version",)}


@dataclass(frozen=True)
class ToolResult:
    returncode: int
    stdout: str
    stderr: str


class ToolCache:
    """Tool results on disk in DIRECTORY, one JSON file per key."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _entry(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> ToolResult | None:
        try:
            data = json.loads(self._entry(key).read_text())
            return ToolResult(int(data["returncode"]), str(data["stdout"]), str(data["stderr"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, result: ToolResult) -> None:
        self.write_text(self._entry(key).name, json.dumps(result.__dict__))

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """COMPUTE()'s value, remembered under KEY (a digest of everything it depends on)."""
        entry = self.directory / f"{key}.pickle"
        cached = _unpickled(entry)
        if cached is not _MISS:
            return cached  # type: ignore[no-any-return]
        value = compute()
        try:
            self.write_bytes(entry.name, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except (pickle.PicklingError, TypeError, AttributeError):
            pass
        return value

    def read_text(self, name: str) -> str | None:
        try:
            return (self.directory / name).read_text()
        except OSError:
            return None

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode())

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write NAME atomically (a reader sees the whole entry or none); a failure is a no-op."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.directory / name)
        except OSError:
            pass


_MISS = object()


def _unpickled(entry: Path) -> object:
    """ENTRY's value (our own entry, written by `ToolCache.memo`), or _MISS."""
    try:
        return pickle.loads(entry.read_bytes())
    except Exception:  # noqa: BLE001 - missing, partial, from another version: a miss
        return _MISS


def code_digest(*modules: ModuleType) -> str:
    """A digest of MODULES' source files and of the Python and PyYAML versions: part of the key of
    whatever those modules compute, so that a changed loader never serves an old result."""
    import yaml

    digest = hashlib.sha256(f"{sys.version}\0{yaml.__version__}\0{FORMAT}\0".encode())
    for module in modules:
        digest.update(Path(str(module.__file__)).read_bytes() + b"\0")
    return digest.hexdigest()


def digest(*parts: str | bytes) -> str:
    """The SHA-256 of PARTS, each one delimited."""
    out = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.update(str(len(data)).encode() + b":" + data)
    return out.hexdigest()


def tool_identity(exe: str, cache: ToolCache | None) -> str:
    """EXE's resolved path, size and mtime, and its version string (asked once per binary and
    remembered in CACHE: the version is part of every key, the binary's identity says when to ask
    again)."""
    path = Path(exe).resolve()
    stat = path.stat()
    identity = f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
    args = VERSION_ARGS.get(path.name.split(".")[0])
    if args is None or cache is None:
        return identity
    name = f"version-{hashlib.sha256(identity.encode()).hexdigest()[:32]}.txt"
    version = cache.read_text(name)
    if version is None:
        done = subprocess.run([exe, *args], capture_output=True, text=True, check=False)
        version = f"{done.returncode}:{done.stdout.strip()}:{done.stderr.strip()}"
        cache.write_text(name, version)
    return f"{identity}:{version}"


def cache_key(exe: str, argv: list[str], inputs: Iterable[Path], cwd: Path | None,
              cache: ToolCache | None) -> str:
    digest = hashlib.sha256(f"{FORMAT}\0{tool_identity(exe, cache)}\0".encode())
    digest.update("\0".join(argv[1:]).encode() + b"\0\0")
    for path in sorted(set(inputs)):
        name = str(path.relative_to(cwd)) if cwd is not None else str(path)
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def run(argv: list[str], *, inputs: Iterable[Path] | None, cache: ToolCache | None,
        verdicts: Collection[int] = (0,), cwd: Path | None = None) -> ToolResult:
    """ARGV's result: from CACHE when every input (INPUTS: the files the tool reads; None: not
    known, so never cached) is byte-for-byte as when it ran, else by running it (and remembering
    it when its exit code is one of VERDICTS). FileNotFoundError when the tool is missing."""
    exe = shutil.which(argv[0])
    if exe is None:
        raise FileNotFoundError(argv[0])
    key = cache_key(exe, argv, inputs, cwd, cache) if cache is not None and inputs is not None else None
    if key is not None and (hit := cache.get(key)) is not None:  # type: ignore[union-attr]
        return hit
    done = subprocess.run([exe, *argv[1:]], cwd=cwd, capture_output=True, text=True, check=False)
    result = ToolResult(done.returncode, done.stdout, done.stderr)
    if key is not None and result.returncode in verdicts:
        cache.put(key, result)  # type: ignore[union-attr]
    return result


def _referenced_paths(kustomization: Path) -> list[Path] | None:
    """The local paths KUSTOMIZATION's reference fields name; None when one is not local (a remote
    base, a missing directory) or the file does not parse: its inputs cannot be known."""
    try:
        data = yamlio.load(kustomization.read_bytes())
    except Exception:  # noqa: BLE001 (any parse failure: kustomize will say it; we do not cache)
        return None
    if not isinstance(data, dict):
        return None
    if data.get("helmCharts") or data.get("helmGlobals"):
        return None  # charts may come from a repository
    out: list[Path] = []
    for field in REFERENCE_FIELDS:
        for entry in data.get(field) or []:
            if not isinstance(entry, str):
                continue  # an inline generator/transformer config: its bytes are in this file
            target = (kustomization.parent / entry).resolve()
            if not target.exists():
                return None
            out.append(target)
    return out + _named_files(data, kustomization.parent)


def _named_files(value: object, base: Path) -> list[Path]:
    """Every file a string anywhere in VALUE names relative to BASE (a patch, a configurations
    file, a generator's file): kustomize keeps them under the root, this is belt and braces."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in _named_files(v, base)]
    if isinstance(value, list):
        return [p for v in value for p in _named_files(v, base)]
    if not isinstance(value, str) or not value or "\n" in value or Path(value).is_absolute():
        return []
    try:
        target = (base / value.split("=", 1)[-1]).resolve()  # `key=path` in generators' files
        return [target] if target.is_file() else []
    except (OSError, ValueError):
        return []


def kustomize_inputs(directory: Path) -> list[Path] | None:
    """Every file `kubectl kustomize DIRECTORY` may read (see the module doc), or None when that
    cannot be known."""
    todo, seen, files = [Path(directory).resolve()], set(), set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current.is_file():
            files.add(current)
            continue
        for path in current.rglob("*"):
            if not path.is_file():
                continue
            files.add(path)
            if path.name in KUSTOMIZATION_FILES:
                referenced = _referenced_paths(path)
                if referenced is None:
                    return None
                todo += referenced
    return sorted(files)
