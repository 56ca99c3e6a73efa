//! The history file on disk: bounded memory for a huge one, unknown fields kept, a newer
//! format refused, a corrupt file set aside, interrupted runs marked.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use hoist_compose::history_file::HISTORY_MAX_BYTES;
use hoist_compose::state::{HISTORY_RECORDS, history_path};
use hoist_compose::{Acquired, Action, ComposeError, History, Owner, Pin, Record, RunResult};
use hoist_diag::{Diagnostic, Exit};
use serde_json::{Value, json};

use crate::{child, peak_rss_kib, role};

const KEEP: usize = 3;

fn pin(service: &str, release: &str) -> Pin {
    Pin {
        service: service.into(),
        image: format!("127.0.0.1:5000/shop@sha256:{:0>64}", format!("{service}{release}").len()),
        reference: format!("127.0.0.1:5000/shop:{service}_{release}"),
        digest: Some(format!("sha256:{:0>64}", release.len())),
        image_id: format!("sha256:{release}-{service}"),
        acquired: Acquired::Pulled,
        extra: Default::default(),
    }
}

fn record(id: u64, release: &str, result: RunResult) -> Record {
    Record {
        id,
        action: Action::Deploy,
        release: release.into(),
        pins: vec![pin("gateway", release), pin("user-service", release)],
        started_at: Utc::now(),
        finished_at: Some(Utc::now()),
        result,
        by: "ci@host (pid 1)".into(),
        owner: None,
        recreated: vec!["gateway".into()],
        rolled_back_to: None,
        failed_service: None,
        message: None,
        inputs: None,
        config_hashes: BTreeMap::new(),
        extra: Default::default(),
    }
}

fn write(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

fn read_value(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn unknown_fields_survive_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = history_path(dir.path(), "shop").unwrap();
    let history = History {
        records: vec![record(1, "v1", RunResult::Succeeded), record(2, "v2", RunResult::Succeeded)],
        ..History::default()
    };
    // What a newer hoist (same major format) might add at every level.
    let mut file = serde_json::to_value(&history).unwrap();
    file["written_by"] = json!("hoist 1.9.0");
    file["retention"] = json!({ "records": 5000, "policy": ["a", "b"] });
    file["records"][0]["signature"] = json!({ "alg": "ed25519", "sig": "AAAA" });
    file["records"][1]["approved_by"] = json!(["alice", "bob"]);
    file["records"][1]["pins"][0]["platform"] = json!("linux/arm64");
    write(&path, &file);

    let mut loaded = History::load_locked(dir.path(), "shop", KEEP).unwrap();
    assert_eq!(loaded.extra["written_by"], "hoist 1.9.0");
    assert_eq!(loaded.records[0].extra["signature"]["alg"], "ed25519");
    assert_eq!(loaded.records[1].pins[0].extra["platform"], "linux/arm64");
    loaded.save(dir.path(), "shop").unwrap();
    assert_eq!(read_value(&path), file, "the rewrite kept every field");

    // A new record keeps the old ones' fields too.
    loaded.records.push(record(3, "v3", RunResult::Succeeded));
    loaded.save(dir.path(), "shop").unwrap();
    let again = read_value(&path);
    assert_eq!(again["retention"], file["retention"]);
    assert_eq!(again["records"][1]["approved_by"], file["records"][1]["approved_by"]);
    assert_eq!(again["records"].as_array().unwrap().len(), 3);
}

#[test]
fn the_format_version_is_written_first_and_a_file_without_one_is_version_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = history_path(dir.path(), "shop").unwrap();
    // As hoist wrote it before the format had a version.
    let old = json!({ "records": [serde_json::to_value(record(1, "v1", RunResult::Succeeded)).unwrap()] });
    write(&path, &old);
    let loaded = History::load(dir.path(), "shop", KEEP).unwrap();
    assert_eq!((loaded.version, loaded.records.len()), (1, 1));
    loaded.save(dir.path(), "shop").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\n  \"version\": 1,\n  \"records\""), "{}", &text[..60]);
}

