//! OCI images without a daemon: the local image layout, reproducible layers, the image
//! builder, jar layering, the Dockerfile subset, rootfs import and archive export.
//!
//! No network and no daemon: everything reads and writes an OCI image layout ([`Layout`]).
//! Digests are oci-spec's [`Digest`] (`sha256:<hex>` Display/FromStr).

pub mod error;
mod json;
pub mod layout;

pub use error::OciError;
pub use json::canonical as canonical_json;
pub use layout::{BlobWriter, Image, Layout, VerifyingReader, check_ref_name, digest_of, sha256_digest};
pub use oci_spec::image::{Descriptor, Digest, ImageConfiguration, ImageManifest, MediaType};
