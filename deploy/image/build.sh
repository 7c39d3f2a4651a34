#!/usr/bin/env bash
# Builds the ferry container image from this repository with Debian's packages only, as an OCI archive:
#   deploy/image/target/ferry-image.tar        (load with: podman load -i …, or skopeo copy oci-archive:…)
#
# Three layers, ordered so that a code change rebuilds only the top one:
#   1. base     mmdebstrap --variant=essential (no apt) + iproute2, ethtool, kmod, procps: ferry node runs
#               ip, tc, ethtool, modprobe and sysctl when it takes the uplink (HostNetwork.takeUplink)
#   2. runtime  /opt/ferry/runtime: a jlink'd JDK 25 holding only the modules the jars need (jdeps), with its
#               default CDS archive
#   3. app      /opt/ferry/ferry.jar + its AppCDS archive (ferry.jsa), the launcher /opt/ferry/bin/ferry, the CNI
#               plugin bundle /opt/ferry/cni (launcher, jar, AOT cache), /opt/ferry/bin/install-cni and
#               /opt/ferry/bin/ferry-supervise
# Layers 1 and 2 are cached under target/cache by a key of their inputs and carry a fixed timestamp
# (BASE_EPOCH), so they keep their digest across commits; layer 3 and the image config carry
# SOURCE_DATE_EPOCH (default: the last commit's time). Every tar is written sorted, owner 0, fixed mtimes.
# Reproducible except for the two class-data archives in the app layer: two builds from the same jars give the
# same base and runtime layers and the same app files but for ferry.jsa and ferry-cni.aot, which the JDK does
# not write byte for byte the same (so the app layer's digest differs).
#
# Needs root (or unprivileged user namespaces) for mmdebstrap and for the training runs, which see the files at
# the paths they have in the image (a private mount namespace with a tmpfs on /opt): the class-data archives
# record the jar paths. Reaches Debian's mirror (the host's apt sources) and nothing else; build the jars first
# or let this script run Maven (MAVEN_ARGS, default -q -o).
#
# Usage: deploy/image/build.sh [--tag NAME]   (default ferry:0.1.0)
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tag="ferry:0.1.0"
[[ "${1:-}" == "--tag" ]] && { tag="$2"; shift 2; }
[[ $# -eq 0 ]] || { echo "usage: $0 [--tag NAME:VERSION]" >&2; exit 2; }

out="$here/target"
cache="$out/cache"
work="$out/work"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export PATH="$JAVA_HOME/bin:$PATH"
suite="${FERRY_IMAGE_SUITE:-bookworm}"
packages="iproute2,ethtool,kmod,procps"
# the base and runtime layers' timestamp: fixed, so that those layers do not change with every commit
BASE_EPOCH=1735689600   # 2025-01-01
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo "$BASE_EPOCH")}"

for tool in mmdebstrap umoci jlink jdeps strip unshare sha256sum python3; do
  command -v "$tool" > /dev/null || { echo "build.sh: $tool is missing (apt-get install mmdebstrap umoci binutils)" >&2; exit 1; }
done

jar="$repo/cli/target/ferry.jar"
cnijar="$repo/cni/target/ferry-cni.jar"
if [[ ! -f "$jar" || ! -f "$cnijar" ]]; then
  (cd "$repo" && mvn ${MAVEN_ARGS:--q -o} -DskipTests -Dcheckstyle.skip package -pl cli,cni -am)
fi

rm -rf "$work"
mkdir -p "$cache" "$work"

# a layer tar from a staging directory: sorted, numeric owner 0, every mtime = $2, no atime/ctime
layer_tar() {   # DIR EPOCH OUT.tar ENTRIES...
  local dir="$1" epoch="$2" tarfile="$3"; shift 3
  tar -C "$dir" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$tarfile" "$@"
}
key() { sha256sum | cut -c1-16; }

# 1. base ------------------------------------------------------------------------------------------------------
# docs, man pages, locales and gconv (glibc iconv, unused by a JVM) are left out; merged /usr without the
# usrmerge package (which would pull perl)
mmopts=(--variant=essential --include="$packages" --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --skip=output/dev --skip=output/mknod
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*'
  --customize-hook='rm -rf "$1"/var/log/* "$1"/var/cache/* "$1"/var/lib/dpkg/*-old "$1"/etc/machine-id'
  --customize-hook='touch "$1"/etc/machine-id')
