//! The deploy lock with real processes: a live holder is never broken, a dead one is (with
//! the flag), racing breakers never end up as two holders, and an unreadable lock says so.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hoist_compose::error::{Garbage, Holder};
use hoist_compose::{ComposeError, Lock, Owner};
use hoist_diag::{Diagnostic, Exit};

use crate::{child, role};

fn lock_path(dir: &Path) -> PathBuf {
    Lock::path(dir, "shop", None).unwrap()
}

/// A child process that took the lock and holds it until its stdin closes.
fn spawn_holder(path: &Path) -> Child {
    let mut holder = child("lock::a_live_holder_is_never_broken_and_a_dead_one_is", "hold")
        .env("HOIST_IT_LOCK", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l == "HELD" => return holder,
            Some(Ok(_)) => continue,
            other => panic!("the holder never took the lock: {other:?}"),
        }
    }
}

fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

#[test]
fn a_live_holder_is_never_broken_and_a_dead_one_is() {
    if role().as_deref() == Some("hold") {
        let path = PathBuf::from(std::env::var_os("HOIST_IT_LOCK").unwrap());
        let _lock = Lock::acquire(&path, &Owner::me("deploy v9-child"), false).unwrap();
        writeln!(std::io::stdout(), "HELD").unwrap();
        std::io::stdout().flush().unwrap();
        let _ = std::io::read_to_string(std::io::stdin());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = lock_path(dir.path());
    let mut holder = spawn_holder(&path);
    let pid = holder.id();
    let on_disk = std::fs::read(&path).unwrap();
    let me = Owner::me("deploy v10");

    for break_lock in [false, true, true, true] {
        let err = Lock::acquire(&path, &me, break_lock).unwrap_err();
        assert!(matches!(err, ComposeError::Locked { state: Holder::Running, .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("another deploy holds the lock"), "{text}");
        assert!(text.contains("deploy v9-child by") && text.contains(&format!("(pid {pid})")), "{text}");
        assert!(err.hint().unwrap().contains("never breaks"), "{:?}", err.hint());
        assert_eq!(err.exit(), Exit::User);
        assert_eq!(std::fs::read(&path).unwrap(), on_disk, "the live lock is untouched");
    }

    // Killed: first a zombie (not reaped yet), then gone. Both hold nothing.
    holder.kill().unwrap();
    let start = Instant::now();
    while process_state(pid) != Some('Z') {
        assert!(start.elapsed() < Duration::from_secs(10), "the killed holder never became a zombie");
        std::thread::sleep(Duration::from_millis(5));
    }
    let err = Lock::acquire(&path, &me, false).unwrap_err();
    assert!(matches!(err, ComposeError::Locked { state: Holder::Gone, .. }), "zombie: {err:?}");
    holder.wait().unwrap();
    let err = Lock::acquire(&path, &me, false).unwrap_err();
    assert!(matches!(err, ComposeError::Locked { state: Holder::Gone, .. }), "{err:?}");
    assert!(err.to_string().contains("is stale"), "{err}");
    assert!(err.hint().unwrap().contains("--break-lock"), "{:?}", err.hint());
    assert_eq!(std::fs::read(&path).unwrap(), on_disk, "not broken without the flag");

    let lock = Lock::acquire(&path, &me, true).unwrap();
    assert!(lock.broken.as_deref().unwrap().contains(&format!("(pid {pid})")), "{:?}", lock.broken);
    let now: Owner = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!((now.pid, now.what.as_str()), (std::process::id(), "deploy v10"));
    drop(lock);
    assert!(!path.exists(), "released");
}

/// Children race for the lock with `--break-lock`; half of them die holding it early on,
/// so the others must break stale locks while racing. Never two holders, never an
/// unreadable lock on disk (a watcher reads it all along).
#[test]
fn racing_breakers_never_make_two_holders() {
    const ROUNDS: usize = 40;
    const CHILDREN: usize = 6;
    /// Even children die holding the lock in this round.
    const DIE: usize = 1;
    if role().as_deref() == Some("race") {
        let var = |k: &str| std::env::var(k).unwrap();
        let (path, log, index) = (PathBuf::from(var("HOIST_IT_LOCK")), var("HOIST_IT_LOG"), var("HOIST_IT_INDEX"));
        let index: usize = index.parse().unwrap();
        let inside = path.with_file_name("inside");
        let go = path.with_file_name("go");
        let mut log = std::fs::OpenOptions::new().append(true).open(log).unwrap();
        let mut say = |line: String| log.write_all(format!("{line}\n").as_bytes()).unwrap();
        let start = Instant::now();
        while !go.exists() {
            assert!(start.elapsed() < Duration::from_secs(60), "no go");
            std::thread::sleep(Duration::from_micros(200));
        }
        for round in 0..ROUNDS {
            let lock = loop {
                match Lock::acquire(&path, &Owner::me(&format!("race {index}/{round}")), true) {
                    Ok(l) => break l,
                    Err(ComposeError::Locked { state: Holder::Running, .. }) => {}
                    Err(ComposeError::State { message, .. }) if message.contains("taken again") => {}
                    Err(e) => say(format!("violation: {e}")),
                }
                std::thread::sleep(Duration::from_micros(300));
            };
            if std::fs::OpenOptions::new().write(true).create_new(true).open(&inside).is_err() {
                say(format!("violation: {index} got the lock while another held it"));
            }
            say(format!("held {index}"));
            if let Some(what) = &lock.broken {
                say(format!("broke {what}"));
            }
            std::thread::sleep(Duration::from_millis(1));
            std::fs::remove_file(&inside).unwrap();
            if round == DIE && index.is_multiple_of(2) {
                // Gone without releasing (no destructors run): the lock stays, stale.
                say(format!("dies {index}"));
                std::process::exit(0);
            }
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = lock_path(dir.path());
    let log = dir.path().join("log");
    std::fs::write(&log, "").unwrap();

    let done = AtomicBool::new(false);
    let (read_ok, read_bad) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                match std::fs::read(&path) {
                    Ok(bytes) => match serde_json::from_slice::<Owner>(&bytes) {
                        Ok(_) => read_ok.fetch_add(1, Ordering::SeqCst),
                        Err(_) => read_bad.fetch_add(1, Ordering::SeqCst),
                    },
                    Err(_) => 0,
                };
            }
        });
        let children: Vec<Child> = (0..CHILDREN)
            .map(|i| {
                child("lock::racing_breakers_never_make_two_holders", "race")
                    .stdout(Stdio::null())
                    .env("HOIST_IT_LOCK", &path)
                    .env("HOIST_IT_LOG", &log)
                    .env("HOIST_IT_INDEX", i.to_string())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::fs::write(dir.path().join("go"), "").unwrap();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        done.store(true, Ordering::SeqCst);
    });

    let log = std::fs::read_to_string(&log).unwrap();
    let violations: Vec<&str> = log.lines().filter(|l| l.starts_with("violation")).collect();
    assert!(violations.is_empty(), "{violations:#?}");
    let held = log.lines().filter(|l| l.starts_with("held ")).count();
    assert_eq!(held, (CHILDREN / 2) * ROUNDS + (CHILDREN / 2) * (DIE + 1), "{log}");
    // After a child died holding the lock, anyone holding it again broke that stale lock.
    let lines: Vec<&str> = log.lines().collect();
    let first_death = lines.iter().position(|l| l.starts_with("dies ")).expect("children died holding the lock");
    let held_after = lines[first_death..].iter().filter(|l| l.starts_with("held ")).count();
    assert!(held_after > 0, "the survivors broke a dead child's lock and went on: {log}");
    let broke = log.lines().filter(|l| l.starts_with("broke ")).count();
    assert_eq!(read_bad.load(Ordering::SeqCst), 0, "the lock on disk was never unreadable");
    assert!(read_ok.load(Ordering::SeqCst) > 0, "the watcher saw the lock held");
    // The figures, for the test log.
    let reads = read_ok.load(Ordering::SeqCst);
    writeln!(std::io::stderr(), "{held} holds, {broke} reported breaks, {reads} reads of the lock").unwrap();
    // Whatever is left (a child that died last) is stale and breakable.
    drop(Lock::acquire(&path, &Owner::me("after the race"), true).unwrap());
}

fn set_age(path: &Path, age: Duration) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn an_unreadable_lock_says_so_and_only_an_old_one_is_broken() {
    let owner_json = serde_json::to_vec(&Owner::me("deploy v1")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty"),
        ("half a record", owner_json[..owner_json.len() / 2].to_vec(), "not a hoist lock record"),
        ("not JSON", b"\x00\xff\xfe garbage".to_vec(), "not a hoist lock record"),
        ("wrong shape", br#"{"pid": "x"}"#.to_vec(), "not a hoist lock record"),
        ("huge", vec![b'a'; 200 * 1024], "larger than"),
    ];
    let me = Owner::me("deploy v2");
    for (name, bytes, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path());
        std::fs::write(&path, &bytes).unwrap();
        for break_lock in [false, true] {
            let err = Lock::acquire(&path, &me, break_lock).unwrap_err();
            assert!(matches!(err, ComposeError::LockUnreadable { kind: Garbage::Fresh, .. }), "{name}: {err:?}");
            let text = err.to_string();
            assert!(text.contains("is unreadable") && text.contains(&path.display().to_string()), "{name}: {text}");
            assert!(text.contains(reason), "{name}: {text}");
            assert!(!text.contains("another deploy"), "{name}: no deploy is known to hold it: {text}");
            assert!(err.hint().unwrap().contains("few seconds"), "{name}: {:?}", err.hint());
            assert_eq!(err.exit(), Exit::User);
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}: a fresh one is never removed");
        }
        set_age(&path, Duration::from_secs(60));
        let err = Lock::acquire(&path, &me, false).unwrap_err();
        assert!(matches!(err, ComposeError::LockUnreadable { kind: Garbage::Old, .. }), "{name}: {err:?}");
        let hint = err.hint().unwrap();
        assert!(hint.contains(&format!("remove {}", path.display())) && hint.contains("--break-lock"), "{hint}");
        let lock = Lock::acquire(&path, &me, true).unwrap();
        assert!(lock.broken.as_deref().unwrap().contains("unreadable"), "{name}: {:?}", lock.broken);
        drop(lock);
        assert!(!path.exists(), "{name}");
    }
}

#[test]
fn a_lock_path_that_is_not_a_file_is_never_removed_and_never_blocks() {
    let me = Owner::me("deploy v2");
    for kind in ["directory", "fifo", "symlink to /dev/zero", "dangling symlink"] {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path());
        match kind {
            "directory" => std::fs::create_dir(&path).unwrap(),
            "fifo" => assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success()),
            "symlink to /dev/zero" => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
            _ => std::os::unix::fs::symlink(dir.path().join("nowhere"), &path).unwrap(),
        }
        // A read of a FIFO or /dev/zero would block or never end: the answer must come.
        let (tx, rx) = std::sync::mpsc::channel();
        let (p, m) = (path.clone(), me.clone());
        std::thread::spawn(move || tx.send(Lock::acquire(&p, &m, true).map(|_| ())).unwrap());
        let result = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("{kind}: acquire hung"));
        let err = result.unwrap_err();
        assert!(matches!(err, ComposeError::LockUnreadable { kind: Garbage::NotAFile, .. }), "{kind}: {err:?}");
        assert!(err.to_string().contains("not a regular file"), "{kind}: {err}");
        assert!(err.hint().unwrap().contains("yourself"), "{kind}: {:?}", err.hint());
        assert!(std::fs::symlink_metadata(&path).is_ok(), "{kind}: left where it is");
    }
}

