//! [`IndexClient::provenance`]: the PEP 740 provenance object an index links to for a file.

use reqwest::header::HeaderMap;
use uv_redacted::DisplaySafeUrl;

use crate::client::IndexClient;
use crate::error::IndexError;

/// The largest provenance object read. PyPI's are about 10 KiB (one attestation of a few KiB per
/// publisher); a body beyond this is an index misbehaving, not a bigger attestation.
const PROVENANCE_LIMIT: u64 = 1024 * 1024;

impl IndexClient {
    /// The bytes of the provenance object at `url` (a file entry's
    /// [`provenance`](crate::FileEntry::provenance) URL), with the client's credentials, retries
    /// and limits. Not verified here: the bytes are only as trustworthy as the Sigstore
    /// verification the caller runs on them. Offline, this makes no request and returns
    /// [`IndexError::OfflineMiss`].
    pub async fn provenance(&self, url: &DisplaySafeUrl) -> Result<Vec<u8>, IndexError> {
        if self.inner.offline {
            return Err(IndexError::OfflineMiss { url: url.clone() });
        }
        let response = self
            .inner
            .http
            .get(url, HeaderMap::new(), PROVENANCE_LIMIT)
            .await?;
        if !response.status.is_success() {
            return Err(IndexError::Status {
                url: url.clone(),
                status: response.status.as_u16(),
            });
        }
        Ok(response.body)
    }
}
