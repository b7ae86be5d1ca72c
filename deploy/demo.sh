#!/usr/bin/env bash
# Starts cloudd (embedded etcd) under a project-owned directory, applies the
# example manifests and shows the result: pods on the in-process node, then
# the IaaS layer on the project's libvirtd (a node pool of one QEMU VM that
# joins as a node and runs a pod, and a tenant VM). Safe to run again.
#
#   demo.sh BIN RUN LISTEN [DOMAIN-TYPE]   start, or go on with, the demo
#   demo.sh BIN RUN stop                   delete the demo's VMs, stop cloudd
set -euo pipefail
BIN=${1:-bin}; RUN=${2:-.run}; LISTEN=${3:-127.0.0.1:16443}; DOMAIN_TYPE=${4:-qemu}
mkdir -p "$RUN"
DATA="$RUN/cloudd"
CONFIG="$DATA/admin.yaml"
export CLOUDCTL_CONFIG="$CONFIG"

running() { [ -f "$RUN/cloudd.pid" ] && kill -0 "$(cat "$RUN/cloudd.pid")" 2>/dev/null; }

if [ "$LISTEN" = stop ]; then
  if running; then
    # VMs outlive cloudd: delete the demo's first, through it.
    if "$BIN/cloudctl" get nodepool web >/dev/null 2>&1 || "$BIN/cloudctl" get vm db -n demo >/dev/null 2>&1; then
      echo "demo: deleting the demo's node pool and VM"
      "$BIN/cloudctl" nodepool delete web >/dev/null 2>&1 || true
      "$BIN/cloudctl" vm delete db -n demo >/dev/null 2>&1 || true
      for _ in $(seq 1 120); do
        [ -z "$("$BIN/cloudctl" get machines --no-headers 2>/dev/null)" ] && ! "$BIN/cloudctl" get vm db -n demo >/dev/null 2>&1 && break
        sleep 1
      done
    fi
    kill "$(cat "$RUN/cloudd.pid")" && echo "cloudd stopped"
  else
    echo "cloudd is not running"
  fi
  rm -f "$RUN/cloudd.pid"
  # Pod network namespaces are bind mounts: release those of the demo node.
  awk '{print $2}' /proc/mounts | grep "^$(cd "$RUN" && pwd)/cloudd/node/runtime/netns/" | xargs -r -n1 umount || true
  exit 0
fi

if running; then
  echo "demo: cloudd already running (pid $(cat "$RUN/cloudd.pid"))"
else
  echo "demo: starting cloudd on https://$LISTEN with data in $DATA (log: $RUN/cloudd.log)"
  "$BIN/cloudd" --data-dir "$DATA" --listen "$LISTEN" --all-in-one \
    --containerd "$RUN/containerd/containerd.sock" \
    --node-image-dir "$RUN/nodeimage" --libvirt-pool-dir "$RUN/libvirt/pool" --libvirt-domain-type "$DOMAIN_TYPE" \
    >"$RUN/cloudd.log" 2>&1 &
  echo $! >"$RUN/cloudd.pid"
  for _ in $(seq 1 150); do
    if [ -f "$CONFIG" ] && curl -fsS --cacert "$DATA/pki/ca.crt" "https://$LISTEN/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$(cat "$RUN/cloudd.pid")" 2>/dev/null; then echo "demo: cloudd exited:"; cat "$RUN/cloudd.log"; exit 1; fi
    sleep 0.2
  done
  curl -fsS --cacert "$DATA/pki/ca.crt" "https://$LISTEN/readyz" >/dev/null || { echo "demo: cloudd not ready"; cat "$RUN/cloudd.log"; exit 1; }
fi

set -x
"$BIN/cloudctl" version
"$BIN/cloudctl" apply -f examples/
"$BIN/cloudctl" apply -f examples/local-node/
"$BIN/cloudctl" get nodes -o wide
{ set +x; } 2>/dev/null
# The scheduler places hello and web on the in-process node; wait until both run.
for pod in hello web; do
  for _ in $(seq 1 100); do
    phase=$("$BIN/cloudctl" get pod "$pod" -n demo -o json | sed -n 's/.*"phase": *"\([A-Za-z]*\)".*/\1/p' | head -1)
    [ "$phase" = Running ] && break
    sleep 0.3
  done
  echo "demo: pod $pod is ${phase:-unknown}"
