//! The health gate: every recreated container must become healthy before the deploy counts.
//!
//! Healthy means the compose healthcheck says `healthy`; a service without one must be
//! running and pass its `hoist.toml` probe (HTTP 2xx or a TCP connect). One with neither
//! has no health signal: it must stay running, same process, no restart, for the settle
//! time (a JVM that dies four seconds in is running at the first look). A container that
//! exits, restarts or turns `unhealthy` fails at once instead of running out the clock.
//!
//! The HTTP probe is a hand-written `GET` that reads one status line: it talks to a
//! loopback port with a short timeout, and a full client (TLS, redirects, pools) would be
//! weight without use.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::engine::{ContainerInfo, Docker};

/// A `[deploy.compose.probes.<service>]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    /// `http://host:port/path` must answer 2xx.
    Http(String),
    /// `host:port` must accept a connection.
    Tcp(String),
}

/// Why a service did not become healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhealthy {
    pub service: String,
    pub container: String,
    pub reason: String,
}

/// What one look at a container says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Waiting(String),
    Failed(String),
}

/// Judge one container from its inspect data (pure, apart from the probe callback).
pub fn judge(
    c: &ContainerInfo,
    probe: Option<&ProbeSpec>,
    run_probe: impl Fn(&ProbeSpec) -> Result<(), String>,
) -> Verdict {
    let s = &c.state;
    if s.restarting {
        return Verdict::Failed(format!("keeps restarting (last exit code {})", s.exit_code));
    }
    if !s.running {
        return match s.status.as_str() {
            "created" => Verdict::Waiting("created, not started yet".into()),
            status => Verdict::Failed(format!("is {status} (exit code {})", s.exit_code)),
        };
    }
    if let Some(h) = &s.health {
        return match h.status.as_str() {
            "healthy" => Verdict::Healthy,
            "unhealthy" => {
                let last =
                    h.log.as_ref().and_then(|l| l.last()).map(|l| l.output.trim().to_string()).unwrap_or_default();
                if last.is_empty() {
                    Verdict::Failed("is unhealthy (its healthcheck fails)".into())
                } else {
                    Verdict::Failed(format!("is unhealthy (healthcheck: {last})"))
                }
            }
            other => Verdict::Waiting(format!("health {other}")),
        };
    }
    match probe {
        Some(p) => match run_probe(p) {
            Ok(()) => Verdict::Healthy,
            Err(e) => Verdict::Waiting(format!("probe: {e}")),
        },
        None => Verdict::Healthy,
    }
}

/// Whether hoist has anything but "it runs" to judge a container by.
pub fn has_signal(c: &ContainerInfo, probe: Option<&ProbeSpec>) -> bool {
    c.state.health.is_some() || probe.is_some()
}

/// How long to wait, and how long a service without a health signal must stay up.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    pub timeout: Duration,
    pub settle: Duration,
}

/// Wait until every container in `containers` (service → container ID) is healthy, or
/// one fails, or the timeout passes. Returns, per service, how long it took from the start
/// of the wait until it was seen healthy (to the poll interval).
pub fn wait(
    docker: &Docker,
    containers: &BTreeMap<String, String>,
    probes: &BTreeMap<String, ProbeSpec>,
    gate: Gate,
) -> Result<BTreeMap<String, Duration>, Unhealthy> {
    let inspect = |ids: &[&str]| docker.inspect_containers(ids).unwrap_or_default();
    wait_with(inspect, run_probe, containers, probes, gate, POLL)
}

/// How often [`wait`] looks again.
const POLL: Duration = Duration::from_millis(250);

