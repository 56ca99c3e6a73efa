//! docs/config.md and docs/hoist.schema.json checked against the types that read `hoist.toml`.
//!
//! The accepted keys come from the JSON Schema derived from those types, and the schema
//! itself is checked against the real parser, so none of the three can drift alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use schemars::Schema;

/// A `<name>` segment in a table path (`services.<name>`), whatever the doc calls it.
const ANY: &str = "<*>";

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(name)
}

/// What the types say about one key that takes a value (not a table of its own).
#[derive(Debug)]
struct Key {
    /// The `Default` value when it is a plain value (string, number, bool, list, table).
    default: Option<toml::Value>,
    required: bool,
}

/// One table the types accept: every key it takes, and which of them are plain values.
#[derive(Debug, Default)]
struct Table {
    all_keys: BTreeSet<String>,
    values: BTreeMap<String, Key>,
}

/// Follow a `$ref` into `$defs`, and see through `Option` (`anyOf: [T, null]`).
fn resolve(root: &Schema, schema: &Schema) -> Schema {
    if let Some(reference) = schema.get("$ref").and_then(|r| r.as_str()) {
        let pointer = reference.strip_prefix('#').expect("local $ref");
        let target = root.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {reference}"));
        return resolve(root, &Schema::try_from(target.clone()).expect("a schema"));
    }
    for combinator in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(combinator).and_then(|b| b.as_array()) {
            let not_null: Vec<_> =
                branches.iter().filter(|b| b.get("type").and_then(|t| t.as_str()) != Some("null")).collect();
            if let [only] = not_null[..]
                && branches.len() == 2
            {
                return resolve(root, &Schema::try_from(only.clone()).expect("a schema"));
            }
        }
    }
    schema.clone()
}

fn is_table(schema: &Schema) -> bool {
    schema.get("properties").is_some()
}

/// Every table of `hoist.toml` by its path (`""` for the top level, `deploy.compose`,
/// `services.<*>.image`), from the schema.
fn schema_tables(root: &Schema) -> BTreeMap<String, Table> {
    fn walk(root: &Schema, table: &Schema, path: &str, out: &mut BTreeMap<String, Table>) {
        assert_eq!(
            table.get("additionalProperties").and_then(|a| a.as_bool()),
            Some(false),
            "[{path}] must reject unknown keys (`deny_unknown_fields`)"
        );
        let required: BTreeSet<&str> = table
            .get("required")
            .and_then(|r| r.as_array())
            .map(|r| r.iter().filter_map(|k| k.as_str()).collect())
            .unwrap_or_default();
        let mut this = Table::default();
        let properties = table.get("properties").and_then(|p| p.as_object()).expect("properties");
        for (key, property) in properties {
            this.all_keys.insert(key.clone());
            let property = Schema::try_from(property.clone()).expect("a schema");
            let sub = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            let resolved = resolve(root, &property);
            if is_table(&resolved) {
                walk(root, &resolved, &sub, out);
                continue;
            }
            let entries = resolved.get("additionalProperties").and_then(|a| Schema::try_from(a.clone()).ok());
            if let Some(entries) = entries.map(|e| resolve(root, &e))
                && is_table(&entries)
            {
                walk(root, &entries, &format!("{sub}.{ANY}"), out);
                continue;
            }
            let default = property
                .get("default")
                .filter(|d| !d.is_null())
                .map(|d| toml::Value::try_from(d).unwrap_or_else(|e| panic!("default of {sub} is not TOML: {e}")));
            this.values.insert(key.clone(), Key { default, required: required.contains(key.as_str()) });
        }
        out.insert(path.to_string(), this);
    }
    let mut out = BTreeMap::new();
    walk(root, root, "", &mut out);
    out
}

/// One `| key | type | default | meaning |` row of docs/config.md.
#[derive(Debug)]
struct DocRow {
    line: usize,
    default: String,
}

