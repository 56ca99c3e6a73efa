//! `hoist version` and `hoist tag` against real repositories and a bare remote.

use crate::common::TestContext;
use crate::{hoist_snapshot, json_snapshot};

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// The original pipeline's state: `v5.0.1-<hash>` on an older commit, then a merged PR.
fn original_pipeline_repo(title: &str) -> (TestContext, String) {
    let ctx = TestContext::repo_with_remote();
    let repo = ctx.repo_ref();
    repo.write("README", "shop\n");
    let old = repo.commit("initial");
    repo.tag(&format!("v5.0.1-{}", short(&old)), &old);
    repo.write("src/login.java", "class Login {}\n");
    let head = repo.commit(title);
    repo.git(&["push", "--quiet", "origin", "main"]);
    (ctx, head)
}

#[test]
fn patch_marker_tags_and_pushes_the_next_release() {
    let (ctx, head) = original_pipeline_repo("[patch] fix login");
    let repo = ctx.repo_ref();
    let want = format!("v5.0.2-{}", short(&head));

    let run = ctx.hoist(&["tag", "--push", "--output", "json"]).ok();
    let json = run.json();
    assert_eq!(json["release"], want.as_str());
    assert_eq!(json["action"], "created");
    assert_eq!(json["pushed"], true);
    json_snapshot!(ctx, "tag_push_created", json);
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
        let (ctx, head) = original_pipeline_repo(title);
        let json = ctx.hoist(&["version", "--output", "json"]).ok().json();
        assert_eq!(json["current"]["tag"].as_str().unwrap()[..7], *"v5.0.1-");
        assert_eq!(json["release"]["tag"], format!("{want}-{}", short(&head)), "{title}");
        assert_eq!(json["release"]["reason"], "marker");
        json_snapshot!(ctx, format!("version_{want}"), json);
    }
}

#[test]
fn first_release_without_tags_is_the_initial_version() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    let head = repo.commit("[minor] first");
    let run = ctx.hoist(&["tag"]).ok();
    let want = format!("v0.1.0-{}", short(&head));
    assert!(run.stdout.contains(&format!("created {want}")), "{}", run.stdout);
    hoist_snapshot!(ctx, "tag_first_release", run);
    assert_eq!(repo.git(&["tag", "--list"]), want);
}

#[test]
fn no_marker_means_no_release() {
    let (ctx, _) = original_pipeline_repo("fix login");
    let repo = ctx.repo_ref();
    let run = ctx.hoist(&["tag", "--push", "--output", "json"]).ok();
    let json = run.json();
    assert!(json["release"].is_null(), "{json}");
    assert_eq!(json["action"], "none");
    json_snapshot!(ctx, "tag_no_release", json);
    let text = ctx.hoist(&["tag"]).ok();
    assert!(text.stdout.contains("no release"), "{}", text.stdout);
    hoist_snapshot!(ctx, "tag_no_release_text", text);
    assert_eq!(repo.git(&["tag", "--list"]).lines().count(), 1);
    assert!(repo.remote_tags().is_empty());
}

#[test]
fn default_bump_applies_without_marker() {
    let (ctx, head) = original_pipeline_repo("fix login");
    ctx.repo_ref().write("hoist.toml", "[version]\ndefault_bump = \"patch\"\n");
    let json = ctx.hoist(&["version", "--output", "json"]).ok().json();
    assert_eq!(json["release"]["tag"], format!("v5.0.2-{}", short(&head)));
    assert_eq!(json["release"]["reason"], "default");
    json_snapshot!(ctx, "version_default_bump", json);
}

#[test]
fn conflicting_markers_are_an_error_and_tag_nothing() {
    let (ctx, _) = original_pipeline_repo("[minor] and [major]");
    let repo = ctx.repo_ref();
    let run = ctx.hoist(&["tag", "--push"]).fails(1);
    hoist_snapshot!(ctx, "conflicting_markers", run);
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
        let (ctx, head) = original_pipeline_repo("unrelated");
        let repo = ctx.repo_ref();
        let marker = repo.scratch("probe").join("pwned");
        let title = template.replace("{marker}", marker.to_str().unwrap());
        let json = ctx.hoist(&["tag", "--push", "--pr-title", &title, "--output", "json"]).ok().json();
        let want = format!("v5.0.2-{}", short(&head));
        assert_eq!(json["release"], want.as_str(), "{title}");
        assert!(!marker.exists(), "a title was executed: {title}");
        let message = repo.git(&["tag", "-l", "--format=%(contents)", &want]);
        assert!(message.contains(&title), "tag message lost the title {title:?}: {message:?}");
    }
}

