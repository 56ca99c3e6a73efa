//! Apply, wait, rollback and prune against the FAKE API server (`fake_api`): each test
//! scripts realistic answers and asserts the exact sequence of requests.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hoist_kube::deploy::Outcome;
use hoist_kube::deploy::{Cluster, Options};
use hoist_kube::{DeployError, Document};
use serde_json::{Value, json};

use crate::fake_api::{FakeApiServer, Seen, Step, hang, status, step};

const SECRETS: &str = "/api/v1/namespaces/shop/secrets";
const LIST_HISTORY: &str = "GET /api/v1/namespaces/shop/secrets?labelSelector=hoist.dev/history=shop";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/shop/deployments/web";
const SERVICE: &str = "/api/v1/namespaces/shop/services/web";
const APPLY: &str = "fieldManager=hoist";
const APPLY_FORCE: &str = "fieldManager=hoist&force=true";
const DRY_APPLY: &str = "dryRun=All&fieldManager=hoist";

fn manifests(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector: {{app: web}}\n  ports:\n    - port: 80\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n        - name: web\n          image: {image}\n"
    )
}

fn docs(text: &str) -> Vec<Document> {
    let mut docs = hoist_kube::manifest::parse(text, Path::new("k8s/web.yaml")).unwrap();
    hoist_kube::order::sort(&mut docs);
    docs
}

fn options(release: &str, notes: Arc<Mutex<Vec<String>>>) -> Options {
    let mut o = Options::new("shop", release, "shop");
    o.poll = Duration::from_millis(1);
    o.timeout = Duration::from_secs(30);
    o.progress = Arc::new(move |n| notes.lock().unwrap().push(n.to_string()));
    o
}

fn cluster(client: kube::Client) -> Cluster {
    Cluster { client, context: "fake".into(), url: "https://fake-api-server.invalid".into() }
}

fn empty_list() -> Value {
    json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []})
}

fn object(kind: &str, api_version: &str, name: &str) -> Value {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {"name": name, "namespace": "shop", "resourceVersion": "5"}})
}

fn deployment(generation: i64, status: Value) -> Value {
    json!({"kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "namespace": "shop", "generation": generation},
        "spec": {"replicas": 2}, "status": status})
}

fn secret(revision: u64) -> Value {
    object("Secret", "v1", &format!("hoist-shop-r{revision}"))
}

/// A release history Secret as hoist writes it.
fn history(revision: u64, release: &str, status: &str, manifests: &str, inventory: Value) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let record = json!({"project": "shop", "release": release, "revision": revision, "status": status,
        "digests": {}, "inventory": inventory});
    json!({"kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": format!("hoist-shop-r{revision}"), "namespace": "shop",
            "labels": {"hoist.dev/history": "shop"}},
        "type": "hoist.dev/release",
        "data": {"release.json": b64(&record.to_string()), "manifests.yaml": b64(manifests)}})
}

fn web_inventory() -> Value {
    json!([
        {"api_version": "v1", "kind": "Service", "namespace": "shop", "name": "web"},
        {"api_version": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}
    ])
}

fn lines(seen: &[Seen]) -> Vec<String> {
    seen.iter().map(|s| s.line.clone()).collect()
}

fn expected(script: &[Step]) -> Vec<String> {
    script.iter().map(|s| s.expect.clone()).collect()
}

/// Deploy `text` against a fake API server playing `script`; the requests it saw must be the
/// script's, in order. Returns the outcome and what the server saw.
async fn deploy_scripted(script: Vec<Step>, text: &str, opts: &Options) -> (Result<Outcome, DeployError>, Vec<Seen>) {
    let want = expected(&script);
    let (fake, client) = FakeApiServer::start(script);
    let c = cluster(client);
    let outcome = hoist_kube::deploy(&c, &docs(text), opts).await;
    let seen = fake.finish(c.client).await;
    assert_eq!(lines(&seen), want);
    (outcome, seen)
}

