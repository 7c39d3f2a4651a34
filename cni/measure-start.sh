#!/bin/bash
# Start-to-exit time of the installed plugin, median of N runs, for each archive mode (none = the JDK's default
# CDS only, cds = dynamic AppCDS, aot = JDK 25 AOT cache): VERSION, and a full ADD (host-local + node attach +
# netns setup) against the test sources' FakeNode, each ADD into a fresh ferry-cni-* namespace. Needs root and a
# built module (mvn -pl cni -am verify). Not a test: the machine's load shows in the figures.
# Usage: cni/measure-start.sh [N]
set -euo pipefail
n="${1:-10}"
src="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
java="$JAVA_HOME/bin/java"
work="$(mktemp -d /tmp/ferry-cni-measure.XXXXXX)"
node_pid=""
namespaces=()
cleanup() {
  set +e
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/node.in"
"$java" -cp "$src/target/test-classes:$src/target/ferry-cni.jar" dev.ferry.cni.FakeNode \
  "$work/node.sock" 10.244.62.1 1450 < "$work/node.in" &
node_pid=$!
exec 9> "$work/node.in"
for _ in $(seq 50); do [ -S "$work/node.sock" ] && break; sleep 0.1; done

conf() {
  cat <<JSON
{"cniVersion":"1.1.0","name":"ferry-measure","type":"ferry","socket":"$work/node.sock","stateDir":"$work/state",
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.62.0/24","gateway":"10.244.62.1"}]],
 "dataDir":"$work/ipam"}}
JSON
}
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1e6}'; }

for mode in none cds aot; do
  "$src/install.sh" "--$mode" "$work/bin-$mode" > /dev/null 2>&1
  plugin="$work/bin-$mode/ferry"
  : > "$work/version.$mode"; : > "$work/add.$mode"
  for i in $(seq "$n"); do
    t0=$(now); echo '{"cniVersion":"1.1.0"}' | CNI_COMMAND=VERSION "$plugin" > /dev/null; t1=$(now)
    echo $((t1 - t0)) >> "$work/version.$mode"
  done
  for i in $(seq "$n"); do
    ns="ferry-cni-m$i"; ip netns add "$ns"; namespaces+=("$ns")
    env=(CNI_CONTAINERID="m$i" CNI_NETNS="/var/run/netns/$ns" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni)
    t0=$(now); conf | env "${env[@]}" CNI_COMMAND=ADD "$plugin" > "$work/out"; t1=$(now)
    grep -q '"ips"' "$work/out" || { echo "ADD failed: $(cat "$work/out")" >&2; exit 1; }
    echo $((t1 - t0)) >> "$work/add.$mode"
    conf | env "${env[@]}" CNI_COMMAND=DEL "$plugin" > /dev/null
    ip netns del "$ns"
  done
  printf '%-5s VERSION median %6s ms   ADD median %6s ms   (n=%d)\n' "$mode" \
    "$(median < "$work/version.$mode")" "$(median < "$work/add.$mode")" "$n"
done
: > "$work/hl"
for i in $(seq "$n"); do
  t0=$(now); echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION /usr/lib/cni/host-local > /dev/null; t1=$(now)
  echo $((t1 - t0)) >> "$work/hl"
done
printf 'for scale: host-local VERSION median %s ms\n' "$(median < "$work/hl")"
