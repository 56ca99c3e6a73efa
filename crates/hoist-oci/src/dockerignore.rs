//! `.dockerignore`: which files of a build context a Dockerfile's COPY and ADD can see, by
//! Docker's rules (moby/patternmatcher and its `ignorefile` reader, as the Docker CLI and
//! BuildKit apply them).
//!
//! Written by hand: the Rust crates for it either only classify lines (`use-dockerignore`)
//! or are gitignore matchers (`ignore`, `gitignore`), whose rules differ: in gitignore a
//! pattern without `/` matches at any depth and `dir/` only directories; in Docker `*.key`
//! matches at the context root only, a trailing `/` is cleaned away, and an exception inside
//! an excluded directory counts only if the directory's name starts it. So this module
//! follows moby's code, step by step:
//!
//! * Reading: a line starting with `#` is a comment (only in the first column); lines are
//!   trimmed, blank ones skipped; `!` starts an exception; a pattern is cleaned as Go's
//!   `filepath.Clean` does and one leading `/` is dropped (`/abs`, `./abs`, `abs/` are `abs`).
//!   A UTF-8 BOM on the first line is dropped.
//! * Syntax: what Go's `filepath.Match` refuses (an unclosed `[`, a bad range, a trailing
//!   `\`) and a bare `!` are errors naming the line, as they fail `docker build`.
//! * A pattern is translated to a regular expression as moby does: `*` is `[^/]*`, `?` is
//!   `[^/]`, `**` is any number of directories (also none), a trailing `**` matches
//!   anything, `\` escapes, `[...]` classes pass through. Patterns without wildcards compare
//!   as strings, `prefix/**` by prefix, `**suffix` by suffix, as moby's fast paths do
//!   (`**foo` thus matches `barfoo`).
//! * Matching a path (relative to the context, `/`-separated): patterns in order, the last
//!   that matches decides (`!` re-includes). A pattern also matches a path when it matched
//!   the path's parent directory (so `dir` excludes all of `dir/`), carried down the walk
//!   per pattern as `MatchesUsingParentResults` does.
//! * The walk: an excluded directory is not descended into unless an exception pattern
//!   starts with the directory's path plus `/` (`!dir/keep`); the directory's own entry is
//!   left out either way.
//! * The file: `<Dockerfile>.dockerignore` beside the Dockerfile when there is one (as
//!   BuildKit reads it), else `.dockerignore` at the context's root.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::error::OciError;
use crate::layer::Visit;

/// The patterns of one `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
    /// Where the patterns came from (none: no ignore file).
    file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// Cleaned, without the `!`.
    text: String,
    exclusion: bool,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Exact,
    /// `foo/**`: the pattern without its trailing `**`.
    Prefix(String),
    /// `**/foo`: the pattern without its leading `**`.
    Suffix(String),
    Regex(Regex),
}

/// Per pattern, whether it matched a directory (or one of its parents): handed from a
/// directory to its entries during a walk.
#[derive(Debug, Clone, Default)]
pub struct MatchInfo(Vec<bool>);

