//! Hostile deploy state through the `hoist` binary: a project name that is a path, a
//! corrupt history, a 300k-record history, an unreadable lock, a killed run's record.
//! Each ends with one clear error and exit 1 (or is absorbed within a bound), nothing half
//! done. `hoist rollback` is the run that takes the lock here: it reaches the state files
//! without a release to build or pull.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hoist_testkit::compose::suffix;
use serde_json::Value;

use crate::common::{TestContext, escape, hoist, hoist_peak_rss};
use crate::{hoist_snapshot, json_snapshot};

/// A project directory with only a `hoist.toml` and a unique compose project name.
struct Project {
    dir: tempfile::TempDir,
    name: String,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("hoist-it-state-{}", suffix());
        std::fs::write(dir.path().join("hoist.toml"), format!("[project]\nname = \"{name}\"\n")).unwrap();
        Project { dir, name }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn state(&self) -> PathBuf {
        self.path().join(".hoist/deploy")
    }

    fn history(&self) -> PathBuf {
        self.state().join(format!("history-{}.json", self.name))
    }

    fn lock(&self) -> PathBuf {
        self.state().join(format!("lock-{}@local.json", self.name))
    }

    /// The project's context for snapshots: its unique name is `[PROJECT]`.
    fn ctx(&self) -> TestContext {
        TestContext::at(self.path()).with_filter(&escape(&self.name), "[PROJECT]")
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string()
}

#[test]
fn a_project_name_that_is_a_path_is_refused_with_file_and_line() {
    for (toml, want) in [
        ("[project]\nname = \"../../outside\"\n", "hoist.toml:2:8"),
        ("[project]\nname = \"shop\"\n\n[deploy.compose]\nproject = \"a/../../b\"\n", "hoist.toml:5:11"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hoist.toml"), toml).unwrap();
        // Where the unchecked name led: a history outside the state dir's own files.
        let deploy = dir.path().join(".hoist/deploy");
        std::fs::create_dir_all(deploy.join("history-..")).unwrap();
        std::fs::write(
            deploy.join("outside.json"),
            r#"{"records": [{"id": 1, "action": "deploy", "release": "SECRET", "pins": [], "started_at": "2026-01-01T00:00:00Z", "result": "succeeded", "by": "x"}]}"#,
        )
        .unwrap();
        for args in [&["deploy", "history"][..], &["rollback"]] {
            let run = hoist(dir.path(), args).fails(1);
            assert!(run.stderr.contains(want) && run.stderr.contains("project name"), "{args:?}: {}", run.stderr);
            hoist_snapshot!(
                TestContext::at(dir.path()),
                format!("project_name_is_a_path_{}_{}", args[0], want[11..].replace(':', "_")),
                run
            );
            assert!(!run.stdout.contains("SECRET") && !run.stderr.contains("SECRET"), "{args:?}");
        }
    }
    // No name in hoist.toml: the directory's name is checked before it becomes a path.
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("Not A Name");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("hoist.toml"), "").unwrap();
    let run = hoist(&dir, &["deploy", "history"]).fails(1);
    assert!(run.stderr.contains("compose project name `Not A Name`"), "{}", run.stderr);
    hoist_snapshot!(TestContext::at(&dir), "directory_name_is_no_project_name", run);
    assert!(!dir.join(".hoist").exists(), "nothing written");
}

#[test]
fn a_corrupt_history_stops_the_run_is_set_aside_and_the_next_run_starts_afresh() {
    let p = Project::new();
    std::fs::create_dir_all(p.state()).unwrap();
    let corrupt = br#"{"version": 1, "records": [{"id": 1, "action": "deploy", "rele"#;
    std::fs::write(p.history(), corrupt).unwrap();

    // Reading only: refused, left where it is.
    let run = hoist(p.path(), &["deploy", "history"]).fails(1);
    assert!(run.stderr.contains("is corrupt"), "{}", run.stderr);
    assert!(run.stderr.contains(&p.history().display().to_string()), "{}", run.stderr);
    hoist_snapshot!(p.ctx(), "history_corrupt", run);
    assert_eq!(std::fs::read(p.history()).unwrap(), corrupt);

    // Under the lock: set aside, exit 1 (not 2), and the hint says what that costs.
    let run = hoist(p.path(), &["rollback"]).fails(1);
    assert!(run.stderr.contains("set it aside as"), "{}", run.stderr);
    assert!(run.stderr.contains("cannot roll back"), "{}", run.stderr);
    hoist_snapshot!(
        p.ctx().with_filter(r"\.corrupt-[0-9A-Za-z_:.-]+", ".corrupt-[WHEN]"),
        "history_corrupt_set_aside",
        run
    );
    assert!(!p.history().exists());
    let asides: Vec<PathBuf> = std::fs::read_dir(p.state())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.to_string_lossy().contains(".json.corrupt-"))
        .collect();
    assert_eq!(asides.len(), 1, "{asides:?}");
    assert_eq!(std::fs::read(&asides[0]).unwrap(), corrupt, "kept byte for byte");
    assert!(!p.lock().exists(), "the lock was released");