/// The key tables of docs/config.md by section path, with `<...>` segments as [`ANY`].
fn doc_tables(text: &str) -> BTreeMap<String, BTreeMap<String, DocRow>> {
    let mut out: BTreeMap<String, BTreeMap<String, DocRow>> = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut default_column = None;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.starts_with('#') {
            default_column = None;
            section =
                line.split('`').nth(1).and_then(|s| s.strip_prefix('[')).and_then(|s| s.strip_suffix(']')).map(|s| {
                    s.split('.')
                        .map(|seg| if seg.starts_with('<') && seg.ends_with('>') { ANY } else { seg })
                        .collect::<Vec<_>>()
                        .join(".")
                });
            continue;
        }
        let Some(row) = line.strip_prefix('|') else {
            default_column = None;
            continue;
        };
        let cells: Vec<&str> = row.trim_end().trim_end_matches('|').split('|').map(str::trim).collect();
        if cells.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')) {
            continue;
        }
        if cells.first() == Some(&"key") {
            default_column = cells.iter().position(|c| *c == "default");
            assert!(default_column.is_some(), "docs/config.md:{line_no}: a key table needs a `default` column");
            continue;
        }
        let section = section
            .clone()
            .unwrap_or_else(|| panic!("docs/config.md:{line_no}: a key row outside a `[section]` heading"));
        let column = default_column.unwrap_or_else(|| panic!("docs/config.md:{line_no}: a row without a header"));
        let keys: Vec<&str> = cells[0].split('`').skip(1).step_by(2).collect();
        assert!(!keys.is_empty(), "docs/config.md:{line_no}: the key cell names no `key`");
        for key in keys {
            let default = cells.get(column).unwrap_or(&"").to_string();
            let previous =
                out.entry(section.clone()).or_default().insert(key.into(), DocRow { line: line_no, default });
            assert!(previous.is_none(), "docs/config.md:{line_no}: `{key}` is listed twice in [{section}]");
        }
    }
    out
}

/// The TOML value a default cell shows, when it is exactly one code span holding one.
fn literal(cell: &str) -> Option<toml::Value> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    if inner.contains('`') {
        return None;
    }
    toml::from_str::<toml::Table>(&format!("v = {inner}")).ok()?.remove("v")
}

fn display(path: &str) -> String {
    if path.is_empty() { "top level".into() } else { format!("[{path}]") }
}

/// Every problem between docs/config.md and the types, one per line.
fn doc_problems(doc: &str) -> Vec<String> {
    let types = schema_tables(&hoist_config::json_schema());
    let docs = doc_tables(doc);
    let mut problems = Vec::new();
    for (path, table) in &types {
        if table.values.is_empty() {
            continue;
        }
        let Some(rows) = docs.get(path) else {
            problems.push(format!(
                "{} takes {:?} but has no key table under a `[{path}]` heading",
                display(path),
                table.values.keys().collect::<Vec<_>>()
            ));
            continue;
        };
        for (key, want) in &table.values {
            let Some(row) = rows.get(key) else {
                problems.push(format!("[{path}] `{key}` is accepted but not documented"));
                continue;
            };
            let at = format!("docs/config.md:{}: [{path}] `{key}`", row.line);
            let shown = literal(&row.default);
            if want.required {
                if row.default != "required" {
                    problems.push(format!("{at}: has no default, so its default cell must say `required`"));
                }
            } else if row.default == "required" {
                problems.push(format!("{at}: is optional but documented as required"));
            } else if let Some(want) = &want.default {
                if shown.as_ref() != Some(want) {
                    problems.push(format!("{at}: default is `{want}`, the doc says {:?}", row.default));
                }
            } else if let Some(shown) = shown {
                problems.push(format!("{at}: the type has no default value, the doc says `{shown}`"));
            }
        }
    }
    for (path, rows) in &docs {
        let accepted = types.get(path).map(|t| &t.values);
        for (key, row) in rows {
            if !accepted.is_some_and(|a| a.contains_key(key)) {
                problems.push(format!("docs/config.md:{}: [{path}] `{key}` is not a key hoist.toml accepts", row.line));
            }
        }
    }
    problems
}

