//! Who may read what, on a real validator: credentials on every route but the public ones, each
//! organisation's read scope, out-of-scope reads answered as missing records, and auditors'
//! reads written to the access log of the organisations whose data they read.

use crate::support::*;
use hansa_types::{Hash, NewTransfer, Operation, OrgId, SecretKey, TransferFlags, sign_token};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PLATFORM: OrgId = OrgId(1);
const LOGISTICS: OrgId = OrgId(4);

/// A GET with an `Authorization` header (none if empty): the status and the JSON body.
fn read(endpoint: &str, authorization: &str, path: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let request = agent.get(&format!("{endpoint}{path}"));
    let request =
        if authorization.is_empty() { request } else { request.header("authorization", authorization) };
    let mut response = request.call().expect("the validator answers");
    let status = response.status().as_u16();
    // The event stream never ends: its status is enough.
    if response
        .headers()
        .get("content-type")
        .is_some_and(|value| value.to_str().unwrap_or("").starts_with("text/event-stream"))
    {
        return (status, Value::Null);
    }
    (status, response.body_mut().read_json().unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

#[test]
fn every_route_asks_who_is_asking_and_each_organisation_reads_only_its_own() {
    let devnet = Devnet::start(1, 4);
    let endpoint = devnet.endpoints[0].clone();
    let chain_id = devnet.client().chain_id().expect("chain id");
    let bearer = |org: OrgId| format!("Bearer {}", devnet.token(org));
    let as_org = |org: OrgId, path: &str| read(&endpoint, &bearer(org), path);

    // Every route the document marks as needing credentials answers 401 without them; the
    // public ones answer.
    let (_, document) = read(&endpoint, "", "/openapi.json");
    let mut protected = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        let Some(operation) = item.get("get") else { continue };
        let concrete =
            path.replace("{id}", "3001").replace("{height}", "1").replace("{digest}", &"0".repeat(64));
        let (status, body) = read(&endpoint, "", &concrete);
        if operation["security"].is_array() {
            protected += 1;
            assert_eq!((status, code(&body)), (401, "unauthenticated"), "GET {path} without credentials");
        } else {
            assert_ne!(status, 401, "GET {path} is public");
        }
    }
    assert!(protected >= 12, "{protected} protected read routes");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let sync = agent.post(&format!("{endpoint}/v1/state/log/sync")).send(&[0u8][..]).expect("answers");
    assert_eq!(sync.status().as_u16(), 401, "state sync without credentials");

    // Bad credentials: each refused with its own code, and nothing read.
    let wallet = format!("/v1/accounts/{CUSTOMER_WALLET}");
    let bank_key = devnet.key(BANK);
    let now = now_s();
    let cases = [
        ("Bearer junk".to_string(), "bad_token"),
        (format!("Basic {}", devnet.token(BANK)), "bad_token"),
        (format!("Bearer {}", sign_token(&chain_id, BANK, &bank_key, now - 7_200, 3_600)), "token_expired"),
        (format!("Bearer {}", sign_token(&chain_id, BANK, &bank_key, now + 600, 600)), "token_expired"),
        (format!("Bearer {}", sign_token(&chain_id, BANK, &bank_key, now, 7_200)), "bad_token"),
        (format!("Bearer {}", sign_token(&Hash([9; 32]), BANK, &bank_key, now, 600)), "bad_token"),
        // The bank's name, the merchant's key; a stranger's key.
        (format!("Bearer {}", sign_token(&chain_id, BANK, &devnet.key(MERCHANT), now, 600)), "bad_token"),
        (
            format!("Bearer {}", sign_token(&chain_id, OrgId(77), &SecretKey::from_seed([77; 32]), now, 600)),
            "bad_token",
        ),
    ];
    for (authorization, expected) in cases {
        let (status, body) = read(&endpoint, &authorization, &wallet);
        assert_eq!((status, code(&body)), (401, expected), "{authorization}: {body}");
        assert!(body["account"].is_null());
    }

    // Read scopes: the owner reads its account; another organisation gets exactly the answer
    // of an account that does not exist.
    assert_eq!(as_org(BANK, &wallet).0, 200);
    let (status, hidden) = as_org(MERCHANT, &wallet);
    let (_, missing) = as_org(MERCHANT, "/v1/accounts/999999");
    assert_eq!((status, &hidden), (404, &missing), "an out-of-scope account is answered as missing");
    for path in [format!("{wallet}/transfers"), format!("{wallet}/proof"), format!("{wallet}/balances")] {
        assert_eq!(as_org(MERCHANT, &path).0, 404, "{path}");
        assert_eq!(as_org(BANK, &path).0, 200, "{path}");
    }
    // A transfer is read by the organisations whose accounts take part: the delivery fee
    // (merchant -> logistics) by both, not by the platform; the platform fee by the platform.
    for (org, transfer, expected) in [
        (LOGISTICS, 10_005, 200),
        (MERCHANT, 10_005, 200),
        (PLATFORM, 10_005, 404),
        (LOGISTICS, 10_004, 404),
        (PLATFORM, 10_004, 200),
        (MERCHANT, 10_002, 200),
        (LOGISTICS, 10_002, 404),
    ] {
        for path in [format!("/v1/transfers/{transfer}"), format!("/v1/transfers/{transfer}/proof")] {
            assert_eq!(as_org(org, &path).0, expected, "{path} as organisation {}", org.0);
        }
    }
    // Operations and batches: their submitter's.
    assert_eq!(as_org(MERCHANT, "/v1/operations/10004").0, 200);
    assert_eq!(as_org(PLATFORM, "/v1/operations/10004").0, 404);
    assert_eq!(as_org(PLATFORM, "/v1/operations/10004/proof").0, 404);
    let payment = Operation::CreateTransfer(NewTransfer {
        id: 90_001,
        debit_account_id: MERCHANT_SALES,
        credit_account_id: 1_001,
        amount: hansa_types::Amount(1),
        ledger: 1,
        code: 1,
        flags: TransferFlags(0),
        ..Default::default()
    });
    let outcome = devnet.client().submit(&devnet.signer(MERCHANT).sign(vec![payment]), true).expect("final");
    assert_eq!(results(&outcome), ["ok"]);
    let digest = outcome["batch_digest"].as_str().expect("digest");
    let height = outcome["height"].as_u64().expect("height");
    let batch = format!("/v1/batches/{digest}");
    assert_eq!(as_org(MERCHANT, &batch).0, 200);
    assert_eq!(as_org(BANK, &batch).0, 404);
    // A block's header is public; its batches are shown to those who submitted them.
    let batches = |authorization: &str| {
        let (status, block) = read(&endpoint, authorization, &format!("/v1/blocks/{height}"));
        assert_eq!(status, 200);
        let orgs: Vec<u64> = block["batches"]
            .as_array()
            .expect("batches")
            .iter()
            .map(|b| b["org"].as_u64().expect("org"))
            .collect();
        orgs
    };
    assert!(batches("").is_empty(), "no batches without credentials");
    assert!(batches(&bearer(BANK)).iter().all(|org| *org == 3), "the bank sees only its own batches");
    assert!(batches(&bearer(MERCHANT)).contains(&2), "the merchant sees its batch");
    // The event stream: one's own batches only; another's is out of scope; a browser passes
    // the token in the query.
    assert_eq!(as_org(MERCHANT, "/v1/events?org=3").0, 404);
    assert_eq!(as_org(MERCHANT, "/v1/events").0, 200);
    let in_query = format!("/v1/events?access_token={}", devnet.token(MERCHANT));
    assert_eq!(read(&endpoint, "", &in_query).0, 200, "a token in the event stream's query");
    let in_query = format!("/v1/accounts/{MERCHANT_SALES}?access_token={}", devnet.token(MERCHANT));
    assert_eq!(read(&endpoint, "", &in_query).0, 401, "tokens in queries are for the event stream only");
    // The whole state: validators and auditors only.
    let sync = agent
        .post(&format!("{endpoint}/v1/state/log/sync"))
        .header("authorization", bearer(MERCHANT))
        .send(&[0u8][..])
        .expect("answers");
    assert_eq!(sync.status().as_u16(), 404, "state sync for a member");

    // Nothing of the above reached the access log: only auditors' reads do.
    let (status, log) = as_org(BANK, "/v1/access-log");
    assert_eq!(status, 200);
    assert_eq!(log["entries"].as_array().expect("entries").len(), 0, "{log}");
    // The auditor reads the bank's wallet and the merchant's batch: each is logged for its
    // owner before it is answered, and each owner lists only its own.
    assert_eq!(as_org(AUDITOR, &wallet).0, 200);
    assert_eq!(as_org(AUDITOR, &batch).0, 200);
    let (_, bank_log) = as_org(BANK, "/v1/access-log");
    let entries = bank_log["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{bank_log}");
    assert_eq!(
        (entries[0]["reader"].as_u64(), entries[0]["what"].as_str()),
        (Some(5), Some(&*format!("GET {wallet}")))
    );
    let (_, merchant_log) = as_org(MERCHANT, "/v1/access-log");
    assert_eq!(merchant_log["entries"][0]["what"], format!("GET {batch}"), "{merchant_log}");
    // Another's log is the auditor's to list, not a member's.
    assert_eq!(as_org(MERCHANT, "/v1/access-log?org=3").0, 404);
    assert_eq!(as_org(AUDITOR, "/v1/access-log?org=3").1["entries"].as_array().map(Vec::len), Some(1));

    // A validator's key reads no organisation's data (it serves state sync only).
    let validator_key = {
        let text = std::fs::read_to_string(devnet.dir.join("keys/validator-0.key")).expect("validator key");
        SecretKey::from_seed(hex::decode(text.trim()).expect("hex").try_into().expect("32 bytes"))
    };
    let genesis: Value = read(&endpoint, "", "/v1/genesis").1;
    let validator_org = OrgId(genesis["genesis"]["validators"][0]["org"].as_u64().expect("org") as u32);
    let token = sign_token(&chain_id, validator_org, &validator_key, now_s(), 600);
    let (status, _) = read(&endpoint, &format!("Bearer {token}"), &format!("/v1/accounts/{}", 1_001));
    assert_eq!(status, 404, "a validator key reads no account");
}
