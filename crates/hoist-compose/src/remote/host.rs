//! hoist's directory on a remote host: files read and written atomically over ssh, and
//! the deploy lock.
//!
//! Every operation is one `sh -c SCRIPT hoist DIR ARG…`: the scripts are constants, the
//! directory and names are quoted positional arguments. Writes go to a temp file in the
//! target's directory, then `mv` over it (rename is atomic on the host's filesystem).
//!
//! The lock is a directory (`mkdir` is atomic) holding the holder's record (run id, who,
//! what, since) and a `heartbeat` file the holder touches every [`HEARTBEAT_SECS`] while it
//! runs. The host's clock judges both the heartbeat's age and "now", so runners' clocks
//! do not matter. A lock whose heartbeat is older than [`STALE_SECS`] is stale (its holder
//! was killed or cut off): `--break-lock` removes it, as the local lock's rule says for a
//! holder that is gone; a fresh one is never broken.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::RemoteError;
use super::ssh::Connection;

/// How often a holder touches its heartbeat.
pub const HEARTBEAT_SECS: u64 = 3;
/// A lock whose heartbeat is older than this is stale.
pub const STALE_SECS: u64 = 20;
/// The most of a state file hoist reads from a host.
const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// Resolve `~/` in `$1` to the remote user's home; `d` is the directory from then on.
const PRELUDE: &str = r#"d=$1; case $d in "~") d=$HOME;; "~/"*) d=$HOME/${d#??};; esac; "#;

#[derive(Debug)]
pub struct HostState {
    pub conn: Connection,
    /// As configured (`~/…` allowed).
    pub dir: String,
}

impl HostState {
    fn script(&self, body: &str, args: &[&str]) -> Result<hoist_cmd::Output, RemoteError> {
        let script = format!("{PRELUDE}{body}");
        let mut all = vec![self.dir.as_str()];
        all.extend_from_slice(args);
        let cmd = self.conn.script(&script, &all)?;
        self.conn.exec(&cmd)
    }

    fn display(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    /// A file under the directory, or `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let out = self.script(
            r#"f=$d/$2; if [ -f "$f" ]; then printf 'present\n'; exec cat -- "$f"; else printf 'absent\n'; fi"#,
            &[name],
        )?;
        let text = out.stdout;
        if text.len() > MAX_FILE_BYTES {
            return Err(RemoteError::State {
                host: self.conn.url.to_string(),
                path: self.display(name),
                reason: format!("larger than {MAX_FILE_BYTES} bytes"),
            });
        }
        match text.split_once('\n') {
            Some(("present", body)) => Ok(Some(body.as_bytes().to_vec())),
            Some(("absent", _)) => Ok(None),
            _ => Err(RemoteError::State {
                host: self.conn.url.to_string(),
                path: self.display(name),
                reason: "the host's shell answered something unexpected".into(),
            }),
        }
    }

    /// Write a file under the directory atomically (temp file + rename on the host).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), RemoteError> {
        let script = format!(
            "{PRELUDE}{}",
            r#"f=$d/$2; p=${f%/*}; mkdir -p -- "$p" && t=$p/.hoist-tmp.$$ && cat > "$t" && mv -f -- "$t" "$f""#
        );
        let cmd = self.conn.script(&script, &[self.dir.as_str(), name])?.stdin(bytes.to_vec());
        self.conn.exec(&cmd).map(|_| ())
    }
}

/// A held deploy lock on a host; released (and its heartbeat stopped) on drop.
#[derive(Debug)]
pub struct HostLock {
    state: Arc<HostState>,
    run_id: String,
    stop: Arc<AtomicBool>,
    beat: Option<std::thread::JoinHandle<()>>,
    /// The stale lock this run removed (`--break-lock`), for the user.
    pub broken: Option<String>,
}

fn run_id() -> String {
    let mut h = Sha256::new();
    h.update(std::process::id().to_le_bytes());
    h.update(format!("{:?}", std::time::SystemTime::now()).as_bytes());
    h.update(crate::lock::hostname().as_bytes());
    hex16(&h.finalize())
}

