//! Resolving a base reference into the local layout: the manifest (or image index / Docker
//! manifest list) by tag or digest, each wanted platform's manifest and its config, every
//! one verified by digest and bounded in size, stored as blobs with a ref under the
//! normalised name. Layers are never fetched: a build only needs their descriptors, and a
//! push gets them registry to registry.
//!
//! What the layout already holds by digest is not asked again, so a build pinned by
//! `hoist.lock` whose manifests and configs were fetched once runs offline.

use std::collections::BTreeMap;

use hoist_oci::{Descriptor, Digest, ImageManifest, Layout, MediaType, Platform};
use oci_spec::image::ImageIndex;
use serde::Deserialize;

use super::{BaseError, BaseRef};
use crate::client::Client;
use crate::error::RegistryError;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A base, resolved and in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The normalised name, which is also its ref in the layout.
    pub name: String,
    /// The digest of what the reference points to (an index, a list or a manifest).
    pub digest: String,
    pub media_type: String,
    /// Each wanted platform (`linux/amd64`) → the digest of its image manifest.
    pub platforms: BTreeMap<String, String>,
    /// Manifests and configs fetched from the registry (0: everything came from the layout).
    pub fetched: usize,
}

#[derive(Deserialize)]
struct Sniff {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

/// Resolve `base` for `platforms` into `layout`. `pinned` is the digest hoist.lock holds for
/// it (asked by digest; the tag is not looked up); without one, a digest written in the
/// reference is used, else the tag is resolved now.
pub async fn resolve(
    client: &Client,
    layout: &Layout,
    base: &BaseRef,
    platforms: &[Platform],
    pinned: Option<&str>,
) -> Result<Resolved, BaseError> {
    let name = base.name();
    let mut fetched = 0;
    let want = pinned.or(base.digest.as_deref());
    let top = match want.and_then(|d| local(layout, d)) {
        Some(bytes) => Doc { media_type: media_type_of(&bytes, ""), digest: want.unwrap().to_string(), bytes },
        None => {
            let reference = want.unwrap_or_else(|| base.reference());
            fetched += 1;
            fetch(client, base, reference, pinned).await?
        }
    };
    layout.write_blob(&top.bytes)?;
    let registry = client.repository().host.clone();
    let bad = |what: &str, message: String| BaseError::BadManifest {
        reference: name.clone(),
        registry: registry.clone(),
        what: what.to_string(),
        message: crate::digest::escape(&message),
    };
    let mut out = BTreeMap::new();
    if top.media_type == OCI_INDEX || top.media_type == DOCKER_LIST {
        let index = ImageIndex::from_reader(&top.bytes[..]).map_err(|e| bad("an index", e.to_string()))?;
        for platform in platforms {
            let entry = platform.pick(&index).map_err(|available| BaseError::NoPlatform {
                reference: name.clone(),
                platform: platform.to_string(),
                available,
            })?;
            let digest = crate::digest::validate(&registry, "a manifest digest in the index", entry.digest().as_ref())
                .map_err(|source| BaseError::Registry { reference: name.clone(), source })?;
            let child = match local(layout, &digest) {
                Some(bytes) => Doc { media_type: media_type_of(&bytes, ""), digest: digest.clone(), bytes },
                None => {
                    fetched += 1;
                    fetch(client, base, &digest, pinned.is_some().then_some(digest.as_str())).await?
                }
            };
            if child.media_type != OCI_MANIFEST && child.media_type != DOCKER_MANIFEST {
                return Err(bad("a platform entry", format!("its media type is {}", child.media_type)));
            }
            layout.write_blob(&child.bytes)?;
            fetched += config(client, layout, base, &child).await?;
            out.insert(platform.to_string(), digest);
        }
    } else if top.media_type == OCI_MANIFEST || top.media_type == DOCKER_MANIFEST {
        // One manifest serves every platform, as a single-platform `FROM` does.
        fetched += config(client, layout, base, &top).await?;
        for platform in platforms {
            out.insert(platform.to_string(), top.digest.clone());
        }
    } else {
        return Err(bad("a document", format!("its media type is {}", top.media_type)));
    }
    let descriptor =
        Descriptor::new(MediaType::from(top.media_type.as_str()), top.bytes.len() as u64, digest(&top.digest));
    if layout.resolve(&name).ok().is_none_or(|d| d.digest().to_string() != top.digest) {
        layout.set_ref(&name, descriptor)?;
    }
    Ok(Resolved { name, digest: top.digest, media_type: top.media_type, platforms: out, fetched })
}

struct Doc {
    bytes: Vec<u8>,
    media_type: String,
    digest: String,
}

/// A blob of the layout by its digest (verified on read), if it is there.
fn local(layout: &Layout, d: &str) -> Option<Vec<u8>> {
    let d = digest(d);
    layout.has_blob(&d).then(|| layout.read_blob(&d).ok()).flatten()
}

fn digest(d: &str) -> Digest {
    d.parse().expect("digests are validated before use")
}

/// The media type a document says it has, else the one the registry sent, else by shape.
fn media_type_of(bytes: &[u8], header: &str) -> String {
    let sniff: Option<Sniff> = serde_json::from_slice(bytes).ok();
    if let Some(mt) = sniff.as_ref().and_then(|s| s.media_type.clone()).filter(|m| !m.is_empty()) {
        return mt;
    }
    let header = header.split(';').next().unwrap_or_default().trim();
    if !header.is_empty() {
        return header.to_string();
    }
    if sniff.is_some_and(|s| s.manifests.is_some()) { OCI_INDEX.into() } else { OCI_MANIFEST.into() }
}

/// GET a manifest by tag or digest (the client verifies a digest, and the registry's
/// `Docker-Content-Digest` when sent). `pinned`: the digest came from hoist.lock.
async fn fetch(client: &Client, base: &BaseRef, reference: &str, pinned: Option<&str>) -> Result<Doc, BaseError> {
    let m = client.get_manifest(reference).await.map_err(|e| classify(client, base, reference, pinned, e))?;
    Ok(Doc { media_type: media_type_of(&m.bytes, &m.media_type), digest: m.digest, bytes: m.bytes.to_vec() })
}

/// The config of a manifest, fetched when the layout lacks it; returns how many were fetched.
async fn config(client: &Client, layout: &Layout, base: &BaseRef, manifest: &Doc) -> Result<usize, BaseError> {
    let name = base.name();
    let registry = client.repository().host.clone();
    let parsed = ImageManifest::from_reader(&manifest.bytes[..]).map_err(|e| BaseError::BadManifest {
        reference: name.clone(),
        registry: registry.clone(),
        what: format!("the manifest {}", manifest.digest),
        message: crate::digest::escape(&e.to_string()),
    })?;
    let wrap = |source| BaseError::Registry { reference: name.clone(), source };
    let d = crate::digest::validate(&registry, "the config digest of a manifest", parsed.config().digest().as_ref())
        .map_err(wrap)?;
    if layout.has_blob(&digest(&d)) {
        return Ok(0);
    }
    let bytes =
        client.get_small_blob(&d, parsed.config().size()).await.map_err(|e| classify(client, base, &d, None, e))?;
    let (written, _) = layout.write_blob(&bytes)?;
    crate::digest::check_digest(&format!("the config of `{name}`"), &d, written.as_ref()).map_err(wrap)?;
    Ok(1)
}

/// A registry error as what it means for a base: not there, no longer there (pinned),
/// unreachable, or itself.
fn classify(client: &Client, base: &BaseRef, reference: &str, pinned: Option<&str>, e: RegistryError) -> BaseError {
    let registry = client.repository().host.clone();
    let name = base.name();
    match e {
        RegistryError::Status { status: 404, .. } | RegistryError::RepositoryNotFound { .. } => match pinned {
            Some(d) => BaseError::PinnedGone { reference: name, digest: d.to_string(), registry },
            None => BaseError::NotFound {
                reference: name,
                registry,
                detail: if reference == base.reference() { String::new() } else { format!("asked for {reference}") },
            },
        },
        e @ (RegistryError::Connect { .. }
        | RegistryError::Transport { .. }
        | RegistryError::Deadline { .. }
        | RegistryError::Tls { .. }) => BaseError::Unreachable {
            reference: name,
            url: client.repository().url(&format!("manifests/{reference}")),
            source: e,
        },
        source => BaseError::Registry { reference: name, source },
    }
}

#[cfg(test)]
mod tests {
    use hoist_testkit::hostile::{HostileServer, Reply};
    use hoist_testkit::sha256_hex;
    use serde_json::json;

