#!/usr/bin/env bash
# Starts cloudd (embedded etcd) under a project-owned directory, applies the
# example manifests and shows the result. Safe to run again.
set -euo pipefail
BIN=${1:-bin}; RUN=${2:-.run}; LISTEN=${3:-127.0.0.1:16443}
mkdir -p "$RUN"
DATA="$RUN/cloudd"
CONFIG="$DATA/admin.yaml"
export CLOUDCTL_CONFIG="$CONFIG"

if [ -f "$RUN/cloudd.pid" ] && kill -0 "$(cat "$RUN/cloudd.pid")" 2>/dev/null; then
  echo "demo: cloudd already running (pid $(cat "$RUN/cloudd.pid"))"
else
  echo "demo: starting cloudd on https://$LISTEN with data in $DATA (log: $RUN/cloudd.log)"
  "$BIN/cloudd" --data-dir "$DATA" --listen "$LISTEN" --all-in-one \
    --containerd "$RUN/containerd/containerd.sock" >"$RUN/cloudd.log" 2>&1 &
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
echo
echo "demo: cloudd keeps running. Try:  CLOUDCTL_CONFIG=$CONFIG $BIN/cloudctl get pods -A"
echo "demo: stop it with: make demo-stop"
