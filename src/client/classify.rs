//! Error classification: HTTP status classes, the most specific
//! machine-readable `error_type` of an error body, transport errors, and
//! short, single-line, redacted error messages.

use std::error::Error as StdError;

use serde_json::Value;

use crate::record::Outcome;
use crate::secret::Secret;
use crate::wire::ErrorObject;

/// Longest `error_message` rotor returns, in characters.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// The outcome class of an HTTP status: 2xx `Ok`; 400 `BadRequest`; 401
/// `Auth`; 402 `Payment`; 403 `Forbidden`; 404 `NotFound`; 408 `Timeout`; 429
/// `RateLimited`; 503 and 529 `Overloaded`; other 5xx `ServerError`; other 4xx
/// `BadRequest`; 3xx (redirects are never followed) and anything else
/// `InvalidResponse`.
pub fn classify_status(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Ok,
        401 => Outcome::Auth,
        402 => Outcome::Payment,
        403 => Outcome::Forbidden,
        404 => Outcome::NotFound,
        408 => Outcome::Timeout,
        429 => Outcome::RateLimited,
        503 | 529 => Outcome::Overloaded,
        400..=499 => Outcome::BadRequest,
        500..=599 => Outcome::ServerError,
        _ => Outcome::InvalidResponse,
    }
}

