//! Reading archives from outside with bounds: a tar (plain, gzip or zstd) unpacked for
//! `hoist image import` or ADD, and a jar exploded into layers.
//!
//! Every archive is held to [`ArchiveLimits`]: its expanded size (sparse files count at
//! their full size, since the layer holds them in full), its entry count, the ratio of
//! expanded size to the archive's size on disk (checked only past `ratio_from`, so small
//! archives of zeros pass), and each entry's path depth. Sizes come from entry headers (a
//! jar's central directory), so a bound is met before anything is written: an entry that
//! would pass one is refused, not unpacked. What the tar crate reads between two entries
//! (headers, GNU long names, PAX records; it buffers those in memory) is capped by
//! [`METADATA_BUDGET`] through the reader under it. Unpacked files stay on disk: nothing
//! of an entry's data is held in memory.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::{Component, Path};
use std::rc::Rc;

use serde::Serialize;

use crate::error::{Limit, OciError};

/// The bounds an archive is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ArchiveLimits {
    /// Bytes once expanded: entry data (sparse files at their full size) plus headers.
    pub max_bytes: u64,
    pub max_entries: u64,
    /// Expanded bytes per byte of the archive on disk, checked once past `ratio_from`.
    pub max_ratio: u64,
    pub ratio_from: u64,
    /// Path components of one entry.
    pub max_depth: usize,
}

/// Bytes the tar reader may read between two entries (headers, long names, PAX records).
/// A path is at most 4 KiB on Linux; real PAX records are far below this.
pub const METADATA_BUDGET: u64 = 1 << 20;

impl Default for ArchiveLimits {
    /// Sized for real base images (a JDK rootfs is ~300 MB and 30k entries; a full distro
    /// with docs is a few GB) with room to spare. The ratio is 100:1, not 200:1: real
    /// rootfs tars compress 2–5:1, and a reproduced bomb (20 MB of gzip → 3 GB) is 150:1.
    fn default() -> Self {
        ArchiveLimits {
            max_bytes: 8 << 30,
            max_entries: 1_000_000,
            max_ratio: 100,
            ratio_from: 512 << 20,
            max_depth: 256,
        }
    }
}

/// What an archive has expanded to so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub bytes: u64,
    pub entries: u64,
}

/// `1.5 GiB`-style sizes for messages.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// `8GiB`, `300M`, `1024`: a size for a command-line bound (K/M/G/T are powers of 1024,
/// with or without `iB`/`B`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{text}` is not a size (e.g. 8GiB, 500M, 1048576)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use K, M, G or T)")),
    };
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

impl ArchiveLimits {
    /// Admit one entry of `size` expanded bytes (plus `overhead` bytes of headers) named
    /// `name`, or say which bound it passes. `on_disk` is the archive's file size.
    fn admit(
        &self,
        tally: &mut Tally,
        archive: &Path,
        on_disk: u64,
        name: &str,
        size: u64,
        overhead: u64,
    ) -> Result<(), OciError> {
        let fail = |limit, message: String| OciError::ArchiveLimit { archive: archive.to_path_buf(), limit, message };
        let depth = Path::new(name).components().filter(|c| matches!(c, Component::Normal(_))).count();
        if depth > self.max_depth {
            let shown: String = name.chars().take(80).collect();
            return Err(fail(
                Limit::Depth,
                format!("entry `{shown}…` is {depth} directories deep, over the bound of {}", self.max_depth),
            ));
        }
        tally.entries += 1;
        if tally.entries > self.max_entries {
            return Err(fail(Limit::Entries, format!("more than {} entries", self.max_entries)));
        }
        let bytes = tally.bytes.saturating_add(size).saturating_add(overhead);
        if bytes > self.max_bytes {
            return Err(fail(
                Limit::Size,
                format!(
                    "entry `{name}` ({}) brings the expanded size to {}, over the bound of {}",
                    human(size),
                    human(bytes),
                    human(self.max_bytes)
                ),
            ));
        }
        if bytes > self.ratio_from && bytes > on_disk.max(1).saturating_mul(self.max_ratio) {
            return Err(fail(
                Limit::Ratio,
                format!(
                    "entry `{name}` brings the expanded size to {} from {} on disk, over the bound of {}:1",
                    human(bytes),
                    human(on_disk),
                    self.max_ratio
                ),
            ));
        }
        tally.bytes = bytes;
        Ok(())
    }
}

