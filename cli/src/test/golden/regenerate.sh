#!/usr/bin/env bash
# Rewrites the golden replay cases' files (in.pcap, cluster, expected.pcap, expected-counters.txt) through the
# same code path the test uses (GoldenReplayTest with -Dferry.golden.regenerate), then shows what changed as
# tshark text, so the change can be reviewed before it is committed.
#
#   cli/src/test/golden/regenerate.sh              # every case
#   cli/src/test/golden/regenerate.sh CASE [CASE]  # some cases
set -euo pipefail
golden="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$golden/../../../.." && pwd)"
cases="all"
if [[ $# -gt 0 ]]; then cases="$(IFS=,; echo "$*")"; fi
if [[ -z "${JAVA_HOME:-}" && -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]]; then
  export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 PATH=/usr/lib/jvm/temurin-25-jdk-amd64/bin:$PATH
fi

cd "$root"
mvn -q -pl cli -am verify -Dtest='GoldenReplayTest' -Dsurefire.failIfNoSpecifiedTests=false \
  -Dferry.golden.regenerate="$cases"

echo "golden: files changed (git status):"
git status --short -- "$golden"
if ! command -v tshark > /dev/null; then
  echo "golden: tshark is not installed; review the pcaps with another dissector before committing"
  exit 0
fi
# tshark -V of HEAD's expected.pcap against the new one (diff -u keeps only the changed parts), per changed case
dissect() {
  tshark -n -V -r "$1" -d udp.port==8472,vxlan -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
    -o udp.check_checksum:TRUE 2> /dev/null | grep -v -e "Epoch Time" -e "Time delta" || true
}
git diff --name-only -- "$golden" | { grep '/expected\.pcap$' || true; } | while read -r path; do
  old="$(mktemp)"
  git show "HEAD:$path" > "$old"
  echo "=== $path"
  diff -u --label "HEAD:$path" --label "$path" <(dissect "$old") <(dissect "$path") || true
  rm -f "$old"
done
git diff --stat -- "$golden"
git diff -- "$golden"   # counters and cluster files as text; pcaps show as "Binary files differ"
echo "golden: review the diffs above (and git diff), then commit the expected files with the change that caused them"
