//! SIGKILL at each step of `hoist release` (tag, build, images, push, tag push, deploy) and
//! of `hoist deploy compose` (pull, up, wait, rollback), then a re-run; after every kill:
//! the local OCI layout verifies, no remote tag lacks its images, the deploy history keeps
//! every earlier entry; the re-run finishes the same release and the app answers it.
//!
//! hoist runs as a child in its own process group; the test reads its stderr and kills
//! the whole group (builds, git, compose) with `kill -9 -PGID` when the line announcing a
//! step appears, or a little into the step, or when the step's effect shows on disk (a
//! blob being written into the layout, an upload in the registry's storage, a hook of the
//! bare remote receiving the tag). No hook in hoist itself: the kill points are what a
//! CI runner's OOM killer or a cancelled job could hit.
//!
//! The kills of one flow are chained: the re-run after a kill is the run killed at the
//! next point, so every kill point meets the state a fresh run would meet there, and the
//! last re-run, never killed, has to finish what all the killed ones left.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hoist_cmd::Cmd;
use hoist_testkit::compose::{SERVICES, ShopDeploy};
use hoist_testkit::git::run_git;
use serde_json::Value;

use crate::common::{Run, TestContext, hoist, hoist_env, hoist_peak_rss};

/// The account of a kill and what it left: libtest shows it for a failed test (and with
/// `--nocapture`), which is when a reader needs to know which kill point broke what.
macro_rules! note {
    ($($arg:tt)*) => {{
        #[allow(clippy::print_stderr)]
        {
            eprintln!($($arg)*);
        }
    }};
}

/// A bound for one hoist run in these tests (a release plus a deploy takes seconds).
const RUN_BOUND: Duration = Duration::from_secs(300);

/// Where a run is killed.
enum At {
    /// The first stderr line containing this text.
    Line(&'static str),
    /// A condition on disk, polled every few milliseconds.
    When(&'static str, Box<dyn Fn() -> bool>),
}

impl std::fmt::Debug for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Line(l) => write!(f, "line {l:?}"),
            At::When(what, _) => write!(f, "{what}"),
        }
    }
}

/// Spawn `hoist ARGS` in its own process group, SIGKILL the whole group `delay` after
/// `at`, and wait until no process of the group is left. Returns stderr up to the kill.
fn kill_at(dir: &Path, args: &[&str], env: &[(&str, &str)], at: &At, delay: Duration) -> String {
    // Sealed like every run of the tests; the context (its HOME) outlives the child.
    let ctx = TestContext::at(dir);
    let mut cmd = ctx.command();
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.envs(env.iter().copied());
    cmd.process_group(0);
    let mut child = cmd.spawn().expect("spawn hoist");
    let pgid = child.id();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdout = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let mut seen = String::new();
    'wait: loop {
        assert!(started.elapsed() < RUN_BOUND, "hoist {args:?} never reached {at:?}:\n{seen}");
        while let Ok(line) = rx.try_recv() {
            seen.push_str(&line);
            seen.push('\n');
            if let At::Line(text) = at
                && line.contains(text)
            {
                break 'wait;
            }
        }
        if let At::When(_, cond) = at
            && cond()
        {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                seen.push_str(&line);
                seen.push('\n');
            }
            panic!("hoist {args:?} ended ({status}) before {at:?}:\n{seen}");
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    std::thread::sleep(delay);
    let status = Command::new("kill").args(["-9", "--", &format!("-{pgid}")]).status().expect("run kill");
    assert!(status.success(), "kill -9 -{pgid} failed");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "hoist {args:?} ended by itself ({status}) before the kill:\n{seen}");
    wait_group_gone(pgid);
    reader.join().unwrap();
    let _ = out_reader.join();
    while let Ok(line) = rx.try_recv() {
        seen.push_str(&line);
        seen.push('\n');
    }
    note!("--- killed {args:?} {delay:?} after {at:?}, {:.1}s in:\n{seen}", started.elapsed().as_secs_f64());
    seen
}

/// The live pids whose process group is `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // After the command in parentheses: state, ppid, pgrp.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().take(3).collect();
        if fields.len() == 3 && fields[0] != "Z" && fields[2].parse::<u32>().ok() == Some(pgid) {
            out.push(pid);
        }
    }
    out
}

