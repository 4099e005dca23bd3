#!/usr/bin/env bash
# Build the local base image `hpo-debian-base:bookworm` from Debian's packages (debootstrap) and
# import it into podman/docker: for machines that reach a Debian mirror but no image registry.
# Needs root (debootstrap). Usage: infra/images/debian-base.sh [IMAGE_TAG] [MIRROR]
# Skips the work when the tag already exists.
set -euo pipefail
TAG="${1:-hpo-debian-base:bookworm}"
MIRROR="${2:-http://deb.debian.org/debian}"
ENGINE="${HPO_IMAGE_ENGINE:-$(command -v podman || command -v docker || true)}"
if [ -z "$ENGINE" ]; then
    echo "error: neither podman nor docker is installed; fix: apt-get install podman runc" >&2
    exit 2
fi
if "$ENGINE" image inspect "$TAG" >/dev/null 2>&1; then
    echo "base image $TAG: already present"
    exit 0
fi
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
# python3-venv: the image installs the package into a venv (Debian's python is externally managed).
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tini \
    bookworm "$ROOT/rootfs" "$MIRROR" >"$ROOT/debootstrap.log" 2>&1 \
    || { tail -20 "$ROOT/debootstrap.log" >&2; exit 1; }
rm -rf "$ROOT/rootfs/var/cache/apt/archives/"*.deb "$ROOT/rootfs/var/lib/apt/lists/"*
tar -C "$ROOT/rootfs" -c . | "$ENGINE" import \
    --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$TAG" >/dev/null
echo "base image $TAG: built"