/// Finds the error object of a JSON error body: `{"error": {...}}` (OpenAI,
/// OpenRouter, LiteLLM), `{"error": "text"}` (llama.cpp, Ollama),
/// `{"detail": ...}` (FastAPI) or a bare `{"message": ...}`.
pub fn error_object(body: &Value) -> Option<ErrorObject> {
    match body.get("error") {
        Some(obj @ Value::Object(_)) => {
            if let Ok(e) = serde_json::from_value::<ErrorObject>(obj.clone()) {
                return Some(e);
            }
            // A field of an unexpected type: keep what can be read.
            Some(ErrorObject {
                message: obj.get("message").map(value_text).unwrap_or_default(),
                code: obj.get("code").cloned(),
                ..ErrorObject::default()
            })
        }
        Some(Value::String(s)) => Some(ErrorObject {
            message: s.clone(),
            ..ErrorObject::default()
        }),
        _ => {
            let msg = body.get("detail").or_else(|| body.get("message"))?;
            Some(ErrorObject {
                message: value_text(msg),
                ..ErrorObject::default()
            })
        }
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The error's code as text (`429`, `"rate_limit_exceeded"`).
pub fn code_text(err: &ErrorObject) -> Option<String> {
    match err.code.as_ref()? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The most specific machine-readable type of an error body:
/// `metadata.error_type`, else `type`, else `code` as text; a 400 whose
/// message or code mentions the context length becomes
/// `context_length_exceeded`.
pub fn body_error_type(status: u16, err: &ErrorObject) -> Option<String> {
    if classify_status(status) == Outcome::BadRequest && mentions_context_length(err) {
        return Some("context_length_exceeded".into());
    }
    let meta = err
        .metadata
        .as_ref()
        .and_then(|m| m.get("error_type"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    meta.or_else(|| err.kind.clone().filter(|k| !k.is_empty()))
        .or_else(|| code_text(err))
}

fn mentions_context_length(err: &ErrorObject) -> bool {
    let text = format!("{} {}", err.message, code_text(err).unwrap_or_default()).to_lowercase();
    [
        "context length",
        "context_length",
        "context window",
        "maximum context",
        "context size",
    ]
    .iter()
    .any(|n| text.contains(n))
}

/// `code: message` of an error object, for `error_message`.
pub fn describe_error(err: &ErrorObject) -> String {
    match code_text(err) {
        Some(code) if !err.message.is_empty() => format!("{code}: {}", err.message),
        Some(code) => code,
        None => err.message.clone(),
    }
}

/// A short (≤ [`MAX_MESSAGE_CHARS`]), single-line excerpt of `text` with the
/// key removed.
pub fn excerpt(text: &str, key: Option<&Secret>) -> String {
    let redacted = match key {
        Some(k) => k.redact(text),
        None => text.to_string(),
    };
    let mut out = String::new();
    let mut last_space = true;
    let mut count = 0;
    for c in redacted.chars() {
        let c = if c.is_whitespace() || c.is_control() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        if count == MAX_MESSAGE_CHARS - 1 {
            out.push('…');
            return out;
        }
        out.push(c);
        count += 1;
    }
    out.trim_end().to_string()
}

/// A URL safe to show: no user info, query or fragment.
pub fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<invalid url>".to_string(),
    }
}

/// Class, `error_type` and message of a transport error (no response, or the
/// body broke off). `after_headers` tells the two apart: anything that breaks
/// a body after the headers is `body`. The message never contains the URL.
pub fn transport_error(
    err: reqwest::Error,
    after_headers: bool,
    key: Option<&Secret>,
) -> (Outcome, &'static str, String) {
    let err = err.without_url();
    let message = excerpt(&error_chain(&err), key);
    let io_kind = io_error_kind(&err);
    let chain = message.to_lowercase();
    use std::io::ErrorKind as K;
    let (outcome, kind) = if err.is_connect() && (err.is_timeout() || io_kind == Some(K::TimedOut))
    {
        (Outcome::Timeout, "connect")
    } else if after_headers {
        (Outcome::Network, "body")
    } else if io_kind == Some(K::ConnectionRefused) {
        (Outcome::Network, "connect_refused")
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        (Outcome::Network, "dns")
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        (Outcome::Network, "tls")
    } else if matches!(
        io_kind,
        Some(K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof)
    ) || chain.contains("connection closed")
        || chain.contains("incomplete message")
        || chain.contains("connection reset")
    {
        (Outcome::Network, "reset")
    } else if err.is_connect() {
        (Outcome::Network, "connect")
    } else if err.is_timeout() {
        (Outcome::Timeout, "read")
    } else {
        (Outcome::Network, "request")
    };
    (outcome, kind, message)
}

fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn io_error_kind(err: &(dyn StdError + 'static)) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> ErrorObject {
        error_object(&serde_json::from_str::<Value>(json).unwrap()).unwrap()
    }

    #[test]
    fn status_classes() {
        let cases = [
            (200, Outcome::Ok),
            (204, Outcome::Ok),
            (301, Outcome::InvalidResponse),
            (400, Outcome::BadRequest),
            (401, Outcome::Auth),
            (402, Outcome::Payment),
            (403, Outcome::Forbidden),
            (404, Outcome::NotFound),
            (408, Outcome::Timeout),
            (413, Outcome::BadRequest),
            (429, Outcome::RateLimited),
            (500, Outcome::ServerError),
            (502, Outcome::ServerError),
            (503, Outcome::Overloaded),
            (529, Outcome::Overloaded),
            (100, Outcome::InvalidResponse),
            (600, Outcome::InvalidResponse),
        ];
        for (status, want) in cases {
            assert_eq!(classify_status(status), want, "status {status}");
        }
    }

    #[test]
    fn error_type_precedence() {
        let e = err(
            r#"{"error":{"code":429,"type":"requests","message":"x","metadata":{"error_type":"rate_limit_exceeded"}}}"#,
        );
        assert_eq!(
            body_error_type(429, &e).as_deref(),
            Some("rate_limit_exceeded")
        );
        let e = err(r#"{"error":{"code":429,"type":"requests","message":"x"}}"#);
        assert_eq!(body_error_type(429, &e).as_deref(), Some("requests"));
        let e = err(r#"{"error":{"code":429,"message":"x"}}"#);
        assert_eq!(body_error_type(429, &e).as_deref(), Some("429"));
        let e = err(r#"{"error":{"code":"free_variant_ended","message":"x"}}"#);
        assert_eq!(
            body_error_type(404, &e).as_deref(),
            Some("free_variant_ended")
        );
        let e = err(r#"{"error":{"message":"x"}}"#);
        assert_eq!(body_error_type(500, &e), None);
    }

    #[test]
    fn context_length_on_bad_request_only() {
        let e = err(
            r#"{"error":{"code":400,"message":"This model's maximum context length is 8192 tokens"}}"#,
        );
        assert_eq!(
            body_error_type(400, &e).as_deref(),
            Some("context_length_exceeded")
        );
        let e = err(
            r#"{"error":{"code":"context_length_exceeded","type":"invalid_request_error","message":"too long"}}"#,
        );
        assert_eq!(
            body_error_type(413, &e).as_deref(),
            Some("context_length_exceeded")
        );
        let e = err(r#"{"error":{"code":500,"message":"maximum context length"}}"#);
        assert_eq!(body_error_type(500, &e).as_deref(), Some("500"));
    }

    #[test]
    fn other_error_body_shapes() {
        assert_eq!(
            err(r#"{"error":"model not found"}"#).message,
            "model not found"
        );
        assert_eq!(err(r#"{"detail":"Not Found"}"#).message, "Not Found");
        let odd = err(r#"{"error":{"message":"m","type":5}}"#);
        assert_eq!(odd.message, "m");
        assert!(error_object(&serde_json::json!({"x": 1})).is_none());
    }

    #[test]
    fn describe_keeps_code_and_message() {
        assert_eq!(
            describe_error(&err(r#"{"error":{"code":502,"message":"down"}}"#)),
            "502: down"
        );
        assert_eq!(
            describe_error(&err(r#"{"error":{"code":"x","message":""}}"#)),
            "x"
        );
        assert_eq!(describe_error(&err(r#"{"error":{"message":"m"}}"#)), "m");
    }

    #[test]
    fn excerpt_is_short_single_line_and_redacted() {
        let key = Secret::new("sk-or-v1-canary-0123456789abcdef");
        let text = format!("<html>\n<body>\n  bad key {} here\r\n</body>", key.expose());
        let e = excerpt(&text, Some(&key));
        assert_eq!(e, "<html> <body> bad key *** here </body>");
        let long = "x".repeat(1000);
        let e = excerpt(&long, None);
        assert_eq!(e.chars().count(), MAX_MESSAGE_CHARS);
        assert!(e.ends_with('…'));
    }

    #[test]
    fn display_url_strips_secrets() {
        assert_eq!(
            display_url("https://user:pw@example.com/v1/models?key=abc#f"),
            "https://example.com/v1/models"
        );
        assert_eq!(display_url("not a url"), "<invalid url>");
    }
}