/// Nothing of the killed run may keep working behind the re-run's back.
fn wait_group_gone(pgid: u32) {
    let start = Instant::now();
    loop {
        let left = group_members(pgid);
        if left.is_empty() {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "processes of the killed run survive: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The shop example as a git repository with a bare remote, `v1.0.0` released and a
/// `[minor]` change merged; its own registry and compose project (a [`ShopDeploy`]).
struct Shop {
    deploy: ShopDeploy,
    _remote_tmp: tempfile::TempDir,
    remote: PathBuf,
    /// Tags on the remote before any release of the test.
    old_tags: Vec<String>,
}

impl Shop {
    fn new() -> Shop {
        let deploy = ShopDeploy::new("timeout = 120");
        let remote_tmp = tempfile::TempDir::new().unwrap();
        let remote = remote_tmp.path().join("origin.git");
        Cmd::new("git").args(["init", "--quiet", "--bare", "--initial-branch=main"]).arg(&remote).run().unwrap();
        let dir = deploy.dir();
        std::fs::write(dir.join(".gitignore"), "build/\n.hoist/\n").unwrap();
        for args in [
            &["init", "--quiet", "--initial-branch=main"][..],
            &["config", "user.email", "dev@example.com"],
            &["config", "user.name", "Dev"],
            &["config", "commit.gpgsign", "false"],
            &["config", "tag.gpgsign", "false"],
            &["remote", "add", "origin", remote.to_str().unwrap()],
            &["add", "-A"],
            &["commit", "--quiet", "-m", "shop as released"],
        ] {
            run_git(dir, args);
        }
        let first = run_git(dir, &["rev-parse", "HEAD"]);
        run_git(dir, &["tag", &format!("v1.0.0-{}", &first[..7]), &first]);
        let feature = "package shop.gateway;\nclass Feature {}\n";
        std::fs::write(dir.join("gateway/src/main/java/shop/gateway/Feature.java"), feature).unwrap();
        run_git(dir, &["add", "-A"]);
        run_git(dir, &["commit", "--quiet", "-m", "[minor] gateway: new feature"]);
        run_git(dir, &["push", "--quiet", "origin", "main", "--tags"]);
        hoist(dir, &["image", "import", crate::release::jre_rootfs().to_str().unwrap(), "--ref", "shop-jre:17"]).ok();
        let old_tags = tag_list(&remote);
        Shop { deploy, _remote_tmp: remote_tmp, remote, old_tags }
    }

    fn dir(&self) -> &Path {
        self.deploy.dir()
    }

    /// The deploy lock a killed deploy leaves behind.
    fn lock(&self) -> PathBuf {
        self.deploy.state_dir().join(format!("lock-{}@local.json", self.deploy.project))
    }

    /// `hoist release --deploy compose`, with `--break-lock` when a killed run left the lock.
    fn release_args(&self, json: bool) -> Vec<&'static str> {
        let mut args = vec!["release", "--deploy", "compose"];
        if self.lock().exists() {
            args.push("--break-lock");
        }
        if json {
            args.extend(["--output", "json"]);
        }
        args
    }

    fn layout(&self) -> PathBuf {
        self.dir().join(".hoist/oci")
    }

    /// A hook of the bare remote that, when `git push` reaches it, makes a marker file and
    /// holds the push (bounded) so the test can kill hoist there. Returns the marker.
    fn hold_push_in(&self, hook: &str) -> PathBuf {
        let marker = self._remote_tmp.path().join(format!("{hook}.reached"));
        let script = format!(
            "#!/bin/sh\ncat >/dev/null\n: > '{}'\ni=0\nwhile [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done\nexit 1\n",
            marker.display()
        );
        let path = self.remote.join("hooks").join(hook);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        marker
    }

    fn hook_reached(&self, hook: &str) -> bool {
        self._remote_tmp.path().join(format!("{hook}.reached")).exists()
    }

    fn release_hooks_off(&self) {
        for hook in ["pre-receive", "post-receive"] {
            let _ = std::fs::remove_file(self.remote.join("hooks").join(hook));
        }
    }

    /// Whether the registry's storage holds an upload with bytes in it (a blob on its way).
    fn upload_in_flight(storage: &Path) -> bool {
        let Ok(repos) = std::fs::read_dir(storage.join("docker/registry/v2/repositories")) else { return false };
        repos.flatten().any(|repo| {
            std::fs::read_dir(repo.path().join("_uploads"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|u| std::fs::metadata(u.path().join("data")).is_ok_and(|m| m.len() > 0))
        })
    }
}

fn tag_list(git_dir: &Path) -> Vec<String> {
    run_git(git_dir, &["tag", "--list"]).lines().map(String::from).filter(|l| !l.is_empty()).collect()
}

fn skopeo_digest(transport_ref: &str, tls: bool) -> Option<String> {
    let mut cmd = Cmd::new("skopeo").arg("inspect");
    if tls {
        cmd = cmd.arg("--tls-verify=false");
    }
    let out = cmd.args(["--format", "{{.Digest}}", transport_ref]).output().expect("run skopeo");
    out.success().then(|| out.stdout.trim().to_string())
}

/// Check the local OCI layout: `index.json` parses; every ref opens with skopeo and its
/// manifest's blobs are present; every blob's sha256 is its name (sha256sum, not hoist).
/// Returns ref → manifest digest, and the names under `blobs/sha256` that are no blob.
fn verify_layout(layout: &Path) -> (BTreeMap<String, String>, Vec<String>) {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
        .unwrap_or_else(|e| panic!("index.json of {} does not parse after the kill: {e}", layout.display()));
    let blobs = layout.join("blobs/sha256");
    let mut refs = BTreeMap::new();
    for m in index["manifests"].as_array().expect("index.json has manifests") {
        let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str().expect("a ref name").to_string();
        let digest = m["digest"].as_str().unwrap().to_string();
        let got = skopeo_digest(&format!("oci:{}:{name}", layout.display()), false);
        assert_eq!(got.as_deref(), Some(digest.as_str()), "skopeo reads ref {name} of the layout");
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(blobs.join(digest.trim_start_matches("sha256:"))).unwrap()).unwrap();
        let wanted = manifest["layers"].as_array().into_iter().flatten().chain([&manifest["config"]]);
        for blob in wanted {
            let d = blob["digest"].as_str().unwrap().trim_start_matches("sha256:");
            assert!(blobs.join(d).is_file(), "ref {name}: blob {d} is missing from the layout");
        }
        refs.insert(name, digest);
    }
    let mut files = Vec::new();
    let mut leftovers = Vec::new();
    for entry in std::fs::read_dir(&blobs).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            files.push(name);
        } else {
            leftovers.push(name);
        }
    }
    if !files.is_empty() {
        let sums = Cmd::new("sha256sum").args(files.iter()).current_dir(&blobs).read().expect("sha256sum");
        for line in sums.lines() {
            let (sum, file) = line.split_once("  ").expect("sha256sum line");
            assert_eq!(sum, file, "blob {file} of the layout is not what its name says");
        }
        assert_eq!(sums.lines().count(), files.len());
    }
    (refs, leftovers)
}

