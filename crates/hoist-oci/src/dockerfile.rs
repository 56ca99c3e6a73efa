//! The Dockerfile subset hoist builds natively: FROM, COPY, ADD (local files and local
//! tars), ENV, ARG, WORKDIR, EXPOSE, ENTRYPOINT, CMD, LABEL, USER, VOLUME, STOPSIGNAL.
//!
//! These need no container runtime: they only add files or set config. RUN needs one, so
//! it is refused with its line number and the advice Jib and ko give: move that step into
//! a base image. Every COPY/ADD is one layer, as in Docker. WORKDIR only sets the config
//! (runtimes create a missing working directory).
//!
//! Sources come from the context as `docker build` sends it: what `.dockerignore` excludes
//! is not there ([`crate::dockerignore`]), and a source that resolves (through symlinks)
//! outside the context is refused ([`crate::layer::resolve_inside`]). A destination may not
//! climb with `..`. A local tar for ADD is unpacked within [`ArchiveLimits`] into a locked
//! scratch directory that lives as long as the layer spec, so its files stream from disk.
//! Every error names the Dockerfile and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::archive::ArchiveLimits;
use crate::dockerignore::{DockerIgnore, go_clean};
use crate::error::OciError;
use crate::image::ConfigSpec;
use crate::layer::{LayerSpec, Visit, image_path, resolve_inside};

/// Prefix of the scratch directories (in `$TMPDIR`) that ADD unpacks a local tar into.
const ADD_PREFIX: &str = ".hoist-add-";

/// What a Dockerfile describes, ready for [`crate::ImagePlan`].
#[derive(Debug, Clone)]
pub struct DockerfilePlan {
    /// The FROM ref, `None` for `FROM scratch`.
    pub base: Option<String>,
    pub layers: Vec<LayerSpec>,
    pub config: ConfigSpec,
}

struct Parser<'a> {
    path: &'a Path,
    context: PathBuf,
    ignore: DockerIgnore,
    limits: ArchiveLimits,
    args: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    workdir: String,
}

impl Parser<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> OciError {
        OciError::Dockerfile { path: self.path.to_path_buf(), line, message: message.into(), hint: None }
    }

    fn err_hint(&self, line: usize, message: impl Into<String>, hint: impl Into<String>) -> OciError {
        OciError::Dockerfile { path: self.path.to_path_buf(), line, message: message.into(), hint: Some(hint.into()) }
    }

    /// Give an error from deeper down (a tar, a symlink, a file) the Dockerfile's line.
    fn at_line(&self, line: usize, e: OciError) -> OciError {
        match e {
            OciError::Dockerfile { .. } | OciError::AtLine { .. } => e,
            other => OciError::AtLine { path: self.path.to_path_buf(), line, error: Box::new(other) },
        }
    }

    fn subst(&self, line: usize, text: &str) -> Result<String, OciError> {
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && chars.peek() == Some(&'$') {
                out.push(chars.next().expect("peeked"));
                continue;
            }
            if c != '$' {
                out.push(c);
                continue;
            }
            let (name, default) = if chars.peek() == Some(&'{') {
                chars.next();
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => inner.push(ch),
                        None => return Err(self.err(line, format!("unclosed `${{` in `{text}`"))),
                    }
                }
                match inner.split_once(":-") {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (inner, None),
                }
            } else {
                let mut name = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_ascii_alphanumeric() || ch == '_' {
                        name.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if name.is_empty() {
                    out.push('$');
                    continue;
                }
                (name, None)
            };
            let value = self.env.get(&name).or_else(|| self.args.get(&name)).cloned();
            out.push_str(&value.filter(|v| !v.is_empty()).or(default).unwrap_or_default());
        }
        Ok(out)
    }
}

/// Split `a=b "c d"=e` style arguments, honouring quotes and backslashes.
fn words(line: usize, path: &Path, text: &str) -> Result<Vec<String>, OciError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(OciError::Dockerfile {
            path: path.to_path_buf(),
            line,
            message: format!("unclosed quote in `{text}`"),
            hint: None,
        });
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `["a", "b"]` (JSON form) or shell form (run by `/bin/sh -c`).
fn exec_form(text: &str) -> Vec<String> {
    let t = text.trim();
    if t.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(t)
    {
        return v;
    }
    vec!["/bin/sh".into(), "-c".into(), t.to_string()]
}