base="$cache/base-$(printf '%s\n' "$suite" "${mmopts[@]}" | key).tar"
if [[ ! -f "$base" ]]; then
  echo "build.sh: base layer (mmdebstrap $suite + $packages) ..." >&2
  mkdir -p "$work/base"
  SOURCE_DATE_EPOCH="$BASE_EPOCH" mmdebstrap --quiet "${mmopts[@]}" "$suite" "$work/base/rootfs" > /dev/null
  layer_tar "$work/base/rootfs" "$BASE_EPOCH" "$base.tmp" .
  mv "$base.tmp" "$base"
  rm -rf "$work/base"
fi

# 2. runtime ---------------------------------------------------------------------------------------------------
# jdeps lists java.desktop (java.beans, for Jackson's optional bean support and SnakeYAML's unused bean
# introspector) and java.compiler (Agrona's code generation, build time only): both left out, they are ~12 MB.
mods="$(jdeps --multi-release 25 --ignore-missing-deps --print-module-deps "$jar" "$cnijar" \
  | tr ',' '\n' | grep -vx -e java.desktop -e java.compiler | paste -sd, -)"
jvmid="$("$JAVA_HOME/bin/java" -XshowSettings:properties -version 2>&1 | grep -E 'java.(vm.)?version =' | tr -d ' ')"
jlinkopts=(--add-modules "$mods" --strip-debug --no-header-files --no-man-pages --compress=zip-6
  --generate-cds-archive)
runtime="$cache/runtime-$(printf '%s\n' "$jvmid" "${jlinkopts[@]}" no-nocoops strip-unneeded | key).tar"
if [[ ! -f "$runtime" ]]; then
  echo "build.sh: runtime layer (jlink $mods) ..." >&2
  mkdir -p "$work/rt/opt/ferry"
  jlink "${jlinkopts[@]}" --output "$work/rt/opt/ferry/runtime"
  # the archive for heaps over 32 GB (no compressed oops): ferry never runs with one; without it such a JVM
  # runs without CDS (-Xshare:auto), 14 MB saved
  rm -f "$work/rt/opt/ferry/runtime/lib/server/classes_nocoops.jsa"
  # the native libraries' symbol tables (binutils' strip): libjvm.so 29.8 -> 24.8 MB
  find "$work/rt/opt/ferry/runtime" -name '*.so' -exec strip --strip-unneeded {} +
  layer_tar "$work/rt" "$BASE_EPOCH" "$runtime.tmp" opt
  mv "$runtime.tmp" "$runtime"
  rm -rf "$work/rt"
fi

# 3. app -------------------------------------------------------------------------------------------------------
app="$work/app"
mkdir -p "$app/opt/ferry/bin" "$app/opt/ferry/cni" "$work/rt"
tar -C "$work/rt" -xf "$runtime"                    # the runtime, for the training runs
install -m 0644 "$jar" "$app/opt/ferry/ferry.jar"
install -m 0755 "$here/ferry" "$app/opt/ferry/bin/ferry"
install -m 0755 "$here/install-cni" "$app/opt/ferry/bin/install-cni"
# the DaemonSet runs ferry node under it: the NIC goes back to the kernel whenever ferry exits (packet mode)
install -m 0755 "$repo/deploy/ferry-supervise" "$app/opt/ferry/bin/ferry-supervise"
# the class-data archives check each jar's size and mtime: the jars get their image mtime before training
touch -d "@$SOURCE_DATE_EPOCH" "$app/opt/ferry/ferry.jar"
sha256sum "$jar" "$cnijar" | key > "$app/opt/ferry/cni/VERSION"

# The training runs see the image's paths: /opt/ferry (runtime + app) and, for the CNI plugin, the host path
# it is installed at, /opt/cni/bin (the init container copies the runtime to /opt/cni/bin/ferry-cni.d/runtime).
# ferry.jsa: a dynamic AppCDS archive of a replay of the bundled capture (parsers, graph, NAT, VXLAN, the
# manifest compiler); the launcher uses it with -Xshare:auto, so a mismatch falls back to the default CDS.
train="$(cat <<'SH'
set -eu
mount -t tmpfs ferry-train /opt
mkdir -p /opt/ferry /opt/cni/bin/ferry-cni.d/runtime
mount --bind "$APP/opt/ferry" /opt/ferry
mkdir -p /opt/ferry/runtime
mount --bind "$RT/opt/ferry/runtime" /opt/ferry/runtime
mount --bind "$RT/opt/ferry/runtime" /opt/cni/bin/ferry-cni.d/runtime
FERRY_JAVA_OPTS="-XX:ArchiveClassesAtExit=/opt/ferry/ferry.jsa -Xlog:cds=off -Xlog:cds+dynamic=off" \
  /opt/ferry/bin/ferry replay --cluster "$REPO/examples/two-node/cluster" --node node-a \
  --in "$REPO/examples/two-node/node-a.pcap" --out "$WORK/train.pcap" > "$WORK/train.log"
