//! Logs and request identity: one `tracing` subscriber for the process, a
//! request id on every request and response, and one span (one log line at
//! its close) per request. Field names are in docs/logging.md.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::LogSettings;

/// The header that carries the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the global subscriber: human-readable or JSON lines on stderr.
/// A second call (e.g. from several tests in one process) changes nothing.
pub fn init(log: &LogSettings) {
    let mut filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Noise unless asked for by name: the metrics middleware warns on every
    // request to Swagger UI's catch-all route (`/docs/{_:.*}`, a pattern it
    // cannot label); the HTTP layer logs a client's unreadable request head
    // or dropped connection as an error (the head's answer is logged by
    // `wire` instead).
    for (target, level) in [("actix_web_prom", "error"), ("actix_http::h1", "off")] {
        if !log.filter.contains(target)
            && let Ok(quiet) = format!("{target}={level}").parse()
        {
            filter = filter.add_directive(quiet);
        }
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = if log.json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
}

/// The id of the current request: the client's `x-request-id` if it sent a
/// sensible one, otherwise a fresh UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Handlers take the request id as an argument: the id the response carries
/// (e.g. to record it in the access log). Every request has one, set by
/// [`request_id`]; a request that somehow lacks it fails (500) rather than
/// be recorded under another id.
impl actix_web::FromRequest for RequestId {
    type Error = crate::error::ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(
        request: &actix_web::HttpRequest,
        _: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        std::future::ready(
            request
                .extensions()
                .get::<RequestId>()
                .cloned()
                .ok_or_else(|| {
                    crate::error::ApiError::Internal("the request has no request id".into())
                }),
        )
    }
}

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b))
}

/// Middleware: assigns the request id, makes it available to the span and
/// handlers, and echoes it on the response.
pub async fn request_id(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    // Inner layers turn handler errors into responses; an `Err` here can only
    // come from middleware and is rendered by actix without our header.
    let mut response = next.call(request).await?.map_into_boxed_body();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

/// Health and metrics probes, logged at DEBUG.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Builds the per-request span with motcua's request id, the route pattern
/// (not the raw path, which may carry identifiers) and, at the end, the status.
#[derive(Debug)]
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        // Probes come every few seconds from load balancers and scrapers:
        // their lines are DEBUG, so INFO shows the requests people make.
        macro_rules! request_span {
            ($level:expr) => {
                tracing::span!(
                    $level,
                    "http_request",
                    request_id = %request_id,
                    http.method = %request.method(),
                    http.route = %route,
                    http.status_code = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                    exception.message = tracing::field::Empty,
                    exception.details = tracing::field::Empty,
                )
            };
        }
        if PROBES.contains(&request.path()) {
            request_span!(tracing::Level::DEBUG)
        } else {
            request_span!(tracing::Level::INFO)
        }
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn client_request_ids_are_echoed_only_when_harmless() {
        assert!(acceptable("0193-abc_DEF.1"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable("line\nbreak"));
        assert!(!acceptable(&"x".repeat(129)));
    }
}