/// Every PATCH is a server-side apply, labelled as hoist's.
fn assert_applies(seen: &[Seen]) {
    for s in seen.iter().filter(|s| s.line.starts_with("PATCH")) {
        assert_eq!(s.content_type.as_deref(), Some("application/apply-patch+yaml"), "{}", s.line);
        assert_eq!(s.body["metadata"]["labels"]["app.kubernetes.io/managed-by"], "hoist", "{}", s.line);
    }
}

fn release_json(seen: &Seen) -> Value {
    let data = seen.body["data"]["release.json"].as_str().expect("a history Secret");
    serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(data).unwrap()).unwrap()
}

#[tokio::test]
async fn first_deploy_applies_in_order_and_waits_through_a_lagging_generation_and_slow_replicas() {
    let script = vec![
        step(LIST_HISTORY, 200, empty_list()),
        step(&format!("PATCH {SERVICE}?{APPLY}"), 200, object("Service", "v1", "web")),
        step(&format!("PATCH {DEPLOYMENT}?{APPLY}"), 200, deployment(2, json!({}))),
        // The controller has not seen generation 2 yet; the old status looks complete.
        step(
            &format!("GET {DEPLOYMENT}"),
            200,
            deployment(
                2,
                json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}),
            ),
        ),
        step(
            &format!("GET {DEPLOYMENT}"),
            200,
            deployment(
                2,
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}),
            ),
        ),
        step(
            &format!("GET {DEPLOYMENT}"),
            200,
            deployment(
                2,
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
            ),
        ),
        step(
            &format!("GET {DEPLOYMENT}"),
            200,
            deployment(
                2,
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
            ),
        ),
        step(&format!("PATCH {SECRETS}/hoist-shop-r1?{APPLY_FORCE}"), 200, secret(1)),
    ];
    let notes = Arc::new(Mutex::new(Vec::new()));
    let (outcome, seen) = deploy_scripted(script, &manifests("r/shop:web_v2"), &options("v2", notes.clone())).await;
    let outcome = outcome.unwrap();
    assert_applies(&seen);
    assert_eq!(outcome.revision, 1);
    assert_eq!(outcome.applied.len(), 2);
    // The Deployment had no namespace: it gets the deploy namespace.
    assert_eq!(seen[2].body["metadata"]["namespace"], "shop");
    assert_eq!(seen[2].body["spec"]["template"]["spec"]["containers"][0]["image"], "r/shop:web_v2");
    assert_eq!(release_json(&seen[7])["status"], "deployed");
    assert_eq!(release_json(&seen[7])["inventory"], web_inventory());
    let notes = notes.lock().unwrap().join("\n");
    assert!(notes.contains("waiting for the controller to observe generation 2"), "{notes}");
    assert!(notes.contains("1 of 2 replicas updated"), "{notes}");
    assert!(notes.contains("1 of 2 updated replicas available"), "{notes}");
}

#[tokio::test]
async fn dry_run_is_a_server_side_dry_run_and_records_nothing() {
    let script = vec![
        step(LIST_HISTORY, 200, empty_list()),
        step(&format!("PATCH {SERVICE}?{DRY_APPLY}"), 200, object("Service", "v1", "web")),
        step(&format!("PATCH {DEPLOYMENT}?{DRY_APPLY}"), 200, deployment(1, json!({}))),
    ];
    let mut opts = options("v2", Arc::default());
    opts.dry_run = true;
    let (outcome, seen) = deploy_scripted(script, &manifests("r/shop:web_v2"), &opts).await;
    let outcome = outcome.unwrap();
    assert_applies(&seen);
    assert!(outcome.dry_run);
    assert_eq!(outcome.revision, 0);
}

