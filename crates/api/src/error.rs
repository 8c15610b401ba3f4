//! The one error type of the HTTP edge. Every failure a client can see is an
//! [`ApiError`] rendered as RFC 9457 `application/problem+json`, with a stable
//! snake_case `code` per variant (documented in docs/api-conventions.md).

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use motcua_persistence::DbError;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where the value was: a JSON path (`applicant.phone`), a query or path parameter name, or `body`.
    pub field: String,
    /// What is wrong with it, for a person to read.
    pub message: String,
}

impl FieldError {
    /// A message about one field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document, as sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem kind: `urn:motcua:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// Field-level messages (validation errors only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not well-formed (not JSON, truncated, wrong encoding).
    #[error("{0}")]
    MalformedBody(String),
    /// The request line or a header cannot be parsed (answered by the
    /// connection layer, [`crate::wire`]).
    #[error("the request line or a header cannot be read as HTTP/1.1")]
    MalformedRequest,
    /// The request head is over the HTTP layer's buffer (128 KiB) or has
    /// more than 96 headers (answered by the connection layer).
    #[error("the request line and headers are too large: at most 128 KiB and 96 headers")]
    HeadersTooLarge,
    /// The request head did not arrive within the client request timeout
    /// (answered by the connection layer).
    #[error("the request line and headers did not arrive within 5 seconds")]
    RequestTimeout,
    /// The request is well-formed but some values are invalid.
    #[error("some values are invalid")]
    Validation(Vec<FieldError>),
    /// No valid credentials.
    #[error("{detail}")]
    Unauthenticated {
        /// Stable code: missing_token, invalid_token, token_expired, invalid_credentials, …
        code: &'static str,
        /// Explanation.
        detail: String,
    },
    /// The caller's roles do not allow this at all.
    #[error("your roles do not allow this")]
    Forbidden,
    /// Too many attempts; try again later.
    #[error("too many attempts; try again in {} seconds", retry_after.as_secs().max(1))]
    TooManyRequests {
        /// How long to wait.
        retry_after: std::time::Duration,
    },
    /// Nothing here, or nothing the caller may know about.
    #[error("no such resource")]
    NotFound,
    /// The resource exists but not with this method.
    #[error("{method} is not allowed here")]
    MethodNotAllowed {
        /// The method used.
        method: Method,
        /// The methods that are allowed, for the `Allow` header.
        allow: Vec<Method>,
    },
    /// The body exceeds the configured limit.
    #[error("the request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body's media type is not accepted.
    #[error("the body must be {expected}")]
    UnsupportedMediaType {
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The request conflicts with the current state of a resource.
    #[error("{detail}")]
    Conflict {
        /// Stable code naming the conflict.
        code: &'static str,
        /// Explanation.
        detail: String,
    },
    /// The resource changed since the version the client based its request on.
    #[error("{detail}")]
    PreconditionFailed {
        /// Explanation, with the current version.
        detail: String,
    },
    /// The database cannot be reached in time.
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
    /// A stored file's content is not in this server's file store (servers
    /// sharing a database must share the file store: the S3 store, or one
    /// data directory).
    #[error(
        "the file's content is not available on this server; try again or tell the administrator"
    )]
    FileUnavailable,
    /// The file store (an S3 bucket, or the local directory) cannot be
    /// reached or refused the operation; the cause is logged.
    #[error("the file store is unavailable; try again shortly")]
    FileStoreUnavailable,
    /// The service runs but cannot serve yet (e.g. migrations not applied).
    #[error("{0}")]
    NotReady(String),
    /// A PDF was asked for and this server has no headless Chromium to print it.
    #[error(
        "this server cannot print PDF (no headless Chromium: install the chromium package or \
         set MOTCUA_CHROMIUM); ask for the HTML page and print it"
    )]
    PdfUnavailable,
    /// A failure on our side; the cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The stable code sent as `code` (and in the problem `type`).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedBody(_) => "malformed_body",
            ApiError::MalformedRequest => "malformed_request",
            ApiError::HeadersTooLarge => "headers_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unauthenticated { code, .. } => code,
            ApiError::Forbidden => "forbidden",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::Conflict { code, .. } => code,
            ApiError::PreconditionFailed { .. } => "stale_version",
            ApiError::Unavailable => "database_unavailable",
            ApiError::NotReady(_) => "not_ready",
            ApiError::FileUnavailable => "file_unavailable",
            ApiError::FileStoreUnavailable => "file_store_unavailable",
            ApiError::PdfUnavailable => "pdf_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::MalformedBody(_) => "Malformed request body",
            ApiError::MalformedRequest => "Malformed request",
            ApiError::HeadersTooLarge => "Request headers too large",
            ApiError::RequestTimeout => "Request timeout",
            ApiError::Validation(_) => "Invalid values",
            ApiError::Unauthenticated { .. } => "Unauthenticated",
            ApiError::Forbidden => "Forbidden",
            ApiError::TooManyRequests { .. } => "Too many requests",
            ApiError::NotFound => "Not found",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::PayloadTooLarge { .. } => "Request body too large",
            ApiError::UnsupportedMediaType { .. } => "Unsupported media type",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::PreconditionFailed { .. } => "Precondition failed",
            ApiError::Unavailable
            | ApiError::NotReady(_)
            | ApiError::FileUnavailable
            | ApiError::FileStoreUnavailable => "Service unavailable",
            ApiError::PdfUnavailable => "Not implemented",
            ApiError::Internal(_) => "Internal error",
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let detail = match self {
            ApiError::Internal(_) => "something went wrong on our side; it has been logged".into(),
            other => other.to_string(),
        };
        Problem {
            kind: format!("urn:motcua:problem:{}", self.code()),
            title: self.title().into(),
            status: self.status_code().as_u16(),
            detail,
            code: self.code().into(),
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedBody(_) | ApiError::MalformedRequest => StatusCode::BAD_REQUEST,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::Unavailable
            | ApiError::NotReady(_)
            | ApiError::FileUnavailable
            | ApiError::FileStoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PdfUnavailable => StatusCode::NOT_IMPLEMENTED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(%cause, "internal error"),
            ApiError::Unavailable => tracing::warn!("database unavailable"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_JSON);
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            let allow: Vec<&str> = allow.iter().map(Method::as_str).collect();
            response.insert_header((header::ALLOW, allow.join(", ")));
        }
        match self {
            ApiError::Unavailable | ApiError::NotReady(_) | ApiError::FileStoreUnavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::TooManyRequests { retry_after } => {
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response.insert_header((header::RETRY_AFTER, seconds.max(1).to_string()));
            }
            ApiError::Unauthenticated { code, .. } => {
                let error = if *code == "missing_token" {
                    ""
                } else {
                    ", error=\"invalid_token\""
                };
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!("Bearer realm=\"motcua\"{error}"),
                ));
            }
            _ => {}
        }
        response.json(self.problem())
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => ApiError::NotFound,
            DbError::Unavailable(_) | DbError::Connect { .. } => {
                tracing::warn!(%error, "database unavailable");
                ApiError::Unavailable
            }
            DbError::Conflict(constraint) => ApiError::Conflict {
                code: "conflict",
                detail: format!("conflicts with an existing record ({constraint})"),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

/// Maps errors from actix's JSON extractor onto the problem vocabulary:
/// syntax → 400, wrong shape or values → 422, too big → 413, not JSON → 415.
pub fn json_error(error: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::{JsonPayloadError, PayloadError};
    match error {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit },
        JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit: 0 },
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType {
            expected: "application/json",
        },
        JsonPayloadError::Deserialize(error) if error.is_data() => {
            ApiError::Validation(vec![FieldError::new(
                "body",
                without_position(&error.to_string()),
            )])
        }
        JsonPayloadError::Deserialize(error) => {
            ApiError::MalformedBody(format!("the body is not valid JSON: {error}"))
        }
        JsonPayloadError::Serialize(error) => ApiError::Internal(error.to_string()),
        other => ApiError::MalformedBody(other.to_string()),
    }
}