#[test]
fn locks_of_gone_remote_and_old_owners() {
    let me = Owner::me("deploy v2");
    let cases: Vec<(&str, Owner, Holder)> = vec![
        ("a pid that does not run", Owner { pid: u32::MAX - 1, ..me.clone() }, Holder::Gone),
        ("a reused pid", Owner { pid_start: me.pid_start.map(|s| s + 1), ..me.clone() }, Holder::Gone),
        ("before a reboot", Owner { boot_id: Some("another-boot".into()), ..me.clone() }, Holder::Gone),
        ("another machine", Owner { host: "elsewhere".into(), ..me.clone() }, Holder::Elsewhere),
        // An older hoist recorded no start time: a running pid counts as the holder.
        ("no start time, pid runs", Owner { pid_start: None, boot_id: None, ..me.clone() }, Holder::Running),
    ];
    for (name, owner, state) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path());
        std::fs::write(&path, serde_json::to_vec(&owner).unwrap()).unwrap();
        let err = Lock::acquire(&path, &me, false).unwrap_err();
        match &err {
            ComposeError::Locked { state: got, holder, .. } => {
                assert_eq!(*got, state, "{name}");
                assert!(holder.contains(&owner.host), "{name}: {holder}");
            }
            other => panic!("{name}: {other:?}"),
        }
        let broken = Lock::acquire(&path, &me, true);
        match state {
            Holder::Running => {
                assert!(matches!(broken, Err(ComposeError::Locked { state: Holder::Running, .. })), "{name}");
                assert_eq!(std::fs::read(&path).unwrap(), serde_json::to_vec(&owner).unwrap(), "{name}");
            }
            _ => {
                let lock = broken.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(lock.broken.is_some(), "{name}");
            }
        }
    }
    let remote = ComposeError::Locked { path: "/l".into(), holder: "x".into(), state: Holder::Elsewhere };
    assert!(remote.hint().unwrap().contains("another machine"), "{:?}", remote.hint());
}

#[test]
fn a_finished_run_removes_only_its_own_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = lock_path(dir.path());
    let first = Lock::acquire(&path, &Owner::me("deploy v1"), false).unwrap();
    // Someone broke it by hand and another run took it meanwhile.
    std::fs::remove_file(&path).unwrap();
    let second = Lock::acquire(&path, &Owner::me("deploy v2"), false).unwrap();
    drop(first);
    let on_disk: Owner = serde_json::from_slice(&std::fs::read(&path).expect("the second lock stays")).unwrap();
    assert_eq!(on_disk.what, "deploy v2");
    drop(second);
    assert!(!path.exists());
    // No temp files are left behind by taking and breaking locks.
    let left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(left.iter().all(|n| n.ends_with(".break")), "{left:?}");
}
