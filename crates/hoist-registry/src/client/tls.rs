//! TLS: the CA certificates trusted for a registry on top of the system's (Docker's
//! `certs.d` layout), and telling a failed TLS handshake from other connect errors.

use std::path::PathBuf;

use crate::error::RegistryError;
use crate::reference::Repository;

/// rustls errors reach us as text inside io errors; a connect error over https whose
/// cause is invalid data is a handshake that failed (a plain-HTTP server answering, say).
pub(super) fn is_tls(e: &reqwest::Error) -> bool {
    let https = e.url().is_some_and(|u| u.scheme() == "https");
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let text = s.to_string().to_ascii_lowercase();
        if ["certificate", "tls", "handshake", "corrupt message", "alert received"].iter().any(|w| text.contains(w)) {
            return true;
        }
        if https
            && e.is_connect()
            && s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// `builder` trusting, besides the system's roots, the CAs `cert_dirs` hold for
/// `repository`'s host.
pub(super) fn configure(
    builder: reqwest::ClientBuilder,
    cert_dirs: &[PathBuf],
    repository: &Repository,
) -> Result<reqwest::ClientBuilder, RegistryError> {
    Ok(builder.tls_certs_merge(registry_cas(cert_dirs, &repository.host)?))
}

/// The CA certificates `cert_dirs` hold for `host` (`<dir>/<host>/*.crt`, as Docker and
/// skopeo read them). A missing directory is no error; an unreadable or empty file is.
fn registry_cas(cert_dirs: &[PathBuf], host: &str) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let mut certs = Vec::new();
    for dir in cert_dirs {
        let Ok(entries) = std::fs::read_dir(dir.join(host)) else { continue };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "crt"))
            .collect();
        files.sort();
        for path in files {
            let fail = |message: String| RegistryError::CaCert { path: path.display().to_string(), message };
            let pem = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
            let found = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(e.to_string()))?;
            if found.is_empty() {
                return Err(fail("no PEM certificate in it".into()));
            }
            tracing::debug!("trusting {} CA certificate(s) from {} for {host}", found.len(), path.display());
            certs.extend(found);
        }
    }
    Ok(certs)
}