/// Go's `filepath.Clean` for `/`-separated paths.
pub fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// What Go's `filepath.Match` refuses as a pattern (`ErrBadPattern`).
fn check_syntax(p: &str) -> Result<(), String> {
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    // One character of a class, possibly escaped; Go's `getEsc`.
    let esc = |i: &mut usize| -> Result<char, String> {
        match chars.get(*i) {
            None => return Err("an unclosed `[`".into()),
            Some('-') | Some(']') => return Err("a `[` class with an empty or misplaced range".into()),
            Some('\\') => *i += 1,
            _ => {}
        }
        let c = *chars.get(*i).ok_or("a `\\` at the end of a class")?;
        *i += 1;
        if *i >= chars.len() {
            return Err("an unclosed `[`".into());
        }
        Ok(c)
    };
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err("a `\\` at the end of the pattern".into());
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if chars.get(i) == Some(&']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    let lo = esc(&mut i)?;
                    if chars.get(i) == Some(&'-') {
                        i += 1;
                        let hi = esc(&mut i)?;
                        if hi < lo {
                            return Err(format!("the range `{lo}-{hi}` runs backwards"));
                        }
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// moby's `Pattern.compile`: the pattern as a match kind.
fn compile(p: &str) -> Result<Kind, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut re = String::from("^");
    let mut kind = 0u8; // 0 exact, 1 prefix, 2 suffix, 3 regex
    let mut in_class = false;
    let mut i = 0;
    let mut iteration = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if ch == '*' {
            if chars.get(i) == Some(&'*') {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if kind == 0 {
                        kind = 1;
                    } else {
                        re.push_str(".*");
                        kind = 3;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = 3;
                }
                if iteration == 0 {
                    kind = 2;
                }
            } else {
                re.push_str("[^/]*");
                kind = 3;
            }
        } else if ch == '?' {
            re.push_str("[^/]");
            kind = 3;
        } else if ".+()|{}$".contains(ch) {
            re.push('\\');
            re.push(ch);
        } else if ch == '\\' {
            match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    re.push('\\');
                    re.push(next);
                    kind = 3;
                }
                None => re.push_str("\\\\"),
            }
        } else if ch == '[' || ch == ']' {
            // Go's regexp reads `[`, `&` and `~` inside a class as themselves; Rust's
            // regex would read nested classes and set operations, so they are escaped.
            if ch == '[' && in_class {
                re.push_str("\\[");
            } else {
                re.push(ch);
                in_class = ch == '[';
            }
            kind = 3;
        } else if in_class && (ch == '&' || ch == '~') {
            re.push('\\');
            re.push(ch);
        } else {
            re.push(ch);
        }
        iteration += 1;
    }
    Ok(match kind {
        0 => Kind::Exact,
        1 => Kind::Prefix(p[..p.len() - 2].to_string()),
        2 => Kind::Suffix(p[2..].to_string()),
        _ => {
            re.push('$');
            Kind::Regex(Regex::new(&re).map_err(|e| format!("cannot be matched: {e}"))?)
        }
    })
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Regex(re) => re.is_match(path),
        }
    }
}

impl DockerIgnore {
    /// The `.dockerignore` at the root of `context`, or no patterns when there is none.
    pub fn load(context: &Path) -> Result<DockerIgnore, OciError> {
        Ok(DockerIgnore::read(&context.join(".dockerignore"))?.unwrap_or_default())
    }

    /// The patterns a build of `dockerfile` with `context` uses: `<Dockerfile>.dockerignore`
    /// beside the Dockerfile when it exists, else the context's `.dockerignore`.
    pub fn for_build(dockerfile: &Path, context: &Path) -> Result<DockerIgnore, OciError> {
        if let Some(name) = dockerfile.file_name() {
            let own = dockerfile.with_file_name(format!("{}.dockerignore", name.to_string_lossy()));
            if let Some(ignore) = DockerIgnore::read(&own)? {
                return Ok(ignore);
            }
        }
        DockerIgnore::load(context)
    }

