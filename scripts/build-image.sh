#!/usr/bin/env bash
# Build runner/Dockerfile with its base images pinned by digest (CI: .github/workflows/image.yaml).
#   scripts/build-image.sh --no-push   build only (pull requests)
#   scripts/build-image.sh --push      build, tag $IMAGE:$GITHUB_SHA, push, record the digest
# Needs docker with buildx and registry access. Writes build-record.json (image, tag, digest, base
# image digests) and, under GitHub Actions, `digest=` to $GITHUB_OUTPUT and a line to the summary.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:---no-push}
image=${IMAGE:-ghcr.io/eopf-explorer/geozarr-runner}
sha=${GITHUB_SHA:-$(git rev-parse HEAD)}

default_arg() { sed -n "s/^ARG $1=//p" runner/Dockerfile; }
resolve() {  # tag -> tag@sha256:… (the digest of the multi-platform index, as the registry has it)
  local ref=$1 digest
  if [[ $ref == *@sha256:* ]]; then printf '%s' "$ref"; return; fi  # already pinned in the Dockerfile
  digest=$(docker buildx imagetools inspect "$ref" | awk '$1 == "Digest:" {print $2; exit}')
  [[ $digest == sha256:* ]] || { echo "cannot resolve $ref to a digest" >&2; exit 2; }
  printf '%s@%s' "$ref" "$digest"
}

python_image=$(resolve "$(default_arg PYTHON_IMAGE)")
uv_image=$(resolve "$(default_arg UV_IMAGE)")
echo "base images: $python_image, $uv_image" >&2

args=(-f runner/Dockerfile
      --build-arg "PYTHON_IMAGE=$python_image" --build-arg "UV_IMAGE=$uv_image"
      --label "org.opencontainers.image.revision=$sha"
      --label "org.opencontainers.image.base.name=$python_image"
      --tag "$image:$sha" --metadata-file build-metadata.json)
if [ "$mode" = --push ]; then args+=(--push); fi
docker buildx build "${args[@]}" .

digest=$(python3 -c 'import json; print(json.load(open("build-metadata.json")).get("containerimage.digest", ""))')
if [ "$mode" = --push ] && [[ $digest != sha256:* ]]; then
  echo "the build pushed no digest (build-metadata.json)" >&2; exit 1
fi
python3 - "$image" "$sha" "$digest" "$python_image" "$uv_image" "$mode" > build-record.json <<'EOF'
import json, sys
image, sha, digest, py, uv, mode = sys.argv[1:]
print(json.dumps({"image": image, "tag": sha, "digest": digest, "pushed": mode == "--push",
                  "base_images": {"PYTHON_IMAGE": py, "UV_IMAGE": uv}}, indent=2))
EOF
if [ -n "${GITHUB_OUTPUT:-}" ] && [ "$mode" = --push ]; then echo "digest=$digest" >> "$GITHUB_OUTPUT"; fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  echo "runner image \`$image:$sha\` ($mode) digest \`$digest\`; bases $python_image, $uv_image" >> "$GITHUB_STEP_SUMMARY"
fi
echo "$image:$sha ${digest:-(not pushed)}" >&2
