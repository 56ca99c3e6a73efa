#!/usr/bin/env python3
"""Writes the seed corpus, fuzz/corpus/<target>/, from the example project and small
inputs made here (tars, jars, manifests). Run from anywhere: python3 fuzz/make_seeds.py.

The seeds are committed; this script is how they were made, so they can be made again
after the example changes. Deterministic: fixed mtimes, sorted entries, no randomness.
"""

import gzip
import io
import json
import pathlib
import shutil
import subprocess
import tarfile
import zipfile

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
SHOP = ROOT / "examples" / "shop"
CORPUS = FUZZ / "corpus"
EPOCH = (2020, 1, 1, 0, 0, 0)


def put(target: str, name: str, data) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def tag_seeds() -> None:
    put("tag", "default", "v{version}-{sha}\nv5.0.1-abf2154\nv5.0.10-aaaaaaa\nv5.0.2-b321ac\nv01.2.3-abcdef0\nlatest\n")
    put("tag", "prerelease", "v{version}\nv1.0.0\nv1.0.0-rc.1\nv1.0.0-alpha\nv1.0.0+build.5\nv1.2\n")
    put("tag", "prefixed", "shop-v{version}+{sha}\nshop-v2.3.4+0123456789ab\nshop-v2.3.4-rc.1+abcd\nv2.3.4\n")
    put("tag", "large", "v{version}-{sha}\nv18446744073709551614.0.0-abcdef0\nv1.18446744073709551614.9-abcdef0\n")
    put("tag", "suffix", "{version}.{sha}.release\n1.2.3.abcdef0.release\n1.2.3-rc.1.abcd.release\n")


def marker_seeds() -> None:
    put("markers", "default", "major|minor|patch\n[minor] add search to the gateway")
    put("markers", "custom", "breaking,BREAKING|feature|fix,bugfix\n[feature] chat history [fix] typo")
    put("markers", "conflict", "major|minor|patch\n[patch] fix login [major] new API")
    put("markers", "none", "||\nrefactor: no marker at all [wip")


def dockerfile_seeds() -> None:
    put("dockerfile", "kv-store", (SHOP / "kv-store" / "Dockerfile").read_bytes())
    put(
        "dockerfile",
        "subset",
        "ARG BASE=scratch\nFROM ${BASE}\nARG VERSION\nLABEL org.opencontainers.image.version=$VERSION\n"
        "ENV APP_HOME=/app \\\n    JAVA_OPTS=\"-Xmx64m -Xss256k\"\nWORKDIR $APP_HOME\n"
        "COPY --chown=0:0 app.jar conf/ ./\nADD assets.tar /srv/\nCOPY conf/*.conf /etc/app/\n"
        "EXPOSE 8080 9090/udp\nUSER 1000:1000\nVOLUME [\"/data\", \"/logs\"]\nSTOPSIGNAL SIGTERM\n"
        "CMD exec java $JAVA_OPTS -jar app.jar\n",
    )
    put("dockerfile", "run", "FROM debian:12 AS build\nRUN apt-get update\n")
    put("dockerfile", "json-copy", 'FROM scratch\nCOPY ["app.jar", "/opt/app/app.jar"]\nENTRYPOINT ["/opt/app/app.jar"]\n')


def config_seeds() -> None:
    put("config", "shop", (SHOP / "hoist.toml").read_bytes())
    put("config", "empty", "")
    put(
        "config",
        "markers",
        '[version]\ntag_format = "shop-v{version}"\ninitial = "1.0.0"\ndefault_bump = "patch"\n'
        '[version.markers]\nmajor = ["breaking"]\nminor = ["feature"]\npatch = ["fix"]\n'
        '[services.api]\ndir = "api"\nbuild = ["make", "TAG={tag}"]\nartifact = "api/out/api-{version}.jar"\n'
        '[services.api.image]\nports = [8080, "9090/udp"]\nlayering = "whole"\n'
        '[registry]\nrepository = "registry.example:5000/team/shop"\nimage_tag = "{service}-{version}"\n',
    )


