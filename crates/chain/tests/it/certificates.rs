//! `verify_finalization` against certificates produced by a simulated cluster.

use hansa_chain::{
    FinalityCertificate,
    sim::{self, SIM_CHAIN_ID, Scenario, ToyExecutor},
    verify_finalization,
};
use hansa_types::{Decode as _, Encode as _, Hash};

fn cluster() -> sim::Outcome {
    sim::run(Scenario::new(6, 4, 6), |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree)
}

#[test]
fn accepts_the_real_certificate_and_rejects_everything_else() {
    let outcome = cluster();
    let validators = sim::validator_public_keys(4);
    let digest = outcome.finalized[0][&3];
    let certificate = &outcome.certificates[0][&3];

    assert!(verify_finalization(&SIM_CHAIN_ID, &validators, &digest, certificate));
    // Any validator order.
    let mut reversed = validators.clone();
    reversed.reverse();
    assert!(verify_finalization(&SIM_CHAIN_ID, &reversed, &digest, certificate));

    // Another block, another chain, another validator set.
    let other_digest = outcome.finalized[0][&4];
    assert!(!verify_finalization(&SIM_CHAIN_ID, &validators, &other_digest, certificate));
    assert!(!verify_finalization(&Hash([0x5b; 32]), &validators, &digest, certificate));
    assert!(!verify_finalization(&SIM_CHAIN_ID, &validators[..3], &digest, certificate));
    assert!(!verify_finalization(&SIM_CHAIN_ID, &sim::validator_public_keys(5), &digest, certificate));

    // Truncated, extended, flipped, garbage.
    for length in [0, 1, certificate.len() / 2, certificate.len() - 1] {
        assert!(!verify_finalization(&SIM_CHAIN_ID, &validators, &digest, &certificate[..length]));
    }
    let mut extended = certificate.clone();
    extended.push(0);
    assert!(!verify_finalization(&SIM_CHAIN_ID, &validators, &digest, &extended));
    for index in [0, 5, certificate.len() - 1] {
        let mut flipped = certificate.clone();
        flipped[index] ^= 1;
        assert!(!verify_finalization(&SIM_CHAIN_ID, &validators, &digest, &flipped), "byte {index}");
    }
    assert!(!verify_finalization(&SIM_CHAIN_ID, &validators, &digest, &[0xAB; 300]));
}

#[test]
fn certificates_through_descendants_verify_and_bind_their_links() {
    // Loss and a partition make some views finalize only through a descendant. Which views do
    // depends on the seed; seed 2 gives several (found by trying seeds 1 to 40 after the nullify
    // retry went from 3 s to 1 s: about half give none, seed 1 among them since then).
    let mut scenario = crate::simulation::partition_and_loss_scenario();
    scenario.seed = 2;
    let outcome = sim::run(scenario, |_, _| async { ToyExecutor::new() }, sim::toy_state_roots_agree);
    let validators = sim::validator_public_keys(7);
    let mut linked = 0;
    for (validator, certificates) in outcome.certificates.iter().enumerate() {
        for (height, certificate) in certificates {
            let digest = outcome.finalized[validator][height];
            assert!(verify_finalization(&SIM_CHAIN_ID, &validators, &digest, certificate));
            let decoded = FinalityCertificate::decode(certificate).expect("decodes");
            if decoded.links.is_empty() {
                continue;
            }
            linked += 1;
            // A tampered link breaks the hash chain.
            let mut tampered = decoded.clone();
            tampered.links[0].timestamp_ms += 1;
            assert!(!verify_finalization(&SIM_CHAIN_ID, &validators, &digest, &tampered.encode()));
            // Links without the finalization's own block do not reach another digest.
            let parent = decoded.links.last().expect("non-empty").parent;
            assert_eq!(parent, digest);
        }
    }
    eprintln!("{linked} certificates through descendants");
    assert!(linked > 0, "the partition scenario should exercise certificates through descendants");
}

/// Golden vector: the finality certificate of block 3 in the reference cluster (6 seeds of 4
/// validators, validator 0's copy), its block digest and its encoding. A change to the
/// certificate's encoding, to simplex's signing or aggregation, to what the simulator's toy
/// blocks hold, or to the simulated schedule (which votes arrive first and form the quorum; the
/// leader's second send of a stalled block changed it, 2026-12-07) fails here until the vector
/// is renewed on purpose (print it with
/// `HANSA_PRINT_GOLDEN=1 cargo test -p hansa-chain --test it golden -- --nocapture`).
#[test]
fn golden_certificate_of_the_reference_cluster() {
    let outcome = cluster();
    let digest = outcome.finalized[0][&3];
    let certificate = &outcome.certificates[0][&3];
    let decoded = FinalityCertificate::decode(certificate).expect("decodes");
    assert_eq!(&decoded.encode(), certificate, "one encoding per certificate");
    let pinned = hansa_types::hash::hash("hansa/test/golden", certificate).to_hex();
    if std::env::var_os("HANSA_PRINT_GOLDEN").is_some() {
        println!("digest {} certificate {} ({} bytes)", digest.to_hex(), pinned, certificate.len());
    }
    assert_eq!(
        digest.to_hex(),
        "42e96ae80ea05789da006044d67f210912bf74c9a57f0325e00b59b617b1d2dd",
        "block 3's digest"
    );
    assert_eq!(
        (certificate.len(), pinned.as_str()),
        (246, "3349b448633b34dff434c6eb6aca23c4d7f5ff5db229206e2630f690d39189eb"),
        "the certificate's encoding"
    );
}
