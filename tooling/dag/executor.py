"""Runs a WorkflowTemplate's DAG on this machine, the way Argo would schedule it.

- Tasks start when every task their `depends`/`dependencies` names has finished and the
  expression holds; otherwise they are Omitted. Independent tasks run in parallel, at most
  `parallelism` at once (also capped by `spec.parallelism`).
- `failFast`: read, and like Argo 3's controller it does not stop tasks whose dependencies are
  complete from starting (Argo's dag.go only uses it when assessing the DAG's phase; tasks
  behind a failure are Omitted by their `depends` either way), so both values run the same.
- `retryStrategy`: limit, retryPolicy, expression (lastRetry.*), backoff; template
  `activeDeadlineSeconds` per attempt, the spec's for the whole run.
- `volumeClaimTemplates`: one directory per claim under the run directory, shared by the pods
  that mount it; `volumeClaimGC` deletes them when the workflow ends (OnWorkflowCompletion) or
  only when it succeeded (OnWorkflowSuccess, Argo's default: a failed run keeps them to look at).
- `withParam`: the task runs once per item of the JSON list it names (`{{item}}`,
  `{{item.KEY}}` in its arguments), as children `<task>(<index>)`, at most `parallelism` at
  once, each with its own retries; it Succeeds when every child does, else takes the first
  failed child's phase; `tasks.<task>.outputs.parameters.<name>` is the JSON list of the
  children's values (Argo's aggregated outputs); an empty list Skips it.
- The run fails when a task failed and no dependent ran because of it (Argo's rule: a failure
  is "handled" only by a `depends` that continues on it).
"""

from __future__ import annotations

import json
import random
import shutil
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from tooling.dag.expressions import results_for_phase
from tooling.dag.launcher import Launcher
from tooling.dag.model import Task, WorkflowSpec
from tooling.dag.objectstore import LocalOutput
from tooling.dag.pods import (
    Attempt,
    Objects,
    PodError,
    ProcessRegistry,
    claim_dir,
    plan_pod,
    run_pod,
)
from tooling.dag.substitution import SubstitutionError, substitute

TERMINAL = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")


def _item_scope(item: object) -> dict[str, str]:
    """`{{item}}` and, for an object, `{{item.KEY}}`: strings as they are, the rest as JSON."""
    def text(v: object) -> str:
        return v if isinstance(v, str) else json.dumps(v)

    scope = {"item": text(item)}
    if isinstance(item, dict):
        scope.update({f"item.{k}": text(v) for k, v in item.items()})
    return scope


def new_run_id(template_name: str) -> str:
    """A workflow name the way Argo's generateName makes one: `<name>-<5 chars>`."""
    alphabet = string.ascii_lowercase + string.digits
    return f"{template_name}-" + "".join(random.choice(alphabet) for _ in range(5))


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TaskRun:
    name: str
    template: str
    phase: str = "Pending"
    message: str = ""
    started: float | None = None  # wall clock (time.time)
    finished: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return round((self.finished or time.time()) - self.started, 3)

    @property
    def exit_code(self) -> int | None:
        return self.attempts[-1].exit_code if self.attempts else None

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "phase": self.phase, "seconds": self.seconds,
                                "exit_code": self.exit_code, "attempts": len(self.attempts)}
        if self.message:
            d["message"] = self.message
        return d


@dataclass
class RunResult:
    run_id: str
    phase: str  # Succeeded | Failed | Error
    message: str
    tasks: list[TaskRun]  # in the order they ended
    seconds: float
    claims_deleted: tuple[str, ...] = ()  # volumeClaimGC: the claims removed at the end

    def task(self, name: str) -> TaskRun:
        return next(t for t in self.tasks if t.name == name)


Listener = Callable[[TaskRun], None]


