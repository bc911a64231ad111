//! A real 4-validator devnet: finality, a crash with SIGKILL, liveness without the crashed
//! validator, restart and catch-up to the same state root; then a validator that lost its whole
//! data folder joins from its peers' state snapshot (verified against the genesis only) and
//! takes part in consensus, and one that was away for long rejoins from a snapshot.

use crate::support::*;
use std::time::Duration;

#[test]
fn four_validators_survive_a_crash_and_the_restarted_one_catches_up() {
    let mut devnet = Devnet::start(4, 0);
    let client = devnet.client();
    let mut bank = devnet.signer(BANK);
    let outcome =
        client.submit(&bank.sign(vec![payment(50_001, 100), payment(50_002, 200)]), true).expect("final");
    assert_eq!(results(&outcome), vec!["ok", "ok"]);

    // Crash validator 3 the hard way.
    let crashed = devnet.pid(3);
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe {
        libc::kill(crashed, libc::SIGKILL);
    }
    let survivors = devnet.endpoints[..3].to_vec();
    let before = get(&survivors[0], "/v1/status").expect("status")["height"].as_u64().expect("height");
    for id in 50_003..50_006 {
        let outcome =
            client.submit(&bank.sign(vec![payment(id, 10)]), true).expect("final without validator 3");
        assert_eq!(results(&outcome), vec!["ok"]);
    }
    eventually(Duration::from_secs(60), "blocks finalize with one validator down", || {
        get(&survivors[0], "/v1/status").is_ok_and(|s| s["height"].as_u64().unwrap_or(0) > before + 5)
    });

    // Restart it from its folder: it replays its own blocks and fetches the rest.
    devnet.restart(3);
    let target = get(&survivors[0], "/v1/status").expect("status")["height"].as_u64().expect("height");
    let restarted = devnet.endpoints[3].clone();
    eventually(Duration::from_secs(120), "the restarted validator catches up", || {
        get(&restarted, "/v1/status").is_ok_and(|s| s["height"].as_u64().unwrap_or(0) >= target)
    });
    // Caught up, it says so: health answers 200 with its height and the network's.
    eventually(Duration::from_secs(60), "the restarted validator is healthy", || {
        get(&restarted, "/v1/health").is_ok_and(|health| {
            health["ok"] == true
                && health["network_height"].as_u64().unwrap_or(0) >= target
                && health["height"].as_u64().unwrap_or(0) + health["lag_blocks_max"].as_u64().unwrap_or(0)
                    >= health["network_height"].as_u64().unwrap_or(u64::MAX)
        })
    });
    // Every bound of its configuration is reported with the value in force.
    let status = get(&restarted, "/v1/status").expect("status");
    assert_eq!(status["node"]["bounds"]["mempool_operations_max"], 1_048_576, "{status}");
    assert_eq!(status["bounds"]["mempool_operations"]["max"], 1_048_576);
    // The allocator's counts: a running validator holds megabytes of heap.
    let in_use = status["memory"]["heap_in_use_bytes"].as_u64().expect("heap in use");
    assert!(in_use > 1 << 20, "{status}");
    assert!(status["memory"]["heap_free_kept_bytes"].is_u64(), "{status}");
    let header =
        |endpoint: &str| get(endpoint, &format!("/v1/blocks/{target}")).expect("block")["header"].clone();
    assert_eq!(header(&restarted)["state_root"], header(&survivors[0])["state_root"]);
    assert_eq!(header(&restarted), header(&survivors[1]));

    // Every acknowledged payment is there, on every validator, and money is conserved.
    for endpoint in &devnet.endpoints {
        for id in 50_001..50_006 {
            let operation = get(endpoint, &format!("/v1/operations/{id}")).expect("final operation");
            assert_eq!(operation["submissions"][0]["result"], "ok");
        }
        assert_eq!(net_balance(endpoint), 0, "Σ credits = Σ debits at {endpoint}");
    }
    // Proofs of the first payment (a block long past, whose body validators read back from their
    // archive) verify offline with nothing but the genesis file, from every validator; a
    // tampered one does not.
    let genesis = devnet.dir.join("genesis.toml");
    for (index, endpoint) in devnet.endpoints.iter().enumerate() {
        for path in ["/v1/operations/50001/proof", "/v1/transfers/50001/proof", "/v1/accounts/2001/proof"] {
            let proof = get(endpoint, path).unwrap_or_else(|error| panic!("{path} at {endpoint}: {error}"));
            let file = devnet.dir.join(format!("proof-{index}.json"));
            std::fs::write(&file, proof.to_string()).expect("write the proof");
            let (verified, output) = hansa_verify(&file, &genesis);
            assert!(verified, "{path} from validator {index} does not verify: {output}");
        }
        let mut proof = get(endpoint, "/v1/operations/50001/proof").expect("proof");
        assert_eq!(proof["proof"]["result"], "ok");
        proof["proof"]["result"] = "exceeds_credits".into();
        let file = devnet.dir.join(format!("tampered-{index}.json"));
        std::fs::write(&file, proof.to_string()).expect("write the proof");
        assert!(!hansa_verify(&file, &genesis).0, "a tampered proof from validator {index} verified");
    }

    // A payment through the restarted validator's own endpoint also becomes final.
    let only_restarted = hansa_client::Client::new(vec![restarted]);
    let outcome = only_restarted.submit(&bank.sign(vec![payment(50_010, 1)]), true).expect("final");
    assert_eq!(results(&outcome), vec!["ok"]);

    a_validator_that_lost_its_data_joins_from_a_snapshot(&mut devnet, &mut bank);
}