#[test]
fn a_newer_format_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = history_path(dir.path(), "shop").unwrap();
    // Records this hoist could not read: the version (written first) stops it before them.
    std::fs::write(&path, r#"{"version": 2, "records": [{"id": "one", "shape": "new"}]}"#).unwrap();
    let before = std::fs::read(&path).unwrap();
    for locked in [false, true] {
        let err = if locked {
            History::load_locked(dir.path(), "shop", KEEP).unwrap_err()
        } else {
            History::load(dir.path(), "shop", KEEP).unwrap_err()
        };
        assert!(matches!(err, ComposeError::HistoryNewer { version: 2, .. }), "{err:?}");
        assert!(err.to_string().contains("format version 2"), "{err}");
        assert!(err.hint().unwrap().contains("newer hoist"), "{:?}", err.hint());
        assert_eq!(err.exit(), Exit::User);
        assert_eq!(std::fs::read(&path).unwrap(), before, "untouched");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "nothing set aside");
    // Seen after records this hoist can read, the version still refuses the file.
    write(&path, &json!({ "records": [], "version": 3 }));
    let err = History::load_locked(dir.path(), "shop", KEEP).unwrap_err();
    assert!(matches!(err, ComposeError::HistoryNewer { version: 3, .. }), "{err:?}");
}

fn asides(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("history-shop.json.corrupt-"))
        .collect();
    out.sort();
    out
}

