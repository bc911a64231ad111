//! State sync from a real validator over its API: a store with no state fetches the
//! validator's last checkpoint, checked against a header whose finality certificate the genesis
//! validators signed, and holds the same records; a peer that tampers with its answers is
//! refused. The test syncs as the devnet's auditor (the whole state goes to validators and
//! auditors only). The validator keeps only 64 blocks of history (`--retention-blocks 64`): its
//! old history is pruned while its current state, proofs and snapshots are still served.

use crate::support::*;
use commonware_runtime::{Runner as _, Supervisor as _};
use hansa_state::{LogIndex, Part, Peers, Store, StoreConfig};
use hansa_types::{Account, Decode, Genesis, Header, StateCommitment};
use std::time::Duration;

/// Peers over HTTP: the validator's `/v1/state/{part}/sync`, optionally flipping a byte of
/// every answer.
#[derive(Clone)]
struct HttpPeer {
    endpoint: String,
    tamper: bool,
}

impl Peers for HttpPeer {
    async fn fetch(&self, part: Part, request: Vec<u8>) -> Result<Vec<u8>, String> {
        let (url, tamper) = (format!("{}/v1/state/{}/sync", self.endpoint, part.name()), self.tamper);
        // The whole state is served to validators and auditors: the test syncs as the auditor.
        let authorization = format!("Bearer {}", auditor_token(&self.endpoint));
        tokio::task::spawn_blocking(move || {
            let mut response = ureq::post(&url)
                .header("content-type", "application/octet-stream")
                .header("authorization", &authorization)
                .send(&request[..])
                .map_err(|error| error.to_string())?;
            let mut bytes = response
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .map_err(|error| error.to_string())?;
            if tamper && let Some(last) = bytes.last_mut() {
                *last ^= 1;
            }
            Ok(bytes)
        })
        .await
        .map_err(|error| error.to_string())?
    }
}

