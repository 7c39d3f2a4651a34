#!/usr/bin/env bash
# Runs the JMH suite (or a subset) with the gc profiler, writes the results and a machine description under
# benchmarks/results/, prints a summary, and fails when a hot-path benchmark allocates.
#
#   benchmarks/run.sh                      the whole suite, with each class's own forks and iterations
#   benchmarks/run.sh L3Graph 'Lpm.*'      benchmarks whose name matches any of the regexes
#   benchmarks/run.sh --smoke              one fork, one 1 s warmup and one 1 s measurement, a small subset (CI)
#   benchmarks/run.sh --smoke Checksum     the same settings on a subset of your choice
#   benchmarks/run.sh L3Graph -- -f 1 -p frameSize=64    everything after -- goes to JMH as it is
#
# Options: --no-build (use target/benchmarks.jar as it is), --out FILE (results file name),
#          --cpu LIST (run JMH and its forks under taskset -c LIST, e.g. 0 or 1: on a VM whose vCPUs run at
#          different speeds, measure each one; see README, session 8).
# Output:  benchmarks/results/<UTC date>-<short sha>[-dirty][-smoke].json  (JMH -rf json)
#          benchmarks/results/<same>.machine.json                          (CPU, cores, JDK, kernel, load)
# Exit:    0 pass; 1 a hot-path benchmark allocates (gc check); 2 usage; 3 JMH failed; other: build failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
if [[ -z "${JAVA_HOME:-}" && -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]]; then
  export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
# JMH's runner itself reads through sun.misc.Unsafe; JDK 25 only warns, so allow it and keep the output clean
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
host_jvm=(--sun-misc-unsafe-memory-access=allow)
jar="$here/target/benchmarks.jar"

# the CI subset: one of each kind, at its smallest parameter
smoke_set=('L3GraphBenchmark.forward' 'ParseClassifyBenchmark' 'LpmBenchmark' 'ChecksumBenchmark.ip4Header'
  'RingHopBenchmark')
smoke_params=(-p frameSize=64 -p routes=1000 -p ring=jctools)

smoke=0
build=1
out=""
cpu=""
patterns=()
jmh_extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --no-build) build=0 ;;
    --out) out="$2"; shift ;;
    --cpu) cpu="$2"; shift ;;
    --) shift; jmh_extra=("$@"); break ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) patterns+=("$1") ;;
  esac
  shift
done

stale() {
  [[ ! -f "$jar" ]] && return 0
  [[ -n "$(find "$root" \( -name target -o -name .git -o -name results \) -prune -o \
    \( -path '*/src/main/*' -o -name pom.xml \) -newer "$jar" -print -quit)" ]]
}
if [[ $build -eq 1 ]] && stale; then
  echo "run.sh: building benchmarks.jar" >&2
  (cd "$root" && mvn -q -pl benchmarks -am package -DskipTests)
fi
[[ -f "$jar" ]] || { echo "run.sh: $jar missing (build with: mvn -q -pl benchmarks -am package)" >&2; exit 2; }

sha="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo nogit)"
if [[ "$sha" != nogit ]] && ! git -C "$root" diff --quiet HEAD -- . ':(exclude)benchmarks/results' 2>/dev/null; then
  sha="$sha-dirty"
fi
jmh_opts=()
if [[ $smoke -eq 1 ]]; then
  jmh_opts=(-f 1 -wi 1 -w 1s -i 1 -r 1s)
  # a smoke run proves the benchmarks start; its figures are not results, so a measuring run elsewhere on the
  # machine (JMH's /tmp/jmh.lock) must not fail it
  host_jvm+=(-Djmh.ignoreLock=true)
  if [[ ${#patterns[@]} -eq 0 ]]; then
    patterns=("${smoke_set[@]}")
    jmh_opts+=("${smoke_params[@]}")
  fi
fi
if [[ -z "$out" ]]; then
  suffix=""
  if [[ $smoke -eq 1 ]]; then suffix="-smoke"; fi
  out="$here/results/$(date -u +%Y%m%dT%H%M%SZ)-$sha$suffix.json"
fi
mkdir -p "$(dirname "$out")"
machine="${out%.json}.machine.json"

# JMH takes one regex list; an empty list would run everything, which is what no pattern means
"$java" "${host_jvm[@]}" -cp "$jar" dev.ferry.bench.MachineInfo "$machine" "commit=$sha" "smoke=$smoke" \
  "patterns=${patterns[*]:-all}" "cpu=${cpu:-any}" "jmhArgs=${jmh_opts[*]:-} ${jmh_extra[*]:-}"
echo "run.sh: load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" >&2

pin=()
if [[ -n "$cpu" ]]; then
  pin=(taskset -c "$cpu")
  echo "run.sh: JMH and its forks pinned to CPU $cpu" >&2
fi
if ! "${pin[@]}" "$java" "${host_jvm[@]}" -jar "$jar" "${patterns[@]}" "${jmh_opts[@]}" -prof gc -foe true -rf json -rff "$out" \
  "${jmh_extra[@]}"; then
  echo "run.sh: JMH failed (a benchmark threw, or a fixture found drops or leaks); see above" >&2
  exit 3
fi

echo
echo "results: $out"
echo "machine: $machine"
"$java" "${host_jvm[@]}" -cp "$jar" dev.ferry.bench.Summary "$out"
echo
"$java" "${host_jvm[@]}" -cp "$jar" dev.ferry.bench.AllocationCheck "$out"