#[test]
fn rerun_on_a_tagged_head_changes_nothing() {
    let (ctx, head) = original_pipeline_repo("[patch] fix login");
    let repo = ctx.repo_ref();
    ctx.hoist(&["tag", "--push"]).ok();
    let before = repo.git(&["show-ref", "--tags"]);
    let run = ctx.hoist(&["tag", "--push", "--output", "json"]).ok();
    let json = run.json();
    assert_eq!(json["action"], "existing");
    assert_eq!(json["release"], format!("v5.0.2-{}", short(&head)));
    json_snapshot!(ctx, "tag_existing", json);
    assert_eq!(repo.git(&["show-ref", "--tags"]), before);
    assert_eq!(repo.remote_tags().len(), 1);
    // `version` agrees that there is nothing left to release at HEAD.
    let json = ctx.hoist(&["version", "--output", "json"]).ok().json();
    assert!(json["release"].is_null());
    assert_eq!(json["head_release"]["tag"], format!("v5.0.2-{}", short(&head)));
    json_snapshot!(ctx, "version_head_released", json);
}

#[test]
fn shallow_clone_fetches_the_tags_it_needs() {
    let (ctx, _) = original_pipeline_repo("[patch] fix login");
    let repo = ctx.repo_ref();
    repo.git(&["push", "--quiet", "origin", "--tags"]);
    let clone = repo.scratch("ci").join("checkout");
    let url = format!("file://{}", repo.remote.as_ref().unwrap().display());
    hoist_testkit::git::run_git(
        repo.path(),
        &["clone", "--quiet", "--depth", "1", "--no-tags", &url, clone.to_str().unwrap()],
    );
    assert_eq!(hoist_testkit::git::run_git(&clone, &["tag", "--list"]), "");
    let head = hoist_testkit::git::run_git(&clone, &["rev-parse", "HEAD"]);
    let run = ctx.hoist_in(&clone, &["version", "--output", "json"]).ok();
    assert!(run.stderr.contains("shallow clone"), "{}", run.stderr);
    assert_eq!(run.json()["release"]["tag"], format!("v5.0.2-{}", short(&head)));
    hoist_snapshot!(ctx, "version_shallow_clone", run);
}

#[test]
fn shallow_clone_without_remote_says_what_to_change() {
    let (ctx, _) = original_pipeline_repo("[patch] fix login");
    let repo = ctx.repo_ref();
    let clone = repo.scratch("ci2").join("checkout");
    let url = format!("file://{}", repo.remote.as_ref().unwrap().display());
    hoist_testkit::git::run_git(repo.path(), &["clone", "--quiet", "--depth", "1", &url, clone.to_str().unwrap()]);
    hoist_testkit::git::run_git(&clone, &["remote", "remove", "origin"]);
    let run = ctx.hoist_in(&clone, &["version"]).fails(1);
    assert!(run.stderr.contains("fetch-depth: 0"), "{}", run.stderr);
    hoist_snapshot!(ctx, "shallow_clone_without_remote", run);
}

#[test]
fn title_from_github_event_payload() {
    let (ctx, head) = original_pipeline_repo("Merge branch without marker");
    let event = ctx.repo_ref().scratch("gh").join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"title": "[minor] $(reboot) add chat", "merged": true}}"#).unwrap();
    let json =
        ctx.hoist_with(&["version", "--output", "json"], &[("GITHUB_EVENT_PATH", event.to_str().unwrap())]).ok().json();
    assert_eq!(json["title"]["source"], "github_event");
    assert_eq!(json["release"]["tag"], format!("v5.1.0-{}", short(&head)));
    json_snapshot!(ctx, "version_github_event", json);
}

#[test]
fn title_from_merge_commit_body() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
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
    let json = ctx.hoist(&["version", "--output", "json"]).ok().json();
    assert_eq!(json["title"]["source"], "merge_commit");
    assert_eq!(json["title"]["text"], "[minor] add chat");
    assert_eq!(json["release"]["version"], "1.1.0");
    json_snapshot!(ctx, "version_merge_commit", json);
}

#[test]
fn tags_on_other_branches_do_not_count() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    let base = repo.commit("initial");
    repo.tag(&format!("v1.0.0-{}", short(&base)), &base);
    repo.git(&["checkout", "--quiet", "-b", "hotfix"]);
    let other = repo.commit("hotfix");
    repo.tag(&format!("v9.0.0-{}", short(&other)), &other);
    repo.git(&["checkout", "--quiet", "main"]);
    repo.commit("[patch] x");
    let json = ctx.hoist(&["version", "--output", "json"]).ok().json();
    assert_eq!(json["current"]["version"], "1.0.0");
    assert_eq!(json["release"]["version"], "1.0.1");
}