def manifest_seeds() -> None:
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PORT=8080"], "Entrypoint": ["/app"], "WorkingDir": "/app"},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
            "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "hoist"}],
        },
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                       "digest": "sha256:" + "2" * 64},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 123,
                        "digest": "sha256:" + "3" * 64}],
            "annotations": {"org.opencontainers.image.source": "https://github.com/acme/shop"},
        },
        separators=(",", ":"),
    ).encode()
    put("manifest_json", "manifest-and-config", manifest + b"\0" + config)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": len(manifest),
                           "digest": "sha256:" + "4" * 64,
                           "annotations": {"org.opencontainers.image.ref.name": "api_v1.0.0-abcdef0"},
                           "platform": {"architecture": "amd64", "os": "linux"}}],
        },
        separators=(",", ":"),
    ).encode()
    put("manifest_json", "index", index)
    docker = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                   "digest": "sha256:" + "5" * 64},
        "layers": [],
    }
    put("manifest_json", "docker-v2", json.dumps(docker).encode() + b"\0{}")
    put("manifest_json", "challenge",
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:shop:pull,push"')
    put("manifest_json", "errors", '{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown","detail":{}}]}')


def tar_bytes(compress=None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        def add(name, kind, data=b"", mode=0o644, link=""):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, 1577836800, link
            info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data else None)
        add("bin", tarfile.DIRTYPE, mode=0o755)
        add("bin/app", tarfile.REGTYPE, b"#!/bin/sh\necho hi\n", mode=0o755)
        add("tmp", tarfile.DIRTYPE, mode=0o1777)
        add("etc/os-release", tarfile.REGTYPE, b"ID=fuzz\n")
        add("usr/bin/app", tarfile.SYMTYPE, link="/bin/app")
        add("bin/app2", tarfile.LNKTYPE, link="bin/app")
    raw = buf.getvalue()
    if compress == "gzip":
        return gzip.compress(raw, mtime=0)
    if compress == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
    return raw


def tar_seeds() -> None:
    put("tar_import", "rootfs.tar", tar_bytes())
    put("tar_import", "rootfs.tar.gz", tar_bytes("gzip"))
    if shutil.which("zstd"):
        put("tar_import", "rootfs.tar.zst", tar_bytes("zstd"))


def jar_bytes(entries) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, EPOCH), data)
    return buf.getvalue()


def jar_seeds() -> None:
    put("jar", "spring-boot.jar", jar_bytes([
        ("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nMain-Class: shop.Main\r\nStart-Class: shop.App\r\n"),
        ("BOOT-INF/", ""),
        ("BOOT-INF/classes/shop/App.class", b"\xca\xfe\xba\xbe"),
        ("BOOT-INF/lib/dep-1.0.jar", b"PK"),
        ("BOOT-INF/lib/dep-2.0-SNAPSHOT.jar", b"PK"),
        ("BOOT-INF/layers.idx", '- "dependencies":\n  - "BOOT-INF/lib/"\n- "application":\n  - "BOOT-INF/classes/"\n  - "META-INF/"\n'),
        ("org/springframework/boot/loader/JarLauncher.class", b"\xca\xfe\xba\xbe"),
    ]))
    put("jar", "thin.jar", jar_bytes([
        ("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: shop.Main\nClass-Path: lib/dep.jar\n lib/missing-SNAPSHOT.jar\n"),
        ("shop/Main.class", b"\xca\xfe\xba\xbe"),
    ]))
    put("jar", "plain.jar", jar_bytes([("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"), ("a.txt", "a")]))


def kube_seeds() -> None:
    for f in sorted((SHOP / "k8s").glob("*.yaml")):
        put("kube_yaml", f.name, f.read_bytes())
    put("kube_yaml", "multi.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, labels: {app: api}}\nspec:\n"
        "  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n"
        "    spec:\n      initContainers: [{name: init, image: api}]\n      containers:\n"
        "      - name: api\n        image: 127.0.0.1:5000/shop:api_v1.0.0-aaaaaaa\n        ports: [{containerPort: 8080}]\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {ratio: \"0.5\", big: \"1e400\"}\n")


def main() -> None:
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    for make in (tag_seeds, marker_seeds, dockerfile_seeds, config_seeds, manifest_seeds, tar_seeds, jar_seeds,
                 kube_seeds):
        make()


if __name__ == "__main__":
    main()