/// [`wait`] with the engine and the probe passed in, so the loop runs without either.
fn wait_with(
    inspect: impl Fn(&[&str]) -> Vec<ContainerInfo>,
    probe: impl Fn(&ProbeSpec) -> Result<(), String>,
    containers: &BTreeMap<String, String>,
    probes: &BTreeMap<String, ProbeSpec>,
    gate: Gate,
    poll: Duration,
) -> Result<BTreeMap<String, Duration>, Unhealthy> {
    let Gate { timeout, settle } = gate;
    let start = Instant::now();
    let deadline = start + timeout;
    // Per service without a health signal: the process first seen running, and when.
    let mut steady: BTreeMap<String, ((String, i64), Duration)> = BTreeMap::new();
    let mut pending: BTreeMap<String, (String, String)> =
        containers.iter().map(|(s, id)| (s.clone(), (id.clone(), "not inspected yet".to_string()))).collect();
    let mut took = BTreeMap::new();
    loop {
        let ids: Vec<&str> = pending.values().map(|(id, _)| id.as_str()).collect();
        let infos = inspect(&ids);
        let mut done = Vec::new();
        for (service, (id, last)) in pending.iter_mut() {
            let Some(info) = infos.iter().find(|c| &c.id == id) else {
                return Err(Unhealthy {
                    service: service.clone(),
                    container: id.clone(),
                    reason: "was removed".into(),
                });
            };
            match judge(info, probes.get(service), &probe) {
                Verdict::Healthy if !has_signal(info, probes.get(service)) => {
                    let seen = (info.state.started_at.clone(), info.restart_count);
                    let now = start.elapsed();
                    let (first, since) = steady.entry(service.clone()).or_insert((seen.clone(), now)).clone();
                    if first != seen {
                        let reason = format!(
                            "restarted within its {}s settle time (restart count {} -> {}); it has no healthcheck \
                             or probe, so staying up is all hoist can judge it by",
                            settle.as_secs(),
                            first.1,
                            seen.1
                        );
                        return Err(Unhealthy { service: service.clone(), container: id.clone(), reason });
                    }
                    if now - since >= settle {
                        done.push(service.clone());
                    } else {
                        *last =
                            format!("up {:.0}s of its {}s settle time", (now - since).as_secs_f64(), settle.as_secs());
                    }
                }
                Verdict::Healthy => done.push(service.clone()),
                Verdict::Waiting(why) => *last = why,
                Verdict::Failed(reason) => {
                    return Err(Unhealthy { service: service.clone(), container: id.clone(), reason });
                }
            }
        }
        let now = start.elapsed();
        for s in done {
            pending.remove(&s);
            took.insert(s, now);
        }
        if pending.is_empty() {
            return Ok(took);
        }
        if Instant::now() >= deadline {
            let (service, (id, last)) = pending.into_iter().next().expect("not empty");
            return Err(Unhealthy {
                service,
                container: id,
                reason: format!("did not become healthy within {}s (last: {last})", timeout.as_secs()),
            });
        }
        std::thread::sleep(poll);
    }
}

/// Run a probe once.
pub fn run_probe(probe: &ProbeSpec) -> Result<(), String> {
    match probe {
        ProbeSpec::Tcp(addr) => connect(addr).map(|_| ()),
        ProbeSpec::Http(url) => {
            let (host, path) = split_http_url(url)?;
            let mut stream = connect(&host)?;
            let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).map_err(|e| format!("{url}: {e}"))?;
            let mut buf = [0u8; 64];
            let n = stream.read(&mut buf).map_err(|e| format!("{url}: {e}"))?;
            let line = String::from_utf8_lossy(&buf[..n]);
            let code = line.split_whitespace().nth(1).unwrap_or("");
            if code.starts_with('2') && code.len() == 3 {
                Ok(())
            } else {
                Err(format!("{url} answered {}", line.lines().next().unwrap_or("nothing")))
            }
        }
    }
}

