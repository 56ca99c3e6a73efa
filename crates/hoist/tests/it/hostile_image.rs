//! `hoist image import` and `image build-file` on hostile input the tests make themselves:
//! a gzip bomb, a 4 GiB tar header, sparse tars, a destination that climbs with `..`, and
//! runs killed midway. Each asserts the exit code and the message, the bound that held
//! (peak RSS measured by GNU time), and what is left on disk.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hoist_cmd::Cmd;

use crate::common::{TestContext, hoist, hoist_peak_rss};
use crate::hoist_snapshot;

/// Peak RSS a refused archive may cost (hoist itself needs about 15 MiB).
const REFUSAL_RSS_KIB: u64 = 64 * 1024;

/// A ustar header block, written by hand: the tests make archives no tar tool would.
fn header(name: &str, size: u64, kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar ");
    h[263..265].copy_from_slice(b" \0");
    checksum(&mut h);
    h
}

fn checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// A GNU sparse tar (type `S`): `name` of `real_size` bytes, whose only data is one
/// 512-byte block at the end. 2.5 KB on disk whatever `real_size` is.
fn sparse_tar(path: &Path, name: &str, real_size: u64) {
    let mut h = header(name, 512, b'S');
    h[386..398].copy_from_slice(format!("{:011o}\0", real_size - 512).as_bytes()); // sparse[0].offset
    h[398..410].copy_from_slice(format!("{:011o}\0", 512).as_bytes()); // sparse[0].numbytes
    h[483..495].copy_from_slice(format!("{real_size:011o}\0").as_bytes()); // realsize
    checksum(&mut h);
    let mut bytes = h.to_vec();
    let mut block = b"the end of a sparse file".to_vec();
    block.resize(512, 0);
    bytes.extend(block);
    bytes.extend([0u8; 1024]);
    std::fs::write(path, bytes).unwrap();
}

/// `bytes` as one gzip member, made by the real gzip (through files: it is binary).
fn gzip(bytes: Vec<u8>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out.gz"));
    std::fs::write(&input, bytes).unwrap();
    let status = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(&input)
        .stdout(std::fs::File::create(&output).unwrap())
        .status()
        .expect("gzip");
    assert!(status.success());
    std::fs::read(&output).unwrap()
}

/// gzip members: `head`, then `copies` × one member of 64 MiB of `fill` (compressed once),
/// then the end of the tar, then incompressible bytes up to `on_disk` that the tar reader
/// never reaches: a bomb of a chosen size on disk, made in seconds.
fn gzip_bomb(path: &Path, head: &[u8], fill: u8, copies: u64, on_disk: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(&gzip(head.to_vec())).unwrap();
    let member = gzip(vec![fill; 64 << 20]);
    for _ in 0..copies {
        out.write_all(&member).unwrap();
    }
    out.write_all(&gzip(vec![0u8; 1024])).unwrap();
    out.flush().unwrap();
    let written = out.get_ref().metadata().unwrap().len();
    if on_disk > written {
        let mut noise = vec![0u8; (on_disk - written) as usize];
        std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut noise).unwrap();
        out.write_all(&gzip(noise)).unwrap();
    }
    out.flush().unwrap();
}

/// What a killed or failed run could leave in the layout.
fn leftovers(layout: &Path) -> Vec<String> {
    let list = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    };
    let mut out: Vec<String> =
        list(layout).into_iter().filter(|n| n.starts_with(".tmp-") || n.starts_with(".hoist-import-")).collect();
    out.extend(
        list(&layout.join("blobs/sha256"))
            .into_iter()
            .filter(|n| n.starts_with(".tmp-"))
            .map(|n| format!("blobs/sha256/{n}")),
    );
    out.sort();
    out
}

