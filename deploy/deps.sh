#!/usr/bin/env bash
# Starts what the integration and end-to-end tests need, all under the repo's
# .run/ directory so that nothing disturbs another containerd or registry on
# the machine:
#   - containerd (Debian, with runc): own config, root, state and socket in
#     .run/containerd/, CRI off, no debug or metrics listener;
#   - docker-registry on a loopback port ($CLOUDMGR_REGISTRY, default
#     127.0.0.1:5055) storing into .run/registry/data;
#   - the test image, built here from busybox-static (nothing downloaded), as
#     an OCI tarball .run/images/busybox.tar, pushed to that registry as
#     $CLOUDMGR_REGISTRY/cloudmgr/busybox:test;
#   - a second, different version of it (the same plus /etc/cloudmgr-release
#     holding "v2"; imagebuild -release v2), .run/images/busybox-v2.tar,
#     pushed as $CLOUDMGR_REGISTRY/cloudmgr/busybox:v2 (a rolling update's
#     new image);
#   - a second docker-registry that requires a login ($CLOUDMGR_AUTH_REGISTRY,
#     default 127.0.0.1:5056; htpasswd basic auth, which distribution 2.8
#     accepts over plain HTTP), storing into .run/registry-auth/data, with the
#     same image as $CLOUDMGR_AUTH_REGISTRY/cloudmgr/busybox:private. Its
#     credentials are .run/registry-auth/credentials ("user:password", mode
#     0600), made once with a random password by deploy/registryauth;
#   - libvirtd (system mode, the QEMU and test drivers) with its config, pid
#     file, log and private socket in .run/libvirt/ (URI
#     qemu:///system?socket=$PWD/.run/libvirt/libvirt-sock, no auth, mode 0700),
#     and a dir storage pool "cloudmgr" in .run/libvirt/pool for
#     providers/libvirt. libvirtd's system mode also needs, outside the repo:
#     the user libvirt-qemu (created when missing: libvirtd resolves its
#     compiled-in default user before reading qemu.conf), /var/log/libvirt and
#     /var/run/libvirt, and /etc/libvirt/qemu.conf, which this script writes
#     (QEMU as root, so it reads kernels anywhere; stdio_handler "file", so no
#     virtlogd) ONLY when that file is absent, holds nothing but comments (the
#     package's default, kept as qemu.conf.dist) or carries the marker line
#     "# cloudmgr deploy/deps.sh". Any other qemu.conf is left alone, and
#     when it does not set stdio_handler = "file" a virtlogd of ours runs
#     (pid file .run/libvirt/virtlogd.pid).
# It picks the snapshotter that really runs a container here (overlayfs, else
# native) and writes its name to .run/containerd/snapshotter.
#
# Usage: deploy/deps.sh [start|stop]. Idempotent: daemons already running are
# kept (a config change restarts them); a stale pid file is replaced. The Debian
# packages come from deploy/setup.sh (make setup).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# .run may be a symlink shared by several worktrees: write its real path
# into configs, so that a run from any of them finds them unchanged.
mkdir -p "$ROOT/.run"
RUN=$(cd "$ROOT/.run" && pwd -P)
CD=$RUN/containerd
REG=$RUN/registry
REGISTRY=${CLOUDMGR_REGISTRY:-127.0.0.1:5055}
IMAGE=$REGISTRY/cloudmgr/busybox:test
TARBALL=$RUN/images/busybox.tar
IMAGE_V2=$REGISTRY/cloudmgr/busybox:v2
TARBALL_V2=$RUN/images/busybox-v2.tar
AREG=$RUN/registry-auth
AUTH_REGISTRY=${CLOUDMGR_AUTH_REGISTRY:-127.0.0.1:5056}
PRIVATE_IMAGE=$AUTH_REGISTRY/cloudmgr/busybox:private
TIMEOUT=${CLOUDMGR_DEPS_TIMEOUT:-30} # seconds for a daemon to come up
NS=cloudmgr-deps                     # containerd namespace of this script
CTR=(ctr --address "$CD/containerd.sock" --namespace "$NS")

