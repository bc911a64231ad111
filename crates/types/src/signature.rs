//! Signature verification: one at a time, or many at once.
//!
//! Specification. Hansa signatures are ed25519 signatures (RFC 8032) over the message bytes;
//! signing is standard. Verification follows ZIP-215
//! (<https://zips.z.cash/zip-0215>): `s` must be canonical, `A` and `R` may be any encodings
//! that decode to curve points, and the check is the cofactored equation
//! `[8][s]B = [8]R + [8][k]A`. Every signature that a strict RFC 8032 verifier accepts is
//! accepted here. What ZIP-215 adds is agreement: verifying many signatures at once gives the
//! same answer as verifying each, for every input, which a consensus rule needs (otherwise a
//! crafted signature could be valid on one validator and invalid on another).
//!
//! Batch verification checks one random linear combination of the equations. Its coefficients
//! come from a hash of every (key, signature, message) in the batch, not from an entropy
//! source, so the ledger stays free of randomness; since the signatures are fixed before the
//! coefficients are known, a forger still has to beat a 2^-128 chance per attempt.

use crate::hash::{Hash, hash_parts};
use crate::vocabulary::{PublicKey, Signature};

/// Domain of the hash that seeds batch verification's coefficients.
const BATCH_SEED_DOMAIN: &str = "hansa/signature-batch-seed/v1";
/// Domain of the coefficient stream drawn from that seed.
const BATCH_STREAM_DOMAIN: &str = "hansa/signature-batch-stream/v1";

/// A public key decompressed once, to verify many signatures with.
#[derive(Clone, Copy, Debug)]
pub struct VerifyingKey(ed25519_consensus::VerificationKey);

impl VerifyingKey {
    /// Whether `signature` signs `message` under this key (ZIP-215 rules).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        self.0.verify(&ed25519_consensus::Signature::from(signature.0), message).is_ok()
    }
}

impl PublicKey {
    /// The key ready for verification, or `None` if its bytes are not a curve point.
    pub fn prepare(&self) -> Option<VerifyingKey> {
        ed25519_consensus::VerificationKey::try_from(self.0).ok().map(VerifyingKey)
    }

    /// Whether `signature` signs `message` under this key (ZIP-215 rules; see the module).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        self.prepare().is_some_and(|key| key.verify(message, signature))
    }
}

/// One signature to check: the signer's key, the message and the signature.
#[derive(Clone, Copy, Debug)]
pub struct SignatureCheck<'a> {
    pub key: &'a PublicKey,
    pub message: &'a [u8],
    pub signature: &'a Signature,
}

/// Whether every signature in `checks` is valid: the same answer as verifying each with
/// [`PublicKey::verify`], several times faster when many share a key. `true` when empty.
pub fn verify_all(checks: &[SignatureCheck<'_>]) -> bool {
    match checks {
        [] => true,
        [one] => one.key.verify(one.message, one.signature),
        _ => {
            let mut seed_parts: Vec<&[u8]> = Vec::with_capacity(checks.len() * 4);
            let lengths: Vec<[u8; 8]> =
                checks.iter().map(|check| (check.message.len() as u64).to_le_bytes()).collect();
            for (check, length) in checks.iter().zip(&lengths) {
                seed_parts.extend([&check.key.0[..], &check.signature.0[..], &length[..], check.message]);
            }
            let mut coefficients = HashStream::new(hash_parts(BATCH_SEED_DOMAIN, &seed_parts));
            let mut verifier = ed25519_consensus::batch::Verifier::new();
            for check in checks {
                let key = ed25519_consensus::VerificationKeyBytes::from(check.key.0);
                let signature = ed25519_consensus::Signature::from(check.signature.0);
                verifier.queue((key, signature, check.message));
            }
            verifier.verify(&mut coefficients).is_ok()
        }
    }
}

/// A deterministic byte stream: `SHA-256(domain, seed, counter)` for counter 0, 1, 2, ...
struct HashStream {
    seed: Hash,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl HashStream {
    fn new(seed: Hash) -> HashStream {
        HashStream { seed, counter: 0, block: [0; 32], used: 32 }
    }
}

impl rand_core_06::RngCore for HashStream {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, destination: &mut [u8]) {
        for byte in destination {
            if self.used == self.block.len() {
                let counter = self.counter.to_le_bytes();
                self.block = hash_parts(BATCH_STREAM_DOMAIN, &[&self.seed.0, &counter]).0;
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }

    fn try_fill_bytes(&mut self, destination: &mut [u8]) -> Result<(), rand_core_06::Error> {
        self.fill_bytes(destination);
        Ok(())
    }
}

/// The stream is unpredictable before the batch is fixed, which is what the batch check needs.
impl rand_core_06::CryptoRng for HashStream {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::SecretKey;

    fn signed(count: usize) -> (Vec<PublicKey>, Vec<Vec<u8>>, Vec<Signature>) {
        let keys: Vec<SecretKey> = (0..3u8).map(|seed| SecretKey::from_seed([seed + 1; 32])).collect();
        let messages: Vec<Vec<u8>> =
            (0..count).map(|index| format!("message {index}").into_bytes()).collect();
        let signatures = messages.iter().enumerate().map(|(i, m)| keys[i % 3].sign(m)).collect();
        let publics = (0..count).map(|i| keys[i % 3].public_key()).collect();
        (publics, messages, signatures)
    }

    fn checks<'a>(
        keys: &'a [PublicKey],
        messages: &'a [Vec<u8>],
        signatures: &'a [Signature],
    ) -> Vec<SignatureCheck<'a>> {
        keys.iter()
            .zip(messages)
            .zip(signatures)
            .map(|((key, message), signature)| SignatureCheck { key, message, signature })
            .collect()
    }

    #[test]
    fn a_batch_agrees_with_verifying_one_by_one() {
        let (keys, messages, mut signatures) = signed(50);
        assert!(verify_all(&checks(&keys, &messages, &signatures)));
        assert!(verify_all(&[]));
        // One flipped bit anywhere fails the whole batch, as it fails its own check.
        for index in [0, 17, 49] {
            signatures[index].0[5] ^= 1;
            assert!(!keys[index].verify(&messages[index], &signatures[index]));
            assert!(!verify_all(&checks(&keys, &messages, &signatures)));
            signatures[index].0[5] ^= 1;
        }
        // A valid signature under the wrong key, or over another message, fails too.
        let mut swapped = messages.clone();
        swapped.swap(3, 4);
        assert!(!verify_all(&checks(&keys, &swapped, &signatures)));
    }

    #[test]
    fn a_non_canonical_s_is_rejected_alone_and_in_a_batch() {
        let (keys, messages, mut signatures) = signed(4);
        // s + l, where l is the group order: the same point equation, but not canonical.
        let order: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (byte, add) in signatures[2].0[32..].iter_mut().zip(order) {
            let sum = u16::from(*byte) + u16::from(add) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert!(!keys[2].verify(&messages[2], &signatures[2]));
        assert!(!verify_all(&checks(&keys, &messages, &signatures)));
    }

    #[test]
    fn a_key_that_is_not_a_point_verifies_nothing() {
        // y = 2 has no x on the curve.
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        let key = PublicKey(bytes);
        assert!(key.prepare().is_none());
        assert!(!key.verify(b"m", &Signature([0; 64])));
    }
}