/// The deploy history as `hoist deploy history` prints it.
fn history(dir: &Path) -> Vec<Value> {
    let json = hoist(dir, &["deploy", "history", "--output", "json"]).ok().json();
    json["records"].as_array().cloned().unwrap_or_default()
}

/// Every record of `before` is still in `after`: same id, action, release, start and pins,
/// and the same result, except that one in progress may since be marked interrupted.
#[track_caller]
fn keeps_history(before: &[Value], after: &[Value]) {
    for old in before {
        let same = |r: &&Value| ["id", "action", "release", "started_at", "pins"].iter().all(|k| r[*k] == old[*k]);
        let now = after.iter().find(same).unwrap_or_else(|| {
            panic!("history lost record {old}\nnow: {}", serde_json::to_string_pretty(after).unwrap())
        });
        if old["result"] == "in_progress" {
            // A killed run's record may be closed as interrupted, never as a success.
            let result = now["result"].as_str().unwrap_or_default();
            assert!(["in_progress", "interrupted"].contains(&result), "record {} became {result}", old["id"]);
        } else {
            assert_eq!(now["result"], old["result"], "record {} changed its result", old["id"]);
        }
    }
}

fn outcomes(records: &[Value]) -> String {
    let list: Vec<String> = records
        .iter()
        .map(|r| format!("{} {}", r["release"].as_str().unwrap_or("?"), r["result"].as_str().unwrap_or("?")))
        .collect();
    list.join(", ")
}

/// What the kills of one release have shown so far; every new look must agree with it.
struct Release<'a> {
    shop: &'a Shop,
    tag: Option<String>,
    /// `<service>_<tag>` → manifest digest, wherever it was seen (layout, registry).
    digests: BTreeMap<String, String>,
    history: Vec<Value>,
    leftovers: usize,
}

