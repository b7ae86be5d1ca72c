#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian 12, and nothing
# more. Idempotent: packages already present are not touched.
set -euo pipefail

# Debian packages the project needs (the one place for apt installs):
# containerd, runc, docker-registry and busybox-static are started and used
# by deploy/deps.sh. Later issues add libvirt and QEMU here.
PACKAGES=(ca-certificates curl containerd runc docker-registry busybox-static)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is required (Go 1.26 or newer); install it from your distribution or go.dev and put it on PATH" >&2
  exit 1
fi
echo "setup: ok ($(go version))"
