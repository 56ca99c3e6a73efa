//! The Dockerfile subset hoist builds natively: FROM, COPY, ADD (local files and local
//! tars), ENV, ARG, WORKDIR, EXPOSE, ENTRYPOINT, CMD, SHELL, LABEL, USER, VOLUME, STOPSIGNAL.
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
//!
//! As in Docker, a source written with a leading `/` is relative to the context, and a
//! shell-form ENTRYPOINT/CMD runs as `["/bin/sh", "-c", "<text>"]` (or what SHELL set);
//! [`DockerfilePlan::check_shell`] refuses one whose image has no such shell, since the
//! container could never start. With [`PlanOptions::split_jars`] a Spring Boot fat jar
//! that the command runs with `java -jar` is exploded into the layers the artifact build
//! makes, and the command's `-jar <jar>` becomes `-cp <dir> <Main-Class>`; a COPY of a
//! thin jar with the jars its `Class-Path` names puts those in layers of their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::archive::ArchiveLimits;
use crate::dockerignore::{DockerIgnore, go_clean};
use crate::error::OciError;
use crate::image::ConfigSpec;
use crate::layer::{LayerSpec, Visit, image_path, resolve_inside};
use crate::layout::Layout;
use crate::rootfs::RootFs;

/// Prefix of the scratch directories (in `$TMPDIR`) that ADD unpacks a local tar into.
const ADD_PREFIX: &str = ".hoist-add-";

/// What a Dockerfile describes, ready for [`crate::ImagePlan`].
#[derive(Debug, Clone)]
pub struct DockerfilePlan {
    /// The FROM ref, `None` for `FROM scratch`.
    pub base: Option<String>,
    pub layers: Vec<LayerSpec>,
    pub config: ConfigSpec,
    /// What jar layering did to a COPY, or why it left one whole: said to the user.
    pub notes: Vec<String>,
    /// The shell that the image's command runs (a shell-form ENTRYPOINT, or CMD without one).
    pub shell: Option<ShellUse>,
    /// The Dockerfile, for errors found after planning.
    pub path: PathBuf,
}

/// A shell-form ENTRYPOINT or CMD: the program it runs (`/bin/sh` unless SHELL says) and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellUse {
    pub line: usize,
    pub instr: &'static str,
    pub program: String,
    /// The command as written.
    pub text: String,
}

/// How a Dockerfile is planned.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Bounds ADD holds local tars to.
    pub limits: ArchiveLimits,
    /// Explode a Spring Boot fat jar that the command runs with `java -jar` into dependency
    /// and application layers (a service's `layering = "auto"`).
    pub split_jars: bool,
}

/// Where an ENTRYPOINT or CMD was set; `shell_text` is the command of a shell form.
#[derive(Debug, Clone)]
struct CmdLine {
    line: usize,
    instr: &'static str,
    shell_text: Option<String>,
}

/// A COPY/ADD of exactly one jar file: its layer, the jar (in the context) and its image path.
#[derive(Debug, Clone)]
struct JarCopy {
    layer: usize,
    line: usize,
    source: PathBuf,
    dest: String,
}

struct Parser<'a> {
    path: &'a Path,
    context: PathBuf,
    ignore: DockerIgnore,
    limits: ArchiveLimits,
    args: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    workdir: String,
    /// SHELL, `["/bin/sh", "-c"]` unless set.
    shell: Vec<String>,
    entrypoint_at: Option<CmdLine>,
    cmd_at: Option<CmdLine>,
    jar_copies: Vec<JarCopy>,
    split_jars: bool,
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

