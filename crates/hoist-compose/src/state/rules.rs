//! The rules that read a deploy history: what runs now, what to roll back to, which
//! releases prune keeps, which records a bounded history must never drop, and which
//! `in_progress` records are leftovers of a killed run.
//!
//! The rules run on a [`Skeleton`] of the history (per record: action, result, release,
//! restored release) and not on the records with their pins: the loader builds one for a
//! large file without holding its records, and the same code decides for a loaded history.

use std::collections::{BTreeSet, HashMap};

use super::{Action, History, Pin, Record, RunResult};
use crate::lock::{Liveness, Owner};

/// A release known to have run healthy on this host, with its pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthy {
    pub release: String,
    pub pins: Vec<Pin>,
}

impl History {
    pub fn next_id(&self) -> u64 {
        self.records.iter().map(|r| r.id).max().unwrap_or(0) + 1
    }

    fn skeleton(&self) -> Skeleton {
        let mut s = Skeleton::with_names();
        for r in &self.records {
            s.push(r);
        }
        s
    }

    fn healthy(&self, state: &State) -> Healthy {
        let r = &self.records[state.at];
        let release = if r.result == RunResult::RolledBack { r.rolled_back_to.clone() } else { None };
        Healthy {
            release: release.unwrap_or_else(|| r.release.clone()),
            pins: self.records[state.pins_from].pins.clone(),
        }
    }

    /// The sequence of states the host was healthy in, oldest first: every succeeded
    /// deploy or rollback, and every release restored after a failure.
    pub fn healthy_states(&self) -> Vec<Healthy> {
        self.skeleton().states().iter().map(|s| self.healthy(s)).collect()
    }

    /// What runs now, as far as hoist knows: the last healthy state, unless a later
    /// deploy failed without a rollback (then nothing is known to be healthy).
    pub fn current(&self) -> Option<Healthy> {
        self.skeleton().current().map(|s| self.healthy(&s))
    }

    /// The release before the current one: the latest release deployed (and healthy)
    /// before the current release was last deployed. `hoist rollback` without `--to`.
    pub fn previous(&self) -> Option<Healthy> {
        let at = self.skeleton().previous()?;
        let r = &self.records[at];
        Some(Healthy { release: r.release.clone(), pins: r.pins.clone() })
    }

    /// The latest healthy pins of `release`.
    pub fn find(&self, release: &str) -> Option<Healthy> {
        let s = self.skeleton();
        let id = s.names.id(release)?;
        s.states().iter().rev().find(|st| st.release == id).map(|st| self.healthy(st))
    }

    /// The distinct releases of the last `keep` healthy states, newest first (always
    /// including the current one).
    pub fn kept_releases(&self, keep: usize) -> Vec<String> {
        let s = self.skeleton();
        s.kept(keep).into_iter().map(|id| s.names.name(id).to_string()).collect()
    }

    /// Drop all but the records [`Skeleton::retained`] keeps for `max_records` and `keep`.
    /// Returns how many were dropped.
    pub fn prune(&mut self, max_records: usize, keep: usize) -> usize {
        let retained = self.skeleton().retained(max_records, keep);
        let before = self.records.len();
        let mut i = 0;
        self.records.retain(|_| {
            i += 1;
            retained.contains(&(i - 1))
        });
        before - self.records.len()
    }

    /// Mark `in_progress` records of runs that are over as `interrupted`, and return them.
    /// A record whose process is provably gone is over. With `locked` (the caller holds the
    /// deploy lock) so is one of another machine or an older hoist that named no process:
    /// its run would hold the lock. A record whose process still runs is left alone.
    pub fn mark_interrupted(&mut self, locked: bool) -> Vec<&Record> {
        let mut marked = Vec::new();
        for (i, r) in self.records.iter_mut().enumerate() {
            if r.result != RunResult::InProgress {
                continue;
            }
            let over = match r.owner.as_ref().map(Owner::liveness) {
                Some(Liveness::Dead) => true,
                Some(Liveness::Alive) => false,
                Some(Liveness::Unknown) | None => locked,
            };
            if over {
                r.result = RunResult::Interrupted;
                if r.message.is_none() {
                    r.message = Some(match &r.owner {
                        Some(o) => format!("hoist (pid {} on {}) stopped before it finished", o.pid, o.host),
                        None => "the run stopped before it finished".into(),
                    });
                }
                marked.push(i);
            }
        }
        marked.iter().map(|&i| &self.records[i]).collect()
    }
}

