"""The scripts the delivery workflows run (image.yaml: scripts/build-image.sh; deploy-smoke.yaml:
scripts/wait-flux.sh), against a fake `docker` / `kubectl` first on PATH: no Docker engine, no
registry and no API server exist here. Asserted: base images pinned by digest, the SHA tag, push
only when asked, the digest recorded; Flux's applied revision must contain the commit and be Ready."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from tooling import repo

pytestmark = pytest.mark.fake_cluster

BASE = "sha256:" + "b" * 64
PUSHED = "sha256:" + "c" * 64


def _script(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_docker(tmp_path):
    """`docker buildx imagetools inspect` answers a digest; `docker buildx build` records its
    arguments and writes the metadata file buildx writes (with the pushed digest)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir / "docker", f"""#!/bin/sh
if [ "$2" = imagetools ]; then printf 'Name:      %s\\nMediaType: application/vnd.oci.image.index.v1+json\\nDigest:    {BASE}\\n' "$4"; exit 0; fi
printf '%s\\n' "$@" > "{tmp_path}/build-args"
while [ $# -gt 0 ]; do [ "$1" = --metadata-file ] && printf '{{"containerimage.digest": "{PUSHED}"}}' > "$2"; shift; done
""")
    return tmp_path


def build(tmp_path, mode):
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "GITHUB_SHA": "0123456789abcdef", "GITHUB_OUTPUT": str(tmp_path / "out")}
    env.pop("GITHUB_STEP_SUMMARY", None)
    work = tmp_path / "repo"
    shutil.copytree(repo.ROOT / "runner", work / "runner")
    shutil.copytree(repo.ROOT / "scripts", work / "scripts")
    done = subprocess.run([str(work / "scripts" / "build-image.sh"), mode], env=env, cwd=work,
                          capture_output=True, text=True, check=False)
    return done, work


def test_push_builds_pinned_bases_tags_the_sha_and_records_the_digest(fake_docker):
    done, work = build(fake_docker, "--push")
    assert done.returncode == 0, done.stderr
    args = (fake_docker / "build-args").read_text().split("\n")
    assert "PYTHON_IMAGE=python:3.12.12-slim-bookworm@" + BASE in args
    assert any(a.startswith("UV_IMAGE=ghcr.io/astral-sh/uv:") and a.endswith("@" + BASE) for a in args)
    assert "ghcr.io/eopf-explorer/geozarr-runner:0123456789abcdef" in args and "--push" in args
    record = json.loads((work / "build-record.json").read_text())
    assert record["digest"] == PUSHED and record["pushed"] is True
    assert (fake_docker / "out").read_text() == f"digest={PUSHED}\n"


def test_pull_requests_build_without_pushing(fake_docker):
    done, work = build(fake_docker, "--no-push")
    assert done.returncode == 0, done.stderr
    assert "--push" not in (fake_docker / "build-args").read_text().split("\n")
    assert json.loads((work / "build-record.json").read_text())["pushed"] is False
    assert not (fake_docker / "out").exists()


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A tiny git repository with two commits (GIT_DIR for the script's `git merge-base`)."""
    root = tmp_path_factory.mktemp("history")

    def git(*args):
        return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@e",
                               *args], capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "one")
    git("commit", "-q", "--allow-empty", "-m", "two")
    return root, {"HEAD": git("rev-parse", "HEAD"), "HEAD~1": git("rev-parse", "HEAD~1")}


@pytest.mark.parametrize(("applied", "ready", "wait_for", "code"), [
    ("HEAD", "True", "HEAD~1", 0),   # a later commit containing ours, Ready
    ("HEAD", "False", "HEAD", 1),    # applied, not Ready
    ("HEAD~1", "True", "HEAD", 1),   # not applied yet
])
def test_wait_flux(tmp_path, history, applied, ready, wait_for, code):
    root, sha = history
    real = shutil.which("kubectl")
    _script(tmp_path / "kubectl", f"""#!/bin/sh
case "$*" in
  *lastAppliedRevision*) printf 'main@sha1:{sha[applied]}' ;;
  *Ready*) printf '{ready}' ;;
  *) exec "{real}" "$@" ;;
esac
""")
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "GIT_DIR": str(root / ".git")}
    done = subprocess.run([str(repo.ROOT / "scripts" / "wait-flux.sh"), "staging", "geozarr",
                           sha[wait_for], "0"], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == code, done.stderr
    if code == 0:
        assert (f"applied main@sha1:{sha[applied]} (contains {sha[wait_for]}) and Ready on "
                "ovh-geozarr-staging") in done.stderr