#[test]
fn a_gzip_bomb_import_is_refused_in_bounded_memory_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The reproduced bomb: 20 MB of gzip holding a 3 GiB file (150:1).
    gzip_bomb(&dir.join("rootfs.tar.gz"), &header("big.bin", 3 << 30, b'0'), 0, 48, 20 << 20);
    let started = Instant::now();
    let (run, kib) = hoist_peak_rss(dir, &["image", "import", "rootfs.tar.gz", "--ref", "bomb:1"], &[]);
    let run = run.fails(1);
    hoist_snapshot!(TestContext::at(dir), "import_gzip_bomb", run);
    assert!(kib < REFUSAL_RSS_KIB, "peak RSS {kib} KiB");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_eq!(leftovers(&dir.join(".hoist/oci")), Vec::<String>::new());
    assert_eq!(hoist(dir, &["image", "ls"]).ok().stdout, "");

    // A bound set lower than the default holds too, named in the message.
    std::fs::write(
        dir.join("small.tar"),
        [header("a.txt", 2048, b'0').to_vec(), vec![b'a'; 2048], vec![0u8; 1024]].concat(),
    )
    .unwrap();
    let run = hoist(dir, &["image", "import", "small.tar", "--ref", "small:1", "--max-size", "1K"]).fails(1);
    hoist_snapshot!(TestContext::at(dir), "import_over_max_size", run);
    hoist(dir, &["image", "import", "small.tar", "--ref", "small:1"]).ok();
    let run = hoist(dir, &["image", "import", "small.tar", "--ref", "x:1", "--max-size", "lots"]);
    assert!(run.code != 0 && run.stderr.contains("not a size"), "{}", run.stderr);
    hoist_snapshot!(TestContext::at(dir), "import_max_size_not_a_size", run);
}

#[test]
fn a_4_gib_tar_header_is_refused_without_holding_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A GNU long name of 4 GiB: the tar reader buffers long names in memory.
    gzip_bomb(&dir.join("rootfs.tar.gz"), &header("././@LongLink", 4 << 30, b'L'), b'a', 64, 0);
    let (run, kib) = hoist_peak_rss(dir, &["image", "import", "rootfs.tar.gz", "--ref", "long:1"], &[]);
    let run = run.fails(1);
    hoist_snapshot!(TestContext::at(dir), "import_4_gib_header", run);
    assert!(kib < REFUSAL_RSS_KIB, "peak RSS {kib} KiB");
    assert_eq!(leftovers(&dir.join(".hoist/oci")), Vec::<String>::new());
}

#[test]
fn add_of_a_sparse_tar_streams_from_disk_and_a_sparse_bomb_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 300 MiB inside a 2.5 KB tar: within every bound (the ratio counts past 512 MiB).
    sparse_tar(&dir.join("data.tar"), "db/data.bin", 300 << 20);
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nADD data.tar /srv/\n").unwrap();
    let (run, kib) =
        hoist_peak_rss(dir, &["image", "build-file", "Dockerfile", "--ref", "data:1", "--output", "json"], &[]);
    let built = run.ok().json();
    // Read from disk as the layer is written: far below the file's 300 MiB.
    assert!(kib < 100 * 1024, "peak RSS {kib} KiB");
    let blob = dir
        .join(".hoist/oci/blobs/sha256")
        .join(built["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:"));
    let listing = Cmd::new("tar").arg("-tzvf").arg(&blob).read().expect("tar lists the layer");
    let line = listing.lines().find(|l| l.ends_with("srv/db/data.bin")).unwrap_or_else(|| panic!("{listing}"));
    assert!(line.contains(&(300u64 << 20).to_string()), "{line}");
    let scratch: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".hoist-add-"))
        .filter(|p| std::fs::File::open(p).unwrap().try_lock().is_ok()) // a concurrent run's is locked
        .map(|p| p.display().to_string())
        .collect();
    assert!(scratch.is_empty(), "ADD's scratch left behind: {scratch:?}");

    // 6.3 GB in the same 2.5 KB: refused by the ratio, with the Dockerfile's line.
    sparse_tar(&dir.join("bomb.tar"), "disk.img", 6_300_000_000);
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY data.tar /\nADD bomb.tar /srv/\n").unwrap();
    let (run, kib) = hoist_peak_rss(dir, &["image", "build-file", "Dockerfile", "--ref", "bomb:1"], &[]);
    let run = run.fails(1);
    hoist_snapshot!(TestContext::at(dir), "build_file_sparse_bomb", run);
    assert!(kib < REFUSAL_RSS_KIB, "peak RSS {kib} KiB");
}