fn hex16(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

const TAKE: &str = r#"mkdir -p -- "$d" || exit 3
l=$d/lock
if mkdir -- "$l" 2>/dev/null; then
  cat > "$l/owner.tmp" && mv -f -- "$l/owner.tmp" "$l/owner" && : > "$l/heartbeat" && echo taken
  exit 0
fi
now=$(date +%s)
hb=$(stat -c %Y -- "$l/heartbeat" 2>/dev/null || stat -c %Y -- "$l" 2>/dev/null || echo 0)
echo "held $((now - hb))"
cat -- "$l/owner" 2>/dev/null | head -c 4096
exit 0"#;

/// Move the lock aside only if it is still the stale holder's (run id `$2`), and only if
/// its heartbeat is still stale (`$3` seconds): a breaker never removes a live lock.
const BREAK: &str = r#"l=$d/lock
grep -qF -- "run_id=$2" "$l/owner" 2>/dev/null || exit 4
now=$(date +%s); hb=$(stat -c %Y -- "$l/heartbeat" 2>/dev/null || echo 0)
[ $((now - hb)) -ge "$3" ] || exit 4
a=$d/lock.broken.$$
mv -- "$l" "$a" || exit 4
rm -rf -- "$a"
echo broken"#;

const BEAT: &str = r#"l=$d/lock; grep -qF -- "run_id=$2" "$l/owner" 2>/dev/null && touch -- "$l/heartbeat""#;

const RELEASE: &str = r#"l=$d/lock; if grep -qF -- "run_id=$2" "$l/owner" 2>/dev/null; then a=$d/lock.done.$$; mv -- "$l" "$a" && rm -rf -- "$a"; fi"#;

impl HostLock {
    pub fn acquire(
        state: Arc<HostState>,
        what: &str,
        break_stale: bool,
        say: &dyn Fn(&str),
    ) -> Result<HostLock, RemoteError> {
        let id = run_id();
        let owner = crate::lock::Owner::me(what);
        // Plain `key=value` lines: read back with grep and shown as they are.
        let record = format!(
            "run_id={id}\nby={}@{} (pid {})\nwhat={}\nsince={}\n",
            owner.user,
            owner.host,
            owner.pid,
            what.replace('\n', " "),
            owner.since.to_rfc3339()
        );
        let mut broken = None;
        for _ in 0..2 {
            let script = format!("{PRELUDE}{TAKE}");
            let cmd = state.conn.script(&script, &[state.dir.as_str()])?.stdin(record.clone().into_bytes());
            let out = state.conn.exec(&cmd)?.stdout;
            let (first, rest) = out.split_once('\n').unwrap_or((out.as_str(), ""));
            if first.trim() == "taken" {
                let stop = Arc::new(AtomicBool::new(false));
                let beat = Some(heartbeat(state.clone(), id.clone(), stop.clone()));
                return Ok(HostLock { state, run_id: id, stop, beat, broken });
            }
            let age: u64 = first.strip_prefix("held ").and_then(|a| a.trim().parse().ok()).unwrap_or(0);
            let field =
                |k: &str| rest.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or("?").to_string();
            let holder =
                format!("{} since {}: {} (run {})", field("by"), field("since"), field("what"), field("run_id"));
            let stale = age >= STALE_SECS;
            let locked = RemoteError::Locked {
                host: state.conn.url.to_string(),
                path: format!("{}/lock", state.dir),
                holder: holder.clone(),
                age,
                stale,
            };
            if !stale || !break_stale || broken.is_some() {
                return Err(locked);
            }
            let script = format!("{PRELUDE}{BREAK}");
            let stale_secs = STALE_SECS.to_string();
            let cmd = state.conn.script(&script, &[state.dir.as_str(), &field("run_id"), &stale_secs])?;
            let out = cmd.output().map_err(|e| RemoteError::Ssh { host: state.conn.url.to_string(), source: e })?;
            if !out.stdout.contains("broken") {
                return Err(locked);
            }
            say(&format!("removed a stale deploy lock on {}: {holder}", state.conn.url));
            broken = Some(holder);
        }
        unreachable!("the loop returns")
    }
}

fn heartbeat(state: Arc<HostState>, id: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let script = format!("{PRELUDE}{BEAT}");
        while !stop.load(Ordering::SeqCst) {
            for _ in 0..HEARTBEAT_SECS * 10 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // A missed beat (a slow link) is retried on the next round; only a run cut off
            // for STALE_SECS looks dead.
            if let Ok(cmd) = state.conn.script(&script, &[state.dir.as_str(), &id]) {
                let _ = cmd.output();
            }
        }
    })
}

impl Drop for HostLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(b) = self.beat.take() {
            let _ = b.join();
        }
        let script = format!("{PRELUDE}{RELEASE}");
        if let Ok(cmd) = self.state.conn.script(&script, &[self.state.dir.as_str(), &self.run_id]) {
            let _ = cmd.output();
        }
    }
}
