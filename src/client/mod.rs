//! One OpenAI-compatible call: the request, our own SSE decoding, exact
//! timings and the classification of every way it can fail.
//!
//! The client never retries and never follows redirects (a redirect must not
//! carry the key to another host); the rotation engine decides what happens
//! next from the [`CallResult`]. Metric definitions are in [`result`].
//!
//! Timeouts are all [`Outcome::Timeout`](crate::record::Outcome::Timeout),
//! told apart by `error_type`:
//! - `connect`: no TCP/TLS connection within [`ClientConfig::connect_timeout`];
//! - `first_byte`: no response headers within [`CallSpec::first_byte_timeout`];
//! - `read`: no SSE *data* event within [`ClientConfig::read_timeout`]
//!   (keep-alive comments do not count, so a server that only sends comments
//!   times out); for non-streaming bodies, no bytes within it;
//! - `total`: the whole call took longer than [`CallSpec::total_timeout`]
//!   (rotor's own deadline, not reqwest's `.timeout()`);
//! - `http_408`: the server answered 408.

mod body;
mod call;
pub mod classify;
mod connects;
mod decode;
pub mod hints;
mod models;
pub mod result;
pub mod sse;
mod stamped;
mod warm;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

pub use body::{RawResponse, decode_body};
pub use classify::classify_status;
pub use connects::ConnectCounts;
pub use hints::{RateLimitHints, parse_retry_after, rate_limit_scope};
pub use models::ModelsError;
pub use result::{CallResult, Timings};
pub use warm::WarmUp;

use crate::secret::Secret;
use crate::wire;

/// Settings shared by every call of one [`HttpClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Longest gap between SSE data events (streams) or body bytes.
    pub read_timeout: Duration,
    /// Largest response body read; a larger one is `too_large`.
    pub max_body_bytes: usize,
    /// Idle keep-alive connections kept per host.
    pub pool_max_idle_per_host: usize,
}

impl Default for ClientConfig {
    /// 10 s connect, 60 s read, 10 MiB bodies, 32 idle connections per host.
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            max_body_bytes: 10 * 1024 * 1024,
            pool_max_idle_per_host: 32,
        }
    }
}

/// Where to send calls: an OpenAI-compatible base URL (ending in `/v1` or
/// similar; a trailing slash is fine), its key and extra headers (OpenRouter's
/// `HTTP-Referer` and `X-Title`, for example).
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Endpoint {
    /// Shows the URL without user info or query, and hides the values of
    /// headers that look like credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = if is_sensitive(k) { "***" } else { v.as_str() };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("Endpoint")
            .field("base_url", &classify::display_url(&self.base_url))
            .field("api_key", &self.api_key)
            .field("headers", &headers)
            .finish()
    }
}

/// Header names whose values are credentials.
fn is_sensitive(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    n == "authorization"
        || n.contains("api-key")
        || n.contains("api_key")
        || n.contains("token")
        || n.contains("secret")
}

impl Endpoint {
    /// Checks the URL, the key and the headers once, so a command can reject
    /// a bad provider before any call (calls would report `invalid_request`).
    pub fn validate(&self) -> Result<(), ClientError> {
        request_headers(self)?;
        let url = reqwest::Url::parse(&self.base_url).map_err(|e| ClientError::InvalidUrl {
            url: classify::display_url(&self.base_url),
            message: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl {
                url: classify::display_url(&self.base_url),
                message: format!("scheme {} is not http or https", url.scheme()),
            });
        }
        Ok(())
    }

    /// `{base_url}/{path}` with exactly one slash between them.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

/// One chat-completions call.
#[derive(Debug, Clone, Copy)]
pub struct CallSpec<'a> {
    pub model: &'a str,
    pub messages: &'a [wire::Message],
    /// Stream with SSE (`stream_options.include_usage` is set too).
    pub stream: bool,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub seed: Option<u64>,
    /// Deadline of the whole call, from `sent`.
    pub total_timeout: Duration,
    /// Deadline for the response headers, from `sent`.
    pub first_byte_timeout: Duration,
    /// The attempt's scheduled start (`Timings::scheduled`): the rotation
    /// engine passes the instant it planned the call for, so a timer that
    /// woke it late counts in `queue_ms`. `None`: when `chat` is called.
    pub scheduled: Option<tokio::time::Instant>,
}

/// Errors building the client or checking an endpoint. Never contains the key.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the HTTP client: {message}")]
    Build { message: String },
    #[error("invalid base URL {url}: {message}")]
    InvalidUrl { url: String, message: String },
    #[error("invalid header {name}: {message}")]
    InvalidHeader { name: String, message: String },
    #[error("the API key contains characters that are not allowed in an HTTP header")]
    InvalidKey,
}

