#!/usr/bin/env bash
# Replay throughput end to end, in-process (JVM start excluded): generates a mix capture with
# `ferry scenario --kind mix` once, times `ferry replay --node node-a` over it several times (read, graph,
# write), prints frames/s median [min..max], times `tcpdump -r IN -w OUT` on the same file for scale (skipped
# when tcpdump is absent), and writes benchmarks/results/<UTC date>-replay.json.
#
#   benchmarks/replay-bench.sh [frames] [flows] [runs] [gap-ns] [frames-per-timestamp] [warmup-runs]
#   defaults:                   1000000  10000   5      1000     1                      2
#   benchmarks/replay-bench.sh 100000 1000 1 1000 1 1     a short smoke
# Warmup runs (the JIT compiling the graph) are printed and left out of the figures.
#
# Options: --no-build (use target/benchmarks.jar as it is).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
if [[ -z "${JAVA_HOME:-}" && -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]]; then
  export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
jar="$here/target/benchmarks.jar"
build=1
if [[ "${1:-}" == "--no-build" ]]; then build=0; shift; fi
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,13p' "$0"; exit 0; fi
if [[ $build -eq 1 ]]; then
  (cd "$root" && mvn -q -pl benchmarks -am package -DskipTests)
fi
[[ -f "$jar" ]] || { echo "replay-bench.sh: $jar missing" >&2; exit 2; }
exec "$java" --enable-native-access=ALL-UNNAMED -Xms1g -Xmx1g -cp "$jar" dev.ferry.bench.ReplayBench \
  "$root/examples/two-node/cluster" "$here/results" "$@"