#[tokio::test]
async fn diff_shows_what_the_release_changes() {
    let live = json!({"kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "4", "managedFields": []},
        "spec": {"ports": [{"port": 80}]}});
    let mut after = live.clone();
    after["spec"]["ports"][0]["port"] = json!(8080);
    let script = vec![
        step(LIST_HISTORY, 200, empty_list()),
        step(&format!("GET {SERVICE}"), 200, live.clone()),
        step(&format!("PATCH {SERVICE}?{DRY_APPLY}"), 200, after),
        step(&format!("GET {DEPLOYMENT}"), 404, status(404, "NotFound", "deployments.apps \"web\" not found")),
        step(&format!("PATCH {DEPLOYMENT}?{DRY_APPLY}"), 200, deployment(1, json!({}))),
    ];
    let mut opts = options("v2", Arc::default());
    opts.diff = true;
    let (outcome, _) = deploy_scripted(script, &manifests("r/shop:web_v2"), &opts).await;
    let diff = outcome.unwrap().diff.unwrap();
    assert!(diff.contains("--- Service/web -n shop (live)"), "{diff}");
    assert!(diff.contains("-  - port: 80\n+  - port: 8080\n"), "{diff}");
    assert!(diff.contains("+++ Deployment/web -n shop (release)\n+apiVersion: apps/v1"), "{diff}");
    assert!(!diff.contains("resourceVersion"), "{diff}");
}

#[tokio::test]
async fn progress_deadline_exceeded_rolls_back_to_the_previous_release() {
    let previous = history(1, "v1", "deployed", &manifests("r/shop:web_v1"), web_inventory());
    let script = vec![
        step(LIST_HISTORY, 200, json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": [previous]})),
        step(&format!("PATCH {SERVICE}?{APPLY}"), 200, object("Service", "v1", "web")),
        step(&format!("PATCH {DEPLOYMENT}?{APPLY}"), 200, deployment(5, json!({}))),
        step(
            &format!("GET {DEPLOYMENT}"),
            200,
            deployment(
                5,
                json!({"observedGeneration": 5, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
                "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                    "message": "ReplicaSet \"web-7d9\" has timed out progressing."}]}),
            ),
        ),
        step(&format!("PATCH {SECRETS}/hoist-shop-r2?{APPLY_FORCE}"), 200, secret(2)),
        // Rollback: the previous release's recorded manifests, in order, then wait again.
        step(&format!("PATCH {SERVICE}?{APPLY}"), 200, object("Service", "v1", "web")),
        step(&format!("PATCH {DEPLOYMENT}?{APPLY}"), 200, deployment(6, json!({}))),
        step(
            &format!("GET {DEPLOYMENT}"),
            200,
            deployment(
                6,
                json!({"observedGeneration": 6, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
            ),
        ),
    ];
    let (result, seen) = deploy_scripted(script, &manifests("r/shop:web_v2"), &options("v2", Arc::default())).await;
    assert_applies(&seen);
    let err = result.unwrap_err();
    let DeployError::RolledBack { release, previous, cause } = &err else { panic!("{err:?}") };
    assert_eq!((release.as_str(), previous.as_str()), ("v2", "v1"));
    assert!(
        matches!(**cause, DeployError::Failed { ref reason, .. } if reason.contains("ProgressDeadlineExceeded")),
        "{cause:?}"
    );
    assert_eq!(seen[2].body["spec"]["template"]["spec"]["containers"][0]["image"], "r/shop:web_v2");
    assert_eq!(release_json(&seen[4])["status"], "failed");
    assert_eq!(seen[6].body["spec"]["template"]["spec"]["containers"][0]["image"], "r/shop:web_v1");
}

#[tokio::test]
async fn prune_deletes_only_the_previous_releases_leftovers_that_carry_hoists_labels() {
    let mut inventory = web_inventory();
    for name in ["old-config", "foreign"] {
        inventory
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"api_version": "v1", "kind": "ConfigMap", "namespace": "shop", "name": name}));
    }
    let previous = history(3, "v1", "deployed", &manifests("r/shop:web_v1"), inventory);
    let ours = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "old-config", "namespace": "shop",
        "labels": {"app.kubernetes.io/managed-by": "hoist", "hoist.dev/project": "shop"}}});
    let foreign = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "foreign", "namespace": "shop",
        "labels": {"app.kubernetes.io/managed-by": "helm"}}});
    let done =
        deployment(2, json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}));
    let script = vec![
        step(LIST_HISTORY, 200, json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": [previous]})),
        step(&format!("PATCH {SERVICE}?{APPLY}"), 200, object("Service", "v1", "web")),
        step(&format!("PATCH {DEPLOYMENT}?{APPLY}"), 200, deployment(2, json!({}))),
        step(&format!("GET {DEPLOYMENT}"), 200, done),
        // Reverse inventory order: `foreign` was listed first, so it is checked last.
        step("GET /api/v1/namespaces/shop/configmaps/old-config", 200, ours),
        step("DELETE /api/v1/namespaces/shop/configmaps/old-config", 200, status(200, "", "")),
        step("GET /api/v1/namespaces/shop/configmaps/foreign", 200, foreign),
        step(&format!("PATCH {SECRETS}/hoist-shop-r4?{APPLY_FORCE}"), 200, secret(4)),
    ];
    let (outcome, seen) = deploy_scripted(script, &manifests("r/shop:web_v2"), &options("v2", Arc::default())).await;
    let outcome = outcome.unwrap();
    assert_eq!(seen[5].body["propagationPolicy"], "Background");
    assert_eq!(outcome.pruned.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["old-config"]);
    assert_eq!(outcome.kept.len(), 1);
    assert_eq!(outcome.kept[0].0.name, "foreign");
    assert_eq!(outcome.revision, 4);
}

