//! `GET {base}/models`.

use std::time::Duration;

use super::classify::{display_url, error_object, excerpt, transport_error};
use super::{Endpoint, HttpClient, bodiless_headers};
use crate::wire;

/// Why listing models failed. Messages are short and never contain the key;
/// URLs are shown without user info or query.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("invalid request to {url}: {message}")]
    InvalidRequest { url: String, message: String },
    #[error("no answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("cannot reach {url} ({kind}): {message}")]
    Network {
        url: String,
        kind: &'static str,
        message: String,
    },
    #[error("{url} answered HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} sent more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url} sent a model list that cannot be read: {message}")]
    Decode { url: String, message: String },
}

impl ModelsError {
    /// The server rejected the key (HTTP 401).
    pub fn is_auth(&self) -> bool {
        matches!(self, ModelsError::Status { status: 401, .. })
    }

    /// Nothing answered: DNS, refused or reset connections, TLS failures, or no
    /// answer at all within the timeout.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ModelsError::Network { .. } | ModelsError::Timeout { .. }
        )
    }
}

impl HttpClient {
    /// Lists the provider's models. `timeout` covers the whole exchange; the
    /// body is capped at [`super::ClientConfig::max_body_bytes`].
    pub async fn list_models(
        &self,
        ep: &Endpoint,
        timeout: Duration,
    ) -> Result<wire::ModelList, ModelsError> {
        let raw_url = ep.url("models");
        let url = display_url(&raw_url);
        match tokio::time::timeout(timeout, self.fetch_models(ep, &raw_url, &url)).await {
            Ok(r) => r,
            Err(_) => Err(ModelsError::Timeout { url, timeout }),
        }
    }

    async fn fetch_models(
        &self,
        ep: &Endpoint,
        raw_url: &str,
        url: &str,
    ) -> Result<wire::ModelList, ModelsError> {
        let key = ep.api_key.as_ref();
        let invalid = |message: String| ModelsError::InvalidRequest {
            url: url.to_string(),
            message,
        };
        let parsed = reqwest::Url::parse(raw_url).map_err(|e| invalid(e.to_string()))?;
        let headers = bodiless_headers(ep).map_err(|e| invalid(e.to_string()))?;
        let network = |e: reqwest::Error, after_headers: bool| {
            let (_, kind, message) = transport_error(e, after_headers, key);
            ModelsError::Network {
                url: url.to_string(),
                kind,
                message,
            }
        };
        let mut resp = self
            .client_for(&parsed)
            .get(parsed.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| network(e, false))?;
        let status = resp.status().as_u16();
        let limit = self.cfg.max_body_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| network(e, true))? {
            if body.len() + chunk.len() > limit {
                return Err(ModelsError::TooLarge {
                    url: url.to_string(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body);
            let message = serde_json::from_slice(&body)
                .ok()
                .and_then(|v| error_object(&v))
                .map(|e| e.message)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| text.into_owned());
            return Err(ModelsError::Status {
                url: url.to_string(),
                status,
                message: excerpt(&message, key),
            });
        }
        serde_json::from_slice(&body).map_err(|e| ModelsError::Decode {
            url: url.to_string(),
            message: excerpt(&e.to_string(), key),
        })
    }
}
