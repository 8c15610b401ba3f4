//! Liveness, readiness, metrics, request ids and the documentation endpoints.

use motcua_persistence::testing::revert_last_migration;

use crate::helpers::{TestApp, json, problem};

async fn health_and_readiness_answer(app: TestApp) {
    let health = app.get("/healthz").await;
    assert_eq!(health.status().as_u16(), 200);
    let health = json(health, "application/json").await;
    assert_eq!(health["status"], "ok");

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 200);
    let ready = json(ready, "application/json").await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], app.backend.name());
}

async fn readiness_fails_while_a_migration_is_missing(app: TestApp) {
    let reverted = revert_last_migration(&app.db).unwrap_or_else(|e| panic!("{e}"));
    let body = problem(app.get("/readyz").await, 503, "not_ready").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("1 migration"),
        "{body}"
    );
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);

    app.db
        .migrate()
        .unwrap_or_else(|e| panic!("re-applying {reverted}: {e}"));
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
}

async fn every_response_carries_a_request_id(app: TestApp) {
    for path in ["/healthz", "/no/such/route"] {
        let response = app.get(path).await;
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok());
        let id = id.unwrap_or_default();
        assert!(uuid_like(id), "{path}: request id {id:?}");
    }
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "desk-7:req-42")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("desk-7:req-42")
    );
    // An id that could forge log lines is replaced, not echoed.
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "evil id with spaces")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok());
    assert!(id.is_some_and(uuid_like), "{id:?}");
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.split('-').map(str::len).eq([8, 4, 4, 4, 12])
}

async fn metrics_count_requests_by_route_and_status(app: TestApp) {
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/route").await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.unwrap_or_default();
    assert!(
        text.contains(
            r#"motcua_http_requests_total{endpoint="/healthz",method="GET",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"motcua_http_requests_total{endpoint="unmatched",method="GET",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"motcua_http_requests_duration_seconds_bucket{endpoint="/healthz",method="GET",status="200",le="0.005"}"#));
}

async fn swagger_ui_is_served_from_the_binary(app: TestApp) {
    let redirect = app.get("/docs").await;
    assert_eq!(redirect.status().as_u16(), 301);
    assert_eq!(
        redirect
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/docs/")
    );

    let page = app.get("/docs/").await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every asset the page loads is relative, hence served by us: no CDN.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    ] {
        assert!(html.contains(asset), "{asset} not referenced");
        let response = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        assert!(
            response.bytes().await.map(|b| b.len()).unwrap_or(0) > 10_000,
            "{asset}"
        );
    }
    let init = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(init.contains("/openapi.json"), "{init}");
}

async fn the_served_openapi_document_is_the_generated_one(app: TestApp) {
    let served = json(app.get("/openapi.json").await, "application/json").await;
    let generated: serde_json::Value =
        serde_json::to_value(motcua_api::openapi()).unwrap_or_default();
    assert_eq!(served, generated);
    assert!(
        served["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(served["paths"][path]["get"].is_object(), "{path} missing");
    }
}

api_tests!(
    health_and_readiness_answer,
    readiness_fails_while_a_migration_is_missing,
    every_response_carries_a_request_id,
    metrics_count_requests_by_route_and_status,
    swagger_ui_is_served_from_the_binary,
    the_served_openapi_document_is_the_generated_one,
);
