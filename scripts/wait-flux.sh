#!/usr/bin/env bash
# Wait until Flux has applied commit SHA (or a later commit containing it) with Kustomization
# flux-system/NAME Ready on ENV's cluster (kube context from overlays/ENV/env.yaml).
#   scripts/wait-flux.sh ENV NAME SHA [TIMEOUT_SECONDS]
# Exit 0 applied and Ready, 1 timed out or the Kustomization is not Ready at that revision, 2 bad use.
# Flux's revision is `main@sha1:<sha>`; "contains" is `git merge-base --is-ancestor` (full history).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: $0 ENV NAME SHA [TIMEOUT_SECONDS]" >&2; exit 2; }
env=$1 name=$2 sha=$3 timeout=${4:-900}
ctx=$(uv run --quiet python -c "from tooling.envconfig import read_env_file as r; print(r('$env').context)")
k() { kubectl --context "$ctx" -n flux-system "$@"; }

deadline=$(( $(date +%s) + timeout ))
while :; do
  applied=$(k get kustomization "$name" -o jsonpath='{.status.lastAppliedRevision}' 2>/dev/null || true)
  ready=$(k get kustomization "$name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  applied_sha=${applied##*sha1:}
  if [ -n "$applied_sha" ] && git merge-base --is-ancestor "$sha" "$applied_sha" 2>/dev/null; then
    if [ "$ready" = True ]; then
      echo "flux: $name applied $applied (contains $sha) and Ready on $ctx" >&2
      exit 0
    fi
    echo "flux: $name applied $applied but Ready=$ready" >&2
  else
    echo "flux: $name at ${applied:-nothing yet}, waiting for $sha" >&2
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "flux: $name did not apply $sha Ready within ${timeout}s (last: ${applied:-none}, Ready=${ready:-?})" >&2
    exit 1
  fi
  sleep 15
done
