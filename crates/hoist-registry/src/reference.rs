//! A repository on a registry (`host[:port]/path`) and the URLs of its distribution API.

use std::net::IpAddr;

use crate::error::RegistryError;

/// `127.0.0.1:5000/shop`: the registry host and the repository path on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// `host[:port]`
    pub host: String,
    /// The repository path, e.g. `shop` or `team/shop`.
    pub path: String,
    /// Plain HTTP (loopback registries, or `insecure = true`).
    pub plain_http: bool,
}

impl Repository {
    /// Parse `host[:port]/path`. TLS is used unless the host is a loopback address or
    /// `insecure` is set.
    pub fn parse(text: &str, insecure: bool) -> Result<Repository, RegistryError> {
        let text = text.trim();
        let bad = || RegistryError::BadRepository(text.to_string());
        if text.contains("://") || text.contains('@') {
            return Err(bad());
        }
        let (host, path) = text.split_once('/').ok_or_else(bad)?;
        let path_ok = !path.is_empty()
            && path.split('/').all(|c| {
                !c.is_empty()
                    && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            });
        if host.is_empty() || !path_ok {
            return Err(bad());
        }
        Ok(Repository { host: host.to_string(), path: path.to_string(), plain_http: insecure || is_loopback(host) })
    }

    /// `https://host` (or `http://` for plain HTTP).
    pub fn base_url(&self) -> String {
        format!("{}://{}", if self.plain_http { "http" } else { "https" }, self.host)
    }

    /// `<base>/v2/<path>/<suffix>`
    pub fn url(&self, suffix: &str) -> String {
        format!("{}/v2/{}/{suffix}", self.base_url(), self.path)
    }

    /// The host without a port.
    pub fn hostname(&self) -> &str {
        hostname(&self.host)
    }
}

impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.path)
    }
}

fn hostname(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let h = hostname(host);
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_picks_the_scheme() {
        let cases: &[(&str, bool, Option<(&str, &str, bool)>)] = &[
            ("127.0.0.1:5000/shop", false, Some(("127.0.0.1:5000", "shop", true))),
            ("localhost:5000/a/b", false, Some(("localhost:5000", "a/b", true))),
            ("[::1]:5000/shop", false, Some(("[::1]:5000", "shop", true))),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop",
                false,
                Some(("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "shop", false)),
            ),
            ("registry.internal:5000/shop", true, Some(("registry.internal:5000", "shop", true))),
            ("127.0.0.2/shop", false, Some(("127.0.0.2", "shop", true))),
            ("shop", false, None),
            ("https://host/shop", false, None),
            ("host/Shop", false, None),
            ("host/", false, None),
            ("host//x", false, None),
        ];
        for (text, insecure, want) in cases {
            let got = Repository::parse(text, *insecure).ok().map(|r| (r.host, r.path, r.plain_http));
            let want = want.map(|(h, p, i)| (h.to_string(), p.to_string(), i));
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn urls() {
        let r = Repository::parse("127.0.0.1:5000/shop", false).unwrap();
        assert_eq!(r.url("tags/list"), "http://127.0.0.1:5000/v2/shop/tags/list");
        let r = Repository::parse("ghcr.io/acme/shop", false).unwrap();
        assert_eq!(r.url("blobs/uploads/"), "https://ghcr.io/v2/acme/shop/blobs/uploads/");
        assert_eq!(r.hostname(), "ghcr.io");
    }
}
