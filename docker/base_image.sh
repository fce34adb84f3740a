#!/usr/bin/env bash
# Build a local Debian base image with Python 3.11 (no registry needed): debootstrap a minimal bookworm rootfs
# with python3 + python3-venv and import it into podman. Does nothing when the image already exists.
# Usage: docker/base_image.sh [IMAGE]    (env: CMM_CONTAINER_CACHE, DEBIAN_MIRROR)
set -euo pipefail

IMAGE=${1:-localhost/cmm-debian-python:bookworm}
CACHE=${CMM_CONTAINER_CACHE:-/var/tmp/cmm-container}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if podman image exists "$IMAGE"; then
    echo "base image $IMAGE: present"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "base_image.sh: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

rootfs="$CACHE/rootfs-bookworm"
rm -rf "$rootfs"
mkdir -p "$CACHE"
echo "base image $IMAGE: debootstrap bookworm into $rootfs (about 2-3 minutes)"
debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { echo "base_image.sh: debootstrap failed, see $CACHE/debootstrap.log" >&2; exit 1; }
# Leave out what a server never reads: package caches, docs, man pages, translations.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
rm -rf "$rootfs"
echo "base image $IMAGE: built ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
