//! Diff: each object live against what a server-side dry-run apply makes of it, as a line
//! diff of their YAML without the fields the server owns.

use super::Deployer;
use super::apply::Item;
use crate::error::DeployError;

impl Deployer<'_> {
    /// What applying `items` would change, object by object; empty when nothing would.
    pub(super) async fn diff(&self, items: &[Item]) -> Result<String, DeployError> {
        let mut out = String::new();
        for item in items {
            let live = self.get(&item.object).await?;
            let after = self.apply(item, true).await?;
            let before = live.map(|l| comparable(&serde_json::to_value(&l).expect("serialises"))).unwrap_or_default();
            let after = comparable(&serde_json::to_value(&after).expect("serialises"));
            if before != after {
                out.push_str(&format!("--- {0} (live)\n+++ {0} (release)\n", item.object));
                out.push_str(&line_diff(&before, &after));
            }
        }
        Ok(out)
    }
}

/// An object as YAML without the fields the server owns, for a readable diff.
fn comparable(obj: &serde_json::Value) -> String {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        for key in ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"] {
            meta.remove(key);
        }
    }
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
    serde_saphyr::to_string(&crate::yaml::Value::from_json(&obj)).expect("serialises")
}

/// A unified-style line diff (`-`, `+`, ` `) from the longest common subsequence; objects
/// are small, so the quadratic table is fine and saves a dependency.
pub fn line_diff(before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_marks_changes() {
        assert_eq!(line_diff("a\nb\nc\n", "a\nx\nc\n"), " a\n-b\n+x\n c\n");
        assert_eq!(line_diff("", "a\n"), "+a\n");
    }

    #[test]
    fn comparable_drops_what_the_server_owns() {
        let live = serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "uid": "u", "resourceVersion": "4", "generation": 2,
                "creationTimestamp": "t", "managedFields": [], "labels": {"a": "b"}},
            "spec": {"ports": [{"port": 80}]}, "status": {"loadBalancer": {}}});
        let text = comparable(&live);
        for gone in ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "status"] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        for kept in ["name: web", "a: b", "port: 80"] {
            assert!(text.contains(kept), "{kept} missing from {text}");
        }
    }
}