log() { echo "deps: $*"; }
die() { echo "deps: $*" >&2; exit 1; }

# pid_of PIDFILE BINARY: prints the pid when it is alive and runs BINARY.
pid_of() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
  echo "$pid"
}

# stop_daemon NAME PIDFILE BINARY: ends only the pid in PIDFILE.
stop_daemon() {
  local pid
  if pid=$(pid_of "$2" "$3"); then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "$1 stopped (pid $pid)"
  else
    log "$1 is not running"
  fi
  rm -f "$2"
}

# write_if_changed FILE: writes stdin to FILE; status 0 when it changed.
write_if_changed() {
  local tmp=$1.new
  cat >"$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  mv "$tmp" "$1"
}

# ensure_daemon NAME PIDFILE LOG CHANGED READY_FN -- CMD...: starts CMD in
# the background unless its pid file names a live one (restarted when its
# config CHANGED), then waits for READY_FN or fails with the log tail.
ensure_daemon() {
  local name=$1 pidfile=$2 logfile=$3 changed=$4 ready=$5 pid
  shift 6
  if pid=$(pid_of "$pidfile" "$1"); then
    if [ "$changed" = yes ]; then
      log "$name config changed: restarting"
      stop_daemon "$name" "$pidfile" "$1"
    elif $ready; then
      log "$name already running (pid $pid)"
      return
    fi
  fi
  if ! pid_of "$pidfile" "$1" >/dev/null; then
    rm -f "$pidfile"
    setsid "$@" >"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
  fi
  pid=$(cat "$pidfile")
  local deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      echo "deps: $name exited; last lines of $logfile:" >&2; tail -n 30 "$logfile" >&2; exit 1
    fi
    if $ready; then log "$name started (pid $pid, log $logfile)"; return; fi
    sleep 0.1
  done
  echo "deps: $name not ready after ${TIMEOUT}s; last lines of $logfile:" >&2; tail -n 30 "$logfile" >&2; exit 1
}