impl<'a> Release<'a> {
    fn new(shop: &'a Shop) -> Release<'a> {
        Release { shop, tag: None, digests: BTreeMap::new(), history: history(shop.dir()), leftovers: 0 }
    }

    #[track_caller]
    fn saw(&mut self, image: &str, digest: &str, where_: &str) {
        let known = self.digests.entry(image.to_string()).or_insert_with(|| digest.to_string());
        assert_eq!(known, digest, "{image} in the {where_} is not the image seen before");
    }

    /// The rules after a kill (and after the final run); returns a one-line description.
    fn check(&mut self, stderr: &str) -> String {
        let shop = self.shop;
        // The release's tag, once announced, stays on HEAD and never changes.
        if let Some(line) = stderr.lines().find(|l| l.starts_with("tagged ") || l.starts_with("continuing release ")) {
            let tag = line.split_whitespace().nth(if line.starts_with("tagged") { 1 } else { 2 }).unwrap();
            assert_eq!(self.tag.get_or_insert_with(|| tag.to_string()), tag, "a re-run made another release");
        }
        let local_tag = run_git(shop.dir(), &["tag", "--points-at", "HEAD"]);
        if let Some(tag) = &self.tag {
            assert_eq!(&local_tag, tag, "HEAD keeps the release tag");
        }
        let (refs, leftovers) = verify_layout(&shop.layout());
        self.leftovers = self.leftovers.max(leftovers.len());
        let mut in_layout = 0;
        if let Some(tag) = self.tag.clone() {
            for s in SERVICES {
                let image = format!("{s}_{tag}");
                if let Some(d) = refs.get(&image) {
                    self.saw(&image, d, "layout");
                    in_layout += 1;
                }
            }
        }
        // No tag on the remote without every image of it in the registry.
        let new_tags: Vec<String> = tag_list(&shop.remote).into_iter().filter(|t| !shop.old_tags.contains(t)).collect();
        for t in &new_tags {
            assert_eq!(Some(t), self.tag.as_ref(), "the remote has a tag of another release");
        }
        let mut in_registry = 0;
        if let Some(tag) = self.tag.clone() {
            for s in SERVICES {
                let image = format!("{s}_{tag}");
                match skopeo_digest(&format!("docker://{}:{image}", shop.deploy.repository), true) {
                    Some(d) => {
                        self.saw(&image, &d, "registry");
                        in_registry += 1;
                    }
                    None => assert!(new_tags.is_empty(), "remote tag {tag} exists, but the registry lacks {image}"),
                }
            }
        }
        let now = history(shop.dir());
        keeps_history(&self.history, &now);
        self.history = now;
        format!(
            "local tag {}; layout {in_layout}/3 images, {} non-blob leftover(s) {leftovers:?}; registry {in_registry}/3; remote tag {}; history [{}]",
            if local_tag.is_empty() { "none" } else { "on HEAD" },
            leftovers.len(),
            if new_tags.is_empty() { "no" } else { "yes" },
            outcomes(&self.history)
        )
    }

    /// The run that is not killed: the same release, finished, deployed and answering.
    fn finish(&mut self, run: Run) {
        let run = run.ok();
        let json = run.json();
        let tag = self.tag.clone().expect("the release was tagged before");
        assert_eq!(json["tag"], tag.as_str());
        assert_eq!(json["resumed"], true);
        assert_eq!(json["tag_pushed"], true);
        for s in json["services"].as_array().unwrap() {
            let image = format!("{}_{tag}", s["service"].as_str().unwrap());
            let digest = s["digest"].as_str().unwrap().to_string();
            self.saw(&image, &digest, "final run's report");
        }
        let state = self.check(&run.stderr);
        note!("--- final run: {state}");
        assert_eq!(self.digests.len(), 3, "{:?}", self.digests);
        assert!(tag_list(&self.shop.remote).contains(&tag));
        for s in SERVICES {
            assert_eq!(self.shop.deploy.version(s).as_deref(), Some(tag.as_str()), "{s} answers /version");
        }
        let last = self.history.last().expect("a deploy record");
        assert_eq!((last["release"].as_str(), last["result"].as_str()), (Some(tag.as_str()), Some("succeeded")));
    }
}

/// Kill `hoist release --deploy compose` at each of `points` in turn (each re-run is the
/// next killed run), check the rules after every kill, then let a last re-run finish.
fn kill_release_at_each(shop: &Shop, points: Vec<(&str, At, u64)>, env: &[(&str, &str)]) {
    let mut release = Release::new(shop);
    let mut refused = false;
    for (name, at, ms) in &points {
        let stderr = kill_at(shop.dir(), &shop.release_args(false), env, at, Duration::from_millis(*ms));
        // A held push stays held only for the run it was meant for.
        if ["pre-receive", "post-receive"].iter().any(|h| shop.hook_reached(h)) {
            shop.release_hooks_off();
        }
        let state = release.check(&stderr);
        let lock = if shop.lock().exists() { "left" } else { "none" };
        note!("--- state after the kill at {name}: {state}; deploy lock {lock}");
        if shop.lock().exists() && !refused {
            // The killed deploy's lock stops a plain re-run, with the way on in the hint.
            let run = hoist_env(shop.dir(), &["release", "--deploy", "compose"], env).fails(1);
            assert!(run.stderr.contains("is stale") && run.stderr.contains("whose process is gone"), "{}", run.stderr);
            assert!(run.stderr.contains("run again with --break-lock"), "{}", run.stderr);
            note!("--- state after the refused re-run: {}", release.check(&run.stderr));
            refused = true;
        }
    }
    assert!(refused, "a kill during the deploy left its lock");
    let (run, peak_kib) = hoist_peak_rss(shop.dir(), &shop.release_args(true), env);
    note!("--- final run's peak RSS: {peak_kib} KiB");
    // The resumed run streams blobs (a 50 MB base, 6 MiB dependency layers): it holds none whole.
    assert!(peak_kib < 160 * 1024, "the final run peaked at {peak_kib} KiB");
    release.finish(run);
    assert!(!shop.lock().exists(), "the finished deploy released its lock");
    note!("--- max non-blob leftovers under blobs/sha256: {}", release.leftovers);
}

/// Killed the moment each step announces itself: tag, build, images, push, the tag push
/// (held in the remote's pre-receive hook), and the deploy's pull, up and health wait.
#[test]
fn release_killed_as_each_step_starts_is_finished_by_a_rerun() {
    let shop = Shop::new();
    let marker = shop.hold_push_in("pre-receive");
    let points = vec![
        ("tag", At::Line("tagged v1.1.0-"), 0),
        ("build", At::Line("building chat-service, gateway, user-service for"), 0),
        ("images", At::Line("building 3 image(s)"), 0),
        ("push", At::Line("pushing 3 image(s)"), 0),
        ("tag push", At::When("the remote's pre-receive hook", Box::new(move || marker.exists())), 0),
        ("pull", At::Line("pulling "), 0),
        ("up", At::Line(" up (v1.1.0-"), 0),
        ("wait", At::Line("waiting up to"), 0),
    ];
    kill_release_at_each(&shop, points, &[]);
}

/// Killed a little into each step, or where its effect shows: mid-build, a blob half
/// written into the layout, an upload half sent, the tag on the remote before hoist heard
/// back (post-receive hook), compose recreating containers, services starting.
#[test]
fn release_killed_inside_each_step_is_finished_by_a_rerun() {
    // 6 MiB of dependency jars per service: layers big enough to be caught mid-write.
    let env = [("SHOP_DEPS_MB", "6")];
    let shop = Shop::new();
    let blobs = shop.layout().join("blobs/sha256");
    let storage = shop.deploy.registry.storage();
    let marker = shop.hold_push_in("post-receive");
    let blob_tmp =
        move || {
            std::fs::read_dir(&blobs).into_iter().flatten().flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with(".tmp-") && e.metadata().is_ok_and(|m| m.len() > 0)
            })
        };
    let upload = move || Shop::upload_in_flight(&storage);
    let points = vec![
        ("build +1.5s", At::Line("building chat-service, gateway, user-service for"), 1500),
        ("images: a blob half written", At::When("a .tmp- blob with bytes in the layout", Box::new(blob_tmp)), 0),
        ("push: an upload half sent", At::When("an upload with bytes in the registry", Box::new(upload)), 0),
        ("push +150ms", At::Line("pushing 3 image(s)"), 150),
        ("tag on the remote", At::When("the remote's post-receive hook", Box::new(move || marker.exists())), 0),
        ("up +700ms", At::Line(" up (v1.1.0-"), 700),
        ("wait +1s", At::Line("waiting up to"), 1000),
    ];
    kill_release_at_each(&shop, points, &env);
}