done
set -x
"$BIN/cloudctl" get namespaces
"$BIN/cloudctl" get pods -A -o wide
"$BIN/cloudctl" describe pod web -n demo
"$BIN/cloudctl" describe pod too-big -n demo
[ -f "$RUN/team-a.yaml" ] || "$BIN/cloudctl" tenant create team-a --write-config "$RUN/team-a.yaml"
"$BIN/cloudctl" --config "$RUN/team-a.yaml" get pods
{ set +x; } 2>/dev/null

# The IaaS layer: the project's libvirtd as hypervisor "local", a node pool
# of one QEMU VM that boots, joins as a node and runs a pod, and a tenant VM.
echo
echo "demo: IaaS: hypervisor local is the project's libvirtd ($DOMAIN_TYPE domains)"
set -x
"$BIN/cloudctl" get hypervisor local >/dev/null 2>&1 || "$BIN/cloudctl" hypervisor add local --uri "$(cat "$RUN/libvirt/uri")" --cpu-ratio 4
"$BIN/cloudctl" apply -f examples/iaas/nodepool.yaml
{ set +x; } 2>/dev/null
# wait_for WHAT SECONDS CMD...: runs CMD every second until it succeeds,
# printing the machines' table when a machine's phase or node changes.
wait_for() {
  local what=$1 secs=$2 last="" now
  shift 2
  echo "demo: waiting up to ${secs}s for $what"
  for _ in $(seq 1 "$secs"); do
    "$@" && return 0
    now=$("$BIN/cloudctl" get machines 2>/dev/null || true)
    # Printed when a phase or node changes (not the AGE column).
    if [ "$(echo "$now" | awk '{$NF=""; print}')" != "$last" ]; then
      echo "$now" | sed 's/^/  /'
      last=$(echo "$now" | awk '{$NF=""; print}')
    fi
    sleep 1
  done
  echo "demo: $what: not within ${secs}s; see $RUN/cloudd.log and: $BIN/cloudctl describe nodepool web"
  return 1
}
pool_ready() { "$BIN/cloudctl" get nodepool web -o json | grep -q '"readyNodes": *1'; }
pod_running() { "$BIN/cloudctl" get pod on-vm -n demo -o json | grep -q '"phase": *"Running"'; }
vm_booted() { "$BIN/cloudctl" vm console-log db -n demo 2>/dev/null | grep -q "hello from the user-data script"; }
wait_for "the pool's VM to boot and join as a node" 300 pool_ready
set -x
"$BIN/cloudctl" get hypervisors
"$BIN/cloudctl" get machines
"$BIN/cloudctl" get nodes -o wide
"$BIN/cloudctl" apply -f examples/iaas/pod-on-pool.yaml
{ set +x; } 2>/dev/null
wait_for "pod on-vm to run in the VM's containerd" 180 pod_running
set -x
"$BIN/cloudctl" get pod on-vm -n demo -o wide
"$BIN/cloudctl" logs on-vm -n demo
"$BIN/cloudctl" apply -f examples/iaas/vm.yaml
{ set +x; } 2>/dev/null
wait_for "tenant VM db to boot and run its user-data script" 180 vm_booted
set -x
"$BIN/cloudctl" get vm -n demo
"$BIN/cloudctl" vm console-log db -n demo | tail -n 6
{ set +x; } 2>/dev/null
echo
echo "demo: the VMs and cloudd keep running. Scale the pool: $BIN/cloudctl nodepool scale web --replicas 2"
echo "demo: cloudd keeps running. Try:  CLOUDCTL_CONFIG=$CONFIG $BIN/cloudctl get pods -A"
echo "demo: stop it (the demo's VMs first) with: make demo-stop"