fn connect(addr: &str) -> Result<TcpStream, String> {
    let sock =
        addr.to_socket_addrs().map_err(|e| format!("{addr}: {e}"))?.next().ok_or(format!("{addr}: no address"))?;
    let stream = TcpStream::connect_timeout(&sock, Duration::from_secs(2)).map_err(|e| format!("{addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    Ok(stream)
}

/// `http://host:port/path` → (`host:port`, `/path`). Only plain HTTP: probes hit loopback.
pub fn split_http_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("`{url}`: probes must be http:// URLs"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() || path.contains(['\r', '\n', ' ']) {
        return Err(format!("`{url}` is not a valid probe URL"));
    }
    let host = if host.contains(':') { host.to_string() } else { format!("{host}:80") };
    Ok((host, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ContainerConfig, Health, HealthLog, State};

    fn container(status: &str, running: bool, restarting: bool, health: Option<&str>) -> ContainerInfo {
        ContainerInfo {
            id: "c1".into(),
            image: "sha256:x".into(),
            name: "/p-s-1".into(),
            restart_count: 0,
            state: State {
                status: status.into(),
                running,
                restarting,
                exit_code: if running { 0 } else { 3 },
                started_at: "2026-01-01T00:00:00Z".into(),
                health: health.map(|h| Health {
                    status: h.into(),
                    failing_streak: 0,
                    log: Some(vec![HealthLog { exit_code: 1, output: "HTTP 500\n".into() }]),
                }),
            },
            config: ContainerConfig { labels: None },
        }
    }

    #[test]
    fn verdicts() {
        let ok = |_: &ProbeSpec| Ok(());
        let no = |_: &ProbeSpec| Err("refused".to_string());
        let probe = ProbeSpec::Tcp("127.0.0.1:1".into());
        let cases: Vec<(ContainerInfo, Option<&ProbeSpec>, bool, &str)> = vec![
            (container("running", true, false, Some("healthy")), None, true, "healthy"),
            (container("running", true, false, Some("starting")), None, true, "waiting"),
            (container("running", true, false, Some("unhealthy")), None, true, "failed"),
            (container("exited", false, false, None), None, true, "failed"),
            (container("restarting", true, true, None), None, true, "failed"),
            (container("created", false, false, None), None, true, "waiting"),
            (container("running", true, false, None), None, true, "healthy"),
            (container("running", true, false, None), Some(&probe), true, "healthy"),
            (container("running", true, false, None), Some(&probe), false, "waiting"),
        ];
        for (i, (c, p, probe_ok, want)) in cases.into_iter().enumerate() {
            let v = if probe_ok { judge(&c, p, ok) } else { judge(&c, p, no) };
            let got = match &v {
                Verdict::Healthy => "healthy",
                Verdict::Waiting(_) => "waiting",
                Verdict::Failed(_) => "failed",
            };
            assert_eq!(got, want, "case {i}: {v:?}");
        }
        let v = judge(&container("running", true, false, Some("unhealthy")), None, ok);
        assert_eq!(v, Verdict::Failed("is unhealthy (healthcheck: HTTP 500)".into()));
    }

    #[test]
    fn wait_reports_when_each_service_became_healthy() {
        let poll = Duration::from_millis(20);
        let looks = std::cell::Cell::new(0);
        // `fast` is healthy at the first look, `slow` only from the third.
        let inspect = |ids: &[&str]| {
            looks.set(looks.get() + 1);
            let slow = if looks.get() >= 3 { "healthy" } else { "starting" };
            let all = [("c-fast", "healthy"), ("c-slow", slow)];
            all.iter()
                .filter(|(id, _)| ids.contains(id))
                .map(|(id, h)| ContainerInfo { id: id.to_string(), ..container("running", true, false, Some(h)) })
                .collect()
        };
        let gate: BTreeMap<String, String> =
            [("fast", "c-fast"), ("slow", "c-slow")].iter().map(|(s, c)| (s.to_string(), c.to_string())).collect();
        let never = |_: &ProbeSpec| Err("not asked".to_string());
        let took = wait_with(inspect, never, &gate, &BTreeMap::new(), gate_of(5000, 0), poll).unwrap();
        assert_eq!(took.keys().collect::<Vec<_>>(), ["fast", "slow"]);
        assert!(took["slow"] >= 2 * poll, "two polls passed before `slow` was healthy: {took:?}");
        assert!(took["fast"] < took["slow"], "each service has its own time: {took:?}");
        assert_eq!(looks.get(), 3);

        // A service still starting at the deadline fails with its last state.
        let starting = |ids: &[&str]| {
            ids.iter()
                .map(|id| ContainerInfo { id: id.to_string(), ..container("running", true, false, Some("starting")) })
                .collect()
        };
        let err = wait_with(starting, never, &gate, &BTreeMap::new(), gate_of(50, 0), poll).unwrap_err();
        assert!(
            err.reason.contains("did not become healthy within") && err.reason.contains("health starting"),
            "{err:?}"
        );
    }

    fn gate_of(timeout_ms: u64, settle_ms: u64) -> Gate {
        Gate { timeout: Duration::from_millis(timeout_ms), settle: Duration::from_millis(settle_ms) }
    }

    #[test]
    fn a_service_without_health_signal_must_stay_up_for_the_settle_time() {
        let poll = Duration::from_millis(10);
        let gate: BTreeMap<String, String> = [("app".to_string(), "c1".to_string())].into();
        let never = |_: &ProbeSpec| Err("not asked".to_string());
        // Steady: healthy only once the settle time has passed, not at the first look.
        let steady = |ids: &[&str]| ids.iter().map(|_| container("running", true, false, None)).collect();
        let took = wait_with(steady, never, &gate, &BTreeMap::new(), gate_of(5000, 100), poll).unwrap();
        assert!(took["app"] >= Duration::from_millis(100), "{took:?}");

        // Restarted by its policy between two looks (running at both): a failed gate.
        let looks = std::cell::Cell::new(0);
        let restarts = |ids: &[&str]| {
            looks.set(looks.get() + 1);
            ids.iter()
                .map(|_| {
                    let mut c = container("running", true, false, None);
                    if looks.get() >= 3 {
                        c.restart_count = 1;
                        c.state.started_at = "2026-01-01T00:00:04Z".into();
                    }
                    c
                })
                .collect()
        };
        let err = wait_with(restarts, never, &gate, &BTreeMap::new(), gate_of(5000, 1000), poll).unwrap_err();
        assert!(err.reason.contains("restarted within its 1s settle time (restart count 0 -> 1)"), "{err:?}");

        // Exited (no restart policy): fails at once, long before the settle time is up.
        let exits = |ids: &[&str]| {
            looks.set(looks.get() + 1);
            let up = looks.get() < 6;
            ids.iter().map(|_| container(if up { "running" } else { "exited" }, up, false, None)).collect()
        };
        let err = wait_with(exits, never, &gate, &BTreeMap::new(), gate_of(5000, 1000), poll).unwrap_err();
        assert!(err.reason.contains("is exited (exit code 3)"), "{err:?}");

        // A probe is a health signal: no settle wait.
        let probes: BTreeMap<String, ProbeSpec> = [("app".to_string(), ProbeSpec::Tcp("x:1".into()))].into();
        let ok = |_: &ProbeSpec| Ok(());
        let took = wait_with(steady, ok, &gate, &probes, gate_of(5000, 60_000), poll).unwrap();
        assert!(took["app"] < Duration::from_secs(1), "{took:?}");
        // Too long a settle time for the timeout: the deadline says so.
        let err = wait_with(steady, never, &gate, &BTreeMap::new(), gate_of(50, 60_000), poll).unwrap_err();
        assert!(err.reason.contains("settle time"), "{err:?}");
    }

    #[test]
    fn probe_urls() {
        assert_eq!(
            split_http_url("http://127.0.0.1:18081/health").unwrap(),
            ("127.0.0.1:18081".into(), "/health".into())
        );
        assert_eq!(split_http_url("http://localhost").unwrap(), ("localhost:80".into(), "/".into()));
        assert!(split_http_url("https://x/").is_err());
        assert!(split_http_url("http://x/a b").is_err());
    }

    #[test]
    fn probes_against_a_real_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            for answer in ["HTTP/1.0 200 OK\r\n\r\nok", "HTTP/1.0 500 Oops\r\n\r\n"] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).unwrap();
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        run_probe(&ProbeSpec::Http(format!("http://{addr}/health"))).unwrap();
        let err = run_probe(&ProbeSpec::Http(format!("http://{addr}/health"))).unwrap_err();
        assert!(err.contains("500"), "{err}");
        server.join().unwrap();
        assert!(run_probe(&ProbeSpec::Tcp(addr)).is_err(), "the listener is closed now");
    }
}