    fn read(path: &Path) -> Result<Option<DockerIgnore>, OciError> {
        match std::fs::read(path) {
            Ok(bytes) => DockerIgnore::parse(&String::from_utf8_lossy(&bytes), path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(OciError::Io { path: path.to_path_buf(), source: e }),
        }
    }

    /// The ignore file the patterns were read from.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Parse a `.dockerignore`'s text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<DockerIgnore, OciError> {
        let mut patterns = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let raw = if n == 0 { raw.trim_start_matches('\u{feff}') } else { raw };
            let err = |message: String| OciError::DockerIgnore { path: PathBuf::from(file), line: n + 1, message };
            if raw.starts_with('#') {
                continue;
            }
            // ignorefile.ReadAll
            let mut p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
            }
            let mut cleaned = String::new();
            if !p.is_empty() {
                cleaned = go_clean(p);
                if cleaned.len() > 1 && cleaned.starts_with('/') {
                    cleaned.remove(0);
                }
            }
            // patternmatcher.New cleans again (a no-op now) and refuses a bare `!`.
            if exclusion && cleaned.is_empty() {
                return Err(err("a bare `!` excludes nothing: write `!PATTERN`".into()));
            }
            check_syntax(&cleaned).map_err(|m| err(format!("`{raw}`: {m}")))?;
            let kind = compile(&cleaned).map_err(|m| err(format!("`{raw}` {m}")))?;
            patterns.push(Pattern { text: cleaned, exclusion, kind });
        }
        Ok(DockerIgnore { patterns, file: Some(file.to_path_buf()) })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// moby's `MatchesUsingParentResults`: whether `path` is excluded, given what the
    /// patterns did with its parent directory (`MatchInfo::default()` at the top).
    pub fn matches(&self, path: &str, parent: &MatchInfo) -> (bool, MatchInfo) {
        let mut matched = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut m = parent.0.get(i).copied().unwrap_or(false);
            if !m {
                if pattern.exclusion != matched {
                    continue;
                }
                m = pattern.matches(path);
                if !m && parent.0.is_empty() {
                    // No parent results: try each parent directory, top down.
                    let parts: Vec<&str> = path.split('/').collect();
                    for end in 1..parts.len() {
                        if pattern.matches(&parts[..end].join("/")) {
                            m = true;
                            break;
                        }
                    }
                }
            }
            info[i] = m;
            if m {
                matched = !pattern.exclusion;
            }
        }
        (matched, MatchInfo(info))
    }

    /// Whether a walk goes into the excluded directory `dir`: only when an exception
    /// pattern starts with `dir/`.
    fn descends(&self, dir: &str) -> bool {
        let dir_slash = format!("{dir}/");
        self.patterns.iter().any(|p| p.exclusion && format!("{}/", p.text).starts_with(&dir_slash))
    }

    /// A walk of the context from its root down to (and including) `path`.
    pub fn walker(&self) -> Walker<'_> {
        Walker { ignore: self, stack: Vec::new() }
    }

    /// A walk positioned at `base`: its parent directories have been visited, so the next
    /// visit can be `base` itself, then what is under it.
    pub fn walker_at(&self, base: &str) -> Walker<'_> {
        let mut walker = self.walker();
        let base = go_clean(base);
        if base != "." {
            let parts: Vec<&str> = base.split('/').collect();
            for end in 1..parts.len() {
                walker.visit(&parts[..end].join("/"), true);
            }
        }
        walker
    }

    /// Whether `path` (relative to the context) is in the context Docker would send: none
    /// of its parents is skipped by the walk, and it is not excluded itself. A directory
    /// that is excluded but walked into (for an exception) counts as present.
    pub fn present(&self, path: &str, is_dir: bool) -> bool {
        let path = go_clean(path);
        if path == "." || self.is_empty() {
            return true;
        }
        let mut walker = self.walker();
        let parts: Vec<&str> = path.split('/').collect();
        for end in 1..=parts.len() {
            let last = end == parts.len();
            match walker.visit(&parts[..end].join("/"), !last || is_dir) {
                Visit::Keep => {}
                Visit::SkipSelf if last => return true,
                Visit::SkipSelf => {}
                Visit::SkipTree => return false,
            }
        }
        true
    }
}

/// Docker's walk of a context: paths in walk order (parents before their entries), each
/// told whether the context holds it.
#[derive(Debug)]
pub struct Walker<'a> {
    ignore: &'a DockerIgnore,
    /// The directories above the current path, with their match results.
    stack: Vec<(String, MatchInfo)>,
}

