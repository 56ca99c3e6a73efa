//! `HOIST_GIT_TOKEN` reaches only the HTTPS URLs of the remote hoist talks to: real git,
//! real `git http-backend` servers on 127.0.0.1 (the remote) and 127.0.0.2 (a submodule's
//! host, a redirect target), each recording the headers it receives.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use hoist_git::{Git, PushOutcome};

use crate::git_http::{GitHttpServer, TestCa};

const TOKEN: &str = "ghs_test-token-0123456789";

fn expected_header() -> String {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}"));
    format!("basic {basic}")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "protocol.file.allow=always",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository `<root>/<name>` holding one commit.
fn bare_repo(tmp: &Path, root: &Path, name: &str) -> PathBuf {
    let src = tmp.join(format!("{name}-src"));
    std::fs::create_dir_all(&src).unwrap();
    git(&src, &["init", "-q"]);
    std::fs::write(src.join("README"), name).unwrap();
    git(&src, &["add", "README"]);
    git(&src, &["commit", "-q", "-m", "init"]);
    std::fs::create_dir_all(root).unwrap();
    let bare = root.join(name);
    git(tmp, &["clone", "-q", "--bare", src.to_str().unwrap(), bare.to_str().unwrap()]);
    bare
}

/// A work tree with a release tag, a populated submodule whose URL is `sub_url`, and
/// `fetch.recurseSubmodules` on, so a fetch of `origin` also talks to the submodule's host.
fn work_tree(tmp: &Path, lib_bare: &Path, sub_url: &str) -> PathBuf {
    let work = tmp.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q"]);
    std::fs::write(work.join("hoist.toml"), "").unwrap();
    git(&work, &["add", "hoist.toml"]);
    git(&work, &["commit", "-q", "-m", "init"]);
    git(&work, &["submodule", "add", "-q", lib_bare.to_str().unwrap(), "lib"]);
    git(&work, &["config", "-f", ".gitmodules", "submodule.lib.url", sub_url]);
    git(&work, &["submodule", "sync", "-q"]);
    git(&work, &["commit", "-q", "-am", "lib"]);
    git(&work, &["tag", "-a", "v1.0.0", "-m", "Release v1.0.0"]);
    // Not `http.sslCAInfo`: a `GIT_SSL_CAINFO` in the environment (CI images set one)
    // overrides it, and the servers' certificates are not what these tests are about.
    for dir in [work.clone(), work.join("lib")] {
        git(&dir, &["config", "http.sslVerify", "false"]);
    }
    git(&work, &["config", "fetch.recurseSubmodules", "true"]);
    work
}

fn auth_headers(server: &GitHttpServer) -> Vec<Option<String>> {
    server.requests().iter().map(|r| r.header("authorization").map(str::to_string)).collect()
}

#[test]
fn the_token_reaches_the_remote_and_not_a_submodule_fetched_in_the_same_run() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let (root_a, root_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let lib = bare_repo(tmp.path(), &root_b, "lib.git");
    let other = GitHttpServer::start("127.0.0.2", &root_b, Some(&ca));
    let work = work_tree(tmp.path(), &lib, &other.url("lib.git"));
    git(tmp.path(), &["clone", "-q", "--bare", work.to_str().unwrap(), root_a.join("shop.git").to_str().unwrap()]);
    git(&root_a.join("shop.git"), &["tag", "-d", "v1.0.0"]);
    let remote = GitHttpServer::start("127.0.0.1", &root_a, Some(&ca));
    git(&work, &["remote", "add", "origin", &remote.url("shop.git")]);

    let repo = Git::open(&work).unwrap().with_token(Some(TOKEN.into()));
    repo.fetch_tags("origin").unwrap();
    assert_eq!(repo.push_tag("origin", "v1.0.0").unwrap(), PushOutcome::Pushed);
    assert_eq!(repo.remote_tag_commit("origin", "v1.0.0").unwrap(), repo.tag_commit("v1.0.0").unwrap());

    let to_remote = auth_headers(&remote);
    assert!(to_remote.len() >= 4, "fetch, push and ls-remote each talk to the remote: {to_remote:?}");
    assert!(to_remote.iter().all(|h| h.as_deref() == Some(expected_header().as_str())), "{to_remote:?}");
    let to_other = auth_headers(&other);
    assert!(!to_other.is_empty(), "the fetch recursed into the submodule on 127.0.0.2");
    assert!(to_other.iter().all(Option::is_none), "the submodule's host received {to_other:?}");
    // The push really happened, and its debug form never shows the token.
    assert_eq!(git(&root_a.join("shop.git"), &["rev-parse", "v1.0.0^{commit}"]), repo.head().unwrap());
    assert!(!format!("{repo:?}").contains(TOKEN));
}

#[test]
fn a_plain_http_remote_gets_no_token() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("srv");
    let lib = bare_repo(tmp.path(), &root, "lib.git");
    let plain = GitHttpServer::start("127.0.0.1", &root, None);
    let work = work_tree(tmp.path(), &lib, &plain.url("lib.git"));
    git(tmp.path(), &["clone", "-q", "--bare", work.to_str().unwrap(), root.join("shop.git").to_str().unwrap()]);
    git(&root.join("shop.git"), &["tag", "-d", "v1.0.0"]);
    git(&work, &["remote", "add", "origin", &plain.url("shop.git")]);

    let repo = Git::open(&work).unwrap().with_token(Some(TOKEN.into()));
    repo.fetch_tags("origin").unwrap();
    assert_eq!(repo.push_tag("origin", "v1.0.0").unwrap(), PushOutcome::Pushed);
    let seen = auth_headers(&plain);
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen.iter().all(Option::is_none), "a plain HTTP remote received {seen:?}");
}

#[test]
fn a_redirect_to_another_host_carries_no_token() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let root = tmp.path().join("srv");
    let lib = bare_repo(tmp.path(), &root, "lib.git");
    let elsewhere = GitHttpServer::start("127.0.0.2", &root, Some(&ca));
    let work = work_tree(tmp.path(), &lib, &elsewhere.url("lib.git"));
    git(&work, &["config", "fetch.recurseSubmodules", "false"]);
    git(tmp.path(), &["clone", "-q", "--bare", work.to_str().unwrap(), root.join("shop.git").to_str().unwrap()]);
    let redirector = GitHttpServer::redirect("127.0.0.1", Some(&ca), &elsewhere.base);
    git(&work, &["remote", "add", "origin", &redirector.url("shop.git")]);

    let repo = Git::open(&work).unwrap().with_token(Some(TOKEN.into()));
    // git follows the first redirect and fetches from 127.0.0.2.
    repo.fetch_tags("origin").unwrap();
    let first = auth_headers(&redirector);
    assert_eq!(first, [Some(expected_header())], "the remote's own URL gets the token");
    let followed = auth_headers(&elsewhere);
    assert!(!followed.is_empty());
    assert!(followed.iter().all(Option::is_none), "the redirect target received {followed:?}");
}
