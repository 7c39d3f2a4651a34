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
# each run appends "wall-seconds cpu-seconds" (cpu = user + sys of the plugin and every process it starts; it
# moves less than wall time when other work shares the cores)
TIMEFORMAT='%R %U %S'
timed() { { time "$@" > "$work/out" 2>/dev/null; } 2>&1 | awk '{print $1, $2 + $3}'; }
median() { sort -n | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.1f", m*1000}'; }

for mode in none cds aot; do
  "$src/install.sh" "--$mode" "$work/bin-$mode" > /dev/null 2>&1
  plugin="$work/bin-$mode/ferry"
  : > "$work/version.$mode"; : > "$work/add.$mode"
  for i in $(seq "$n"); do
    echo '{"cniVersion":"1.1.0"}' > "$work/in"
    CNI_COMMAND=VERSION timed "$plugin" < "$work/in" >> "$work/version.$mode"
  done
  for i in $(seq "$n"); do
    ns="ferry-cni-m$i"; ip netns add "$ns"; namespaces+=("$ns")
    env=(CNI_CONTAINERID="m$i" CNI_NETNS="/var/run/netns/$ns" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni)
    conf > "$work/in"
    timed env "${env[@]}" CNI_COMMAND=ADD "$plugin" < "$work/in" >> "$work/add.$mode"
    grep -q '"ips"' "$work/out" || { echo "ADD failed: $(cat "$work/out")" >&2; exit 1; }
    conf | env "${env[@]}" CNI_COMMAND=DEL "$plugin" > /dev/null
    ip netns del "$ns"
  done
  printf '%-5s VERSION median %6s ms wall %6s ms cpu   ADD median %6s ms wall %6s ms cpu   (n=%d)\n' "$mode" \
    "$(cut -d' ' -f1 "$work/version.$mode" | median)" "$(cut -d' ' -f2 "$work/version.$mode" | median)" \
    "$(cut -d' ' -f1 "$work/add.$mode" | median)" "$(cut -d' ' -f2 "$work/add.$mode" | median)" "$n"
done
: > "$work/hl"
echo '{"cniVersion":"1.0.0"}' > "$work/in"
for i in $(seq "$n"); do
  CNI_COMMAND=VERSION timed /usr/lib/cni/host-local < "$work/in" >> "$work/hl"
done
printf 'for scale: host-local VERSION median %s ms wall; load average %s\n' "$(cut -d' ' -f1 "$work/hl" | median)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
