//! Test hosts: each a network namespace with its own address, its own Docker Engine and
//! its own sshd, so remote deploys run against real machines on this one.
//!
//! The tests own 10.231.0.0/16 and nothing else: host slot N is the veth pair
//! `hsN`(main side, 10.231.N.1) / `hsNp` (in netns `hoist-hN`, 10.231.N.2), with a default
//! route via 10.231.N.1; the tests' registry listens on [`GATEWAY`] (10.231.1.1 on the main
//! namespace's loopback), which every host reaches through its own veth. A slot is taken by
//! `mkdir` of its directory (atomic, so parallel tests never collide) and names the test
//! process that holds it; a slot whose holder is gone (a killed run) is swept before reuse.
//!
//! dockerd runs under `nsenter --net=…` (not `ip netns exec`, which remounts /sys and hides
//! the cgroup mounts) with its own data-root, exec-root, pid file, socket and containerd
//! namespace; sshd runs in the foreground in the namespace with a host key of its own and
//! one authorized client key. OpenSSH reads `~/.ssh` from the passwd entry, not `$HOME`, so
//! the client side is a tiny `ssh` wrapper ([`TestHost::path_dir`], first on PATH) that adds
//! `-F` with the client key. Its config pins no host key: known_hosts comes from the tool
//! under test ([`TestHost::known_hosts`] is the pinned entry).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hoist_cmd::Cmd;

use crate::registry::Registry;

/// The address the tests' registry listens on; every test host routes to it.
pub const GATEWAY: &str = "10.231.1.1";
/// The range the tests own (hosts' engines treat it as plain-HTTP registries).
pub const RANGE: &str = "10.231.0.0/16";

const SLOTS_DIR: &str = "/tmp/hoist-testhosts";
const FIRST_SLOT: u32 = 2;
const LAST_SLOT: u32 = 250;

fn sh(program: &str, args: &[&str]) -> Result<String, String> {
    Cmd::new(program).args(args).read().map_err(|e| e.to_string())
}

fn must(program: &str, args: &[&str]) -> String {
    sh(program, args).unwrap_or_else(|e| panic!("{e}"))
}

/// A registry the test hosts can pull from (on [`GATEWAY`]).
pub fn gateway_registry() -> Registry {
    ensure_gateway();
    Registry::start_on(GATEWAY)
}

/// 10.231.1.1/32 on the main namespace's loopback (once; idempotent).
fn ensure_gateway() {
    let have = must("ip", &["-4", "-o", "addr", "show", "dev", "lo"]);
    if !have.contains(&format!(" {GATEWAY}/")) {
        // Another test may add it meanwhile: "File exists" is success.
        if let Err(e) = sh("ip", &["addr", "add", &format!("{GATEWAY}/32"), "dev", "lo"])
            && !e.contains("File exists")
        {
            panic!("{e}");
        }
    }
}

/// One test host: netns + veth + dockerd + sshd, and the client files that reach it.
pub struct TestHost {
    slot: u32,
    dir: PathBuf,
    dockerd: Option<Child>,
    sshd: Option<Child>,
}

impl std::fmt::Debug for TestHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHost").field("ip", &self.ip()).finish()
    }
}

fn netns(slot: u32) -> String {
    format!("hoist-h{slot}")
}

fn veth(slot: u32) -> String {
    format!("hs{slot}")
}

fn slot_dir(slot: u32) -> PathBuf {
    Path::new(SLOTS_DIR).join(format!("slot-{slot}"))
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Stop whatever a slot's run left: its daemons, mounts, link, namespace and files.
fn sweep(slot: u32) {
    let dir = slot_dir(slot);
    for pidfile in ["sshd.pid", "docker.pid"] {
        if let Some(pid) = read_pid(&dir.join(pidfile)) {
            let _ = Cmd::new("kill").arg(pid.to_string()).output();
            let start = Instant::now();
            while alive(pid) && start.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(100));
            }
            if alive(pid) {
                let _ = Cmd::new("kill").args(["-9", &pid.to_string()]).output();
            }
        }
    }
    unmount_under(&dir);
    let _ = Cmd::new("ip").args(["link", "del", &veth(slot)]).output();
    let _ = Cmd::new("ip").args(["netns", "del", &netns(slot)]).output();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Lazily unmount what the host's engine left mounted under `dir` (overlay mounts).
fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<&str> =
        mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|m| m.starts_with(&prefix)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Cmd::new("umount").args(["-l", p]).output();
    }
}