#[tokio::test]
async fn forbidden_names_the_verb_the_resource_and_the_namespace() {
    let script = vec![
        step(LIST_HISTORY, 200, empty_list()),
        step(&format!("PATCH {SERVICE}?{APPLY}"), 200, object("Service", "v1", "web")),
        step(
            &format!("PATCH {DEPLOYMENT}?{APPLY}"),
            403,
            status(
                403,
                "Forbidden",
                "deployments.apps \"web\" is forbidden: User \"ci\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"shop\"",
            ),
        ),
        step(&format!("PATCH {SECRETS}/hoist-shop-r1?{APPLY_FORCE}"), 200, secret(1)),
    ];
    let (result, seen) = deploy_scripted(script, &manifests("r/shop:web_v2"), &options("v2", Arc::default())).await;
    assert_eq!(release_json(&seen[3])["status"], "failed");
    let err = result.unwrap_err();
    let DeployError::Forbidden { verb, resource, namespace, .. } = &err else { panic!("{err:?}") };
    assert_eq!((verb.as_str(), resource.as_str(), namespace.as_deref()), ("patch", "deployments.apps", Some("shop")));
    assert!(err.to_string().starts_with("forbidden: cannot patch deployments.apps in namespace `shop`"), "{err}");
    let hint = hoist_diag::Diagnostic::hint(&err).unwrap();
    assert!(hint.contains("kubectl auth can-i patch deployments.apps -n shop"), "{hint}");
}

#[tokio::test]
async fn a_409_conflict_names_the_object_and_does_not_force() {
    let script = vec![
        step(LIST_HISTORY, 200, empty_list()),
        step(
            &format!("PATCH {SERVICE}?{APPLY}"),
            409,
            status(
                409,
                "Conflict",
                "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .spec.ports",
            ),
        ),
    ];
    let (result, _) = deploy_scripted(script, &manifests("r/shop:web_v2"), &options("v2", Arc::default())).await;
    let err = result.unwrap_err();
    let DeployError::Conflict { object, message } = &err else { panic!("{err:?}") };
    assert_eq!(object, "Service/web -n shop");
    assert!(message.contains("kubectl-edit"), "{message}");
    assert!(hoist_diag::Diagnostic::hint(&err).unwrap().contains("--force-conflicts"));
}

