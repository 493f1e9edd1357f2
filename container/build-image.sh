#!/usr/bin/env bash
# Build the bots-runtime image with podman from the repository root, on the local base image.
#   usage: container/build-image.sh [TAG]   (default localhost/bots-runtime:dev)
# Env: BOTS_BASE_IMAGE (default: the local debootstrap base, made if missing; set it to
# python:3.11-slim where a registry is reachable), CACERT (CA bundle for a TLS proxy; default the
# host's bundle when it exists). The CA goes in as a build secret and never into a layer.
# BOTS_VERSION, BOTS_SOURCE and BOTS_DB_DRIVERS, when set, become the Dockerfile's build
# arguments of the same names (which Bots, from where, which database drivers).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "${here}/.." && pwd)"
# shellcheck source=container/podman-env.sh
. "${here}/podman-env.sh"
tag="${1:-${BOTS_IMAGE:-localhost/bots-runtime:dev}}"
base="${BOTS_BASE_IMAGE:-localhost/bots-runtime-base:bookworm}"
if [[ "${base}" == localhost/* ]]; then
    "${here}/build-base.sh" "${base}"
fi
cacert="${CACERT:-/etc/ssl/certs/ca-certificates.crt}"
secret=()
if [ -s "${cacert}" ]; then
    secret=(--secret "id=cacert,src=${cacert}")
fi
choices=()
for arg in BOTS_VERSION BOTS_SOURCE BOTS_DB_DRIVERS; do
    if [ -n "${!arg+set}" ]; then
        choices+=(--build-arg "${arg}=${!arg}")
    fi
done
version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "${repo}/pyproject.toml" | head -n1)"
revision="$(git -C "${repo}" rev-parse --short HEAD 2>/dev/null || echo unknown)"
# --format docker keeps the HEALTHCHECK (the OCI image format has no such field).
podman build --format docker \
    --file "${here}/Dockerfile" \
    --build-arg "BASE_IMAGE=${base}" \
    --build-arg "VERSION=${version:-0.0.0}" \
    --build-arg "REVISION=${revision}" \
    --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "${choices[@]}" \
    "${secret[@]}" \
    --tag "${tag}" \
    "${repo}"
