#!/bin/sh
# Make the root file system of the shop's base image: a jlink'ed JRE plus
# exactly the shared libraries it needs, nothing else (no shell, no curl).
#
#   base/make-jre-rootfs.sh OUTDIR
#
# OUTDIR (created; must not exist or be empty) then holds:
#   /opt/java/...                  minimal JRE (java.base, jdk.httpserver, java.logging, ...)
#   /lib*/..., /usr/lib/...        ld.so, libc, libm, libz, libstdc++, libgcc_s, ... at
#                                  the host's paths (symlink names -> copied real files)
#   /etc/passwd, /etc/group        root and app (uid/gid 1000)
#   /etc/nsswitch.conf             "hosts: files dns" so compose/k8s service names resolve
#   /tmp (1777), /data, /app       scratch, kv-store volume mount point, app dir
#
# Turn it into an image with e.g.
#   hoist image import OUTDIR --ref shop-jre:17
#   tar -C OUTDIR --numeric-owner --owner=0 --group=0 -c . | docker import - shop-jre:17
#
# Environment: JAVA_HOME (default: the JDK of `jlink` on PATH), JRE_MODULES.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT=$1
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
    echo "make-jre-rootfs.sh: $OUT exists and is not empty" >&2
    exit 1
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ -n "${JAVA_HOME:-}" ]; then
    JDK=$JAVA_HOME
else
    JDK=$(dirname "$(dirname "$(readlink -f "$(command -v jlink)")")")
fi
[ -d "$JDK/jmods" ] || { echo "make-jre-rootfs.sh: $JDK has no jmods/ (need a full JDK)" >&2; exit 1; }

# java.naming: JNDI/DNS provider, jdk.crypto.ec: TLS with EC keys, jdk.zipfs: zip FS;
# all small, so the services may use them later without a new base image.
MODULES=${JRE_MODULES:-java.base,jdk.httpserver,java.logging,java.naming,java.net.http,jdk.crypto.ec,jdk.zipfs}

"$JDK/bin/jlink" \
    --module-path "$JDK/jmods" \
    --add-modules "$MODULES" \
    --strip-debug --no-man-pages --no-header-files --compress=2 \
    --output "$OUT/opt/java"

# A class-data-sharing archive makes every JVM start (service, health probe) faster.
"$OUT/opt/java/bin/java" -Xshare:dump >/dev/null

# --- shared libraries -------------------------------------------------------
# copy_path P: make $OUT$P exist like on the host. Every symlink on the way
# (a directory like /lib64 or the file itself) is replaced by the real file,
# so the layout is "plain directories, real files", whatever the host's
# merged-/usr layout is; the real name is added as well when it differs
# (e.g. libz.so.1 and libz.so.1.2.13).
copy_path() {
    p=$1
    [ -e "$OUT$p" ] && return 0
    real=$(readlink -f "$p")
    mkdir -p "$OUT$(dirname "$p")"
    cp -p "$real" "$OUT$p"
    if [ "$real" != "$p" ] && [ "$(basename "$real")" != "$(basename "$p")" ]; then
        # keep the versioned real name next to the symlink name, as a symlink
        [ -e "$OUT$(dirname "$p")/$(basename "$real")" ] ||
            ln -s "$(basename "$p")" "$OUT$(dirname "$p")/$(basename "$real")"
    fi
}

libs=$(mktemp)
trap 'rm -f "$libs"' EXIT
# every ELF file of the JRE: launcher(s), libjli, libjvm, the JNI libs
find "$OUT/opt/java" -type f \( -name '*.so' -o -path '*/bin/*' \) | while read -r f; do
    ldd "$f" 2>/dev/null || true
done | awk '
    $2 == "=>" && $3 ~ /^\// { print $3 }
    $1 ~ /^\// { print $1 }
' | grep -v "^$OUT" >"$libs"

# what is dlopen()ed by glibc/the JVM rather than linked, and the classic set
for name in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libz.so.1 \
    libgcc_s.so.1 libresolv.so.2 libnss_files.so.2 libnss_dns.so.2; do
    p=$(ldconfig -p 2>/dev/null | awk -v n="$name" '$1 == n && $0 ~ /x86-64|x32|AArch64|64bit/ { print $NF; exit }')
    [ -z "$p" ] && p=$(ldconfig -p 2>/dev/null | awk -v n="$name" '$1 == n { print $NF; exit }')
    [ -n "$p" ] && echo "$p" >>"$libs"
done

LC_ALL=C sort -u "$libs" | while read -r p; do
    copy_path "$p"
done

# --- minimal /etc and friends ----------------------------------------------
mkdir -p "$OUT/etc" "$OUT/tmp" "$OUT/data" "$OUT/app" "$OUT/home/app" "$OUT/root"
chmod 1777 "$OUT/tmp"
chmod 755 "$OUT/data" "$OUT/app"
chmod 700 "$OUT/root"

cat >"$OUT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
app:x:1000:1000:app:/home/app:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$OUT/etc/group" <<'EOF'
root:x:0:
app:x:1000:
nogroup:x:65534:
EOF
cat >"$OUT/etc/nsswitch.conf" <<'EOF'
passwd:    files
group:     files
shadow:    files
hosts:     files dns
networks:  files
protocols: files
services:  files
EOF
# placeholders; Docker and Kubernetes bind-mount the real ones over them
: >"$OUT/etc/hosts"
: >"$OUT/etc/resolv.conf"
echo shop-jre >"$OUT/etc/hostname"
chmod 644 "$OUT/etc/passwd" "$OUT/etc/group" "$OUT/etc/nsswitch.conf" "$OUT/etc/hosts" \
    "$OUT/etc/resolv.conf" "$OUT/etc/hostname"

# the app user owns its home (matters only when unpacked with owners preserved)
chown 1000:1000 "$OUT/home/app" 2>/dev/null || true

echo "$OUT: $(du -sh "$OUT" | cut -f1)"