#[tokio::test]
async fn force_conflicts_sends_force() {
    let script = vec![
        step(LIST_HISTORY, 200, empty_list()),
        step(&format!("PATCH {SERVICE}?{APPLY_FORCE}"), 200, object("Service", "v1", "web")),
        step(&format!("PATCH {DEPLOYMENT}?{APPLY_FORCE}"), 200, deployment(1, json!({}))),
        step(
            &format!("GET {DEPLOYMENT}"),
            200,
            deployment(
                1,
                json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
            ),
        ),
        step(&format!("PATCH {SECRETS}/hoist-shop-r1?{APPLY_FORCE}"), 200, secret(1)),
    ];
    let mut opts = options("v2", Arc::default());
    opts.force_conflicts = true;
    let (result, _) = deploy_scripted(script, &manifests("r/shop:web_v2"), &opts).await;
    result.unwrap();
}

#[tokio::test]
async fn a_crd_is_established_before_its_custom_resources_are_applied() {
    let crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com";
    let text = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names:\n    plural: widgets\n    singular: widget\n    kind: Widget\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          x-kubernetes-preserve-unknown-fields: true\n";
    let crd = |established: &str| {
        json!({"kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1",
            "metadata": {"name": "widgets.example.com"},
            "status": {"conditions": [{"type": "Established", "status": established}]}})
    };
    let resources = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "example.com/v1",
        "resources": [{"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget",
            "verbs": ["get", "list", "patch", "delete"]}]});
    let script = vec![
        step(LIST_HISTORY, 200, empty_list()),
        step(&format!("PATCH {crd_path}?{APPLY}"), 200, crd("False")),
        step(&format!("GET {crd_path}"), 200, crd("False")),
        step(&format!("GET {crd_path}"), 200, crd("True")),
        step("GET /apis/example.com/v1", 200, resources),
        step(
            &format!("PATCH /apis/example.com/v1/namespaces/shop/widgets/w1?{APPLY}"),
            200,
            object("Widget", "example.com/v1", "w1"),
        ),
        step(&format!("GET {crd_path}"), 200, crd("True")),
        step(&format!("PATCH {SECRETS}/hoist-shop-r1?{APPLY_FORCE}"), 200, secret(1)),
    ];
    let (result, seen) = deploy_scripted(script, text, &options("v2", Arc::default())).await;
    assert_applies(&seen);
    result.unwrap();
}

#[tokio::test]
async fn a_failure_before_anything_changed_does_not_roll_back() {
    let previous = history(1, "v1", "deployed", &manifests("r/shop:web_v1"), web_inventory());
    let script = vec![
        step(LIST_HISTORY, 200, json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": [previous]})),
        step(
            &format!("PATCH {SERVICE}?{APPLY}"),
            403,
            status(403, "Forbidden", "services \"web\" is forbidden: User \"ci\" cannot patch resource \"services\""),
        ),
    ];
    let (result, _) = deploy_scripted(script, &manifests("r/shop:web_v2"), &options("v2", Arc::default())).await;
    let err = result.unwrap_err();
    assert!(matches!(&err, DeployError::Forbidden { resource, .. } if resource == "services"), "{err:?}");
}

/// Paused time: the deadlines fire as soon as everything waits, and the elapsed time is exact.
#[tokio::test(start_paused = true)]
async fn an_api_server_that_never_answers_ends_the_deploy_at_the_call_deadline() {
    let start = tokio::time::Instant::now();
    let opts = options("v1", Arc::default());
    let (result, _) = deploy_scripted(vec![hang(LIST_HISTORY)], &manifests("r/shop:web_v1"), &opts).await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, DeployError::CallTimeout { verb, object, .. } if verb == "list" && object == "release history"),
        "{err:?}"
    );
    // `options` sets a 30 s rollout timeout, which caps the 60 s per-call deadline.
    assert_eq!(start.elapsed().as_secs(), 30);
    assert!(err.to_string().contains("did not answer list release history within 30s"), "{err}");
    assert!(err.to_string().contains("https://fake-api-server.invalid"), "{err}");
    assert_eq!(hoist_diag::Diagnostic::exit(&err), hoist_diag::Exit::User);
}

