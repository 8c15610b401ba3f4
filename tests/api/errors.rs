//! Error responses at the edge: always problem+json with a stable code.
//! (Body errors, 400/413/415/422, are shown in crates/api's own tests on the
//! real application until a route here takes a JSON body.)

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
        assert_eq!(allow.as_deref(), Some("GET"), "{path}");
        problem(response, 405, "method_not_allowed").await;
    }
}

api_tests!(
    unknown_routes_are_404_problems,
    known_routes_with_the_wrong_method_are_405_with_allow
);
