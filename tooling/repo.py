"""The one place that knows this repository's layout: where the base, the
overlays, the schemas and the build outputs are, and which envs exist.

Everything else imports paths from here instead of re-deriving them.
"""

from __future__ import annotations

import os
from pathlib import Path

from tooling import versions

ROOT = Path(os.environ.get("GEOZARR_DEPLOY_ROOT", Path(__file__).resolve().parent.parent))
BASE = ROOT / "base"
OVERLAYS = ROOT / "overlays"
COMPONENTS = ROOT / "components"
CLUSTERS = ROOT / "clusters"  # what Flux applies per env (clusters/<env>/)
SCHEMAS = ROOT / "schemas"
CRDS = SCHEMAS / "crds"  # vendored upstream CRDs, one folder per project (tooling.versions)
BUILD = ROOT / "build"
PARAMS_JSON = BASE / "params.json"

# Deployable environments, in promotion order.
ENVS: tuple[str, ...] = ("staging", "prod")

# Kubernetes version the manifests are validated against (declared in tooling.versions).
TARGET_KUBERNETES_VERSION = versions.KUBERNETES
# Compiled schemas and CEL verdicts, derived from schemas/crds/ (safe to delete).
SCHEMA_CACHE = BUILD / "cache" / "schema"
# Results of kubectl kustomize and promtool keyed by their inputs' bytes (tooling.manifests.toolcache).
TOOL_CACHE = BUILD / "cache" / "tools"

# ../shared beside the checkout: test data only, never required at run time.
SHARED = ROOT.parent / "shared"


def overlay_dir(env: str) -> Path:
    if env not in ENVS:
        raise ValueError(f"unknown env {env!r}: expected one of {', '.join(ENVS)}")
    return OVERLAYS / env


def cluster_dir(env: str) -> Path:
    """The env's Flux objects (GitRepository, Kustomizations), applied by Flux itself."""
    overlay_dir(env)  # the same envs
    return CLUSTERS / env


def env_config_path(env: str) -> Path:
    """The env's config (kube context, namespace, bucket, STAC API URL)."""
    return overlay_dir(env) / "env.yaml"


def sealing_cert_path(env: str) -> Path:
    """The env's sealed-secrets controller certificate (`kubeseal --fetch-cert`)."""
    return overlay_dir(env) / "sealing-cert.pem"


# The throwaway sealing key committed for tests: whatever it unseals is readable by anyone.
TEST_SEALING_KEY = ROOT / "tests" / "manifests" / "fixtures" / "sealing" / "tls.key"


def promotion_policy_path(env: str) -> Path:
    """What a promotion into ENV must prove (evidence env, soak); absent: no evidence gate."""
    return overlay_dir(env) / "promotion.yaml"


def relpath(path: Path | str) -> str:
    """A path as shown to people: relative to the repo root when inside it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(path)