#[tokio::test(start_paused = true)]
async fn a_hang_during_the_rollout_is_bounded_and_not_followed_by_a_rollback() {
    let previous = history(1, "v1", "deployed", &manifests("r/shop:web_v1"), web_inventory());
    let script = vec![
        step(LIST_HISTORY, 200, json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": [previous]})),
        step(&format!("PATCH {SERVICE}?{APPLY}"), 200, object("Service", "v1", "web")),
        step(&format!("PATCH {DEPLOYMENT}?{APPLY}"), 200, deployment(5, json!({}))),
        hang(&format!("GET {DEPLOYMENT}")),
        // The failed release is still recorded, within a deadline of its own; then nothing.
        hang(&format!("PATCH {SECRETS}/hoist-shop-r2?{APPLY_FORCE}")),
    ];
    let start = tokio::time::Instant::now();
    let mut opts = options("v2", Arc::default());
    opts.call_timeout = Duration::from_secs(10);
    let (result, _) = deploy_scripted(script, &manifests("r/shop:web_v2"), &opts).await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, DeployError::CallTimeout { verb, object, seconds, .. }
            if verb == "get" && object.contains("Deployment") && *seconds == 10.0),
        "{err:?}"
    );
    assert_eq!(start.elapsed().as_secs(), 20, "two hung calls, 10 s each");
}

/// One document of each kind the example uses, keyed by kind.
fn kind_docs() -> Vec<(&'static str, String)> {
    let pod_spec = "containers:\n    - name: c\n      image: r/shop:web_v2\n";
    vec![
        ("Namespace", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n".into()),
        (
            "PersistentVolume",
            "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: data\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /data}\n".into(),
        ),
        (
            "PersistentVolumeClaim",
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n".into(),
        ),
        ("Service", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n    - port: 80\n".into()),
        ("Pod", format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  {pod_spec}")),
        (
            "Deployment",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: r/shop:web_v2\n".into(),
        ),
    ]
}

/// `deploy` orders its input itself: whatever order the caller hands it, the fake sees
/// Namespace, PV, PVC, Service, Pod, Deployment (Helm's install order), and the rollouts
/// are waited for and the inventory recorded in that order.
#[tokio::test]
async fn deploy_applies_shuffled_documents_in_kind_order() {
    let ready_pod = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "shop"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    let done =
        deployment(1, json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}));
    let script = vec![
        step(LIST_HISTORY, 200, empty_list()),
        step(
            &format!("PATCH /api/v1/namespaces/shop?{APPLY}"),
            200,
            json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "shop"}}),
        ),
        step(
            &format!("PATCH /api/v1/persistentvolumes/data?{APPLY}"),
            200,
            json!({"kind": "PersistentVolume", "apiVersion": "v1", "metadata": {"name": "data"}}),
        ),
        step(
            &format!("PATCH /api/v1/namespaces/shop/persistentvolumeclaims/data?{APPLY}"),
            200,
            object("PersistentVolumeClaim", "v1", "data"),
        ),
        step(&format!("PATCH {SERVICE}?{APPLY}"), 200, object("Service", "v1", "web")),
        step(&format!("PATCH /api/v1/namespaces/shop/pods/p?{APPLY}"), 200, object("Pod", "v1", "p")),
        step(&format!("PATCH {DEPLOYMENT}?{APPLY}"), 200, deployment(1, json!({}))),
        step("GET /api/v1/namespaces/shop/pods/p", 200, ready_pod),
        step(&format!("GET {DEPLOYMENT}"), 200, done),
        step(&format!("PATCH {SECRETS}/hoist-shop-r1?{APPLY_FORCE}"), 200, secret(1)),
    ];
    let want_kinds = ["Namespace", "PersistentVolume", "PersistentVolumeClaim", "Service", "Pod", "Deployment"];
    let all = kind_docs();
    // Indexes into `all` (which is in apply order already): reversed, interleaved, and the
    // workloads first with the namespace last.
    let shuffles: [[usize; 6]; 3] = [[5, 4, 3, 2, 1, 0], [3, 0, 5, 1, 4, 2], [5, 4, 2, 1, 3, 0]];
    for shuffle in shuffles {
        let text = shuffle.iter().map(|&i| all[i].1.as_str()).collect::<Vec<_>>().join("---\n");
        // Parsed, not sorted: the caller's order is the shuffle.
        let docs = hoist_kube::manifest::parse(&text, Path::new("k8s/shuffled.yaml")).unwrap();
        let given: Vec<&str> = docs.iter().map(|d| d.kind()).collect();
        assert_eq!(given, shuffle.map(|i| all[i].0), "the input really is shuffled");

        let (fake, client) = FakeApiServer::start(script.clone());
        let c = cluster(client);
        let outcome = hoist_kube::deploy(&c, &docs, &options("v2", Arc::default())).await;
        let seen = fake.finish(c.client).await;
        assert_eq!(lines(&seen), expected(&script), "shuffle {shuffle:?}");
        let outcome = outcome.unwrap();
        assert_applies(&seen);

        let applied_kinds: Vec<&str> = seen
            .iter()
            .filter(|s| s.line.starts_with("PATCH") && !s.line.contains("/secrets/"))
            .map(|s| s.body["kind"].as_str().unwrap())
            .collect();
        assert_eq!(applied_kinds, want_kinds, "shuffle {shuffle:?}");
        assert_eq!(outcome.applied.iter().map(|o| o.kind.as_str()).collect::<Vec<_>>(), want_kinds);
        let recorded = release_json(seen.last().unwrap())["inventory"].clone();
        let recorded: Vec<&str> = recorded.as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(recorded, want_kinds, "shuffle {shuffle:?}");
    }
}

