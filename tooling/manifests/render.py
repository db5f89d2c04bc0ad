"""`invoke render`: an env's manifests exactly as the cluster gets them, rendered by the real
`kubectl kustomize` (kubectl v1.32, kustomize v5.5), never by a re-implementation."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

from tooling import repo
from tooling.errors import ToolingError
from tooling.manifests import stdout, toolcache


class RenderError(ToolingError):
    """The manifests cannot be rendered (kubectl missing or kustomize failing)."""


def kustomize(directory: Path | str, cache: toolcache.ToolCache | None = None) -> str:
    """`kubectl kustomize DIRECTORY`; RenderError with kustomize's whole message when it fails.
    With CACHE, a render of byte-identical inputs is read back instead of run (tooling.manifests.toolcache)."""
    inputs = toolcache.kustomize_inputs(Path(directory)) if cache is not None else None
    try:
        done = toolcache.run(["kubectl", "kustomize", str(directory)], inputs=inputs, cache=cache)
    except FileNotFoundError as e:
        raise RenderError("kubectl not found on PATH (kubectl v1.32 renders the overlays)") from e
    if done.returncode != 0:
        raise RenderError(f"kubectl kustomize {repo.relpath(directory)} failed: "
                          f"{stdout.tool_error_text(done.stderr)}")
    return done.stdout


class Renders:
    """`kubectl kustomize` of directories for one run: each directory rendered at most once, the
    renders running concurrently (one kubectl process each, on a few threads), read back from
    CACHE when their inputs are unchanged."""

    def __init__(self, cache: toolcache.ToolCache | None = None, workers: int = 6) -> None:
        self.cache = cache
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kustomize")
        self._futures: dict[Path, Future[str]] = {}
        self._loaded: dict[Path, Any] = {}  # directory -> its Rendered (tooling.manifests.rendered)
        self._lock = threading.Lock()

    def start(self, *directories: Path) -> None:
        """Begin rendering DIRECTORIES (those not begun yet) in the background."""
        with self._lock:
            for directory in directories:
                key = Path(directory).resolve()
                if key not in self._futures:
                    self._futures[key] = self._pool.submit(kustomize, directory, self.cache)

    def text(self, directory: Path) -> str:
        """DIRECTORY's render (begun now if it was not); RenderError when it fails."""
        self.start(directory)
        return self._futures[Path(directory).resolve()].result()

    def rendered(self, directory: Path, name: str = "") -> Any:
        """DIRECTORY's render loaded as a `Rendered` (NAME: its label), loaded once per run and
        shared by every reader: treat its documents as read-only. RenderError when it fails."""
        from tooling.manifests import rendered

        key = Path(directory).resolve()
        if key not in self._loaded:
            text = self.text(directory)

            def load() -> Any:
                return rendered.from_rendered(text, Path(directory), name)

            if self.cache is None:
                self._loaded[key] = load()
            else:  # the documents of this exact text, loaded by this exact loader
                memo_key = toolcache.digest("rendered", rendered.loader_digest(), str(directory),
                                            str(repo.ROOT), name, text)
                self._loaded[key] = self.cache.memo(memo_key, load)
        return self._loaded[key]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def render(env: str) -> str:
    """The rendered manifests of ENV (`overlays/ENV`)."""
    return kustomize(repo.overlay_dir(env))


def main(env: str) -> int:
    try:
        text = render(env)
    except (RenderError, ValueError) as e:
        print(f"render: {e}", file=sys.stderr)
        return 2
    return stdout.emit(text)  # 0, or 141 when the reader left early (`| head`)