    let run = hoist(p.path(), &["deploy", "history"]).ok();
    assert!(run.stdout.contains("no deploys"), "{}", run.stdout);
    hoist_snapshot!(p.ctx(), "history_empty", run);
    let json = hoist(p.path(), &["deploy", "history", "--output", "json"]).ok().json();
    json_snapshot!(p.ctx(), "history_empty_json", json);
    let run = hoist(p.path(), &["rollback"]).fails(1);
    hoist_snapshot!(p.ctx(), "rollback_without_earlier_release", run);
}

/// 300k records the way an unbounded hoist grew them (530 MB): `v1.<i>.0` deploys that
/// succeeded up to `good`, then failures rolled back to it, then a killed run.
fn write_huge_history(path: &Path, total: u64, good: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let hex = |n: u64, what: &str| format!("{:064x}", (n << 8) ^ what.len() as u64);
    write!(w, "{{\n  \"version\": 1,\n  \"records\": [").unwrap();
    for id in 1..=total {
        let release = format!("v1.{id}.0-abcdef0");
        let (result, extra) = if id <= good {
            ("succeeded", String::new())
        } else if id < total {
            ("rolled_back", format!(", \"rolled_back_to\": \"v1.{good}.0-abcdef0\", \"failed_service\": \"gateway\""))
        } else {
            let owner = format!(
                r#"{{"pid": {}, "pid_start": 1, "host": "{}", "user": "ci", "since": "2026-01-01T00:00:00Z", "what": "deploy"}}"#,
                u32::MAX - 5,
                hostname()
            );
            ("in_progress", format!(", \"owner\": {owner}"))
        };
        let pins: Vec<String> = ["chat-service", "gateway", "user-service"]
            .iter()
            .map(|s| {
                format!(
                    "\n        {{\"service\": \"{s}\", \"image\": \"127.0.0.1:5000/shop@sha256:{d}\", \"reference\": \"127.0.0.1:5000/shop:{s}_{release}\", \"digest\": \"sha256:{d}\", \"image_id\": \"sha256:{i}\", \"acquired\": \"pulled\"}}",
                    d = hex(id, s),
                    i = hex(id + 7, s)
                )
            })
            .collect();
        let sep = if id > 1 { "," } else { "" };
        write!(
            w,
            "{sep}\n    {{\n      \"id\": {id}, \"action\": \"deploy\", \"release\": \"{release}\",\n      \"pins\": [{}],\n      \"started_at\": \"2026-01-01T00:00:00Z\", \"finished_at\": \"2026-01-01T00:01:00Z\",\n      \"result\": \"{result}\", \"by\": \"ci@build-host (pid 4242)\", \"recreated\": [\"gateway\", \"user-service\"]{extra},\n      \"config_hashes\": {{\"chat-service\": \"{}\", \"gateway\": \"{}\", \"user-service\": \"{}\"}}\n    }}",
            pins.join(","),
            hex(id, "c"),
            hex(id, "g"),
            hex(id, "u")
        )
        .unwrap();
    }
    write!(w, "\n  ]\n}}\n").unwrap();
    w.flush().unwrap();
}

/// The issue's case: a 300k-record history cost 1.1 GB per deploy. The next run that takes
/// the lock reads it in bounded memory, marks the killed run, and writes it back pruned.
#[test]
fn a_300k_record_history_is_pruned_by_the_next_run_in_bounded_memory() {
    const TOTAL: u64 = 300_000;
    const GOOD: u64 = 298_500;
    let p = Project::new();
    write_huge_history(&p.history(), TOTAL, GOOD);
    let size = std::fs::metadata(p.history()).unwrap().len();
    assert!(size > 500_000_000, "{size}");

    let (run, peak_kib) = hoist_peak_rss(p.path(), &["rollback", "--to", "v9.9.9-nothere"], &[]);
    let run = run.fails(1);
    assert!(run.stderr.contains("no release `v9.9.9-nothere`"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("marked interrupted (their run stopped before it finished): #{TOTAL}")),
        "{}",
        run.stderr
    );
    assert!(peak_kib < 96 * 1024, "peak RSS {peak_kib} KiB for a {size}-byte history");
    writeln!(std::io::stderr(), "300k records, {size} bytes: hoist rollback peak RSS {peak_kib} KiB").unwrap();

    let after = std::fs::metadata(p.history()).unwrap().len();
    assert!(after < 3_000_000, "written back pruned: {after} bytes");
    let file: Value = serde_json::from_slice(&std::fs::read(p.history()).unwrap()).unwrap();
    let records = file["records"].as_array().unwrap();
    assert!((1000..1010).contains(&records.len()), "{}", records.len());
    assert_eq!(records.last().unwrap()["result"], "interrupted");
    assert_eq!(records.last().unwrap()["id"], TOTAL);

    let shown = hoist(p.path(), &["deploy", "history", "--limit", "2", "--output", "json"]).ok().json();
    assert_eq!(shown["current"], format!("v1.{GOOD}.0-abcdef0"));
    let ids: Vec<u64> = shown["records"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [TOTAL - 1, TOTAL]);
    json_snapshot!(p.ctx(), "history_after_pruning_limit_2", shown);
}

