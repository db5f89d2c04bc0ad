"""One pod of the DAG as a local process: the container template, substituted, with its
volumes as directories of the run, its env resolved from the rendered objects, its command run
with a deadline, and its output parameters read from the declared paths.

The image is not run: the command is looked up on a PATH whose first entry is this venv's bin,
so `geozarr-runner` and `geozarr-conformance` are the repo's own console scripts.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooling.dag import orphans
from tooling.dag.launcher import Launcher, StepProcess
from tooling.dag.model import OutputParameter, Template, VolumeSource, WorkflowSpec
from tooling.dag.objectstore import LocalOutput, StorageMapError
from tooling.dag.substitution import SubstitutionError, expand_env_refs, substitute
from tooling.errors import ToolingError
from tooling.manifests.rendered import Rendered


class PodError(ToolingError):
    """The pod cannot be started as written (Argo would give the node phase Error)."""


@dataclass
class Objects:
    """The rendered objects a pod references, plus the secret values supplied locally
    (SealedSecrets cannot be decrypted on this machine)."""

    rendered: Rendered
    local_secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def config_map(self, name: str) -> dict[str, str]:
        doc = self.rendered.find("ConfigMap", name)
        if doc is None:
            raise PodError(f"ConfigMap {name!r} is not in the rendered set")
        data = {k: str(v) for k, v in (doc.get("data") or {}).items()}
        for k, v in (doc.get("binaryData") or {}).items():
            data[k] = base64.b64decode(v).decode()
        return data

    def secret_value(self, name: str, key: str) -> str:
        doc = self.rendered.find("Secret", name)
        if doc is not None:
            if key in (doc.get("stringData") or {}):
                return str(doc["stringData"][key])
            if key in (doc.get("data") or {}):
                return base64.b64decode(doc["data"][key]).decode()
            raise PodError(f"Secret {name!r} has no key {key!r}")
        sealed = self.rendered.find("SealedSecret", name)
        if sealed is None:
            raise PodError(f"no Secret or SealedSecret {name!r} in the rendered set")
        keys = (sealed.get("spec") or {}).get("encryptedData") or {}
        if key not in keys:
            raise PodError(f"SealedSecret {name!r} has no key {key!r}")
        supplied = self.local_secrets.get(name, {})
        if key not in supplied:
            raise PodError(f"SealedSecret {name!r} cannot be decrypted here and no local value "
                           f"is supplied for {key!r}")
        return supplied[key]

    def has_claim(self, name: str) -> bool:
        return self.rendered.find("PersistentVolumeClaim", name) is not None


@dataclass
class Attempt:
    number: int
    phase: str = "Pending"
    exit_code: int | None = None
    message: str = ""
    seconds: float = 0.0
    stdout: Path | None = None
    stderr: Path | None = None
    outputs: dict[str, str] = field(default_factory=dict)

    def stderr_tail(self, lines: int = 15) -> str:
        if self.stderr is None or not self.stderr.exists():
            return ""
        text = self.stderr.read_text(errors="replace").rstrip().splitlines()
        return "\n".join(text[-lines:])


@dataclass(frozen=True)
class PodPlan:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    outputs: list[tuple[OutputParameter, Path]]


def venv_bin() -> Path:
    return Path(sys.executable).parent


def base_env(home: Path) -> dict[str, str]:
    """What a container starts with before its `env`: a PATH to the venv's console scripts."""
    return {
        "PATH": os.pathsep.join([str(venv_bin()), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }


class MountMap:
    """Container paths under a volume mount -> the directory standing in for that volume."""

    def __init__(self) -> None:
        self._mounts: list[tuple[str, Path]] = []

    def add(self, mount_path: str, local: Path) -> None:
        self._mounts.append((mount_path.rstrip("/") or "/", local))
        self._mounts.sort(key=lambda m: -len(m[0]))

    def rewrite(self, text: str) -> str:
        """Rewrite every absolute path that starts at a mount: not a path inside a URI, nor one
        right after a `{{…}}` placeholder (that is relative to the placeholder's value). One pass,
        longest mount first, so a replacement is never rewritten again."""
        if not self._mounts:
            return text
        alternatives = "|".join(re.escape(m) for m, _ in self._mounts)
        pattern = r"(?<![\w./}-])(" + alternatives + r")(?=/|$|[\s:=,;\"'])"
        locals_ = dict(self._mounts)
        return re.sub(pattern, lambda m: str(locals_[m.group(1)]), text)

    def local_path(self, path: str) -> Path | None:
        for mount, local in self._mounts:
            if path == mount or path.startswith(mount + "/"):
                return local / path[len(mount):].lstrip("/")
        return None


def claim_dir(run_dir: Path, name: str) -> Path:
    """The directory standing in for the run's claim NAME (a volumeClaimTemplates entry)."""
    return run_dir / "volumes" / f"claim-{name}"


def _materialise_config_map(objects: Objects, vol: VolumeSource, run_dir: Path) -> Path:
    data = objects.config_map(vol.ref)
    suffix = "" if not vol.items else "-" + "-".join(p for _, p in vol.items).replace("/", "_")
    target = run_dir / "configmaps" / (vol.ref + suffix)
    if target.exists():
        return target
    tmp = target.with_name(target.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    files = [(k, p) for k, p in vol.items] if vol.items else [(k, k) for k in data]
    for key, rel in files:
        if key not in data:
            raise PodError(f"ConfigMap {vol.ref!r} has no key {key!r}")
        dest = tmp / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(data[key])
        dest.chmod(0o444)
    try:
        tmp.rename(target)
    except OSError:  # another pod materialised it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@dataclass(frozen=True)
class _Where:
    """Which template and container kind a pod's problem is named by, and the `--output` map."""

    template: str
    kind: str
    output: LocalOutput | None

    def __str__(self) -> str:
        return f"template {self.template}"

    def local_text(self, text: str, field_name: str) -> str:
        """TEXT with the output bucket's s3:// URIs mapped to the local directory (`--output`)."""
        if self.output is not None:
            text = self.output.rewrite(text)
            try:
                self.output.check(text, f"{self}: {field_name}")
            except StorageMapError as e:
                raise PodError(str(e)) from e
        return text


def plan_pod(
    template: Template,
    scope: Mapping[str, str],
    spec: WorkflowSpec,
    objects: Objects,
    run_dir: Path,
    pod_dir: Path,
    output: LocalOutput | None,
) -> PodPlan:
    """Everything needed to start the pod, or PodError naming the template and field.

    Order matters: container paths are mapped to the run's directories in the template's own
    text first (`/tmp/outputs` -> `<pod>/volumes/tmp/outputs`), then `{{…}}` is substituted (so
    a parameter's value, e.g. a host path from a previous step, is never rewritten), then
    `--output` maps the output bucket's s3:// URIs to the local directory.
    """
    where = _Where(template.name, template.kind, output)
    raw: dict[str, Any] = dict(template.body[where.kind])
    mounts = _mount_volumes(raw, {**spec.volumes, **template.volumes}, objects, run_dir, pod_dir, where)
    container = _substitute_container(raw, mounts, scope, where)
    home = pod_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = base_env(home)
    defined = _container_env(container, objects, where)
    env.update(defined)
    argv = _argv(container, defined, env, pod_dir, where)
    cwd = _working_dir(container, mounts, pod_dir, where)
    return PodPlan(argv, env, cwd, _output_paths(template, scope, mounts, where))


def _volume_dir(vol: VolumeSource, objects: Objects, run_dir: Path, pod_dir: Path, where: _Where) -> Path:
    """The local directory standing in for volume VOL."""
    if vol.kind == "emptyDir":
        local = pod_dir / "volumes" / vol.name
    elif vol.kind == "configMap":
        try:
            return _materialise_config_map(objects, vol, run_dir)
        except PodError as e:
            raise PodError(f"{where}: volume {vol.name!r}: {e}") from e
    elif vol.kind == "volumeClaimTemplate":
        local = claim_dir(run_dir, vol.name)  # one claim per workflow, shared by its pods
    else:
        if not objects.has_claim(vol.ref):
            raise PodError(f"{where}: volume {vol.name!r}: PersistentVolumeClaim {vol.ref!r} "
                           "is not in the rendered set")
        local = run_dir / "volumes" / f"pvc-{vol.ref}"
    local.mkdir(parents=True, exist_ok=True)
    return local


def _mount_volumes(raw: Mapping[str, Any], volumes: Mapping[str, VolumeSource], objects: Objects,
                   run_dir: Path, pod_dir: Path, where: _Where) -> MountMap:
    mounts = MountMap()
    for i, m in enumerate(raw.get("volumeMounts") or []):
        vol = volumes.get(m["name"])
        if vol is None:
            raise PodError(f"{where}: {where.kind}.volumeMounts[{i}]: no volume named {m['name']!r}")
        mounts.add(str(m["mountPath"]), _volume_dir(vol, objects, run_dir, pod_dir, where))
    return mounts


def _substitute_container(raw: Mapping[str, Any], mounts: MountMap, scope: Mapping[str, str],
                          where: _Where) -> dict[str, Any]:
    """The container with its paths mapped to the run's directories, then `{{…}}` substituted."""
    mapped: dict[str, Any] = dict(raw)
    for key in ("command", "args"):
        mapped[key] = [mounts.rewrite(str(a)) for a in raw.get(key) or []]
    mapped["env"] = [dict(e, value=mounts.rewrite(str(e["value"]))) if "value" in e else e
                     for e in raw.get("env") or []]
    try:
        return substitute(mapped, scope, where.kind)
    except SubstitutionError as e:
        raise PodError(f"{where}: {e}") from e


def _value_from(src: Mapping[str, Any], objects: Objects) -> str:
    """An env entry's `valueFrom` (a Secret's or a ConfigMap's key)."""
    ref = src.get("secretKeyRef") or src.get("configMapKeyRef")
    if "secretKeyRef" in src:
        return objects.secret_value(str(ref["name"]), str(ref["key"]))
    data = objects.config_map(str(ref["name"]))
    if str(ref["key"]) not in data:
        raise PodError(f"ConfigMap {ref['name']!r} has no key {ref['key']!r}")
    return data[str(ref["key"])]


def _container_env(container: Mapping[str, Any], objects: Objects, where: _Where) -> dict[str, str]:
    """The container's env entries, in order (`$(NAME)` sees the ones before it)."""
    defined: dict[str, str] = {}
    for i, e in enumerate(container.get("env") or []):
        name = str(e["name"])
        if "valueFrom" in e:
            src = e["valueFrom"]
            try:
                value = _value_from(src, objects)
            except PodError as err:
                if (src.get("secretKeyRef") or src.get("configMapKeyRef")).get("optional"):
                    continue
                raise PodError(f"{where}: {where.kind}.env[{i}] ({name}): {err}") from err
        else:
            value = expand_env_refs(str(e.get("value", "")), defined)
            value = where.local_text(value, f"{where.kind}.env[{i}] ({name})")
        defined[name] = value
    return defined


def _argv(container: Mapping[str, Any], defined: Mapping[str, str], env: Mapping[str, str],
          pod_dir: Path, where: _Where) -> list[str]:
    """command + args (+ the script's file), the executable resolved on the local PATH."""
    kind = where.kind
    argv = [where.local_text(expand_env_refs(str(a), defined), f"{kind}.command[{i}]")
            for i, a in enumerate(container.get("command") or [])]
    argv += [where.local_text(expand_env_refs(str(a), defined), f"{kind}.args[{i}]")
             for i, a in enumerate(container.get("args") or [])]
    if kind == "script":
        script = pod_dir / "script"
        script.write_text(str(container.get("source", "")))
        argv.append(str(script))
    exe = shutil.which(argv[0], path=env["PATH"]) if not os.path.isabs(argv[0]) else argv[0]
    if not exe or not os.path.exists(exe):
        raise PodError(f"{where}: {kind}.command[0]: {argv[0]!r} not found on the local PATH "
                       f"({venv_bin()} first)")
    argv[0] = exe
    return argv


def _working_dir(container: Mapping[str, Any], mounts: MountMap, pod_dir: Path, where: _Where) -> Path:
    if not container.get("workingDir"):
        return pod_dir
    local = mounts.local_path(str(container["workingDir"]))
    if local is None:
        raise PodError(f"{where}: {where.kind}.workingDir {container['workingDir']!r} is not on a mounted volume")
    local.mkdir(parents=True, exist_ok=True)
    return local


def _output_paths(template: Template, scope: Mapping[str, str], mounts: MountMap,
                  where: _Where) -> list[tuple[OutputParameter, Path]]:
    """Where each output parameter's file is, on this machine."""
    outputs: list[tuple[OutputParameter, Path]] = []
    for o in template.outputs:
        try:
            path = substitute(o.path, scope, f"outputs.parameters.{o.name}.valueFrom.path")
        except SubstitutionError as e:
            raise PodError(f"{where}: {e}") from e
        local = mounts.local_path(path)
        if local is None:
            raise PodError(f"{where}: outputs.parameters {o.name}: {path} is not on a mounted volume "
                           "(a local run cannot read the container's root filesystem)")
        outputs.append((o, local))
    return outputs


_PLAIN = Launcher(entries={}, use_server=False)  # plain processes only


class ProcessRegistry:
    """The live processes of a run, so that a deadline or Ctrl-C can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[StepProcess] = set()
        self.stopping = threading.Event()
        self.stop_reason = ""

    def add(self, p: StepProcess) -> None:
        with self._lock:
            self._procs.add(p)

    def discard(self, p: StepProcess) -> None:
        with self._lock:
            self._procs.discard(p)

    def stop_all(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason
        self.stopping.set()
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            terminate(p)


def terminate(p: StepProcess, grace: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL after GRACE seconds (what the kubelet does)."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_pod(plan: PodPlan, attempt: Attempt, pod_dir: Path, deadline: float | None,
            registry: ProcessRegistry, clock: Callable[[], float] = time.monotonic,
            launcher: Launcher | None = None) -> None:
    """Run the planned process (LAUNCHER: through its fork server when the command is one of
    our console scripts); fill ATTEMPT's phase, exit code, message and outputs."""
    attempt.stdout = pod_dir / "stdout.log"
    attempt.stderr = pod_dir / "stderr.log"
    start = clock()
    with attempt.stdout.open("wb") as out, attempt.stderr.open("wb") as err:
        try:
            proc = (launcher or _PLAIN).launch(plan.argv, plan.env, plan.cwd, out, err,
                                              registry.stopping)
        except OSError as e:
            attempt.phase, attempt.message = "Error", f"cannot start {plan.argv[0]}: {e}"
            return
        registry.add(proc)
        orphans.mark_step(pod_dir, proc.pid)  # its own group: a killed executor's next run stops it
        if registry.stopping.is_set():  # stop_all ran between the caller's check and add()
            terminate(proc)
        try:
            code = proc.wait(timeout=deadline)
            timed_out = False
        except subprocess.TimeoutExpired:
            terminate(proc)
            code, timed_out = proc.wait(), True
        finally:
            registry.discard(proc)
            orphans.forget_step(pod_dir)
    attempt.seconds = clock() - start
    if timed_out:
        attempt.phase = "Failed"
        attempt.message = f"activeDeadlineSeconds exceeded ({deadline:g}s): process stopped"
        return
    if registry.stopping.is_set() and code != 0:
        attempt.phase, attempt.exit_code = "Failed", code
        attempt.message = f"stopped: {registry.stop_reason}"
        return
    attempt.exit_code = code
    if code != 0:
        attempt.phase = "Failed"
        attempt.message = f"exit code {code}"
        return
    for o, path in plan.outputs:
        if path.is_file():
            attempt.outputs[o.name] = path.read_text().removesuffix("\n")
        elif o.default is not None:
            attempt.outputs[o.name] = o.default
        else:
            attempt.phase = "Error"
            attempt.message = (f"output parameter {o.name!r}: {o.path} was not written "
                               f"(valueFrom.path)")
            return
    attempt.phase = "Succeeded"
