#!/usr/bin/env bash
# Compares two JMH results files benchmark by benchmark: old, new, new/old with the combined error bar, and a
# verdict (better / WORSE / ~ within noise / ? no error bar). Warns when the .machine.json files beside them
# name a different CPU, core count, JDK or kernel. Two lab benchmark reports (lab-*.json) are compared metric by
# metric instead, lower being better for latency and idle CPU (benchmarks/lab/labtool.py compare).
#
#   benchmarks/compare.sh benchmarks/results/OLD.json benchmarks/results/NEW.json
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${JAVA_HOME:-}" && -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]]; then
  export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
jar="$here/target/benchmarks.jar"
if [[ $# -ne 2 ]]; then
  sed -n '2,7p' "$0" >&2
  exit 2
fi
if grep -q '"schema": "ferry-lab-bench/' "$1" && grep -q '"schema": "ferry-lab-bench/' "$2"; then
  exec "${PYTHON:-python3}" "$here/lab/labtool.py" compare "$1" "$2"
fi
if [[ ! -f "$jar" ]]; then
  (cd "$here/.." && mvn -q -pl benchmarks -am package -DskipTests)
fi
exec "$java" -cp "$jar" dev.ferry.bench.Compare "$1" "$2"
