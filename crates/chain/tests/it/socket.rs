//! Four validators on 127.0.0.1 over real sockets, in one tokio runtime.

use commonware_runtime::{Clock as _, Runner as _, Supervisor as _, tokio};
use hansa_chain::{ValidatorConfig, sim::ToyExecutor, start_validator};
use hansa_types::{Hash, SecretKey};
use std::{net::SocketAddr, time::Duration};

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("bound").port()
}

#[test]
fn four_validators_over_sockets_finalize() {
    let storage_dir = std::env::temp_dir().join(format!(
        "hansa-chain-smoke-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos()
    ));
    let seeds: Vec<[u8; 32]> = (1..=4u8).map(|index| [index; 32]).collect();
    let validators: Vec<_> = seeds
        .iter()
        .map(|seed| {
            let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("address");
            (SecretKey::from_seed(*seed).public_key(), address)
        })
        .collect();
    let chain_id = Hash([0x42; 32]);
    let configs: Vec<ValidatorConfig> = seeds
        .iter()
        .zip(&validators)
        .map(|(seed, (_, listen))| {
            ValidatorConfig::new(chain_id, *seed, validators.clone(), *listen, storage_dir.clone())
        })
        .collect();

    let runner = tokio::Runner::new(hansa_chain::runtime_config(&configs[0]));
    let heights = runner.start(|context| async move {
        let mut handles = Vec::new();
        for config in configs {
            handles.push(
                start_validator(context.child("node"), config, ToyExecutor::new()).await.expect("starts"),
            );
        }
        // The axum server of the node crate runs in this runtime too: tokio::spawn works here.
        let probe = ::tokio::spawn(async { 7 });
        assert_eq!(probe.await.expect("tokio task"), 7);

        // Poll, bounded: pass as soon as every validator delivered height 5.
        for _ in 0..600 {
            if handles.iter().all(|handle| handle.delivered_height() >= 5) {
                break;
            }
            context.sleep(Duration::from_millis(100)).await;
        }
        let heights: Vec<u64> = handles.iter().map(|handle| handle.delivered_height()).collect();
        for handle in handles {
            handle.stop();
        }
        heights
    });
    let _ = std::fs::remove_dir_all(&storage_dir);
    assert!(heights.iter().all(|height| *height >= 5), "delivered heights {heights:?}");
}

#[test]
fn a_validator_whose_peer_address_is_taken_does_not_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let listen = taken.local_addr().expect("bound");
    let seed = [9u8; 32];
    let validators = vec![(SecretKey::from_seed(seed).public_key(), listen)];
    let storage_dir = std::env::temp_dir().join(format!("hansa-chain-taken-{}", std::process::id()));
    let config = ValidatorConfig::new(Hash([0x43; 32]), seed, validators, listen, storage_dir.clone());
    let runner = tokio::Runner::new(hansa_chain::runtime_config(&config));
    let result = runner.start(|context| async move {
        start_validator(context.child("node"), config, ToyExecutor::new()).await.map(|handle| handle.stop())
    });
    let _ = std::fs::remove_dir_all(&storage_dir);
    match result {
        Err(hansa_chain::ChainError::Listen(reason)) => {
            assert!(reason.contains(&listen.to_string()), "{reason}")
        }
        other => panic!("a validator without its peer listener started: {:?}", other.map(|_| ())),
    }
}