/// `["a", "b"]` (JSON form), or shell form: the SHELL (`/bin/sh -c`) with the text as its
/// last argument, and the text. A `[` that is not a JSON string array is shell form, as in
/// Docker.
fn exec_form(shell: &[String], text: &str) -> (Vec<String>, Option<String>) {
    let t = text.trim();
    if t.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(t)
    {
        return (v, None);
    }
    let mut argv = shell.to_vec();
    argv.push(t.to_string());
    (argv, Some(t.to_string()))
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

/// Read and plan a Dockerfile as Docker builds it (jars copied whole).
/// `build_args` are `--build-arg` values for declared ARGs.
pub fn plan(
    dockerfile: &Path,
    context: &Path,
    build_args: &BTreeMap<String, String>,
) -> Result<DockerfilePlan, OciError> {
    plan_with(dockerfile, context, build_args, &PlanOptions::default())
}

/// As [`plan`], with options.
pub fn plan_with(
    dockerfile: &Path,
    context: &Path,
    build_args: &BTreeMap<String, String>,
    options: &PlanOptions,
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
        limits: options.limits,
        args: BTreeMap::new(),
        env: BTreeMap::new(),
        workdir: "/".into(),
        shell: vec!["/bin/sh".into(), "-c".into()],
        entrypoint_at: None,
        cmd_at: None,
        jar_copies: Vec::new(),
        split_jars: options.split_jars,
    };
    let mut base: Option<Option<String>> = None;
    let mut layers = Vec::new();
    let mut config = ConfigSpec { default_path: true, ..ConfigSpec::default() };
    for (line, text) in logical_lines(&text) {
        instruction(&mut p, build_args, line, &text, &mut base, &mut layers, &mut config)
            .map_err(|e| p.at_line(line, e))?;
    }
    let base = base.ok_or_else(|| p.err(1, "no FROM line"))?;
    // The command the container runs: ENTRYPOINT, else CMD (an exec-form ENTRYPOINT takes
    // a shell-form CMD as plain arguments).
    let (at, argv) = match (&p.entrypoint_at, &p.cmd_at) {
        (Some(at), _) => (Some(at.clone()), &mut config.entrypoint),
        (None, at) => (at.clone(), &mut config.cmd),
    };
    let mut notes = Vec::new();
    if options.split_jars {
        explode_jars(&p, at.as_ref(), argv, &mut layers, &mut notes)?;
    }
    let shell = at.and_then(|at| {
        let text = at.shell_text?;
        Some(ShellUse { line: at.line, instr: at.instr, program: p.shell[0].clone(), text })
    });
    Ok(DockerfilePlan { base, layers, config, notes, shell, path: dockerfile.to_path_buf() })
}

impl DockerfilePlan {
    fn skipped_note(&self, base: &str, program: &str) -> String {
        format!(
            "{}: `{base}` is not checked for the `{program}` its shell-form command runs: its layers are not in the layout (a registry base's are never downloaded to build)",
            self.path.display()
        )
    }

