//! What an image's file system holds at a path, read from its layers in the layout as the
//! runtime stacks them (whiteouts and opaque directories applied, symlinks followed), so a
//! build can tell that a command it sets names a program the image does not have.
//!
//! Only tar headers are read; file contents are skipped. A base whose layer blobs are not
//! in the layout (pulled as manifest and config only) gives `None`: nothing can be told.

use std::collections::BTreeMap;
use std::io::Read;

use crate::error::OciError;
use crate::layer::{Entry, LayerSpec, image_path};
use crate::layout::{Image, Layout};

/// Symlinks followed on one lookup before giving up, as Linux does (`ELOOP`).
const MAX_LINKS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File,
    Link(String),
}

/// The merged file system of some layers: image paths (no leading `/`) to what is there.
#[derive(Debug, Clone, Default)]
pub struct RootFs {
    nodes: BTreeMap<String, Node>,
}

/// One layer's changes: what it removes from the layers below, then what it adds.
#[derive(Default)]
struct Changes {
    whiteouts: Vec<String>,
    opaque: Vec<String>,
    adds: Vec<(String, Node)>,
}

impl RootFs {
    /// The file system of `image`'s layers, or `None` when a layer blob is not in the layout.
    pub fn of_image(layout: &Layout, image: &Image) -> Result<Option<RootFs>, OciError> {
        let mut fs = RootFs::default();
        for layer in image.manifest.layers() {
            if !layout.has_blob(layer.digest()) {
                return Ok(None);
            }
            let path = layout.blob_path(layer.digest());
            let reader = crate::archive::open_tar(&path)?;
            fs.apply(read_changes(reader).map_err(|e| OciError::Invalid {
                path: path.clone(),
                what: "layer",
                message: e.to_string(),
            })?);
        }
        Ok(Some(fs))
    }

    /// Stack a layer hoist is about to write on top.
    pub fn add_layer(&mut self, spec: &LayerSpec) {
        let adds = spec
            .entries()
            .iter()
            .map(|(path, entry)| {
                let node = match entry {
                    Entry::Dir { .. } => Node::Dir,
                    Entry::File { .. } => Node::File,
                    Entry::Symlink { target } => Node::Link(target.clone()),
                };
                (path.clone(), node)
            })
            .collect();
        self.apply(Changes { adds, ..Changes::default() });
    }

    fn apply(&mut self, changes: Changes) {
        for dir in &changes.opaque {
            self.remove_below(dir);
        }
        for path in &changes.whiteouts {
            self.nodes.remove(path);
            self.remove_below(path);
        }
        for (path, node) in changes.adds {
            // A file or link over a directory of a lower layer hides what was in it.
            if node != Node::Dir {
                self.remove_below(&path);
            }
            let mut parent = path.as_str();
            while let Some((p, _)) = parent.rsplit_once('/') {
                self.nodes.entry(p.to_string()).or_insert(Node::Dir);
                parent = p;
            }
            self.nodes.insert(path, node);
        }
    }

    fn remove_below(&mut self, dir: &str) {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let below: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in below {
            self.nodes.remove(&k);
        }
    }

    /// Whether `path` (absolute) is a file once every symlink on the way is followed.
    pub fn is_file(&self, path: &str) -> bool {
        self.lookup(path) == Some(&Node::File)
    }

    fn lookup(&self, path: &str) -> Option<&Node> {
        let mut todo: Vec<String> = components(path).into_iter().rev().collect();
        let mut at: Vec<String> = Vec::new();
        let mut links = 0;
        let mut last: Option<&Node> = Some(&Node::Dir);
        while let Some(c) = todo.pop() {
            if last != Some(&Node::Dir) {
                return None; // a component under a file
            }
            if c == ".." {
                at.pop();
                continue;
            }
            at.push(c);
            match self.nodes.get(&at.join("/")) {
                None => return None,
                Some(Node::Link(target)) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return None;
                    }
                    at.pop();
                    if target.starts_with('/') {
                        at.clear();
                    }
                    todo.extend(components(target).into_iter().rev());
                    last = Some(&Node::Dir);
                }
                node => last = node,
            }
        }
        last
    }
}

/// The components of a path, `.` and empty ones left out (`..` kept: it is resolved).
fn components(path: &str) -> Vec<String> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").map(String::from).collect()
}

