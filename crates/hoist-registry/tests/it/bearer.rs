//! Bearer token auth against a real registry that trusts the testkit's token service:
//! refusals say how to log in and never show the secret, tokens are cached per scope,
//! and expired or refused tokens are fetched again.

use std::time::Duration;

use base64::Engine as _;

use hoist_registry::{Auth, CredentialSource, RegistryError, TagAction};
use hoist_testkit::Registry;
use hoist_testkit::token::{Anonymous, Caller, SERVICE, TokenRequest, TokenServer};

use crate::{build_release, client, skopeo_inspect};

const USER: &str = "ci";
const PASSWORD: &str = "t0ken-pass";
const RELEASE: &str = "v1.0.0-abc1234";
const SERVICES: &[(&str, &str)] = &[("api", "api bearer 1"), ("web", "web bearer 1")];
const PULL_SCOPE: &str = "repository:shop:pull";

fn no_env(_: &str) -> Option<String> {
    None
}

/// Whether `request` asked for push and pull on `shop` (in either order) and nothing else.
fn asks_push(request: &TokenRequest) -> bool {
    matches!(
        request.scopes.as_slice(),
        [s] if s == "repository:shop:push,pull" || s == "repository:shop:pull,push"
    )
}

/// The requests the token service answered since `before` of them.
fn since(tokens: &TokenServer, before: usize) -> Vec<TokenRequest> {
    tokens.requests().split_off(before)
}

#[tokio::test]
async fn bearer_token_registry() {
    let tokens = TokenServer::start(USER, PASSWORD);
    let registry = Registry::start_with_token_auth(&tokens);
    let host = registry.host();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), RELEASE, SERVICES);

    // Anonymous, and the token service refuses callers without credentials: the error says
    // none were found and how to log in.
    let anon = Auth::resolve_from(&host, no_env, Some(&registry.scratch("empty"))).unwrap();
    let err = client(&host, anon.clone()).push_images(&layout, &requests, false).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("none (anonymous"), "{err}");
    let hint = hoist_diag::Diagnostic::hint(&err).unwrap();
    assert!(hint.contains(&format!("docker login {host}")), "{hint}");
    let seen = tokens.requests();
    assert!(!seen.is_empty() && seen.iter().all(|r| r.caller == Caller::Anonymous && r.granted.is_none()), "{seen:#?}");

    // A service that hands anonymous callers a token granting nothing (as Docker Hub does):
    // the registry refuses the token, the client asks once more, then gives up the same way.
    tokens.set_anonymous(Anonymous::NoAccess);
    let before = tokens.requests().len();
    let err = client(&host, anon).list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("insufficient_scope"), "what the registry said: {err}");
    assert!(hoist_diag::Diagnostic::hint(&err).unwrap().contains("docker login"), "{err}");
    let seen = since(&tokens, before);
    assert_eq!(seen.len(), 2, "one token, and one more after the registry's 401: {seen:#?}");
    assert!(seen.iter().all(|r| r.granted == Some(Vec::new()) && r.scopes == [PULL_SCOPE]), "{seen:#?}");
    tokens.set_anonymous(Anonymous::Refuse);

    // Wrong password from config.json: the token service refuses it; the error names that
    // file, and neither the password nor the `auth` value holding it shows anywhere.
    let wrong_dir = registry.docker_config("wrong", USER, "not-the-password");
    let wrong = Auth::resolve_from(&host, no_env, Some(&wrong_dir)).unwrap();
    assert!(matches!(wrong.source, CredentialSource::DockerConfig { .. }));
    let before = tokens.requests().len();
    let err = client(&host, wrong).push_images(&layout, &requests, false).await.unwrap_err();
    let text = format!("{err} {err:?} {}", hoist_diag::Diagnostic::hint(&err).unwrap_or_default());
    assert!(matches!(err, RegistryError::Unauthorized { status: 401, .. }), "{err}");
    assert!(text.contains(&wrong_dir.join("config.json").display().to_string()), "{text}");
    assert!(text.contains("docker login"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
    assert!(!text.contains(&base64::engine::general_purpose::STANDARD.encode(format!("{USER}:not-the-password"))));
    let seen = since(&tokens, before);
    // A refusal from the token service is final: no retry loop (two parallel tag lookups
    // may each have asked once before the first refusal ended the push).
    assert!((1..=2).contains(&seen.len()), "{seen:#?}");
    assert!(seen.iter().all(|r| r.caller == Caller::Invalid && r.granted.is_none()), "{seen:#?}");

    // Right credentials from config.json: the push works on a handful of tokens although it
    // makes many registry requests (5 blobs to upload, 2 manifests, tag lookups).
    let right_dir = registry.docker_config("right", USER, PASSWORD);
    let client = client(&host, Auth::resolve_from(&host, no_env, Some(&right_dir)).unwrap());
    let before = tokens.requests().len();
    let report = client.push_images(&layout, &requests, false).await.unwrap();
    assert_eq!(report.blobs_uploaded, 5, "{report:#?}");
    assert!(report.images.iter().all(|i| i.action == TagAction::Create), "{report:#?}");
    let seen = since(&tokens, before);
    assert!((1..=3).contains(&seen.len()), "tokens must be cached per scope: {seen:#?}");
    assert!(seen.iter().any(asks_push), "no push scope asked: {seen:#?}");
    for r in &seen {
        assert_eq!(r.caller, Caller::Valid, "{r:#?}");
        assert_eq!(r.service.as_deref(), Some(SERVICE), "{r:#?}");
        assert!(asks_push(r) || r.scopes == [PULL_SCOPE], "only this repository's scopes: {r:#?}");
        assert_eq!(r.granted.as_ref(), Some(&r.scopes), "{r:#?}");
    }

    // The same release again is a no-op, and the cached tokens cover it and the pulls.
    let before = tokens.requests().len();
    let again = client.push_images(&layout, &requests, false).await.unwrap();
    assert!(again.images.iter().all(|i| i.action == TagAction::Unchanged), "{again:#?}");
    let mut tags = client.list_tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, [format!("api_{RELEASE}"), format!("web_{RELEASE}")]);
    for image in &report.images {
        assert_eq!(client.get_manifest(&image.tag).await.unwrap().digest, image.digest, "{}", image.tag);
    }
    assert_eq!(tokens.requests().len(), before, "cached tokens were not reused: {:#?}", since(&tokens, before));

    // skopeo, with its own token handshake against the same service, reads every tag at the
    // digest hoist pushed.
    let before = tokens.requests().len();
    for image in &report.images {
        let inspect = skopeo_inspect(&host, &image.tag, Some(&format!("{USER}:{PASSWORD}")));
        assert_eq!(inspect["Digest"], image.digest.as_str(), "{}", image.tag);
    }
    let seen = since(&tokens, before);
    assert!(!seen.is_empty() && seen.iter().all(|r| r.caller == Caller::Valid), "{seen:#?}");
    assert!(seen.iter().any(|r| r.scopes.iter().any(|s| s == PULL_SCOPE)), "{seen:#?}");
}

