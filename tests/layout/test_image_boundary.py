"""The image carries `runner/` and `conformance/` only: they never import the repo tooling, and
every third-party module they import comes from the project's own dependencies (what
`uv sync --no-default-groups` puts in the image), never from the `tooling` or `dev` groups."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGE_PACKAGES = ("runner", "conformance")


def _imported_top_levels(package: str) -> dict[str, str]:
    """top-level module -> first file importing it, over every module of PACKAGE."""
    found: dict[str, str] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def _requirement_name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower().replace("_", "-")


def _closure(roots: list[str]) -> set[str]:
    """Distribution names reachable from ROOTS through their (non-extra) requirements."""
    seen: set[str] = set()
    todo = [_requirement_name(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_requirement_name(r) for r in requires if "extra ==" not in r]
    return seen


def test_image_packages_never_import_the_tooling() -> None:
    for package in IMAGE_PACKAGES:
        assert "tooling" not in _imported_top_levels(package), _imported_top_levels(package)["tooling"]


def test_image_packages_import_only_the_projects_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    allowed = _closure(project["dependencies"])
    by_module = metadata.packages_distributions()
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    outside: list[str] = []
    for package in IMAGE_PACKAGES:
        for module, where in _imported_top_levels(package).items():
            if module in stdlib or module in IMAGE_PACKAGES:
                continue
            dists = {d.lower().replace("_", "-") for d in by_module.get(module, [])}
            if not dists & allowed:
                outside.append(f"{where}: {module} ({', '.join(sorted(dists)) or 'not installed'})")
    assert not outside, "imported by the image but not a project dependency:\n" + "\n".join(outside)


def test_image_packages_import_with_the_tooling_absent() -> None:
    """Import every module of the image's packages with `tooling` made unimportable."""
    modules = [".".join(p.relative_to(REPO).with_suffix("").parts) for pkg in IMAGE_PACKAGES
               for p in (REPO / pkg).rglob("*.py") if p.name != "__main__.py"]
    code = ("import importlib, sys\nsys.modules['tooling'] = None\n"
            f"for m in {modules!r}:\n    importlib.import_module(m)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          check=False,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