@dataclass
class LocalRun:
    spec: WorkflowSpec
    objects: Objects
    run_dir: Path
    parameters: Mapping[str, str] = field(default_factory=dict)  # overrides of spec.arguments
    parallelism: int = 2
    output: LocalOutput | None = None
    run_id: str = ""
    listener: Listener | None = None
    sleep: Callable[[float], None] | None = None
    # added to every pod's environment under the template's own `env` (which wins): for
    # instrumentation, e.g. the benchmark's PYTHONPROFILEIMPORTTIME; never set by `invoke conformance`
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # starts the steps: our console scripts through a fork server that imported the image's
    # modules once (tooling.dag.launcher). None: the run starts its own and stops it at the end
    launcher: Launcher | None = None
    fork_server: bool = True  # False: every step a plain process (the benchmarks' baseline)

    def __post_init__(self) -> None:
        self.run_id = self.run_id or new_run_id(self.spec.name)
        self.uid = str(uuid.uuid4())
        self.registry = ProcessRegistry()
        self._lock = threading.Lock()
        self._runs = {t.name: TaskRun(t.name, t.template) for t in self.spec.tasks}
        self._ended: list[TaskRun] = []
        self._deadline: float | None = None

    # -- scopes ---------------------------------------------------------------------------
    def workflow_parameters(self) -> dict[str, str]:
        values = {p.name: p.value for p in self.spec.arguments}
        unknown = sorted(set(self.parameters) - set(values))
        if unknown:
            raise ValueError(f"unknown workflow parameter {unknown[0]!r} "
                             f"(the template declares: {', '.join(values)})")
        values.update(self.parameters)
        missing = [k for k, v in values.items() if v is None]
        if missing:
            raise ValueError(f"workflow parameter {missing[0]!r} has no value")
        return {k: str(v) for k, v in values.items()}

    def _workflow_scope(self, params: Mapping[str, str]) -> dict[str, str]:
        scope = {
            "workflow.name": self.run_id,
            "workflow.namespace": self.spec.namespace,
            "workflow.uid": self.uid,
            "workflow.serviceAccountName": self.spec.service_account,
            "workflow.creationTimestamp": _rfc3339(self._created),
        }
        scope.update({f"workflow.parameters.{k}": v for k, v in params.items()})
        return scope

    def _dag_scope(self, base: Mapping[str, str]) -> dict[str, str]:
        scope = dict(base)
        with self._lock:
            for run in self._runs.values():
                if run.phase not in TERMINAL or run.phase == "Omitted":
                    continue
                p = f"tasks.{run.name}"
                scope[f"{p}.status"] = run.phase
                scope[f"{p}.id"] = f"{self.run_id}-{run.name}"
                if run.started is not None:
                    scope[f"{p}.startedAt"] = _rfc3339(run.started)
                if run.finished is not None:
                    scope[f"{p}.finishedAt"] = _rfc3339(run.finished)
                if run.exit_code is not None:
                    scope[f"{p}.exitCode"] = str(run.exit_code)
                for k, v in run.outputs.items():
                    scope[f"{p}.outputs.parameters.{k}"] = v
        return scope

    # -- one task -------------------------------------------------------------------------
    def _emit(self, run: TaskRun) -> None:
        if self.listener is not None:
            self.listener(run)

    @contextmanager
    def _running(self, run: TaskRun) -> Iterator[None]:
        """RUN from Running to its end: a PodError makes it an Error; its end is recorded and told."""
        run.started, run.phase = time.time(), "Running"
        self._emit(run)
        try:
            yield
        except PodError as e:
            run.phase, run.message = "Error", str(e)
        finally:
            run.finished = time.time()
            with self._lock:
                self._ended.append(run)
            self._emit(run)

    def _run_task(self, task: Task, wf_scope: Mapping[str, str]) -> None:
        run = self._runs[task.name]
        with self._running(run):
            if task.with_param is not None:
                self._fan_out(task, run, wf_scope)
            else:
                self._attempts(task, run, self._pod_scope(task, wf_scope, self._dag_scope(wf_scope)))

    def _pod_scope(self, task: Task, wf_scope: Mapping[str, str],
                   arg_scope: Mapping[str, str]) -> dict[str, str]:
        """The scope of TASK's pod: the workflow's, plus its template's inputs from its arguments."""
        template = self.spec.templates[task.template]
        args: dict[str, str] = {}
        for i, a in enumerate(task.arguments):
            try:
                args[a.name] = substitute(a.value or "", arg_scope, f"arguments.parameters[{i}] ({a.name})")
            except SubstitutionError as e:
                raise PodError(f"task {task.name}: {e}") from e
        scope = dict(wf_scope)
        for p in template.inputs:
            value = args.get(p.name, p.value)
            if value is None:
                raise PodError(f"task {task.name}: input parameter {p.name!r} of template "
                               f"{template.name} has no value")
            scope[f"inputs.parameters.{p.name}"] = value
        return scope

    # -- withParam: one child per item ------------------------------------------------------
    def _fan_out(self, task: Task, run: TaskRun, wf_scope: Mapping[str, str]) -> None:
        dag_scope = self._dag_scope(wf_scope)
        items = self._loop_items(task, dag_scope)
        if not items:
            run.phase, run.message = "Skipped", "Skipped, empty params"
            return
        children = [TaskRun(f"{task.name}({i})", task.template) for i in range(len(items))]
        width = min(max(1, self.parallelism), self.spec.parallelism or len(items))
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix=f"dag-{task.name}") as pool:
            for f in [pool.submit(self._run_child, task, c, wf_scope, {**dag_scope, **_item_scope(item)})
                      for c, item in zip(children, items)]:
                f.result()
        failed = next((c for c in children if c.phase != "Succeeded"), None)
        run.phase = "Succeeded" if failed is None else failed.phase
        run.message = "" if failed is None else f"child {failed.name} {failed.phase}: {failed.message}"
        run.attempts = [] if failed is None else list(failed.attempts)
        names = [o.name for o in self.spec.templates[task.template].outputs]
        run.outputs = {n: json.dumps([c.outputs.get(n) for c in children]) for n in names}

    def _loop_items(self, task: Task, dag_scope: Mapping[str, str]) -> list[object]:
        try:
            raw = substitute(task.with_param or "", dag_scope, "withParam")
        except SubstitutionError as e:
            raise PodError(f"task {task.name}: {e}") from e
        try:
            items = json.loads(raw)
        except ValueError as e:
            raise PodError(f"task {task.name}: withParam: not JSON ({e}): {raw[:200]!r}") from e
        if not isinstance(items, list):
            raise PodError(f"task {task.name}: withParam: expected a JSON list, got {raw[:200]!r}")
        return items

    def _run_child(self, task: Task, child: TaskRun, wf_scope: Mapping[str, str],
                   arg_scope: Mapping[str, str]) -> None:
        with self._running(child):
            self._attempts(replace(task, name=child.name),
                           child, self._pod_scope(task, wf_scope, arg_scope))

    def _attempts(self, task: Task, run: TaskRun, scope: Mapping[str, str]) -> None:
        template = self.spec.templates[task.template]
        retry = template.retry
        first = time.monotonic()
        number = 0
        while True:
            number += 1
            pod_dir = self.run_dir / "tasks" / task.name / f"attempt-{number}"
            pod_dir.mkdir(parents=True, exist_ok=True)
            attempt = Attempt(number)
            run.attempts.append(attempt)
            try:
                plan = plan_pod(template, scope, self.spec, self.objects, self.run_dir, pod_dir,
                                self.output)
            except PodError as e:
                attempt.phase, attempt.message = "Error", str(e)
                run.phase, run.message = "Error", f"task {task.name}: {e}"
                return  # the pod cannot be created as written: retrying changes nothing
            if self.extra_env:
                plan = replace(plan, env={**self.extra_env, **plan.env})
            if self.registry.stopping.is_set():
                attempt.phase, attempt.message = "Failed", f"not started: {self.registry.stop_reason}"
                run.phase, run.message = "Failed", attempt.message
                return
            run_pod(plan, attempt, pod_dir, self._attempt_deadline(template.deadline), self.registry,
                    launcher=self.launcher)
            run.phase, run.outputs = attempt.phase, attempt.outputs
            run.message = "" if attempt.phase == "Succeeded" else attempt.message
            if attempt.phase == "Succeeded" or retry is None or self.registry.stopping.is_set():
                return
            if number > retry.limit:
                return
            if not retry.allows(attempt.phase, attempt.exit_code, attempt.message, attempt.seconds):
                return
            delay = retry.backoff.delay(number)
            if retry.backoff.max_duration is not None and \
                    time.monotonic() - first + delay > retry.backoff.max_duration:
                run.message += f" (no retry: backoff maxDuration {retry.backoff.max_duration:g}s)"
                return
            run.phase = "Retrying"
            self._emit(run)
            if self.sleep is not None:
                self.sleep(delay)
            elif self.registry.stopping.wait(delay):
                return

    def _attempt_deadline(self, template_deadline: float | None) -> float | None:
        limits = [d for d in (template_deadline,) if d is not None]
        if self._deadline is not None:
            limits.append(max(0.0, self._deadline - time.monotonic()))
        return min(limits) if limits else None

    # -- the DAG --------------------------------------------------------------------------
    def execute(self) -> RunResult:
        if self.launcher is not None:
            return self._execute()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with Launcher(self.run_dir / "forkserver.log", use_server=self.fork_server) as launcher:
            self.launcher = launcher
            try:
                return self._execute()
            finally:
                self.launcher = None

    def _execute(self) -> RunResult:
        self._created = time.time()
        start = time.monotonic()
        if self.spec.deadline is not None:
            self._deadline = start + self.spec.deadline
        wf_scope = self._workflow_scope(self.workflow_parameters())
        width = max(1, self.parallelism)
        if self.spec.parallelism:
            width = min(width, self.spec.parallelism)
        tasks = {t.name: t for t in self.spec.tasks}
        pending = [t.name for t in self.spec.tasks]
        futures: dict[Future[None], str] = {}
        interrupted: KeyboardInterrupt | None = None
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="dag-task") as pool:
            try:
                while True:
                    self._start_ready(pending, tasks, futures, lambda t: pool.submit(self._run_task, t, wf_scope),
                                      width)
                    if not futures:
                        break
                    self._wait_for_some(futures)
            except KeyboardInterrupt as e:
                self.registry.stop_all(f"interrupted ({e or 'Ctrl-C'})")
                interrupted = e
            except BaseException as e:  # a bug here must not leave the pods running behind it
                self.registry.stop_all(f"executor error: {type(e).__name__}: {e}")
                raise
        # the pool has waited for its pods: nothing writes to a claim any more
        if interrupted is not None:
            self._collect_claims("Failed")
            raise interrupted
        result = self._result(time.monotonic() - start)
        result.claims_deleted = self._collect_claims(result.phase)
        return result

    def _start_ready(self, pending: list[str], tasks: Mapping[str, Task], futures: dict[Future[None], str],
                     submit: Callable[[Task], Future[None]], width: int) -> None:
        """Start (or omit) every pending task whose dependencies ended, up to WIDTH running."""
        changed = True
        while changed:
            changed = False
            for name in list(pending):
                task = tasks[name]
                deps = task.depends.tasks if task.depends else frozenset()
                if any(self._runs[d].phase not in TERMINAL for d in deps):
                    continue
                if self._omit_if_not_met(task, deps):
                    pending.remove(name)
                    changed = True
                    continue
                if len(futures) >= width:
                    continue
                self._runs[name].phase = "Pending"
                futures[submit(task)] = name
                pending.remove(name)
                changed = True

    def _omit_if_not_met(self, task: Task, deps: frozenset[str]) -> bool:
        """Mark TASK Omitted when the run is stopping or its `depends` is not met."""
        run = self._runs[task.name]
        stop = self.registry.stopping.is_set()
        held = {d: results_for_phase(self._runs[d].phase) for d in deps}
        if not stop and (task.depends is None or task.depends.evaluate(held)):
            return False
        run.phase = "Omitted"
        run.message = (f"not started: {self.registry.stop_reason}" if stop
                       else f"depends not met: {task.depends.text if task.depends else ''}")
        with self._lock:
            self._ended.append(run)
        self._emit(run)
        return True

    def _wait_for_some(self, futures: dict[Future[None], str]) -> None:
        """Wait until a task ends (or the workflow's deadline passes: then stop every pod)."""
        timeout = None
        if self._deadline is not None:
            timeout = max(0.0, self._deadline - time.monotonic())
        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        if not done and self._deadline is not None and time.monotonic() >= self._deadline:
            self.registry.stop_all(f"workflow activeDeadlineSeconds ({self.spec.deadline:g}s) exceeded")
            return
        for f in done:
            futures.pop(f)
            f.result()

    def _collect_claims(self, phase: str) -> tuple[str, ...]:
        """volumeClaimGC: delete the claims' directories when the workflow's end calls for it."""
        if not self.spec.claims or not self.spec.deletes_claims(phase):
            return ()
        for name in self.spec.claims:
            shutil.rmtree(claim_dir(self.run_dir, name), ignore_errors=True)
        return self.spec.claims

    def _result(self, seconds: float) -> RunResult:
        dependents: dict[str, list[str]] = {t.name: [] for t in self.spec.tasks}
        for t in self.spec.tasks:
            for d in (t.depends.tasks if t.depends else ()):
                dependents[d].append(t.name)
        unhandled = [
            r for r in self._runs.values()
            if r.phase in ("Failed", "Error")
            and not any(self._runs[c].phase not in ("Omitted", "Pending") for c in dependents[r.name])
        ]
        if self.registry.stop_reason:
            phase, message = "Failed", self.registry.stop_reason
        elif unhandled:
            first = unhandled[0]
            phase, message = "Failed", f"task {first.name} {first.phase}: {first.message}"
        else:
            phase, message = "Succeeded", ""
        return RunResult(self.run_id, phase, message, list(self._ended), round(seconds, 3))