#[tokio::test]
async fn expired_and_refused_tokens_are_fetched_again() {
    let tokens = TokenServer::start(USER, PASSWORD);
    tokens.set_lifetime(Duration::from_secs(2));
    let registry = Registry::start_with_token_auth(&tokens);
    let host = registry.host();
    let tmp = tempfile::tempdir().unwrap();
    let env = |k: &str| match k {
        "HOIST_REGISTRY_USERNAME" => Some(USER.to_string()),
        "HOIST_REGISTRY_PASSWORD" => Some(PASSWORD.to_string()),
        _ => None,
    };
    let auth = Auth::resolve_from(&host, env, None).unwrap();
    assert_eq!(auth.source, CredentialSource::Env);
    let client = client(&host, auth.clone());

    let (layout, requests) = build_release(tmp.path(), RELEASE, SERVICES);
    client.push_images(&layout, &requests, false).await.unwrap();
    let first = tokens.requests();
    assert!(first.iter().any(asks_push), "{first:#?}");

    // Distribution accepts a token until 60 s past its `exp`, so only the client's own
    // expiry makes it ask again here. It takes an `expires_in` below 10 s as 10 s (the spec
    // wants at least 60) and refreshes 5 s early: wait out those 5 s, and a second more.
    let last = first.last().unwrap().at;
    tokio::time::sleep_until((last + Duration::from_secs(6)).into()).await;

    let next = "v1.1.0-def5678";
    let (layout, requests) = build_release(tmp.path(), next, &[("api", "api bearer 1"), ("web", "web bearer 2")]);
    let report = client.push_images(&layout, &requests, false).await.unwrap();
    assert_eq!(report.blobs_uploaded, 2, "only web's layer and config changed: {report:#?}");
    let seen = since(&tokens, first.len());
    assert!(seen.iter().all(|r| r.caller == Caller::Valid && !r.dead), "{seen:#?}");
    assert!(seen.iter().any(asks_push), "the push token was not fetched again: {seen:#?}");
    assert!(seen.iter().any(|r| r.scopes == [PULL_SCOPE]), "the pull token was not fetched again: {seen:#?}");
    let web = report.image(&format!("web_{next}")).unwrap();
    assert_eq!(client.get_manifest(&web.tag).await.unwrap().digest, web.digest);

    // A token the registry refuses although the service said it lives on (a skewed clock,
    // a rotated key): the client asks once more on the 401 and goes on.
    tokens.set_lifetime(Duration::from_secs(300));
    tokens.issue_dead(1);
    let before = tokens.requests().len();
    let tags = crate::client(&host, auth.clone()).list_tags().await.unwrap();
    assert_eq!(tags.len(), 4, "{tags:?}");
    let seen = since(&tokens, before);
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert!(seen[0].dead && !seen[1].dead, "{seen:#?}");

    // Requests refused together fetch one new token between them: the plan asks about
    // three tags in parallel, all with the same dead pull token.
    tokens.issue_dead(1);
    let (layout, requests) =
        build_release(tmp.path(), "v1.2.0-0000000", &[("api", "api 3"), ("web", "web 3"), ("worker", "w 3")]);
    let before = tokens.requests().len();
    let plan = crate::client(&host, auth.clone()).plan(&layout, &requests).await.unwrap();
    assert!(plan.images.iter().all(|i| i.action == TagAction::Create), "{plan:#?}");
    let pulls: Vec<_> = since(&tokens, before).into_iter().filter(|r| r.scopes == [PULL_SCOPE]).collect();
    assert_eq!(pulls.len(), 2, "the dead token and one new one: {pulls:#?}");
    assert!(pulls[0].dead && !pulls[1].dead, "{pulls:#?}");

    // An account that may pull but not push: the plan reads, the push is refused, and the
    // error says the credentials work but lack the right, not to log in again.
    tokens.set_pull_only(true);
    let pull_only = crate::client(&host, auth.clone());
    let plan = pull_only.plan(&layout, &requests).await.unwrap();
    assert!(plan.images.iter().all(|i| i.action == TagAction::Create), "{plan:#?}");
    let err = pull_only.push_images(&layout, &requests, false).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("insufficient_scope"), "{err}");
    let hint = hoist_diag::Diagnostic::hint(&err).unwrap();
    assert!(hint.contains("do not allow") && hint.contains("`shop`"), "{hint}");
    assert!(!format!("{err} {err:?} {hint}").contains(PASSWORD), "{err:?}");
    tokens.set_pull_only(false);

    // When every token is refused, it asks once more only, then stops with a clear error.
    tokens.issue_dead(usize::MAX);
    let before = tokens.requests().len();
    let err = crate::client(&host, auth).list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("invalid_token"), "{err}");
    assert!(hoist_diag::Diagnostic::hint(&err).unwrap().contains("clock"), "{err}");
    assert!(err.to_string().contains("HOIST_REGISTRY_USERNAME"), "{err}");
    assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err:?}");
    assert_eq!(since(&tokens, before).len(), 2);
}

