//! The one check every digest that comes from outside passes before hoist uses it: in a
//! header (`Docker-Content-Digest`), in a manifest (config and layer descriptors), anywhere
//! a registry names content.
//!
//! Only `sha256:` + 64 lowercase hex is accepted: it is the one algorithm hoist verifies,
//! and the OCI grammar's other forms (`sha512:`, registered or not) would reach paths,
//! URLs and `docker pull` arguments unverified. A value that fails is never printed raw:
//! the error shows it escaped and shortened.

use sha2::{Digest as _, Sha256};

use crate::error::RegistryError;

/// Whether `value` is `sha256:<64 lowercase hex>`.
pub fn is_valid(value: &str) -> bool {
    value
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// `value` when it is a digest hoist can verify; else an error naming `registry`, what the
/// value was (`the Docker-Content-Digest of tag api_v1`) and the value, escaped.
pub fn validate(registry: &str, what: &str, value: &str) -> Result<String, RegistryError> {
    if is_valid(value) {
        Ok(value.to_string())
    } else {
        Err(RegistryError::BadDigest { registry: registry.to_string(), what: what.to_string(), value: escape(value) })
    }
}

/// Untrusted text for an error message: quoted, control and non-ASCII characters escaped,
/// at most 100 characters of it.
pub(crate) fn escape(value: &str) -> String {
    let mut short: String = value.chars().take(100).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    format!("{short:?}")
}

pub(crate) fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub(crate) fn check_digest(what: &str, expected: &str, actual: &str) -> Result<(), RegistryError> {
    if expected == actual {
        Ok(())
    } else {
        Err(RegistryError::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_lowercase_hex() {
        let good = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let cases: &[(&str, bool)] = &[
            (&good, true),
            (&good.to_uppercase(), false),
            (&good.replace("sha256", "SHA256"), false),
            (&good[..good.len() - 1], false),
            (&format!("{good}0"), false),
            (&format!("{good}\n"), false),
            (&format!(" {good}"), false),
            (&format!("sha512:{}", "ab".repeat(64)), false),
            ("sha256:NOT-A-DIGEST ../../x \"'; $(id)", false),
            ("sha256:", false),
            ("", false),
            (&format!("sha256:{}g", "0".repeat(63)), false),
        ];
        for (value, want) in cases {
            assert_eq!(is_valid(value), *want, "{value:?}");
        }
    }

    #[test]
    fn refusals_name_the_registry_and_escape_the_value() {
        let err =
            validate("r:5000", "the Docker-Content-Digest of `api`", "sha256:x\"; $(id)\n\u{1b}[31m").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("r:5000") && text.contains("Docker-Content-Digest of `api`"), "{text}");
        assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains(r"\n") && text.contains(r"\u{1b}"), "{text}");
        let long = "a".repeat(10_000);
        assert!(validate("r", "x", &long).unwrap_err().to_string().len() < 400);
    }
}
