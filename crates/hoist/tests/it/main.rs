//! End-to-end tests of the `hoist` binary: one test binary, one shared context
//! (`common::TestContext`), one module per command family.

mod build;
mod common;
mod image;
mod registry;
mod kube;
mod version;
