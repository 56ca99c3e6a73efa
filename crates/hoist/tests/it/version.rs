//! `hoist version` and `hoist tag` against real repositories and a bare remote.

use crate::common::{TestRepo, hoist, hoist_env};

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// The original pipeline's state: `v5.0.1-<hash>` on an older commit, then a merged PR.
fn original_pipeline_repo(title: &str) -> (TestRepo, String) {
    let repo = TestRepo::with_remote();
    repo.write("README", "shop\n");
    let old = repo.commit("initial");
    repo.tag(&format!("v5.0.1-{}", short(&old)), &old);
    repo.write("src/login.java", "class Login {}\n");
    let head = repo.commit(title);
    repo.git(&["push", "--quiet", "origin", "main"]);
    (repo, head)
}

#[test]
fn patch_marker_tags_and_pushes_the_next_release() {
    let (repo, head) = original_pipeline_repo("[patch] fix login");
    let want = format!("v5.0.2-{}", short(&head));

    let run = hoist(repo.path(), &["tag", "--push", "--output", "json"]).ok();
    let json = run.json();
    assert_eq!(json["release"], want.as_str());
    assert_eq!(json["action"], "created");
    assert_eq!(json["pushed"], true);
    assert!(repo.remote_tags().contains(&want), "{:?}", repo.remote_tags());
    // The tag is annotated, at HEAD, and carries the PR title.
    assert_eq!(repo.git(&["cat-file", "-t", &want]), "tag");
    assert_eq!(repo.git(&["rev-parse", &format!("{want}^{{commit}}")]), head);
    let message = repo.git(&["tag", "-l", "--format=%(contents)", &want]);
    assert!(message.contains("[patch] fix login"), "{message}");
    // Only that one tag went to the remote.
    assert_eq!(repo.remote_tags(), vec![want]);
}

#[test]
fn bumps_by_marker() {
    for (title, want) in [("[minor] add chat", "v5.1.0"), ("[MAJOR] new API", "v6.0.0"), ("[Patch] fix", "v5.0.2")] {
        let (repo, head) = original_pipeline_repo(title);
        let json = hoist(repo.path(), &["version", "--output", "json"]).ok().json();
        assert_eq!(json["current"]["tag"].as_str().unwrap()[..7], *"v5.0.1-");
        assert_eq!(json["release"]["tag"], format!("{want}-{}", short(&head)), "{title}");
        assert_eq!(json["release"]["reason"], "marker");
    }
}

#[test]
fn first_release_without_tags_is_the_initial_version() {
    let repo = TestRepo::new();
    let head = repo.commit("[minor] first");
    let run = hoist(repo.path(), &["tag"]).ok();
    let want = format!("v0.1.0-{}", short(&head));
    assert!(run.stdout.contains(&format!("created {want}")), "{}", run.stdout);
    assert_eq!(repo.git(&["tag", "--list"]), want);
}

#[test]
fn no_marker_means_no_release() {
    let (repo, _) = original_pipeline_repo("fix login");
    let run = hoist(repo.path(), &["tag", "--push", "--output", "json"]).ok();
    let json = run.json();
    assert!(json["release"].is_null(), "{json}");
    assert_eq!(json["action"], "none");
    let text = hoist(repo.path(), &["tag"]).ok();
    assert!(text.stdout.contains("no release"), "{}", text.stdout);
    assert_eq!(repo.git(&["tag", "--list"]).lines().count(), 1);
    assert!(repo.remote_tags().is_empty());
}

#[test]
fn default_bump_applies_without_marker() {
    let (repo, head) = original_pipeline_repo("fix login");
    repo.write("hoist.toml", "[version]\ndefault_bump = \"patch\"\n");
    let json = hoist(repo.path(), &["version", "--output", "json"]).ok().json();
    assert_eq!(json["release"]["tag"], format!("v5.0.2-{}", short(&head)));
    assert_eq!(json["release"]["reason"], "default");
}

