//! Finding a service's artifact after its build (one match of its pattern, inside the
//! project, bounded) and hashing it.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::BuildError;

/// Bounds on expanding one artifact pattern.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Directory entries looked at before giving up.
    pub max_walk: usize,
    /// Matches collected (and listed in the error) before giving up.
    pub max_matches: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_walk: 200_000, max_matches: 50 }
    }
}

/// The one file matching `pattern` (relative to `root`); none or several is an error.
pub fn find_artifact(root: &Path, service: &str, pattern: &str) -> Result<PathBuf, BuildError> {
    find_artifact_bounded(root, service, pattern, Limits::default())
}

/// [`find_artifact`] with explicit bounds. The pattern must be relative and free of `..`
/// (also checked in the config; again here, after substitution). The walk starts at the
/// pattern's literal directory, never follows a symlinked directory, and every match is
/// resolved: one that lands outside the project is refused, naming where it points.
pub fn find_artifact_bounded(root: &Path, service: &str, pattern: &str, limits: Limits) -> Result<PathBuf, BuildError> {
    let bad = |reason: String| BuildError::BadPattern { service: service.into(), pattern: pattern.into(), reason };
    hoist_config::check_artifact_pattern(pattern).map_err(bad)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    let real_root = std::fs::canonicalize(root).map_err(io(root))?;
    // The literal leading directories: the walk starts there, not at the root.
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let matcher = glob::Pattern::new(&components.join("/")).map_err(|e| bad(e.to_string()))?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let is_glob = |c: &str| c.contains(['*', '?', '[']);
    let literal = components.iter().take_while(|c| !is_glob(c)).count();
    let rest = &components[literal..];
    let start = root.join(components[..literal].iter().collect::<PathBuf>());
    let escapes = |path: &Path, target: PathBuf| BuildError::Escapes {
        service: service.into(),
        artifact: path.to_path_buf(),
        target,
        root: real_root.clone(),
    };
    // A candidate file, resolved; `None` when it is missing, dangling or not a file.
    let candidate = |path: &Path| -> Result<Option<PathBuf>, BuildError> {
        match std::fs::canonicalize(path) {
            Ok(real) if !real.is_file() => Ok(None),
            Ok(real) if real.starts_with(&real_root) => Ok(Some(real)),
            Ok(real) => Err(escapes(path, real)),
            Err(_) => Ok(None),
        }
    };

    let mut matches: Vec<PathBuf> = Vec::new();
    let mut total = 0usize;
    if rest.is_empty() {
        if candidate(&start)?.is_some() {
            matches.push(start.clone());
            total = 1;
        }
    } else if let Ok(real_start) = std::fs::canonicalize(&start) {
        // The pattern's own directory must be in the project, links resolved.
        if !real_start.starts_with(&real_root) {
            return Err(escapes(&start, real_start));
        }
        let mut walk = walkdir::WalkDir::new(&start).min_depth(1).follow_links(false);
        if !rest.contains(&"**") {
            walk = walk.max_depth(rest.len());
        }
        for (seen, entry) in walk.into_iter().enumerate() {
            if seen >= limits.max_walk {
                return Err(BuildError::WalkTooLong {
                    service: service.into(),
                    pattern: pattern.into(),
                    limit: limits.max_walk,
                });
            }
            // Unreadable directories are skipped, as a shell's glob does.
            let Ok(entry) = entry else { continue };
            let Ok(rel) = entry.path().strip_prefix(root) else { continue };
            if entry.file_type().is_dir() || !matcher.matches_path_with(rel, options) {
                continue;
            }
            if candidate(entry.path())?.is_none() {
                continue;
            }
            total += 1;
            if matches.len() < limits.max_matches {
                matches.push(entry.path().to_path_buf());
            } else {
                break;
            }
        }
    }
    match total {
        1 => Ok(matches.into_iter().next().expect("one")),
        0 => {
            // Show what is there, so a wrong name or a missing build is obvious.
            let full = root.join(pattern);
            let dir = full.parent().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
            let mut found: Vec<String> = std::fs::read_dir(&dir)
                .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            found.sort();
            found.truncate(limits.max_matches);
            Err(BuildError::NoArtifact { service: service.into(), pattern: pattern.into(), dir, found })
        }
        _ => {
            matches.sort();
            Err(BuildError::SeveralArtifacts {
                service: service.into(),
                pattern: pattern.into(),
                count: format!("{}{}", matches.len(), if total > matches.len() { " or more" } else { "" }),
                found: matches,
            })
        }
    }
}

/// Size and sha256 of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(u64, String), BuildError> {
    let io = |source| BuildError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}
