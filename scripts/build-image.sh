#!/usr/bin/env bash
# Build the Portico image with podman where no Docker engine or registry exists.
#
# Usage: scripts/build-image.sh [TAG]        (default localhost/portico:dev)
#   BASE_IMAGE=python:3.12-slim  use a pullable base instead of the local one
#   PORTICO_PODMAN_DIR=...       podman storage/config (default .tools/podman)
#
# Without a registry, the base is a minimal Debian rootfs from the apt mirror
# (debootstrap), imported once and reused. podman is configured from its
# first call (runc, cgroupfs, bounded ulimits): see
# /work/shared/recipes/container-image/README.md for why each setting exists.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TAG=${1:-localhost/portico:dev}
W=${PORTICO_PODMAN_DIR:-$ROOT/.tools/podman}
LOCAL_BASE=localhost/portico-base:bookworm

missing=()
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "build-image: missing ${missing[*]}; install with:" >&2
  echo "  apt-get install -y podman runc debootstrap" >&2
  exit 2
fi

mkdir -p "$W/conf"
cat > "$W/conf/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$W/libpod"
volume_path = "$W/storage/volumes"
[network]
network_config_dir = "$W/networks"
CONF
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' "$W" "$W" \
  > "$W/conf/storage.conf"
export CONTAINERS_CONF=$W/conf/containers.conf CONTAINERS_STORAGE_CONF=$W/conf/storage.conf

if [[ -z ${BASE_IMAGE:-} ]]; then
  BASE_IMAGE=$LOCAL_BASE
  if ! podman image exists "$LOCAL_BASE"; then
    # The mirror this machine's apt already uses (deb822 or one-line format).
    mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
      | grep -oE '^(URIs:|deb) +[a-z]+://[^ ]+' | awk '{print $2; exit}' || true)
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
    tar -C "$rootfs" --numeric-owner -c . | podman import - "$LOCAL_BASE" >/dev/null
  fi
fi

ca_args=()
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  ca_args=(-v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt)
fi
podman build "${ca_args[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$TAG" "$ROOT"
podman image prune -f >/dev/null  # drop the previous build's now-untagged layers
