//! `${VAR}` in hoist.toml values: read from the environment once, when the file is loaded.
//!
//! Only keys that name a place (a registry, a host, a URL) expand, so a secret registry
//! address need not be committed. A value that came from a variable may itself be a secret
//! (a URL with credentials): messages show the `${VAR}` form, never what it expanded to.

/// Why a `${VAR}` in a value could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("`{value}` uses `${{{var}}}`, which is not set")]
    Unset { value: String, var: String },
    /// An empty registry or host is never what was meant.
    #[error("`{value}` uses `${{{var}}}`, which is set but empty")]
    Empty { value: String, var: String },
    #[error("`{value}` has a `${{` without its closing `}}`")]
    Unclosed { value: String },
    #[error("`{value}`: `${{{name}}}` is not a variable name (letters, digits and `_`, not starting with a digit)")]
    BadName { value: String, name: String },
}

impl EnvError {
    /// The variable to set, when setting one is the fix.
    pub fn var(&self) -> Option<&str> {
        match self {
            EnvError::Unset { var, .. } | EnvError::Empty { var, .. } => Some(var),
            EnvError::Unclosed { .. } | EnvError::BadName { .. } => None,
        }
    }
}

/// Expand every `${VAR}` in `value` through `env`. A `$` not followed by `{` stays as it
/// is (`$1`, a price), and the text a variable brings in is never expanded again.
///
/// ```
/// use hoist_config::env::{EnvError, expand};
///
/// let env = |name: &str| match name {
///     "REGISTRY" => Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com".to_string()),
///     "EMPTY" => Some(String::new()),
///     "LOOP" => Some("${REGISTRY}".to_string()),
///     _ => None,
/// };
/// assert_eq!(expand("${REGISTRY}/shop", &env)?, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop");
/// assert_eq!(expand("127.0.0.1:5000/shop$1", &env)?, "127.0.0.1:5000/shop$1");
/// assert_eq!(expand("${LOOP}", &env)?, "${REGISTRY}");
/// assert_eq!(
///     expand("${NOPE}/shop", &env).unwrap_err().to_string(),
///     "`${NOPE}/shop` uses `${NOPE}`, which is not set"
/// );
/// assert_eq!(expand("${EMPTY}/shop", &env).unwrap_err().var(), Some("EMPTY"));
/// # Ok::<(), EnvError>(())
/// ```
pub fn expand(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    expand_noting(value, env, &mut Vec::new())
}

/// [`expand`], noting each variable used as an [`Expanded`] `${VAR}` → its value.
fn expand_noting(
    value: &str,
    env: &dyn Fn(&str) -> Option<String>,
    used: &mut Vec<Expanded>,
) -> Result<String, EnvError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(close) = after.find('}') else { return Err(EnvError::Unclosed { value: value.into() }) };
        let name = &after[..close];
        if !is_var_name(name) {
            return Err(EnvError::BadName { value: value.into(), name: name.into() });
        }
        match env(name) {
            None => return Err(EnvError::Unset { value: value.into(), var: name.into() }),
            Some(v) if v.is_empty() => return Err(EnvError::Empty { value: value.into(), var: name.into() }),
            Some(v) => {
                out.push_str(&v);
                used.push(Expanded { written: format!("${{{name}}}"), value: v });
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value that a variable changed: what the file says, and what it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expanded {
    pub(crate) written: String,
    pub(crate) value: String,
}

/// Expand `field` in place (the key names it in errors), remembering what it was written as.
pub(crate) fn expand_field(
    field: &mut String,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
    seen: &mut Vec<Expanded>,
) -> Result<(), (String, EnvError)> {
    let mut used = Vec::new();
    let value = expand_noting(field, env, &mut used).map_err(|e| (key.to_string(), e))?;
    if value != *field {
        seen.push(Expanded { written: std::mem::replace(field, value.clone()), value });
        // Each variable on its own too, for a message that quotes only part of the value.
        seen.extend(used);
    }
    Ok(())
}

/// `message` with every expanded value put back in its `${VAR}` form, longest first so a
/// whole value is replaced before the variables inside it.
pub(crate) fn redact(message: &str, seen: &[Expanded]) -> String {
    let mut seen: Vec<&Expanded> = seen.iter().collect();
    seen.sort_by_key(|e| std::cmp::Reverse(e.value.len()));
    seen.iter().fold(message.to_string(), |m, e| m.replace(&e.value, &e.written))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("registry.internal:5000".into()),
            "ORG" => Some("acme".into()),
            "SECRET_URL" => Some("https://user:pa55@ci.internal/x".into()),
            "EMPTY" => Some(String::new()),
            "_X1" => Some("x".into()),
            _ => None,
        }
    }

    #[test]
    fn expand_table() {
        // (value, Ok(expanded) or Err(message fragment))
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("plain/value", Ok("plain/value")),
            ("${HOST}/shop", Ok("registry.internal:5000/shop")),
            ("${HOST}/${ORG}/shop", Ok("registry.internal:5000/acme/shop")),
            ("${HOST}${ORG}", Ok("registry.internal:5000acme")),
            ("${_X1}", Ok("x")),
            ("$HOST/shop", Ok("$HOST/shop")),
            ("a$", Ok("a$")),
            ("$$", Ok("$$")),
            ("{HOST}", Ok("{HOST}")),
            ("${MISSING}/shop", Err("`${MISSING}/shop` uses `${MISSING}`, which is not set")),
            ("${EMPTY}/shop", Err("which is set but empty")),
            ("${HOST", Err("without its closing `}`")),
            ("${}", Err("`${}` is not a variable name")),
            ("${1X}", Err("`${1X}` is not a variable name")),
            ("${A-B}", Err("`${A-B}` is not a variable name")),
            ("${HOST:-x}", Err("is not a variable name")),
        ];
        for (value, want) in cases {
            match (want, expand(value, &env)) {
                (Ok(w), Ok(g)) => assert_eq!(&g, w, "{value}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{value}: {e}"),
                (w, g) => panic!("{value}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn errors_never_show_what_a_variable_held() {
        // The first variable expands, the second is missing: the message names the written form.
        let err = expand("${SECRET_URL}/${MISSING}", &env).unwrap_err().to_string();
        assert!(err.contains("${SECRET_URL}") && !err.contains("pa55"), "{err}");

        let mut seen = Vec::new();
        let mut a = "${SECRET_URL}".to_string();
        let mut b = "${HOST}/shop".to_string();
        let mut c = "plain".to_string();
        for (field, key) in [(&mut a, "a"), (&mut b, "b"), (&mut c, "c")] {
            expand_field(field, key, &env, &mut seen).unwrap();
        }
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("https://user:pa55@ci.internal/x", "registry.internal:5000/shop", "plain")
        );
        assert!(seen.iter().all(|e| e.written != "plain"), "an unchanged value is not recorded");
        let message = "`https://user:pa55@ci.internal/x` and `registry.internal:5000/shop` are wrong";
        assert_eq!(redact(message, &seen), "`${SECRET_URL}` and `${HOST}/shop` are wrong");
        // Part of a value, quoted on its own, is put back too.
        assert_eq!(redact("cannot reach registry.internal:5000", &seen), "cannot reach ${HOST}");
    }
}