#[test]
fn precedence_not_date_and_malformed_tags_listed_with_verbose() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
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
    let run = ctx.hoist(&["version", "-v", "--output", "json"]).ok();
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
    json_snapshot!(ctx, "version_verbose_ignored", json);
    // Without -v the ignored tags are not talked about.
    let quiet = ctx.hoist(&["version"]).ok();
    assert!(!quiet.stderr.contains("ignored tag"), "{}", quiet.stderr);
    hoist_snapshot!(ctx, "version_text", quiet);
}

#[test]
fn push_conflict_is_reported_and_never_forced() {
    let (ctx, head) = original_pipeline_repo("[patch] fix login");
    let repo = ctx.repo_ref();
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

    let run = ctx.hoist(&["tag", "--push"]).fails(1);
    assert!(run.stderr.contains(&format!("tag `{want}` already exists on remote `origin`")), "{}", run.stderr);
    // The racer's commit is the remote's, not the context's: named by the filter for it.
    let ctx = ctx.with_filter(&format!(r"\b{}[0-9a-f]*\b", &remote_commit[..7]), "[REMOTE_SHA]");
    hoist_snapshot!(ctx, "push_conflict", run);
    let repo = ctx.repo_ref();
    // The remote's tag is untouched, and the local repository now has the remote's.
    let remote_now =
        hoist_testkit::git::run_git(repo.remote.as_ref().unwrap(), &["rev-parse", &format!("{want}^{{commit}}")]);
    assert_eq!(remote_now, remote_commit);
    assert_eq!(repo.git(&["rev-parse", &format!("{want}^{{commit}}")]), remote_commit);
}

#[test]
fn tag_dry_run_creates_nothing() {
    let (ctx, head) = original_pipeline_repo("[minor] add chat");
    let repo = ctx.repo_ref();
    let run = ctx.hoist(&["tag", "--push", "--dry-run"]).ok();
    assert!(run.stdout.contains(&format!("would create v5.1.0-{}", short(&head))), "{}", run.stdout);
    hoist_snapshot!(ctx, "tag_dry_run_text", run);
    let json = ctx.hoist(&["tag", "--push", "--dry-run", "--output", "json"]).ok().json();
    assert_eq!(json["release"], format!("v5.1.0-{}", short(&head)));
    json_snapshot!(ctx, "tag_dry_run", json);
    assert_eq!(repo.git(&["tag", "--list"]).lines().count(), 1);
    assert!(repo.remote_tags().is_empty());
}

#[test]
fn custom_tag_formats() {
    for (format, want) in [("v{version}", "v5.0.2"), ("shop-v{version}", "shop-v5.0.2"), ("{version}", "5.0.2")] {
        let ctx = TestContext::repo();
        let repo = ctx.repo_ref();
        let base = repo.commit("initial");
        repo.tag(&format.replace("{version}", "5.0.1"), &base);
        repo.write("hoist.toml", &format!("[version]\ntag_format = \"{format}\"\n"));
        repo.commit("[patch] x");
        let json = ctx.hoist(&["tag", "--output", "json"]).ok().json();
        assert_eq!(json["release"], want, "{format}");
    }
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    let base = repo.commit("initial");
    repo.tag(&format!("v5.0.1+{}", short(&base)), &base);
    repo.write("hoist.toml", "[version]\ntag_format = \"v{version}+{sha}\"\nsha_length = 10\n");
    let head = repo.commit("[patch] x");
    let json = ctx.hoist(&["version", "--output", "json"]).ok().json();
    assert_eq!(json["release"]["tag"], format!("v5.0.2+{}", &head[..10]));
}

#[test]
fn clear_errors_for_bad_repositories() {
    let ctx = TestContext::new();
    let run = ctx.hoist(&["version"]).fails(1);
    assert!(run.stderr.contains("is not inside a git repository"), "{}", run.stderr);
    hoist_snapshot!(ctx, "not_a_repository", run);

    let ctx = TestContext::repo();
    let run = ctx.hoist(&["version"]).fails(1);
    assert!(run.stderr.contains("has no commits yet"), "{}", run.stderr);
    hoist_snapshot!(ctx, "no_commits", run);

    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    repo.commit("[patch] a");
    repo.git(&["checkout", "--quiet", "--detach"]);
    let run = ctx.hoist(&["tag"]).fails(1);
    hoist_snapshot!(ctx, "detached_head", run);
    ctx.hoist(&["tag", "--allow-detached"]).ok();

    let ctx = TestContext::repo();
    ctx.repo_ref().commit("[patch] a");
    let run = ctx.hoist(&["tag", "--push"]).fails(1);
    hoist_snapshot!(ctx, "no_origin", run);
}