FERRY_CNI_JAVA=/opt/cni/bin/ferry-cni.d/runtime/bin/java "$REPO/cni/install.sh" --aot /opt/cni/bin > "$WORK/cni.log"
cp -p /opt/cni/bin/ferry /opt/cni/bin/ferry-cni.d/ferry-cni.jar /opt/cni/bin/ferry-cni.d/ferry-cni.aot "$CNI/"
umount /opt/ferry/runtime
rmdir /opt/ferry/runtime
SH
)"
userns=(); [[ "$(id -u)" == 0 ]] || userns=(--user --map-root-user)
APP="$app" RT="$work/rt" REPO="$repo" WORK="$work" CNI="$app/opt/ferry/cni" \
  unshare "${userns[@]}" --mount --propagation private sh -c "$train"
[[ -f "$app/opt/ferry/ferry.jsa" && -f "$app/opt/ferry/cni/ferry-cni.aot" ]] \
  || { echo "build.sh: a training run wrote no archive (see $work/*.log)" >&2; exit 1; }
mkdir -p "$app/opt/ferry/cni/ferry-cni.d"
mv "$app/opt/ferry/cni/ferry-cni.jar" "$app/opt/ferry/cni/ferry-cni.aot" "$app/opt/ferry/cni/ferry-cni.d/"
touch -d "@$SOURCE_DATE_EPOCH" "$app/opt/ferry/cni/ferry-cni.d/ferry-cni.jar"
applayer="$work/app.tar"
layer_tar "$app" "$SOURCE_DATE_EPOCH" "$applayer" opt

# OCI layout -> archive -----------------------------------------------------------------------------------------
oci="$work/oci"
name="${tag%%:*}"; version="${tag##*:}"
created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
based="$(date -u -d "@$BASE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
umoci init --layout "$oci"
umoci new --image "$oci:$version"
umoci raw add-layer --image "$oci:$version" --history.created "$based" \
  --history.created_by "mmdebstrap $suite essential + $packages" "$base"
umoci raw add-layer --image "$oci:$version" --history.created "$based" \
  --history.created_by "jlink $mods" "$runtime"
umoci raw add-layer --image "$oci:$version" --history.created "$created" \
  --history.created_by "ferry.jar, ferry-cni.jar, class-data archives, launchers" "$applayer"
umoci config --image "$oci:$version" --no-history --created "$created" --author "ferry" \
  --architecture amd64 --os linux \
  --config.env "PATH=/opt/ferry/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --config.entrypoint /opt/ferry/bin/ferry --config.workingdir / \
  --config.label "org.opencontainers.image.title=$name" --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.created=$created"
umoci gc --layout "$oci"
# the archive: the layout, sorted, fixed mtimes; the reference name is the full NAME:VERSION so that podman load
# names it that way
python3 - "$oci/index.json" "$tag" <<'PY'
import json, sys
path, tag = sys.argv[1], sys.argv[2]
index = json.load(open(path))
for m in index["manifests"]:
    m.setdefault("annotations", {})["org.opencontainers.image.ref.name"] = tag
json.dump(index, open(path, "w"), separators=(",", ":"), sort_keys=True)
PY
layer_tar "$oci" "$SOURCE_DATE_EPOCH" "$out/ferry-image.tar" oci-layout index.json blobs
appsize="$(stat -c %s "$applayer")"
rm -rf "$work"

manifest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
  <(tar -xOf "$out/ferry-image.tar" index.json))"
printf 'image    %s\narchive  %s (%s MB)\ndigest   %s\nlayers   base %s MB, runtime %s MB, app %s MB (uncompressed)\n' \
  "$tag" "$out/ferry-image.tar" "$(( $(stat -c %s "$out/ferry-image.tar") / 1000000 ))" "$manifest" \
  "$(( $(stat -c %s "$base") / 1000000 ))" "$(( $(stat -c %s "$runtime") / 1000000 ))" \
  "$(( appsize / 1000000 ))"