#[tokio::test]
async fn identity_tokens_from_config_json_use_the_refresh_token_grant() {
    let tokens = TokenServer::start(USER, PASSWORD);
    tokens.accept_refresh_token("refresh-7d1f0c");
    let registry = Registry::start_with_token_auth(&tokens);
    let host = registry.host();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), RELEASE, SERVICES);
    let config_with = |name: &str, token: &str| {
        let dir = registry.scratch(name);
        let json = serde_json::json!({ "auths": { host.clone(): { "identitytoken": token } } });
        std::fs::write(dir.join("config.json"), json.to_string()).unwrap();
        dir
    };

    // A refresh token the service does not know: refused, the error names config.json, and
    // the token shows nowhere.
    let wrong_dir = config_with("wrong-identity", "refresh-stale");
    let wrong = Auth::resolve_from(&host, no_env, Some(&wrong_dir)).unwrap();
    let err = client(&host, wrong).push_images(&layout, &requests, false).await.unwrap_err();
    let text = format!("{err} {err:?} {}", hoist_diag::Diagnostic::hint(&err).unwrap_or_default());
    assert!(matches!(err, RegistryError::Unauthorized { .. } | RegistryError::Token { .. }), "{err}");
    assert!(text.contains(&wrong_dir.join("config.json").display().to_string()), "{text}");
    assert!(!text.contains("refresh-stale"), "{text}");
    let seen = tokens.requests();
    assert!(!seen.is_empty() && seen.iter().all(|r| r.method == "POST" && r.caller == Caller::Invalid), "{seen:#?}");

    // The right one: every token comes from the POST grant (no Basic, no password), for the
    // scopes asked, and the push is complete.
    let right_dir = config_with("identity", "refresh-7d1f0c");
    let right = Auth::resolve_from(&host, no_env, Some(&right_dir)).unwrap();
    assert!(matches!(right.source, CredentialSource::DockerConfig { .. }), "{:?}", right.source);
    let before = tokens.requests().len();
    let client = client(&host, right);
    let report = client.push_images(&layout, &requests, false).await.unwrap();
    assert!(report.images.iter().all(|i| i.action == TagAction::Create), "{report:#?}");
    let seen = since(&tokens, before);
    assert!(seen.iter().all(|r| r.method == "POST" && r.caller == Caller::Valid), "{seen:#?}");
    assert!(seen.iter().any(asks_push), "{seen:#?}");
    assert!(seen.iter().all(|r| r.service.as_deref() == Some(SERVICE)), "{seen:#?}");
    for image in &report.images {
        assert_eq!(client.get_manifest(&image.tag).await.unwrap().digest, image.digest);
        let inspect = skopeo_inspect(&host, &image.tag, Some(&format!("{USER}:{PASSWORD}")));
        assert_eq!(inspect["Digest"], image.digest.as_str(), "{}", image.tag);
    }
}
