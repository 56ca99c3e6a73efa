//! The content-addressed blob cache shared by projects, for exports and daemon loads.
//!
//! Builds and pushes never download a base's layers (they stay in the base's registry; a
//! push mounts or streams them). An archive for `docker load` needs every byte, so the
//! layers the layout lacks are downloaded once into `$XDG_CACHE_HOME/hoist/blobs/sha256/<hex>`
//! (default `~/.cache/hoist`), bounded by their descriptor's size and verified by digest,
//! written as temp file + rename, and read from there (not copied into the project's
//! layout). The directory is an OCI layout with no refs (`hoist_oci::Layout`), so its
//! writes are the layout's: a killed download leaves no blob under its final name, and
//! every project and concurrent run on the machine shares it.

use std::path::PathBuf;

use futures::{StreamExt, TryStreamExt};
use hoist_oci::Layout;
use serde::Serialize;

use crate::client::{Client, Options};
use crate::copy::Sources;
use crate::digest::check_digest;
use crate::error::RegistryError;
use crate::push::{PushRequest, read_local};

/// What filling the cache for an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FetchReport {
    /// Base layers downloaded now.
    pub fetched: usize,
    pub bytes_fetched: u64,
    /// Base layers the cache had already.
    pub cached: usize,
}

/// The shared cache (an OCI layout without refs).
#[derive(Debug, Clone)]
pub struct SharedBlobs {
    layout: Layout,
}

impl SharedBlobs {
    /// The cache at `dir` (blobs in `dir/blobs/sha256/`), created if missing.
    pub fn open(dir: &std::path::Path) -> Result<SharedBlobs, RegistryError> {
        Ok(SharedBlobs { layout: Layout::create_or_open(dir)? })
    }

    /// Where the cache is: `$XDG_CACHE_HOME/hoist`, else `$HOME/.cache/hoist`.
    pub fn default_dir(env: impl Fn(&str) -> Option<String>) -> Result<PathBuf, RegistryError> {
        let absolute = |k: &str| env(k).filter(|v| std::path::Path::new(v).is_absolute()).map(PathBuf::from);
        if let Some(dir) = absolute("XDG_CACHE_HOME") {
            return Ok(dir.join("hoist"));
        }
        absolute("HOME").map(|h| h.join(".cache/hoist")).ok_or_else(|| RegistryError::BadSetting {
            name: "XDG_CACHE_HOME".into(),
            value: String::new(),
            expected: "an absolute directory for hoist's blob cache (or HOME set)".into(),
        })
    }

    /// The cache where this process's environment says.
    pub fn from_env() -> Result<SharedBlobs, RegistryError> {
        SharedBlobs::open(&SharedBlobs::default_dir(|k| std::env::var(k).ok())?)
    }

    /// The cache as a layout, to read blobs from.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Download the blobs of the layout refs `refs` that neither the layout nor the cache
    /// has, from the base repositories their manifests name, `options.jobs` at a time.
    /// `push_host` is the push registry's host: the environment's push credentials go only
    /// to a base on it ([`crate::Auth::resolve_for_base`]).
    pub async fn fill(
        &self,
        layout: &Layout,
        refs: &[String],
        options: &Options,
        push_host: Option<&str>,
    ) -> Result<FetchReport, RegistryError> {
        let mut wanted: std::collections::BTreeMap<String, (u64, String)> = Default::default();
        for r in refs {
            let local = read_local(layout, &PushRequest { source: r.clone(), tag: r.clone() })?;
            for (digest, size) in &local.blobs {
                if let Some(from) = local.remote.get(digest) {
                    wanted.entry(digest.clone()).or_insert((*size, from.clone()));
                }
            }
        }
        let sources = Sources::new(options, push_host);
        let results: Vec<Option<u64>> = futures::stream::iter(wanted.iter())
            .map(|(digest, (size, from))| {
                let sources = &sources;
                async move {
                    let d: hoist_oci::Digest = digest.parse().map_err(|_| RegistryError::BadDigest {
                        registry: from.clone(),
                        what: "a layer digest".into(),
                        value: digest.clone(),
                    })?;
                    if self.layout.has_blob(&d) {
                        return Ok(None);
                    }
                    let client = sources.client(from)?;
                    Ok::<_, RegistryError>(Some(self.fetch(&client, digest, *size).await?))
                }
            })
            .buffer_unordered(options.jobs.max(1))
            .try_collect()
            .await?;
        Ok(FetchReport {
            fetched: results.iter().flatten().count(),
            bytes_fetched: results.iter().flatten().sum(),
            cached: results.iter().filter(|r| r.is_none()).count(),
        })
    }

    /// Download one blob into the cache; returns its size.
    async fn fetch(&self, client: &Client, digest: &str, size: u64) -> Result<u64, RegistryError> {
        let mut writer = self.layout.blob_writer()?;
        let got = client.download_blob(digest, size, &mut writer).await?;
        let (written, _) = writer.finish()?;
        check_digest(&format!("blob {digest} from {}", client.repository()), digest, written.as_ref())?;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_under_xdg_cache_home_else_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let cases: &[(&[(&str, &str)], Option<&str>)] = &[
            (&[("XDG_CACHE_HOME", "/c"), ("HOME", "/h")], Some("/c/hoist")),
            (&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")], Some("/h/.cache/hoist")),
            (&[("HOME", "/h")], Some("/h/.cache/hoist")),
            (&[], None),
        ];
        for (vars, want) in cases {
            let got = SharedBlobs::default_dir(env(vars)).ok();
            assert_eq!(got, want.map(PathBuf::from), "{vars:?}");
        }
    }
}
