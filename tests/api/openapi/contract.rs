//! The committed OpenAPI document is a contract a client can be generated
//! from: every body a client sends or reads is typed (docs/api-conventions.md,
//! "The contract"). Reads `openapi/openapi.json`; no server needed.
//!
//! Walks every request and response body schema and every parameter,
//! following `$ref`, `allOf`/`oneOf`/`anyOf`, `properties`, `items` and
//! `additionalProperties`, and fails listing each offender by its JSON path:
//!
//! - **bare object**: an object (or a schema with no type at all) with no
//!   `properties`, no typed `additionalProperties` and no composition — a
//!   generator can only type it as "any object". An object with
//!   `additionalProperties: false` and no properties is a typed empty object.
//!   Genuinely free-form maps are on [`FREE_FORM`], each with its reason.
//! - **closed string without enum**: a string whose values form a closed set
//!   (its name is one the API only ever uses for closed sets, [`CLOSED_NAMES`],
//!   or its description lists its values as code: "`desk`, `post` or
//!   `online`") but which has no `enum`. Strings that look closed but are
//!   open by design are on [`OPEN_STRINGS`], each with its reason.
//! - **tuple**: `items: false` or `prefixItems` (a Rust tuple), which
//!   openapi-python-client refuses.
//! - **undocumented count**: a number in a report (`/api/v1/reports/…`)
//!   whose description does not give the column's Vietnamese title.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

/// Free-form maps: JSON pointer of the schema, and why it has no shape.
const FREE_FORM: &[(&str, &str)] = &[(
    "#/components/schemas/EventView/properties/payload",
    "a history event's payload is served exactly as it was written and hashed, by \
     whichever version of motcua wrote it; its shape depends on the action and on \
     that version, and clients show or verify it rather than build it",
)];

/// Strings that look like closed sets but are open: JSON pointer (or, for a
/// parameter, `<METHOD> <path> ?<name>`), and why.
const OPEN_STRINGS: &[(&str, &str)] = &[];

/// Property and parameter names the API only ever uses for closed sets.
const CLOSED_NAMES: &[&str] = &[
    "status",
    "state",
    "state_before",
    "state_after",
    "channel",
    "result_delivery",
    "delivery",
    "deliveries",
    "outcome",
    "kind",
    "method",
    "overall",
    "online_kind",
    "offered",
    "role",
    "roles",
    "actor_role",
    "format",
    "group_by",
    "unit",
    "cause",
    "media_type",
    "database",
    "regime",
    "form",
    "token_type",
    "agency_level",
    "on_supplement",
    "action",
];

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A JSON pointer token (RFC 6901).
fn token(text: &str) -> String {
    text.replace('~', "~0").replace('/', "~1")
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

const COMPOSITIONS: [&str; 3] = ["allOf", "oneOf", "anyOf"];

fn composed(schema: &Value) -> bool {
    COMPOSITIONS.iter().any(|c| schema.get(c).is_some())
}

/// The values a description lists as code spans: "`desk`, `post` or
/// `online`" gives three. Only value-like spans count (lower-case words,
/// digits, `_`, and media types such as `image/png`), not paths or examples.
fn listed_values(description: &str) -> BTreeSet<&str> {
    description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| {
            let (word, subtype) = span.split_once('/').unwrap_or((span, "x"));
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !subtype.is_empty()
                && subtype
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".+-".contains(c))
        })
        .collect()
}

/// What the walk found.
#[derive(Default)]
struct Findings {
    offenders: Vec<String>,
    /// Allow-list entries met on the way (stale ones are offenders too).
    used: HashSet<String>,
}

struct Walker<'a> {
    document: &'a Value,
    visited: HashSet<String>,
    findings: Findings,
    /// The operation the walk is in, for the messages.
    context: String,
}

impl<'a> Walker<'a> {
    fn new(document: &'a Value) -> Self {
        Walker {
            document,
            visited: HashSet::new(),
            findings: Findings::default(),
            context: String::new(),
        }
    }

