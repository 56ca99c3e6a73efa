//! Reading manifests from disk: directories, multi-document files, and bad input that
//! names the file, the line or the document and field.

use hoist_kube::ManifestError;

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn loads_the_example_directory_in_name_order() {
    let dir = hoist_testkit::example_shop().join("k8s");
    let docs = hoist_kube::load(&[dir]).unwrap();
    assert!(docs.len() >= 5, "{}", docs.len());
    let files: Vec<_> = docs.iter().map(|d| d.source.clone()).collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
    assert!(docs.iter().any(|d| d.kind() == "Namespace" && d.name() == "shop"));
}

#[test]
fn multi_document_files_skip_empty_documents_and_count_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "all.yaml",
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
    );
    write(dir.path(), "notes.txt", "not a manifest");
    let docs = hoist_kube::load(&[dir.path().to_path_buf()]).unwrap();
    let got: Vec<(usize, &str)> = docs.iter().map(|d| (d.index, d.name())).collect();
    assert_eq!(got, [(0, "a"), (1, "b")]);
    assert!(docs.iter().all(|d| d.source == f));
}

#[test]
fn invalid_yaml_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: [1, 2\n");
    let err = hoist_kube::load(std::slice::from_ref(&f)).unwrap_err();
    let ManifestError::Yaml { path, line, .. } = &err else { panic!("{err:?}") };
    assert_eq!(path, &f);
    assert!((6..=7).contains(line), "line {line}: {err}");
    assert!(err.to_string().starts_with(&format!("{}:{line}:", f.display())), "{err}");
}

#[test]
fn a_document_of_the_wrong_shape_names_the_file_index_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "d.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ok\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {}\n  template:\n    spec:\n      containers:\n        - name: web\n          image: web\n          ports:\n            - containerPort: http\n",
    );
    let err = hoist_kube::load(std::slice::from_ref(&f)).unwrap_err();
    let ManifestError::Invalid { path, index, field, .. } = &err else { panic!("{err:?}") };
    assert_eq!((path, *index, field.as_str()), (&f, 1, "spec.template.spec.containers[0].ports[0].containerPort"));
    let text = err.to_string();
    assert!(
        text.contains("d.yaml document 1, field `spec.template.spec.containers[0].ports[0].containerPort`"),
        "{text}"
    );
}

#[test]
fn a_document_without_kind_or_name_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "x.yaml", "apiVersion: v1\nmetadata:\n  name: a\n");
    let err = hoist_kube::load(&[f]).unwrap_err();
    assert!(matches!(&err, ManifestError::Invalid { field, .. } if field == "kind"), "{err:?}");
    let f = write(dir.path(), "y.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n");
    let err = hoist_kube::load(&[f]).unwrap_err();
    assert!(matches!(&err, ManifestError::Invalid { field, .. } if field == "metadata.name"), "{err:?}");
}

#[test]
fn a_missing_path_is_a_read_error() {
    let err = hoist_kube::load(&["/nonexistent/k8s".into()]).unwrap_err();
    assert!(matches!(err, ManifestError::Read { .. }), "{err:?}");
}
