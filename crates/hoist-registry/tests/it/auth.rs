//! Basic auth against a registry with an htpasswd file: wrong credentials fail clearly,
//! right ones from `config.json` succeed, and secrets never show up in errors.

use hoist_registry::{Auth, CredentialSource, RegistryError};
use hoist_testkit::Registry;

use crate::{build_release, client, skopeo_inspect};

#[tokio::test]
async fn htpasswd_registry() {
    let registry = Registry::start_with_htpasswd("ci", "s3cret-pass");
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), "v1.0.0-abc1234", &[("api", "auth")]);

    // Anonymous: refused, and the error says no credentials were found and how to log in.
    let anon = Auth::resolve_from(&registry.host(), |_| None, Some(&registry.scratch("empty"))).unwrap();
    let err = client(&registry.host(), anon).push_images(&layout, &requests, false).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("none (anonymous"), "{err}");
    assert!(hoist_diag::Diagnostic::hint(&err).unwrap().contains("docker login"), "{err}");

    // Wrong password from config.json: the error names that file, never the password.
    let wrong_dir = registry.docker_config("wrong", "ci", "not-the-password");
    let wrong = Auth::resolve_from(&registry.host(), |_| None, Some(&wrong_dir)).unwrap();
    assert!(matches!(wrong.source, CredentialSource::DockerConfig { .. }));
    let err = client(&registry.host(), wrong).push_images(&layout, &requests, false).await.unwrap_err();
    let text = format!("{err} {err:?} {}", hoist_diag::Diagnostic::hint(&err).unwrap_or_default());
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(text.contains(&wrong_dir.join("config.json").display().to_string()), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");

    // Right credentials from config.json: the push works and skopeo reads it with them.
    let right_dir = registry.docker_config("right", "ci", "s3cret-pass");
    let right = Auth::resolve_from(&registry.host(), |_| None, Some(&right_dir)).unwrap();
    let report = client(&registry.host(), right).push_images(&layout, &requests, false).await.unwrap();
    let inspect = skopeo_inspect(&registry.host(), "api_v1.0.0-abc1234", Some("ci:s3cret-pass"));
    assert_eq!(inspect["Digest"], report.images[0].digest.as_str());

    // Environment variables win over config.json.
    let env = |k: &str| match k {
        "HOIST_REGISTRY_USERNAME" => Some("ci".to_string()),
        "HOIST_REGISTRY_PASSWORD" => Some("s3cret-pass".to_string()),
        _ => None,
    };
    let from_env = Auth::resolve_from(&registry.host(), env, Some(&wrong_dir)).unwrap();
    assert_eq!(from_env.source, CredentialSource::Env);
    let tags = client(&registry.host(), from_env).list_tags().await.unwrap();
    assert_eq!(tags, vec!["api_v1.0.0-abc1234".to_string()]);
}