#[test]
fn a_killed_runs_record_is_shown_interrupted_and_marked_by_the_next_run() {
    let p = Project::new();
    let mut killed = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    let pid = killed.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().nth(19).unwrap().parse().unwrap();
    killed.kill().unwrap();
    killed.wait().unwrap();
    let history = serde_json::json!({ "version": 1, "records": [
        { "id": 1, "action": "deploy", "release": "v1", "pins": [], "started_at": "2026-01-01T00:00:00Z",
          "result": "succeeded", "by": "ci" },
        { "id": 2, "action": "deploy", "release": "v2", "pins": [], "started_at": "2026-01-01T01:00:00Z",
          "result": "in_progress", "by": "ci",
          "owner": { "pid": pid, "pid_start": start, "host": hostname(), "user": "ci",
                     "since": "2026-01-01T01:00:00Z", "what": "deploy v2" } }
    ]});
    std::fs::create_dir_all(p.state()).unwrap();
    std::fs::write(p.history(), serde_json::to_vec_pretty(&history).unwrap()).unwrap();

    let shown = hoist(p.path(), &["deploy", "history", "--output", "json"]).ok().json();
    assert_eq!(shown["records"][1]["result"], "interrupted");
    assert_eq!(shown["current"], "v1");
    json_snapshot!(p.ctx(), "history_with_killed_run", shown, {
        ".records[1].owner.pid" => "[PID]",
        ".records[1].owner.pid_start" => "[PID_START]",
        ".records[1].owner.host" => "[HOST]",
    });
    let text = hoist(p.path(), &["deploy", "history"]).ok();
    assert!(text.stdout.lines().any(|l| l.contains("v2") && l.contains("interrupted")), "{}", text.stdout);
    hoist_snapshot!(p.ctx(), "history_with_killed_run_text", text);
    let on_disk: Value = serde_json::from_slice(&std::fs::read(p.history()).unwrap()).unwrap();
    assert_eq!(on_disk["records"][1]["result"], "in_progress", "reading does not write");

    // The next run holding the lock writes it down (then finds nothing to roll back to).
    let run = hoist(p.path(), &["rollback"]).fails(1);
    assert!(run.stderr.contains("marked interrupted"), "{}", run.stderr);
    hoist_snapshot!(p.ctx(), "rollback_marks_killed_run", run);
    let on_disk: Value = serde_json::from_slice(&std::fs::read(p.history()).unwrap()).unwrap();
    assert_eq!(on_disk["records"][1]["result"], "interrupted");
    assert!(on_disk["records"][1]["message"].as_str().unwrap().contains(&format!("pid {pid}")));
}

#[test]
fn an_unreadable_lock_is_named_as_such_and_only_an_old_one_is_broken() {
    let p = Project::new();
    std::fs::create_dir_all(p.state()).unwrap();
    std::fs::write(p.lock(), "").unwrap();
    for args in [&["rollback"][..], &["rollback", "--break-lock"]] {
        let run = hoist(p.path(), args).fails(1);
        assert!(run.stderr.contains("is unreadable: it is empty"), "{args:?}: {}", run.stderr);
        hoist_snapshot!(p.ctx(), format!("lock_unreadable_fresh_{}", args.len()), run);
        assert!(!run.stderr.contains("another deploy holds"), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("few seconds"), "{args:?}: {}", run.stderr);
        assert!(p.lock().exists(), "{args:?}: a fresh one stays");
    }
    let f = std::fs::OpenOptions::new().write(true).open(p.lock()).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(60)).unwrap();
    let run = hoist(p.path(), &["rollback"]).fails(1);
    assert!(run.stderr.contains(&format!("remove {}", p.lock().display())), "{}", run.stderr);
    hoist_snapshot!(p.ctx(), "lock_unreadable_old", run);
    // Broken: the run goes on (and finds no release to go back to), and releases the lock.
    let run = hoist(p.path(), &["rollback", "--break-lock"]).fails(1);
    assert!(run.stderr.contains("removed a stale deploy lock: an unreadable lock (it is empty)"), "{}", run.stderr);
    assert!(run.stderr.contains("no earlier healthy release"), "{}", run.stderr);
    hoist_snapshot!(p.ctx(), "lock_unreadable_broken", run);
    assert!(!p.lock().exists());
}