/// The HTTP client: cheap to clone, one connection pool shared by all clones.
///
/// Two reqwest clients sit inside: one for loopback hosts that never uses a
/// proxy (the simulator, local servers), and one that honours the usual
/// proxy environment variables for everything else.
#[derive(Debug, Clone)]
pub struct HttpClient {
    direct: reqwest::Client,
    proxied: reqwest::Client,
    cfg: ClientConfig,
    /// Endpoints already prepared for `chat`, shared by the clones.
    prepared: Arc<Mutex<Vec<Arc<Prepared>>>>,
    /// The connections both clients opened (see `connects.rs`).
    connects: connects::CountConnects,
}

/// What every chat call to one endpoint sends the same: the URL (parsed
/// once: parsing it, IDNA host checks included, cost a few percent of a
/// request's CPU against a local server), the headers, and which client
/// (direct for loopback) carries it.
#[derive(Debug)]
struct Prepared {
    endpoint: Endpoint,
    url: reqwest::Url,
    headers: HeaderMap,
    direct: bool,
}

/// Most endpoints kept prepared; calls to more are prepared every time.
const MAX_PREPARED: usize = 64;

impl HttpClient {
    /// Builds the client: rustls, no redirects, no retries, `TCP_NODELAY`,
    /// the configured connect timeout and pool size.
    pub fn new(cfg: ClientConfig) -> Result<Self, ClientError> {
        let connects = connects::CountConnects::new();
        let tls = tls_config()?;
        let build = |direct: bool| {
            let mut b = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .retry(reqwest::retry::never())
                .referer(false)
                .connect_timeout(cfg.connect_timeout)
                .tcp_nodelay(true)
                .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
                .connector_layer(connects.clone())
                .tls_backend_preconfigured(tls.clone())
                .user_agent(concat!("rotor/", env!("CARGO_PKG_VERSION")));
            if direct {
                b = b.no_proxy();
            }
            b.build().map_err(|e| ClientError::Build {
                message: e.to_string(),
            })
        };
        Ok(HttpClient {
            direct: build(true)?,
            proxied: build(false)?,
            cfg,
            prepared: Arc::default(),
            connects,
        })
    }

    /// The connections this client (all its clones) has opened so far.
    pub fn connects(&self) -> ConnectCounts {
        self.connects.counts()
    }

    /// The chat URL, headers and client of `ep`, prepared once per endpoint.
    fn prepared(&self, ep: &Endpoint) -> Result<Arc<Prepared>, String> {
        let cache = || self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache().iter().find(|p| p.endpoint == *ep) {
            return Ok(Arc::clone(p));
        }
        let url = reqwest::Url::parse(&ep.url("chat/completions"))
            .map_err(|e| format!("invalid base URL: {e}"))?;
        let headers = request_headers(ep).map_err(|e| e.to_string())?;
        let direct = std::ptr::eq(self.client_for(&url), &self.direct);
        let p = Arc::new(Prepared {
            endpoint: ep.clone(),
            url,
            headers,
            direct,
        });
        let mut cache = cache();
        if cache.len() < MAX_PREPARED {
            cache.push(Arc::clone(&p));
        }
        Ok(p)
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    fn client_for(&self, url: &reqwest::Url) -> &reqwest::Client {
        let host = url.host_str().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            &self.direct
        } else {
            &self.proxied
        }
    }
}

/// The headers of a request without a body (`GET /models`, the warm-up's
/// `HEAD`): those of [`request_headers`] but `Content-Type`.
/// The TLS settings of every client, as reqwest's `rustls` feature builds
/// them (aws-lc-rs, TLS 1.2 and 1.3, the platform's verifier, SNI, ALPN h2
/// then http/1.1), built once per process: the verifier reads every root
/// certificate of the system (on Linux the bundle and each file of
/// `/etc/ssl/certs`, 4 ms of CPU and some 300 files here), which reqwest
/// would do again for each client a run builds (four, the pre-flight's and
/// the run's, direct and proxied).
fn tls_config() -> Result<rustls::ClientConfig, ClientError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    static TLS: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();
    if let Some(tls) = TLS.get() {
        return Ok(tls.clone());
    }
    let build_err = |e: rustls::Error| ClientError::Build {
        message: format!("TLS: {e}"),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(build_err)?
        .with_platform_verifier()
        .map_err(build_err)?
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TLS.get_or_init(|| tls).clone())
}

fn bodiless_headers(ep: &Endpoint) -> Result<HeaderMap, ClientError> {
    let mut h = request_headers(ep)?;
    h.remove(CONTENT_TYPE);
    Ok(h)
}

