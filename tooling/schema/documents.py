"""Multi-document YAML loading that reports what kustomize and PyYAML hide.

`load_documents` returns the documents of one YAML text plus findings for
YAML syntax errors (`yaml.syntax`) and duplicate mapping keys
(`yaml.duplicate-key`, which PyYAML and kustomize silently resolve as
"last one wins"), each with the key's field path and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding, Rule, Severity

SYNTAX = Rule("yaml.syntax", Severity.ERROR, "the file parses as YAML")
DUPLICATE_KEY = Rule("yaml.duplicate-key", Severity.ERROR, "no mapping repeats a key")
NOT_A_MAPPING = Rule("yaml.not-a-mapping", Severity.ERROR, "every document is a mapping (an object)")
LIMITS = Rule("yaml.limits", Severity.ERROR,
              "a file is at most 64 MiB, a document at most 1,000,000 nodes with aliases expanded "
              "and 200 levels deep (an alias bomb or a runaway nesting is refused, not expanded)")
MAX_TEXT_CHARS = 64 * 1024 * 1024
MAX_EXPANDED_NODES = 1_000_000
MAX_DEPTH = 200


class _OverLimit(Exception):
    pass


_LONG_INDENT = re.compile(rf"^[ \t-]{{{MAX_DEPTH // 2},}}", re.MULTILINE)


def _too_deep(text: str) -> str:
    """Where TEXT nests deeper than MAX_DEPTH ('' when it does not), found before composing:
    libyaml's composer recurses in C and a few thousand levels crash the process (SIGSEGV).
    Depth needs flow brackets or indentation, so most texts are cleared by a count and a regex;
    the others by one pass over the parser's events (iterative)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH // 2 and not _LONG_INDENT.search(text):
        return ""
    depth = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                return f"line {event.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep"
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return ""


def _expanded_size(node: yaml.Node, depth: int, memo: dict[int, int]) -> int:
    """Nodes of NODE's tree with every alias expanded (shared nodes counted once per use);
    _OverLimit past MAX_EXPANDED_NODES or MAX_DEPTH. Memoised: linear in the node graph."""
    if depth > MAX_DEPTH:
        raise _OverLimit(f"nested more than {MAX_DEPTH} levels deep")
    if id(node) in memo:
        return memo[id(node)]
    size = 1
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = node.value if isinstance(node, yaml.SequenceNode) else []
    for child in children:
        size += _expanded_size(child, depth + 1, memo)
        if size > MAX_EXPANDED_NODES:
            raise _OverLimit(f"more than {MAX_EXPANDED_NODES} nodes with aliases expanded")
    memo[id(node)] = size
    return size

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader where a plain `=` scalar is a string (PyYAML resolves it to the
    YAML 1.1 `value` tag, which it then cannot construct)."""


def _construct_value(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(node.value)


_Loader.add_constructor("tag:yaml.org,2002:value", _construct_value)


@dataclass
class Document:
    """One YAML document of a file: the object, where it came from."""

    obj: dict[str, Any]
    file: str
    index: int  # position in the file, from 0 (empty documents count)
    line: int | None = None  # 1-based line where the document starts

    @property
    def kind(self) -> str:
        kind = self.obj.get("kind")
        return kind if isinstance(kind, str) else ""

    @property
    def api_version(self) -> str:
        api = self.obj.get("apiVersion")
        return api if isinstance(api, str) else ""

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata")
        if not isinstance(meta, dict):
            return ""
        name = meta.get("name") or meta.get("generateName") or ""
        return name if isinstance(name, str) else str(name)

    @property
    def namespace(self) -> str:
        meta = self.obj.get("metadata")
        ns = meta.get("namespace", "") if isinstance(meta, dict) else ""
        return ns if isinstance(ns, str) else ""

    @property
    def group(self) -> str:
        """The API group (`argoproj.io`), empty for the core group."""
        return self.api_version.rpartition("/")[0]

    def where(self) -> dict[str, str]:
        """The location fields of a Finding about this document."""
        return {"file": self.file, "kind": self.kind, "name": self.name}


def _key_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.id}>"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _duplicate_keys(node: yaml.Node, path: str, seen: set[int]) -> Iterator[tuple[str, int]]:
    """(field path, 1-based line) of every repeated key under `node`."""
    if id(node) in seen:  # aliases can make the graph revisit nodes
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key in keys:
                yield _join(path, key), key_node.start_mark.line + 1
            keys.add(key)
            yield from _duplicate_keys(value_node, _join(path, key), seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, f"{path}[{i}]", seen)


def _refused_before_parsing(text: str, file: str) -> list[Finding]:
    """yaml.limits findings for a text too large or too deeply nested to parse at all."""
    if len(text) > MAX_TEXT_CHARS:
        return [LIMITS.finding(f"{len(text)} characters: larger than {MAX_TEXT_CHARS}", file=file)]
    try:
        deep = _too_deep(text)
    except yaml.YAMLError:
        deep = ""  # reported with its line by the loader
    return [LIMITS.finding(deep, file=file)] if deep else []


def load_documents(text: str, file: str) -> tuple[list[Document], list[Finding]]:
    """The mapping documents of `text` (empty ones dropped, `index` keeps their
    position) and the YAML findings. A syntax error stops at the broken document:
    the documents before it are returned."""
    docs: list[Document] = []
    problems: list[tuple[int, Finding]] = []  # (document index, finding)
    refused = _refused_before_parsing(text, file)
    if refused:
        return [], refused
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                index += 1
                continue
            line = node.start_mark.line + 1
            try:
                _expanded_size(node, 0, {})
            except _OverLimit as e:
                problems.append((index, LIMITS.finding(f"line {line}: document {index}: {e}",
                                                       file=file)))
                index += 1
                continue
            for path, key_line in _duplicate_keys(node, "", set()):
                key = path.rsplit(".", 1)[-1]
                message = (
                    f"line {key_line}: key {key!r} appears twice in the same mapping; "
                    "YAML loaders and kustomize silently keep the last value"
                )
                problems.append((index, DUPLICATE_KEY.finding(message, path=path, file=file)))
            obj = loader.construct_document(node)
            if isinstance(obj, dict):
                docs.append(Document(obj=obj, file=file, index=index, line=line))
            elif obj is not None:
                message = f"line {line}: document {index} is a {type(obj).__name__}, not a mapping"
                problems.append((index, NOT_A_MAPPING.finding(message, file=file)))
            index += 1
    except RecursionError:
        problems.append((index, LIMITS.finding(f"document {index}: nested too deep to parse",
                                               file=file)))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        problems.append((index, SYNTAX.finding(f"{where}{problem} (document {index})", file=file)))
    finally:
        loader.dispose()
    by_index = {d.index: d for d in docs}
    findings = []
    for i, f in problems:
        doc = by_index.get(i)
        findings.append(f.with_location(kind=doc.kind, name=doc.name) if doc else f)
    return docs, findings


def read_documents(path: Path | str, file: str | None = None) -> tuple[list[Document], list[Finding]]:
    """`load_documents` of a file; unreadable files become a `yaml.syntax` finding."""
    shown = file if file is not None else str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [], [SYNTAX.finding(f"cannot read: {e}", file=shown)]
    return load_documents(text, shown)


def check_yaml_file(path: Path | str) -> list[Finding]:
    """YAML sanity of one file (syntax, duplicate keys, non-mapping documents)."""
    from tooling import repo

    return read_documents(path, repo.relpath(path))[1]