#[test]
fn config_doc_matches_the_types() {
    let path = repo_file("docs/config.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let problems = doc_problems(&doc);
    assert!(
        problems.is_empty(),
        "docs/config.md is out of step with crates/hoist-config:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_doc_check_finds_drift() {
    let doc = std::fs::read_to_string(repo_file("docs/config.md")).unwrap();
    let cases = [
        // A key the types take, dropped from the doc.
        ("| `remote` | string | `\"origin\"` |", "| `remoted` | string | `\"origin\"` |", "`remote` is accepted but"),
        // ... and the renamed row is one they do not take.
        ("| `remote` | string | `\"origin\"` |", "| `remoted` | string | `\"origin\"` |", "`remoted` is not a key"),
        ("| `sha_length` | integer 4–40 | `7` |", "| `sha_length` | integer 4–40 | `8` |", "default is `7`"),
        ("| `pin_digests` | bool | `false` |", "| `pin_digests` | bool | `true` |", "default is `false`"),
        (
            "| `files` | list of paths | `[\"docker-compose-prod.yaml\"]` |",
            "| `files` | list | none |",
            "[deploy.compose] `files`",
        ),
        ("| `repository` | `host[:port]/path` | required |", "| `repository` | x | none |", "must say `required`"),
        ("| `context` | string | current context |", "| `context` | string | `\"default\"` |", "has no default value"),
        ("## `[image]`", "## `[imagery]`", "[image] takes"),
    ];
    for (from, to, want) in cases {
        assert!(doc.contains(from), "the doc no longer has {from:?}; update this test");
        let problems = doc_problems(&doc.replacen(from, to, 1)).join("\n");
        assert!(problems.contains(want), "{to:?} gave:\n{problems}");
    }
}

/// The keys serde names when it refuses an unknown one: "expected one of `a`, `b`".
fn keys_serde_expects(toml_text: &str) -> BTreeSet<String> {
    let err = hoist_config::Config::parse(toml_text, Path::new("hoist.toml"), Path::new("."))
        .expect_err(toml_text)
        .to_string();
    assert!(err.contains("unknown field `zz_not_a_key`"), "{toml_text:?} gave {err}");
    let expected = err.split_once("expected").map(|(_, e)| e).unwrap_or("");
    expected.split('`').skip(1).step_by(2).map(String::from).collect()
}

#[test]
fn the_schema_takes_the_keys_the_parser_takes() {
    let tables = schema_tables(&hoist_config::json_schema());
    assert!(tables.len() >= 10, "{:?}", tables.keys());
    for (path, table) in &tables {
        let heading = path.replace(ANY, "x");
        let text =
            if path.is_empty() { "zz_not_a_key = 1\n".to_string() } else { format!("[{heading}]\nzz_not_a_key = 1\n") };
        assert_eq!(keys_serde_expects(&text), table.all_keys, "{}", display(path));
    }
}

#[test]
fn the_schema_defaults_are_the_parsers() {
    // An empty file is all defaults; the schema's must be the same values.
    let schema = hoist_config::json_schema();
    let version = schema_tables(&schema).remove("version").unwrap();
    let config = hoist_config::Config::parse("", Path::new("hoist.toml"), Path::new(".")).unwrap();
    let default = |key: &str| version.values[key].default.clone().unwrap();
    assert_eq!(default("tag_format").as_str(), Some(config.version.tag_format.as_str()));
    assert_eq!(default("sha_length").as_integer(), Some(config.version.sha_length as i64));
    assert_eq!(default("initial").as_str(), Some(config.version.initial.as_str()));
    assert_eq!(default("remote").as_str(), Some(config.version.remote.as_str()));
}

#[test]
fn the_checked_in_schema_is_current() {
    let path = repo_file("docs/hoist.schema.json");
    let want = format!("{:#}\n", hoist_config::json_schema().as_value());
    if std::env::var_os("HOIST_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &want).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/hoist.schema.json is stale (or missing): the config types changed. Regenerate it with\n  HOIST_BLESS=1 cargo test -p hoist-config --test docs\nand commit it"
    );
}
