//! The same deploy path against a REAL cluster, when one is available: set
//! `HOIST_TEST_KUBECONFIG` to a kubeconfig (kind, k3d, minikube) and run
//! `cargo test -p hoist-kube --test it -- --ignored real_cluster`.
//! No cluster can run on the build machines, so these are `#[ignore]`d by default.
//!
//! It deploys a pause-container Deployment into a throwaway namespace, then a release
//! whose image cannot be pulled (rolled back after `progressDeadlineSeconds`), then a
//! release without its ConfigMap (pruned), and deletes the namespace.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hoist_kube::DeployError;
use hoist_kube::deploy::{Cluster, Options};

async fn cluster() -> Cluster {
    let path = std::env::var("HOIST_TEST_KUBECONFIG").expect("set HOIST_TEST_KUBECONFIG to run the real-cluster tests");
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("read HOIST_TEST_KUBECONFIG");
    let context = kubeconfig.current_context.clone().unwrap_or_default();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("kubeconfig");
    let url = config.cluster_url.to_string();
    Cluster { client: kube::Client::try_from(config).expect("client"), context, url }
}

fn manifests(ns: &str, image: &str, with_config: bool) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: 1\n  progressDeadlineSeconds: 15\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n        - name: web\n          image: {image}\n"
    );
    if with_config {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: {ns}\ndata:\n  a: b\n"
        ));
    }
    text
}

#[tokio::test]
#[ignore = "needs a real cluster: HOIST_TEST_KUBECONFIG"]
async fn real_cluster_deploy_rollback_and_prune() {
    let c = cluster().await;
    let ns = format!("hoist-test-{}", std::process::id());
    let docs = |text: &str| {
        let mut d = hoist_kube::manifest::parse(text, Path::new("real.yaml")).unwrap();
        hoist_kube::order::sort(&mut d);
        d
    };
    let opts = |release: &str| {
        let mut o = Options::new("hoist-test", release, &ns);
        o.timeout = Duration::from_secs(120);
        o.poll = Duration::from_secs(1);
        o.progress = Arc::new(|n| tracing::info!("{n}"));
        o
    };
    let pause = "registry.k8s.io/pause:3.9";
    let first = hoist_kube::deploy(&c, &docs(&manifests(&ns, pause, true)), &opts("v1")).await.unwrap();
    assert_eq!(first.revision, 1);

    let broken = hoist_kube::deploy(&c, &docs(&manifests(&ns, "127.0.0.1:1/none:missing", true)), &opts("v2")).await;
    assert!(matches!(broken, Err(DeployError::RolledBack { .. })), "{broken:?}");

    let third = hoist_kube::deploy(&c, &docs(&manifests(&ns, pause, false)), &opts("v3")).await.unwrap();
    assert_eq!(third.pruned.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["extra"]);

    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(c.client.clone());
    namespaces.delete(&ns, &Default::default()).await.unwrap();
}
