//! The connection layer under actix-web: the server's sockets, and the
//! answers the HTTP layer writes by itself.
//!
//! actix-http answers three kinds of request before any application code or
//! middleware runs, each with an empty body and then closing the connection:
//! a request head over its 128 KiB buffer or with more than 96 headers (431),
//! a request line or header it cannot parse (400), and a head that does not
//! arrive within the client request timeout (408). Every other answer of the
//! API is problem+json with a stable code (docs/api-conventions.md). So that
//! these are too, each connection's socket is wrapped in [`ProblemAnswers`]:
//! when what is written ends with such an answer (a complete response head
//! with one of those statuses and no body), the problem document of
//! [`ApiError::MalformedRequest`], [`ApiError::HeadersTooLarge`] or
//! [`ApiError::RequestTimeout`] is written in its place. The application
//! never answers with an empty body and those statuses (its errors are all
//! problem documents), so nothing it writes is changed.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_web::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{ApiError, PROBLEM_JSON};

/// A connection whose body-less 400, 408 and 431 answers are rewritten as
/// problem documents (see the module documentation).
pub struct ProblemAnswers<S> {
    inner: S,
    /// The client's address, for the log line of a rewritten answer.
    peer: Option<SocketAddr>,
    /// A rewritten answer being written, in place of the bytes the caller
    /// passed; those are reported written once all of it is.
    replacing: Option<Replacement>,
}

struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    stands_for: usize,
}

impl<S> ProblemAnswers<S> {
    /// Wraps a connection from `peer`.
    pub fn new(inner: S, peer: Option<SocketAddr>) -> Self {
        ProblemAnswers {
            inner,
            peer,
            replacing: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ProblemAnswers<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ProblemAnswers<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let replacement = match this.replacing {
            Some(ref mut replacement) => replacement,
            None => match with_problem_answer(buf, this.peer) {
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
                Some(bytes) => this.replacing.insert(Replacement {
                    bytes,
                    written: 0,
                    stands_for: buf.len(),
                }),
            },
        };
        while replacement.written < replacement.bytes.len() {
            let rest = &replacement.bytes[replacement.written..];
            match ready!(Pin::new(&mut this.inner).poll_write(cx, rest))? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => replacement.written += n,
            }
        }
        let stands_for = replacement.stands_for;
        this.replacing = None;
        Poll::Ready(Ok(stands_for))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `written` with its last response replaced by a problem document, when
/// that response is one of the HTTP layer's own body-less answers.
fn with_problem_answer(written: &[u8], peer: Option<SocketAddr>) -> Option<Vec<u8>> {
    // Such an answer has no body, so the bytes end with its head's blank
    // line; any other write is passed on after this one comparison.
    if !written.ends_with(b"\r\n\r\n") {
        return None;
    }
    // It is the last response on its connection, after any pipelined ones.
    let start = written
        .windows(STATUS_LINE_START.len())
        .rposition(|window| window == STATUS_LINE_START)?;
    let head = &written[start..];
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    if response.parse(head).ok()? != httparse::Status::Complete(head.len()) {
        return None;
    }
    let error = match StatusCode::from_u16(response.code?).ok()? {
        StatusCode::BAD_REQUEST => ApiError::MalformedRequest,
        StatusCode::REQUEST_TIMEOUT => ApiError::RequestTimeout,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::HeadersTooLarge,
        _ => return None,
    };
    let is = |header: &httparse::Header<'_>, name: &str| header.name.eq_ignore_ascii_case(name);
    let has_body = response.headers.iter().any(|header| {
        is(header, "content-type")
            || is(header, "transfer-encoding")
            || (is(header, "content-length") && header.value != b"0")
    });
    if has_body {
        return None;
    }
    tracing::info!(
        peer = peer.map(|peer| peer.to_string()),
        status = response.code,
        code = error.code(),
        "a request head the HTTP layer refused"
    );
    let body = serde_json::to_vec(&error.problem()).ok()?;
    let mut answer = Vec::with_capacity(start + 512 + body.len());
    answer.extend_from_slice(&written[..start]);
    let status = actix_web::ResponseError::status_code(&error);
    answer.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_str(),
            status.canonical_reason().unwrap_or_default()
        )
        .as_bytes(),
    );
    for header in response.headers.iter().filter(|h| !is(h, "content-length")) {
        answer.extend_from_slice(header.name.as_bytes());
        answer.extend_from_slice(b": ");
        answer.extend_from_slice(header.value);
        answer.extend_from_slice(b"\r\n");
    }
    answer.extend_from_slice(
        format!(
            "content-type: {PROBLEM_JSON}\r\nx-content-type-options: nosniff\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    answer.extend_from_slice(&body);
    Some(answer)
}

const STATUS_LINE_START: &[u8] = b"HTTP/1.1 ";

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(written: &str) -> Option<String> {
        with_problem_answer(written.as_bytes(), None)
            .map(|bytes| String::from_utf8_lossy(&bytes).into())
    }

    fn problem_of(answer: &str) -> serde_json::Value {
        let (_, body) = answer
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{answer}"));
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    #[test]
    fn the_http_layers_own_answers_become_problem_documents() {
        for (status, code) in [
            ("400 Bad Request", "malformed_request"),
            ("408 Request Timeout", "request_timeout"),
            ("431 Request Header Fields Too Large", "headers_too_large"),
        ] {
            let answer = rewritten(&format!(
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\ndate: Sat, 28 Nov 2026 02:00:00 GMT\r\n\r\n"
            ))
            .unwrap_or_else(|| panic!("{status} is not rewritten"));
            let (head, _) = answer.split_once("\r\n\r\n").unwrap_or_default();
            assert!(
                head.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{head}"
            );
            assert!(head.contains("connection: close\r\n"), "{head}");
            assert!(
                head.contains("date: Sat, 28 Nov 2026 02:00:00 GMT"),
                "{head}"
            );
            assert!(
                head.contains("content-type: application/problem+json"),
                "{head}"
            );
            assert!(!head.contains("content-length: 0"), "{head}");
            let problem = problem_of(&answer);
            assert_eq!(problem["code"], code);
            assert_eq!(
                problem["status"],
                status[..3].parse::<u16>().unwrap_or_default()
            );
            let length = answer.len() - head.len() - 4;
            assert!(
                head.lines()
                    .any(|line| line == format!("content-length: {length}")),
                "{head}"
            );
        }
    }

    #[test]
    fn an_answer_after_pipelined_responses_is_rewritten_and_they_are_kept() {
        let before = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let answer = rewritten(&format!(
            "{before}HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
        ))
        .unwrap_or_else(|| panic!("not rewritten"));
        assert!(answer.starts_with(before), "{answer}");
        let second = &answer[before.len()..];
        assert_eq!(problem_of(second)["code"], "malformed_request");
    }

    #[test]
    fn the_applications_answers_pass_unchanged() {
        for written in [
            // problem documents and other bodies
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 2\r\n\r\n{}",
            "HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nok\r\n\r\n",
            // body-less answers of other statuses
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            // a head with a body announced (HEAD requests, streamed bodies)
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 120\r\n\r\n",
            "HTTP/1.1 431 Request Header Fields Too Large\r\ntransfer-encoding: chunked\r\n\r\n",
            // bytes that end like a head without being one
            "\r\n\r\n",
            "HTTP/1.1 400 \u{0}\r\n\r\n",
        ] {
            assert_eq!(rewritten(written), None, "{written:?}");
        }
    }
}