/// Logical lines: comments dropped, `\` continuations joined; each with its first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if cur.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if !cur.is_empty() && trimmed.starts_with('#') {
            continue; // comment lines inside a continuation are dropped, as Docker does
        }
        if cur.is_empty() {
            start = i + 1;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
        } else {
            cur.push_str(trimmed);
            out.push((start, std::mem::take(&mut cur)));
        }
    }
    if !cur.trim().is_empty() {
        out.push((start, cur));
    }
    out
}

/// Read and plan a Dockerfile. `build_args` are `--build-arg` values for declared ARGs.
pub fn plan(
    dockerfile: &Path,
    context: &Path,
    build_args: &BTreeMap<String, String>,
) -> Result<DockerfilePlan, OciError> {
    plan_with(dockerfile, context, build_args, &ArchiveLimits::default())
}

/// As [`plan`], with the bounds ADD holds local tars to.
pub fn plan_with(
    dockerfile: &Path,
    context: &Path,
    build_args: &BTreeMap<String, String>,
    limits: &ArchiveLimits,
) -> Result<DockerfilePlan, OciError> {
    let bytes = std::fs::read(dockerfile).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => OciError::Missing { path: dockerfile.to_path_buf() },
        _ => OciError::Io { path: dockerfile.to_path_buf(), source: e },
    })?;
    let text = String::from_utf8(bytes).map_err(|e| not_utf8(dockerfile, &e))?;
    let context = std::fs::canonicalize(context).map_err(OciError::io(context))?;
    let ignore = DockerIgnore::for_build(dockerfile, &context)?;
    let mut p = Parser {
        path: dockerfile,
        context,
        ignore,
        limits: *limits,
        args: BTreeMap::new(),
        env: BTreeMap::new(),
        workdir: "/".into(),
    };
    let mut base: Option<Option<String>> = None;
    let mut layers = Vec::new();
    let mut config = ConfigSpec::default();
    for (line, text) in logical_lines(&text) {
        instruction(&mut p, build_args, line, &text, &mut base, &mut layers, &mut config)
            .map_err(|e| p.at_line(line, e))?;
    }
    let base = base.ok_or_else(|| p.err(1, "no FROM line"))?;
    Ok(DockerfilePlan { base, layers, config })
}

