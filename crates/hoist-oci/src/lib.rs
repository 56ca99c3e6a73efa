//! OCI images without a daemon: the local image layout, reproducible layers, the image
//! builder, jar layering, the Dockerfile subset, rootfs import and archive export.
//!
//! No network and no daemon: everything reads and writes an OCI image layout ([`Layout`]).
//! Digests are oci-spec's [`Digest`] (`sha256:<hex>` Display/FromStr).

pub mod archive;
pub mod dockerfile;
pub mod dockerignore;
pub mod error;
pub mod export;
pub mod image;
pub mod import;
pub mod index;
pub mod jar;
mod json;
pub mod layer;
pub mod layout;
pub mod platform;
pub mod rootfs;
pub mod scratch;

pub use archive::ArchiveLimits;
pub use error::{Limit, OciError};
pub use image::{BuiltImage, ConfigSpec, ImagePlan, build_image, build_images};
pub use json::canonical as canonical_json;
pub use layer::{BuiltLayer, Compression, Entry, LayerSpec, Source};
pub use layout::{BlobWriter, Image, Layout, VerifyingReader, check_ref_name, digest_of, sha256_digest};
pub use oci_spec::image::{Descriptor, Digest, ImageConfiguration, ImageManifest, MediaType};
pub use platform::{DEFAULT_PLATFORM, Platform};
