"""The README and docs say only what the code does: every task they name exists, the
`invoke --list` block is the real one, and every task has a docstring."""

import functools
import json
import re
import subprocess
import sys

from tooling import repo

README = (repo.ROOT / "README.md").read_text()


@functools.cache
def _task_tree() -> dict:
    """`invoke --list --list-format=json`, run once for the module."""
    out = subprocess.run(
        [sys.executable, "-m", "invoke", "--list", "--list-format=json"],
        cwd=repo.ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out)


def _tasks() -> dict[str, str]:
    tree = _task_tree()
    tasks = {t["name"]: t["help"] for t in tree["tasks"]}
    for sub in tree.get("collections") or []:  # namespaced areas: `storage.check`
        tasks |= {f"{sub['name']}.{t['name']}": t["help"] for t in sub["tasks"]}
    return tasks


def _defaults() -> set[str]:
    """Collections with a default task: `invoke backfill` runs `backfill.run`."""
    return {sub["name"] for sub in _task_tree().get("collections") or [] if sub.get("default")}


def test_every_task_is_documented_by_its_docstring():
    tasks = _tasks()
    assert tasks, "invoke found no tasks"
    assert all(help_ for help_ in tasks.values()), [n for n, h in tasks.items() if not h]


def test_readme_list_block_matches_invoke_list():
    block = README.split("$ uv run invoke --list", 1)[1].split("```", 1)[0]
    listed = dict(re.findall(r"^  (\S+)(?: \(\S+\))?\s{2,}(.+)$", block, re.MULTILINE))
    assert listed == _tasks()


def test_every_invoke_command_in_docs_names_a_task():
    tasks = _tasks()
    texts = [README] + [p.read_text() for p in (repo.ROOT / "docs").rglob("*.md")]
    named = {m for t in texts for m in re.findall(r"invoke ([a-z][a-z-]*(?:\.[a-z][a-z-]*)?)", t)}
    assert named and named <= set(tasks) | _defaults(), named - set(tasks) - _defaults()
