//! Delegated keys on a real validator, the way an organisation uses them: a merchant registers
//! a checkout terminal's key with the CLI, the terminal pays out within its limit and reads with
//! its own tokens, signs its own batches beside the merchant's, and stops at once when revoked.

use crate::support::*;
use hansa_client::{Client, Credentials, Signer};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// Runs `hansa` with `args` against `endpoint`.
fn cli(endpoint: &str, args: &[&str]) -> Output {
    std::process::Command::new(hansa())
        .args(["--endpoint", endpoint, "--wait-s", "30"])
        .args(args)
        .output()
        .expect("running hansa")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[test]
fn a_checkout_terminal_key_pays_within_its_limit_reads_its_own_and_stops_when_revoked() {
    let devnet = Devnet::start(1, 5);
    let endpoint = devnet.endpoints[0].clone();
    let merchant_key = devnet.dir.join("keys/org-2.key");
    let terminal_key = devnet.dir.join("terminal.key");
    let as_merchant = ["--org", "2", "--key", path(&merchant_key)];
    let as_terminal = ["--org", "2", "--key", path(&terminal_key), "--key-id", "1"];

    // The merchant registers the terminal: transfers from its sales account, CNY only, at most
    // 5 a day, and reads.
    let generated = cli(&endpoint, &["keys", "generate", "--out", path(&terminal_key)]);
    assert!(generated.status.success(), "{}", text(&generated));
    let register = [
        &as_merchant[..],
        &["keys", "register", "--id", "1", "--key-file", path(&terminal_key)],
        &["--permissions", "create_transfer,read,spend_limit", "--accounts", "2001", "--ledger", "1"],
        &["--spend-limit", "5", "--period-s", "86400"],
    ]
    .concat();
    let registered = cli(&endpoint, &register);
    assert!(registered.status.success(), "{}", text(&registered));

    // It pays out 3; 3 more would pass the day's 5.
    let pay = |id: &str, amount: &str| {
        let transfer =
            ["transfer", "--id", id, "--debit", "2001", "--credit", "1001", "--ledger", "1", "--code", "1"];
        cli(&endpoint, &[&as_terminal[..], &transfer, &["--amount", amount]].concat())
    };
    let paid = pay("95001", "3");
    assert!(paid.status.success(), "{}", text(&paid));
    let over = pay("95002", "3");
    assert!(!over.status.success());
    assert!(text(&over).contains("key_spend_limit_exceeded"), "{}", text(&over));
    // Its payment's proof names the key, and `hansa verify` checks the key's record and its
    // signature offline; a proof that hides or swaps the key fails.
    let proof = cli(&endpoint, &[&as_merchant[..], &["proof", "operation", "95001"]].concat());
    assert!(proof.status.success(), "{}", text(&proof));
    let proof: Value = serde_json::from_slice(&proof.stdout).expect("a JSON proof");
    let genesis = devnet.dir.join("genesis.toml");
    let proof_file = devnet.dir.join("terminal-payment.json");
    let verify = |proof: &Value| {
        std::fs::write(&proof_file, serde_json::to_vec(proof).expect("JSON")).expect("write the proof");
        hansa_verify(&proof_file, &genesis)
    };
    let (verified, output) = verify(&proof);
    assert!(verified && output.contains("signed with its delegated key 1"), "{output}");
    let mut hidden = proof.clone();
    hidden.as_object_mut().expect("an object").remove("signer");
    let (verified, output) = verify(&hidden);
    assert!(!verified && output.contains("not signed by the genesis key of org-2"), "{output}");
    let mut swapped = proof.clone();
    swapped["signer"]["key"] = 2.into();
    let (verified, output) = verify(&swapped);
    assert!(!verified && output.contains("another record than key 2"), "{output}");
    let mut tampered = proof.clone();
    let value = tampered["signer"]["record"]["record"]["value"].as_str().expect("hex").to_string();
    let flipped = format!("{}{}", &value[..value.len() - 1], if value.ends_with('0') { '1' } else { '0' });
    tampered["signer"]["record"]["record"]["value"] = flipped.into();
    let (verified, output) = verify(&tampered);
    assert!(!verified && output.contains("signer's record proof"), "{output}");

    // It may not open accounts: refused on admission, before anything is queued.
    let account = ["create-account", "--id", "95010", "--ledger", "1", "--code", "1"];
    let refused = cli(
        &endpoint,
        &[&as_terminal[..], &account, &["--flags", "debits_must_not_exceed_credits"]].concat(),
    );
    assert!(!refused.status.success());
    assert!(text(&refused).contains("key_not_permitted"), "{}", text(&refused));

    // Its tokens read as the merchant: the sales account, and the keys with what each spent.
    let chain_id = devnet.client().chain_id().expect("chain id");
    let terminal_secret = {
        let text = std::fs::read_to_string(&terminal_key).expect("key file");
        let seed: [u8; 32] = hex::decode(text.trim()).expect("hex").try_into().expect("32 bytes");
        hansa_types::SecretKey::from_seed(seed)
    };
    let terminal = Client::new(vec![endpoint.clone()]).with_credentials(Credentials::new(
        chain_id,
        MERCHANT,
        terminal_secret.clone(),
    ));
    let sales = terminal.get(&format!("/v1/accounts/{MERCHANT_SALES}")).expect("the terminal reads");
    assert_eq!(sales["account"]["owner"], 2);
    let keys = terminal.get("/v1/keys").expect("the merchant's keys");
    assert_eq!(keys["keys"][0]["id"], 1);
    assert_eq!(keys["keys"][0]["spent"], "3");
    assert_eq!(keys["keys"][0]["revoked_at"], 0);
    // The wallet is the bank's: out of the merchant's scope, and so of its terminal's.
    assert!(terminal.get(&format!("/v1/accounts/{CUSTOMER_WALLET}")).is_err());

    // Two signers: the merchant's own signer starts later, numbering far above the terminal's;
    // the terminal's next batch is still fresh (each key has its own window).
    let mut terminal_signer = Signer::delegated(chain_id, MERCHANT, 1, terminal_secret);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut merchant_signer = devnet.signer(MERCHANT);
    let refund = |id: u128| {
        hansa_types::Operation::CreateTransfer(hansa_types::NewTransfer {
            id,
            debit_account_id: MERCHANT_SALES,
            credit_account_id: 1_001,
            amount: hansa_types::Amount(1),
            ledger: 1,
            code: 1,
            ..Default::default()
        })
    };
    let client = devnet.client();
    let outcome = client.submit(&merchant_signer.sign(vec![refund(95_020)]), true).expect("the merchant's");
    assert_eq!(results(&outcome), ["ok"]);
    let outcome = client.submit(&terminal_signer.sign(vec![refund(95_021)]), true).expect("the terminal's");
    assert_eq!(results(&outcome), ["ok"], "the terminal's older number is not a replay");

    // Revoked: its batches and its tokens are refused from the next block on.
    let revoked = cli(&endpoint, &[&as_merchant[..], &["keys", "revoke", "--id", "1"]].concat());
    assert!(revoked.status.success(), "{}", text(&revoked));
    let after = pay("95003", "1");
    assert!(!after.status.success());
    assert!(text(&after).contains("key_revoked"), "{}", text(&after));
    match terminal.get(&format!("/v1/accounts/{MERCHANT_SALES}")) {
        Err(hansa_client::ClientError::Api { status, .. }) => assert_eq!(status, 401),
        other => panic!("a revoked key's token read: {other:?}"),
    }
    let listed = cli(&endpoint, &[&as_merchant[..], &["keys", "list"]].concat());
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_ne!(listed["keys"][0]["revoked_at"], 0);

    // An auditor lists the merchant's keys (logged for the merchant); the platform may not.
    let audited = get(&endpoint, "/v1/keys?org=2").expect("the auditor reads");
    assert_eq!(audited["keys"].as_array().map(Vec::len), Some(1));
    let platform = Client::new(vec![endpoint.clone()]).with_credentials(Credentials::new(
        chain_id,
        hansa_types::OrgId(1),
        devnet.key(hansa_types::OrgId(1)),
    ));
    assert!(matches!(
        platform.get("/v1/keys?org=2"),
        Err(hansa_client::ClientError::Api { status: 404, .. })
    ));
}
