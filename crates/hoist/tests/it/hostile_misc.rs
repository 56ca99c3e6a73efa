//! Hostile and malformed input for build, version, tag and deploy (issue 16): secrets kept
//! out of builds and away from other hosts, artifacts and globs confined to the project,
//! Kubernetes calls inside deadlines, terminal escapes shown as text, and config and event
//! payload errors that name the file. Hostile servers are the test's own, on loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{TestContext, TestRepo, hoist, hoist_env, hoist_peak_rss};
use crate::hoist_snapshot;

const TAG: &str = "v1.0.0-abc1234";

/// A directory (not a git checkout) holding `hoist.toml`.
fn project(toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hoist.toml"), toml).unwrap();
    dir
}

fn no_record(dir: &Path) {
    assert!(!dir.join(".hoist/artifacts").exists(), "an artifact record was written");
}

/// Accept connections on 127.0.0.1 in the background; each gets `handle` on a thread of its
/// own with the request head (lines) already read. Returns the port.
fn serve(handle: impl Fn(&mut std::net::TcpStream, Vec<String>) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let handle = handle.clone();
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut head = Vec::new();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
                        break;
                    }
                    head.push(line.trim_end().to_string());
                }
                handle(&mut conn, head);
            });
        }
    });
    port
}

#[test]
fn build_commands_do_not_see_hoists_secrets() {
    let dir = project(
        "[build]\ncommand = [\"env\"]\n[build.env]\nFROM_CONFIG = \"yes\"\n[services.api]\nbuild = [\"env\"]\n",
    );
    let secrets = [
        ("HOIST_REGISTRY_PASSWORD", "pw-SECRET-1"),
        ("HOIST_REGISTRY_USERNAME", "user-SECRET-2"),
        ("HOIST_GIT_TOKEN", "tok-SECRET-3"),
        ("HOIST_SOME_LATER_KEY", "later-SECRET-4"),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "oidc-SECRET-5"),
    ];
    let mut env = secrets.to_vec();
    env.push(("KEEP_ME", "kept-value"));
    let run = hoist_env(dir.path(), &["build", "--tag", TAG], &env).ok();
    let all = format!("{}{}", run.stdout, run.stderr);
    for want in [
        "build | KEEP_ME=kept-value",
        "api | FROM_CONFIG=yes",
        &format!("api | HOIST_TAG={TAG}"),
        "api | HOIST_SERVICE=api",
    ] {
        assert!(run.stderr.contains(want), "missing {want:?} in:\n{}", run.stderr);
    }
    for (name, value) in secrets {
        assert!(!all.contains(value), "{name} reached a build:\n{all}");
        assert!(!all.contains(&format!("{name}=")), "{name} reached a build:\n{all}");
    }
}

#[test]
fn an_artifact_linking_to_etc_shadow_is_refused() {
    let dir = project("[services.api]\nartifact = \"out/api-{tag}.jar\"\n");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let link = dir.path().join(format!("out/api-{TAG}.jar"));
    std::os::unix::fs::symlink("/etc/shadow", &link).unwrap();
    let run = hoist(dir.path(), &["build", "--tag", TAG]).fails(1);
    assert!(run.stderr.contains(&format!("the artifact {} resolves to /etc/shadow", link.display())), "{}", run.stderr);
    hoist_snapshot!(TestContext::at(dir.path()), "artifact_links_to_etc_shadow", run);
    no_record(dir.path());
}

#[test]
fn absolute_and_climbing_artifact_globs_fail_at_config_time() {
    for (i, pattern) in ["/**/*", "/etc/shadow", "../../**/*", "out/../../x.jar"].into_iter().enumerate() {
        let dir = project(&format!("[services.api]\nartifact = \"{pattern}\"\n"));
        let (run, kib) = hoist_peak_rss(dir.path(), &["build", "--tag", TAG], &[]);
        let run = run.fails(1);
        assert!(run.stderr.contains("hoist.toml:2:12"), "{pattern}: {}", run.stderr);
        assert!(run.stderr.contains(&format!("artifact `{pattern}`")), "{pattern}: {}", run.stderr);
        hoist_snapshot!(TestContext::at(dir.path()), format!("artifact_glob_outside_{i}"), run);
        assert!(kib < 64 * 1024, "{pattern}: peak RSS {kib} KiB");
        no_record(dir.path());
    }
}