#[test]
fn conflicting_markers_are_an_error_and_tag_nothing() {
    let (repo, _) = original_pipeline_repo("[minor] and [major]");
    let run = hoist(repo.path(), &["tag", "--push"]).fails(1);
    assert!(
        run.stderr.contains("error: the PR title has conflicting markers `[minor]` and `[major]`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    assert_eq!(repo.git(&["tag", "--list"]).lines().count(), 1);
    assert!(repo.remote_tags().is_empty());
}

#[test]
fn injection_shaped_titles_are_only_data() {
    let titles = [
        "$(touch {marker}) [patch]",
        "`touch {marker}` [patch]",
        "[patch] '; touch {marker}; echo '",
        "[patch] \"$(touch {marker})\"",
        "[patch] fix\ntouch {marker}",
        "[patch] a; touch {marker}",
    ];
    for template in titles {
        let (repo, head) = original_pipeline_repo("unrelated");
        let marker = repo.scratch("probe").join("pwned");
        let title = template.replace("{marker}", marker.to_str().unwrap());
        let json = hoist(repo.path(), &["tag", "--push", "--pr-title", &title, "--output", "json"]).ok().json();
        let want = format!("v5.0.2-{}", short(&head));
        assert_eq!(json["release"], want.as_str(), "{title}");
        assert!(!marker.exists(), "a title was executed: {title}");
        let message = repo.git(&["tag", "-l", "--format=%(contents)", &want]);
        assert!(message.contains(&title), "tag message lost the title {title:?}: {message:?}");
    }
}

#[test]
fn rerun_on_a_tagged_head_changes_nothing() {
    let (repo, head) = original_pipeline_repo("[patch] fix login");
    hoist(repo.path(), &["tag", "--push"]).ok();
    let before = repo.git(&["show-ref", "--tags"]);
    let run = hoist(repo.path(), &["tag", "--push", "--output", "json"]).ok();
    let json = run.json();
    assert_eq!(json["action"], "existing");
    assert_eq!(json["release"], format!("v5.0.2-{}", short(&head)));
    assert_eq!(repo.git(&["show-ref", "--tags"]), before);
    assert_eq!(repo.remote_tags().len(), 1);
    // `version` agrees that there is nothing left to release at HEAD.
    let json = hoist(repo.path(), &["version", "--output", "json"]).ok().json();
    assert!(json["release"].is_null());
    assert_eq!(json["head_release"]["tag"], format!("v5.0.2-{}", short(&head)));
}

#[test]
fn shallow_clone_fetches_the_tags_it_needs() {
    let (repo, _) = original_pipeline_repo("[patch] fix login");
    repo.git(&["push", "--quiet", "origin", "--tags"]);
    let clone = repo.scratch("ci").join("checkout");
    let url = format!("file://{}", repo.remote.as_ref().unwrap().display());
    hoist_testkit::git::run_git(
        repo.path(),
        &["clone", "--quiet", "--depth", "1", "--no-tags", &url, clone.to_str().unwrap()],
    );
    assert_eq!(hoist_testkit::git::run_git(&clone, &["tag", "--list"]), "");
    let head = hoist_testkit::git::run_git(&clone, &["rev-parse", "HEAD"]);
    let run = hoist(&clone, &["version", "--output", "json"]).ok();
    assert!(run.stderr.contains("shallow clone"), "{}", run.stderr);
    assert_eq!(run.json()["release"]["tag"], format!("v5.0.2-{}", short(&head)));
}

#[test]
fn shallow_clone_without_remote_says_what_to_change() {
    let (repo, _) = original_pipeline_repo("[patch] fix login");
    let clone = repo.scratch("ci2").join("checkout");
    let url = format!("file://{}", repo.remote.as_ref().unwrap().display());
    hoist_testkit::git::run_git(repo.path(), &["clone", "--quiet", "--depth", "1", &url, clone.to_str().unwrap()]);
    hoist_testkit::git::run_git(&clone, &["remote", "remove", "origin"]);
    let run = hoist(&clone, &["version"]).fails(1);
    assert!(run.stderr.contains("fetch-depth: 0"), "{}", run.stderr);
}

#[test]
fn title_from_github_event_payload() {
    let (repo, head) = original_pipeline_repo("Merge branch without marker");
    let event = repo.scratch("gh").join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"title": "[minor] $(reboot) add chat", "merged": true}}"#).unwrap();
    let json =
        hoist_env(repo.path(), &["version", "--output", "json"], &[("GITHUB_EVENT_PATH", event.to_str().unwrap())])
            .ok()
            .json();
    assert_eq!(json["title"]["source"], "github_event");
    assert_eq!(json["release"]["tag"], format!("v5.1.0-{}", short(&head)));
}

#[test]
fn title_from_merge_commit_body() {
    let repo = TestRepo::new();
    let base = repo.commit("initial");
    repo.tag(&format!("v1.0.0-{}", short(&base)), &base);
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.commit("work");
    repo.git(&["checkout", "--quiet", "main"]);
    repo.git(&[
        "merge",
        "--quiet",
        "--no-ff",
        "feature",
        "-m",
        "Merge pull request #7 from acme/feature\n\n[minor] add chat",
    ]);
    let json = hoist(repo.path(), &["version", "--output", "json"]).ok().json();
    assert_eq!(json["title"]["source"], "merge_commit");
    assert_eq!(json["title"]["text"], "[minor] add chat");
    assert_eq!(json["release"]["version"], "1.1.0");
}

