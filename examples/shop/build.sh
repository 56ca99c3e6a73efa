#!/bin/sh
# Build command of the shop example (stands in for `gradle build` / installDist).
#
#   ./build.sh <tag> [service...]   build the app services (default: all three)
#                                   into <service>/build/libs/shop-<service>-<tag>.jar
#   ./build.sh --deps               build the kv-store dependency into
#                                   kv-store/build/libs/shop-kv-store.jar
#
# The tag is used as ONE opaque argument: it only ends up in the jar's
# Implementation-Version and in the file name (so it may not contain "/").
#
# Environment:
#   SHOP_DEPS_MB=N      (default 0) also write N MiB of third-party-like,
#                       incompressible but reproducible dependency jars into
#                       <service>/build/libs/lib/ and reference them from the
#                       app jar's Class-Path (a thin jar + lib/, like installDist).
#                       The same N gives byte-identical jars for every service
#                       and every build.
#   SOURCE_DATE_EPOCH   timestamp of the jar entries; default: time of the last
#                       git commit touching the service (or common/), else
#                       2020-01-01. Same source + same tag => byte-identical jar.
#   JAVA_HOME           JDK to use (default: javac/jar on PATH); needs JDK >= 17.
#
# A file named "broken" in <service>/ at build time bakes the manifest
# attribute "X-Hoist-Example-Broken: true" into the jar; /health then answers 500.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"

ALL_SERVICES="user-service chat-service gateway"
JFLAGS="-J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC -J-Xshare:auto"
if [ -n "${JAVA_HOME:-}" ]; then
    JAVAC="$JAVA_HOME/bin/javac"
    JAR="$JAVA_HOME/bin/jar"
else
    JAVAC=javac
    JAR=jar
fi

die() {
    echo "build.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# main class of a service
main_class() {
    case "$1" in
        user-service) echo shop.user.Main ;;
        chat-service) echo shop.chat.Main ;;
        gateway) echo shop.gateway.Main ;;
        kv-store) echo shop.kv.Main ;;
        *) die "unknown service '$1' (known: $ALL_SERVICES; kv-store via --deps)" ;;
    esac
}

# ISO-8601 UTC time of a unix epoch (GNU or BSD date), clamped to what zip can store
iso_date() {
    e=$1
    [ "$e" -lt 315532802 ] && e=315532802   # 1980-01-01T00:00:02Z
    [ "$e" -gt 4102444799 ] && e=4102444799 # 2099-12-31T23:59:59Z
    date -u -d "@$e" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$e" +%Y-%m-%dT%H:%M:%SZ
}

# epoch used for the jar entries of service $1
source_epoch() {
    if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
        case "$SOURCE_DATE_EPOCH" in
            *[!0-9]*) die "SOURCE_DATE_EPOCH must be a unix timestamp, got '$SOURCE_DATE_EPOCH'" ;;
        esac
        echo "$SOURCE_DATE_EPOCH"
        return
    fi
    t=$(git -C "$HERE" log -1 --format=%ct -- "$1" common 2>/dev/null || true)
    echo "${t:-1577836800}"
}

# append "Name: value" to manifest file $3, wrapped at 72 bytes per the jar spec
manifest_attr() {
    printf '%s: %s\n' "$1" "$2" | LC_ALL=C awk '{
        line = $0
        first = 1
        while (length(line) > 0) {
            n = first ? 72 : 71
            printf "%s%s\n", (first ? "" : " "), substr(line, 1, n)
            line = substr(line, n + 1)
            first = 0
        }
    }' >>"$3"
}

# write $SHOP_DEPS_MB MiB of reproducible dependency jars into directory $1
make_deps() {
    mkdir -p "$1"
    python3 - "$1" "$SHOP_DEPS_MB" <<'PY'
import os, random, sys, zipfile

out, total_mib = sys.argv[1], int(sys.argv[2])
CHUNK = 4  # MiB per dependency jar; the last one takes the remainder
i, left = 0, total_mib
while left > 0:
    i += 1
    mib = min(CHUNK, left)
    left -= mib
    # seed depends only on the jar index: dep-1.jar is the same for any SHOP_DEPS_MB >= 4
    rnd = random.Random("shop-dep-%d-%d" % (i, mib))
    def entry(name):
        zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        zi.create_system = 3
        zi.external_attr = 0o644 << 16
        zi.compress_type = zipfile.ZIP_STORED
        return zi
    path = os.path.join(out, "dep-%d.jar" % i)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(entry("META-INF/MANIFEST.MF"),
                   "Manifest-Version: 1.0\r\nImplementation-Title: shop-dep-%d\r\n"
                   "Implementation-Version: 1.0.%d\r\n\r\n" % (i, i))
        z.writestr(entry("shop/deps/dep%d/blob.bin" % i), rnd.randbytes(mib << 20))
    os.utime(path, (1577836800, 1577836800))  # fixed mtime too, for reproducible layers
print(i)
PY
}