/// Open a tar that may be gzip- or zstd-compressed (detected by magic bytes).
pub fn open_tar(path: &Path) -> Result<Box<dyn Read>, OciError> {
    let mut f = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => OciError::Missing { path: path.to_path_buf() },
        _ => OciError::Io { path: path.to_path_buf(), source: e },
    })?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(OciError::io(path))?;
    f.rewind().map_err(OciError::io(path))?;
    let r = BufReader::new(f);
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        // zstd's default window cap (128 MiB) bounds the decoder's memory.
        Box::new(zstd::Decoder::with_buffer(r).map_err(OciError::io(path))?)
    } else {
        Box::new(r)
    })
}

/// The reader under the tar parser: counts every byte, and while `budget` is set (the parser
/// is between entries) refuses to give more than that many.
struct Gated<R> {
    inner: R,
    gate: Rc<Gate>,
}

#[derive(Default)]
struct Gate {
    budget: Cell<Option<u64>>,
    tripped: Cell<bool>,
    read: Cell<u64>,
}

impl<R: Read> Read for Gated<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = match self.gate.budget.get() {
            Some(0) if !buf.is_empty() => {
                self.gate.tripped.set(true);
                return Err(io::Error::other("tar metadata over its budget"));
            }
            Some(b) => buf.len().min(b.min(usize::MAX as u64) as usize),
            None => buf.len(),
        };
        let n = self.inner.read(&mut buf[..max])?;
        if let Some(b) = self.gate.budget.get() {
            self.gate.budget.set(Some(b - n as u64));
        }
        self.gate.read.set(self.gate.read.get() + n as u64);
        Ok(n)
    }
}

/// Unpack a tar into `dest` within `limits`, refusing any entry (or hard link) that leaves
/// the root. Devices and fifos are skipped: they don't belong in an image layer.
pub fn extract_tar(path: &Path, dest: &Path, limits: &ArchiveLimits) -> Result<Tally, OciError> {
    let on_disk = std::fs::metadata(path).map_err(OciError::io(path))?.len();
    let gate = Rc::new(Gate::default());
    let reader = Gated { inner: open_tar(path)?, gate: gate.clone() };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    let bad = |e: io::Error| OciError::Invalid { path: path.to_path_buf(), what: "tar", message: e.to_string() };
    let over_budget = || OciError::ArchiveLimit {
        archive: path.to_path_buf(),
        limit: Limit::Metadata,
        message: format!("an entry's headers (long name, PAX records) pass {}", human(METADATA_BUDGET)),
    };
    let mut tally = Tally::default();
    let mut entries = archive.entries().map_err(bad)?;
    loop {
        let before = gate.read.get();
        gate.budget.set(Some(METADATA_BUDGET));
        let next = entries.next();
        gate.budget.set(None);
        let Some(entry) = next else { break };
        let mut entry = entry.map_err(|e| if gate.tripped.get() { over_budget() } else { bad(e) })?;
        let overhead = gate.read.get() - before;
        let name = entry.path().map_err(bad)?.into_owned();
        let shown = name.display().to_string();
        limits.admit(&mut tally, path, on_disk, &shown, entry.size(), overhead)?;
        let escapes = |p: &Path| p.components().any(|c| matches!(c, Component::ParentDir));
        if escapes(&name) {
            return Err(OciError::TarEscapes { entry: shown, archive: path.to_path_buf() });
        }
        let kind = entry.header().entry_type();
        if let Some(link) = entry.link_name().map_err(bad)?
            && kind == tar::EntryType::Link
            && escapes(&link)
        {
            return Err(OciError::TarEscapes { entry: link.display().to_string(), archive: path.to_path_buf() });
        }
        if !matches!(kind, tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo)
            && !entry.unpack_in(dest).map_err(bad)?
        {
            return Err(OciError::TarEscapes { entry: shown, archive: path.to_path_buf() });
        }
        // Whatever the entry still holds (a directory or device with a size) is read here,
        // within the size admitted above, so the budget between entries sees headers only.
        io::copy(&mut entry, &mut io::sink()).map_err(bad)?;
    }
    Ok(tally)
}

