//! TLS, as against any remote registry: a registry on a non-loopback address is reached
//! over HTTPS by default, its certificate is checked, a private CA is trusted from a
//! `certs.d` directory (Docker's layout), and the push is read back by skopeo over TLS.

use hoist_registry::{Auth, Client, Options, RegistryError, Repository, TagAction};
use hoist_testkit::Registry;

use crate::{build_release, test_options};

const RELEASE: &str = "v1.0.0-abc1234";

fn tls_client(registry: &Registry, cert_dirs: Vec<std::path::PathBuf>) -> Client {
    let repo = Repository::parse(&format!("{}/shop", registry.host()), false).unwrap();
    assert!(!repo.plain_http, "{} is not a loopback address: TLS by default", registry.host());
    Client::new(repo, Auth::anonymous(), Options { cert_dirs, retries: 0, ..test_options() }).unwrap()
}

#[tokio::test]
async fn a_registry_with_a_private_ca_is_trusted_from_certs_d() {
    let registry = Registry::start_tls();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), RELEASE, &[("api", "tls 1"), ("web", "tls 1")]);

    // The CA is not in the system store: the handshake fails and the error names the host
    // and where a CA can go.
    let err = tls_client(&registry, vec![tmp.path().join("no-certs.d")]).list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains(&registry.host()), "{err}");
    let hint = hoist_diag::Diagnostic::hint(&err).unwrap();
    assert!(hint.contains(&format!("certs.d/{}/ca.crt", registry.host())), "{hint}");

    // The CA in `<certs.d>/<host:port>/ca.crt`: the push works over TLS.
    let certs_d = tmp.path().join("certs.d");
    let host_dir = certs_d.join(registry.host());
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("ca.crt"), registry.ca_pem().unwrap()).unwrap();
    let client = tls_client(&registry, vec![certs_d.clone()]);
    let report = client.push_images(&layout, &requests, false).await.unwrap();
    assert!(report.images.iter().all(|i| i.action == TagAction::Create), "{report:#?}");
    assert_eq!(report.blobs_uploaded, 5, "{report:#?}");

    // skopeo reads every tag over TLS with the same CA (its --cert-dir takes the same files).
    for image in &report.images {
        let out = hoist_cmd::Cmd::new("skopeo")
            .args(["inspect", "--tls-verify=true", "--cert-dir"])
            .arg(&host_dir)
            .arg(format!("docker://{}/shop:{}", registry.host(), image.tag))
            .read()
            .expect("skopeo inspect over TLS");
        let inspect: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(inspect["Digest"], image.digest.as_str(), "{}", image.tag);
    }
    // And the same release again is a no-op, over the same verified connection.
    let again = client.push_images(&layout, &requests, false).await.unwrap();
    assert!(again.images.iter().all(|i| i.action == TagAction::Unchanged), "{again:#?}");
    assert_eq!(again.bytes_sent, 0);

    // A file under certs.d that holds no certificate is an error naming it, not ignored.
    std::fs::write(host_dir.join("broken.crt"), "not a certificate\n").unwrap();
    let repo = Repository::parse(&format!("{}/shop", registry.host()), false).unwrap();
    let err = Client::new(repo, Auth::anonymous(), Options { cert_dirs: vec![certs_d], ..test_options() }).unwrap_err();
    assert!(matches!(err, RegistryError::CaCert { .. }), "{err:?}");
    assert!(err.to_string().contains("broken.crt"), "{err}");
}
