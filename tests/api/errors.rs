//! Error responses at the edge: always problem+json with a stable code,
//! also where the HTTP layer answers before the application (a request head
//! it cannot read, too large, or too slow).
//! (Body errors, 400/413/415/422, are shown in crates/api's own tests on the
//! real application until a route here takes a JSON body.)

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use crate::helpers::{TestApp, problem};

async fn unknown_routes_are_404_problems(app: TestApp) {
    for path in ["/nope", "/api/v1/nope", "/healthz/extra", "/docs-not"] {
        problem(app.get(path).await, 404, "not_found").await;
    }
}

async fn known_routes_with_the_wrong_method_are_405_with_allow(app: TestApp) {
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = app
            .client
            .delete(app.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(allow.as_deref(), Some("GET, HEAD"), "{path}");
        problem(response, 405, "method_not_allowed").await;
    }
}

/// HEAD is answered wherever GET is: the same status and headers, the
/// length the body would have, and no body.
async fn head_is_answered_like_get_without_a_body(app: TestApp) {
    for path in ["/healthz", "/openapi.json", "/api/v1/procedures", "/nope"] {
        let get = app.get(path).await;
        let (status, length) = (get.status(), get.headers().get("content-length").cloned());
        let body = get.bytes().await.unwrap_or_default();
        let head = app
            .client
            .head(app.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(head.status(), status, "{path}");
        if let Some(length) = length {
            assert_eq!(
                head.headers().get("content-length"),
                Some(&length),
                "{path}"
            );
            assert_eq!(
                length.to_str().ok(),
                Some(body.len().to_string().as_str()),
                "{path}"
            );
        }
        assert!(head.bytes().await.unwrap_or_default().is_empty(), "{path}");
    }
}

/// Writes `request` on a new connection and reads until the server closes it.
async fn exchange(app: &TestApp, request: Vec<u8>) -> String {
    let host = app.address.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("{e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap_or_else(|e| panic!("{e}"));
        stream.write_all(&request).unwrap_or_else(|e| panic!("{e}"));
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The response in `answer` starting at `start`: its status line, and its
/// body read as a problem document.
fn problem_at(answer: &str, start: usize, status: u16, code: &str) {
    let response = &answer[start..];
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name}: {head}"))
    };
    assert_eq!(header("content-type"), "application/problem+json");
    assert_eq!(header("content-length"), body.len().to_string());
    let problem: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(problem["status"], status);
    assert_eq!(problem["code"], code);
    assert_eq!(problem["type"], format!("urn:motcua:problem:{code}"));
}

async fn a_request_head_with_too_many_headers_is_a_431_problem(app: TestApp) {
    let mut request = String::from("GET /healthz HTTP/1.1\r\nhost: motcua\r\n");
    for i in 0..100 {
        request.push_str(&format!("x-header-{i}: {i}\r\n"));
    }
    request.push_str("\r\n");
    let answer = exchange(&app, request.into_bytes()).await;
    problem_at(&answer, 0, 431, "headers_too_large");
}

async fn a_malformed_request_line_is_a_400_problem_after_what_came_before(app: TestApp) {
    let answer = exchange(&app, b"GET /healthz HTTP/1.1\r\n\0\r\n\r\n".to_vec()).await;
    problem_at(&answer, 0, 400, "malformed_request");

    // Behind a pipelined request that succeeds, whose answer is untouched.
    let answer = exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nhost: motcua\r\n\r\nNOT HTTP AT ALL\r\n\r\n".to_vec(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let second = answer
        .match_indices("HTTP/1.1 400 ")
        .map(|(at, _)| at)
        .last()
        .unwrap_or_else(|| panic!("{answer}"));
    problem_at(&answer, second, 400, "malformed_request");
}

/// The server gives a request head 5 seconds (the test waits for its answer).
async fn a_request_head_that_never_ends_is_a_408_problem(app: TestApp) {
    let answer = exchange(&app, b"GET /healthz HTTP/1.1\r\nhost: mot".to_vec()).await;
    problem_at(&answer, 0, 408, "request_timeout");
}

api_tests!(
    unknown_routes_are_404_problems,
    known_routes_with_the_wrong_method_are_405_with_allow,
    head_is_answered_like_get_without_a_body,
    a_request_head_with_too_many_headers_is_a_431_problem,
    a_malformed_request_line_is_a_400_problem_after_what_came_before,
    a_request_head_that_never_ends_is_a_408_problem
);
