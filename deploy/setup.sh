#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian 12, and nothing
# more. Idempotent: packages already present are not touched.
set -euo pipefail

# Debian packages the project needs (the one place for apt installs):
# containerd, runc, docker-registry and busybox-static are started and used
# by deploy/deps.sh. The VM side (installed without recommends, which
# would pull in dnsmasq, firewalld and more): libvirtd with its QEMU driver,
# QEMU for x86 (TCG here: no /dev/kvm), the cloud kernel that boots the
# node VMs, and genisoimage (isoinfo checks config drives in tests);
# iproute2 makes the bridge the NIC tests attach VMs to.
PACKAGES=(ca-certificates curl containerd runc docker-registry busybox-static iproute2)
VM_PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils linux-image-cloud-amd64 genisoimage)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
updated=""

# install [APT-OPTIONS...] -- PACKAGES...: installs those not yet installed.
install() {
  local opts=() missing=() p
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "setup: installing ${missing[*]}"
  [ -n "$updated" ] || { $SUDO apt-get update -qq; updated=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${opts[@]}" "${missing[@]}" >/dev/null
}
install -- "${PACKAGES[@]}"
install --no-install-recommends -- "${VM_PACKAGES[@]}"

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is required (Go 1.26 or newer); install it from your distribution or go.dev and put it on PATH" >&2
  exit 1
fi
echo "setup: ok ($(go version))"
