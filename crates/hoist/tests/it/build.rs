//! `hoist build` and `hoist dockerfile` on the example project and on edge cases.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use hoist_testkit::net::{free_port, wait_http_ok};

use crate::common::TestContext;
use crate::{hoist_snapshot, json_snapshot};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn version_of(jar: &Path) -> String {
    let port = free_port();
    let child = Command::new("java")
        .args(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar"])
        .arg(jar)
        .env("PORT", port.to_string())
        .spawn()
        .expect("java");
    let _guard = Kill(child);
    wait_http_ok(port, "/version", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("{} never answered", jar.display()))
}

#[test]
fn builds_the_example_with_the_release_version() {
    let ctx = TestContext::example();
    let root = ctx.path();
    let tag = "v1.4.0-abc1234";
    let plan = ctx.hoist(&["build", "--tag", tag, "-j", "2", "--dry-run", "--output", "json"]).ok().json();
    json_snapshot!(ctx, "build_dry_run", plan);
    assert!(!root.join(format!(".hoist/artifacts/{tag}.json")).exists(), "a dry run builds nothing");
    let run = ctx.hoist(&["build", "--tag", tag, "-j", "2", "--output", "json"]).ok();
    let json = run.json();
    let artifacts = json["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 3);
    // Output lines are prefixed with the service name.
    assert!(run.stderr.lines().any(|l| l.trim_start().starts_with("user-service |")), "{}", run.stderr);
    for service in ["user-service", "chat-service", "gateway"] {
        let jar = root.join(format!("{service}/build/libs/shop-{service}-{tag}.jar"));
        assert!(jar.is_file(), "{} missing", jar.display());
        let a = artifacts.iter().find(|a| a["service"] == service).unwrap();
        assert_eq!(a["size"].as_u64().unwrap(), std::fs::metadata(&jar).unwrap().len());
        assert_eq!(a["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(version_of(&jar).trim(), tag, "{service}");
    }
    // The record the later steps read.
    let record = root.join(format!(".hoist/artifacts/{tag}.json"));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    assert_eq!(saved["version"], 1, "{saved}");
    assert_eq!(saved["artifacts"].as_array().unwrap().len(), 3);
    // Sizes and hashes of jars vary with the JDK: checked above against the files.
    json_snapshot!(ctx, "build", json, {
        ".artifacts[].size" => "[SIZE]",
        ".artifacts[].sha256" => "[SHA256]",
        ".**.seconds" => "[TIME]",
        ".**.duration_ms" => "[TIME]",
    });
}

#[test]
fn a_broken_service_fails_the_build_by_name() {
    let ctx = TestContext::example();
    let root = ctx.path();
    let main = root.join("chat-service/src/main/java/shop/chat/Main.java");
    let src = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, src.replacen("{", "{ this is not java", 1)).unwrap();
    let tag = "v1.4.0-abc1234";
    let run = ctx.hoist(&["build", "--tag", tag]).fails(1);
    assert!(run.stderr.contains("error: the build of `chat-service` failed"), "{}", run.stderr);
    assert!(run.stderr.contains("exit code"), "{}", run.stderr);
    assert!(run.stderr.contains("Main.java"), "javac's message is missing:\n{}", run.stderr);
    // Nothing is claimed as released.
    assert!(!root.join(format!(".hoist/artifacts/{tag}.json")).exists());
}

#[test]
fn arguments_reach_the_program_whole_and_unexecuted() {
    let ctx = TestContext::new();
    let root = ctx.path();
    let pwned = root.join("pwned");
    std::fs::write(
        root.join("args.sh"),
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > \"$1.args\"\necho \"$HOIST_TAG $HOIST_VERSION $HOIST_SHA $HOIST_SERVICE\" > \"$1.env\"\nmkdir -p out && touch \"out/$1-$HOIST_TAG.bin\"\n",
    )
    .unwrap();
    std::fs::set_permissions(root.join("args.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let evil = format!("a b; touch {} $(touch {}) `touch {}`", pwned.display(), pwned.display(), pwned.display());
    std::fs::write(
        root.join("hoist.toml"),
        format!(
            "[services.svc]\nbuild = [\"./args.sh\", \"{{service}}\", \"-Dv={{tag}}\", {evil:?}]\nartifact = \"out/{{service}}-{{tag}}.bin\"\n"
        ),
    )
    .unwrap();
    ctx.hoist(&["build", "--tag", "v2.0.0-def5678"]).ok();
    let args = std::fs::read_to_string(root.join("svc.args")).unwrap();
    assert_eq!(args, format!("[svc]\n[-Dv=v2.0.0-def5678]\n[{evil}]\n"));
    assert_eq!(std::fs::read_to_string(root.join("svc.env")).unwrap(), "v2.0.0-def5678 2.0.0 def5678 svc\n");
    assert!(!pwned.exists(), "an argument was executed");
}

#[test]
fn bad_input_is_named() {
    let ctx = TestContext::new();
    let root = ctx.path();
    let write = |toml: &str| std::fs::write(root.join("hoist.toml"), toml).unwrap();

    write("[services.api]\nbuild = [\"no-such-build-tool-xyz\", \"{tag}\"]\n");
    let run = ctx.hoist(&["build", "--tag", "v1.0.0-abc1234"]).fails(1);
    hoist_snapshot!(ctx, "build_tool_not_found", run);

    // Both lines on stderr: lines of stdout and stderr are read from two pipes, so their
    // relative order is not fixed, and a snapshot must be.
    write(
        "[services.api]\nbuild = [\"sh\", \"-c\", \"echo compiling >&2; echo 'Foo.java:3: error: boom' >&2; exit 7\"]\n",
    );
    let run = ctx.hoist(&["build", "--tag", "v1.0.0-abc1234"]).fails(1);
    hoist_snapshot!(ctx, "build_failed_exit_7", run);

    std::fs::create_dir_all(root.join("out")).unwrap();
    std::fs::write(root.join("out/api-1.jar"), "x").unwrap();
    std::fs::write(root.join("out/api-2.jar"), "y").unwrap();
    write("[services.api]\nartifact = \"out/api-*.jar\"\n");
    let run = ctx.hoist(&["build", "--tag", "v1.0.0-abc1234"]).fails(1);
    hoist_snapshot!(ctx, "artifact_glob_matches_two", run);

    write("[services.api]\nartifact = \"out/api-{tag}.jar\"\n");
    let run = ctx.hoist(&["build", "--tag", "v1.0.0-abc1234"]).fails(1);
    hoist_snapshot!(ctx, "artifact_glob_matches_none", run);

    write("[services.api]\nbuild = [\"make\", \"V={unknown}\"]\n");
    let run = ctx.hoist(&["build", "--tag", "v1.0.0-abc1234"]).fails(1);
    hoist_snapshot!(ctx, "build_unknown_placeholder", run);

    write("[services.api]\n");
    let run = ctx.hoist(&["build", "--tag", "1.0.0"]).fails(1);
    hoist_snapshot!(ctx, "bad_tag", run);
}

#[test]
fn dockerfile_write_never_overwrites_a_hand_written_one() {
    let ctx = TestContext::example();
    let root = ctx.path();
    let run = ctx.hoist(&["dockerfile", "--write", "--output", "json"]).ok();
    assert_eq!(run.json().as_array().unwrap().len(), 3);
    json_snapshot!(ctx, "dockerfile_write", run.json());
    let generated = std::fs::read_to_string(root.join("gateway/Dockerfile")).unwrap();
    assert!(generated.starts_with("# generated by hoist"), "{generated}");
    assert!(generated.contains("FROM shop-jre:17\n"), "{generated}");
    assert!(generated.contains("COPY build/libs/shop-gateway-${TAG}.jar /app.jar\n"), "{generated}");
    std::fs::write(root.join("user-service/Dockerfile"), "FROM mine\n").unwrap();
    let run = ctx.hoist(&["dockerfile", "--write"]).fails(1);
    hoist_snapshot!(ctx, "dockerfile_hand_written", run);
    assert_eq!(std::fs::read_to_string(root.join("user-service/Dockerfile")).unwrap(), "FROM mine\n");
}