#[test]
fn tags_on_other_branches_do_not_count() {
    let repo = TestRepo::new();
    let base = repo.commit("initial");
    repo.tag(&format!("v1.0.0-{}", short(&base)), &base);
    repo.git(&["checkout", "--quiet", "-b", "hotfix"]);
    let other = repo.commit("hotfix");
    repo.tag(&format!("v9.0.0-{}", short(&other)), &other);
    repo.git(&["checkout", "--quiet", "main"]);
    repo.commit("[patch] x");
    let json = hoist(repo.path(), &["version", "--output", "json"]).ok().json();
    assert_eq!(json["current"]["version"], "1.0.0");
    assert_eq!(json["release"]["version"], "1.0.1");
}

#[test]
fn precedence_not_date_and_malformed_tags_listed_with_verbose() {
    let repo = TestRepo::new();
    let a = repo.commit("a");
    repo.tag(&format!("v5.0.10-{}", short(&a)), &a);
    let b = repo.commit("b");
    repo.tag(&format!("v5.0.9-{}", short(&b)), &b);
    repo.tag("v1.2", &b);
    repo.tag("vX.Y.Z", &b);
    repo.tag("v01.2.3-abcdef0", &b);
    repo.tag("v5.0.1-zzzzzzz", &b);
    repo.tag("v7.0.0-0000000", &b);
    repo.commit("[patch] c");
    let run = hoist(repo.path(), &["version", "-v", "--output", "json"]).ok();
    let json = run.json();
    assert_eq!(json["current"]["version"], "5.0.10");
    assert_eq!(json["release"]["version"], "5.0.11");
    assert_eq!(json["ignored"].as_array().unwrap().len(), 5, "{json}");
    for (tag, reason) in [
        ("v1.2", "no `-<hash>` suffix"),
        ("vX.Y.Z", "no `-<hash>` suffix"),
        ("v01.2.3-abcdef0", "not a SemVer"),
        ("v5.0.1-zzzzzzz", "not hexadecimal"),
        ("v7.0.0-0000000", "does not match the commit"),
    ] {
        let line = run.stderr.lines().find(|l| l.contains(&format!("ignored tag {tag}:"))).unwrap_or_else(|| {
            panic!("no verbose line for {tag}:\n{}", run.stderr);
        });
        assert!(line.contains(reason), "{line}");
    }
    // Without -v the ignored tags are not talked about.
    let quiet = hoist(repo.path(), &["version"]).ok();
    assert!(!quiet.stderr.contains("ignored tag"), "{}", quiet.stderr);
}

