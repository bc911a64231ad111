//! Replay protection: each organisation's batch sequence numbers are accepted once.
//!
//! An organisation may have many batches in flight through several validators, so sequence
//! numbers need not arrive in order: any number above `highest - SEQUENCE_WINDOW` that was not
//! seen before is fresh. Numbers at or below the window's floor are refused, so the state
//! stays bounded per organisation.

use hansa_types::codec::Encode;
use hansa_types::{Hash, OrgId, merkle};
use imbl::OrdSet;

/// How far below the highest sequence number a late batch is still accepted.
pub const SEQUENCE_WINDOW: u64 = 65_536;

#[derive(Clone, Debug, Default)]
pub struct SequenceWindow {
    highest: Option<u64>,
    /// Numbers seen above the floor.
    seen: OrdSet<u64>,
}

impl SequenceWindow {
    fn floor(&self) -> Option<u64> {
        self.highest.and_then(|highest| highest.checked_sub(SEQUENCE_WINDOW))
    }

    pub fn is_fresh(&self, sequence: u64) -> bool {
        if self.floor().is_some_and(|floor| sequence <= floor) {
            return false;
        }
        !self.seen.contains(&sequence)
    }

    pub fn accept(&mut self, sequence: u64) {
        assert!(self.is_fresh(sequence), "accept a sequence number only once");
        self.seen.insert(sequence);
        if self.highest.is_none_or(|highest| sequence > highest) {
            self.highest = Some(sequence);
        }
        if let Some(floor) = self.floor() {
            while let Some(lowest) = self.seen.get_min().copied() {
                if lowest > floor {
                    break;
                }
                self.seen.remove(&lowest);
            }
        }
        assert!(self.seen.len() as u64 <= SEQUENCE_WINDOW, "window stays bounded");
    }

    /// The leaf committing this window: organisation, highest number, and the numbers seen.
    pub fn leaf(&self, org: OrgId) -> Hash {
        let mut bytes = Vec::with_capacity(16 + self.seen.len() * 8);
        org.encode_to(&mut bytes);
        self.highest.unwrap_or(0).encode_to(&mut bytes);
        (self.seen.len() as u64).encode_to(&mut bytes);
        for sequence in &self.seen {
            sequence.encode_to(&mut bytes);
        }
        merkle::leaf_hash(&bytes)
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
        assert!(window.is_fresh(11));
        assert!(!window.is_fresh(SEQUENCE_WINDOW + 10));
    }
}
