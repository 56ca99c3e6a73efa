//! Kubernetes for hoist: render (structured image rewrite), kind order, server-side apply,
//! rollout wait, rollback and prune.
//!
//! Render, checks and order are pure ([`manifest`], [`render`], [`check`], [`order`],
//! [`status`]); the cluster is only touched by [`deploy`], through kube-rs's public client API.

pub mod check;
pub mod deploy;
pub mod error;
pub mod kinds;
pub mod manifest;
pub mod order;
pub mod render;
pub mod status;
pub mod yaml;

pub use check::{Duplicate, duplicate_keys};
pub use deploy::{CALL_TIMEOUT, Cluster, Options, Outcome, deploy};
pub use error::{DeployError, ManifestError, RenderError};
pub use manifest::{Document, Input, Manifests, ObjectRef, load, read};
pub use render::{Images, Rendered, ServiceImage, render, to_yaml};

/// Connect with the kubeconfig (`$KUBECONFIG` or `~/.kube/config`) and `context` (else its
/// current context), or, with no kubeconfig and no context asked for, the in-cluster
/// service account.
pub async fn connect(context: Option<&str>) -> Result<Cluster, DeployError> {
    // rustls refuses to guess when more than one crypto provider is compiled in; name
    // ours (an error only means one is already installed).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let options = kube::config::KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
    let config = match kube::Config::from_kubeconfig(&options).await {
        Ok(c) => c,
        Err(e) if context.is_none() => kube::Config::incluster().map_err(|ic| DeployError::Config {
            message: format!("no usable kubeconfig ({e}) and not running in a cluster ({ic})"),
        })?,
        Err(e) => {
            return Err(DeployError::Config {
                message: format!("kubeconfig context `{}`: {e}", context.unwrap_or_default()),
            });
        }
    };
    let name = match context {
        Some(c) => c.to_string(),
        None => kube::config::Kubeconfig::read()
            .ok()
            .and_then(|k| k.current_context)
            .unwrap_or_else(|| "in-cluster".to_string()),
    };
    let url = config.cluster_url.to_string();
    let client = kube::Client::try_from(with_timeouts(config))
        .map_err(|e| DeployError::Config { message: format!("context `{name}`: {e}") })?;
    Ok(Cluster { client, context: name, url })
}

/// Connect within 10 s; a request must be written within 30 s and each read of the answer
/// must bring bytes within 30 s (counted from the request, not from when a pooled connection
/// went idle). kube's defaults leave reads unbounded, so a server that accepts and then
/// says nothing would hang a deploy. A server that trickles a byte now and then passes
/// these; [`CALL_TIMEOUT`] bounds each call in total.
pub fn with_timeouts(mut config: kube::Config) -> kube::Config {
    config.connect_timeout = Some(std::time::Duration::from_secs(10));
    config.read_timeout = Some(std::time::Duration::from_secs(30));
    config.write_timeout = Some(std::time::Duration::from_secs(30));
    config.reset_reader_on_write = true;
    config
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn every_transport_phase_has_a_timeout() {
        let config = super::with_timeouts(kube::Config::new("https://127.0.0.1:6443".parse().unwrap()));
        assert_eq!(config.connect_timeout, Some(Duration::from_secs(10)));
        assert_eq!(config.read_timeout, Some(Duration::from_secs(30)));
        assert_eq!(config.write_timeout, Some(Duration::from_secs(30)));
        assert!(config.reset_reader_on_write);
    }
}