#[test]
fn a_glob_beside_links_to_the_root_and_to_itself_walks_only_the_project() {
    let dir = project("[services.api]\nartifact = \"**/*.jar\"\n");
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    std::fs::write(dir.path().join("a/b/app.jar"), b"jar").unwrap();
    std::os::unix::fs::symlink("/", dir.path().join("a/up")).unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("loop")).unwrap();
    let (run, kib) = hoist_peak_rss(dir.path(), &["build", "--tag", TAG, "--output", "json"], &[]);
    let json = run.ok().json();
    let path = json["artifacts"][0]["path"].as_str().unwrap().to_string();
    assert!(path.ends_with("a/b/app.jar"), "{path}");
    assert_eq!(json["artifacts"].as_array().unwrap().len(), 1);
    assert!(kib < 64 * 1024, "peak RSS {kib} KiB");

    // Everything in the project matches `**/*`: several files, none from outside it.
    std::fs::write(dir.path().join("hoist.toml"), "[services.api]\nartifact = \"**/*\"\n").unwrap();
    let run = hoist(dir.path(), &["build", "--tag", TAG]).fails(1);
    assert!(run.stderr.contains("expected exactly one"), "{}", run.stderr);
    hoist_snapshot!(TestContext::at(dir.path()), "artifact_glob_everything", run);
    assert!(!run.stderr.contains("/etc/") && !run.stderr.contains("/usr/"), "{}", run.stderr);
}

#[test]
fn bad_build_env_names_fail_at_config_time_and_nothing_runs() {
    for (i, (key, want)) in
        [("\"A=B\"", "`A=B`"), ("\"1X\"", "`1X`"), ("\"A\\u0000B\"", "`A\\0B`"), ("HOIST_GIT_TOKEN", "reserved")]
            .into_iter()
            .enumerate()
    {
        let dir = project(&format!("[build]\ncommand = [\"touch\", \"ran\"]\n[build.env]\n{key} = \"x\"\n"));
        let run = hoist(dir.path(), &["build", "--tag", TAG]).fails(1);
        assert!(run.stderr.contains("hoist.toml:") && run.stderr.contains(want), "{key}: {}", run.stderr);
        hoist_snapshot!(TestContext::at(dir.path()), format!("bad_build_env_name_{i}"), run);
        assert!(!dir.path().join("ran").exists(), "{key}: the build ran");
    }
}

#[test]
fn a_tag_format_too_long_for_a_ref_fails_at_config_time() {
    let repo = TestRepo::new();
    repo.write("hoist.toml", &format!("[version]\ntag_format = \"{}-v{{version}}\"\n", "x".repeat(200)));
    repo.commit("[patch] fix");
    let run = hoist(repo.path(), &["tag"]).fails(1);
    assert!(run.stderr.contains("hoist.toml:2:14") && run.stderr.contains("too long"), "{}", run.stderr);
    hoist_snapshot!(TestContext::at(repo.path()), "tag_format_too_long", run);
    assert_eq!(repo.git(&["tag", "--list"]), "", "nothing tagged");
}