/// Releases as small numbers (the same release appears in many records). Keyed by a
/// digest of the name, so a skeleton of a large file holds 16 bytes per release, not the
/// names; the names themselves are kept only for a loaded history, which needs them back.
#[derive(Debug, Default)]
pub(crate) struct Names {
    ids: HashMap<[u8; 16], u32>,
    names: Option<Vec<String>>,
}

impl Names {
    fn key(name: &str) -> [u8; 16] {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(name.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&d[..16]);
        key
    }

    fn intern(&mut self, name: &str) -> u32 {
        let next = u32::try_from(self.ids.len()).expect("fewer than 4 billion releases");
        let id = *self.ids.entry(Names::key(name)).or_insert(next);
        if id == next
            && let Some(names) = &mut self.names
        {
            names.push(name.to_string());
        }
        id
    }

    fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(&Names::key(name)).copied()
    }

    fn name(&self, id: u32) -> &str {
        self.names.as_ref().map(|n| n[id as usize].as_str()).unwrap_or_default()
    }
}

/// What the rules read of one record.
#[derive(Debug, Clone, Copy)]
struct Entry {
    action: Action,
    result: RunResult,
    release: u32,
    rolled_back_to: Option<u32>,
}

/// The shape of a history: per record only what the rules read.
#[derive(Debug, Default)]
pub(crate) struct Skeleton {
    entries: Vec<Entry>,
    names: Names,
}

/// A healthy state: the record that made it, and the record whose pins ran in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    at: usize,
    pins_from: usize,
    release: u32,
}

/// What [`Skeleton::previous`] looks at: the last deploy of the current release (if any)
/// and the deploy of another release found before it (if any).
#[derive(Debug, Clone, Copy)]
struct Previous {
    end: Option<usize>,
    found: Option<usize>,
}

impl Skeleton {
    /// A skeleton that can give release names back.
    fn with_names() -> Skeleton {
        Skeleton { entries: Vec::new(), names: Names { ids: HashMap::new(), names: Some(Vec::new()) } }
    }

    /// A skeleton that only tells releases apart (for a file being read).
    pub(crate) fn without_names() -> Skeleton {
        Skeleton::default()
    }

    pub(crate) fn push(&mut self, r: &Record) {
        self.push_parts(r.action, r.result, &r.release, r.rolled_back_to.as_deref());
    }

    pub(crate) fn push_parts(
        &mut self,
        action: Action,
        result: RunResult,
        release: &str,
        rolled_back_to: Option<&str>,
    ) {
        let entry = Entry {
            action,
            result,
            release: self.names.intern(release),
            rolled_back_to: rolled_back_to.map(|t| self.names.intern(t)),
        };
        self.entries.push(entry);
    }

    fn states(&self) -> Vec<State> {
        let mut out = Vec::new();
        // The latest succeeded record per release so far: a restored release ran its pins.
        let mut last_ok: HashMap<u32, usize> = HashMap::new();
        for (i, e) in self.entries.iter().enumerate() {
            match e.result {
                RunResult::Succeeded => {
                    out.push(State { at: i, pins_from: i, release: e.release });
                    last_ok.insert(e.release, i);
                }
                RunResult::RolledBack => {
                    if let Some(to) = e.rolled_back_to
                        && let Some(&from) = last_ok.get(&to)
                    {
                        out.push(State { at: i, pins_from: from, release: to });
                    }
                }
                RunResult::InProgress | RunResult::Failed | RunResult::Interrupted => {}
            }
        }
        out
    }

    fn last_settled(&self) -> Option<usize> {
        self.entries.iter().rposition(|e| e.result.settled())
    }

    fn current_of(&self, states: &[State]) -> Option<State> {
        let last = self.last_settled()?;
        if self.entries[last].result == RunResult::Failed {
            return None;
        }
        states.last().copied()
    }