/// Take a free slot (`mkdir` is the atomic claim), sweeping slots of dead runs.
fn claim_slot() -> u32 {
    std::fs::create_dir_all(SLOTS_DIR).unwrap();
    let me = std::process::id();
    let span = LAST_SLOT - FIRST_SLOT + 1;
    let start = me % span;
    for attempt in 0..2 {
        for i in 0..span {
            let slot = FIRST_SLOT + (start + i) % span;
            let dir = slot_dir(slot);
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    std::fs::write(dir.join("owner"), me.to_string()).unwrap();
                    // A killed run may have left the link or namespace without its directory.
                    let _ = Cmd::new("ip").args(["link", "del", &veth(slot)]).output();
                    let _ = Cmd::new("ip").args(["netns", "del", &netns(slot)]).output();
                    return slot;
                }
                Err(_) if attempt == 0 => {
                    // Held by a live test process, or being set up (no owner yet): skip.
                    match read_pid(&dir.join("owner")) {
                        Some(pid) if !alive(pid) => sweep(slot),
                        _ => continue,
                    }
                }
                Err(_) => continue,
            }
        }
    }
    panic!("no free test host slot in {SLOTS_DIR}");
}

impl TestHost {
    /// Start a host: namespace, link, engine and sshd, all up and answering.
    pub fn start() -> TestHost {
        ensure_gateway();
        let slot = claim_slot();
        let dir = slot_dir(slot);
        let mut host = TestHost { slot, dir, dockerd: None, sshd: None };
        host.network();
        host.keys();
        host.start_dockerd();
        host.start_sshd();
        host
    }

    /// The host's address.
    pub fn ip(&self) -> String {
        format!("10.231.{}.2", self.slot)
    }

    fn gateway_ip(&self) -> String {
        format!("10.231.{}.1", self.slot)
    }

    /// `ssh://root@IP:22`
    pub fn ssh_url(&self) -> String {
        format!("ssh://root@{}:22", self.ip())
    }

    /// The host's directory on this machine (engine data, keys, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `$HOME` of sessions on the host (sshd sets it), where `~/.hoist` lands.
    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    /// A known_hosts file with this host's current key pinned.
    pub fn known_hosts(&self) -> PathBuf {
        let path = self.dir.join("known_hosts");
        let key = std::fs::read_to_string(self.dir.join("host_key.pub")).unwrap();
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        std::fs::write(&path, format!("{} {}\n", self.ip(), key.join(" "))).unwrap();
        path
    }

    /// A directory to put first on PATH: its `ssh` adds `-F` with the client key.
    pub fn path_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// PATH with [`TestHost::path_dir`] first.
    pub fn path_env(&self) -> String {
        format!("{}:{}", self.path_dir().display(), std::env::var("PATH").unwrap_or_default())
    }

