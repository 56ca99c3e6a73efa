//! Blobs: whether the repository has one (HEAD), cross-repository mounts, upload sessions
//! and uploads (one PUT up to `Options::monolithic_max`, else one streamed PATCH, hashed
//! as it goes), downloads that stop at the descriptor's size, and registry-to-registry
//! copies (a GET there streamed into a PATCH here, hashed as it goes, never on disk).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Response, StatusCode};
use sha2::{Digest as _, Sha256};

use super::{Access, Client, Progress};
use crate::digest::{check_digest, sha256};
use crate::error::RegistryError;
use crate::limits::{Deadline, is_deadline};
use crate::origin::{Target, classify};

impl Client {
    /// The blob's size when the repository has it.
    pub async fn blob_exists(&self, digest: &str) -> Result<Option<u64>, RegistryError> {
        let url = self.inner.repo.url(&format!("blobs/{digest}"));
        let deadline = self.request_deadline();
        let resp = self.send(Access::Pull, true, &deadline, || Ok(self.inner.http.head(&url))).await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(content_length(resp.headers()).unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.fail(resp, "HEAD").await),
        }
    }

    /// Try to mount `digest` from `from`; `Ok(None)` means mounted, `Ok(Some(url))` is an
    /// upload session the registry opened instead.
    pub(crate) async fn mount(&self, digest: &str, from: &str) -> Result<Option<String>, RegistryError> {
        let mut url = url::Url::parse(&self.inner.repo.url("blobs/uploads/")).expect("repository URL");
        url.query_pairs_mut().append_pair("mount", digest).append_pair("from", from);
        let deadline = self.request_deadline();
        let resp = self
            .send(Access::Push, true, &deadline, || Ok(self.inner.http.post(url.clone()).header(CONTENT_LENGTH, 0)))
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => Ok(Some(self.location(&resp, "the mount answer")?)),
            _ => Err(self.fail(resp, "POST").await),
        }
    }

    /// Open an upload session, by `outer` at the latest; returns its URL.
    pub(crate) async fn start_upload(&self, outer: &Deadline) -> Result<String, RegistryError> {
        let url = self.inner.repo.url("blobs/uploads/");
        let deadline = self.inner_deadline(outer);
        let resp = self
            .send(Access::Push, true, &deadline, || Ok(self.inner.http.post(&url).header(CONTENT_LENGTH, 0)))
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.fail(resp, "POST").await);
        }
        self.location(&resp, "a new upload session")
    }

    /// The `Location` of an upload answer, resolved against the request's URL. Another
    /// origin is allowed (it gets no credentials, see `origin.rs`), plain HTTP from an
    /// HTTPS registry is not.
    fn location(&self, resp: &Response, what: &str) -> Result<String, RegistryError> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::MissingHeader { what: what.to_string(), header: "Location".into() })?;
        let url = resp.url().join(loc).map_err(|_| RegistryError::MissingHeader {
            what: format!("{what} (its Location {} is not a URL)", crate::digest::escape(loc)),
            header: "Location".into(),
        })?;
        if classify(&self.inner.base, &url)? == Target::Foreign {
            tracing::debug!("{what}: Location {url} is on another origin; no credentials go there");
        }
        Ok(url.into())
    }

    /// Upload one blob from a file in a fresh session (or `session`), verifying its digest.
    /// Returns the bytes sent.
    pub(crate) async fn upload_blob(
        &self,
        path: &Path,
        digest: &str,
        size: u64,
        session: Option<String>,
        deadline: &Deadline,
    ) -> Result<u64, RegistryError> {
        let location = match session {
            Some(l) => l,
            None => self.start_upload(deadline).await?,
        };
        let io = |e: std::io::Error| RegistryError::LayoutIo { what: format!("reading blob {digest}"), source: e };
        if size <= self.inner.opts.monolithic_max {
            let data = Bytes::from(tokio::fs::read(path).await.map_err(io)?);
            check_digest(&format!("local blob {}", path.display()), digest, &sha256(&data))?;
            let put_url = with_digest(&location, digest);
            let len = data.len() as u64;
            let resp = self
                .send(Access::Push, false, deadline, || {
                    Ok(self
                        .inner
                        .http
                        .put(&put_url)
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_LENGTH, len)
                        .body(data.clone()))
                })
                .await?;
            self.inner.bytes_sent.fetch_add(len, Ordering::SeqCst);
            self.progress(Progress::BlobBytes { digest: digest.to_string(), bytes: len });
            if !matches!(resp.status(), StatusCode::CREATED | StatusCode::NO_CONTENT) {
                return Err(self.fail(resp, "PUT").await);
            }
            self.check_header_digest(resp.headers(), digest)?;
            return Ok(len);
        }

        // Large blob: one streaming PATCH, hashed as it goes, then a PUT with the digest.
        let hasher = Arc::new(std::sync::Mutex::new(Sha256::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let session_url = location.clone();
        let resp = {
            let hasher = hasher.clone();
            let sent = sent.clone();
            let path = path.to_path_buf();
            let digest_s = digest.to_string();
            let client = self.clone();
            self.send(Access::Push, false, deadline, move || {
                let file = std::fs::File::open(&path).map_err(io)?;
                *hasher.lock().expect("hasher") = Sha256::new();
                let stream = file_stream(file, hasher.clone(), sent.clone(), client.clone(), digest_s.clone());
                Ok(client
                    .inner
                    .http
                    .patch(&location)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .body(reqwest::Body::wrap_stream(stream)))
            })
            .await?
        };
        // ECR answers a PATCH with 201; the spec says 202.
        if !matches!(resp.status(), StatusCode::ACCEPTED | StatusCode::CREATED | StatusCode::NO_CONTENT) {
            return Err(self.fail(resp, "PATCH").await);
        }
        let actual = format!("sha256:{}", hex::encode(hasher.lock().expect("hasher").clone().finalize()));
        check_digest(&format!("local blob {}", path.display()), digest, &actual)?;
        self.close_upload(&resp, session_url, digest, deadline).await?;
        Ok(sent.load(Ordering::SeqCst))
    }

    /// Stream the blob `digest` of `size` bytes (its descriptor's) into `sink`, verifying its
    /// digest. Stops with an error as soon as more than `size` bytes arrived, and at the
    /// blob deadline. Returns its size.
    pub(crate) async fn download_blob(
        &self,
        digest: &str,
        size: u64,
        sink: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, RegistryError> {
        let digest = &crate::digest::validate(self.host(), "the digest of a blob to fetch", digest)?;
        let url = self.inner.repo.url(&format!("blobs/{digest}"));
        let deadline = self.blob_deadline(size);
        let mut resp = self.send(Access::Pull, true, &deadline, || Ok(self.inner.http.get(&url))).await?;
        if resp.status() != StatusCode::OK {
            return Err(self.fail(resp, "GET").await);
        }
        let too_large = |url: &str| RegistryError::TooLarge {
            what: format!("blob {digest} (its descriptor declares {size} bytes)"),
            url: url.to_string(),
            limit: size,
        };
        let got_url = resp.url().to_string();
        if resp.content_length().is_some_and(|n| n > size) {
            return Err(too_large(&got_url));
        }
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        loop {
            let chunk = match tokio::time::timeout(deadline.remaining(), resp.chunk()).await {
                Err(_) => return Err(deadline.error("GET", &got_url, 1)),
                Ok(Err(e)) if is_deadline(&e, &deadline) => return Err(deadline.error("GET", &got_url, 1)),
                Ok(Err(e)) => return Err(self.transport_error(e, "GET", &got_url, 1)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            got += chunk.len() as u64;
            if got > size {
                return Err(too_large(&got_url));
            }
            hasher.update(&chunk);
            sink.write_all(&chunk)
                .map_err(|e| RegistryError::LayoutIo { what: format!("writing blob {digest}"), source: e })?;
            self.progress(Progress::BlobBytes { digest: digest.to_string(), bytes: chunk.len() as u64 });
        }
        check_digest(
            &format!("blob {digest} from {}", self.inner.repo),
            digest,
            &format!("sha256:{}", hex::encode(hasher.finalize())),
        )?;
        Ok(got)
    }
}

impl Client {
    /// Copy the blob `digest` of `size` bytes (its descriptor's) from `source`, another
    /// repository and maybe another registry with credentials of its own, into this one:
    /// the GET there is streamed into one PATCH here, hashed and counted as it goes, so the
    /// blob is never held in memory or on disk. More than `size` bytes stop the copy; the
    /// closing PUT is sent only when the bytes match `digest`, so a wrong blob never lands.
    /// Each client sends its own credentials to its own registry only. Returns the bytes
    /// copied.
    pub(crate) async fn copy_blob_from(
        &self,
        source: &Client,
        digest: &str,
        size: u64,
        session: Option<String>,
        deadline: &Deadline,
    ) -> Result<u64, RegistryError> {
        let digest = crate::digest::validate(source.host(), "the digest of a blob to copy", digest)?;
        let url = source.inner.repo.url(&format!("blobs/{digest}"));
        let resp = source.send(Access::Pull, true, deadline, || Ok(source.inner.http.get(&url))).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::BaseBlobGone { digest, repository: source.inner.repo.to_string() });
        }
        if resp.status() != StatusCode::OK {
            return Err(source.fail(resp, "GET").await);
        }
        let got_url = resp.url().to_string();
        let too_large = || RegistryError::TooLarge {
            what: format!("blob {digest} (its descriptor declares {size} bytes)"),
            url: got_url.clone(),
            limit: size,
        };
        if resp.content_length().is_some_and(|n| n > size) {
            return Err(too_large());
        }
        let location = match session {
            Some(l) => l,
            None => self.start_upload(deadline).await?,
        };
        let state = Arc::new(std::sync::Mutex::new(CopyState { hasher: Sha256::new(), got: 0, overflow: false }));
        let stream = {
            let state = state.clone();
            let client = self.clone();
            let digest = digest.clone();
            futures::StreamExt::map(resp.bytes_stream(), move |chunk| {
                let chunk = chunk.map_err(std::io::Error::other)?;
                let mut st = state.lock().expect("copy state");
                st.got += chunk.len() as u64;
                if st.got > size {
                    st.overflow = true;
                    return Err(std::io::Error::other(format!("blob {digest} is larger than its descriptor says")));
                }
                st.hasher.update(&chunk);
                client.inner.bytes_sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                client.progress(Progress::BlobBytes { digest: digest.clone(), bytes: chunk.len() as u64 });
                Ok::<_, std::io::Error>(chunk)
            })
        };
        // A stream is sent once: `send` calls `make` again only after a 401, which an open
        // upload session does not get; then the copy fails and its retry starts over.
        let body = std::sync::Mutex::new(Some(reqwest::Body::wrap_stream(stream)));
        let result = self
            .send(Access::Push, false, deadline, || {
                let body = body.lock().expect("copy body").take().ok_or_else(|| RegistryError::Status {
                    method: "PATCH".into(),
                    url: location.clone(),
                    status: 401,
                    detail: format!("the copy of {digest} cannot be sent again after a new challenge"),
                })?;
                Ok(self
                    .inner
                    .http
                    .patch(&location)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .body(body))
            })
            .await;
        let (actual, got, overflow) = {
            let st = state.lock().expect("copy state");
            (format!("sha256:{}", hex::encode(st.hasher.clone().finalize())), st.got, st.overflow)
        };
        if overflow {
            return Err(too_large());
        }
        let resp = result?;
        if !matches!(resp.status(), StatusCode::ACCEPTED | StatusCode::CREATED | StatusCode::NO_CONTENT) {
            return Err(self.fail(resp, "PATCH").await);
        }
        check_digest(&format!("blob {digest} copied from {} ({got} bytes)", source.inner.repo), &digest, &actual)?;
        self.close_upload(&resp, location, &digest, deadline).await?;
        Ok(got)
    }

    /// End a streamed upload whose PATCH was answered by `resp`: the closing `PUT
    /// ?digest=` at the Location it gave (else `session_url`), checked by status and by
    /// the registry's `Docker-Content-Digest`. Called only once the bytes sent were
    /// verified, so a wrong blob never gets its closing PUT.
    async fn close_upload(
        &self,
        resp: &Response,
        session_url: String,
        digest: &str,
        deadline: &Deadline,
    ) -> Result<(), RegistryError> {
        let next = match self.location(resp, "the PATCH answer") {
            Err(e @ RegistryError::Downgrade { .. }) => return Err(e),
            other => other.unwrap_or(session_url),
        };
        let put_url = with_digest(&next, digest);
        let put_deadline = self.inner_deadline(deadline);
        let resp = self
            .send(Access::Push, false, &put_deadline, || Ok(self.inner.http.put(&put_url).header(CONTENT_LENGTH, 0)))
            .await?;
        if !matches!(resp.status(), StatusCode::CREATED | StatusCode::NO_CONTENT) {
            return Err(self.fail(resp, "PUT").await);
        }
        self.check_header_digest(resp.headers(), digest)
    }
}

/// What a copy's stream saw so far.
struct CopyState {
    hasher: Sha256,
    got: u64,
    overflow: bool,
}

fn with_digest(location: &str, digest: &str) -> String {
    match url::Url::parse(location) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("digest", digest);
            u.into()
        }
        Err(_) => format!("{location}{}digest={digest}", if location.contains('?') { '&' } else { '?' }),
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Read a file in chunks on the blocking pool, hashing and counting what is handed out.
fn file_stream(
    file: std::fs::File,
    hasher: Arc<std::sync::Mutex<Sha256>>,
    sent: Arc<AtomicU64>,
    client: Client,
    digest: String,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    const CHUNK: usize = 1024 * 1024;
    futures::stream::try_unfold(Some(file), move |file| {
        let hasher = hasher.clone();
        let sent = sent.clone();
        let client = client.clone();
        let digest = digest.clone();
        async move {
            let Some(mut file) = file else { return Ok(None) };
            let (file, buf) = tokio::task::spawn_blocking(move || {
                use std::io::Read;
                let mut buf = vec![0u8; CHUNK];
                let mut filled = 0;
                while filled < CHUNK {
                    let n = file.read(&mut buf[filled..])?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                buf.truncate(filled);
                Ok::<_, std::io::Error>((file, buf))
            })
            .await
            .map_err(std::io::Error::other)??;
            if buf.is_empty() {
                return Ok(None);
            }
            hasher.lock().expect("hasher").update(&buf);
            let n = buf.len() as u64;
            sent.fetch_add(n, Ordering::SeqCst);
            client.inner.bytes_sent.fetch_add(n, Ordering::SeqCst);
            client.progress(Progress::BlobBytes { digest, bytes: n });
            Ok(Some((Bytes::from(buf), Some(file))))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_query_is_appended() {
        assert_eq!(
            with_digest("http://h/v2/s/blobs/uploads/u?_state=abc", "sha256:00"),
            "http://h/v2/s/blobs/uploads/u?_state=abc&digest=sha256%3A00"
        );
        assert_eq!(
            with_digest("http://h/v2/s/blobs/uploads/u", "sha256:00"),
            "http://h/v2/s/blobs/uploads/u?digest=sha256%3A00"
        );
    }
}