/// Carry out one logical line.
fn instruction(
    p: &mut Parser,
    build_args: &BTreeMap<String, String>,
    line: usize,
    text: &str,
    base: &mut Option<Option<String>>,
    layers: &mut Vec<LayerSpec>,
    config: &mut ConfigSpec,
) -> Result<(), OciError> {
    let dockerfile = p.path;
    {
        let (instr, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim();
        let instr = instr.to_ascii_uppercase();
        if base.is_none() && !matches!(instr.as_str(), "FROM" | "ARG") {
            return Err(p.err(line, format!("{instr} before FROM")));
        }
        match instr.as_str() {
            "FROM" => {
                if base.is_some() {
                    return Err(OciError::Dockerfile {
                        path: dockerfile.to_path_buf(),
                        line,
                        message: "a second FROM: multi-stage builds are not supported".into(),
                        hint: Some("build the earlier stage as its own image, or use `--builder docker`".into()),
                    });
                }
                let w = words(line, dockerfile, &p.subst(line, rest)?)?;
                let image = w.first().ok_or_else(|| p.err(line, "FROM needs an image"))?;
                if image.starts_with("--") {
                    return Err(p.err(line, format!("FROM option `{image}` is not supported")));
                }
                if w.len() > 1 && !(w.len() == 3 && w[1].eq_ignore_ascii_case("as")) {
                    return Err(p.err(line, format!("cannot read `FROM {rest}`")));
                }
                *base = Some(if image == "scratch" { None } else { Some(image.clone()) });
            }
            "ARG" => {
                for w in words(line, dockerfile, rest)? {
                    let (k, v) = match w.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (w.clone(), String::new()),
                    };
                    let v = build_args.get(&k).cloned().unwrap_or(v);
                    p.args.insert(k, v);
                }
            }
            "ENV" | "LABEL" => {
                let w = words(line, dockerfile, &p.subst(line, rest)?)?;
                let pairs: Vec<(String, String)> = if instr == "ENV" && w.len() >= 2 && !w[0].contains('=') {
                    // legacy `ENV KEY value with spaces`
                    let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                    vec![(k.to_string(), p.subst(line, v.trim())?)]
                } else {
                    w.iter()
                        .map(|kv| {
                            kv.split_once('=')
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .ok_or_else(|| p.err(line, format!("`{kv}` is not KEY=VALUE")))
                        })
                        .collect::<Result<_, _>>()?
                };
                for (k, v) in pairs {
                    if instr == "ENV" {
                        p.env.insert(k.clone(), v.clone());
                        config.env.push((k, v));
                    } else {
                        config.labels.insert(k, v);
                    }
                }
            }
            "WORKDIR" => {
                let dir = p.subst(line, rest)?;
                let abs =
                    if dir.starts_with('/') { dir } else { format!("{}/{}", p.workdir.trim_end_matches('/'), dir) };
                p.workdir = format!("/{}", image_path(&abs).map_err(|e| p.err(line, e.to_string()))?);
                config.workdir = Some(p.workdir.clone());
            }
            "EXPOSE" => {
                for port in words(line, dockerfile, &p.subst(line, rest)?)? {
                    let (num, proto) = port.split_once('/').unwrap_or((port.as_str(), "tcp"));
                    if num.parse::<u16>().is_err() || !(proto == "tcp" || proto == "udp") {
                        return Err(p.err(line, format!("`{port}` is not a port")));
                    }
                    config.ports.push(format!("{num}/{proto}"));
                }
            }
            "ENTRYPOINT" => config.entrypoint = Some(exec_form(rest)),
            "CMD" => config.cmd = Some(exec_form(rest)),
            "USER" => config.user = Some(p.subst(line, rest)?),
            "STOPSIGNAL" => config.stop_signal = Some(p.subst(line, rest)?),
            "VOLUME" => {
                let v = p.subst(line, rest)?;
                let vols = if v.trim_start().starts_with('[') {
                    serde_json::from_str::<Vec<String>>(&v).map_err(|e| p.err(line, format!("VOLUME: {e}")))?
                } else {
                    words(line, dockerfile, &v)?
                };
                config.volumes.extend(vols);
            }
            "COPY" | "ADD" => layers.push(copy(p, line, &instr, rest)?),
            "RUN" => {
                return Err(OciError::Dockerfile {
                    path: dockerfile.to_path_buf(),
                    line,
                    message: format!("RUN needs a container runtime, which hoist's native builder does not use: `RUN {rest}`"),
                    hint: Some("move this step into a base image (build it once, then `hoist image import`), or use `--builder docker`".into()),
                });
            }
            other => {
                return Err(OciError::Dockerfile {
                    path: dockerfile.to_path_buf(),
                    line,
                    message: format!("{other} is not supported by the native builder"),
                    hint: Some("supported: FROM, COPY, ADD, ENV, ARG, WORKDIR, EXPOSE, ENTRYPOINT, CMD, LABEL, USER, VOLUME, STOPSIGNAL; or use `--builder docker`".into()),
                });
            }
        }
    }
    Ok(())
}