    use super::*;
    use crate::auth::Auth;
    use crate::client::Options;

    /// A recorded Docker Hub exchange, replayed on loopback: `/v2/` answers Docker Hub's
    /// real Bearer challenge (its realm pointed at the replay), the token service Docker
    /// Hub's token JSON; the manifest and config are served only with that token.
    #[test]
    fn docker_hubs_bearer_challenge_gets_an_anonymous_pull_token() {
        let hub = HostileServer::start();
        let config = serde_json::to_vec(
            &json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}),
        )
        .unwrap();
        let config_digest = format!("sha256:{}", sha256_hex(&config));
        let layer = format!("sha256:{}", "ab".repeat(32));
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1000, "digest": layer}],
        }))
        .unwrap();
        let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
        let challenge = format!(r#"Bearer realm="{}",service="registry.docker.io""#, hub.url("/token"));
        hub.route(
            "GET",
            "/v2/",
            Reply::new(401).header("www-authenticate", challenge.clone()).json(
                &json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": null}]}),
            ),
        );
        hub.route(
            "GET",
            "/token",
            Reply::new(200).json(&json!({
                "token": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.recorded",
                "access_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.recorded",
                "expires_in": 300,
                "issued_at": "2026-12-03T14:00:00.123456789Z",
            })),
        );
        let authorised = move |r: &hoist_testkit::hostile::Recorded, ok: Reply| {
            if r.header("authorization") == Some("Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.recorded") {
                ok
            } else {
                Reply::new(401).header("www-authenticate", r#"Bearer realm="x",error="invalid_token""#)
            }
        };
        let (m, d) = (manifest.clone(), manifest_digest.clone());
        hub.route_fn("GET", "/v2/library/jre/manifests/17", move |r| {
            authorised(
                r,
                Reply::new(200)
                    .header("content-type", DOCKER_MANIFEST)
                    .header("docker-content-digest", d.clone())
                    .body(m.clone()),
            )
        });
        let c = config.clone();
        hub.route_fn("GET", &format!("/v2/library/jre/blobs/{config_digest}"), move |r| {
            authorised(r, Reply::new(200).body(c.clone()))
        });

        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create_or_open(dir.path()).unwrap();
        let base = BaseRef::parse(&format!("{}/library/jre:17", hub.host())).unwrap();
        let client = Client::new(base.repository(), Auth::anonymous(), Options::default()).unwrap();
        let platforms = [Platform::default_target()];
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let resolved = rt.block_on(resolve(&client, &layout, &base, &platforms, None)).unwrap();

        assert_eq!(resolved.digest, manifest_digest);
        assert_eq!(resolved.platforms["linux/amd64"], manifest_digest);
        assert_eq!(resolved.fetched, 2, "the manifest and its config");
        let token = hub.requests().into_iter().find(|r| r.path() == "/token").expect("a token was asked for");
        assert!(token.target.contains("service=registry.docker.io"), "{}", token.target);
        assert!(token.target.contains("scope=repository%3Alibrary%2Fjre%3Apull"), "{}", token.target);
        assert_eq!(token.header("authorization"), None, "anonymous");
        assert!(!hub.requests().iter().any(|r| r.target.contains(&layer)), "no layer asked for");
        let image = layout.image_for(&base.name(), &platforms[0]).unwrap();
        assert_eq!(image.descriptor.digest().to_string(), manifest_digest);

        // Pinned and in the layout: nothing is asked again.
        let before = hub.request_count();
        let again = rt.block_on(resolve(&client, &layout, &base, &platforms, Some(&manifest_digest))).unwrap();
        assert_eq!((again.fetched, hub.request_count()), (0, before));
    }
}
