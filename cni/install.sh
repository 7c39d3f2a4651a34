#!/bin/bash
# Installs the ferry CNI plugin into a CNI bin directory:
#   DIR/ferry                    the launcher (the CNI "type" is "ferry")
#   DIR/ferry-cni.d/ferry-cni.jar
#   DIR/ferry-cni.d/ferry-cni.aot  AOT cache (JDK 25, -XX:AOTCacheOutput) or
#   DIR/ferry-cni.d/ferry-cni.jsa  dynamic AppCDS archive (-XX:ArchiveClassesAtExit), built by a training run
# Usage: cni/install.sh [--cds|--aot|--none] DIR      (default --aot; build first: mvn -pl cni -am package)
set -euo pipefail
mode=aot
case "${1:-}" in --cds) mode=cds; shift ;; --aot) mode=aot; shift ;; --none) mode=none; shift ;; esac
[ $# -eq 1 ] || { echo "usage: $0 [--cds|--aot|--none] DIR" >&2; exit 2; }
src="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
dest="$1"
jar="$src/target/ferry-cni.jar"
[ -f "$jar" ] || { echo "no $jar: build it first (mvn -pl cni -am package)" >&2; exit 1; }

java=""
for j in "${FERRY_CNI_JAVA:-}" "${JAVA_HOME:-}/bin/java" /usr/lib/jvm/temurin-25-jdk-amd64/bin/java \
         /usr/lib/jvm/*-25-*/bin/java "$(command -v java 2>/dev/null || true)"; do
  if [ -n "$j" ] && [ -x "$j" ] && "$j" -version 2>&1 | grep -Eq 'version "(2[5-9]|[3-9][0-9])'; then
    java="$(readlink -f "$j")"; break
  fi
done
[ -n "$java" ] || { echo "no JDK 25 found (set FERRY_CNI_JAVA or JAVA_HOME)" >&2; exit 1; }

mkdir -p "$dest/ferry-cni.d"
home="$(cd "$dest/ferry-cni.d" && pwd)"
install -m 0644 "$jar" "$home/ferry-cni.jar"
sed "s|@JAVA@|$java|" "$src/ferry-cni" > "$dest/ferry.tmp"
chmod 0755 "$dest/ferry.tmp"
mv "$dest/ferry.tmp" "$dest/ferry"
rm -f "$home/ferry-cni.aot" "$home/ferry-cni.jsa"

# the archive must be made with the same JDK, classpath and flags that the launcher uses
flags=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xms8m -Xmx64m -Xss512k -XX:-UsePerfData)
case "$mode" in
  aot) "$java" "${flags[@]}" -XX:AOTCacheOutput="$home/ferry-cni.aot" -Xlog:disable -Xlog:all=error:stderr \
         -cp "$home/ferry-cni.jar" dev.ferry.cni.Training ;;
  cds) "$java" "${flags[@]}" -XX:ArchiveClassesAtExit="$home/ferry-cni.jsa" -Xlog:disable \
         -Xlog:all=error:stderr -cp "$home/ferry-cni.jar" dev.ferry.cni.Training ;;
  none) ;;
esac
echo "installed $dest/ferry (java $java, archive: $mode)"
ls -l "$home"