    fn offend(&mut self, what: &str, at: &str) {
        self.findings
            .offenders
            .push(format!("{what}: {at}   (reached from {})", self.context));
    }

    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        self.document.pointer(reference.strip_prefix('#')?)
    }

    /// Walks a schema at `at` (a JSON pointer); `name` and `description` are
    /// the property's or parameter's, for the closed-string rule.
    fn walk(&mut self, schema: &'a Value, at: &str, name: Option<&str>, description: &str) {
        if schema.as_bool().is_some() {
            return;
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            if self.visited.insert(reference.to_owned()) {
                match self.resolve(reference) {
                    Some(target) => self.walk(target, reference, None, ""),
                    None => self.offend("dangling $ref", at),
                }
            }
            return;
        }
        let description = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or(description);
        for composition in COMPOSITIONS {
            for (i, part) in schema
                .get(composition)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                // A nullable wrapper (`oneOf: [null, X]`) keeps the property's name.
                self.walk(part, &format!("{at}/{composition}/{i}"), name, description);
            }
        }
        let types = types(schema);
        self.check_object(schema, at, &types);
        self.check_string(schema, at, &types, name, description);
        if schema.get("items") == Some(&Value::Bool(false)) || schema.get("prefixItems").is_some() {
            self.offend("tuple (items: false or prefixItems)", at);
        }
        if let Some(items) = schema.get("items") {
            // Array items keep the array's name: `roles: [Role]`.
            self.walk(items, &format!("{at}/items"), name, description);
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (property, child) in properties {
                let at = format!("{at}/properties/{}", token(property));
                self.walk(child, &at, Some(property), "");
            }
        }
        if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            self.walk(additional, &format!("{at}/additionalProperties"), None, "");
        }
    }

    fn check_object(&mut self, schema: &Value, at: &str, types: &[&str]) {
        let untyped = types.is_empty()
            && !["enum", "const", "items", "properties"]
                .iter()
                .any(|k| schema.get(k).is_some())
            && !composed(schema);
        if !(types.contains(&"object") || untyped) {
            return;
        }
        let has_properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        let typed_additional = match schema.get("additionalProperties") {
            // An explicitly empty object is typed.
            Some(Value::Bool(false)) => true,
            Some(Value::Object(a)) => !a.is_empty(),
            _ => false,
        };
        if has_properties || typed_additional || composed(schema) {
            return;
        }
        if FREE_FORM.iter().any(|(pointer, _)| *pointer == at) {
            self.findings.used.insert(at.to_owned());
            return;
        }
        self.offend("bare object", at);
    }

    fn check_string(
        &mut self,
        schema: &Value,
        at: &str,
        types: &[&str],
        name: Option<&str>,
        description: &str,
    ) {
        if !types.contains(&"string")
            || schema.get("enum").is_some()
            || schema.get("const").is_some()
            || schema.get("format").is_some()
        {
            return;
        }
        let by_name = name.is_some_and(|n| CLOSED_NAMES.contains(&n));
        let listed = listed_values(description);
        if !(by_name || listed.len() >= 2) {
            return;
        }
        if OPEN_STRINGS.iter().any(|(pointer, _)| *pointer == at) {
            self.findings.used.insert(at.to_owned());
            return;
        }
        let why = if by_name {
            format!(
                "closed string without enum (`{}` is a closed set)",
                name.unwrap_or_default()
            )
        } else {
            format!("closed string without enum (its description lists {listed:?})")
        };
        self.offend(&why, at);
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every operation: (method, path, pointer to the operation, the operation).
fn operations(document: &Value) -> Vec<(&'static str, String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                let pointer = format!("#/paths/{}/{method}", token(path));
                found.push((method, path.clone(), pointer, operation));
            }
        }
    }
    found
}

/// Walks every body and parameter of the document.
fn findings(document: &Value) -> Findings {
    let mut walker = Walker::new(document);
    for (method, path, pointer, operation) in operations(document) {
        let label = format!("{} {path}", method.to_uppercase());
        for (i, parameter) in operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            walker.context = format!("{label} parameter");
            let name = parameter["name"].as_str();
            let description = parameter["description"].as_str().unwrap_or_default();
            let at = format!("{pointer}/parameters/{i}/schema");
            walker.walk(&parameter["schema"], &at, name, description);
        }
        let bodies = operation["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(media, content)| {
                (
                    "request".to_owned(),
                    "requestBody".to_owned(),
                    media,
                    content,
                )
            });
        let answers = operation["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(status, response)| {
                response["content"].as_object().into_iter().flatten().map(
                    move |(media, content)| {
                        (
                            format!("{status} response"),
                            format!("responses/{status}"),
                            media,
                            content,
                        )
                    },
                )
            });
        for (what, under, media, content) in bodies.chain(answers) {
            if let Some(schema) = content.get("schema") {
                walker.context = format!("{label} {what}");
                let at = format!("{pointer}/{under}/content/{}/schema", token(media));
                walker.walk(schema, &at, None, "");
            }
        }
    }
    walker.findings
}

#[test]
fn every_body_and_parameter_is_typed() {
    let document = document();
    let found = findings(&document);
    let mut offenders = found.offenders;
    for (pointer, _) in FREE_FORM.iter().chain(OPEN_STRINGS) {
        if !found.used.contains(*pointer) {
            offenders.push(format!(
                "stale allow-list entry (no such free-form map or open string): {pointer}"
            ));
        }
    }
    assert!(
        offenders.is_empty(),
        "openapi/openapi.json is not a contract a client can be generated from; \
         {} offenders (see docs/api-conventions.md, \"The contract\"):\n{}",
        offenders.len(),
        offenders.join("\n")
    );
}

