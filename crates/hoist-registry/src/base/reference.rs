//! Image references as Docker normalises them: `eclipse-temurin:17` is
//! `docker.io/library/eclipse-temurin:17`, `org/img:1` is `docker.io/org/img:1`, a first
//! component with a `.` or `:` (or `localhost`) is a registry host, no tag means `latest`,
//! `@sha256:…` pins a digest. Pure: the grammar of distribution's `reference` package.

use crate::reference::{Repository, is_loopback};

/// The name Docker Hub images are normalised under.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's distribution API is served.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Docker Hub's key in `config.json`'s `auths` (and for credential helpers).
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseRef {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `localhost`.
    pub domain: String,
    /// The repository path: `library/eclipse-temurin`, `org/img`.
    pub path: String,
    /// The tag; `latest` when neither a tag nor a digest was written.
    pub tag: Option<String>,
    /// The digest written after `@`.
    pub digest: Option<String>,
}

/// Why a text is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{reference}` is not an image reference: {reason}")]
pub struct BadReference {
    pub reference: String,
    pub reason: String,
}

impl BaseRef {
    /// Parse and normalise `text` as `docker pull` does.
    pub fn parse(text: &str) -> Result<BaseRef, BadReference> {
        let bad = |reason: &str| BadReference { reference: text.to_string(), reason: reason.to_string() };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        if text.len() > 255 + 7 + 64 + 129 {
            return Err(bad("it is longer than any image reference can be"));
        }
        if text.contains("://") {
            return Err(bad("write it without a scheme, e.g. `ghcr.io/org/image:tag`"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => {
                if !crate::digest::is_valid(d) {
                    return Err(bad("the digest after `@` must be `sha256:` and 64 lowercase hex digits"));
                }
                (r, Some(d.to_string()))
            }
            None => (text, None),
        };
        // The tag is after the last `:` that follows the last `/` (a port is before it).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let ok = t.len() <= 128
                && t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && t.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                return Err(bad("a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"));
            }
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, p))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_string(), p.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let domain = if domain == "index.docker.io" { DOCKER_HUB.to_string() } else { domain };
        if !domain.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)) {
            return Err(bad("the registry host has characters a host name cannot have"));
        }
        if domain.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("the registry host must be lowercase"));
        }
        let path = if domain == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path };
        if path.is_empty() {
            return Err(bad("it has no repository name"));
        }
        for component in path.split('/') {
            if component.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(bad("repository names must be lowercase"));
            }
            if !path_component_ok(component) {
                return Err(bad(
                    "each part of the repository name is lowercase letters and digits, separated by `.`, `_`, `__` or dashes",
                ));
            }
        }
        if domain.len() + 1 + path.len() > 255 {
            return Err(bad("the name is longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(BaseRef { domain, path, tag, digest })
    }

    /// The normalised name: `docker.io/library/jre:17`, `host/x@sha256:…`, `host/x:1@sha256:…`.
    /// The key of `hoist.lock` and the base's ref in the layout.
    pub fn name(&self) -> String {
        let mut s = format!("{}/{}", self.domain, self.path);
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The host the distribution API is reached at.
    pub fn api_host(&self) -> &str {
        if self.domain == DOCKER_HUB { DOCKER_HUB_API } else { &self.domain }
    }

    /// The host whose credentials are used (`config.json` key): Docker Hub's is
    /// `index.docker.io` (written `https://index.docker.io/v1/`).
    pub fn auth_host(&self) -> &str {
        if self.domain == DOCKER_HUB { "index.docker.io" } else { &self.domain }
    }

    /// The repository to ask: plain HTTP only for loopback hosts, as `Repository::parse`.
    pub fn repository(&self) -> Repository {
        let host = self.api_host().to_string();
        Repository { plain_http: is_loopback(&host), host, path: self.path.clone() }
    }

    /// What the manifest is asked by: the digest when one was written, else the tag.
    pub fn reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).expect("a tag or a digest")
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn path_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn short_names_normalise_as_docker_does() {
        let cases: Vec<(String, String, &str, &str)> = vec![
            // written, normalised name, API host, repository path
            (
                "eclipse-temurin:17".into(),
                "docker.io/library/eclipse-temurin:17".into(),
                DOCKER_HUB_API,
                "library/eclipse-temurin",
            ),
            (
                "amazoncorretto:17-alpine3.16-jdk".into(),
                "docker.io/library/amazoncorretto:17-alpine3.16-jdk".into(),
                DOCKER_HUB_API,
                "library/amazoncorretto",
            ),
            ("ubuntu".into(), "docker.io/library/ubuntu:latest".into(), DOCKER_HUB_API, "library/ubuntu"),
            ("org/img:1".into(), "docker.io/org/img:1".into(), DOCKER_HUB_API, "org/img"),
            ("docker.io/library/jre:17".into(), "docker.io/library/jre:17".into(), DOCKER_HUB_API, "library/jre"),
            ("index.docker.io/jre".into(), "docker.io/library/jre:latest".into(), DOCKER_HUB_API, "library/jre"),
            ("ghcr.io/org/img".into(), "ghcr.io/org/img:latest".into(), "ghcr.io", "org/img"),
            ("ghcr.io/org/team/img:v1.2".into(), "ghcr.io/org/team/img:v1.2".into(), "ghcr.io", "org/team/img"),
            ("127.0.0.1:5000/x:y".into(), "127.0.0.1:5000/x:y".into(), "127.0.0.1:5000", "x"),
            ("localhost/x".into(), "localhost/x:latest".into(), "localhost", "x"),
            (
                "localhost:5000/a__b/c-d.e".into(),
                "localhost:5000/a__b/c-d.e:latest".into(),
                "localhost:5000",
                "a__b/c-d.e",
            ),
            (format!("jre@{D}"), format!("docker.io/library/jre@{D}"), DOCKER_HUB_API, "library/jre"),
            (format!("jre:17@{D}"), format!("docker.io/library/jre:17@{D}"), DOCKER_HUB_API, "library/jre"),
        ];
        for (text, name, host, path) in cases {
            let r = BaseRef::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((r.name(), r.api_host(), r.path.as_str()), (name, host, path), "{text}");
            // Normalising a normalised name changes nothing.
            assert_eq!(BaseRef::parse(&r.name()).unwrap(), r, "{text}");
        }
        let hub = BaseRef::parse("eclipse-temurin:17").unwrap();
        assert_eq!(hub.auth_host(), "index.docker.io");
        assert!(!hub.repository().plain_http);
        assert!(BaseRef::parse("127.0.0.1:5000/x").unwrap().repository().plain_http);
        assert!(!BaseRef::parse("ghcr.io/x").unwrap().repository().plain_http);
        assert_eq!(BaseRef::parse(&format!("jre:17@{D}")).unwrap().reference(), D);
        assert_eq!(BaseRef::parse("jre:17").unwrap().reference(), "17");
    }

    #[test]
    fn bad_references_say_why() {
        for (text, why) in [
            ("", "empty"),
            ("Eclipse-Temurin:17", "lowercase"),
            ("org/Img:1", "lowercase"),
            ("ghcr.io/Org/img", "lowercase"),
            ("jre@sha256:abc", "digest"),
            ("jre@sha512:abc", "digest"),
            ("jre:-x", "tag"),
            ("jre:a b", "tag"),
            ("https://ghcr.io/x", "scheme"),
            ("ghcr.io/", "repository name"),
            ("a//b", "repository name"),
            ("a-/b", "repository name"),
            ("a..b", "repository name"),
            ("ghcr.io/x;rm", "repository name"),
        ] {
            let e = BaseRef::parse(text).expect_err(text);
            assert!(e.to_string().contains(why), "{text}: {e}");
            assert!(e.to_string().contains(&format!("`{text}`")), "{text}: {e}");
        }
    }
}
