//! Finality certificates: the bytes `Executor::finalized` receives and `verify_finalization` checks.
//!
//! Specification (version 1). A certificate is
//!
//! ```text
//! version: u8 = 1
//! finalization: u32 LE length || Commonware encoding of simplex Finalization<ed25519, sha256>
//! links: u32 LE count (<= CERTIFICATE_LINKS_MAX) || that many Hansa-encoded block headers
//! ```
//!
//! The finalization is a quorum (2f+1 of n) of ed25519 signatures by the validators over
//! `(round, parent view, payload digest)` under the namespace `hansa/consensus/v1/ || chain id`
//! (plus Commonware's `_FINALIZE` suffix), so a certificate of one chain never verifies for
//! another. It finalizes exactly `block_digest` when `links` is empty and its payload is
//! `block_digest`. Simplex may finalize a descendant without a finalization of its own for each
//! ancestor (a view can be notarized, then finalized only through its child); for such a block
//! the certificate carries the finalization of the nearest finalized descendant and the headers
//! from that descendant down to the block's child: `links[0]` hashes to the payload, each next
//! link hashes to the previous link's parent, and the last link's parent is `block_digest`.
//! Because every header commits to its parent's digest, the chain of links proves the block is an
//! ancestor of a finalized block, hence final.

use crate::block::{Digest, to_digest};
use commonware_codec::{Copying, Decode as _, DecodeExt as _, Encode as _};
use commonware_consensus::simplex::{scheme::ed25519, types::Finalization as SimplexFinalization};
use commonware_cryptography::{certificate::Scheme as _, ed25519 as keys};
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use hansa_types::{
    Decode, DecodeError, Encode, Hash, Header, PublicKey,
    codec::{Reader, decode_bytes, decode_sequence, encode_bytes, encode_sequence},
};

/// The Commonware certificate scheme Hansa's consensus signs with.
pub type Scheme = ed25519::Scheme;

/// A simplex finalization under Hansa's scheme.
pub type Finalization = SimplexFinalization<Scheme, Digest>;

/// Version byte of the certificate encoding.
pub const CERTIFICATE_VERSION: u8 = 1;

/// Most headers linking a block to its finalized descendant.
pub const CERTIFICATE_LINKS_MAX: usize = 1_024;

/// Most bytes of the encoded finalization inside a certificate (a quorum of 64-byte signatures
/// for far more validators than a consortium runs).
const FINALIZATION_BYTES_MAX: usize = 64 * 1024;

/// Domain of the consensus signing namespace; the chain id follows it.
const NAMESPACE_DOMAIN: &[u8] = b"hansa/consensus/v1/";

/// The consensus signing namespace of a chain.
pub fn namespace(chain_id: &Hash) -> Vec<u8> {
    let mut namespace = NAMESPACE_DOMAIN.to_vec();
    namespace.extend_from_slice(&chain_id.0);
    namespace
}

/// Converts Hansa validator keys into Commonware keys; `None` if one is not a valid ed25519 point.
pub fn consensus_keys(validators: &[PublicKey]) -> Option<Vec<keys::PublicKey>> {
    validators.iter().map(|key| keys::PublicKey::decode(Copying(&key.0[..])).ok()).collect()
}

/// The ordered participant set; `None` if a key is invalid, duplicated, or the list is empty.
pub fn participants(validators: &[PublicKey]) -> Option<Set<keys::PublicKey>> {
    let keys = consensus_keys(validators)?;
    if keys.is_empty() {
        return None;
    }
    Set::try_from(keys).ok()
}

/// A decoded finality certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalityCertificate {
    /// Commonware encoding of the finalization.
    pub finalization: Vec<u8>,
    /// Headers from the finalized descendant down to the block's child (empty when the
    /// finalization is the block's own).
    pub links: Vec<Header>,
}

impl FinalityCertificate {
    /// Builds a certificate from a finalization and its link headers.
    pub fn new(finalization: &Finalization, links: Vec<Header>) -> Self {
        assert!(links.len() <= CERTIFICATE_LINKS_MAX, "too many certificate links");
        Self { finalization: finalization.encode().to_vec(), links }
    }
}

