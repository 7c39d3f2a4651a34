#!/usr/bin/env bash
# Smoke test of the built image (root, podman): loads deploy/image/target/ferry-image.tar, runs `ferry --version`
# in it with the AppCDS archive required (-Xshare:on fails if the archive does not match), runs install-cni into
# a temporary directory and, in a private mount namespace where that directory is /opt/cni/bin (the path the
# plugin's AOT cache was built for), runs the installed plugin's VERSION with the cache required
# (-XX:AOTMode=on) and with nothing from the host on its PATH but /bin/sh's tools.
# podman runs with runc and lowered rlimits: crun refuses hybrid cgroup hierarchies, and without
# CAP_SYS_RESOURCE (a sandbox) podman's default limits cannot be set.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
archive="${1:-$here/target/ferry-image.tar}"
tag="$(tar -xOf "$archive" index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])')"
runtime=(); command -v runc > /dev/null && runtime=(--runtime runc)
run=(podman "${runtime[@]}" run --rm --network none --ulimit nofile=8192:8192 --ulimit nproc=8192:8192)
dir="$(mktemp -d /tmp/ferry-image-smoke.XXXXXX)"
trap 'rm -rf "$dir"' EXIT

podman load -q -i "$archive" > /dev/null
version="$("${run[@]}" -e FERRY_JAVA_OPTS=-Xshare:on "localhost/$tag" --version)"
[[ "$version" == "ferry ${tag##*:}"* ]] || { echo "smoke: ferry --version said '$version'" >&2; exit 1; }
echo "ok: $version (AppCDS archive in use)"

"${run[@]}" -v "$dir:/host/opt/cni/bin" --entrypoint /opt/ferry/bin/install-cni "localhost/$tag" > /dev/null
again="$("${run[@]}" -v "$dir:/host/opt/cni/bin" --entrypoint /opt/ferry/bin/install-cni "localhost/$tag")"
[[ "$again" == *"already"* ]] || { echo "smoke: install-cni copied the same build again: $again" >&2; exit 1; }
answer="$(unshare --mount --propagation private sh -c '
  mount -t tmpfs ferry-smoke /opt && mkdir -p /opt/cni/bin && mount --bind "$1" /opt/cni/bin
  echo "{\"cniVersion\":\"1.1.0\"}" | env -i CNI_COMMAND=VERSION PATH=/usr/bin:/bin \
    /opt/cni/bin/ferry-cni.d/runtime/bin/java -XX:AOTCache=/opt/cni/bin/ferry-cni.d/ferry-cni.aot -XX:AOTMode=on \
    -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xms8m -Xmx64m -Xss512k -XX:-UsePerfData \
    -cp /opt/cni/bin/ferry-cni.d/ferry-cni.jar dev.ferry.cni.CniPlugin
  echo "{\"cniVersion\":\"1.1.0\"}" | env -i CNI_COMMAND=VERSION /opt/cni/bin/ferry' sh "$dir")"
[[ "$(grep -c '"supportedVersions"' <<< "$answer")" == 2 ]] || { echo "smoke: CNI VERSION said '$answer'" >&2; exit 1; }
echo "ok: the installed CNI plugin answers VERSION with its own runtime and AOT cache ($(du -sh "$dir" | cut -f1))"
