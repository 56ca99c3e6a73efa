//! Tags: the repository's tag list, read page by page along `Link` headers, bounded in
//! bytes, tags and pages, and never followed to another origin or round in a loop.

use reqwest::StatusCode;
use serde::Deserialize;

use super::{Access, Client};
use crate::error::RegistryError;
use crate::limits::read_capped;
use crate::origin::{Target, classify};

impl Client {
    /// Every tag of the repository, following `Link` pagination with pages of at most 1000
    /// (ECR's limit). Bounded: each page by `Options::max_page_bytes`, the whole by
    /// `Options::max_tags` and `Options::max_tag_pages`; a `Link` to another origin or to a
    /// page already read ends the listing with an error (a partial list could make another
    /// release look like the latest). Tags that break the OCI tag grammar are dropped.
    pub async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let opts = &self.inner.opts;
        let mut url = url::Url::parse(&format!("{}?n=1000", self.inner.repo.url("tags/list"))).expect("repository URL");
        let mut seen = std::collections::HashSet::new();
        let mut tags = Vec::new();
        let mut dropped = 0usize;
        loop {
            if seen.len() >= opts.max_tag_pages {
                return Err(RegistryError::TooManyTags {
                    registry: self.host().to_string(),
                    what: "pages",
                    limit: opts.max_tag_pages,
                });
            }
            seen.insert(url.to_string());
            let deadline = self.request_deadline();
            let resp = self.send(Access::Pull, true, &deadline, || Ok(self.inner.http.get(url.clone()))).await?;
            if resp.status() != StatusCode::OK {
                return Err(self.fail(resp, "GET").await);
            }
            let page_url = resp.url().clone();
            let next = resp.headers().get("link").and_then(|v| v.to_str().ok()).and_then(next_link);
            let body = read_capped(resp, opts.max_page_bytes, "a tag-list page", "GET", &deadline).await?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::BadJson { what: "the tag list".into(), message: e.to_string() })?;
            for tag in page.tags.unwrap_or_default() {
                if hoist_version::names::check_oci_tag(&tag).is_err() {
                    dropped += 1;
                    continue;
                }
                if tags.len() >= opts.max_tags {
                    return Err(RegistryError::TooManyTags {
                        registry: self.host().to_string(),
                        what: "tags",
                        limit: opts.max_tags,
                    });
                }
                tags.push(tag);
            }
            let Some(link) = next else { break };
            // RFC 8288: a relative target is relative to the URL the page came from.
            let next_url = page_url.join(&link).map_err(|_| RegistryError::ForeignLink {
                registry: self.host().to_string(),
                url: crate::digest::escape(&link),
            })?;
            if classify(&self.inner.base, &next_url)? != Target::Own {
                return Err(RegistryError::ForeignLink {
                    registry: self.host().to_string(),
                    url: next_url.to_string(),
                });
            }
            if seen.contains(next_url.as_str()) {
                return Err(RegistryError::LinkLoop {
                    registry: self.host().to_string(),
                    url: next_url.to_string(),
                    pages: seen.len(),
                });
            }
            url = next_url;
        }
        if dropped > 0 {
            tracing::warn!("ignored {dropped} tag(s) of {} that are not valid OCI tags", self.inner.repo);
        }
        Ok(tags)
    }
}

/// `<url>; rel="next"` from a `Link` header.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let t = target.trim();
        is_next.then(|| t.trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/shop/tags/list?last=b&n=1000>; rel="next""#).as_deref(),
            Some("/v2/shop/tags/list?last=b&n=1000")
        );
        assert_eq!(
            next_link(r#"<https://r/x?last=a>; rel="prev", <https://r/y?last=z>; rel="next""#).as_deref(),
            Some("https://r/y?last=z")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }
}
