//! The committed OpenAPI document is what the code generates, and a
//! contract clients can generate from ([`contract`]).

mod contract;

/// Fails when `openapi/openapi.json` is stale. `MOTCUA_BLESS=1` rewrites it
/// (or run `cargo run -- openapi > openapi/openapi.json`).
#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = motcua_api::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| panic!("{e}"))
        + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var_os("MOTCUA_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: regenerate it with \
         `cargo run -- openapi > openapi/openapi.json` (or MOTCUA_BLESS=1 cargo test)"
    );
}
