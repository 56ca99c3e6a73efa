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

/// The migration fixture (issue 13): `k8s/` with one folder per kind.
pub fn acme_k8s() -> std::path::PathBuf {
    hoist_testkit::example_acme().join("k8s")
}

#[test]
fn a_tree_of_folders_is_read_recursively_in_path_order() {
    let root = acme_k8s();
    let read = hoist_kube::read(std::slice::from_ref(&root)).unwrap();
    let files: Vec<String> =
        read.docs.iter().map(|d| d.source.strip_prefix(&root).unwrap().to_string_lossy().into_owned()).collect();
    let mut unique = files.clone();
    unique.dedup();
    assert_eq!(
        unique,
        [
            "deployment/gateway-deployment.yaml",
            "deployment/inventory-server-deployment.yaml",
            "deployment/notification-server-deployment.yaml",
            "deployment/order-server-deployment.yaml",
            "deployment/payment-server-deployment.yaml",
            "deployment/postgres-deployment.yaml",
            "deployment/user-server-deployment.yaml",
            "namespace/namespace.yaml",
            "pod/kafka-pod.yaml",
            "pv/postgres-pv.yaml",
            "pvc/postgres-pvc.yaml",
            "service/gateway-service.yaml",
            "service/inventory-server-service.yaml",
            "service/notification-server-service.yaml",
            "service/order-server-service.yaml",
            "service/payment-server-service.yaml",
            "service/postgres-service.yaml",
            "service/user-server-service.yaml",
        ]
    );
    assert_eq!(read.docs.len(), 19, "kafka-pod.yaml holds two pods");
    assert_eq!(read.inputs, [hoist_kube::Input { path: root.clone(), is_dir: true, files: 18, objects: 19 }]);
    assert_eq!(read.summary(&|_| "k8s".into()), "read 19 objects from 18 files under k8s");
    // The same tree gives the same stream every time.
    let again = hoist_kube::read(&[root]).unwrap();
    assert_eq!(again.docs, read.docs);
}

#[test]
fn hidden_entries_other_extensions_and_links_inside_the_tree_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("k8s");
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    std::fs::create_dir_all(root.join("b/deep")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    write(&root, "c.yml", &cm("c"));
    write(&root.join("b"), "a.json", r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ba"}}"#);
    write(&root.join("b/deep"), "z.yaml", &cm("bz"));
    write(&root.join(".git"), "config.yaml", &cm("hidden-dir"));
    write(&root, ".draft.yaml", &cm("hidden-file"));
    write(&root, "README.md", "# not a manifest");
    // A link to a folder inside the tree (its files are read once, where they sort
    // first), and one back up to the root (not followed round).
    std::os::unix::fs::symlink(root.join("b/deep"), root.join("linked")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("b/up")).unwrap();
    let read = hoist_kube::read(std::slice::from_ref(&root)).unwrap();
    let names: Vec<&str> = read.docs.iter().map(|d| d.name()).collect();
    assert_eq!(names, ["ba", "bz", "c"], "b/a.json, b/deep/z.yaml (also linked/z.yaml), c.yml");
    let plain = write(dir.path(), "one.yaml", &cm("one"));
    let read = hoist_kube::read(&[root, plain]).unwrap();
    assert_eq!(
        read.summary(&|p| p.file_name().unwrap().to_string_lossy().into()),
        "read 3 objects from 3 files under k8s, 1 object from one.yaml"
    );
}

#[test]
fn a_link_out_of_the_tree_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("k8s");
    std::fs::create_dir(&root).unwrap();
    let outside = write(dir.path(), "secret.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n");
    write(&root, "a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
    std::os::unix::fs::symlink(&outside, root.join("s.yaml")).unwrap();
    let err = hoist_kube::load(std::slice::from_ref(&root)).unwrap_err();
    let ManifestError::LinkOutside { link, target, .. } = &err else { panic!("{err:?}") };
    assert_eq!(link, &root.join("s.yaml"));
    assert_eq!(target, &std::fs::canonicalize(&outside).unwrap());
    assert!(err.to_string().contains("outside the manifest directory"), "{err}");
}

#[test]
fn a_tree_without_manifests_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("k8s");
    std::fs::create_dir_all(root.join("deployment")).unwrap();
    std::fs::create_dir_all(root.join(".hidden")).unwrap();
    write(&root.join(".hidden"), "x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
    write(&root.join("deployment"), "notes.txt", "nothing");
    let err = hoist_kube::load(std::slice::from_ref(&root)).unwrap_err();
    assert!(matches!(&err, ManifestError::EmptyDir { path } if path == &root), "{err:?}");
    assert!(err.to_string().contains("or below it"), "{err}");
}