#[test]
fn copy_to_a_destination_that_climbs_exits_1_with_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("a"), "a").unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY a ../../../etc/x\n").unwrap();
    let run = hoist(dir, &["image", "build-file", "Dockerfile", "--ref", "x:1"]).fails(1);
    hoist_snapshot!(TestContext::at(dir), "build_file_copy_climbs", run);
    assert!(!dir.join(".hoist/oci/index.json").exists() || hoist(dir, &["image", "ls"]).ok().stdout.is_empty());
}

/// `hoist image import SOURCE --ref NAME` started in the background.
fn spawn_import(ctx: &TestContext, source: &str, name: &str, epoch: &str) -> Child {
    ctx.command()
        .args(["image", "import", source, "--ref", name])
        .env("SOURCE_DATE_EPOCH", epoch)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hoist")
}

/// Wait until `cond` holds or the run ends; true if it held.
fn wait_for(child: &mut Child, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return cond();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn signal(child: &Child, sig: &str) {
    Cmd::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).run().expect("kill");
    if sig == "STOP" {
        // kill(2) returns before every thread has stopped: a thread on the other core can
        // still create a file. Wait until /proc says each of them is stopped.
        let tasks = std::path::PathBuf::from(format!("/proc/{}/task", child.id()));
        let stopped = || {
            std::fs::read_dir(&tasks).map(|d| {
                d.flatten().all(|t| {
                    let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                    // The state follows the parenthesised command name.
                    matches!(stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()), Some('T' | 't'))
                })
            })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !stopped().unwrap_or(true) {
            assert!(std::time::Instant::now() < deadline, "the import did not stop on SIGSTOP");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[test]
fn a_killed_import_is_reclaimed_by_the_next_run_and_a_live_one_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let layout = dir.join(".hoist/oci");
    // 200 MiB of random data: seconds to unpack and compress, so the runs can be caught midway.
    let size: u64 = 200 << 20;
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("big.tar")).unwrap());
    f.write_all(&header("opt/blob.bin", size, b'0')).unwrap();
    std::io::copy(&mut std::fs::File::open("/dev/urandom").unwrap().take(size), &mut f).unwrap();
    f.write_all(&[0u8; 1024]).unwrap();
    f.flush().unwrap();
    drop(f);
    std::fs::create_dir_all(dir.join("small/etc")).unwrap();
    std::fs::write(dir.join("small/etc/hostname"), "small\n").unwrap();
    hoist(dir, &["image", "import", "small", "--ref", "first:1"]).ok();

    // A live run, paused midway (SIGSTOP) while another run opens the layout.
    let ctx = TestContext::at(dir);
    let mut live = spawn_import(&ctx, "big.tar", "live:1", "0");
    let importing = || leftovers(&layout).iter().any(|n| n.starts_with(".hoist-import-"));
    assert!(wait_for(&mut live, importing), "the import never made its directory");
    signal(&live, "STOP");
    let during = leftovers(&layout);
    hoist(dir, &["image", "import", "small", "--ref", "second:1"]).ok();
    assert_eq!(leftovers(&layout), during, "the other run took the live run's files");
    signal(&live, "CONT");
    assert!(live.wait().unwrap().success(), "the live run failed after the other one");
    assert_eq!(leftovers(&layout), Vec::<String>::new());

    // A killed run: SIGKILL while it compresses (its import dir and a blob temp file exist).
    // Another epoch: another layer, so it is compressed again rather than found in the layout.
    let mut killed = spawn_import(&ctx, "big.tar", "killed:1", "1700000000");
    let both = || {
        let l = leftovers(&layout);
        l.iter().any(|n| n.starts_with(".hoist-import-")) && l.iter().any(|n| n.starts_with("blobs/sha256/.tmp-"))
    };
    assert!(wait_for(&mut killed, both), "the run ended before it could be killed midway");
    killed.kill().unwrap(); // SIGKILL: no destructor runs
    killed.wait().unwrap();
    let left = leftovers(&layout);
    assert!(left.len() >= 2, "{left:?}");
    // The next run removes them, and the killed run's ref was never written.
    hoist(dir, &["image", "import", "small", "--ref", "third:1"]).ok();
    assert_eq!(leftovers(&layout), Vec::<String>::new());
    let ls = hoist(dir, &["image", "ls"]).ok().stdout;
    assert!(ls.contains("live:1") && ls.contains("third:1") && !ls.contains("killed:1"), "{ls}");
}
