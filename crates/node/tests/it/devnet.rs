//! A real 4-validator devnet: finality, a crash with SIGKILL, liveness without the crashed
//! validator, restart and catch-up to the same state root.

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
}

/// Runs `hansa verify` on a proof file: whether it succeeded, and what it printed.
fn hansa_verify(proof: &std::path::Path, genesis: &std::path::Path) -> (bool, String) {
    let output = std::process::Command::new(hansa())
        .arg("verify")
        .arg(proof)
        .arg("--genesis")
        .arg(genesis)
        .output()
        .expect("running hansa verify");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}