containerd_ready() { timeout 5 "${CTR[@]}" version >/dev/null 2>&1; }
registry_ready() { curl -fsS -m 2 "http://$REGISTRY/v2/" >/dev/null 2>&1; }
# auth_registry_ready: up, refusing anonymous calls and taking the login.
auth_registry_ready() {
  [ "$(curl -sS -m 2 -o /dev/null -w '%{http_code}' "http://$AUTH_REGISTRY/v2/" 2>/dev/null)" = 401 ] &&
    auth_curl -fsS -m 2 -o /dev/null "http://$AUTH_REGISTRY/v2/" 2>/dev/null
}
# auth_curl ARGS...: curl with the login read from a config on stdin, so
# that the password never shows in a process list.
auth_curl() { printf 'user = "%s"\n' "$(cat "$AREG/credentials")" | curl -K - "$@"; }
port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

start_containerd() {
  command -v containerd >/dev/null && command -v runc >/dev/null || die "containerd and runc are missing: run make setup"
  mkdir -p "$CD"/{root,state,opt,runc,fifo}
  local changed=no
  write_if_changed "$CD/config.toml" <<EOF && changed=yes || true
# Written by deploy/deps.sh: the project's own containerd. Everything lives
# under $CD; no CRI, no TCP, debug or metrics listener.
version = 2
root = "$CD/root"
state = "$CD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$CD/containerd.sock"
  tcp_address = ""

[ttrpc]
  address = "$CD/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"

[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "$CD/runc-v1"
EOF
  ensure_daemon containerd "$CD/containerd.pid" "$CD/containerd.log" "$changed" containerd_ready \
    -- containerd --config "$CD/config.toml"
}

start_registry() {
  command -v docker-registry >/dev/null || die "docker-registry is missing: run make setup"
  mkdir -p "$REG/data"
  if ! pid_of "$REG/registry.pid" docker-registry >/dev/null && port_open "$REGISTRY"; then
    die "something else listens on $REGISTRY: set CLOUDMGR_REGISTRY=127.0.0.1:PORT to a free port"
  fi
  local changed=no
  write_if_changed "$REG/config.yml" <<EOF && changed=yes || true
# Written by deploy/deps.sh: the project's local registry, loopback only.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REG/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
  ensure_daemon docker-registry "$REG/registry.pid" "$REG/registry.log" "$changed" registry_ready \
    -- docker-registry serve "$REG/config.yml"
}

start_auth_registry() {
  command -v docker-registry >/dev/null || die "docker-registry is missing: run make setup"
  mkdir -p "$AREG/data"
  chmod 700 "$AREG"
  if ! pid_of "$AREG/registry.pid" docker-registry >/dev/null && port_open "$AUTH_REGISTRY"; then
    die "something else listens on $AUTH_REGISTRY: set CLOUDMGR_AUTH_REGISTRY=127.0.0.1:PORT to a free port"
  fi
  go run ./deploy/registryauth -dir "$AREG" | sed 's/^/deps: /'
  local changed=no
  # The htpasswd file is read at start only: a new one needs a restart.
  [ -f "$AREG/registry.pid" ] && [ "$AREG/htpasswd" -nt "$AREG/registry.pid" ] && changed=yes
  write_if_changed "$AREG/config.yml" <<EOF && changed=yes || true
# Written by deploy/deps.sh: the project's registry that requires a login
# (htpasswd basic auth over plain HTTP), loopback only.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $AREG/data
  delete:
    enabled: true
http:
  addr: $AUTH_REGISTRY
auth:
  htpasswd:
    realm: cloudmgr
    path: $AREG/htpasswd
EOF
  ensure_daemon docker-registry-auth "$AREG/registry.pid" "$AREG/registry.log" "$changed" auth_registry_ready \
    -- docker-registry serve "$AREG/config.yml"
}

# private_image pushes the test image to the registry that requires a login.
private_image() {
  "${CTR[@]}" images tag --force "$IMAGE" "$PRIVATE_IMAGE" >/dev/null
  # ctr takes the login only as an argument: it shows briefly in this
  # machine's process list, for this throwaway test credential only.
  "${CTR[@]}" images push --plain-http --user "$(cat "$AREG/credentials")" "$PRIVATE_IMAGE" >/dev/null
  local want got
  want=$("${CTR[@]}" images ls | awk -v i="$PRIVATE_IMAGE" '$1 == i {print $3}')
  got=$(auth_curl -fsS -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$AUTH_REGISTRY/v2/cloudmgr/busybox/manifests/private" | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}')
  [ -n "$want" ] && [ "$want" = "$got" ] || die "registry has $PRIVATE_IMAGE at '$got', expected '$want'"
  log "pushed $PRIVATE_IMAGE ($got); login in $AREG/credentials"
}

# cleanup_probe ID: removes what a failed probe run may have left.
cleanup_probe() {
  "${CTR[@]}" tasks kill -s SIGKILL "$1" >/dev/null 2>&1 || true
  "${CTR[@]}" tasks delete -f "$1" >/dev/null 2>&1 || true
  "${CTR[@]}" containers delete "$1" >/dev/null 2>&1 || true
}

# image builds the test image, imports it, finds a snapshotter that runs a
# container and pushes the image to the registry.
image() {
  go run ./deploy/imagebuild -o "$TARBALL" -name "$IMAGE" | sed 's/^/deps: /'
  "${CTR[@]}" images import --no-unpack "$TARBALL" >/dev/null
  local sn out id chosen=""
  for sn in ${CLOUDMGR_SNAPSHOTTERS:-overlayfs native}; do
    id=probe-$sn-$$
    if out=$(timeout 60 "${CTR[@]}" run --rm --snapshotter "$sn" --runc-root "$CD/runc" --fifo-dir "$CD/fifo" \
      "$IMAGE" "$id" echo cloudmgr-ok 2>&1) && [ "$out" = cloudmgr-ok ]; then
      chosen=$sn
      break
    fi
    log "snapshotter $sn cannot run a container here: $out"
    cleanup_probe "$id"
  done
  [ -n "$chosen" ] || { tail -n 30 "$CD/containerd.log" >&2; die "no snapshotter runs a container (see $CD/containerd.log)"; }
  echo "$chosen" >"$CD/snapshotter"
  log "snapshotter $chosen runs containers (recorded in $CD/snapshotter)"

  push_verified "$IMAGE" "$TARBALL"
}

# push_verified REF TARBALL: pushes the imported REF (in repository
# cloudmgr/busybox of $REGISTRY) and checks that the registry serves its
# manifest digest under the tag.
push_verified() {
  "${CTR[@]}" images push --plain-http "$1" >/dev/null
  local want got
  want=$("${CTR[@]}" images ls | awk -v i="$1" '$1 == i {print $3}')
  got=$(curl -fsS -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/cloudmgr/busybox/manifests/${1##*:}" | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}')
  [ -n "$want" ] && [ "$want" = "$got" ] || die "registry has $1 at '$got', expected '$want'"
  log "pushed $1 ($got); tarball $2"
}

# image_v2 builds and pushes the second version of the test image: the
# same files plus /etc/cloudmgr-release holding "v2", so another digest.
image_v2() {
  go run ./deploy/imagebuild -o "$TARBALL_V2" -name "$IMAGE_V2" -release v2 | sed 's/^/deps: /'
  "${CTR[@]}" images import --no-unpack "$TARBALL_V2" >/dev/null
  push_verified "$IMAGE_V2" "$TARBALL_V2"
}

LV=$RUN/libvirt
LV_SOCK=$LV/libvirt-sock
LV_URI="qemu:///system?socket=$LV_SOCK"
LV_POOL=cloudmgr
QEMU_CONF=/etc/libvirt/qemu.conf
QEMU_MARKER="# cloudmgr deploy/deps.sh"
VIRSH=(virsh -q -c "$LV_URI")

libvirtd_ready() { timeout 5 "${VIRSH[@]}" uri >/dev/null 2>&1; }
virtlogd_ready() { [ -S /run/libvirt/virtlogd-sock ]; }

# qemu_conf writes /etc/libvirt/qemu.conf when it is ours to write (see the
# header); status 0 when it changed.
qemu_conf() {
  if [ -f "$QEMU_CONF" ] && ! grep -qxF "$QEMU_MARKER" "$QEMU_CONF"; then
    if grep -qv '^[[:space:]]*\(#.*\)\?$' "$QEMU_CONF"; then
      log "$QEMU_CONF is not ours (no '$QEMU_MARKER' line): left as it is"
      return 1
    fi
    cp -n "$QEMU_CONF" "$QEMU_CONF.dist"
  fi
  mkdir -p "$(dirname "$QEMU_CONF")"
  write_if_changed "$QEMU_CONF" <<EOF
$QEMU_MARKER
# (Delete the line above to keep your own settings: deps.sh then leaves
# this file alone.)
# QEMU runs as root, so that it reads kernels, initrds and logs anywhere;
# serial and stdio output go straight to files, so no virtlogd is needed.
user = "root"
group = "root"
stdio_handler = "file"
EOF
}

start_libvirt() {
  command -v libvirtd >/dev/null && command -v virsh >/dev/null || die "libvirtd and virsh are missing: run make setup"
  id libvirt-qemu >/dev/null 2>&1 || useradd -r -M -U -s /usr/sbin/nologin -d /var/lib/libvirt libvirt-qemu
  mkdir -p /var/log/libvirt /var/run/libvirt "$LV/pool"
  chmod 700 "$LV"
  local changed=no
  qemu_conf && changed=yes || true
  if ! grep -q '^[[:space:]]*stdio_handler[[:space:]]*=[[:space:]]*"file"' "$QEMU_CONF"; then
    if ! pid_of "$LV/virtlogd.pid" virtlogd >/dev/null && virtlogd_ready; then
      log "virtlogd already runs (not ours)"
    else
      ensure_daemon virtlogd "$LV/virtlogd.pid" "$LV/virtlogd.log" no virtlogd_ready -- virtlogd
    fi
  fi
  write_if_changed "$LV/libvirtd.conf" <<EOF && changed=yes || true
# Written by deploy/deps.sh: the project's libvirtd, reached only through
# its private socket in $LV (no TCP, no auth, owner only).
unix_sock_dir = "$LV"
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:stderr"
EOF
  ensure_daemon libvirtd "$LV/libvirtd.pid" "$LV/libvirtd.log" "$changed" libvirtd_ready \
    -- libvirtd -f "$LV/libvirtd.conf" -p "$LV/libvirtd.own.pid"
  # The storage pool providers/libvirt keeps kernels, initrds and config
  # drives in (persistent, started, autostarted).
  if ! "${VIRSH[@]}" pool-info "$LV_POOL" >/dev/null 2>&1; then
    "${VIRSH[@]}" pool-define-as "$LV_POOL" dir --target "$LV/pool" >/dev/null
  fi
  if ! "${VIRSH[@]}" pool-dumpxml "$LV_POOL" | grep -qF "<path>$LV/pool</path>"; then
    # Pool definitions live in the system's libvirt config, shared by
    # every checkout: another checkout's definition is replaced (its
    # files stay where they are).
    log "libvirt pool $LV_POOL pointed at another directory; redefining it at $LV/pool"
    "${VIRSH[@]}" pool-destroy "$LV_POOL" >/dev/null 2>&1 || true
    "${VIRSH[@]}" pool-undefine "$LV_POOL" >/dev/null
    "${VIRSH[@]}" pool-define-as "$LV_POOL" dir --target "$LV/pool" >/dev/null
  fi
  if ! "${VIRSH[@]}" pool-dumpxml "$LV_POOL" | grep -qF "<path>$LV/pool</path>"; then
    die "libvirt pool $LV_POOL exists with another directory than $LV/pool: virsh -c '$LV_URI' pool-undefine $LV_POOL"
  fi
  if [ "$("${VIRSH[@]}" pool-info "$LV_POOL" | awk '$1 == "State:" {print $2}')" != running ]; then
    "${VIRSH[@]}" pool-build "$LV_POOL" >/dev/null 2>&1 || true
    "${VIRSH[@]}" pool-start "$LV_POOL" >/dev/null
  fi
  "${VIRSH[@]}" pool-autostart "$LV_POOL" >/dev/null
  echo "$LV_URI" >"$LV/uri"
  log "libvirtd ready: $LV_URI (pool $LV_POOL in $LV/pool)"
}

case ${1:-start} in
start)
  start_libvirt
  start_containerd
  start_registry
  start_auth_registry
  image
  image_v2
  private_image
  log "ready: containerd socket $CD/containerd.sock, registry http://$REGISTRY, images $IMAGE and $IMAGE_V2"
  log "ready: registry with login http://$AUTH_REGISTRY ($AREG/credentials), image $PRIVATE_IMAGE"
  log "stop them with: make deps-stop"
  ;;
stop)
  stop_daemon libvirtd "$LV/libvirtd.pid" libvirtd
  stop_daemon virtlogd "$LV/virtlogd.pid" virtlogd
  stop_daemon docker-registry-auth "$AREG/registry.pid" docker-registry
  stop_daemon docker-registry "$REG/registry.pid" docker-registry
  stop_daemon containerd "$CD/containerd.pid" containerd
  ;;
start-libvirtd)
  # Tests that stop libvirtd (test.KillLibvirtd) bring it back with this.
  start_libvirt
  ;;
*) die "usage: $0 [start|stop|start-libvirtd]" ;;
esac
