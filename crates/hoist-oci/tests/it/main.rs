//! Integration tests of hoist-oci against real files, checked with skopeo where it reads images.

mod build;
mod hostile;
mod layout;
