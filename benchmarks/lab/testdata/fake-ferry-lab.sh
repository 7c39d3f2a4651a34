#!/usr/bin/env bash
# TEST STUB, NOT FERRY. It implements the `ferry lab` contract of benchmarks/lab/README.md with the kernel
# topology, so that test_labtool.py can drive bench-lab.sh's ferry column end to end before ferry's own lab
# exists. Its figures are kernel figures and are never reported as ferry's.
#
#   fake-ferry-lab.sh lab up --help
#   fake-ferry-lab.sh lab up --prefix ferry-bench- --manifests FILE
#   fake-ferry-lab.sh lab apply --prefix ferry-bench- --manifests FILE
#   fake-ferry-lab.sh lab down --prefix ferry-bench-
# Every call is appended to $FAKE_FERRY_LOG (one line each) so the test can check what the bench asked for.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export FERRY_BENCH_STATE="${FERRY_BENCH_STATE:-/run/ferry-bench}-fake"
log="${FAKE_FERRY_LOG:-/dev/null}"

[[ "${1:-}" == lab ]] || { echo "fake-ferry-lab: only 'lab' is implemented" >&2; exit 2; }
cmd="${2:-}"; shift 2
prefix="" manifests="" help=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) prefix="$2"; shift ;;
    --manifests) manifests="$2"; shift ;;
    --help) help=1 ;;
    *) echo "fake-ferry-lab: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $help == 1 ]] && exit 0
[[ "$prefix" == ferry-bench- ]] || { echo "fake-ferry-lab: the bench must pass --prefix ferry-bench-" >&2; exit 2; }

selector() {   # the bench's base set has the udp-echo Service; a scaled set is counted
  if grep -q "name: udp-echo" "$1"; then echo base; else grep -c "^kind: Service$" "$1"; fi
}

case "$cmd" in
  up)
    echo "up $(selector "$manifests")" >>"$log"
    "$HERE/bench-lab.sh" up kernel --no-servers
    ;;
  apply)
    sel="$(selector "$manifests")"
    echo "apply $sel" >>"$log"
    for node in node1 node2; do
      python3 "$HERE/labtool.py" iptables --node "$node" --services "$sel" | ip netns exec "${prefix}$node" iptables-restore
    done
    ;;
  down)
    echo "down" >>"$log"
    for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix" || true); do ip netns del "$ns"; done
    ;;
  *) echo "fake-ferry-lab: unknown command $cmd" >&2; exit 2 ;;
esac
