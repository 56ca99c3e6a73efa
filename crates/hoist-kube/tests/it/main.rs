//! hoist-kube's I/O tests: manifests on disk, the `kubectl kustomize` cross-check, and
//! apply/wait/rollback/prune against the FAKE API server (`fake_api`).

mod deploy;
mod fake_api;
mod kustomize;
mod manifests;
mod real_cluster;