    fn current(&self) -> Option<State> {
        self.current_of(&self.states())
    }

    fn previous_of(&self, states: &[State]) -> Previous {
        let Some(current) = self.current_of(states).or_else(|| states.last().copied()) else {
            return Previous { end: None, found: None };
        };
        let deploys: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].action == Action::Deploy && self.entries[i].result == RunResult::Succeeded)
            .collect();
        let end = deploys.iter().rposition(|&i| self.entries[i].release == current.release);
        let found = deploys[..end.unwrap_or(deploys.len())]
            .iter()
            .rev()
            .find(|&&i| self.entries[i].release != current.release)
            .copied();
        Previous { end: end.map(|e| deploys[e]), found }
    }

    fn previous(&self) -> Option<usize> {
        self.previous_of(&self.states()).found
    }

    fn kept_of(&self, states: &[State], keep: usize) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        if let Some(c) = self.current_of(states) {
            out.push(c.release);
        }
        for s in states.iter().rev() {
            if out.len() >= keep.max(1) {
                break;
            }
            if !out.contains(&s.release) {
                out.push(s.release);
            }
        }
        out
    }

    fn kept(&self, keep: usize) -> Vec<u32> {
        self.kept_of(&self.states(), keep)
    }

    /// The records a history bounded to `max_records` keeps: the last `max_records`, plus
    /// every record the rules need to give the same answers as the whole history: the last
    /// settled record (it decides whether anything is known healthy), for the current,
    /// previous and kept releases their latest healthy state and the record whose pins it
    /// ran, the two deploys `previous` is decided by, and for each kept "rolled back"
    /// record the record of the pins it restored. So `current`, `previous`, `kept_releases`
    /// and `find` of those releases are unchanged, and prune still knows their images.
    pub(crate) fn retained(&self, max_records: usize, keep: usize) -> BTreeSet<usize> {
        let n = self.entries.len();
        let mut out: BTreeSet<usize> = (n.saturating_sub(max_records)..n).collect();
        out.extend(self.last_settled());
        let states = self.states();
        let mut releases: BTreeSet<u32> = self.kept_of(&states, keep).into_iter().collect();
        let previous = self.previous_of(&states);
        out.extend(previous.end);
        if let Some(found) = previous.found {
            out.insert(found);
            releases.insert(self.entries[found].release);
        }
        if let Some(last) = states.last() {
            out.extend([last.at, last.pins_from]);
        }
        for r in releases {
            if let Some(s) = states.iter().rev().find(|s| s.release == r) {
                out.extend([s.at, s.pins_from]);
            }
        }
        let pins_from: HashMap<usize, usize> = states.iter().map(|s| (s.at, s.pins_from)).collect();
        let restored: Vec<usize> = out.iter().filter_map(|i| pins_from.get(i).copied()).collect();
        out.extend(restored);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use serde_json::Map;

    use super::*;
    use crate::state::Acquired;

    pub(crate) fn pin(service: &str, release: &str) -> Pin {
        Pin {
            service: service.into(),
            image: format!("r/shop:{service}_{release}"),
            reference: format!("r/shop:{service}_{release}"),
            digest: None,
            image_id: format!("sha256:{service}{release}"),
            acquired: Acquired::Pulled,
            extra: Map::new(),
        }
    }

    pub(crate) fn rec(id: u64, action: Action, release: &str, result: RunResult, to: Option<&str>) -> Record {
        Record {
            id,
            action,
            release: release.into(),
            pins: vec![pin("a", release)],
            started_at: Utc::now(),
            finished_at: None,
            result,
            by: "me@here".into(),
            owner: None,
            recreated: vec![],
            rolled_back_to: to.map(String::from),
            failed_service: None,
            message: None,
            inputs: None,
            config_hashes: BTreeMap::new(),
            extra: Map::new(),
        }
    }

    fn h(records: Vec<Record>) -> History {
        History { records, ..History::default() }
    }

    #[test]
    fn current_previous_and_kept() {
        use Action::*;
        use RunResult::*;
        // (history, current, previous, kept with keep=2)
        let cases: Vec<(History, Option<&str>, Option<&str>, Vec<&str>)> = vec![
            (h(vec![]), None, None, vec![]),
            (h(vec![rec(1, Deploy, "v1", Succeeded, None)]), Some("v1"), None, vec!["v1"]),
            (
                h(vec![rec(1, Deploy, "v1", Succeeded, None), rec(2, Deploy, "v2", Succeeded, None)]),
                Some("v2"),
                Some("v1"),
                vec!["v2", "v1"],
            ),
            (
                h(vec![
                    rec(1, Deploy, "v1", Succeeded, None),
                    rec(2, Deploy, "v2", Succeeded, None),
                    rec(3, Deploy, "v3", RolledBack, Some("v2")),
                ]),
                Some("v2"),
                Some("v1"),
                vec!["v2", "v1"],
            ),
            (
                h(vec![
                    rec(1, Deploy, "v1", Succeeded, None),
                    rec(2, Deploy, "v2", Succeeded, None),
                    rec(3, Deploy, "v3", Succeeded, None),
                    rec(4, Rollback, "v2", Succeeded, None),
                ]),
                Some("v2"),
                Some("v1"),
                vec!["v2", "v3"],
            ),
            (
                h(vec![rec(1, Deploy, "v1", Succeeded, None), rec(2, Deploy, "v2", Failed, None)]),
                None,
                None,
                vec!["v1"],
            ),
            (
                h(vec![rec(1, Deploy, "v1", Succeeded, None), rec(2, Deploy, "v2", InProgress, None)]),
                Some("v1"),
                None,
                vec!["v1"],
            ),
            // An interrupted run is not a failure: what ran before is still what hoist
            // restores when the next deploy fails.
            (
                h(vec![
                    rec(1, Deploy, "v1", Succeeded, None),
                    rec(2, Deploy, "v2", Succeeded, None),
                    rec(3, Deploy, "v3", Interrupted, None),
                ]),
                Some("v2"),
                Some("v1"),
                vec!["v2", "v1"],
            ),
        ];
        for (i, (hist, current, previous, kept)) in cases.into_iter().enumerate() {
            assert_eq!(hist.current().map(|c| c.release).as_deref(), current, "case {i} current");
            assert_eq!(hist.previous().map(|c| c.release).as_deref(), previous, "case {i} previous");
            assert_eq!(hist.kept_releases(2), kept, "case {i} kept");
        }
    }

    #[test]
    fn a_restored_release_runs_the_pins_of_its_last_success() {
        use Action::*;
        use RunResult::*;
        let mut v1_again = rec(3, Rollback, "v1", Succeeded, None);
        v1_again.pins = vec![pin("a", "v1-rebuilt")];
        let hist = h(vec![
            rec(1, Deploy, "v1", Succeeded, None),
            rec(2, Deploy, "v2", Succeeded, None),
            v1_again,
            rec(4, Deploy, "v3", RolledBack, Some("v1")),
        ]);
        let current = hist.current().unwrap();
        assert_eq!(current.release, "v1");
        assert_eq!(current.pins, [pin("a", "v1-rebuilt")]);
        assert_eq!(hist.find("v2").unwrap().pins, [pin("a", "v2")]);
        assert_eq!(hist.find("v3"), None);
    }

    /// A small deterministic generator, so the pruning property runs on many shapes.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    /// Histories as hoist writes them: deploys succeed, fail, roll back to what ran,
    /// get interrupted; rollbacks go to a release that ran healthy.
    fn random_history(rng: &mut Lcg, len: usize) -> History {
        let mut hist = History::default();
        let mut next_release = 0;
        for id in 1..=len as u64 {
            let r = if rng.next(5) == 0 && !hist.healthy_states().is_empty() {
                let states = hist.healthy_states();
                let target = &states[rng.next(states.len() as u64) as usize];
                let mut r = rec(id, Action::Rollback, &target.release, RunResult::Succeeded, None);
                r.pins = target.pins.clone();
                if rng.next(4) == 0 {
                    r.result = RunResult::Failed;
                }
                r
            } else {
                // Now and then a release is deployed again.
                let release = if rng.next(6) == 0 && next_release > 0 {
                    format!("v{}", rng.next(next_release))
                } else {
                    next_release += 1;
                    format!("v{next_release}")
                };
                let mut r = rec(id, Action::Deploy, &release, RunResult::Succeeded, None);
                r.pins = vec![pin("a", &format!("{release}-{id}"))];
                match rng.next(8) {
                    0 | 1 => match hist.current() {
                        Some(c) => {
                            r.result = RunResult::RolledBack;
                            r.rolled_back_to = Some(c.release);
                        }
                        None => r.result = RunResult::Failed,
                    },
                    2 => r.result = RunResult::Failed,
                    3 => r.result = RunResult::Interrupted,
                    _ => {}
                }
                r
            };
            hist.records.push(r);
        }
        hist
    }

    #[test]
    fn pruning_keeps_what_rollback_and_prune_read() {
        let mut rng = Lcg(7);
        let mut dropped_any = 0;
        for case in 0..400 {
            let len = 1 + rng.next(60) as usize;
            let full = random_history(&mut rng, len);
            let max_records = 1 + rng.next(6) as usize;
            let keep = 1 + rng.next(4) as usize;
            let mut pruned = full.clone();
            let dropped = pruned.prune(max_records, keep);
            dropped_any += dropped;
            let ctx = format!("case {case}: {len} records, max {max_records}, keep {keep}");
            assert_eq!(pruned.records.len() + dropped, full.records.len(), "{ctx}");
            assert!(pruned.records.len() <= max_records + 2 * keep + 6, "{ctx}: {} kept", pruned.records.len());
            assert_eq!(pruned.records.last().map(|r| r.id), full.records.last().map(|r| r.id), "{ctx}");
            assert_eq!(pruned.next_id(), full.next_id(), "{ctx}");
            assert_eq!(pruned.current(), full.current(), "{ctx}: current");
            assert_eq!(pruned.previous(), full.previous(), "{ctx}: previous");
            let kept = full.kept_releases(keep);
            assert_eq!(pruned.kept_releases(keep), kept, "{ctx}: kept");
            for r in &kept {
                assert_eq!(pruned.find(r), full.find(r), "{ctx}: find {r}");
            }
            let ids: Vec<u64> = pruned.records.iter().map(|r| r.id).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ctx}: order kept");
        }
        assert!(dropped_any > 1000, "the cases prune something: {dropped_any}");
    }

    #[test]
    fn a_short_history_is_not_pruned() {
        let mut hist = random_history(&mut Lcg(3), 20);
        assert_eq!(hist.prune(20, 3), 0);
        assert_eq!(hist.records.len(), 20);
        assert!(hist.prune(5, 3) > 0);
    }

    #[test]
    fn interrupted_runs_are_marked_unless_their_process_runs() {
        use Action::*;
        use RunResult::*;
        let me = Owner::me("deploy v3");
        let dead = Owner { pid: u32::MAX - 3, ..me.clone() };
        let remote = Owner { host: "elsewhere".into(), ..me.clone() };
        let with = |id, owner: Option<&Owner>| {
            let mut r = rec(id, Deploy, "v3", InProgress, None);
            r.owner = owner.cloned();
            r
        };
        let fresh = || {
            h(vec![
                rec(1, Deploy, "v1", Succeeded, None),
                with(2, Some(&dead)),
                with(3, Some(&remote)),
                with(4, None),
                with(5, Some(&me)),
            ])
        };
        // (locked, ids marked)
        for (locked, want) in [(false, vec![2]), (true, vec![2, 3, 4])] {
            let mut hist = fresh();
            let marked: Vec<u64> = hist.mark_interrupted(locked).iter().map(|r| r.id).collect();
            assert_eq!(marked, want, "locked {locked}");
            for r in &hist.records {
                let expect = if want.contains(&r.id) {
                    Interrupted
                } else if r.id == 1 {
                    Succeeded
                } else {
                    InProgress
                };
                assert_eq!(r.result, expect, "record {} locked {locked}", r.id);
            }
            let msg = hist.records[1].message.as_deref().unwrap();
            assert!(msg.contains(&format!("pid {}", dead.pid)), "{msg}");
            assert_eq!(hist.current().unwrap().release, "v1");
        }
    }
}