/// A history written by a newer hoist stops the deploy before anything is applied: this
/// hoist could not roll back to it or prune by it.
#[tokio::test]
async fn a_history_of_a_newer_format_is_refused_before_anything_is_applied() {
    let mut newer = history(4, "v9", "deployed", &manifests("r/shop:web_v9"), web_inventory());
    let b64 = |v: &Value| base64::engine::general_purpose::STANDARD.encode(v.to_string());
    newer["data"]["release.json"] = json!(b64(&json!({"version": 2, "release": "v9", "revision": 4})));
    let script = vec![step(
        LIST_HISTORY,
        200,
        json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": [newer]}),
    )];
    let (result, _) = deploy_scripted(script, &manifests("r/shop:web_v2"), &options("v2", Arc::default())).await;
    let err = result.unwrap_err();
    assert!(matches!(&err, DeployError::HistoryTooNew { name, version: 2, .. } if name == "hoist-shop-r4"), "{err:?}");
    assert!(err.to_string().contains("Secret hoist-shop-r4 in namespace shop"), "{err}");
    assert!(err.to_string().ends_with("upgrade hoist"), "{err}");
}

/// The fixture's Deployment with `SPRING_KAFKA_BOOTSTRAP_SERVERS` twice: refused with the
/// report before the first API call (the fake's script is empty: any request fails).
#[tokio::test]
async fn duplicate_keys_are_refused_before_any_api_call() {
    let file = crate::manifests::acme_k8s().join("deployment/order-server-deployment.yaml");
    let docs = hoist_kube::load(std::slice::from_ref(&file)).unwrap();
    let (fake, client) = FakeApiServer::start(Vec::new());
    let c = cluster(client);
    let result = hoist_kube::deploy(&c, &docs, &options("v2", Arc::default())).await;
    let seen = fake.finish(c.client).await;
    assert!(seen.is_empty(), "{:?}", lines(&seen));
    let err = result.unwrap_err();
    let DeployError::Manifest(hoist_kube::ManifestError::Duplicates { problems }) = &err else { panic!("{err:?}") };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (problems[0].source.as_path(), problems[0].index, problems[0].path.as_str(), problems[0].first),
        (file.as_path(), 0, "spec.template.spec.containers[0].env[2]", 1)
    );
    assert_eq!(problems[0].key, "name `SPRING_KAFKA_BOOTSTRAP_SERVERS`");
    assert_eq!(hoist_diag::Diagnostic::exit(&err), hoist_diag::Exit::User);
}

