#!/usr/bin/env bash
# Make the local base image that stands in for python:3.11-slim where no registry is reachable.
# Idempotent: does nothing when the image already exists. Needs root, debootstrap and podman.
#   usage: container/build-base.sh [IMAGE]   (default localhost/bots-runtime-base:bookworm)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=container/podman-env.sh
. "${here}/podman-env.sh"
image="${1:-${BOTS_BASE_IMAGE:-localhost/bots-runtime-base:bookworm}}"
if podman image exists "${image}"; then
    echo "base image ${image} exists; nothing to do"
    exit 0
fi
mirror="${DEBIAN_MIRROR:-}"
if [ -z "${mirror}" ]; then
    # The mirror apt already uses here (deb822 URIs: line or a one-line sources.list entry).
    mirror="$(grep -rhoE '^(URIs:[[:space:]]*|deb[[:space:]]+)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
        | grep -oE 'https?://[^[:space:]]+' | head -n1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"
rootfs="$(mktemp -d "${TMPDIR:-/tmp}/bots-base.XXXXXX")"
trap 'rm -rf "${rootfs}"' EXIT
echo "debootstrap bookworm from ${mirror} into ${rootfs}"
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "${rootfs}" "${mirror}" >"${rootfs}.log" 2>&1 || {
    tail -n 30 "${rootfs}.log" >&2
    rm -f "${rootfs}.log"
    exit 1
}
rm -f "${rootfs}.log"
# Trim what a container never uses: apt lists, docs, man pages, locales.
rm -rf "${rootfs}"/var/lib/apt/lists/* "${rootfs}"/var/cache/apt/*.bin \
    "${rootfs}"/usr/share/doc/* "${rootfs}"/usr/share/man/* "${rootfs}"/usr/share/locale/*
tar -C "${rootfs}" -c . | podman import --quiet \
    --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "${image}" >/dev/null
echo "built base image ${image}"
