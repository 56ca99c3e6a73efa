//! The deploy history file: read in bounded memory, written crash-safe, set aside when corrupt.
//!
//! Reading streams the file twice through `serde_json`'s reader, never holding it. The first
//! pass keeps only each record's skeleton (action, result, release, restored release: a few
//! bytes); from it the rules decide which records to keep: the latest [`HISTORY_RECORDS`]
//! and the older ones rollback and prune still need
//! ([`crate::state::Skeleton::retained`]). The second pass over the same open file parses
//! those and skips the rest. So a history that an unbounded hoist grew to 300k records
//! (1.1 GB of memory read whole) loads in the memory of about a thousand records, and the
//! next save writes it pruned. The visitor is hand-written because serde's derive cannot
//! drop records while it reads them.
//!
//! Writing goes to a temp file in the same directory, is synced, renamed over the old file
//! and the directory synced: a crash leaves the old history or the new one, never half.
//!
//! A file that does not parse is corrupt. Under the deploy lock it is set aside as
//! `<name>.corrupt-<UTC time>` and the run stops (exit 1): the next run starts a new history,
//! which cannot roll back by itself until a release succeeds in it, so the user decides.
//! A file with a newer format version is refused and left alone.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::ComposeError;
use crate::state::{Action, HISTORY_FORMAT, HISTORY_RECORDS, History, Record, RunResult, Skeleton, history_path};

/// The largest history file hoist reads. A bounded history is a few MB; this leaves room
/// for one an older, unbounded hoist grew, and stops a hostile one.
pub const HISTORY_MAX_BYTES: u64 = 1 << 30;

/// The most records hoist scans in one file (the skeleton costs a few bytes each).
pub const HISTORY_MAX_SCANNED: usize = 1_000_000;

/// What one pass over the file collects. The first pass reads each record's skeleton
/// fields only (serde skips the rest without building it); the second parses the records
/// to keep and skips the others.
struct Scan<'a> {
    /// Second pass: keep exactly these records (by position).
    pick: Option<&'a BTreeSet<usize>>,
    picked: Vec<Record>,
    skeleton: Skeleton,
    count: usize,
    version: u64,
    /// A format version this hoist does not read.
    newer: Option<u64>,
    extra: Map<String, Value>,
}

impl Scan<'_> {
    fn new(pick: Option<&BTreeSet<usize>>) -> Scan<'_> {
        Scan {
            pick,
            picked: Vec::new(),
            skeleton: Skeleton::without_names(),
            count: 0,
            version: HISTORY_FORMAT,
            newer: None,
            extra: Map::new(),
        }
    }
}

/// The fields of a record the rules read.
#[derive(serde::Deserialize)]
struct Bones {
    action: Action,
    result: RunResult,
    release: String,
    #[serde(default)]
    rolled_back_to: Option<String>,
}

struct FileSeed<'s, 'a>(&'s mut Scan<'a>);

impl<'de> DeserializeSeed<'de> for FileSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FileSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hoist deploy history (an object with `version` and `records`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut records = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "version" => {
                    let v: u64 = map.next_value()?;
                    if v > HISTORY_FORMAT {
                        self.0.newer = Some(v);
                        return Err(de::Error::custom(format!("format version {v}")));
                    }
                    if v == 0 {
                        return Err(de::Error::custom("format version 0"));
                    }
                    self.0.version = v;
                }
                "records" if records => return Err(de::Error::duplicate_field("records")),
                "records" => {
                    records = true;
                    map.next_value_seed(RecordsSeed(&mut *self.0))?;
                }
                _ if self.0.pick.is_none() => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    let value: Value = map.next_value()?;
                    self.0.extra.insert(key, value);
                }
            }
        }
        if !records {
            return Err(de::Error::missing_field("records"));
        }
        Ok(())
    }
}

struct RecordsSeed<'s, 'a>(&'s mut Scan<'a>);

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of deploy records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let scan = self.0;
        loop {
            let i = scan.count;
            if i >= HISTORY_MAX_SCANNED {
                return Err(de::Error::custom(format!(
                    "more than {HISTORY_MAX_SCANNED} records, more than any hoist writes"
                )));
            }
            match scan.pick {
                Some(pick) if !pick.contains(&i) => {
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                }
                Some(_) => match seq.next_element::<Record>()? {
                    Some(r) => scan.picked.push(r),
                    None => break,
                },
                None => {
                    let Some(b) = seq.next_element::<Bones>()? else { break };
                    if b.release.len() > MAX_RELEASE_LEN {
                        return Err(de::Error::custom(format!(
                            "record {} names a release of {} bytes (a release tag has at most {MAX_RELEASE_LEN})",
                            i + 1,
                            b.release.len()
                        )));
                    }
                    scan.skeleton.push_parts(b.action, b.result, &b.release, b.rolled_back_to.as_deref());
                }
            }
            scan.count += 1;
        }
        Ok(())
    }
}

/// Release tags are git tags that become part of OCI tags (at most 128 characters).
const MAX_RELEASE_LEN: usize = 256;

/// Why a file could not be read as a history.
enum Unreadable {
    Corrupt(String),
    Newer(u64),
    Io(std::io::Error),
}