# build_one SERVICE VERSION JARNAME [DEPS_DIR]
build_one() {
    svc=$1 version=$2 jarname=$3 deps=${4:-}
    main=$(main_class "$svc")
    [ -d "$svc/src/main/java" ] || die "$svc/src/main/java: no such directory"
    build="$svc/build"
    rm -rf "$build"
    mkdir -p "$build/classes" "$build/libs" "$build/tmp"

    find common/src/main/java "$svc/src/main/java" -name '*.java' | LC_ALL=C sort >"$build/tmp/sources"
    # shellcheck disable=SC2086
    "$JAVAC" $JFLAGS --release 17 -encoding UTF-8 -nowarn -d "$build/classes" @"$build/tmp/sources"

    mf="$build/tmp/MANIFEST.MF"
    : >"$mf"
    manifest_attr Manifest-Version 1.0 "$mf"
    manifest_attr Main-Class "$main" "$mf"
    manifest_attr Implementation-Title "shop-$svc" "$mf"
    manifest_attr Implementation-Version "$version" "$mf"
    if [ -e "$svc/broken" ]; then
        manifest_attr X-Hoist-Example-Broken true "$mf"
        echo "build.sh: $svc/broken exists: baking X-Hoist-Example-Broken: true (/health will answer 500)" >&2
    fi
    if [ -n "$deps" ]; then
        cp -Rp "$deps" "$build/libs/lib"
        # shellcheck disable=SC2012 # names are dep-N.jar
        cp_list=$(cd "$build/libs" && ls lib | LC_ALL=C sort -t- -k2n | sed 's|^|lib/|' | tr '\n' ' ' | sed 's/ $//')
        manifest_attr Class-Path "$cp_list" "$mf"
    fi

    date=$(iso_date "$(source_epoch "$svc")")
    # explicit, sorted file list => entry order does not depend on the file system
    (
        cd "$build/classes"
        set --
        for f in $(find . -type f | LC_ALL=C sort); do set -- "$@" "${f#./}"; done
        # shellcheck disable=SC2086
        "$JAR" $JFLAGS --create --file "../libs/$jarname" --manifest ../tmp/MANIFEST.MF --date "$date" "$@"
    )
    touch -d "$date" "$build/libs/$jarname" 2>/dev/null || true
    rm -rf "$build/tmp"
    echo "$build/libs/$jarname"
}

[ $# -ge 1 ] || usage

case "$1" in
    -h | --help) usage ;;
    --deps)
        [ $# -eq 1 ] || die "--deps takes no further arguments"
        build_one kv-store 1 shop-kv-store.jar
        exit 0
        ;;
    -*) die "unknown option '$1'" ;;
esac

tag=$1
shift
[ -n "$tag" ] || die "empty tag"
case "$tag" in
    */* | *"
"*) die "tag must not contain '/' or a newline" ;;
esac
case "$tag" in *"$(printf '\r')"*) die "tag must not contain a carriage return" ;; esac

# shellcheck disable=SC2086 # intended word splitting
[ $# -gt 0 ] || set -- $ALL_SERVICES
for s in "$@"; do
    case " $ALL_SERVICES " in
        *" $s "*) ;;
        *) die "unknown service '$s' (known: $ALL_SERVICES)" ;;
    esac
done

SHOP_DEPS_MB=${SHOP_DEPS_MB:-0}
case "$SHOP_DEPS_MB" in
    '' | *[!0-9]*) die "SHOP_DEPS_MB must be a whole number of MiB, got '$SHOP_DEPS_MB'" ;;
esac
deps=
if [ "$SHOP_DEPS_MB" -gt 0 ]; then
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/shop-deps.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 130' INT TERM
    make_deps "$tmp/lib" >/dev/null
    deps="$tmp/lib"
fi

for s in "$@"; do
    build_one "$s" "$tag" "shop-$s-$tag.jar" "$deps"
done