#[test]
fn a_pr_title_that_is_not_a_string_is_an_error() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    repo.commit("[minor] the commit subject");
    let event = repo.scratch("gh").join("event.json");
    for (i, (payload, want)) in [
        (r#"{"pull_request": {"title": 42}}"#, "`pull_request.title` is a number"),
        (r#"{"pull_request": {"title": null}}"#, "`pull_request.title` is null"),
        (r#"{"pull_request": {"title": ["[major]"]}}"#, "`pull_request.title` is an array"),
        (r#"{"pull_request": {"number": 3}}"#, "`pull_request.title` is missing"),
        (r#"{"pull_request": "x"}"#, "`pull_request` is not an object"),
        ("{\"pull_request\":", "is not JSON"),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(&event, payload).unwrap();
        let env = [("GITHUB_EVENT_PATH", event.to_str().unwrap())];
        let run = ctx.hoist_with(&["tag", "--allow-detached"], &env).fails(1);
        assert!(run.stderr.contains(event.to_str().unwrap()) && run.stderr.contains(want), "{payload}: {}", run.stderr);
        hoist_snapshot!(ctx, format!("event_payload_{i}"), run);
        assert_eq!(repo.git(&["tag", "--list"]), "", "{payload}: tagged from the commit subject");
    }
    // An event without a pull request (a push, a manual run) still falls back to HEAD.
    std::fs::write(&event, r#"{"ref": "refs/heads/main"}"#).unwrap();
    let env = [("GITHUB_EVENT_PATH", event.to_str().unwrap())];
    let json = ctx.hoist_with(&["version", "--output", "json"], &env).ok().json();
    assert_eq!(json["title"]["source"], "commit");
}

#[test]
fn terminal_escapes_in_titles_and_tags_are_shown_as_text() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    let base = repo.commit("initial");
    // A tag git accepts (C1 CSI is not an ASCII control), and a subject with OSC and CSI.
    repo.tag(&format!("v1.0.0-zz\u{9b}2J{}", &base[..4]), &base);
    repo.commit("\u{1b}]0;owned\u{7}\u{1b}[2J no marker \u{202e}");
    let checks = |run: &crate::common::Run| {
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}']),
                "raw control reached the terminal: {text:?}"
            );
        }
    };
    // The PR title without a marker: the build has no release to build.
    let run = ctx.hoist(&["build"]).fails(1);
    checks(&run);
    assert!(run.stderr.contains("\\u{1b}]0;owned\\u{7}\\u{1b}[2J no marker \\u{202e}"), "{}", run.stderr);
    hoist_snapshot!(ctx, "build_title_without_marker_escaped", run);
    let run = ctx.hoist(&["version", "-v"]).ok();
    checks(&run);
    assert!(run.stderr.contains("ignored tag v1.0.0-zz\\u{9b}2J"), "{}", run.stderr);
    hoist_snapshot!(ctx, "version_escaped_tag_and_title", run);
    let run = ctx.hoist(&["tag", "--pr-title", "[patch] \u{1b}[31mred\nerror: forged"]).ok();
    checks(&run);
}

#[test]
fn a_kubernetes_api_server_that_trickles_cannot_hang_a_deploy() {
    let sent = Arc::new(Mutex::new(0usize));
    let count = sent.clone();
    // One byte a second: every read brings data, so only a total deadline ends the call.
    let port = serve(move |conn, _head| {
        for b in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
            .iter()
            .cycle()
            .take(120)
        {
            if conn.write_all(&[*b]).is_err() {
                return;
            }
            *count.lock().unwrap() += 1;
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let dir = project(
        "[services.web]\n[registry]\nrepository = \"127.0.0.1:5000/shop\"\n[deploy.kubernetes]\nmanifests = [\"k8s\"]\n",
    );
    std::fs::create_dir(dir.path().join("k8s")).unwrap();
    std::fs::write(dir.path().join("k8s/web.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n")
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, format!("apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n  - name: lab\n    cluster:\n      server: http://127.0.0.1:{port}\ncontexts:\n  - name: lab\n    context:\n      cluster: lab\n      user: ci\nusers:\n  - name: ci\n    user:\n      token: not-a-real-token\n")).unwrap();
    let ctx = TestContext::at(dir.path())
        .with_env("KUBECONFIG", kubeconfig.to_str().unwrap())
        .with_filter(&format!(r"127\.0\.0\.1:{port}\b"), "[API_SERVER]");
    let started = Instant::now();
    let run = ctx.hoist(&["deploy", "k8s", "--tag", TAG, "--timeout", "3"]).fails(1);
    let took = started.elapsed();
    assert!(run.stderr.contains("did not answer list release history within 3s"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("http://127.0.0.1:{port}/")), "{}", run.stderr);
    assert!(!run.stderr.contains("not-a-real-token"), "{}", run.stderr);
    hoist_snapshot!(ctx, "deploy_k8s_trickling_api_server", run);
    // The bound under test: 3 s per call, not the 120 s the server would take.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let bytes = *sent.lock().unwrap();
    assert!((1..=20).contains(&bytes), "the server trickled {bytes} bytes");
}

#[test]
fn the_git_token_is_withheld_from_a_plain_http_remote() {
    let heads = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = heads.clone();
    let port = serve(move |conn, head| {
        log.lock().unwrap().extend(head);
        let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    let repo = TestRepo::new();
    repo.commit("[patch] fix");
    repo.git(&["remote", "add", "origin", &format!("http://127.0.0.1:{port}/shop.git")]);
    let token = "ghs_misc-SECRET-token";
    let run = hoist_env(repo.path(), &["tag", "--push"], &[("HOIST_GIT_TOKEN", token)]);
    assert_ne!(run.code, 0, "the server has no repository: {run:?}");
    assert!(run.stderr.contains("HOIST_GIT_TOKEN is not sent to remote `origin`"), "{}", run.stderr);
    let heads = heads.lock().unwrap().clone();
    assert!(heads.iter().any(|h| h.starts_with("GET /shop.git/info/refs")), "{heads:?}");
    assert!(!heads.iter().any(|h| h.to_ascii_lowercase().starts_with("authorization")), "{heads:?}");
    assert!(!format!("{}{}", run.stdout, run.stderr).contains(token));
}

/// A mistyped flag or value is a user error (exit 1, as the exit-code contract says), not an
/// unexpected failure; help still exits 0 on stdout.
#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let ctx = TestContext::new();
    let run = ctx.hoist(&["build", "--no-such-flag"]).fails(1);
    hoist_snapshot!(ctx, "unknown_flag", run);
    let run = ctx.hoist(&["image", "import", "x", "--ref", "r", "--max-size", "lots"]).fails(1);
    hoist_snapshot!(ctx, "bad_flag_value", run);
    let run = ctx.hoist(&["--help"]).ok();
    assert!(run.stdout.contains("Usage"), "{}", run.stdout);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}