/// `Authorization: Bearer KEY`, marked sensitive; an error (never naming the
/// key) when a header cannot carry it.
pub fn bearer(key: &str) -> Result<HeaderValue, ClientError> {
    let mut v =
        HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| ClientError::InvalidKey)?;
    v.set_sensitive(true);
    Ok(v)
}

/// The headers of every request: `Content-Type`, `Authorization: Bearer` when
/// a key is set (marked sensitive), then the endpoint's own headers.
fn request_headers(ep: &Endpoint) -> Result<HeaderMap, ClientError> {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(key) = &ep.api_key {
        h.insert(AUTHORIZATION, bearer(key.expose())?);
    }
    for (name, value) in &ep.headers {
        let n = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| {
            ClientError::InvalidHeader {
                name: name.clone(),
                message: e.to_string(),
            }
        })?;
        let mut v =
            HeaderValue::from_str(value.trim()).map_err(|e| ClientError::InvalidHeader {
                name: name.clone(),
                message: e.to_string(),
            })?;
        if is_sensitive(n.as_str()) {
            v.set_sensitive(true);
        }
        h.insert(n, v);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every client gets the same TLS settings, built once (reading the
    /// system's root certificates once per process), with reqwest's ALPN.
    #[test]
    fn the_tls_settings_are_built_once_and_offer_h2_then_http1() {
        let (a, b) = (tls_config().unwrap(), tls_config().unwrap());
        assert!(Arc::ptr_eq(a.crypto_provider(), b.crypto_provider()));
        assert_eq!(a.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(a.enable_sni);
        // reqwest takes them: a mismatch of rustls versions would make it
        // refuse them as an unknown backend here.
        HttpClient::new(ClientConfig::default()).unwrap();
    }

    fn ep(base: &str) -> Endpoint {
        Endpoint {
            base_url: base.into(),
            api_key: Some(Secret::new("sk-test-0123456789")),
            headers: vec![("X-Title".into(), "rotor".into())],
        }
    }

    #[test]
    fn debug_hides_credentials() {
        let mut e = ep("https://u:pw@h/v1?key=abc");
        e.headers.push(("x-api-key".into(), "hidden-value".into()));
        let d = format!("{e:?}");
        assert!(!d.contains("sk-test") && !d.contains("hidden-value") && !d.contains("abc"));
        assert!(!d.contains("pw@") && d.contains("rotor"), "{d}");
    }

    #[test]
    fn url_joining() {
        assert_eq!(
            ep("http://h/v1").url("chat/completions"),
            "http://h/v1/chat/completions"
        );
        assert_eq!(ep("http://h/v1/").url("/models"), "http://h/v1/models");
    }

    #[test]
    fn validation() {
        assert!(ep("https://openrouter.ai/api/v1").validate().is_ok());
        assert!(matches!(
            ep("ftp://x/v1").validate(),
            Err(ClientError::InvalidUrl { .. })
        ));
        assert!(matches!(
            ep("nope").validate(),
            Err(ClientError::InvalidUrl { .. })
        ));
        let mut bad_key = ep("http://h/v1");
        bad_key.api_key = Some(Secret::new("sk-\nsecret"));
        let e = bad_key.validate().unwrap_err();
        assert!(matches!(e, ClientError::InvalidKey));
        assert!(!e.to_string().contains("secret"));
        let mut bad_header = ep("http://h/v1");
        bad_header.headers.push(("bad name".into(), "v".into()));
        assert!(matches!(
            bad_header.validate(),
            Err(ClientError::InvalidHeader { .. })
        ));
    }

    #[test]
    fn headers_carry_key_only_when_set() {
        let h = request_headers(&ep("http://h/v1")).unwrap();
        assert_eq!(h[AUTHORIZATION], "Bearer sk-test-0123456789");
        assert!(h[AUTHORIZATION].is_sensitive());
        assert_eq!(h["x-title"], "rotor");
        assert_eq!(h[CONTENT_TYPE], "application/json");
        let mut no_key = ep("http://h/v1");
        no_key.api_key = None;
        assert!(
            !request_headers(&no_key)
                .unwrap()
                .contains_key(AUTHORIZATION)
        );
    }

    #[test]
    fn loopback_hosts_bypass_proxies() {
        let c = HttpClient::new(ClientConfig::default()).unwrap();
        for (u, direct) in [
            ("http://127.0.0.1:9/v1", true),
            ("http://localhost:9/v1", true),
            ("http://[::1]:9/v1", true),
            ("https://openrouter.ai/api/v1", false),
        ] {
            let url = reqwest::Url::parse(u).unwrap();
            assert_eq!(std::ptr::eq(c.client_for(&url), &c.direct), direct, "{u}");
        }
    }
}