/// Whether a description names a column in Vietnamese (has a letter outside ASCII).
fn vietnamese(description: &str) -> bool {
    description
        .chars()
        .any(|c| c.is_alphabetic() && !c.is_ascii())
}

/// The numbers of a schema (following references), with their pointers.
fn numbers<'a>(
    document: &'a Value,
    schema: &'a Value,
    at: &str,
    description: &'a str,
    seen: &mut HashSet<String>,
    out: &mut Vec<(String, &'a str)>,
) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix('#')
            .and_then(|p| document.pointer(p));
        if let Some(target) = target
            && seen.insert(reference.to_owned())
        {
            numbers(document, target, reference, "", seen, out);
        }
        return;
    }
    let description = schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or(description);
    let types = types(schema);
    if types.contains(&"integer") || types.contains(&"number") {
        out.push((at.to_owned(), description));
    }
    for composition in COMPOSITIONS {
        for (i, part) in schema[composition]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            numbers(
                document,
                part,
                &format!("{at}/{composition}/{i}"),
                description,
                seen,
                out,
            );
        }
    }
    if let Some(items) = schema.get("items") {
        numbers(
            document,
            items,
            &format!("{at}/items"),
            description,
            seen,
            out,
        );
    }
    for (property, child) in schema["properties"].as_object().into_iter().flatten() {
        let at = format!("{at}/properties/{}", token(property));
        numbers(document, child, &at, "", seen, out);
    }
}

#[test]
fn every_count_of_a_report_has_its_vietnamese_column_title() {
    let document = document();
    let mut counts = Vec::new();
    let mut seen = HashSet::new();
    for (_, path, pointer, operation) in operations(&document) {
        if !path.starts_with("/api/v1/reports/") {
            continue;
        }
        let schema = &operation["responses"]["200"]["content"]["application/json"]["schema"];
        let at = format!("{pointer}/responses/200/content/application~1json/schema");
        numbers(&document, schema, &at, "", &mut seen, &mut counts);
    }
    assert!(
        counts.len() > 30,
        "the reports have their counts: {counts:?}"
    );
    let undocumented: Vec<String> = counts
        .iter()
        .filter(|(_, description)| !vietnamese(description))
        .map(|(at, description)| format!("{at}: {description:?}"))
        .collect();
    assert!(
        undocumented.is_empty(),
        "report numbers without their Vietnamese column title:\n{}",
        undocumented.join("\n")
    );
}

/// The rules can fail: each catches the kind of schema it is meant to.
#[test]
fn the_rules_catch_what_they_are_meant_to() {
    let document = serde_json::json!({
        "paths": {"/x": {"post": {
            "parameters": [{"name": "format", "in": "query", "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"content": {"application/json": {"schema":
                {"$ref": "#/components/schemas/View"}}}}}
        }}},
        "components": {"schemas": {"View": {"type": "object", "properties": {
            "records": {"type": "array", "items": {"type": "object"}},
            "status": {"type": "string", "description": "State."},
            "delivered": {"type": "string", "description": "`desk`, `post` or `online`."},
            "note": {"type": "string", "description": "Free text, e.g. `TK` or `applicant.phone`."},
            "apology": {"oneOf": [{"type": "null"}, {"type": "object"}]},
            "fields": {"type": "array", "items": false, "prefixItems": [{"type": "string"}]},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
            "empty": {"type": "object", "additionalProperties": false},
            "typed": {"type": "string", "enum": ["a", "b"], "description": "`a` or `b`."},
            "untyped": {"description": "Anything."}
        }}}}
    });
    let found = findings(&document).offenders;
    let hit = |pointer: &str| found.iter().any(|o| o.contains(&format!(": {pointer} ")));
    for pointer in [
        "#/paths/~1x/post/parameters/0/schema",
        "#/paths/~1x/post/requestBody/content/application~1json/schema",
        "#/components/schemas/View/properties/records/items",
        "#/components/schemas/View/properties/status",
        "#/components/schemas/View/properties/delivered",
        "#/components/schemas/View/properties/apology/oneOf/1",
        "#/components/schemas/View/properties/fields",
        "#/components/schemas/View/properties/untyped",
    ] {
        assert!(hit(pointer), "{pointer} is not caught: {found:#?}");
    }
    for pointer in [
        "#/components/schemas/View/properties/note",
        "#/components/schemas/View/properties/map",
        "#/components/schemas/View/properties/empty",
        "#/components/schemas/View/properties/typed",
    ] {
        assert!(!hit(pointer), "{pointer} is caught: {found:#?}");
    }
}