#[test]
fn a_new_store_syncs_from_a_validators_checkpoint_verified_against_a_finalized_header() {
    let devnet = Devnet::start_with(1, 2, &["--retention-blocks", "64"]);
    let endpoint = devnet.endpoints[0].clone();
    let client = devnet.client();
    let mut bank = devnet.signer(BANK);
    let outcome =
        client.submit(&bank.sign(vec![payment(60_001, 700), payment(60_002, 300)]), true).expect("final");
    assert_eq!(results(&outcome), vec!["ok", "ok"]);
    let paid_at = outcome["height"].as_u64().expect("height");

    // The idle chain keeps making blocks: the history of the payments' block is pruned
    // (kept: the last 64 blocks, pruned at checkpoints), their current state is not.
    eventually(Duration::from_secs(120), "history below the payments pruned", || {
        get(&endpoint, "/v1/status")
            .is_ok_and(|status| status["history_from"].as_u64().unwrap_or(0) > paid_at)
    });
    let status = get(&endpoint, "/v1/status").expect("status");
    assert_eq!(status["node"]["retention_blocks"], 64);
    match get(&endpoint, &format!("/v1/blocks/{paid_at}")) {
        Err(hansa_client::ClientError::Api { status: 404, code, .. }) => assert_eq!(code, "not_kept"),
        other => panic!("a pruned block was answered: {other:?}"),
    }
    assert!(get(&endpoint, "/v1/operations/60001").is_err(), "a pruned operation's location was answered");
    // The wallet's balance history (it has the `history` flag) is pruned too, but its last
    // balance from before the window still answers for the heights inside it.
    match get(&endpoint, &format!("/v1/accounts/{CUSTOMER_WALLET}/balances?height={paid_at}")) {
        Err(hansa_client::ClientError::Api { status: 404, code, .. }) => assert_eq!(code, "not_kept"),
        other => panic!("a balance below the window was answered: {other:?}"),
    }
    let wallet = get(&endpoint, &format!("/v1/accounts/{CUSTOMER_WALLET}")).expect("wallet");
    let inside =
        get(&endpoint, &format!("/v1/accounts/{CUSTOMER_WALLET}/balances?height={}", status["height"]))
            .expect("the balance inside the window");
    assert_eq!(inside["balance"]["debits_posted"], wallet["account"]["debits_posted"], "{inside} {wallet}");
    let history = get(&endpoint, &format!("/v1/accounts/{CUSTOMER_WALLET}/balances")).expect("history");
    assert_eq!(history["balances"].as_array().map(Vec::len), Some(1), "one balance kept: {history}");
    assert!(get(&endpoint, &format!("/v1/blocks/{}", status["height"])).is_ok(), "the tip's block is kept");
    let proof =
        get(&endpoint, &format!("/v1/accounts/{CUSTOMER_WALLET}/proof")).expect("current state is proven");
    assert!(proof["proof"]["header"]["height"].as_u64().expect("height") > paid_at);
    let mut snapshot = serde_json::Value::Null;
    eventually(Duration::from_secs(90), "a snapshot after the payments", || {
        snapshot = get(&endpoint, "/v1/state/snapshot").unwrap_or_default();
        snapshot["height"].as_u64().is_some_and(|height| height > paid_at)
    });
    let height = snapshot["height"].as_u64().expect("height");
    let header: Header = serde_json::from_value(snapshot["header"].clone()).expect("header");
    let state: StateCommitment = serde_json::from_value(snapshot["state"].clone()).expect("state");
    let certificate = hex::decode(snapshot["certificate"].as_str().expect("certificate")).expect("hex");
    // The trust anchor: the genesis file and nothing else from the peer.
    let genesis: Genesis =
        toml::from_str(&std::fs::read_to_string(devnet.dir.join("genesis.toml")).expect("genesis"))
            .expect("toml");
    let validators: Vec<_> = genesis.validators.iter().map(|validator| validator.public_key).collect();
    assert!(hansa_chain::verify_finalization(
        &genesis.chain_id(),
        &validators,
        &header.digest(),
        &certificate
    ));
    assert_eq!((header.height, header.state_root), (height, state.root()));
    let wallet = get(&endpoint, &format!("/v1/accounts/{CUSTOMER_WALLET}")).expect("wallet");

    let folder = devnet.dir.join("synced");
    let runner = commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new().with_storage_directory(folder.clone()),
    );
    runner.start(|context| async move {
        let config = || StoreConfig::small("synced", hansa_ledger::modules::kind);
        // A peer that tampers with its answers: refused, nothing usable kept.
        let refused = Store::open(
            context.child("refused"),
            StoreConfig::small("refused", hansa_ledger::modules::kind),
            LogIndex::in_memory().expect("index"),
        )
        .await
        .expect("open");
        let liar = HttpPeer { endpoint: endpoint.clone(), tamper: true };
        assert!(refused.sync_from(context.child("liar"), height, state, liar).await.is_err());
        assert_eq!(refused.unsynced().await, Some(height));

        let store = Store::open(context.child("store"), config(), LogIndex::in_memory().expect("index"))
            .await
            .expect("open");
        let honest = HttpPeer { endpoint: endpoint.clone(), tamper: false };
        store.sync_from(context.child("sync"), height, state, honest).await.expect("the sync succeeds");
        assert_eq!(store.applied().await, (height, state));
        let key = hansa_ledger::modules::ledger::ACCOUNTS.key(CUSTOMER_WALLET);
        let value =
            store.read(None, &[key]).await.expect("read").remove(0).expect("the wallet is in the state");
        let account = Account::decode(&value).expect("an account");
        assert_eq!(
            account.debits_posted.0.to_string(),
            wallet["account"]["debits_posted"].as_str().expect("debits").to_string()
        );
        assert_eq!(
            account.credits_posted.0.to_string(),
            wallet["account"]["credits_posted"].as_str().expect("credits").to_string()
        );
        let transfer = hansa_ledger::modules::ledger::TRANSFERS.key(60_001);
        assert!(store.read(None, &[transfer]).await.expect("read")[0].is_some(), "the payment is in the log");
    });
}
