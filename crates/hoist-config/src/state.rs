//! Where hoist keeps its state in a project: every file and directory under `.hoist/`,
//! named once. docs/state.md describes each one and its format version.

use std::path::PathBuf;

use crate::Config;

/// The directory of hoist's state, relative to the project root.
pub const STATE_DIR: &str = ".hoist";

/// One piece of hoist's state in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatePath<'a> {
    /// The local OCI image layout (`[image] layout`, default `.hoist/oci`).
    Layout,
    /// The known-blobs cache of the registry step, inside the layout (`<layout>/.hoist-cache/registry/`).
    RegistryCache,
    /// The artifacts a release's build produced (`.hoist/artifacts/<tag>.json`).
    Artifacts { tag: &'a str },
    /// A release's images as a `docker load` archive, for deploys without a registry
    /// (`.hoist/archives/<tag>.tar`).
    Archive { tag: &'a str },
    /// A release's plan and the status and output of each of its steps
    /// (`.hoist/releases/<tag>.json`).
    Release { tag: &'a str },
    /// The compose deploy state: lock, history, pinned override (`[deploy.compose] state_dir`,
    /// default `.hoist/deploy`).
    Deploy,
}

impl StatePath<'_> {
    /// The absolute path in the project `config` describes.
    pub fn path(&self, config: &Config) -> PathBuf {
        let state = config.root.join(STATE_DIR);
        match self {
            StatePath::Layout => config.resolve(&config.image.layout),
            StatePath::RegistryCache => config.resolve(&config.image.layout).join(".hoist-cache").join("registry"),
            StatePath::Artifacts { tag } => state.join("artifacts").join(format!("{tag}.json")),
            StatePath::Archive { tag } => state.join("archives").join(format!("{tag}.tar")),
            StatePath::Release { tag } => state.join("releases").join(format!("{tag}.json")),
            StatePath::Deploy => {
                let dir = config.deploy.compose.as_ref().map(|c| c.state_dir.clone());
                config.resolve(dir.unwrap_or_else(|| crate::ComposeConfig::default().state_dir))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::StatePath;

    #[test]
    fn every_state_path_is_under_the_project() {
        let root = Path::new("/p");
        let config = crate::Config::parse("", &root.join("hoist.toml"), root).unwrap();
        let rows: &[(StatePath, &str)] = &[
            (StatePath::Layout, "/p/.hoist/oci"),
            (StatePath::RegistryCache, "/p/.hoist/oci/.hoist-cache/registry"),
            (StatePath::Artifacts { tag: "v1.0.0-abc1234" }, "/p/.hoist/artifacts/v1.0.0-abc1234.json"),
            (StatePath::Archive { tag: "v1.0.0-abc1234" }, "/p/.hoist/archives/v1.0.0-abc1234.tar"),
            (StatePath::Release { tag: "v1.0.0-abc1234" }, "/p/.hoist/releases/v1.0.0-abc1234.json"),
            (StatePath::Deploy, "/p/.hoist/deploy"),
        ];
        for (p, want) in rows {
            assert_eq!(p.path(&config), Path::new(want), "{p:?}");
        }
    }
}
