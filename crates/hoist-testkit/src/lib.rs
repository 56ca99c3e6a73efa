//! The shared test context: throwaway git repositories, the example project, local servers.
//!
//! Tests use real programs (git, the registry, the Docker Engine); this crate only makes
//! setting them up short. Panics are the error handling: it is test code.

#![allow(clippy::missing_panics_doc)]

pub mod compose;
pub mod example;
pub mod git;
pub mod hostile;
pub mod hosts;
pub mod net;
pub mod proxy;
pub mod registry;
pub mod token;

use std::path::{Path, PathBuf};

pub use git::TestRepo;
pub use proxy::{Fault, FaultProxy};
pub use registry::Registry;
pub use token::TokenServer;

/// The workspace root (for `examples/shop` and friends).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The example project's source directory.
pub fn example_shop() -> PathBuf {
    workspace_root().join("examples/shop")
}

/// The migration fixture of issue 13 (`examples/acme`): a repository as a team has it
/// before adopting hoist.
pub fn example_acme() -> PathBuf {
    workspace_root().join("examples/acme")
}

/// The six deployed services of [`example_acme`], by their deploy names (compose service,
/// Kubernetes workload), each with its Gradle module; sorted by name.
pub const ACME_SERVICES: [(&str, &str); 6] = [
    ("gateway", "api-gateway"),
    ("inventory-server", "inventory-backend-server"),
    ("notification-server", "notification-backend-server"),
    ("order-server", "orders-backend-server"),
    ("payment-server", "payments-backend-server"),
    ("user-server", "users-backend-server"),
];

/// The sha256 of `bytes`, lowercase hex (for checking digests independently).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}