    /// The host engine's socket (`unix://…`).
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    fn network(&self) {
        let ns = netns(self.slot);
        let main = veth(self.slot);
        let peer = format!("{main}p");
        must("ip", &["netns", "add", &ns]);
        must("ip", &["link", "add", &main, "type", "veth", "peer", "name", &peer]);
        must("ip", &["link", "set", &peer, "netns", &ns]);
        must("ip", &["addr", "add", &format!("{}/24", self.gateway_ip()), "dev", &main]);
        must("ip", &["link", "set", &main, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &ns, "ip"];
            all.extend_from_slice(args);
            must("ip", &all);
        };
        inside(&["addr", "add", &format!("{}/24", self.ip()), "dev", &peer]);
        inside(&["link", "set", &peer, "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "via", &self.gateway_ip()]);
    }

    fn keys(&self) {
        let d = &self.dir;
        std::fs::create_dir_all(d.join("home")).unwrap();
        std::fs::create_dir_all(d.join("bin")).unwrap();
        for key in ["host_key", "client_key"] {
            must(
                "ssh-keygen",
                &["-q", "-t", "ed25519", "-N", "", "-C", "hoist-test", "-f", &d.join(key).to_string_lossy()],
            );
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let config = format!(
            "Host *\n  User root\n  IdentityFile {key}\n  IdentitiesOnly yes\n  BatchMode yes\n  GlobalKnownHostsFile /dev/null\n  UserKnownHostsFile /dev/null\n  ConnectTimeout 10\n",
            key = d.join("client_key").display()
        );
        std::fs::write(d.join("ssh_config"), config).unwrap();
        let wrapper = format!("#!/bin/sh\nexec /usr/bin/ssh -F '{}' \"$@\"\n", d.join("ssh_config").display());
        let path = d.join("bin/ssh");
        std::fs::write(&path, wrapper).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn start_dockerd(&mut self) {
        let d = &self.dir;
        std::fs::write(d.join("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let ns = format!("--net=/run/netns/{}", netns(self.slot));
        let child = Command::new("nsenter")
            .arg(&ns)
            .arg("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("-H")
            .arg(self.docker_host())
            .args(["--iptables=false", "--ip6tables=false", "--storage-driver", "fuse-overlayfs"])
            .args(["--containerd-namespace", &netns(self.slot)])
            .args(["--containerd-plugins-namespace", &format!("{}p", netns(self.slot))])
            .args(["--insecure-registry", RANGE])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("nsenter dockerd");
        self.dockerd = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if self.docker_output(&["version", "--format", "{{.Server.Version}}"]).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(d.join("dockerd.log")).unwrap_or_default();
        panic!("the test host's dockerd did not start:\n{}", hoist_cmd::tail(&log, 30));
    }

    fn start_sshd(&mut self) {
        let d = &self.dir;
        std::fs::create_dir_all("/run/sshd").unwrap();
        let config = format!(
            "Port 22\nListenAddress {ip}\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nAllowTcpForwarding yes\nAllowStreamLocalForwarding yes\nMaxSessions 50\nMaxStartups 50\nSetEnv DOCKER_HOST={sock} HOME={dir}/home\n",
            ip = self.ip(),
            dir = d.display(),
            sock = self.docker_host(),
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", netns(self.slot)))
            .args(["/usr/sbin/sshd", "-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("nsenter sshd");
        self.sshd = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if TcpStream::connect_timeout(&format!("{}:22", self.ip()).parse().unwrap(), Duration::from_secs(1)).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
        panic!("the test host's sshd did not start:\n{log}");
    }

    fn stop_sshd(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A new host key (the host was reinstalled, or someone is in the middle): sshd is
    /// restarted with it. A known_hosts written before pins the old key.
    pub fn regenerate_host_key(&mut self) {
        self.stop_sshd();
        for f in ["host_key", "host_key.pub"] {
            std::fs::remove_file(self.dir.join(f)).unwrap();
        }
        let key = self.dir.join("host_key");
        must("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", "hoist-test", "-f", &key.to_string_lossy()]);
        self.start_sshd();
    }

    /// `docker ARGS` on the host's engine; panics on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        self.docker_output(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `docker ARGS` on the host's engine.
    pub fn docker_output(&self, args: &[&str]) -> Result<String, String> {
        Cmd::new("docker").arg("--host").arg(self.docker_host()).args(args).read().map_err(|e| e.to_string())
    }

    /// Copy images from this machine's engine into the host's (`docker save | docker load`).
    pub fn load_images(&self, images: &[&str]) {
        let tmp = tempfile::tempdir().unwrap();
        let tar = tmp.path().join("images.tar");
        Cmd::new("docker").args(["save", "--output"]).arg(&tar).args(images).run().unwrap();
        Cmd::new("docker")
            .arg("--host")
            .arg(self.docker_host())
            .args(["load", "--quiet", "--input"])
            .arg(&tar)
            .run()
            .unwrap();
    }

    /// Take the host's link down (it cannot be reached, nor reach the registry).
    pub fn cut(&self) {
        must("ip", &["link", "set", &veth(self.slot), "down"]);
    }

    /// Bring the link back up.
    pub fn restore(&self) {
        must("ip", &["link", "set", &veth(self.slot), "up"]);
    }

    /// `GET http://IP:PORT/PATH` from the main namespace: `Some((status, body))`.
    pub fn http_get(&self, port: u16, path: &str) -> Option<(u16, String)> {
        crate::net::http_get_at(&self.ip(), port, path)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.stop_sshd();
        // Stop the engine's containers first so dockerd shuts down quickly.
        if let Ok(ids) = self.docker_output(&["ps", "--all", "--quiet"]) {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "--force", "--volumes"];
                args.extend(ids);
                let _ = self.docker_output(&args);
            }
        }
        if let Some(mut c) = self.dockerd.take() {
            if let Some(pid) = read_pid(&self.dir.join("docker.pid")) {
                let _ = Cmd::new("kill").arg(pid.to_string()).output();
            }
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if c.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        sweep(self.slot);
    }
}
