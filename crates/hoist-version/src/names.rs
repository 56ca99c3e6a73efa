//! Validity rules for the names hoist derives: git tag names and OCI image tags.

/// Why a derived name is not acceptable; the message says which rule it breaks.
pub type NameError = String;

/// `git check-ref-format` rules for a tag name (`refs/tags/<name>`).
///
/// ```
/// use hoist_version::names::check_git_tag;
///
/// assert_eq!(check_git_tag("v5.0.2-b321ac"), Ok(()));
/// assert_eq!(check_git_tag("release/v1.0.0"), Ok(()));
/// assert_eq!(check_git_tag("v1..2").unwrap_err(), "`v1..2` contains `..`, which git does not allow in a ref");
/// assert!(check_git_tag("-v1").unwrap_err().contains("option"));
/// ```
pub fn check_git_tag(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err("a tag name cannot be empty".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || " ~^:?*[\\".contains(*c)) {
        return Err(format!("`{name}` contains {c:?}, which git does not allow in a ref"));
    }
    for bad in ["..", "@{", "//"] {
        if name.contains(bad) {
            return Err(format!("`{name}` contains `{bad}`, which git does not allow in a ref"));
        }
    }
    if name == "@" {
        return Err("`@` alone is not a valid ref".into());
    }
    if name.starts_with('-') {
        return Err(format!("`{name}` starts with `-`, which git would read as an option"));
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        return Err(format!("`{name}` cannot start or end with `/` or end with `.`"));
    }
    for component in name.split('/') {
        if component.starts_with('.') || component.ends_with(".lock") {
            return Err(format!("`{name}`: a ref component cannot start with `.` or end with `.lock`"));
        }
    }
    Ok(())
}

/// OCI distribution rule for a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
///
/// ```
/// use hoist_version::names::check_oci_tag;
///
/// assert_eq!(check_oci_tag("user-service_v5.0.2-b321ac0"), Ok(()));
/// // Fine as a git tag, not as an image tag.
/// assert!(check_oci_tag("user-service_v5.0.2+b321ac0").unwrap_err().contains("`+`"));
/// assert!(check_oci_tag(&"a".repeat(129)).unwrap_err().contains("at most 128"));
/// ```
pub fn check_oci_tag(tag: &str) -> Result<(), NameError> {
    if tag.is_empty() {
        return Err("an image tag cannot be empty".into());
    }
    if tag.len() > 128 {
        return Err(format!("image tag `{tag}` is {} characters; OCI allows at most 128", tag.len()));
    }
    if tag.contains('+') {
        return Err(format!(
            "image tag `{tag}` contains `+`, which OCI image tags forbid; use `-` or `_` before the hash in the tag format"
        ));
    }
    if let Some(c) = tag.chars().find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c))) {
        return Err(format!("image tag `{tag}` contains {c:?}; OCI allows only [A-Za-z0-9_.-]"));
    }
    if tag.starts_with(['.', '-']) {
        return Err(format!("image tag `{tag}` cannot start with `.` or `-`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_tags() {
        let ok = ["v1.2.3", "v5.0.2-b321ac", "shop-v1.0.0", "release/v1.0.0", "v1.0.0+abc"];
        for name in ok {
            assert!(check_git_tag(name).is_ok(), "{name}");
        }
        let bad = ["", "v1 2", "v1..2", "a@{b", "x.lock", ".hidden", "end/", "end.", "-x", "a:b", "a~1", "a\nb"];
        for name in bad {
            assert!(check_git_tag(name).is_err(), "{name}");
        }
    }

    #[test]
    fn oci_tags() {
        let ok = ["user-service_v5.0.2-b321ac", "latest", "_x", "A.b-c_d"];
        for tag in ok {
            assert!(check_oci_tag(tag).is_ok(), "{tag}");
        }
        let long = "a".repeat(129);
        let bad = [("", "empty"), ("svc_v1.0.0+abc", "`+`"), ("a/b", "'/'"), (".x", "start"), (long.as_str(), "128")];
        for (tag, why) in bad {
            let err = check_oci_tag(tag).unwrap_err();
            assert!(err.contains(why), "{tag}: {err}");
        }
        assert!(check_oci_tag(&"a".repeat(128)).is_ok());
    }
}
