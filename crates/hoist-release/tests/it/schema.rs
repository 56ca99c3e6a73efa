//! The JSON Schemas of what `hoist release` writes (its plan, its record, its report) are
//! checked in under docs/schemas/, so a change to their shape is a visible diff in review.

use std::path::PathBuf;

use hoist_release::{ReleasePlan, ReleaseRecord, ReleaseReport};

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schemas")
}

fn check(name: &str, schema: schemars::Schema) {
    let path = docs().join(name);
    let text = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
    if std::env::var_os("HOIST_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(docs()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == text,
        "docs/schemas/{name} is stale (or missing): the types changed. Regenerate it with\n  \
         HOIST_BLESS=1 cargo test -p hoist-release --test it schema\nreview the diff and commit it"
    );
}

#[test]
fn the_release_documents_match_their_checked_in_schemas() {
    check("release-plan.json", schemars::schema_for!(ReleasePlan));
    check("release-record.json", schemars::schema_for!(ReleaseRecord));
    check("release-report.json", schemars::schema_for!(ReleaseReport));
}

#[test]
fn a_plan_reads_back_as_written() {
    let text = r#"{
      "format": 1,
      "title": {"text": "[minor] x", "source": "flag"},
      "release": {"tag": "v1.1.0-abc1234", "version": "1.1.0", "sha": "abc1234",
                  "commit": "abc1234abc1234abc1234abc1234abc1234abcd", "resumed": false, "remote": "origin"},
      "steps": [
        {"step": "tag_local", "tag": "v1.1.0-abc1234", "commit": "abc1234abc1234abc1234abc1234abc1234abcd",
         "message": "Release v1.1.0-abc1234\n\n[minor] x\n", "skip": null},
        {"step": "push_tag", "remote": "origin", "tag": "v1.1.0-abc1234", "skip": "pushed earlier"},
        {"step": "deploy", "engine": "k8s", "namespace": "shop",
         "settings": {"context": null, "namespace": null, "timeout": null, "paths": [],
                      "dry_run": false, "diff": false, "force_conflicts": false},
         "pin_digests": true, "skip": null}
      ]
    }"#;
    let plan: ReleasePlan = serde_json::from_str(text).unwrap();
    assert_eq!(plan.steps.len(), 3);
    assert_eq!(plan.steps[1].skip.as_deref(), Some("pushed earlier"));
    let again: ReleasePlan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
    assert_eq!(again, plan);
    let value = serde_json::to_value(&plan).unwrap();
    assert_eq!(value["steps"][2]["engine"], "k8s");
    assert_eq!(value["steps"][2]["step"], "deploy");
}
