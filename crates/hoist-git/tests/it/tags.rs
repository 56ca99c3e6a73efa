//! Tags with their place in HEAD's history, read from real repositories with merges, side
//! branches and annotated tags.

use std::path::Path;

use hoist_git::Git;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main", "-c", "tag.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // One date for every commit: the order must come from the graph, not the clock.
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["commit", "--quiet", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

#[test]
fn positions_follow_the_graph_and_unreachable_tags_have_none() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "--quiet"]);
    let c0 = commit(dir, "c0");
    git(dir, &["tag", "root", &c0]);
    git(dir, &["checkout", "--quiet", "-b", "feature"]);
    let f1 = commit(dir, "f1");
    git(dir, &["tag", "feature-1", &f1]);
    git(dir, &["checkout", "--quiet", "main"]);
    let c1 = commit(dir, "c1");
    git(dir, &["tag", "main-1", &c1]);
    git(dir, &["tag", "--annotate", "-m", "annotated", "main-1-annotated", &c1]);
    git(dir, &["merge", "--quiet", "--no-ff", "feature", "-m", "merge feature"]);
    let merge = git(dir, &["rev-parse", "HEAD"]);
    git(dir, &["tag", "merged", &merge]);
    git(dir, &["checkout", "--quiet", "-b", "hotfix", &c1]);
    let side = commit(dir, "side");
    git(dir, &["tag", "side", &side]);
    git(dir, &["checkout", "--quiet", "main"]);
    let head = commit(dir, "head");

    let tags = Git::open(dir).unwrap().tags_in_history().unwrap();
    let at = |name: &str| {
        let t = tags.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no tag {name}: {tags:?}"));
        (t.commit.clone(), t.position)
    };
    assert_eq!(tags.len(), 6, "{tags:?}");
    // Annotated tags are peeled to their commit, and sit where that commit does.
    assert_eq!(at("main-1-annotated"), at("main-1"));
    assert_eq!(at("main-1").0, c1);
    assert_eq!(at("side"), (side, None), "a commit HEAD cannot reach has no position");
    let pos = |name: &str| at(name).1.unwrap_or_else(|| panic!("{name} is reachable"));
    // Every descendant after its ancestors: root < both parents < the merge.
    assert_eq!(pos("root"), 0);
    assert!(pos("root") < pos("feature-1") && pos("root") < pos("main-1"), "{tags:?}");
    assert!(pos("feature-1") < pos("merged") && pos("main-1") < pos("merged"), "{tags:?}");
    // HEAD is the last of its history's commits, right after the merge.
    let count: usize = git(dir, &["rev-list", "--count", &head]).parse().unwrap();
    assert_eq!(pos("merged"), count - 2);
}

#[test]
fn a_repository_without_tags_lists_none() {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "--quiet"]);
    commit(tmp.path(), "c0");
    assert_eq!(Git::open(tmp.path()).unwrap().tags_in_history().unwrap(), vec![]);
}