fn copy(p: &Parser, line: usize, instr: &str, rest: &str) -> Result<LayerSpec, OciError> {
    let rest_s = p.subst(line, rest)?;
    let mut w = if rest_s.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<String>>(&rest_s).map_err(|e| p.err(line, format!("{instr}: {e}")))?
    } else {
        words(line, p.path, &rest_s)?
    };
    while w.first().is_some_and(|a| a.starts_with("--")) {
        let opt = w.remove(0);
        let ok = opt.strip_prefix("--chown=").is_some_and(|o| matches!(o, "0" | "0:0" | "root" | "root:root"));
        if !ok {
            return Err(p.err(line, format!("{instr} option `{opt}` is not supported (files are owned by 0:0)")));
        }
    }
    if w.len() < 2 {
        return Err(p.err(line, format!("{instr} needs a source and a destination")));
    }
    let dest_raw = w.pop().expect("len >= 2");
    let dest_abs = if dest_raw.starts_with('/') {
        dest_raw.clone()
    } else {
        format!("{}/{}", p.workdir.trim_end_matches('/'), dest_raw)
    };
    if dest_raw.split('/').any(|c| c == "..") {
        let cleaned = go_clean(&dest_abs);
        return Err(p.err_hint(
            line,
            format!("{instr}: the destination `{dest_raw}` climbs with `..`"),
            format!("write the destination without `..`, e.g. `{cleaned}`"),
        ));
    }
    // No tar header can hold a NUL byte: caught here, the layer write would fail with exit 2.
    if dest_abs.contains('\0') {
        return Err(p.err(line, format!("{instr}: the destination `{}` contains a NUL byte", dest_abs.escape_debug())));
    }
    let dest_is_dir = dest_raw.ends_with('/') || dest_raw == "." || w.len() > 1;
    let mut layer = LayerSpec::new(format!("{instr} {rest}"));
    let ignore_file = p.ignore.file().map(|f| f.display().to_string()).unwrap_or_default();
    let excluded = |src: &str| {
        p.err_hint(
            line,
            format!("{instr}: `{src}` is not in the context: {ignore_file} excludes it"),
            "remove the pattern from .dockerignore (or add a `!` exception), or copy another file",
        )
    };
    for src in &w {
        if src.contains("://") {
            return Err(p.err(
                line,
                format!("{instr} from a URL (`{src}`) is not supported; download it into the context first"),
            ));
        }
        // Sources are relative to the context, also when written with a leading `/`.
        let rel_src = src.trim_start_matches('/');
        let lexical = go_clean(if rel_src.is_empty() { "." } else { rel_src });
        if lexical == ".." || lexical.starts_with("../") {
            return Err(p.err(line, format!("{instr}: `{src}` is outside the context {}", p.context.display())));
        }
        let globbed = rel_src.contains(['*', '?', '[']);
        let candidates: Vec<PathBuf> = if globbed {
            let pattern = p.context.join(rel_src).to_string_lossy().into_owned();
            let mut m: Vec<PathBuf> = glob::glob(&pattern)
                .map_err(|e| p.err(line, format!("`{src}`: {e}")))?
                .filter_map(Result::ok)
                .collect();
            m.sort();
            m
        } else {
            vec![p.context.join(&lexical)]
        };
        let mut found = 0;
        let mut left_out = 0;
        for path in candidates {
            let real = resolve_inside(&path, &p.context).map_err(|e| match e {
                OciError::Missing { .. } => {
                    p.err(line, format!("{instr}: `{src}` is not in the context {}", p.context.display()))
                }
                // The name as written cannot be a path here (a NUL byte, too long, a file
                // used as a directory, a link loop): the Dockerfile's to fix, not exit 2.
                OciError::Io { source, .. } => p.err(line, format!("{instr}: `{src}` cannot be resolved: {source}")),
                other => other,
            })?;
            let rel_of = |q: &Path| q.strip_prefix(&p.context).map(|r| r.to_string_lossy().into_owned());
            let lexical_rel = rel_of(&path).unwrap_or_else(|_| lexical.clone());
            let real_rel = rel_of(&real).unwrap_or_default();
            let is_dir = real.is_dir();
            // Both the path as written and what it resolves to must be in the context Docker
            // sends: an excluded link is not sent, nor is an excluded link target.
            if !p.ignore.present(&lexical_rel, is_dir) || !p.ignore.present(&real_rel, is_dir) {
                if globbed {
                    left_out += 1;
                    continue;
                }
                return Err(excluded(src));
            }
            found += 1;
            // Named as written (a link copied as a file keeps the link's name, as in Docker).
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if is_dir {
                let mut walker = p.ignore.walker_at(&real_rel);
                let base = real_rel.clone();
                layer.add_tree_with(&real, &dest_abs, false, false, &mut |rel, is_dir| {
                    let path = match (base.is_empty(), rel.is_empty()) {
                        (_, true) => base.clone(),
                        (true, false) => rel.to_string(),
                        (false, false) => format!("{base}/{rel}"),
                    };
                    walker.visit(&path, is_dir)
                })?;
            } else if instr == "ADD" && is_tar_name(&name) {
                add_tar(p, &mut layer, &real, &dest_abs)?;
            } else {
                let target =
                    if dest_is_dir { format!("{}/{}", dest_abs.trim_end_matches('/'), name) } else { dest_abs.clone() };
                layer.add_file(&target, &real, None)?;
            }
        }
        if found == 0 && globbed {
            let why = if left_out > 0 { format!(" ({left_out} excluded by .dockerignore)") } else { String::new() };
            return Err(p.err(line, format!("{instr}: no file in the context matches `{src}`{why}")));
        }
    }
    Ok(layer)
}

/// A Dockerfile that is not UTF-8 is the user's to fix: say on which line it stops being text.
fn not_utf8(path: &Path, e: &std::string::FromUtf8Error) -> OciError {
    let at = e.utf8_error().valid_up_to();
    let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    OciError::Dockerfile {
        path: path.to_path_buf(),
        line,
        message: format!("not UTF-8 text (byte {at})"),
        hint: Some("save the Dockerfile as UTF-8".into()),
    }
}

