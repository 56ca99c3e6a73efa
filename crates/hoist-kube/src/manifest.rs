//! Reading manifests: files, directories and multi-document YAML, each document checked
//! against its Kubernetes type (k8s-openapi) so a typo fails before anything is applied.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::ManifestError;
use crate::kinds;
use crate::yaml::{Map, Value};

/// One object from a manifest file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file it came from.
    pub source: PathBuf,
    /// Its position among the file's non-empty documents, from 0.
    pub index: usize,
    pub value: Value,
}

/// Where an object lives: what kubectl prints as `kind/name -n namespace`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{} -n {ns}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

impl Document {
    fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.value.pointer(path).and_then(Value::as_str)
    }
    pub fn kind(&self) -> &str {
        self.str_at(&["kind"]).unwrap_or_default()
    }
    pub fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"]).unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"]).unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<&str> {
        self.str_at(&["metadata", "namespace"])
    }
    /// `file#index (Kind/name)` for messages.
    pub fn describe(&self) -> String {
        format!("{} document {} ({}/{})", self.source.display(), self.index, self.kind(), self.name())
    }

    /// The object's identity; `default_ns` fills in the namespace of namespaced kinds.
    pub fn object_ref(&self, default_ns: &str) -> ObjectRef {
        let namespaced = kinds::is_namespaced(self.api_version(), self.kind()).unwrap_or(true);
        ObjectRef {
            api_version: self.api_version().to_string(),
            kind: self.kind().to_string(),
            namespace: namespaced.then(|| self.namespace().unwrap_or(default_ns).to_string()),
            name: self.name().to_string(),
        }
    }

    /// `metadata.labels`, created when missing.
    pub fn labels_mut(&mut self) -> &mut Map {
        let root = match &mut self.value {
            Value::Map(m) => m,
            _ => unreachable!("documents are mappings (checked when loaded)"),
        };
        root.entry_map("metadata").entry_map("labels")
    }
}

/// What one path of `[deploy.kubernetes] manifests` (or the command line) gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// As given.
    pub path: PathBuf,
    pub is_dir: bool,
    pub files: usize,
    pub objects: usize,
}

/// The documents read, and where from.
#[derive(Debug, Clone)]
pub struct Manifests {
    pub docs: Vec<Document>,
    pub inputs: Vec<Input>,
}

impl Manifests {
    /// `read 19 objects from 18 files under k8s`, each path shown by `shown`.
    pub fn summary(&self, shown: &dyn Fn(&Path) -> String) -> String {
        let count = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let parts: Vec<String> = self
            .inputs
            .iter()
            .map(|i| {
                let objects = count(i.objects, "object", "objects");
                if i.is_dir {
                    format!("{objects} from {} under {}", count(i.files, "file", "files"), shown(&i.path))
                } else {
                    format!("{objects} from {}", shown(&i.path))
                }
            })
            .collect();
        format!("read {}", parts.join(", "))
    }
}

/// Read every manifest under `paths`: a file, or every `*.yaml`, `*.yml` and `*.json`
/// file under a directory ([`read`]).
pub fn load(paths: &[PathBuf]) -> Result<Vec<Document>, ManifestError> {
    Ok(read(paths)?.docs)
}

/// Read every manifest under `paths`, saying how many objects each path gave.
///
/// A directory is read recursively (`kubectl apply -R`), its files in path order, so the
/// same tree always gives the same stream. Names starting with `.` are skipped (editor
/// files, `.git`), as are other extensions; a directory that holds no manifest at all is
/// an error, so that a wrong path never reads as "no objects" (and prunes everything).
/// Symbolic links are followed only while they stay inside the directory.
pub fn read(paths: &[PathBuf]) -> Result<Manifests, ManifestError> {
    let mut docs = Vec::new();
    let mut inputs = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| ManifestError::Read { path: path.clone(), source })?;
        let files = if meta.is_dir() {
            let root =
                std::fs::canonicalize(path).map_err(|source| ManifestError::Read { path: path.clone(), source })?;
            let mut found = Vec::new();
            walk(&root, path, &mut vec![root.clone()], &mut found)?;
            found.sort();
            // A file reached twice through links is read once, where it comes first.
            let mut canonical = std::collections::BTreeSet::new();
            found.retain(|f| canonical.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
            if found.is_empty() {
                return Err(ManifestError::EmptyDir { path: path.clone() });
            }
            found
        } else {
            vec![path.clone()]
        };
        let before = docs.len();
        for file in &files {
            let text =
                std::fs::read_to_string(file).map_err(|source| ManifestError::Read { path: file.clone(), source })?;
            docs.extend(parse(&text, file)?);
        }
        inputs.push(Input {
            path: path.clone(),
            is_dir: meta.is_dir(),
            files: files.len(),
            objects: docs.len() - before,
        });
    }
    Ok(Manifests { docs, inputs })
}

/// The manifest files under `dir` (inside `root`, canonical), into `out`; `up` holds the
/// directories `dir` is in, so a link back up the tree is not followed round.
fn walk(root: &Path, dir: &Path, up: &mut Vec<PathBuf>, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManifestError::Read { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(read_err(dir))? {
        let entry = entry.map_err(read_err(dir))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let mut file_type = entry.file_type().map_err(read_err(&path))?;
        let mut real = path.clone();
        if file_type.is_symlink() {
            real = std::fs::canonicalize(&path).map_err(read_err(&path))?;
            if !real.starts_with(root) {
                return Err(ManifestError::LinkOutside { link: path, target: real, root: root.to_path_buf() });
            }
            file_type = std::fs::metadata(&real).map_err(read_err(&path))?.file_type();
        }
        if file_type.is_dir() {
            let canonical = std::fs::canonicalize(&real).map_err(read_err(&path))?;
            if !up.contains(&canonical) {
                up.push(canonical);
                walk(root, &path, up, out)?;
                up.pop();
            }
        } else if file_type.is_file() && is_manifest(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Parse one file's text (named `source` in errors) into checked documents.
pub fn parse(text: &str, source: &Path) -> Result<Vec<Document>, ManifestError> {
    let values: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let message = e.without_snippet().to_string();
        ManifestError::Yaml { path: source.to_path_buf(), line, column, message }
    })?;
    let mut docs = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        let doc = Document { source: source.to_path_buf(), index, value };
        check(&doc)?;
        docs.push(doc);
    }
    Ok(docs)
}

/// The shape every object needs, then its Kubernetes type where hoist knows it.
fn check(doc: &Document) -> Result<(), ManifestError> {
    let invalid = |field: &str, message: String| ManifestError::Invalid {
        path: doc.source.clone(),
        index: doc.index,
        field: field.to_string(),
        message,
    };
    if doc.value.as_map().is_none() {
        return Err(invalid("", "a Kubernetes object must be a mapping".into()));
    }
    for (path, field) in
        [(&["apiVersion"][..], "apiVersion"), (&["kind"], "kind"), (&["metadata", "name"], "metadata.name")]
    {
        if doc.value.pointer(path).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(invalid(field, format!("`{field}` is required and must be a string")));
        }
    }
    if doc.kind().ends_with("List") {
        return Err(invalid(
            "kind",
            format!("`{}` is not supported; list the items as separate documents", doc.kind()),
        ));
    }
    kinds::validate(doc.api_version(), doc.kind(), doc.value.to_json())
        .map_err(|(field, message)| invalid(&field, message))
}