impl Encode for FinalityCertificate {
    fn encode_to(&self, out: &mut Vec<u8>) {
        CERTIFICATE_VERSION.encode_to(out);
        encode_bytes(&self.finalization, out);
        encode_sequence(&self.links, out);
    }
}

impl Decode for FinalityCertificate {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = u8::decode_from(reader)?;
        if version != CERTIFICATE_VERSION {
            return Err(DecodeError::InvalidValue { what: "certificate version", value: u64::from(version) });
        }
        Ok(Self {
            finalization: decode_bytes(reader, "finalization", FINALIZATION_BYTES_MAX)?,
            links: decode_sequence(reader, "certificate links", CERTIFICATE_LINKS_MAX)?,
        })
    }
}

/// Checks offline that `certificate` (as passed to `Executor::finalized`) proves `block_digest`
/// final on the chain `chain_id` run by `validators` (their genesis keys; order does not matter).
///
/// Pure apart from drawing randomness for ed25519 batch verification. False for any malformed
/// input, for another digest or chain, and for fewer than a quorum of distinct validator
/// signatures.
pub fn verify_finalization(
    chain_id: &Hash,
    validators: &[PublicKey],
    block_digest: &Hash,
    certificate: &[u8],
) -> bool {
    let Ok(certificate) = FinalityCertificate::decode(certificate) else {
        return false;
    };
    let Some(participants) = participants(validators) else {
        return false;
    };
    let participant_count = participants.len();
    let Ok(finalization) = Finalization::decode_cfg(Copying(&certificate.finalization), &participant_count)
    else {
        return false;
    };

    // Walk the links from the finalized payload down to the block.
    let mut expected = finalization.proposal.payload;
    for link in &certificate.links {
        if to_digest(&link.digest()) != expected {
            return false;
        }
        expected = to_digest(&link.parent);
    }
    if expected != to_digest(block_digest) {
        return false;
    }

    let verifier = Scheme::verifier(&namespace(chain_id), participants);
    debug_assert!(verifier.me().is_none());
    finalization.verify(&mut commonware_utils::sys_rng(), &verifier, &Sequential)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_rejected() {
        let validators = [PublicKey([0; 32])];
        assert!(!verify_finalization(&Hash([1; 32]), &validators, &Hash([2; 32]), &[]));
        assert!(!verify_finalization(&Hash([1; 32]), &validators, &Hash([2; 32]), &[1, 0, 0]));
        assert!(!verify_finalization(&Hash([1; 32]), &[], &Hash([2; 32]), &[1, 2, 3, 4, 5]));
    }

    #[test]
    fn hansa_and_commonware_derive_the_same_key_from_a_seed() {
        use commonware_cryptography::Signer as _;
        for seed in [[1u8; 32], [0xfe; 32]] {
            let hansa = hansa_types::SecretKey::from_seed(seed).public_key();
            let commonware = keys::PrivateKey::decode(Copying(&seed[..])).expect("seed").public_key();
            assert_eq!(&hansa.0[..], commonware.as_ref());
            assert_eq!(consensus_keys(&[hansa]), Some(vec![commonware]));
        }
    }

    #[test]
    fn participants_reject_duplicates_and_empty_sets() {
        let key = hansa_types::SecretKey::from_seed([3; 32]).public_key();
        assert!(participants(&[]).is_none());
        assert!(participants(&[key, key]).is_none());
        assert_eq!(participants(&[key]).map(|set| set.len()), Some(1));
    }

    #[test]
    fn namespaces_differ_per_chain() {
        assert_ne!(namespace(&Hash([1; 32])), namespace(&Hash([2; 32])));
    }

    #[test]
    fn encoding_round_trips() {
        let certificate = FinalityCertificate { finalization: vec![1, 2, 3], links: vec![] };
        let bytes = certificate.encode();
        assert_eq!(bytes[0], CERTIFICATE_VERSION);
        assert_eq!(FinalityCertificate::decode(&bytes), Ok(certificate));
    }
}
