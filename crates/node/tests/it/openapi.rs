//! The API's OpenAPI document against a running validator: every documented route is served,
//! `hansa openapi` prints what validators serve, and real answers fit the schemas the document
//! gives them (checked by a small structural validator: types, required and undocumented
//! properties, enums, patterns, bounds, `$ref`, `allOf`, `oneOf`).

use crate::support::*;
use hansa_types::{Batch, BatchList, Encode, OrgId};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Sends a request with `token` (none if empty); reads the body as JSON unless `read` is false
/// (the event stream never ends).
fn send(
    endpoint: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
    read: bool,
) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = format!("{endpoint}{path}");
    let authorization = format!("Bearer {token}");
    let response = match (method, body, token.is_empty()) {
        ("get", _, true) => agent.get(&url).call(),
        ("get", _, false) => agent.get(&url).header("authorization", &authorization).call(),
        (_, Some((content_type, body)), _) => agent
            .post(&url)
            .header("content-type", content_type)
            .header("authorization", &authorization)
            .send(body),
        (_, None, _) => agent.post(&url).header("authorization", &authorization).send_empty(),
    };
    let mut response = response.expect("the server answers");
    let status = response.status().as_u16();
    let body = if read { response.body_mut().read_json().unwrap_or(Value::Null) } else { Value::Null };
    (status, body)
}

/// Every operation of the document, as (method, path).
fn operations(document: &Value) -> Vec<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().expect("a path item").keys().map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

/// Checks JSON values against the document's schemas, collecting every mismatch.
struct Validator<'a> {
    schemas: &'a Map<String, Value>,
}

impl Validator<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                self.resolve(self.schemas.get(name).unwrap_or_else(|| panic!("{reference} does not resolve")))
            }
            None => schema,
        }
    }

    /// The properties `schema` documents, through `allOf` (where each part documents some).
    fn properties(&self, schema: &Value, out: &mut BTreeSet<String>) {
        let schema = self.resolve(schema);
        out.extend(
            schema["properties"].as_object().into_iter().flat_map(|properties| properties.keys().cloned()),
        );
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.properties(part, out);
        }
    }

    /// Mismatches of `value` with `schema` at `at`; `allowed` are properties a surrounding
    /// `allOf` documents.
    fn check(
        &self,
        value: &Value,
        schema: &Value,
        at: &str,
        allowed: &BTreeSet<String>,
        errors: &mut Vec<String>,
    ) {
        let schema = self.resolve(schema);
        if let Some(parts) = schema["allOf"].as_array() {
            let mut documented = allowed.clone();
            self.properties(schema, &mut documented);
            for part in parts {
                self.check(value, part, at, &documented, errors);
            }
        }
        if let Some(variants) = schema["oneOf"].as_array() {
            let matching = variants
                .iter()
                .filter(|variant| {
                    let mut variant_errors = Vec::new();
                    self.check(value, variant, at, allowed, &mut variant_errors);
                    variant_errors.is_empty()
                })
                .count();
            if matching != 1 {
                errors.push(format!("{at}: {matching} of oneOf's {} variants match {value}", variants.len()));
            }
        }
        if let Some(types) = types(schema) {
            let kind = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(number) if number.is_u64() || number.is_i64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            if !types.iter().any(|expected| *expected == kind || (*expected == "number" && kind == "integer"))
            {
                errors.push(format!("{at}: {value} is not {types:?}"));
                return;
            }
        }
        if let Some(options) = schema["enum"].as_array()
            && !options.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {options:?}"));
        }
        if let (Some(pattern), Some(text)) = (schema["pattern"].as_str(), value.as_str()) {
            let pattern = regex::Regex::new(pattern).expect("a valid pattern");
            if !pattern.is_match(text) {
                errors.push(format!("{at}: {text:?} does not match {pattern}"));
            }
        }
        if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), value.as_f64())
            && number < minimum
        {
            errors.push(format!("{at}: {number} is under {minimum}"));
        }
        if let Some(items) = value.as_array() {
            let count = items.len() as u64;
            if schema["minItems"].as_u64().is_some_and(|min| count < min)
                || schema["maxItems"].as_u64().is_some_and(|max| count > max)
            {
                errors.push(format!("{at}: {count} items is out of bounds"));
            }
            if schema.get("items").is_some_and(Value::is_object) {
                for (index, item) in items.iter().enumerate() {
                    self.check(item, &schema["items"], &format!("{at}[{index}]"), &BTreeSet::new(), errors);
                }
            }
        }
        if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object()) {
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().expect("a property name");
                if !object.contains_key(name) {
                    errors.push(format!("{at}: `{name}` is required but absent"));
                }
            }
            for (name, field) in object {
                match properties.get(name) {
                    Some(property) => {
                        self.check(field, property, &format!("{at}.{name}"), &BTreeSet::new(), errors)
                    }
                    None if allowed.contains(name) => {}
                    None => errors.push(format!("{at}: `{name}` is not documented")),
                }
            }
        }
    }
}

