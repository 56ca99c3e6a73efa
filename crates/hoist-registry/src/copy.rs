//! Where a layer the layout lacks comes from: the registry repository of the base the image
//! was built on, named by the manifest's `org.opencontainers.image.base.name` annotation,
//! and one client per such repository, with that registry's own credentials.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::auth::Auth;
use crate::client::{Client, Options};
use crate::error::RegistryError;
use crate::reference::Repository;

/// The OCI annotation naming the base image's reference.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";

/// The repository of a base reference, its tag and digest dropped:
/// `127.0.0.1:5000/library/jre:17` → `127.0.0.1:5000/library/jre`,
/// `docker.io/library/eclipse-temurin:17@sha256:…` → `registry-1.docker.io/library/eclipse-temurin`.
/// The reference is the normalised name the build recorded, so it always has a host; a
/// name without one (not written by hoist) is refused rather than read as Docker Hub's.
pub fn base_repository(reference: &str) -> Result<Repository, RegistryError> {
    let bad = || RegistryError::BadBase { reference: reference.chars().take(200).collect() };
    if hoist_oci::layout::registry_host(reference).is_none() {
        return Err(bad());
    }
    crate::base::BaseRef::parse(reference).map(|b| b.repository()).map_err(|_| bad())
}

/// The clients of the base repositories of one push, made on first use: each has the
/// credentials of its own registry ([`Auth::resolve_for_base`]: the environment's push
/// credentials only when the base is on the push registry itself), never the target's.
pub(crate) struct Sources {
    options: Options,
    /// The push registry's host (`HOIST_REGISTRY_*` are its credentials), if any.
    push_host: Option<String>,
    clients: Mutex<BTreeMap<String, Client>>,
}

impl Sources {
    /// Clients with the target's limits and retries, without its progress or mounts.
    pub(crate) fn new(target: &Options, push_host: Option<&str>) -> Sources {
        let options = Options { mount_from: Vec::new(), blob_cache: false, progress: None, ..target.clone() };
        Sources { options, push_host: push_host.map(str::to_string), clients: Mutex::new(BTreeMap::new()) }
    }

    /// The client of the repository `repository` (`host/path`, as [`base_repository`] gives).
    pub(crate) fn client(&self, repository: &str) -> Result<Client, RegistryError> {
        let mut clients = self.clients.lock().expect("source clients");
        if let Some(c) = clients.get(repository) {
            return Ok(c.clone());
        }
        let repo = Repository::parse(repository, false)?;
        let auth = Auth::resolve_for_base(&repo.host, self.push_host.as_deref())?;
        let client = Client::new(repo, auth, self.options.clone())?;
        clients.insert(repository.to_string(), client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_references_name_their_repository() {
        let cases: &[(&str, Option<&str>)] = &[
            ("127.0.0.1:5000/library/jre:17", Some("127.0.0.1:5000/library/jre")),
            ("127.0.0.1:5000/library/jre", Some("127.0.0.1:5000/library/jre")),
            (
                "localhost:5000/a/b:1@sha256:abababababababababababababababababababababababababababababababab",
                Some("localhost:5000/a/b"),
            ),
            ("localhost:5000/a/b:1@sha256:abc", None),
            ("docker.io/library/eclipse-temurin:17-jre", Some("registry-1.docker.io/library/eclipse-temurin")),
            (
                "ghcr.io/acme/base@sha256:abababababababababababababababababababababababababababababababab",
                Some("ghcr.io/acme/base"),
            ),
            ("shop-jre:17", None),
            ("team/shop-jre:17", None),
            ("127.0.0.1:5000/Upper:1", None),
        ];
        for (reference, want) in cases {
            let got = base_repository(reference).ok().map(|r| r.to_string());
            assert_eq!(got.as_deref(), *want, "{reference}");
        }
    }
}
