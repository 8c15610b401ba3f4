//! Text hygiene at the door: one middleware screens every request before a
//! handler sees it, so no handler has to remember to.
//!
//! - The path and every query parameter, percent-decoded, must be free of
//!   control characters (U+0000–U+001F, U+007F–U+009F) and of bidirectional
//!   overrides and isolates (U+200E/F, U+202A–U+202E, U+2066–U+2069).
//! - A body that parses as JSON (whatever its declared type: the payment
//!   callback reads raw bytes) may nest at most [`MAX_DEPTH`] levels, no
//!   string (key or value) may hold a control character other than tab,
//!   line feed or carriage return, nor a bidirectional override, and no string may be longer than
//!   [`MAX_STRING_CHARS`] characters. Single-line fields are stricter still
//!   (`validate::text`).
//!
//! Each refusal is a 422 naming the field (`path`, the query parameter's
//! name, or the JSON path such as `applicant.full_name`), on both backends
//! alike: PostgreSQL cannot store NUL in text, SQLite can, and neither
//! should. Bodies that are not JSON are left to their handler (400 or 415);
//! multipart uploads are streamed, not buffered, and checked by the upload
//! handler.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::error::{ApiError, FieldError};

/// The deepest nesting of arrays and objects a JSON body may have.
pub const MAX_DEPTH: usize = 32;
/// The longest string a JSON body may carry, in characters.
pub const MAX_STRING_CHARS: usize = 20_000;

/// Bidirectional overrides and isolates: they make printed names and file
/// names read differently from what they are (`gpj.exe` shown as `exe.jpg`),
/// and Vietnamese text never needs them.
fn bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` is refused in the path and query (every control character).
fn forbidden_anywhere(c: char) -> bool {
    c.is_control() || bidi_control(c)
}

/// Whether `c` is refused in a JSON string (control characters except tab and line breaks).
fn forbidden_in_body(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || bidi_control(c)
}

fn invalid(field: impl Into<String>, message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError::new(field, message)])
}

const CONTROL: &str =
    "must not contain control characters (such as NUL) or bidirectional overrides";

/// Checks the path and the query string.
pub fn screen_uri(path: &str, query: &str) -> Result<(), ApiError> {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    if decoded.chars().any(forbidden_anywhere) {
        return Err(invalid("path", CONTROL));
    }
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name.chars().any(forbidden_anywhere) {
            return Err(invalid("query", CONTROL));
        }
        if value.chars().any(forbidden_anywhere) {
            return Err(invalid(name.into_owned(), CONTROL));
        }
    }
    Ok(())
}

/// The deepest nesting of `bytes` read as JSON (brackets outside strings).
fn nesting(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Checks a request body. Not JSON at all: left to the handler.
pub fn screen_body(bytes: &[u8]) -> Result<(), ApiError> {
    if nesting(bytes) > MAX_DEPTH {
        return Err(invalid(
            "body",
            &format!("must not nest arrays and objects more than {MAX_DEPTH} levels deep"),
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => screen_value(&value, &mut String::new()),
        Err(_) => Ok(()),
    }
}

fn screen_string(text: &str, path: &str) -> Result<(), ApiError> {
    let field = || if path.is_empty() { "body" } else { path }.to_owned();
    if text.chars().any(forbidden_in_body) {
        return Err(invalid(field(), CONTROL));
    }
    if text.chars().count() > MAX_STRING_CHARS {
        return Err(invalid(
            field(),
            &format!("must be at most {MAX_STRING_CHARS} characters"),
        ));
    }
    Ok(())
}

fn screen_value(value: &Value, path: &mut String) -> Result<(), ApiError> {
    match value {
        Value::String(text) => screen_string(text, path),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                screen_value(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(members) => {
            for (key, item) in members {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                screen_string(key, path)?;
                screen_value(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn is_multipart(request: &ServiceRequest) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        })
}

/// Middleware: refuses requests whose path, query or JSON body fails the
/// checks above with 422, before any handler runs. The body is read (and
/// decompressed) once here, at most `limit` bytes (413 beyond), and handed
/// on as plain bytes.
pub async fn screen(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    limit: usize,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, Error> {
    let mut verdict = screen_uri(request.uri().path(), request.query_string());
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_none_or(|v| v.as_bytes() != b"0");
    if verdict.is_ok() && has_body && !is_multipart(&request) {
        verdict = match request.extract::<web::Bytes>().await {
            Ok(bytes) => {
                let verdict = screen_body(&bytes);
                let headers = request.headers_mut();
                headers.remove(header::CONTENT_ENCODING);
                headers.insert(
                    header::CONTENT_LENGTH,
                    header::HeaderValue::from(bytes.len()),
                );
                request.set_payload(actix_web::dev::Payload::from(bytes));
                verdict
            }
            Err(error) => Err(match error.as_error::<actix_web::error::PayloadError>() {
                Some(actix_web::error::PayloadError::Overflow) => {
                    ApiError::PayloadTooLarge { limit }
                }
                _ => ApiError::MalformedBody(format!("the body cannot be read: {error}")),
            }),
        };
    }
    match verdict {
        Ok(()) => Ok(next.call(request).await?.map_into_left_body()),
        Err(error) => Ok(request
            .into_response(error.error_response())
            .map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<(), ApiError>) -> Option<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.first().map(|e| e.field.clone()),
            _ => None,
        }
    }

    #[test]
    fn nul_in_the_path_or_a_query_parameter_is_named() {
        assert_eq!(
            field_of(screen_uri("/api/v1/dossiers/%00", "")),
            Some("path".into())
        );
        assert_eq!(
            field_of(screen_uri("/api/v1/procedures", "q=a%00b")),
            Some("q".into())
        );
        assert_eq!(
            field_of(screen_uri("/api/v1/procedures", "q=%1F")),
            Some("q".into())
        );
        assert!(screen_uri("/api/v1/procedures", "q=h%E1%BB%99+t%E1%BB%8Bch").is_ok());
    }

    #[test]
    fn control_characters_in_a_body_are_named_by_their_json_path() {
        let body = br#"{"applicant": {"full_name": "An\u0000"}}"#;
        assert_eq!(
            field_of(screen_body(body)),
            Some("applicant.full_name".into())
        );
        let body = br#"{"documents": [{"note": "ok"}, {"note": "\u0007"}]}"#;
        assert_eq!(
            field_of(screen_body(body)),
            Some("documents[1].note".into())
        );
        let body = br#"{"a\u0000": 1}"#;
        assert_eq!(field_of(screen_body(body)), Some("a\u{0}".into()));
        assert!(screen_body(b"{\"note\": \"line one\\nline two\\ttab\"}").is_ok());
        assert!(
            screen_body(b"not json at all").is_ok(),
            "left to the handler"
        );
    }

    #[test]
    fn deep_nesting_and_huge_strings_are_refused() {
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(field_of(screen_body(deep.as_bytes())), Some("body".into()));
        let fine = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(screen_body(fine.as_bytes()).is_ok());
        // Brackets inside strings do not count.
        let quoted = format!("{{\"note\": \"{}\"}}", "[".repeat(200));
        assert!(screen_body(quoted.as_bytes()).is_ok());
        let long = format!("{{\"note\": \"{}\"}}", "x".repeat(MAX_STRING_CHARS + 1));
        assert_eq!(field_of(screen_body(long.as_bytes())), Some("note".into()));
    }
}