#[test]
fn a_corrupt_history_is_set_aside_under_the_lock_and_the_next_run_starts_afresh() {
    let good = serde_json::to_vec_pretty(&History {
        records: vec![record(1, "v1", RunResult::Succeeded)],
        ..History::default()
    })
    .unwrap();
    let long_release = format!(
        r#"{{"records": [{}]}}"#,
        serde_json::to_string(&record(1, &"v".repeat(1000), RunResult::Succeeded)).unwrap()
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"{nope".to_vec()),
        ("empty", Vec::new()),
        ("a list", b"[]".to_vec()),
        ("records not a list", br#"{"records": 5}"#.to_vec()),
        ("no records", br#"{"version": 1}"#.to_vec()),
        ("records twice", br#"{"records": [], "records": []}"#.to_vec()),
        ("cut short", good[..good.len() / 2].to_vec()),
        ("trailing garbage", [good.as_slice(), b"}{"].concat()),
        ("unknown outcome", String::from_utf8(good.clone()).unwrap().replace("succeeded", "exploded").into_bytes()),
        ("version 0", br#"{"version": 0, "records": []}"#.to_vec()),
        ("version a string", br#"{"version": "1", "records": []}"#.to_vec()),
        ("binary", vec![0, 159, 146, 150, 255]),
        ("a 1000-byte release", long_release.into_bytes()),
    ];
    for (name, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = history_path(dir.path(), "shop").unwrap();
        std::fs::write(&path, &bytes).unwrap();

        // Without the lock (`hoist deploy history`, a dry run): refused, left in place.
        let err = History::load(dir.path(), "shop", KEEP).unwrap_err();
        assert!(matches!(err, ComposeError::HistoryCorrupt { aside: None, .. }), "{name}: {err:?}");
        assert_eq!(err.exit(), Exit::User, "{name}");
        assert!(err.to_string().contains(&path.display().to_string()), "{name}: {err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}");

        // Under the lock: set aside byte for byte, exit 1, and the hint says what it costs.
        let err = History::load_locked(dir.path(), "shop", KEEP).unwrap_err();
        let ComposeError::HistoryCorrupt { aside: Some(aside), .. } = &err else { panic!("{name}: {err:?}") };
        assert_eq!(err.exit(), Exit::User, "{name}");
        assert!(err.to_string().contains(&format!("set it aside as {}", aside.display())), "{name}: {err}");
        let hint = err.hint().unwrap();
        assert!(hint.contains("cannot roll back") && hint.contains(&aside.display().to_string()), "{hint}");
        assert_eq!(asides(dir.path()), std::slice::from_ref(aside), "{name}");
        assert_eq!(std::fs::read(aside).unwrap(), bytes, "{name}: kept as it was");
        assert!(!path.exists(), "{name}");

        let fresh = History::load_locked(dir.path(), "shop", KEEP).unwrap();
        assert!(fresh.records.is_empty() && fresh.current().is_none(), "{name}");
    }
}

#[test]
fn a_second_corrupt_history_never_replaces_the_first_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = history_path(dir.path(), "shop").unwrap();
    for text in ["first {", "second {", "third {"] {
        std::fs::write(&path, text).unwrap();
        History::load_locked(dir.path(), "shop", KEEP).unwrap_err();
    }
    let kept: Vec<String> = asides(dir.path()).iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    let mut sorted = kept.clone();
    sorted.sort();
    assert_eq!(sorted, ["first {", "second {", "third {"], "{kept:?}");
}

#[test]
fn a_history_that_is_not_a_file_or_too_large_is_corrupt_and_never_blocks() {
    for kind in ["directory", "fifo", "symlink to /dev/zero", "too large"] {
        let dir = tempfile::tempdir().unwrap();
        let path = history_path(dir.path(), "shop").unwrap();
        match kind {
            "directory" => std::fs::create_dir(&path).unwrap(),
            "fifo" => assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success()),
            "symlink to /dev/zero" => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
            // Sparse: no disk used, and hoist must not read it to find out.
            _ => std::fs::File::create(&path).unwrap().set_len(HISTORY_MAX_BYTES + 1).unwrap(),
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let d = dir.path().to_path_buf();
        std::thread::spawn(move || tx.send(History::load_locked(&d, "shop", KEEP).map(|_| ())).unwrap());
        let err = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("{kind}: load hung")).unwrap_err();
        let ComposeError::HistoryCorrupt { aside: Some(_), reason, .. } = &err else { panic!("{kind}: {err:?}") };
        let want = if kind == "too large" { "more than" } else { "not a regular file" };
        assert!(reason.contains(want), "{kind}: {reason}");
        assert_eq!(err.exit(), Exit::User);
        assert!(std::fs::symlink_metadata(&path).is_err(), "{kind}: set aside");
    }
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(19)?.parse().ok()
}

#[test]
fn in_progress_records_of_a_killed_run_become_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    // A real process that ran a deploy and was killed.
    let mut killed = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    let dead = Owner { pid: killed.id(), pid_start: start_time(killed.id()), ..Owner::me("deploy v2") };
    killed.kill().unwrap();
    killed.wait().unwrap();
    let mut v2 = record(2, "v2", RunResult::InProgress);
    v2.owner = Some(dead.clone());
    v2.finished_at = None;
    // One whose process still runs (this test): never marked.
    let mut v3 = record(3, "v3", RunResult::InProgress);
    v3.owner = Some(Owner::me("deploy v3"));
    let history = History { records: vec![record(1, "v1", RunResult::Succeeded), v2, v3], ..History::default() };
    history.save(dir.path(), "shop").unwrap();

    let mut loaded = History::load_locked(dir.path(), "shop", KEEP).unwrap();
    let marked: Vec<u64> = loaded.mark_interrupted(true).iter().map(|r| r.id).collect();
    assert_eq!(marked, [2]);
    loaded.save(dir.path(), "shop").unwrap();
    let file = read_value(&history_path(dir.path(), "shop").unwrap());
    let results: Vec<&str> =
        file["records"].as_array().unwrap().iter().map(|r| r["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["succeeded", "interrupted", "in_progress"]);
    let message = file["records"][1]["message"].as_str().unwrap();
    assert!(message.contains(&format!("pid {}", dead.pid)), "{message}");
    assert_eq!(loaded.current().unwrap().release, "v1", "what ran before is still what runs");
}

/// Write a 300k-record history the way an unbounded hoist grew it, without holding it.
/// Records 1..=298_500 deploy v<i> successfully; the rest fail and roll back to v298500
/// (whose pins live far outside the window); the last is a killed run's `in_progress`.
fn write_huge_history(path: &Path, total: u64, good: u64) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let hex = |n: u64, what: &str| format!("{:064x}", (n << 8) ^ what.len() as u64);
    write!(w, "{{\n  \"version\": 1,\n  \"records\": [").unwrap();
    for id in 1..=total {
        let release = format!("v1.{id}.0-abcdef0");
        let (result, extra) = if id <= good {
            ("succeeded", String::new())
        } else if id < total {
            (
                "rolled_back",
                format!(
                    ",\n      \"rolled_back_to\": \"v1.{good}.0-abcdef0\", \"failed_service\": \"gateway\", \"message\": \"did not become healthy in 120s\""
                ),
            )
        } else {
            (
                "in_progress",
                format!(
                    ",\n      \"owner\": {{\"pid\": {}, \"pid_start\": 1, \"host\": \"{}\", \"user\": \"ci\", \"since\": \"2026-01-01T00:00:00Z\", \"what\": \"deploy {release}\"}}",
                    u32::MAX - 5,
                    hoist_compose::state::hostname()
                ),
            )
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
        if id > 1 {
            write!(w, ",").unwrap();
        }
        write!(
            w,
            "\n    {{\n      \"id\": {id}, \"action\": \"deploy\", \"release\": \"{release}\",\n      \"pins\": [{}],\n      \"started_at\": \"2026-01-01T00:00:00Z\", \"finished_at\": \"2026-01-01T00:01:00Z\",\n      \"result\": \"{result}\", \"by\": \"ci@build-host (pid 4242)\", \"recreated\": [\"gateway\", \"user-service\"]{extra},\n      \"config_hashes\": {{\"chat-service\": \"{}\", \"gateway\": \"{}\", \"user-service\": \"{}\"}}\n    }}",
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

/// The issue's case: 300k records cost 1.1 GB per deploy. Loaded and pruned by what a
/// deploy runs first (take the lock, load, mark interrupted, write back), in a child whose
/// peak RSS is read from /proc, it stays small, and the answers rollback needs are the same.
#[test]
fn a_300k_record_history_is_pruned_in_bounded_memory() {
    const TOTAL: u64 = 300_000;
    const GOOD: u64 = 298_500;
    if role().as_deref() == Some("load") {
        let dir = PathBuf::from(std::env::var_os("HOIST_IT_STATE").unwrap());
        let start = Instant::now();
        let lock_path = hoist_compose::Lock::path(&dir, "shop", None).unwrap();
        let _lock = hoist_compose::Lock::acquire(&lock_path, &Owner::me("deploy next"), false).unwrap();
        let mut history = History::load_locked(&dir, "shop", KEEP).unwrap();
        let marked: Vec<u64> = history.mark_interrupted(true).iter().map(|r| r.id).collect();
        history.save(&dir, "shop").unwrap();
        let current = history.current().unwrap();
        let summary = json!({
            "peak_rss_kib": peak_rss_kib(),
            "millis": start.elapsed().as_millis() as u64,
            "cpu_millis": crate::cpu_time().as_millis() as u64,
            "records": history.records.len(),
            "dropped": history.dropped,
            "marked": marked,
            "current": current.release,
            "current_digest": current.pins[0].digest,
            "previous": history.previous().map(|p| p.release),
            "kept": history.kept_releases(KEEP),
            "last_id": history.records.last().map(|r| r.id),
        });
        // To the parent, through the test harness's stdout.
        writeln!(std::io::stdout(), "SUMMARY {summary}").unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = history_path(dir.path(), "shop").unwrap();
    write_huge_history(&path, TOTAL, GOOD);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 300_000_000, "a realistic file: {size} bytes");

    let out = child("history::a_300k_record_history_is_pruned_in_bounded_memory", "load")
        .env("HOIST_IT_STATE", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SUMMARY "))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no summary: {stdout}"));
    // The figures, for the test log.
    writeln!(std::io::stderr(), "300k records, {size} bytes: {summary}").unwrap();

    let peak_kib = summary["peak_rss_kib"].as_u64().unwrap();
    assert!(peak_kib < 96 * 1024, "peak RSS {peak_kib} KiB for a {size}-byte history");
    // Ends within a bound (CPU time: the machine may be busy; a debug build is slow).
    assert!(summary["cpu_millis"].as_u64().unwrap() < 300_000, "{summary}");
    let records = summary["records"].as_u64().unwrap() as usize;
    assert!((HISTORY_RECORDS..HISTORY_RECORDS + 10).contains(&records), "{summary}");
    assert_eq!(summary["dropped"].as_u64().unwrap() as usize, TOTAL as usize - records);
    assert_eq!(summary["marked"], json!([TOTAL]));
    assert_eq!(summary["last_id"], TOTAL);
    let release = |n: u64| format!("v1.{n}.0-abcdef0");
    assert_eq!(summary["current"], release(GOOD));
    // The current release's pins come from record GOOD, 1500 records before the end.
    assert_eq!(summary["current_digest"], format!("sha256:{:064x}", (GOOD << 8) ^ "chat-service".len() as u64));
    assert_eq!(summary["previous"], release(GOOD - 1));
    assert_eq!(summary["kept"], json!([release(GOOD), release(GOOD - 1), release(GOOD - 2)]));

    // Written back pruned: the next run reads a small file with the same answers.
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after < 3_000_000, "{after} bytes after the prune");
    let again = History::load(dir.path(), "shop", KEEP).unwrap();
    assert_eq!((again.records.len(), again.dropped), (records, 0));
    assert_eq!(again.current().unwrap().release, release(GOOD));
    assert_eq!(again.previous().unwrap().release, release(GOOD - 1));
    assert_eq!(again.records.last().unwrap().result, RunResult::Interrupted);
}
