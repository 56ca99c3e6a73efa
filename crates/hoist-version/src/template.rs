//! `{placeholder}` templates as written in hoist.toml (`v{version}-{sha}`, `{service}_{tag}`).
//!
//! Substitution happens inside one string and never re-splits it, so a value with spaces
//! or shell syntax stays exactly that value.

use std::collections::BTreeMap;

/// A parsed template: literal text and named placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Placeholder(String),
}

/// Why a template is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder `{{{name}}}` in `{template}` (known: {known})")]
    Unknown { template: String, name: String, known: String },
    #[error("unclosed `{{` in `{template}`")]
    Unclosed { template: String },
    #[error("empty placeholder `{{}}` in `{template}`")]
    Empty { template: String },
}

impl Template {
    /// Parse, accepting only the placeholders in `known`.
    ///
    /// ```
    /// use hoist_version::Template;
    /// use hoist_version::template::Part;
    ///
    /// let t = Template::parse("{service}_{tag}", &["service", "tag", "version", "sha"])?;
    /// assert!(t.uses("service") && t.uses("tag") && !t.uses("sha"));
    /// assert_eq!(t.render_with(&[("service", "user-service"), ("tag", "v5.0.2-b321ac0")]), "user-service_v5.0.2-b321ac0");
    /// assert_eq!(
    ///     t.parts(),
    ///     [Part::Placeholder("service".into()), Part::Literal("_".into()), Part::Placeholder("tag".into())]
    /// );
    ///
    /// let err = Template::parse("{service}_{hash}", &["service", "tag"]).unwrap_err();
    /// assert_eq!(err.to_string(), "unknown placeholder `{hash}` in `{service}_{hash}` (known: {service}, {tag})");
    /// assert_eq!(Template::parse("v{tag", &["tag"]).unwrap_err().to_string(), "unclosed `{` in `v{tag`");
    /// assert_eq!(Template::parse("v{}", &["tag"]).unwrap_err().to_string(), "empty placeholder `{}` in `v{}`");
    /// # Ok::<(), hoist_version::TemplateError>(())
    /// ```
    pub fn parse(source: &str, known: &[&str]) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(TemplateError::Unclosed { template: source.to_string() });
            };
            let name = &after[..close];
            if name.is_empty() {
                return Err(TemplateError::Empty { template: source.to_string() });
            }
            if !known.contains(&name) {
                return Err(TemplateError::Unknown {
                    template: source.to_string(),
                    name: name.to_string(),
                    known: known.iter().map(|k| format!("{{{k}}}")).collect::<Vec<_>>().join(", "),
                });
            }
            parts.push(Part::Placeholder(name.to_string()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { source: source.to_string(), parts })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Whether the template uses `{name}`.
    pub fn uses(&self, name: &str) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Placeholder(n) if n == name))
    }

    /// Substitute every placeholder. Placeholders missing from `values` render empty;
    /// `parse` already rejected unknown names, so that only happens by caller mistake.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    ///
    /// use hoist_version::Template;
    ///
    /// let t = Template::parse("-Pversion={tag}", &["tag", "sha"])?;
    /// // A value is inserted as it is: never split, expanded or substituted again.
    /// assert_eq!(t.render(&BTreeMap::from([("tag", "$(touch x) {sha}")])), "-Pversion=$(touch x) {sha}");
    /// assert_eq!(t.render(&BTreeMap::new()), "-Pversion=");
    /// # Ok::<(), hoist_version::TemplateError>(())
    /// ```
    pub fn render(&self, values: &BTreeMap<&str, &str>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Placeholder(name) => out.push_str(values.get(name.as_str()).copied().unwrap_or("")),
            }
        }
        out
    }

    /// Convenience for a few pairs.
    pub fn render_with(&self, pairs: &[(&str, &str)]) -> String {
        self.render(&pairs.iter().copied().collect())
    }
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let known = ["tag", "version", "sha"];
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("-Pversion={tag}", Ok("-Pversion=v1.2.3-abc1234")),
            ("{version}", Ok("1.2.3")),
            ("plain", Ok("plain")),
            ("{tag}{sha}", Ok("v1.2.3-abc1234abc1234")),
            ("{unknown}", Err("unknown placeholder `{unknown}`")),
            ("x{tag", Err("unclosed")),
            ("{}", Err("empty placeholder")),
        ];
        for (src, want) in cases {
            let got = Template::parse(src, &known)
                .map(|t| t.render_with(&[("tag", "v1.2.3-abc1234"), ("version", "1.2.3"), ("sha", "abc1234")]));
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(&g, w, "{src}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{src}: {e}"),
                (w, g) => panic!("{src}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn values_are_not_interpreted() {
        let t = Template::parse("--name={tag}", &["tag"]).unwrap();
        assert_eq!(t.render_with(&[("tag", "$(touch x); `y` {sha}")]), "--name=$(touch x); `y` {sha}");
    }
}
