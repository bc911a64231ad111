//! Bad input on every route: a clear JSON error with a stable code, and nothing changed.

use crate::support::*;
use hansa_types::{Batch, BatchList, Encode, Hash, OrgId, SecretKey};
use serde_json::Value;

/// Sends a request as the devnet's auditor (a batch submission's own signatures would do).
fn raw(endpoint: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = format!("{endpoint}{path}");
    let token = auditor_token(endpoint);
    let response = match method {
        "GET" => agent.get(&url).header("authorization", format!("Bearer {token}")).call(),
        _ => agent
            .post(&url)
            .header("content-type", content_type)
            .header("authorization", format!("Bearer {token}"))
            .send(body),
    };
    let mut response = response.expect("the server answers");
    let status = response.status().as_u16();
    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    (status, body)
}

/// Declares a 9 MiB body and reads the answer without sending it: the server must refuse
/// from the declared length, before reading.
fn declared_too_large(endpoint: &str) -> (u16, Value) {
    use std::io::{Read, Write};
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    let request = format!(
        "POST /v1/batches HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        9 * 1024 * 1024
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    // The body may be chunked: take the JSON object inside it.
    let json =
        body.find('{').and_then(|start| body.rfind('}').map(|end| &body[start..=end])).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

#[test]
fn every_route_rejects_bad_input_clearly_and_changes_nothing() {
    let devnet = Devnet::start(1, 1);
    let endpoint = devnet.endpoints[0].clone();
    let state_root = || get(&endpoint, "/v1/status").expect("status")["state_root"].clone();
    let before = state_root();
    let chain_id = devnet.client().chain_id().expect("chain id");
    let bank_key = devnet.key(BANK);
    // Fresh sequence numbers, above the clock-based ones the devnet's seeding used.
    let base =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_micros() as u64;
    let batch = |org: OrgId, sequence: u64| Batch {
        chain_id,
        org,
        key: 0,
        sequence,
        operations: vec![payment(70_001, 1)],
    };
    let batch = |org: OrgId, offset: u64| batch(org, base + offset);
    let post = |content_type: &str, body: &[u8]| {
        raw(&endpoint, "POST", "/v1/batches?wait=true&timeout_ms=5000", content_type, body)
    };

    // Malformed: not JSON, JSON of the wrong shape, garbage bytes, no operations.
    assert_eq!(code(&post("application/json", b"{not json").1), "malformed");
    assert_eq!(code(&post("application/json", b"{\"junk\": 1}").1), "malformed");
    assert_eq!(code(&post("application/octet-stream", &[1, 2, 3]).1), "malformed");
    let empty = Batch { chain_id, org: BANK, key: 0, sequence: base + 1, operations: vec![] }.sign(&bank_key);
    assert_eq!(code(&post("application/octet-stream", &empty.encode()).1), "malformed");
    let (status, body) = post("application/json", &serde_json::to_vec(&empty).expect("json"));
    assert_eq!((status, code(&body)), (400, "malformed"));
    // Oversized.
    let (status, body) = declared_too_large(&endpoint);
    assert_eq!((status, code(&body)), (413, "too_large"));
    // Unsigned (a zero signature) and wrongly signed (the merchant's key in the bank's name).
    let mut unsigned = batch(BANK, 2).sign(&bank_key);
    unsigned.signature = hansa_types::Signature([0; 64]);
    let (status, body) = post("application/octet-stream", &unsigned.encode());
    assert_eq!((status, code(&body)), (401, "bad_signature"));
    let forged = batch(BANK, 3).sign(&devnet.key(OrgId(2)));
    let (status, body) = post("application/json", &serde_json::to_vec(&forged).expect("json"));
    assert_eq!((status, code(&body)), (401, "bad_signature"));
    // Another chain, an unknown organisation, an auditor.
    let other_chain = Batch { chain_id: Hash([9; 32]), ..batch(BANK, 4) }.sign(&bank_key);
    assert_eq!(code(&post("application/octet-stream", &other_chain.encode()).1), "wrong_chain");
    let stranger = batch(OrgId(77), 5).sign(&SecretKey::from_seed([77; 32]));
    let (status, body) = post("application/octet-stream", &stranger.encode());
    assert_eq!((status, code(&body)), (403, "unknown_organisation"));
    let auditor = batch(OrgId(5), 6).sign(&devnet.key(OrgId(5)));
    let (status, body) = post("application/octet-stream", &auditor.encode());
    assert_eq!((status, code(&body)), (403, "unauthorised"));
    assert_eq!(state_root(), before, "no rejected batch changed the state");

    // Unauthorised inside a valid batch: the merchant tries to debit the customer's wallet.
    let merchant =
        Batch { chain_id, org: OrgId(2), key: 0, sequence: base + 7, operations: vec![payment(70_002, 5)] }
            .sign(&devnet.key(OrgId(2)));
    let (status, body) = post("application/octet-stream", &merchant.encode());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["result"], "unauthorised");
    let wallet = get(&endpoint, &format!("/v1/accounts/{CUSTOMER_WALLET}")).expect("wallet");
    // Replayed: the same (organisation, sequence) with other content.
    let replay =
        Batch { chain_id, org: OrgId(2), key: 0, sequence: base + 7, operations: vec![payment(70_003, 5)] }
            .sign(&devnet.key(OrgId(2)));
    let (status, body) = post("application/octet-stream", &replay.encode());
    assert_eq!((status, code(&body)), (409, "replayed"));
    // The very same batch again is idempotent: it answers with its final outcome.
    let (status, body) = post("application/octet-stream", &merchant.encode());
    assert_eq!((status, body["results"][0]["result"].as_str()), (200, Some("unauthorised")));
    assert_eq!(
        get(&endpoint, &format!("/v1/accounts/{CUSTOMER_WALLET}")).expect("wallet")["account"],
        wallet["account"]
    );

    // Batch lists: malformed, empty, with a query; then a list whose batches are judged one by one.
    let post_list =
        |content_type: &str, body: &[u8]| raw(&endpoint, "POST", "/v1/batch-lists", content_type, body);
    assert_eq!(code(&post_list("application/octet-stream", &[9, 9]).1), "malformed");
    assert_eq!(code(&post_list("application/octet-stream", &0u32.encode()).1), "malformed");
    assert_eq!(code(&post_list("application/json", b"[]").1), "malformed");
    let empty_json = serde_json::to_vec(&vec![empty.clone()]).expect("json");
    assert_eq!(code(&post_list("application/json", &empty_json).1), "malformed");
    let good =
        Batch { chain_id, org: BANK, key: 0, sequence: base + 20, operations: vec![payment(70_010, 1)] }
            .sign(&bank_key);
    let with_query = raw(
        &endpoint,
        "POST",
        "/v1/batch-lists?wait=true",
        "application/octet-stream",
        &BatchList(vec![good.clone()]).encode(),
    );
    assert_eq!(code(&with_query.1), "bad_query");
    let forged_in_list =
        Batch { chain_id, org: BANK, key: 0, sequence: base + 21, operations: vec![payment(70_011, 1)] }
            .sign(&devnet.key(OrgId(2)));
    let list =
        BatchList(vec![good.clone(), forged_in_list, other_chain.clone(), replay.clone(), stranger.clone()]);
    let (status, body) = post_list("application/octet-stream", &list.encode());
    assert_eq!(
        (status, body["accepted"].as_u64(), body["refused"].as_u64()),
        (202, Some(1), Some(4)),
        "{body}"
    );
    let codes: Vec<&str> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["error"]["code"].as_str().unwrap_or("accepted"))
        .collect();
    assert_eq!(codes, ["accepted", "bad_signature", "wrong_chain", "replayed", "unknown_organisation"]);
    assert_eq!(body["results"][0]["batch_digest"], good.batch.digest().to_hex());
    // The accepted batch becomes final (asking for it again waits for it); the refused changed nothing.
    let (status, body) = post("application/octet-stream", &good.encode());
    assert_eq!((status, body["results"][0]["result"].as_str()), (200, Some("ok")), "{body}");
    assert_eq!(
        raw(&endpoint, "GET", "/v1/transfers/70011", "", &[]).0,
        404,
        "the forged batch never applied"
    );

    // Reads.
    let cases: [(&str, u16, &str); 12] = [
        ("/v1/accounts/abc", 400, "bad_id"),
        ("/v1/accounts/-1", 400, "bad_id"),
        ("/v1/accounts/340282366920938463463374607431768211456", 400, "bad_id"),
        ("/v1/accounts/999999", 404, "not_found"),
        (&format!("/v1/accounts/{CUSTOMER_WALLET}/transfers?limit=abc"), 400, "bad_query"),
        (&format!("/v1/accounts/{CUSTOMER_WALLET}/transfers?limit=1&limit=2"), 400, "bad_query"),
        ("/v1/accounts/1/balances", 400, "no_history"),
        ("/v1/transfers/999999/proof", 404, "not_found"),
        ("/v1/batches/xyz", 400, "bad_hash"),
        ("/v1/blocks/abc", 400, "bad_height"),
        ("/v1/operations/999999/proof", 404, "not_found"),
        ("/v1/no/such/route", 404, "not_found"),
    ];
    for (path, status, expected) in cases {
        let (got, body) = raw(&endpoint, "GET", path, "", &[]);
        assert_eq!((got, code(&body)), (status, expected), "{path}");
    }
    // And the good paths answer.
    for path in [
        "/openapi.json",
        "/v1/health",
        "/v1/genesis",
        "/v1/blocks/latest",
        "/v1/accounts/3001/transfers",
        "/v1/accounts/3001/balances?height=1",
    ] {
        let (status, _) = raw(&endpoint, "GET", path, "", &[]);
        assert!(status == 200 || status == 404, "{path}: {status}");
    }
    let (status, document) = raw(&endpoint, "GET", "/openapi.json", "", &[]);
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");

    // State sync: an unknown part, a malformed request and an oversized one are refused.
    let (status, body) = raw(&endpoint, "POST", "/v1/state/nope/sync", "application/octet-stream", &[0]);
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, body) = raw(&endpoint, "POST", "/v1/state/log/sync", "application/octet-stream", &[9, 9, 9]);
    assert_eq!((status, code(&body)), (400, "bad_sync_request"), "{body}");
    // An operations request (tag 0; size 1 and start 0 as varints; the count as 8 bytes) for
    // 1,000,000 operations.
    let mut oversized = vec![0u8, 1, 0];
    oversized.extend_from_slice(&1_000_000u64.to_be_bytes());
    let (status, body) =
        raw(&endpoint, "POST", "/v1/state/records/sync", "application/octet-stream", &oversized);
    assert_eq!((status, code(&body)), (400, "bad_sync_request"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("at most 4096"), "{body}");
    assert_eq!(state_root(), get(&endpoint, "/v1/status").expect("status")["state_root"]);

    // A batch with a failed operation makes the CLI exit non-zero and name the failure.
    let key = devnet.dir.join("keys/org-3.key");
    let output = std::process::Command::new(hansa())
        .args(["--endpoint", &endpoint, "transfer", "--org", "3", "--key"])
        .arg(&key)
        .args(["--id", "70101", "--debit", "3001", "--credit", "2001", "--ledger", "1", "--code", "1"])
        .args(["--amount", "1000000000000000000000"])
        .output()
        .expect("running hansa transfer");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "an overdraft exited 0: {stderr}");
    assert!(stderr.contains("operation 70101: exceeds_credits"), "{stderr}");

    // The devnet's "Try next" commands run as printed (the event stream, which never ends, is
    // read for a moment only).
    assert!(devnet.try_next.len() >= 5, "{:?}", devnet.try_next);
    for line in &devnet.try_next {
        let streaming = line.starts_with("curl -N");
        let command = if streaming { format!("timeout 3 {line}") } else { line.clone() };
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(&devnet.dir)
            .output()
            .expect("running a shell");
        let stdout = String::from_utf8_lossy(&output.stdout);
        if streaming {
            assert!(stdout.contains("event: "), "`{line}` streamed no event: {stdout}");
        } else {
            assert!(
                output.status.success(),
                "`{line}` failed: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        if line.contains("verify") {
            assert!(stdout.contains("VALID"), "{line}: {stdout}");
        }
    }
}