/// Validator 2 loses its data folder. Restarted empty, it takes its peers' snapshot instead of
/// replaying from genesis, serves the same state, and its vote is needed (validator 0 is then
/// stopped: 3 of 4 finalize only with it).
fn a_validator_that_lost_its_data_joins_from_a_snapshot(
    devnet: &mut Devnet,
    bank: &mut hansa_client::Signer,
) {
    let lost = devnet.endpoints[2].clone();
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe {
        libc::kill(devnet.pid(2), libc::SIGKILL);
    }
    eventually(Duration::from_secs(30), "validator 2 stops", || get(&lost, "/v1/health").is_err());
    let node_dir = devnet.dir.join("validator-2");
    std::fs::remove_dir_all(node_dir.join("data")).expect("remove the data folder");
    // Join from any snapshot 8 blocks or more above genesis (the default waits for 256).
    let config = std::fs::read_to_string(node_dir.join("node.toml")).expect("node.toml");
    std::fs::write(node_dir.join("node.toml"), format!("{config}\n[sync]\nblocks_min = 8\n")).expect("write");

    // What the peers offer is checked against the genesis alone; a snapshot altered anywhere
    // is refused.
    let survivor = devnet.endpoints[0].clone();
    let offer: hansa_chain::app::Snapshot =
        serde_json::from_value(get(&survivor, "/v1/state/snapshot").expect("snapshot")).expect("a snapshot");
    let genesis: hansa_types::Genesis =
        toml::from_str(&std::fs::read_to_string(devnet.dir.join("genesis.toml")).expect("genesis"))
            .expect("toml");
    let consortium = hansa_ledger::Consortium::new(genesis).expect("consortium");
    offer.verify(&consortium).expect("an honest offer verifies");
    let mut tampered = offer.clone();
    tampered.state.log_range.1 += 1;
    assert!(tampered.verify(&consortium).is_err(), "a state that is not the header's was accepted");
    let mut tampered = offer.clone();
    tampered.header.timestamp_ms += 1;
    assert!(tampered.verify(&consortium).is_err(), "a header the validators did not sign was accepted");
    let mut tampered = offer.clone();
    let last = tampered.certificate.len() - 1;
    tampered.certificate[last] ^= 1;
    assert!(tampered.verify(&consortium).is_err(), "a forged certificate was accepted");

    devnet.restart(2);
    eventually(Duration::from_secs(120), "the emptied validator joins and is healthy", || {
        get(&lost, "/v1/health").is_ok_and(|health| health["ok"] == true)
    });
    let status = get(&lost, "/v1/status").expect("status");
    let joined_at = status["node"]["joined_at"].as_u64().expect("it joined from a snapshot");
    // Not from that offer: its view is below the highest its peers had seen a proposal in when
    // it started, where this validator may have proposed before it lost its data.
    assert!(
        joined_at > offer.height,
        "joined at {joined_at}, not above the offer seen before ({})",
        offer.height
    );
    assert_eq!(status["node"]["joined_in_this_run"], true);
    // It did not replay history: the blocks below its snapshot are not here.
    assert!(get(&lost, "/v1/blocks/1").is_err(), "a joined validator holds block 1");
    // The same balances, totals and audit as a validator that executed every block.
    assert_eq!(net_balance(&lost), 0);
    for account in DEMO_ACCOUNTS {
        let path = format!("/v1/accounts/{account}");
        assert_eq!(
            get(&lost, &path).expect("account")["account"],
            get(&survivor, &path).expect("account")["account"]
        );
    }
    let ledgers =
        |endpoint: &str| get(endpoint, "/v1/ledgers?audit=true").expect("ledgers")["ledgers"].clone();
    let joined_ledgers = ledgers(&lost);
    assert_eq!(joined_ledgers, ledgers(&survivor));
    assert_eq!(joined_ledgers[0]["audit"]["matches_running_totals"], true, "{joined_ledgers}");
    // Its proofs verify offline.
    let proof = get(&lost, "/v1/accounts/2001/proof").expect("proof");
    let file = devnet.dir.join("proof-joined.json");
    std::fs::write(&file, proof.to_string()).expect("write the proof");
    let (verified, output) = hansa_verify(&file, &devnet.dir.join("genesis.toml"));
    assert!(verified, "a proof from the joined validator does not verify: {output}");

    // Validator 0 stops: the joined validator's votes are needed for every block from now on.
    // First it has every block the others finalized (health allows a lag of a few blocks).
    let network =
        get(&devnet.endpoints[1], "/v1/status").expect("status")["height"].as_u64().expect("height");
    eventually(Duration::from_secs(60), "the joined validator has every finalized block", || {
        get(&lost, "/v1/status").is_ok_and(|status| status["height"].as_u64().unwrap_or(0) >= network)
    });
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe {
        libc::kill(devnet.pid(0), libc::SIGKILL);
    }
    let through_joined = hansa_client::Client::new(vec![lost.clone()]);
    let signed = bank.sign(vec![payment(50_020, 7)]);
    let digest = match through_joined.submit(&signed, true) {
        Ok(outcome) => outcome["batch_digest"].as_str().expect("digest").to_string(),
        Err(hansa_client::ClientError::Api { status: 504, message, .. }) => {
            message.split_whitespace().nth(1).expect("the batch digest").to_string()
        }
        Err(other) => panic!("the payment was not accepted: {other}"),
    };
    // Liveness after losing a validator takes a few view timeouts: wait for the batch to be final.
    let mut outcome = serde_json::Value::Null;
    eventually(Duration::from_secs(90), "the payment is final with 3 of 4 validators", || {
        outcome = get(&lost, &format!("/v1/batches/{digest}")).unwrap_or_default();
        outcome["status"] == "final"
    });
    assert_eq!(results(&outcome), vec!["ok"]);
    let height = outcome["height"].as_u64().expect("height");
    assert!(height > joined_at);
    let header = |endpoint: &str| {
        get(endpoint, &format!("/v1/blocks/{height}")).ok().map(|block| block["header"].clone())
    };
    eventually(Duration::from_secs(30), "validator 1 has the block", || {
        header(&devnet.endpoints[1]).is_some()
    });
    assert_eq!(
        header(&lost).expect("the joined validator's block"),
        header(&devnet.endpoints[1]).expect("block")
    );

    // Validator 0, away while the others went on, comes back configured to rejoin when it is
    // 16 blocks or more behind its peers' snapshot: it drops its state and joins from it.
    let away = devnet.endpoints[0].clone();
    let away_height = height;
    // A liveness wait, not a speed check: with one of four validators away, every fourth view
    // waits out its leader's timeout, and the shared machine may be running other tests.
    eventually(Duration::from_secs(180), "the others get 48 blocks ahead", || {
        get(&lost, "/v1/state/snapshot")
            .is_ok_and(|offer| offer["height"].as_u64().unwrap_or(0) > away_height + 48)
    });
    let node_dir = devnet.dir.join("validator-0");
    let config = std::fs::read_to_string(node_dir.join("node.toml")).expect("node.toml");
    std::fs::write(
        node_dir.join("node.toml"),
        format!("{config}\n[sync]\nblocks_min = 8\nrejoin_behind_blocks = 16\n"),
    )
    .expect("write");
    devnet.restart(0);
    eventually(Duration::from_secs(120), "the returning validator rejoins and is healthy", || {
        get(&away, "/v1/health").is_ok_and(|health| health["ok"] == true)
    });
    let status = get(&away, "/v1/status").expect("status");
    let rejoined_at = status["node"]["joined_at"].as_u64().expect("it rejoined from a snapshot");
    assert!(rejoined_at > away_height + 16, "rejoined at {rejoined_at}, away at {away_height}");
    assert_eq!(net_balance(&away), 0);
    let path = format!("/v1/accounts/{CUSTOMER_WALLET}");
    assert_eq!(get(&away, &path).expect("wallet")["account"], get(&lost, &path).expect("wallet")["account"]);
}