/// Check a jar's central directory against `limits` before any entry is read: entry count,
/// declared sizes (an entry is read only up to its declared size), ratio and depth.
pub(crate) fn admit_zip<R: Read + Seek>(
    zip: &zip::ZipArchive<R>,
    path: &Path,
    limits: &ArchiveLimits,
) -> Result<Tally, OciError> {
    let on_disk = std::fs::metadata(path).map_err(OciError::io(path))?.len();
    if zip.len() as u64 > limits.max_entries {
        return Err(OciError::ArchiveLimit {
            archive: path.to_path_buf(),
            limit: Limit::Entries,
            message: format!("{} entries, over the bound of {}", zip.len(), limits.max_entries),
        });
    }
    if zip.has_duplicate_names() {
        return Err(OciError::Invalid {
            path: path.to_path_buf(),
            what: "jar",
            message: "its central directory names an entry twice; which one a JVM reads is not defined".into(),
        });
    }
    let mut tally = Tally::default();
    for i in 0..zip.len() {
        let f = zip.by_index_data(i).map_err(|e| OciError::Invalid {
            path: path.to_path_buf(),
            what: "jar",
            message: e.to_string(),
        })?;
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        limits.admit(&mut tally, path, on_disk, &name, f.size(), 0)?;
    }
    Ok(tally)
}

/// Read at most `max` bytes of `r` as text; more is an error naming `what`.
pub(crate) fn read_text_bounded(r: impl Read, max: u64, archive: &Path, what: &str) -> Result<String, OciError> {
    let mut text = String::new();
    r.take(max + 1).read_to_string(&mut text).map_err(|e| OciError::Invalid {
        path: archive.to_path_buf(),
        what: "jar",
        message: format!("{what}: {e}"),
    })?;
    if text.len() as u64 > max {
        return Err(OciError::ArchiveLimit {
            archive: archive.to_path_buf(),
            limit: Limit::Metadata,
            message: format!("{what} is larger than {}", human(max)),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("300M"), Ok(300 << 20));
        assert_eq!(parse_size("2 kb"), Ok(2048));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn admit_holds_each_bound() {
        let limits = ArchiveLimits { max_bytes: 1000, max_entries: 3, max_ratio: 10, ratio_from: 100, max_depth: 3 };
        let a = Path::new("x.tar");
        let mut t = Tally::default();
        assert!(limits.admit(&mut t, a, 50, "a/b/c", 90, 10).is_ok());
        let limit_of = |r: Result<(), OciError>| match r {
            Err(OciError::ArchiveLimit { limit, .. }) => limit,
            other => panic!("{other:?}"),
        };
        // Depth is checked on the name alone.
        assert_eq!(limit_of(limits.admit(&mut t.clone(), a, 50, "a/b/c/d", 0, 0)), Limit::Depth);
        // 100 + 500 on 50 bytes on disk: 12:1, past 100 bytes.
        assert_eq!(limit_of(limits.admit(&mut t.clone(), a, 50, "r", 500, 0)), Limit::Ratio);
        // On a 1000-byte archive the same entry passes the ratio but not the size.
        assert_eq!(limit_of(limits.admit(&mut t.clone(), a, 1000, "s", 901, 0)), Limit::Size);
        assert!(limits.admit(&mut t, a, 1000, "ok", 10, 0).is_ok());
        assert!(limits.admit(&mut t, a, 1000, "ok2", 10, 0).is_ok());
        assert_eq!(limit_of(limits.admit(&mut t, a, 1000, "fourth", 0, 0)), Limit::Entries);
    }
}