const V1: &str = "v1.0.0-aaaaaaa";
const V2: &str = "v1.1.0-bbbbbbb";
const V3: &str = "v1.2.0-ccccccc";

/// `hoist deploy compose --tag TAG`, with `--break-lock` when a killed run left the lock.
fn deploy_args<'a>(shop: &ShopDeploy, tag: &'a str, json: bool) -> Vec<&'a str> {
    let mut args = vec!["deploy", "compose", "--tag", tag];
    if shop.state_dir().join(format!("lock-{}@local.json", shop.project)).exists() {
        args.push("--break-lock");
    }
    if json {
        args.extend(["--output", "json"]);
    }
    args
}

fn versions(shop: &ShopDeploy) -> Vec<String> {
    SERVICES.iter().map(|s| shop.version(s).unwrap_or_else(|| "no answer".into())).collect()
}

/// `hoist deploy compose` killed at the pull, at compose's up, in the health wait, and
/// twice in the rollback of a broken release; each re-run finishes (or, for the broken
/// release, rolls back again) and the history keeps every entry.
#[test]
fn deploy_killed_at_pull_up_wait_and_rollback_is_finished_by_a_rerun() {
    let shop = ShopDeploy::new("timeout = 30");
    shop.release(V1, &SERVICES, &[], None);
    hoist(shop.dir(), &["deploy", "compose", "--tag", V1]).ok();
    let mut records = history(shop.dir());
    let v1_containers = shop.containers();

    // v2 changes user-service.
    shop.release(V2, &["user-service"], &[], Some(V1));
    let points = [
        ("pull", At::Line("pulling "), 0),
        ("up", At::Line(" up (v1.1.0-"), 300),
        ("wait", At::Line("waiting up to"), 0),
    ];
    for (name, at, ms) in &points {
        kill_at(shop.dir(), &deploy_args(&shop, V2, false), &[], at, Duration::from_millis(*ms));
        let now = history(shop.dir());
        keeps_history(&records, &now);
        records = now;
        if *name == "pull" {
            // Nothing running is touched before the images are in.
            assert_eq!(shop.containers(), v1_containers, "the kill in the pull changed running containers");
            assert_eq!(versions(&shop), [V1, V1, V1]);
        }
        note!(
            "--- after the kill at {name}: {} container(s) running; history [{}]",
            shop.containers().len(),
            outcomes(&records)
        );
    }
    let done = hoist(shop.dir(), &deploy_args(&shop, V2, true)).ok().json();
    assert_eq!((done["release"].as_str(), done["result"].as_str()), (Some(V2), Some("succeeded")));
    for pin in done["pins"].as_array().unwrap() {
        assert_eq!(pin["digest"].as_str().unwrap(), shop.registry_digest(pin["reference"].as_str().unwrap()));
    }
    assert_eq!(versions(&shop), [V1, V1, V2]);
    let now = history(shop.dir());
    keeps_history(&records, &now);
    records = now;

    // v3's user-service fails its health check: killed as the rollback starts, then inside it.
    shop.release(V3, &["user-service"], &["user-service"], Some(V2));
    for ms in [0, 1500] {
        kill_at(
            shop.dir(),
            &deploy_args(&shop, V3, false),
            &[],
            &At::Line("rolling back to"),
            Duration::from_millis(ms),
        );
        let now = history(shop.dir());
        keeps_history(&records, &now);
        records = now;
        note!(
            "--- after the kill in the rollback +{ms}ms: {} container(s) running; history [{}]",
            shop.containers().len(),
            outcomes(&records)
        );
    }
    let run = hoist(shop.dir(), &deploy_args(&shop, V3, false)).fails(1);
    assert!(run.stderr.contains(&format!("rolled back to {V2}")), "{}", run.stderr);
    assert_eq!(versions(&shop), [V1, V1, V2]);
    let now = history(shop.dir());
    keeps_history(&records, &now);
    let last = now.last().unwrap();
    assert_eq!((last["release"].as_str(), last["result"].as_str()), (Some(V3), Some("rolled_back")));
    let current = hoist(shop.dir(), &["deploy", "history", "--output", "json"]).ok().json();
    assert_eq!(current["current"], V2);
    note!("--- final: history [{}]", outcomes(&now));
}