/// Proofs issued by an earlier build (proof format 2, values stored unpacked: a devnet of
/// commit e39a661, saved with `hansa proof account 2001` and `hansa proof transfer 10002`)
/// verify with this build's `hansa verify`, and a byte changed in them is still caught.
#[test]
fn proofs_of_an_earlier_format_still_verify() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proof-format-2");
    let genesis = fixtures.join("genesis.toml");
    let scratch = std::env::temp_dir().join(format!("hansa-proof-format-2-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch folder");
    for (file, expected) in [
        ("account-2001.json", "account 2001 (ledger 1, owner org-2): credits posted 12800"),
        ("transfer-10002.json", "transfer 10002 as recorded: 12800 from 3001 to 2001"),
    ] {
        let path = fixtures.join(file);
        let (verified, output) = hansa_verify(&path, &genesis);
        assert!(verified && output.contains(expected), "{file}: {output}");
        let proof: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json");
        assert_eq!(proof["proof"]["format"], 2);
        // The record's value with one bit flipped: not the value the roots commit to.
        let mut tampered = proof.clone();
        let value = tampered["proof"]["record"]["value"].as_str().expect("value").to_string();
        let flipped =
            format!("{}{}", &value[..value.len() - 1], if value.ends_with('0') { '1' } else { '0' });
        tampered["proof"]["record"]["value"] = serde_json::Value::String(flipped);
        let tampered_path = scratch.join(file);
        std::fs::write(&tampered_path, tampered.to_string()).expect("write");
        let (verified, output) = hansa_verify(&tampered_path, &genesis);
        assert!(!verified, "{file} with a changed value verified: {output}");
        // Claimed as format 3 (values packed), the same bytes do not hold either.
        let mut reformatted = proof.clone();
        reformatted["proof"]["format"] = serde_json::json!(3);
        std::fs::write(&tampered_path, reformatted.to_string()).expect("write");
        assert!(!hansa_verify(&tampered_path, &genesis).0, "{file} read as format 3 verified");
    }
    std::fs::remove_dir_all(&scratch).expect("remove the scratch folder");
}
