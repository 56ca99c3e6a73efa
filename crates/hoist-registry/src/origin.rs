//! Where credentials may go: only to the registry's own origin (scheme, host, port), as
//! Docker's and go-containerregistry's transports attach them per host they were asked by.
//!
//! The policy for URLs the registry hands out:
//! - same origin: credentials (Basic, or the Bearer token of the request's scope);
//! - another origin: followed without any `Authorization` (an upload `Location`, a blob or
//!   manifest redirect to a CDN or S3: legitimate, and the registry already has the data);
//!   except a tag-list `Link`, which ends the listing with [`RegistryError::ForeignLink`]:
//!   a page of tags from elsewhere would be trusted as this repository's;
//! - plain `http://` from an `https://` registry: refused ([`RegistryError::Downgrade`]),
//!   for Locations, Links and redirects alike.
//!
//! Redirects are followed by reqwest, which already drops `Authorization` when scheme, host
//! or port change; [`redirect_policy`] adds the downgrade refusal and a hop limit.
//! Bearer realms are not covered here: the token protocol sends the credentials to the
//! realm the registry names (checked for TLS in `client.rs`).

use url::Url;

use crate::error::RegistryError;

/// Where a URL points, relative to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The registry's own origin: credentials go with it.
    Own,
    /// Elsewhere: no credentials.
    Foreign,
}

/// Classify `target` against the registry's base URL, refusing a downgrade to plain HTTP.
pub(crate) fn classify(registry: &Url, target: &Url) -> Result<Target, RegistryError> {
    if registry.origin() == target.origin() {
        return Ok(Target::Own);
    }
    if registry.scheme() == "https" && target.scheme() != "https" {
        return Err(RegistryError::Downgrade {
            registry: registry.host_str().unwrap_or_default().to_string(),
            url: crate::digest::escape(target.as_str()),
        });
    }
    Ok(Target::Foreign)
}

/// Why a redirect was not followed.
#[derive(Debug)]
pub(crate) struct RedirectRefused(pub(crate) String);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// At most this many redirects per request (reqwest's default too).
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Follow redirects up to [`MAX_REDIRECTS`], never from `https` to anything else.
pub(crate) fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let from_https = attempt.previous().iter().any(|u| u.scheme() == "https");
        if from_https && attempt.url().scheme() != "https" {
            let msg = format!("redirect to plain {} refused", crate::digest::escape(attempt.url().as_str()));
            attempt.error(RedirectRefused(msg))
        } else if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error(RedirectRefused(format!("more than {MAX_REDIRECTS} redirects")))
        } else {
            attempt.follow()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_origin() {
        let https = Url::parse("https://r.example:5000").unwrap();
        let http = Url::parse("http://127.0.0.1:5000").unwrap();
        let cases: &[(&Url, &str, Option<Target>)] = &[
            (&https, "https://r.example:5000/v2/shop/tags/list?last=a", Some(Target::Own)),
            (&https, "https://R.EXAMPLE:5000/v2/x", Some(Target::Own)),
            (&https, "https://r.example/v2/x", Some(Target::Foreign)),
            (&https, "https://r.example:5001/v2/x", Some(Target::Foreign)),
            (&https, "https://s3.example/bucket/blob", Some(Target::Foreign)),
            (&https, "https://r.example.evil:5000/v2/x", Some(Target::Foreign)),
            (&https, "http://r.example:5000/v2/x", None),
            (&https, "http://other/v2/x", None),
            (&https, "ftp://other/x", None),
            (&http, "http://127.0.0.1:5000/v2/x", Some(Target::Own)),
            (&http, "http://127.0.0.2:5000/v2/x", Some(Target::Foreign)),
            (&http, "http://127.0.0.1:5001/v2/x", Some(Target::Foreign)),
            (&http, "https://127.0.0.1:5000/v2/x", Some(Target::Foreign)),
        ];
        for (registry, target, want) in cases {
            let got = classify(registry, &Url::parse(target).unwrap()).ok();
            assert_eq!(got, *want, "{registry} -> {target}");
        }
        let https_default = Url::parse("https://ghcr.io").unwrap();
        assert_eq!(classify(&https_default, &Url::parse("https://ghcr.io:443/v2/").unwrap()).ok(), Some(Target::Own));
    }
}