impl Walker<'_> {
    /// `path` relative to the context root, `/`-separated, `""` or `.` for the root.
    pub fn visit(&mut self, path: &str, is_dir: bool) -> Visit {
        if path.is_empty() || path == "." || self.ignore.is_empty() {
            return Visit::Keep;
        }
        while let Some((dir, _)) = self.stack.last() {
            if path.starts_with(dir.as_str()) && path.as_bytes().get(dir.len()) == Some(&b'/') {
                break;
            }
            self.stack.pop();
        }
        let parent = self.stack.last().map(|(_, m)| m.clone()).unwrap_or_default();
        let (skip, info) = self.ignore.matches(path, &parent);
        if is_dir {
            self.stack.push((path.to_string(), info));
        }
        match (skip, is_dir) {
            (false, _) => Visit::Keep,
            (true, false) => Visit::SkipTree,
            (true, true) if self.ignore.has_exceptions() && self.ignore.descends(path) => Visit::SkipSelf,
            (true, true) => Visit::SkipTree,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text, Path::new(".dockerignore")).unwrap()
    }

    /// Walk these paths (dirs end in `/`) in order and list what the context keeps.
    fn kept(ig: &DockerIgnore, paths: &[&str]) -> Vec<String> {
        let mut w = ig.walker();
        let mut skipped: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for p in paths {
            let is_dir = p.ends_with('/');
            let p = p.trim_end_matches('/');
            if skipped.iter().any(|s| p.starts_with(&format!("{s}/"))) {
                continue; // under a directory the walk did not enter
            }
            match w.visit(p, is_dir) {
                Visit::Keep => out.push(p.to_string()),
                Visit::SkipSelf => {}
                Visit::SkipTree => skipped.push(p.to_string()),
            }
        }
        out
    }

    #[test]
    fn go_clean_is_filepath_clean() {
        for (input, want) in [
            ("", "."),
            ("a/", "a"),
            ("./a", "a"),
            ("a//b", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/./b/..", "a"),
        ] {
            assert_eq!(go_clean(input), want, "{input}");
        }
    }

    #[test]
    fn single_paths_by_pattern() {
        // (pattern lines, path, excluded?) — top-level evaluation with parent fallback.
        let rows: &[(&str, &str, bool)] = &[
            ("*.key", "a.key", true),
            ("*.key", "sub/a.key", false), // `*` stops at `/`: root only
            ("**/*.key", "sub/deep/a.key", true),
            ("**/*.key", "a.key", true), // `**/` also matches no directory
            ("**/*.key\n!keep.key", "keep.key", false),
            ("**/*.key\n!keep.key", "sub/keep.key", true), // the exception is root-only
            ("dir/", "dir", true),
            ("dir/", "dir/x/y", true), // a matched parent excludes its contents
            ("dir/", "dirx", false),
            ("*", "anything", true),
            ("*", "a/b", true), // via its parent `a`
            ("/abs", "abs", true),
            ("/abs", "x/abs", false),
            ("./abs", "abs", true),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("a/**/b", "a/x/y/b/f", true),
            ("a/**/b", "a/bb", false),
            (".git", ".git/objects/ab", true),
            (".git", "sub/.git", false),
            ("**/.git", "sub/.git/HEAD", true),
            ("foo/**", "foo/x/y", true),
            ("foo/**", "foo", false),
            ("**foo", "barfoo", true), // moby's suffix fast path
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("[ab].txt", "b.txt", true),
            ("[^ab].txt", "b.txt", false),
            ("[^ab].txt", "c.txt", true),
            ("a.b", "axb", false), // `.` is literal
            ("\\*", "*", true),
            ("\\*", "x", false),
            ("# not a comment line below\n #x", "#x", true), // `#` only in the first column
            ("a\n!a", "a", false),
            ("!a\na", "a", true),      // last match wins
            ("x/y\n!x", "x/y", false), // no parent results at the top: the parent `x` re-includes
        ];
        for (lines, path, want) in rows {
            let ig = ignore(lines);
            let (got, _) = ig.matches(path, &MatchInfo::default());
            assert_eq!(got, *want, "patterns {lines:?} on {path}");
        }
    }

    #[test]
    fn the_walk_skips_excluded_directories_unless_an_exception_names_them() {
        let paths = [
            "a.key",
            "build/",
            "build/keep/",
            "build/keep/this",
            "build/other",
            "keep.key",
            "sub/",
            "sub/keep.key",
            "sub/x",
        ];
        let ig = ignore("**/*.key\n!keep.key\nbuild\n!build/keep\n");
        assert_eq!(kept(&ig, &paths), ["build/keep", "build/keep/this", "keep.key", "sub", "sub/x"]);
        // An exception that does not start with the directory's path does not open it.
        let ig = ignore("build\n!**/this\n");
        assert_eq!(kept(&ig, &paths), ["a.key", "keep.key", "sub", "sub/keep.key", "sub/x"]);
        // Parent results carried down the walk: `!x` was skipped for `x` (nothing matched
        // yet), so it does not re-include `x/y` (unlike the top-level fallback above).
        let ig = ignore("x/y\n!x\n");
        assert_eq!(kept(&ig, &["x/", "x/y", "x/z"]), ["x", "x/z"]);
    }

    #[test]
    fn presence_of_single_paths() {
        let ig = ignore(".env\nsecrets\n!secrets/public\n");
        assert!(!ig.present(".env", false));
        assert!(ig.present("app.jar", false));
        assert!(!ig.present("secrets/db.key", false));
        assert!(ig.present("secrets/public/x", false));
        assert!(ig.present("secrets", true)); // walked into for its exception
        assert!(ig.present("./secrets/public", true));
    }

    #[test]
    fn bad_lines_are_refused_with_their_line() {
        for (text, line) in [("ok\n[abc", 2), ("!", 1), ("a\n\n  !  \n", 3), ("x\\", 1), ("[z-a]", 1), ("[]", 1)] {
            match DockerIgnore::parse(text, Path::new("ctx/.dockerignore")) {
                Err(OciError::DockerIgnore { line: l, path, .. }) => {
                    assert_eq!(l, line, "{text:?}");
                    assert_eq!(path, Path::new("ctx/.dockerignore"));
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        // Comments, blanks, a BOM and surrounding spaces are fine.
        let ig = ignore("\u{feff}# c\n\n   a   \n");
        assert!(ig.matches("a", &MatchInfo::default()).0);
    }
}
