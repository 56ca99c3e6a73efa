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

/// Read every manifest under `paths`: a file, or a directory's `*.yaml`, `*.yml` and
/// `*.json` files (not recursive, in name order, as `kubectl apply -f DIR`).
pub fn load(paths: &[PathBuf]) -> Result<Vec<Document>, ManifestError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| ManifestError::Read { path: path.clone(), source })?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|source| ManifestError::Read { path: path.clone(), source })?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && is_manifest(p))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(ManifestError::EmptyDir { path: path.clone() });
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut docs = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|source| ManifestError::Read { path: file.clone(), source })?;
        docs.extend(parse(&text, &file)?);
    }
    Ok(docs)
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
