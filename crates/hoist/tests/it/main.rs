//! End-to-end tests of the `hoist` binary: one test binary, one shared context
//! (`common::TestContext`), one module per command family.

mod base;
mod base_push;
mod bases;
mod build;
mod carry;
mod common;
mod compose;
mod dockerfile;
mod hostile_compose;
mod hostile_image;
mod hostile_misc;
mod hostile_registry;
mod image;
mod image_import;
mod init;
mod kill;
mod kube;
mod platforms;
mod registry;
mod release;
mod remote;
mod version;
mod workflows;