/// serde_json's message without its " at line L column C": the client's
/// value is what is wrong, not where our parser was.
pub fn without_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |end| &message[..end])
}

/// A path parameter that cannot be parsed names no resource.
pub fn path_error(_: actix_web::error::PathError) -> ApiError {
    ApiError::NotFound
}

/// Last line of defence: any error response that is not already a problem
/// document (actix's own 404/405/400 answers, a panic's 500) becomes one, so
/// clients only ever parse one error shape.
pub fn ensure_problem<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == HeaderValue::from_static(PROBLEM_JSON));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::UNAUTHORIZED => ApiError::Unauthenticated {
            code: "invalid_token",
            detail: "not authenticated".into(),
        },
        StatusCode::FORBIDDEN => ApiError::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => ApiError::TooManyRequests {
            retry_after: std::time::Duration::from_secs(
                response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1),
            ),
        },
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: 0 },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType {
            expected: "application/json",
        },
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable,
        s if s.is_client_error() => ApiError::MalformedBody(
            response
                .response()
                .error()
                .map(|e| e.to_string())
                .unwrap_or_else(|| s.canonical_reason().unwrap_or("bad request").to_owned()),
        ),
        _ => ApiError::Internal(
            response
                .response()
                .error()
                .map(|e| e.to_string())
                .unwrap_or_else(|| format!("status {status}")),
        ),
    };
    let mut problem: HttpResponse<BoxBody> = error.error_response();
    *problem.status_mut() = status;
    if let Some(allow) = response.headers().get(header::ALLOW).cloned() {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    let (request, _) = response.into_parts();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, problem).map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_distinct_code_and_matching_status() {
        let errors = [
            ApiError::MalformedBody("x".into()),
            ApiError::Validation(vec![FieldError::new("phone", "not a phone number")]),
            ApiError::NotFound,
            ApiError::MethodNotAllowed {
                method: Method::PUT,
                allow: vec![Method::GET],
            },
            ApiError::PayloadTooLarge { limit: 10 },
            ApiError::UnsupportedMediaType {
                expected: "application/json",
            },
            ApiError::Conflict {
                code: "conflict",
                detail: "x".into(),
            },
            ApiError::Unavailable,
            ApiError::NotReady("migrating".into()),
            ApiError::FileUnavailable,
            ApiError::FileStoreUnavailable,
            ApiError::PdfUnavailable,
            ApiError::Internal("secret cause".into()),
        ];
        let codes: std::collections::BTreeSet<_> = errors.iter().map(ApiError::code).collect();
        assert_eq!(codes.len(), errors.len());
        for error in &errors {
            let problem = error.problem();
            assert_eq!(problem.status, error.status_code().as_u16());
            assert_eq!(problem.kind, format!("urn:motcua:problem:{}", problem.code));
        }
    }

    #[test]
    fn internal_causes_stay_out_of_the_body() {
        let problem = ApiError::Internal("password=hunter2 at db.rs:12".into()).problem();
        let body = serde_json::to_string(&problem).unwrap_or_default();
        assert!(!body.contains("hunter2"));
        assert_eq!(problem.status, 500);
    }
}