fn pass(file: &mut File, scan: &mut Scan<'_>) -> Result<(), Unreadable> {
    file.rewind().map_err(Unreadable::Io)?;
    let reader = BufReader::with_capacity(256 * 1024, (&*file).take(HISTORY_MAX_BYTES + 1));
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = FileSeed(&mut *scan).deserialize(&mut de).and_then(|()| de.end());
    if let Some(v) = scan.newer {
        return Err(Unreadable::Newer(v));
    }
    parsed.map_err(|e| match e.classify() {
        serde_json::error::Category::Io => Unreadable::Io(e.into()),
        _ => Unreadable::Corrupt(e.to_string()),
    })
}

/// Read the history at `path`: the latest `max_records` records and the older ones the
/// rules need for `keep` releases.
fn read(path: &Path, max_records: usize, keep: usize) -> Result<Option<History>, Unreadable> {
    // Never open a FIFO or a device: the read could block or never end.
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Unreadable::Io(e)),
    };
    if !meta.is_file() {
        return Err(Unreadable::Corrupt("it is not a regular file".into()));
    }
    if meta.len() > HISTORY_MAX_BYTES {
        return Err(Unreadable::Corrupt(format!(
            "{} bytes, more than the {HISTORY_MAX_BYTES} hoist reads",
            meta.len()
        )));
    }
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Unreadable::Io(e)),
    };
    let mut bones = Scan::new(None);
    pass(&mut file, &mut bones)?;
    let retained = bones.skeleton.retained(max_records, keep);
    // The same open file again: a concurrent save renames a new file into place and
    // leaves this one as it was.
    let mut scan = Scan::new(Some(&retained));
    pass(&mut file, &mut scan)?;
    if scan.count != bones.count || scan.picked.len() != retained.len() {
        return Err(Unreadable::Corrupt("the file changed while it was read".into()));
    }
    let dropped = bones.count - retained.len();
    Ok(Some(History { version: scan.version, records: scan.picked, extra: scan.extra, dropped }))
}

impl History {
    /// Read `project`'s history in `state_dir`, bounded to [`HISTORY_RECORDS`] plus the
    /// records rollback and prune need for `keep` releases; empty when there is none.
    pub fn load(state_dir: &Path, project: &str, keep: usize) -> Result<History, ComposeError> {
        let path = history_path(state_dir, project)?;
        load_at(&path, HISTORY_RECORDS, keep, false)
    }

    /// Like [`History::load`], and a corrupt file is set aside (`<name>.corrupt-<time>`).
    /// Only while holding the deploy lock: nobody else writes the file then.
    pub fn load_locked(state_dir: &Path, project: &str, keep: usize) -> Result<History, ComposeError> {
        let path = history_path(state_dir, project)?;
        load_at(&path, HISTORY_RECORDS, keep, true)
    }

    /// Write the history atomically (temp file, sync, rename, sync the directory).
    pub fn save(&self, state_dir: &Path, project: &str) -> Result<(), ComposeError> {
        let path = history_path(state_dir, project)?;
        write_atomic(&path, |w| serde_json::to_writer_pretty(w, self).map_err(std::io::Error::from))
    }
}

/// [`History::load`] of one file with explicit bounds.
pub fn load_at(path: &Path, max_records: usize, keep: usize, set_aside: bool) -> Result<History, ComposeError> {
    match read(path, max_records, keep) {
        Ok(Some(h)) => Ok(h),
        Ok(None) => Ok(History::default()),
        Err(Unreadable::Newer(version)) => Err(ComposeError::HistoryNewer { path: path.to_path_buf(), version }),
        Err(Unreadable::Io(e)) => Err(ComposeError::State { path: path.to_path_buf(), message: e.to_string() }),
        Err(Unreadable::Corrupt(reason)) => {
            let aside = if set_aside { Some(move_aside(path)?) } else { None };
            tracing::warn!("deploy history {} is corrupt: {reason}", path.display());
            Err(ComposeError::HistoryCorrupt { path: path.to_path_buf(), aside, reason })
        }
    }
}

/// Rename `path` to `<name>.corrupt-<UTC time>[-N]`, never over an existing file (the
/// caller holds the deploy lock: nobody else makes these names meanwhile).
fn move_aside(path: &Path) -> Result<PathBuf, ComposeError> {
    let err = |e: std::io::Error| ComposeError::State { path: path.to_path_buf(), message: e.to_string() };
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    for n in 0..100 {
        let suffix = if n == 0 { String::new() } else { format!("-{n}") };
        let aside = path.with_file_name(format!("{name}.corrupt-{stamp}{suffix}"));
        if std::fs::symlink_metadata(&aside).is_ok() {
            continue;
        }
        std::fs::rename(path, &aside).map_err(err)?;
        return Ok(aside);
    }
    Err(err(std::io::Error::other("too many corrupt copies set aside in this second")))
}

/// Write `path` through a temp file in its directory; a crash leaves the old file or the new.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> std::io::Result<()>,
) -> Result<(), ComposeError> {
    let err = |e: std::io::Error| ComposeError::State { path: path.to_path_buf(), message: e.to_string() };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::new(&file);
        write(&mut w)?;
        w.flush()?;
        drop(w);
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}