#[test]
fn config_errors_name_file_line_and_key() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    repo.commit("[patch] a");
    repo.write("hoist.toml", "[version]\ntag_formt = \"v{version}\"\n");
    let run = ctx.hoist(&["version"]).fails(1);
    let path = repo.path().join("hoist.toml");
    assert!(run.stderr.contains(&format!("{}:2:1", path.display())), "{}", run.stderr);
    hoist_snapshot!(ctx, "config_unknown_key", run);

    repo.write("hoist.toml", "[version]\ntag_format = \"v {version}\"\n");
    let run = ctx.hoist(&["version"]).fails(1);
    hoist_snapshot!(ctx, "config_bad_tag_format", run);

    // --config and -C
    let other = ctx.scratch("other");
    std::fs::write(other.join("custom.toml"), "[version]\ntag_format = \"rel-{version}\"\n").unwrap();
    let cfg = other.join("custom.toml");
    let sub = ctx.scratch("sub");
    let json = ctx
        .hoist_in(
            &sub,
            &["-C", repo.path().to_str().unwrap(), "--config", cfg.to_str().unwrap(), "version", "--output", "json"],
        )
        .ok()
        .json();
    assert_eq!(json["release"]["tag"], "rel-0.1.0");

    let run = ctx.hoist(&["--config", "missing.toml", "version"]).fails(1);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
    hoist_snapshot!(ctx, "config_missing", run);
}

#[test]
fn git_token_is_used_but_never_shown() {
    let (ctx, _) = original_pipeline_repo("[patch] fix login");
    let port = hoist_testkit::net::free_port();
    ctx.repo_ref().git(&["remote", "set-url", "origin", &format!("http://127.0.0.1:{port}/shop.git")]);
    let token = "ghs_supersecret_token_value";
    let run = ctx.hoist_with(&["tag", "--push", "-vv"], &[("HOIST_GIT_TOKEN", token)]).fails(2);
    assert!(run.stderr.contains("could not be pushed"), "{}", run.stderr);
    assert!(!run.stderr.contains(token) && !run.stdout.contains(token), "token leaked:\n{}", run.stderr);
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    assert!(!run.stderr.contains(&encoded), "encoded token leaked:\n{}", run.stderr);
    let run = ctx.hoist_with(&["tag", "--push"], &[("HOIST_GIT_TOKEN", token)]).fails(2);
    hoist_snapshot!(ctx, "tag_push_unreachable_remote", run);
}

/// A commit on HEAD's branch whose short hash sorts after `than`'s: with the tie broken by
/// tag name (the old rule) the tag on it would lose, so a test of commit order can fail.
fn commit_sorting_after(repo: &hoist_testkit::git::TestRepo, than: &str, message: &str) -> String {
    for i in 0.. {
        let sha = repo.commit(&format!("{message} ({i})"));
        if short(&sha) > short(than) {
            return sha;
        }
    }
    unreachable!()
}

/// The release history of issue 13: `v5.0.0` and `v5.0.1` without a hash, then
/// `v{version}-{sha}`; one version tagged twice; a stacked tag; a tag on a side branch;
/// and a merge whose PR title has no marker.
fn switched_history_repo() -> (TestContext, [String; 6]) {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    repo.write("hoist.toml", "[version]\ntag_formats = [\"v{version}\"]\n");
    let c0 = repo.commit("initial");
    repo.tag("v5.0.0", &c0);
    let c1 = repo.commit("[patch] fix login");
    repo.tag("v5.0.1", &c1);
    let c2 = repo.commit("[patch] switch tag format");
    repo.tag(&format!("v5.0.2-{}", short(&c2)), &c2);
    let c3 = repo.commit("[patch] fix orders");
    repo.tag(&format!("v5.0.3-{}", short(&c3)), &c3);
    // Retagged at a later commit: the same version, another hash.
    let c4 = commit_sorting_after(repo, &c3, "[patch] fix orders again");
    repo.tag(&format!("v5.0.3-{}", short(&c4)), &c4);
    // A tag of a tag: its last hash is c4's, yet it is no release (nor a pre-release of 5.0.8).
    repo.tag(&format!("v5.0.8-{}-{}", short(&c3), short(&c4)), &c4);
    repo.git(&["checkout", "--quiet", "-b", "hotfix"]);
    let side = repo.commit("[minor] hotfix never merged");
    repo.tag(&format!("v5.1.0-{}", short(&side)), &side);
    repo.git(&["checkout", "--quiet", "main"]);
    repo.commit("Fix typo in README");
    (ctx, [c0, c1, c2, c3, c4, side])
}