    /// A shell-form command runs its shell: refuse an image whose file system (the base's
    /// layers in `layout`, then this Dockerfile's) has none, naming the line and the fix.
    /// A base that is not in the layout, or whose layers are not, cannot be looked into
    /// and passes: a plan (`--dry-run`) needs no base yet, and the build names a missing one.
    /// A base without its layers passes with a note saying it was not checked.
    pub fn check_shell(&self, layout: &Layout) -> Result<Option<String>, OciError> {
        let Some(shell) = &self.shell else { return Ok(None) };
        let mut fs = match &self.base {
            None => RootFs::default(),
            Some(base) => {
                let image = match layout.image_for(base, &crate::Platform::default_target()) {
                    Ok(image) => image,
                    Err(OciError::RefNotFound { .. } | OciError::NoPlatform { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                };
                match RootFs::of_image(layout, &image)? {
                    Some(fs) => fs,
                    // A base from a registry: its layers are never downloaded to build, so
                    // its file system cannot be looked into.
                    None => return Ok(Some(self.skipped_note(base, &shell.program))),
                }
            }
        };
        for layer in &self.layers {
            fs.add_layer(layer);
        }
        if fs.is_file(&shell.program) {
            return Ok(None);
        }
        let image = self.base.as_deref().map(|b| format!("the base image `{b}`")).unwrap_or("`scratch`".into());
        let words: Vec<&str> = shell.text.split_whitespace().collect();
        let example = if shell.text.contains(['"', '\'', '\\', '$', '|', '&', ';', '<', '>', '`']) {
            format!("{} [\"executable\", \"arg\", …]", shell.instr)
        } else {
            format!(
                "{} {}",
                shell.instr,
                serde_json::to_string(&words).expect("strings serialise").replace("\",\"", "\", \"")
            )
        };
        Err(OciError::Dockerfile {
            path: self.path.clone(),
            line: shell.line,
            message: format!(
                "shell-form {} `{}` runs `{} -c`, and {image} has no {}",
                shell.instr, shell.text, shell.program, shell.program
            ),
            hint: Some(format!("write the exec form, `{example}`, or build FROM a base image with a shell")),
        })
    }
}

/// Explode each Spring Boot fat jar a single-jar COPY brought in, when the command runs it
/// with `java -jar`: its layer becomes the artifact build's layers under the jar's
/// directory, and `-jar <jar>` becomes `-cp <dir> <Main-Class>`. A jar the command does not
/// run that way (an agent, a library, a wrapper script) is kept whole, with a note.
fn explode_jars(
    p: &Parser,
    at: Option<&CmdLine>,
    argv: &mut Option<Vec<String>>,
    layers: &mut Vec<LayerSpec>,
    notes: &mut Vec<String>,
) -> Result<(), OciError> {
    let shown = p.path.display();
    let workdir = p.workdir.clone();
    for jar in p.jar_copies.iter().rev() {
        let dir = jar.dest.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
        let Some(exploded) = crate::jar::exploded_spring_boot(&jar.source, dir).map_err(|e| p.at_line(jar.line, e))?
        else {
            continue;
        };
        let whole = |why: &str| format!("{shown}:{}: the Spring Boot jar {} is kept whole: {why}", jar.line, jar.dest);
        if dir.is_empty() {
            notes.push(whole("it is copied to `/`, which it would be exploded into; copy it into a directory"));
            continue;
        }
        let runs = |arg: &str| {
            let abs = if arg.starts_with('/') { arg.to_string() } else { format!("{workdir}/{arg}") };
            go_clean(&abs) == jar.dest
        };
        let launcher = &exploded.entrypoint[1..]; // `-cp <dir> <Main-Class>`
        let (Some(at), Some(current)) = (at, argv.as_ref()) else {
            notes.push(whole("the Dockerfile sets no ENTRYPOINT or CMD that runs it"));
            continue;
        };
        let rewritten = match &at.shell_text {
            None => crate::jar::replace_dash_jar(current, runs, launcher),
            Some(_) => {
                let text = current.last().expect("a shell form ends with its text");
                shell_replace_dash_jar(text, runs, launcher).map(|t| {
                    let mut v = current[..current.len() - 1].to_vec();
                    v.push(t);
                    v
                })
            }
        };
        let Some(rewritten) = rewritten else {
            notes.push(whole(&format!("its {} does not run it with `java -jar {}`", at.instr, jar.dest)));
            continue;
        };
        *argv = Some(rewritten);
        let copy = layers[jar.layer].description.clone();
        let parts: Vec<LayerSpec> = exploded
            .layers
            .into_iter()
            .map(|mut l| {
                l.description = format!("{copy} ({})", l.description);
                l
            })
            .collect();
        notes.push(format!(
            "{shown}:{}: the Spring Boot jar {} is exploded into {dir} as {} layers ({}); the {} runs `{}`",
            jar.line,
            jar.dest,
            parts.len(),
            parts
                .iter()
                .map(|l| l.description.rsplit_once(" (").map(|(_, n)| n.trim_end_matches(')')).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(", "),
            at.instr,
            launcher.join(" "),
        ));
        layers.splice(jar.layer..=jar.layer, parts);
    }
    Ok(())
}

/// A COPY that brings a thin jar together with the jars its `Class-Path` names (a
/// directory with `app.jar` and `lib/`): those jars move to a dependencies layer (and a
/// snapshot-dependencies one), the rest stays. Every file keeps its path, so the image's
/// file system and command are what Docker makes; only the layer boundaries differ.
fn split_thin_jars(mut layer: LayerSpec) -> Result<Vec<LayerSpec>, OciError> {
    let mut deps = std::collections::BTreeSet::new();
    for (path, entry) in layer.entries() {
        let crate::layer::Entry::File { source: crate::layer::Source::Path(source), .. } = entry else { continue };
        if !(path.ends_with(".jar") || path.ends_with(".war")) {
            continue;
        }
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        for e in crate::jar::class_path(source)? {
            if let Ok(rel) = image_path(&format!("{dir}/{e}"))
                && rel != *path
                && matches!(layer.entries().get(&rel), Some(crate::layer::Entry::File { .. }))
            {
                deps.insert(rel);
            }
        }
    }
    if deps.is_empty() {
        return Ok(vec![layer]);
    }
    let copy = layer.description.clone();
    let released = layer.split_off(format!("{copy} (dependencies)"), |p| deps.contains(p) && !p.contains("SNAPSHOT"));
    let snapshots = layer.split_off(format!("{copy} (snapshot-dependencies)"), |p| deps.contains(p));
    layer.description = format!("{copy} (application)");
    Ok([released, snapshots, layer].into_iter().filter(|l| !l.is_empty()).collect())
}

/// `-jar <jar>` in a shell-form command replaced by `launcher`, when it can be found as two
/// plain words before any quoting, and the launcher's words need no quoting; else `None`.
fn shell_replace_dash_jar(text: &str, runs: impl Fn(&str) -> bool, launcher: &[String]) -> Option<String> {
    let plain = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c));
    if !launcher.iter().all(|w| plain(w)) {
        return None;
    }
    let mut words = Vec::new(); // (start, end)
    let mut start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    for pair in words.windows(2) {
        let ((a, b), (c, d)) = (pair[0], pair[1]);
        if !plain(&text[..d].replace(char::is_whitespace, "_")) {
            return None; // quoting, expansion or an operator before the jar: not ours to edit
        }
        if &text[a..b] == "-jar" && runs(&text[c..d]) {
            return Some(format!("{}{}{}", &text[..a], launcher.join(" "), &text[d..]));
        }
    }
    None
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
            "ENTRYPOINT" | "CMD" => {
                let (argv, shell_text) = exec_form(&p.shell, rest);
                let at = Some(CmdLine { line, instr: if instr == "CMD" { "CMD" } else { "ENTRYPOINT" }, shell_text });
                if instr == "CMD" {
                    config.cmd = Some(argv);
                    p.cmd_at = at;
                } else {
                    config.entrypoint = Some(argv);
                    p.entrypoint_at = at;
                }
            }
            "SHELL" => {
                let shell =
                    serde_json::from_str::<Vec<String>>(rest).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
                        p.err(
                            line,
                            format!("SHELL needs the JSON form, e.g. `SHELL [\"/bin/sh\", \"-c\"]`, not `{rest}`"),
                        )
                    })?;
                p.shell = shell.clone();
                config.shell = Some(shell);
            }
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
            "COPY" | "ADD" => {
                let (layer, jar) = copy(p, line, &instr, rest)?;
                match (p.split_jars, jar.is_none()) {
                    (true, true) => layers.extend(split_thin_jars(layer).map_err(|e| p.at_line(line, e))?),
                    _ => layers.push(layer),
                }
                if let Some((source, dest)) = jar {
                    p.jar_copies.push(JarCopy { layer: layers.len() - 1, line, source, dest });
                }
            }
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
                    hint: Some("supported: FROM, COPY, ADD, ENV, ARG, WORKDIR, EXPOSE, ENTRYPOINT, CMD, SHELL, LABEL, USER, VOLUME, STOPSIGNAL; or use `--builder docker`".into()),
                });
            }
        }
    }
    Ok(())
}

