//! Replay protection: each key's batch sequence numbers are accepted once.
//!
//! Every key (an organisation's root key, and each delegated key it registered) numbers its own
//! batches, so two signers of one organisation never refuse each other's numbers. A key may
//! have many batches in flight through several validators, so sequence numbers need not arrive
//! in order: any number above `highest - SEQUENCE_WINDOW` that was not seen before is fresh.
//! Numbers at or below the window's floor are refused, so the state stays bounded per key: one
//! record of 8 KiB.
//!
//! Specification of the record (table `envelope.sequences`, id = `key << 32 | organisation`,
//! so a root key's window has id = organisation id): `highest`
//! as u64 (0 before the first batch), then the window as 1,024 u64 words, where bit
//! `s % 65,536` of the window is set when number `s` in `(highest - 65,536, highest]` was seen.

use hansa_types::codec::{Decode, DecodeError, Encode, Reader};
use hansa_types::{OrgId, Table};

/// How far below the highest sequence number a late batch is still accepted.
pub const SEQUENCE_WINDOW: u64 = 65_536;
const WORDS: usize = (SEQUENCE_WINDOW / 64) as usize;

/// The table of sequence windows, one record per key that has signed a batch.
pub const SEQUENCES: Table = Table::current(0x0001, "envelope.sequences");

/// The state key of the window of key `key` of `org`.
pub fn sequence_key(org: OrgId, key: u32) -> hansa_types::StateKey {
    SEQUENCES.key(crate::modules::keys::signer_id(org, key))
}

#[derive(Clone, PartialEq, Eq)]
pub struct SequenceWindow {
    /// Highest number accepted; meaningful only when `seen_any`.
    highest: u64,
    seen_any: bool,
    bits: Box<[u64; WORDS]>,
}

impl Default for SequenceWindow {
    fn default() -> Self {
        SequenceWindow { highest: 0, seen_any: false, bits: Box::new([0; WORDS]) }
    }
}

impl std::fmt::Debug for SequenceWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seen: u32 = self.bits.iter().map(|word| word.count_ones()).sum();
        write!(f, "SequenceWindow {{ highest: {:?}, seen: {seen} }}", self.seen_any.then_some(self.highest))
    }
}

fn slot(sequence: u64) -> (usize, u64) {
    let bit = sequence % SEQUENCE_WINDOW;
    ((bit / 64) as usize, 1u64 << (bit % 64))
}

impl SequenceWindow {
    fn floor(&self) -> Option<u64> {
        if !self.seen_any {
            return None;
        }
        self.highest.checked_sub(SEQUENCE_WINDOW)
    }

    pub fn highest(&self) -> Option<u64> {
        self.seen_any.then_some(self.highest)
    }

    pub fn is_fresh(&self, sequence: u64) -> bool {
        if self.floor().is_some_and(|floor| sequence <= floor) {
            return false;
        }
        if self.seen_any && sequence > self.highest {
            return true;
        }
        let (word, mask) = slot(sequence);
        self.bits[word] & mask == 0
    }

    pub fn accept(&mut self, sequence: u64) {
        assert!(self.is_fresh(sequence), "accept a sequence number only once");
        if !self.seen_any {
            self.seen_any = true;
            self.highest = sequence;
        } else if sequence > self.highest {
            // Numbers leaving the window free their bits for the numbers entering it.
            let step = sequence - self.highest;
            if step >= SEQUENCE_WINDOW {
                self.bits.fill(0);
            } else {
                for leaving in self.highest + 1..=sequence {
                    let (word, mask) = slot(leaving);
                    self.bits[word] &= !mask;
                }
            }
            self.highest = sequence;
        }
        let (word, mask) = slot(sequence);
        self.bits[word] |= mask;
        assert!(!self.is_fresh(sequence), "an accepted number is no longer fresh");
    }
}

impl Encode for SequenceWindow {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.reserve(9 + WORDS * 8);
        self.seen_any.encode_to(out);
        self.highest.encode_to(out);
        for word in self.bits.iter() {
            word.encode_to(out);
        }
    }
}

impl Decode for SequenceWindow {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let seen_any = bool::decode_from(reader)?;
        let highest = u64::decode_from(reader)?;
        let mut bits = Box::new([0u64; WORDS]);
        for word in bits.iter_mut() {
            *word = u64::decode_from(reader)?;
        }
        Ok(SequenceWindow { highest, seen_any, bits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_number_is_accepted_once_and_old_ones_never() {
        let mut window = SequenceWindow::default();
        assert!(window.is_fresh(0));
        window.accept(5);
        assert!(!window.is_fresh(5));
        assert!(window.is_fresh(3), "late but within the window");
        window.accept(3);
        window.accept(SEQUENCE_WINDOW + 10);
        assert!(!window.is_fresh(9), "at or below the floor");
        assert!(window.is_fresh(11), "above the floor, never seen");
        assert!(!window.is_fresh(SEQUENCE_WINDOW + 10));
        // 5 + 65,536 shares 5's bit: the bit was freed when 5 left the window.
        assert!(window.is_fresh(SEQUENCE_WINDOW + 5));
        window.accept(3 * SEQUENCE_WINDOW);
        assert!(window.is_fresh(3 * SEQUENCE_WINDOW - 1));
        assert!(!window.is_fresh(2 * SEQUENCE_WINDOW));
    }

    #[test]
    fn matches_a_set_of_seen_numbers() {
        use std::collections::BTreeSet;
        let mut window = SequenceWindow::default();
        let mut seen = BTreeSet::new();
        let mut highest: Option<u64> = None;
        let mut state = 7u64;
        for _ in 0..20_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let base = highest.unwrap_or(0);
            let sequence = (base + (state >> 33) % 1_000).saturating_sub((state >> 20) % 70_000);
            let floor = highest.and_then(|highest| highest.checked_sub(SEQUENCE_WINDOW));
            let fresh = floor.is_none_or(|floor| sequence > floor) && !seen.contains(&sequence);
            assert_eq!(window.is_fresh(sequence), fresh, "sequence {sequence}");
            if fresh {
                window.accept(sequence);
                seen.insert(sequence);
                highest = Some(highest.map_or(sequence, |highest| highest.max(sequence)));
            }
        }
        let decoded = SequenceWindow::decode(&window.encode()).expect("round trip");
        assert_eq!(decoded, window);
    }
}