#[test]
fn a_history_that_changed_format_continues_from_its_latest_release() {
    // Only the hash-less tags: with the earlier format they are history, not `v0.1.0`.
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    let c0 = repo.commit("initial");
    repo.tag("v5.0.0", &c0);
    let c1 = repo.commit("[patch] x");
    repo.tag("v5.0.1", &c1);
    let head = repo.commit("[patch] y");
    let json = ctx.hoist(&["version", "--output", "json"]).ok().json();
    assert_eq!(json["release"]["tag"], "v0.1.0-".to_string() + short(&head), "no earlier format: starts over");
    assert!(json["ignored"].as_array().unwrap().iter().all(|i| i["reason"] == "has no `-<hash>` suffix"), "{json}");

    repo.write("hoist.toml", "[version]\ntag_formats = [\"v{version}\"]\n");
    let head = repo.commit("[patch] fix login");
    let json = ctx.hoist(&["version", "--output", "json"]).ok().json();
    assert_eq!(json["current"]["tag"], "v5.0.1");
    assert_eq!(json["release"]["tag"], format!("v5.0.2-{}", short(&head)));
    assert_eq!(json["ignored"], serde_json::json!([]));
    json_snapshot!(ctx, "version_earlier_format", json);
    // The release is written in the current format, and the next one follows it.
    ctx.hoist(&["tag"]).ok();
    assert_eq!(repo.git(&["tag", "--points-at", "HEAD"]), format!("v5.0.2-{}", short(&head)));
    let next = repo.commit("[patch] fix logout");
    let json = ctx.hoist(&["version", "--output", "json"]).ok().json();
    assert_eq!(json["current"]["tag"], format!("v5.0.2-{}", short(&head)));
    assert_eq!(json["release"]["tag"], format!("v5.0.3-{}", short(&next)));
}

#[test]
fn the_issue_13_history_explains_every_tag_it_ignores() {
    let (ctx, [_, _, _, c3, c4, side]) = switched_history_repo();
    let run = ctx.hoist(&["version", "-v", "--output", "json"]).ok();
    let json = run.json();
    // The retagged version: the tag on the commit nearer HEAD, though its name sorts last.
    assert!(short(&c4) > short(&c3));
    assert_eq!(json["current"]["tag"], format!("v5.0.3-{}", short(&c4)));
    assert_eq!(json["current"]["commit"], c4.as_str());
    // The merge's title has no marker and default_bump is "none": nothing to release.
    assert!(json["release"].is_null(), "{json}");
    let stacked = format!("v5.0.8-{}-{}", short(&c3), short(&c4));
    let unreachable = format!("v5.1.0-{}", short(&side));
    let ignored: Vec<(&str, &str)> = json["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["tag"].as_str().unwrap(), i["reason"].as_str().unwrap()))
        .collect();
    let want_stacked = format!(
        "stacked suffix `-{}-{}`: more than one hash after the version, so not a release",
        short(&c3),
        short(&c4)
    );
    let want_unreachable = format!("not reachable from HEAD (commit {side})");
    assert_eq!(ignored, [(stacked.as_str(), want_stacked.as_str()), (unreachable.as_str(), want_unreachable.as_str())]);
    // -v says the same on stderr, one line per tag.
    for (tag, reason) in &ignored {
        let line = format!("ignored tag {tag}: {reason}");
        assert!(run.stderr.lines().any(|l| l.contains(&line)), "no `{line}` in:\n{}", run.stderr);
    }
    json_snapshot!(ctx, "version_issue13_history", json);
    hoist_snapshot!(ctx, "version_issue13_history_verbose", ctx.hoist(&["version", "-v"]).ok());

    // With a marker the release follows the latest, in the current format.
    let head = ctx.repo_ref().head();
    let json = ctx.hoist(&["version", "--pr-title", "[patch] fix typo", "--output", "json"]).ok().json();
    assert_eq!(json["release"]["tag"], format!("v5.0.4-{}", short(&head)));
    // Without the earlier format the hash-less tags are ignored too, each with its reason.
    ctx.repo_ref().write("hoist.toml", "");
    let json = ctx.hoist(&["version", "--output", "json"]).ok().json();
    let reasons: Vec<&str> = json["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["tag"] == "v5.0.0" || i["tag"] == "v5.0.1")
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["has no `-<hash>` suffix", "has no `-<hash>` suffix"]);
    assert_eq!(json["current"]["tag"], format!("v5.0.3-{}", short(&c4)));
}

#[test]
fn earlier_tag_formats_are_checked_like_the_current_one() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    repo.commit("[patch] a");
    repo.write("hoist.toml", "[version]\ntag_formats = [\"v{version}\", \"v{sha}\"]\n");
    let run = ctx.hoist(&["version"]).fails(1);
    assert!(
        run.stderr.contains("`version.tag_formats[1]`: tag format `v{sha}` must contain `{version}`"),
        "{}",
        run.stderr
    );
    hoist_snapshot!(ctx, "config_bad_earlier_tag_format", run);
}