/// One COPY/ADD as a layer, and the jar and its image path when it copies exactly one jar.
fn copy(p: &Parser, line: usize, instr: &str, rest: &str) -> Result<(LayerSpec, Option<(PathBuf, String)>), OciError> {
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
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut other = false; // a directory or a tar
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
                other = true;
            } else if instr == "ADD" && is_tar_name(&name) {
                add_tar(p, &mut layer, &real, &dest_abs)?;
                other = true;
            } else {
                let target =
                    if dest_is_dir { format!("{}/{}", dest_abs.trim_end_matches('/'), name) } else { dest_abs.clone() };
                layer.add_file(&target, &real, None)?;
                files.push((real.clone(), format!("/{}", image_path(&target)?)));
            }
        }
        if found == 0 && globbed {
            let why = if left_out > 0 { format!(" ({left_out} excluded by .dockerignore)") } else { String::new() };
            return Err(p.err(line, format!("{instr}: no file in the context matches `{src}`{why}")));
        }
    }
    let jar = match files.as_slice() {
        [(source, dest)] if !other && (dest.ends_with(".jar") || dest.ends_with(".war")) => {
            Some((source.clone(), dest.clone()))
        }
        _ => None,
    };
    Ok((layer, jar))
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
        let sh: Vec<String> = vec!["/bin/sh".into(), "-c".into()];
        let cases: &[(&str, &[&str], bool)] = &[
            (r#"["java", "-jar", "/a.jar"]"#, &["java", "-jar", "/a.jar"], false),
            ("echo hi", &["/bin/sh", "-c", "echo hi"], true),
            ("java -jar app.jar", &["/bin/sh", "-c", "java -jar app.jar"], true),
            // Not a JSON string array: shell form, as Docker takes it.
            ("[java, -jar]", &["/bin/sh", "-c", "[java, -jar]"], true),
            (r#"["java", 1]"#, &["/bin/sh", "-c", r#"["java", 1]"#], true),
        ];
        for (text, argv, shell) in cases {
            let (got, shell_text) = super::exec_form(&sh, text);
            assert_eq!(got, *argv, "{text}");
            assert_eq!(shell_text.is_some(), *shell, "{text}");
        }
        let bash: Vec<String> = vec!["/bin/bash".into(), "-eu".into(), "-c".into()];
        assert_eq!(super::exec_form(&bash, "run").0, ["/bin/bash", "-eu", "-c", "run"]);
    }

    #[test]
    fn shell_form_dash_jar_is_rewritten_only_when_plain() {
        let launcher: Vec<String> =
            ["-cp", "/app", "org.springframework.boot.loader.launch.JarLauncher"].map(String::from).to_vec();
        let runs = |j: &str| j == "app.jar" || j == "/app/app.jar";
        let cases: &[(&str, Option<&str>)] = &[
            ("java -jar app.jar", Some("java -cp /app org.springframework.boot.loader.launch.JarLauncher")),
            (
                "java -Xmx512m  -jar /app/app.jar --server.port=8081",
                Some("java -Xmx512m  -cp /app org.springframework.boot.loader.launch.JarLauncher --server.port=8081"),
            ),
            ("exec java -jar app.jar", Some("exec java -cp /app org.springframework.boot.loader.launch.JarLauncher")),
            // After the jar the text is kept as it is.
            (
                "java -jar app.jar \"$@\"",
                Some("java -cp /app org.springframework.boot.loader.launch.JarLauncher \"$@\""),
            ),
            ("java $JAVA_OPTS -jar app.jar", None),
            ("java -Dx='a b' -jar app.jar", None),
            ("java -jar other.jar", None),
            ("java -jar", None),
            ("./run.sh", None),
        ];
        for (text, expected) in cases {
            assert_eq!(super::shell_replace_dash_jar(text, runs, &launcher).as_deref(), *expected, "{text}");
        }
        let spaced: Vec<String> = ["-cp", "/my app", "L"].map(String::from).to_vec();
        assert_eq!(super::shell_replace_dash_jar("java -jar app.jar", runs, &spaced), None);
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