fn is_tar_name(name: &str) -> bool {
    [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"].iter().any(|s| name.ends_with(s))
}

/// ADD of a local tar: unpacked (within the limits) into a locked scratch directory that the
/// layer keeps alive, so the layer reads its files from disk when it is written.
fn add_tar(p: &Parser, layer: &mut LayerSpec, tar: &Path, dest: &str) -> Result<(), OciError> {
    let tmp = std::env::temp_dir();
    crate::scratch::sweep(&tmp, &[ADD_PREFIX]);
    let scratch = crate::scratch::temp_dir(&tmp, ADD_PREFIX).map_err(OciError::io(&tmp))?;
    crate::archive::extract_tar(tar, scratch.path(), &p.limits)?;
    // The scratch root itself is not an entry: the destination gets the usual 0755 dirs.
    layer.add_tree_with(scratch.path(), dest, true, false, &mut |rel, _| {
        if rel.is_empty() { Visit::SkipSelf } else { Visit::Keep }
    })?;
    layer.keep_alive(Arc::new(scratch));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn logical_lines_join_continuations_and_keep_line_numbers() {
        let l = super::logical_lines("# c\nFROM x\n\nENV A=1 \\\n  B=2\nRUN y\n");
        assert_eq!(l, [(2, "FROM x".to_string()), (4, "ENV A=1  B=2".to_string()), (6, "RUN y".to_string())]);
    }

    #[test]
    fn words_honour_quotes() {
        let w = super::words(1, std::path::Path::new("D"), r#"a="b c" d='e f' g\ h"#).unwrap();
        assert_eq!(w, ["a=b c", "d=e f", "g h"]);
    }

    #[test]
    fn exec_and_shell_forms() {
        assert_eq!(super::exec_form(r#"["java", "-jar", "/a.jar"]"#), ["java", "-jar", "/a.jar"]);
        assert_eq!(super::exec_form("echo hi"), ["/bin/sh", "-c", "echo hi"]);
    }

    #[test]
    fn a_source_that_cannot_be_a_path_is_a_user_error_at_its_line() {
        // Found by `cargo fuzz run dockerfile`: a NUL byte or an over-long name in a COPY
        // source was an I/O error, exit 2.
        use hoist_diag::{Diagnostic, Exit};
        let dir = tempfile::tempdir().unwrap();
        let dockerfile = dir.path().join("Dockerfile");
        let long = "a".repeat(300);
        for source in ["app\0.jar", long.as_str(), "Dockerfile/x"] {
            std::fs::write(&dockerfile, format!("FROM scratch\nCOPY {source} /app/\n")).unwrap();
            let e = super::plan(&dockerfile, dir.path(), &Default::default()).unwrap_err();
            assert!(matches!(e, crate::OciError::Dockerfile { line: 2, .. }), "{source}: {e:?}");
            assert_eq!(e.exit(), Exit::User, "{source}: {e}");
        }
    }

    #[test]
    fn a_destination_with_a_nul_byte_is_a_user_error_at_its_line() {
        // Found by `cargo fuzz run dockerfile`: the layer's tar header refused it, exit 2.
        use hoist_diag::{Diagnostic, Exit};
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.jar"), b"jar").unwrap();
        let dockerfile = dir.path().join("Dockerfile");
        for text in ["FROM scratch\nCOPY app.jar /app\0/\n", "FROM scratch\nWORKDIR /a\0b\nCOPY app.jar .\n"] {
            std::fs::write(&dockerfile, text).unwrap();
            let e = super::plan(&dockerfile, dir.path(), &Default::default()).unwrap_err();
            assert!(matches!(e, crate::OciError::Dockerfile { .. }), "{text:?}: {e:?}");
            assert!(e.to_string().contains("NUL byte"), "{e}");
            assert_eq!(e.exit(), Exit::User);
        }
    }

    #[test]
    fn a_dockerfile_that_is_not_utf8_is_a_user_error_at_its_line() {
        // Found by `cargo fuzz run dockerfile`: this was an I/O error, exit 2.
        use hoist_diag::{Diagnostic, Exit};
        let dir = tempfile::tempdir().unwrap();
        let dockerfile = dir.path().join("Dockerfile");
        std::fs::write(&dockerfile, b"FROM debian:12 AS build\nRUN apt-get \xf5pdate\n").unwrap();
        let e = super::plan(&dockerfile, dir.path(), &Default::default()).unwrap_err();
        assert!(matches!(e, crate::OciError::Dockerfile { line: 2, .. }), "{e:?}");
        assert_eq!(e.exit(), Exit::User);
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }
}