/// `${VAR}` in `[registry] repository`: expanded for the plan, and when missing (or
/// expanding to something invalid) an error that shows the file's form, never the value.
#[test]
fn the_registry_can_come_from_the_environment() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    repo.write(
        "hoist.toml",
        "[services.api]\nbuild = [\"true\"]\nartifact = \"api.jar\"\n\n[registry]\nrepository = \"${HOIST_TEST_REGISTRY}/shop\"\n",
    );
    repo.commit("[minor] first");
    let run = ctx.hoist_with(&["release", "--dry-run"], &[("HOIST_TEST_REGISTRY", "registry.internal:5000")]).ok();
    assert!(run.stdout.contains("push to registry.internal:5000/shop:"), "{}", run.stdout);
    let json = ctx
        .hoist_with(&["release", "--dry-run", "--output", "json"], &[("HOIST_TEST_REGISTRY", "registry.internal:5000")])
        .ok()
        .json();
    assert!(json.to_string().contains("registry.internal:5000/shop"), "{json}");

    let unset = ctx.hoist(&["release", "--dry-run"]).fails(1);
    assert!(
        unset.stderr.contains(
            "`registry.repository`: `${HOIST_TEST_REGISTRY}/shop` uses `${HOIST_TEST_REGISTRY}`, which is not set"
        ),
        "{}",
        unset.stderr
    );
    assert!(unset.stderr.contains("hint: set HOIST_TEST_REGISTRY in the environment"), "{}", unset.stderr);
    hoist_snapshot!(ctx, "config_registry_variable_unset", unset);

    let empty = ctx.hoist_with(&["release", "--dry-run"], &[("HOIST_TEST_REGISTRY", "")]).fails(1);
    assert!(empty.stderr.contains("which is set but empty"), "{}", empty.stderr);

    let secret = "deploy:s3cr3t@registry.internal:5000";
    let invalid = ctx.hoist_with(&["release", "--dry-run", "-vv"], &[("HOIST_TEST_REGISTRY", secret)]).fails(1);
    assert!(invalid.stderr.contains("`${HOIST_TEST_REGISTRY}/shop` must be `host[:port]/path`"), "{}", invalid.stderr);
    assert!(!invalid.stderr.contains("s3cr3t") && !invalid.stdout.contains("s3cr3t"), "{}", invalid.stderr);
    hoist_snapshot!(ctx, "config_registry_variable_invalid", invalid);
}

#[test]
fn a_release_in_an_earlier_format_can_be_named_with_tag() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    let service = "[services.api]\nbuild = [\"true\"]\nartifact = \"api.jar\"\n";
    repo.write("hoist.toml", service);
    repo.commit("initial");
    let run = ctx.hoist(&["build", "--tag", "v5.0.1", "--dry-run"]).fails(1);
    assert!(run.stderr.contains("--tag `v5.0.1` does not match the tag format `v{version}-{sha}`"), "{}", run.stderr);
    repo.write("hoist.toml", &format!("[version]\ntag_formats = [\"v{{version}}\"]\n{service}"));
    let run = ctx.hoist(&["build", "--tag", "v5.0.1", "--dry-run"]).ok();
    assert!(run.stdout.starts_with("build plan for v5.0.1 "), "{}", run.stdout);
    let run = ctx.hoist(&["build", "--tag", "5.0.1", "--dry-run"]).fails(1);
    hoist_snapshot!(ctx, "tag_matches_no_format", run);
}