/// A schema's `type`, one or several.
fn types(schema: &Value) -> Option<Vec<&str>> {
    match &schema["type"] {
        Value::String(kind) => Some(vec![kind.as_str()]),
        Value::Array(kinds) => Some(kinds.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

/// Fills a path's parameters with values the devnet has.
fn concrete(path: &str) -> String {
    path.replace("{id}", &CUSTOMER_WALLET.to_string())
        .replace("{digest}", &"0".repeat(64))
        .replace("{height}", "1")
        .replace("{part}", "records")
}

#[test]
fn the_document_matches_what_the_validator_serves() {
    let devnet = Devnet::start(1, 3);
    let endpoint = devnet.endpoints[0].clone();
    // The auditor reads every route's answer.
    let token = devnet.token(AUDITOR);
    let (status, document) = send(&endpoint, &token, "get", "/openapi.json", None, true);
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");

    // The document printed without a validator is the one validators serve.
    let printed = std::process::Command::new(hansa()).arg("openapi").output().expect("running hansa openapi");
    assert!(printed.status.success());
    let printed: Value = serde_json::from_slice(&printed.stdout).expect("hansa openapi prints JSON");
    assert_eq!(printed, document, "`hansa openapi` and /openapi.json differ");

    // Every documented operation is served: no answer is the router's fallback (404 "route
    // not found") or a method the route lacks (405).
    let documented = operations(&document);
    assert!(documented.len() >= 21, "{documented:?}");
    for (method, path) in &documented {
        let body = (method == "post").then_some(("application/octet-stream", &[][..]));
        let (status, answer) = send(&endpoint, &token, method, &concrete(path), body, path != "/v1/events");
        assert_ne!(status, 405, "{method} {path} is documented but not served");
        let fallback = answer["error"]["message"] == "route not found";
        assert!(!(status == 404 && fallback), "{method} {path} is documented but not served");
    }
    let (status, answer) = send(&endpoint, &token, "get", "/v1/no/such/route", None, true);
    assert_eq!(
        (status, answer["error"]["message"].as_str()),
        (404, Some("route not found")),
        "the probe's premise"
    );

    // Real answers fit their documented schemas.
    let schemas = document["components"]["schemas"].as_object().expect("component schemas");
    let validator = Validator { schemas };
    let chain_id = devnet.client().chain_id().expect("chain id");
    let base =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_micros() as u64;
    let batch = |sequence: u64, id: u128| {
        Batch { chain_id, org: BANK, key: 0, sequence: base + sequence, operations: vec![payment(id, 1)] }
            .sign(&devnet.key(BANK))
    };
    let final_batch = batch(1, 80_001);
    let json = serde_json::to_vec(&final_batch).expect("json");
    let (status, outcome) =
        send(&endpoint, &token, "post", "/v1/batches?wait=true", Some(("application/json", &json)), true);
    assert_eq!(status, 200, "{outcome}");
    let digest = outcome["batch_digest"].as_str().expect("a digest").to_string();
    let height = outcome["height"].as_u64().expect("a height");
    let list = BatchList(vec![batch(2, 80_002), batch(1, 80_003)]).encode();
    let forged =
        Batch { chain_id, org: OrgId(77), key: 0, sequence: 1, operations: vec![payment(80_004, 1)] }
            .sign(&devnet.key(BANK))
            .encode();

    type Case<'a> = (&'a str, &'a str, String, Option<(&'a str, Vec<u8>)>, u16);
    let cases: Vec<Case> = vec![
        ("get", "/openapi.json", "/openapi.json".into(), None, 200),
        ("get", "/v1/health", "/v1/health".into(), None, 200),
        ("get", "/v1/status", "/v1/status".into(), None, 200),
        ("get", "/v1/genesis", "/v1/genesis".into(), None, 200),
        ("get", "/v1/ledgers", "/v1/ledgers?audit=true".into(), None, 200),
        ("get", "/v1/accounts/{id}", format!("/v1/accounts/{CUSTOMER_WALLET}"), None, 200),
        ("get", "/v1/accounts/{id}", "/v1/accounts/abc".into(), None, 400),
        ("get", "/v1/accounts/{id}", "/v1/accounts/999999".into(), None, 404),
        (
            "get",
            "/v1/accounts/{id}/transfers",
            format!("/v1/accounts/{CUSTOMER_WALLET}/transfers"),
            None,
            200,
        ),
        ("get", "/v1/accounts/{id}/balances", format!("/v1/accounts/{CUSTOMER_WALLET}/balances"), None, 200),
        (
            "get",
            "/v1/accounts/{id}/balances",
            format!("/v1/accounts/{CUSTOMER_WALLET}/balances?height={height}"),
            None,
            200,
        ),
        ("get", "/v1/accounts/{id}/proof", format!("/v1/accounts/{CUSTOMER_WALLET}/proof"), None, 200),
        ("get", "/v1/transfers/{id}", "/v1/transfers/10002".into(), None, 200),
        ("get", "/v1/transfers/{id}", "/v1/transfers/80001".into(), None, 200),
        ("get", "/v1/transfers/{id}/proof", "/v1/transfers/10003/proof".into(), None, 200),
        ("get", "/v1/operations/{id}", "/v1/operations/80001".into(), None, 200),
        ("get", "/v1/operations/{id}/proof", "/v1/operations/80001/proof".into(), None, 200),
        ("get", "/v1/batches/{digest}", format!("/v1/batches/{digest}"), None, 200),
        ("get", "/v1/batches/{digest}", "/v1/batches/xyz".into(), None, 400),
        ("get", "/v1/blocks/latest", "/v1/blocks/latest".into(), None, 200),
        ("get", "/v1/blocks/{height}", format!("/v1/blocks/{height}"), None, 200),
        ("post", "/v1/batches", "/v1/batches".into(), Some(("application/json", b"{}".to_vec())), 400),
        ("post", "/v1/batches", "/v1/batches".into(), Some(("application/octet-stream", forged)), 403),
        (
            "post",
            "/v1/batches",
            "/v1/batches".into(),
            Some(("application/octet-stream", batch(3, 80_005).encode())),
            202,
        ),
        ("post", "/v1/batch-lists", "/v1/batch-lists".into(), Some(("application/octet-stream", list)), 202),
        ("get", "/v1/access-log", "/v1/access-log?org=3".into(), None, 200),
        ("get", "/v1/access-log", "/v1/access-log?limit=1001".into(), None, 400),
    ];
    let mut errors = Vec::new();
    for (method, template, path, body, expected) in cases {
        let body = body.as_ref().map(|(content_type, bytes)| (*content_type, bytes.as_slice()));
        let (status, answer) = send(&endpoint, &token, method, &path, body, true);
        assert_eq!(status, expected, "{method} {path}: {answer}");
        let response = &document["paths"][template][method]["responses"][status.to_string()];
        let schema = &response["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{method} {template} does not document its {status} answer");
        validator.check(&answer, schema, &format!("{method} {path} {status}"), &BTreeSet::new(), &mut errors);
    }
    // Without credentials, and with a bad token: the documented 401.
    for token in ["", "not-a-token"] {
        let (status, answer) =
            send(&endpoint, token, "get", &format!("/v1/accounts/{CUSTOMER_WALLET}"), None, true);
        assert_eq!(status, 401, "{answer}");
        let schema = &document["paths"]["/v1/accounts/{id}"]["get"]["responses"]["401"]["content"]["application/json"]
            ["schema"];
        validator.check(&answer, schema, &format!("401 with {token:?}"), &BTreeSet::new(), &mut errors);
    }
    // The snapshot may not exist yet on a young chain; either answer must fit.
    let (status, answer) = send(&endpoint, &token, "get", "/v1/state/snapshot", None, true);
    let schema = &document["paths"]["/v1/state/snapshot"]["get"]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"];
    validator.check(&answer, schema, &format!("snapshot {status}"), &BTreeSet::new(), &mut errors);
    assert!(errors.is_empty(), "answers that do not fit their schemas:\n{}", errors.join("\n"));

    // The validator sees its own checks fail: an undocumented property, a wrong type, a bad
    // pattern, a missing property.
    let account_state = &document["paths"]["/v1/accounts/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    let (_, mut good) =
        send(&endpoint, &token, "get", &format!("/v1/accounts/{CUSTOMER_WALLET}"), None, true);
    for (field, bad) in [("extra", Value::from(1)), ("height", Value::from("1")), ("id", Value::from("01"))] {
        let mut answer = good.clone();
        let target = if field == "id" { &mut answer["account"] } else { &mut answer };
        target[field] = bad;
        let mut found = Vec::new();
        validator.check(&answer, account_state, field, &BTreeSet::new(), &mut found);
        assert!(!found.is_empty(), "a bad `{field}` went unnoticed");
    }
    good["account"].as_object_mut().expect("an account").remove("owner");
    let mut found = Vec::new();
    validator.check(&good, account_state, "owner", &BTreeSet::new(), &mut found);
    assert!(!found.is_empty(), "a missing `owner` went unnoticed");
}