fn read_changes(reader: Box<dyn Read>) -> std::io::Result<Changes> {
    let mut changes = Changes::default();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let entry = entry?;
        let raw = entry.path()?.to_string_lossy().into_owned();
        let Ok(path) = image_path(&raw) else { continue };
        if path.is_empty() {
            continue;
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if name == ".wh..wh..opq" {
            changes.opaque.push(dir.to_string());
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            changes.whiteouts.push(if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") });
            continue;
        }
        let node = match entry.header().entry_type() {
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Symlink => match entry.link_name()? {
                Some(t) => Node::Link(t.to_string_lossy().into_owned()),
                None => continue,
            },
            // Hard links, regular files, devices: something is there that is not a directory.
            _ => Node::File,
        };
        changes.adds.push((path, node));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::{Changes, Node, RootFs};

    fn fs(layers: &[&[(&str, &str)]]) -> RootFs {
        let mut fs = RootFs::default();
        for layer in layers {
            let mut c = Changes::default();
            for (path, what) in layer.iter() {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                if name == ".wh..wh..opq" {
                    c.opaque.push(dir.to_string());
                } else if let Some(h) = name.strip_prefix(".wh.") {
                    c.whiteouts.push(if dir.is_empty() { h.to_string() } else { format!("{dir}/{h}") });
                } else {
                    let node = match *what {
                        "dir" => Node::Dir,
                        "file" => Node::File,
                        target => Node::Link(target.to_string()),
                    };
                    c.adds.push((path.to_string(), node));
                }
            }
            fs.apply(c);
        }
        fs
    }

    #[test]
    fn lookups_follow_links_and_whiteouts() {
        let merged_usr: &[(&str, &str)] = &[("bin", "usr/bin"), ("usr/bin/dash", "file"), ("usr/bin/sh", "dash")];
        let cases: &[(&str, Vec<&[(&str, &str)]>, &str, bool)] = &[
            ("a plain file", vec![&[("bin/sh", "file")]], "/bin/sh", true),
            ("parents implied", vec![&[("usr/bin/java", "file")]], "/usr/bin/java", true),
            ("merged /usr: a linked dir, then a relative link", vec![merged_usr], "/bin/sh", true),
            ("an absolute link", vec![&[("bin/sh", "/usr/bin/dash"), ("usr/bin/dash", "file")]], "/bin/sh", true),
            ("a link with ..", vec![&[("bin/sh", "../usr/bin/dash"), ("usr/bin/dash", "file")]], "/bin/sh", true),
            ("a dangling link", vec![&[("bin/sh", "busybox")]], "/bin/sh", false),
            ("a directory is not a file", vec![&[("bin/sh", "dir")]], "/bin/sh", false),
            ("nothing there", vec![&[("opt/java/bin/java", "file")]], "/bin/sh", false),
            ("a whiteout in an upper layer", vec![&[("bin/sh", "file")], &[("bin/.wh.sh", "")]], "/bin/sh", false),
            ("a whiteout of the directory", vec![&[("bin/sh", "file")], &[(".wh.bin", "")]], "/bin/sh", false),
            (
                "an opaque directory",
                vec![&[("bin/sh", "file")], &[("bin/.wh..wh..opq", ""), ("bin/ls", "file")]],
                "/bin/sh",
                false,
            ),
            (
                "opaque keeps its own layer",
                vec![&[("bin/sh", "file")], &[("bin/.wh..wh..opq", ""), ("bin/sh", "file")]],
                "/bin/sh",
                true,
            ),
            (
                "re-added after a whiteout",
                vec![&[("bin/sh", "file")], &[("bin/.wh.sh", "")], &[("bin/sh", "file")]],
                "/bin/sh",
                true,
            ),
            ("a file over a directory hides it", vec![&[("bin/sh", "file")], &[("bin", "file")]], "/bin/sh", false),
            ("a link loop", vec![&[("bin/sh", "/bin/sh")]], "/bin/sh", false),
            ("under a file", vec![&[("bin", "file")]], "/bin/sh", false),
        ];
        for (what, layers, path, expected) in cases {
            assert_eq!(fs(layers).is_file(path), *expected, "{what}");
        }
    }
}