#[test]
fn push_conflict_is_reported_and_never_forced() {
    let (repo, head) = original_pipeline_repo("[patch] fix login");
    let want = format!("v5.0.2-{}", short(&head));
    // Someone else released the same version from another commit first.
    let other = repo.scratch("other").join("w");
    let url = repo.remote.as_ref().unwrap().to_str().unwrap().to_string();
    hoist_testkit::git::run_git(repo.path(), &["clone", "--quiet", &url, other.to_str().unwrap()]);
    hoist_testkit::git::run_git(
        &other,
        &["-c", "user.email=a@b", "-c", "user.name=x", "commit", "--quiet", "--allow-empty", "-m", "racer"],
    );
    hoist_testkit::git::run_git(&other, &["tag", &want]);
    hoist_testkit::git::run_git(&other, &["push", "--quiet", "origin", &want]);
    let remote_commit = hoist_testkit::git::run_git(&other, &["rev-parse", "HEAD"]);

    let run = hoist(repo.path(), &["tag", "--push"]).fails(1);
    assert!(run.stderr.contains(&format!("tag `{want}` already exists on remote `origin`")), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    // The remote's tag is untouched, and the local repository now has the remote's.
    let remote_now =
        hoist_testkit::git::run_git(repo.remote.as_ref().unwrap(), &["rev-parse", &format!("{want}^{{commit}}")]);
    assert_eq!(remote_now, remote_commit);
    assert_eq!(repo.git(&["rev-parse", &format!("{want}^{{commit}}")]), remote_commit);
}

#[test]
fn tag_dry_run_creates_nothing() {
    let (repo, head) = original_pipeline_repo("[minor] add chat");
    let run = hoist(repo.path(), &["tag", "--push", "--dry-run"]).ok();
    assert!(run.stdout.contains(&format!("would create v5.1.0-{}", short(&head))), "{}", run.stdout);
    assert_eq!(repo.git(&["tag", "--list"]).lines().count(), 1);
    assert!(repo.remote_tags().is_empty());
}

#[test]
fn custom_tag_formats() {
    for (format, want) in [("v{version}", "v5.0.2"), ("shop-v{version}", "shop-v5.0.2"), ("{version}", "5.0.2")] {
        let repo = TestRepo::new();
        let base = repo.commit("initial");
        repo.tag(&format.replace("{version}", "5.0.1"), &base);
        repo.write("hoist.toml", &format!("[version]\ntag_format = \"{format}\"\n"));
        repo.commit("[patch] x");
        let json = hoist(repo.path(), &["tag", "--output", "json"]).ok().json();
        assert_eq!(json["release"], want, "{format}");
    }
    let repo = TestRepo::new();
    let base = repo.commit("initial");
    repo.tag(&format!("v5.0.1+{}", short(&base)), &base);
    repo.write("hoist.toml", "[version]\ntag_format = \"v{version}+{sha}\"\nsha_length = 10\n");
    let head = repo.commit("[patch] x");
    let json = hoist(repo.path(), &["version", "--output", "json"]).ok().json();
    assert_eq!(json["release"]["tag"], format!("v5.0.2+{}", &head[..10]));
}

#[test]
fn clear_errors_for_bad_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let run = hoist(dir.path(), &["version"]).fails(1);
    assert!(run.stderr.contains("is not inside a git repository"), "{}", run.stderr);

    let repo = TestRepo::new();
    let run = hoist(repo.path(), &["version"]).fails(1);
    assert!(run.stderr.contains("has no commits yet"), "{}", run.stderr);

    let repo = TestRepo::new();
    repo.commit("[patch] a");
    repo.git(&["checkout", "--quiet", "--detach"]);
    let run = hoist(repo.path(), &["tag"]).fails(1);
    assert!(run.stderr.contains("HEAD is detached"), "{}", run.stderr);
    assert!(run.stderr.contains("--allow-detached"), "{}", run.stderr);
    hoist(repo.path(), &["tag", "--allow-detached"]).ok();

    let repo = TestRepo::new();
    repo.commit("[patch] a");
    let run = hoist(repo.path(), &["tag", "--push"]).fails(1);
    assert!(run.stderr.contains("git remote `origin` does not exist"), "{}", run.stderr);
}

#[test]
fn config_errors_name_file_line_and_key() {
    let repo = TestRepo::new();
    repo.commit("[patch] a");
    repo.write("hoist.toml", "[version]\ntag_formt = \"v{version}\"\n");
    let run = hoist(repo.path(), &["version"]).fails(1);
    let path = repo.path().join("hoist.toml");
    assert!(run.stderr.contains(&format!("{}:2:1", path.display())), "{}", run.stderr);
    assert!(run.stderr.contains("tag_formt"), "{}", run.stderr);

    repo.write("hoist.toml", "[version]\ntag_format = \"v {version}\"\n");
    let run = hoist(repo.path(), &["version"]).fails(1);
    assert!(run.stderr.contains("`version.tag_format`"), "{}", run.stderr);

    // --config and -C
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("custom.toml"), "[version]\ntag_format = \"rel-{version}\"\n").unwrap();
    let cfg = other.path().join("custom.toml");
    let sub = tempfile::tempdir().unwrap();
    let json = hoist(
        sub.path(),
        &["-C", repo.path().to_str().unwrap(), "--config", cfg.to_str().unwrap(), "version", "--output", "json"],
    )
    .ok()
    .json();
    assert_eq!(json["release"]["tag"], "rel-0.1.0");

    let run = hoist(repo.path(), &["--config", "missing.toml", "version"]).fails(1);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
}

#[test]
fn git_token_is_used_but_never_shown() {
    let (repo, _) = original_pipeline_repo("[patch] fix login");
    let port = hoist_testkit::net::free_port();
    repo.git(&["remote", "set-url", "origin", &format!("http://127.0.0.1:{port}/shop.git")]);
    let token = "ghs_supersecret_token_value";
    let run = hoist_env(repo.path(), &["tag", "--push", "-vv"], &[("HOIST_GIT_TOKEN", token)]).fails(2);
    assert!(run.stderr.contains("could not be pushed"), "{}", run.stderr);
    assert!(!run.stderr.contains(token) && !run.stdout.contains(token), "token leaked:\n{}", run.stderr);
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    assert!(!run.stderr.contains(&encoded), "encoded token leaked:\n{}", run.stderr);
}
