#!/usr/bin/env bash
# Installs everything this repo needs on a fresh Debian machine, idempotently:
# system tools from apt (promtool, PostgreSQL 15 + PostGIS 3), uv, and the locked Python 3.12 environment (.venv).
# kubectl (v1.32, kustomize v5.5) is expected on PATH, as on every machine of this project.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[bootstrap] %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
# PostgreSQL 15 + PostGIS 3: the real STAC API (pgSTAC) the tests register items into.
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need_apt+=(postgresql-15-postgis-3)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt: installing ${need_apt[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian's package may start a service on machines with an init system; we only need the binary.
  as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
  as_root systemctl disable --now postgresql >/dev/null 2>&1 || true  # tests run their own cluster
fi

command -v kubectl >/dev/null 2>&1 || { say "kubectl is missing: install kubectl v1.32 (kustomize v5.5)"; exit 2; }

# .python-version says 3.12: pyenv's shims resolve python3/pip to it.
if ! command -v uv >/dev/null 2>&1; then
  say "pip: installing uv"
  # pyenv/venv pythons take pip; a distro python (PEP 668) takes pipx.
  python3 -m pip install -q uv 2>/dev/null || pipx install uv
  export PATH="$HOME/.local/bin:$PATH"
fi
say "uv: syncing the locked environment"
if [ -n "${PYTHONDONTWRITEBYTECODE:-}" ]; then
  # Python will never write bytecode here: compile it once, or every tooling process
  # (`invoke validate`) compiles its imports again (~0.9 s of CPU each run)
  uv sync --frozen -q --compile-bytecode
else
  uv sync --frozen -q
fi
say "ready: $(uv run python --version), $(kubectl version --client 2>/dev/null | head -1), $(promtool --version 2>&1 | head -1)"