/// Five objects last time, one now (a manifest path that lost its folders): four would be
/// pruned, so the deploy stops after reading the history, before applying anything.
#[tokio::test]
async fn a_release_that_drops_more_than_half_of_the_objects_needs_allow_shrink() {
    let mut inventory = web_inventory();
    for name in ["a", "b", "c"] {
        inventory
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"api_version": "v1", "kind": "ConfigMap", "namespace": "shop", "name": name}));
    }
    let previous = history(3, "v1", "deployed", &manifests("r/shop:web_v1"), inventory);
    let list = json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": [previous]});
    let only_service = manifests("r/shop:web_v2").split("---\n").next().unwrap().to_string();

    let mut opts = options("v2", Arc::default());
    opts.sources = vec!["k8s/service".into()];
    for dry_run in [false, true] {
        opts.dry_run = dry_run;
        let (result, _) = deploy_scripted(vec![step(LIST_HISTORY, 200, list.clone())], &only_service, &opts).await;
        let err = result.unwrap_err();
        let DeployError::Shrink { previous, before, gone, after, .. } = &err else { panic!("{err:?}") };
        assert_eq!((previous.as_str(), *before, *gone, *after), ("v1", 5, 4, 1));
        assert_eq!(
            err.to_string(),
            "4 of the 5 objects release v1 applied are not in the manifests read from k8s/service (1 object): pruning would delete more than half of the release"
        );
        assert!(hoist_diag::Diagnostic::hint(&err).unwrap().contains("--allow-shrink"));
    }

    // Allowed: applied, then the four pruned.
    opts.dry_run = false;
    opts.allow_shrink = true;
    let ours = |kind: &str, name: &str| {
        json!({"kind": kind, "apiVersion": if kind == "Deployment" { "apps/v1" } else { "v1" },
            "metadata": {"name": name, "namespace": "shop",
            "labels": {"app.kubernetes.io/managed-by": "hoist", "hoist.dev/project": "shop"}}})
    };
    let mut script = vec![
        step(LIST_HISTORY, 200, list),
        step(&format!("PATCH {SERVICE}?{APPLY}"), 200, object("Service", "v1", "web")),
    ];
    script.push(step(&format!("GET {DEPLOYMENT}"), 200, ours("Deployment", "web")));
    script.push(step(&format!("DELETE {DEPLOYMENT}"), 200, status(200, "", "")));
    for name in ["a", "b", "c"] {
        let path = format!("/api/v1/namespaces/shop/configmaps/{name}");
        script.push(step(&format!("GET {path}"), 200, ours("ConfigMap", name)));
        script.push(step(&format!("DELETE {path}"), 200, status(200, "", "")));
    }
    script.push(step(&format!("PATCH {SECRETS}/hoist-shop-r4?{APPLY_FORCE}"), 200, secret(4)));
    let (result, _) = deploy_scripted(script, &only_service, &opts).await;
    assert_eq!(result.unwrap().pruned.len(), 4);
}

/// Half gone is not more than half: two objects last time, one now, pruned without a flag.
#[tokio::test]
async fn dropping_half_of_the_objects_is_allowed() {
    let previous = history(1, "v1", "deployed", &manifests("r/shop:web_v1"), web_inventory());
    let ours = json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "web", "namespace": "shop",
        "labels": {"app.kubernetes.io/managed-by": "hoist", "hoist.dev/project": "shop"}}});
    let script = vec![
        step(LIST_HISTORY, 200, json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": [previous]})),
        step(&format!("PATCH {SERVICE}?{APPLY}"), 200, object("Service", "v1", "web")),
        step(&format!("GET {DEPLOYMENT}"), 200, ours),
        step(&format!("DELETE {DEPLOYMENT}"), 200, status(200, "", "")),
        step(&format!("PATCH {SECRETS}/hoist-shop-r2?{APPLY_FORCE}"), 200, secret(2)),
    ];
    let only_service = manifests("r/shop:web_v2").split("---\n").next().unwrap().to_string();
    let (result, _) = deploy_scripted(script, &only_service, &options("v2", Arc::default())).await;
    assert_eq!(result.unwrap().pruned.len(), 1);
}
