//! How a record's bytes are stored: packed, with its zero bytes left out.
//!
//! Records are fixed-width little-endian encodings (a transfer is 128 bytes, an account 128),
//! and most of their bytes are zero: ids, amounts and balances are small numbers in 16-byte
//! fields, and user data, pending ids and timeouts are usually empty. Stored as they are, a
//! transfer took 157 bytes of the log and its two account updates 180 bytes of the records
//! database. Packed, they take about a third, and hashing them into the state roots reads
//! fewer SHA-256 blocks. (A general-purpose compressor per record, zstd at level 1 in the
//! journals, packed them as well but cost 4.5 µs per transfer in the apply step: its
//! per-call setup outweighs the few bytes it sees.)
//!
//! Specification (packing 1), the scheme of Cap'n Proto's packed encoding over 8-byte groups:
//! - the value's length, as an unsigned LEB128 varint;
//! - then the value in groups of 8 bytes, the last one shorter if the length is not a multiple
//!   of 8. Each group is a tag byte whose bit `i` says that byte `i` of the group is not zero,
//!   followed by the group's non-zero bytes in order;
//! - in a full group, tag `0x00` is followed by a count byte `n`: the next `n` groups are zero
//!   as well (and not written);
//! - in a full group, tag `0xFF` is followed by its 8 bytes, then a count byte `n` and the
//!   next `n` groups copied as they are (the packer takes those that have at most one zero
//!   byte, up to 255, where a tag would save nothing).
//!
//! The packed bytes are what the state databases hold and hash: a proof of a record packs its
//! value to recompute the database operation. [`pack`] is deterministic and [`unpack`] its
//! inverse, refusing anything [`pack`] would not have produced (so every value has exactly one
//! packing). A packing is at most 17 bytes per 16 of the value, plus 6 ([`packed_max`]).

/// Why packed bytes do not unpack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("packed record: {0}")]
pub struct PackError(&'static str);

/// The longest packing of a value of `length` bytes: a dense group and its run count (10
/// bytes) then a group with two zero bytes (7) repeat, plus the length varint and a tail tag.
pub const fn packed_max(length: usize) -> usize {
    length + length / 16 + 8
}

/// Groups a tag run can cover.
const RUN_MAX: usize = 255;

/// The group of 8 bytes at `group`, as a little-endian word.
fn word(value: &[u8], group: usize) -> u64 {
    u64::from_le_bytes(value[group * 8..group * 8 + 8].try_into().expect("8 bytes"))
}

/// The tag of a word: bit `i` set when byte `i` is not zero. (Each byte is folded onto its
/// lowest bit, and one multiplication gathers the eight bits into the top byte; no two
/// partial products meet there.)
fn tag_of(word: u64) -> u8 {
    let mut folded = word | (word >> 4);
    folded |= folded >> 2;
    folded |= folded >> 1;
    ((folded & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
}

/// Zero bytes in a word.
fn zeros_in(word: u64) -> u32 {
    8 - tag_of(word).count_ones()
}

/// Appends the non-zero bytes of `word` (little-endian), without a branch per byte.
fn push_present(out: &mut Vec<u8>, word: u64) {
    let mut present = [0u8; 8];
    let mut count = 0;
    for byte in word.to_le_bytes() {
        // `count` is at most the byte's index here, so below 8.
        present[count & 7] = byte;
        count += usize::from(byte != 0);
    }
    out.extend_from_slice(&present[..count]);
}

/// Packs `value`.
pub fn pack(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + value.len() / 8 + 8);
    pack_into(&mut out, value);
    out
}

/// Packs `value` at the end of `out`.
pub fn pack_into(out: &mut Vec<u8>, value: &[u8]) {
    let mut length = value.len() as u64;
    while length >= 0x80 {
        out.push(length as u8 | 0x80);
        length >>= 7;
    }
    out.push(length as u8);
    let full = value.len() / 8;
    let mut group = 0;
    while group < full {
        let current = word(value, group);
        group += 1;
        if current == 0 {
            let mut count = 0;
            while count < RUN_MAX && group + count < full && word(value, group + count) == 0 {
                count += 1;
            }
            out.extend_from_slice(&[0x00, count as u8]);
            group += count;
            continue;
        }
        let tag = tag_of(current);
        out.push(tag);
        if tag == 0xFF {
            out.extend_from_slice(&current.to_le_bytes());
            let mut count = 0;
            while count < RUN_MAX && group + count < full && zeros_in(word(value, group + count)) <= 1 {
                count += 1;
            }
            out.push(count as u8);
            out.extend_from_slice(&value[group * 8..(group + count) * 8]);
            group += count;
        } else {
            push_present(out, current);
        }
    }
    let tail = &value[full * 8..];
    if !tail.is_empty() {
        let mut padded = [0u8; 8];
        padded[..tail.len()].copy_from_slice(tail);
        let last = u64::from_le_bytes(padded);
        out.push(tag_of(last));
        push_present(out, last);
    }
}

/// Reads packed bytes front to back.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Input<'_> {
    /// The next byte, not consumed.
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, PackError> {
        let byte = *self.bytes.get(self.at).ok_or(PackError(what))?;
        self.at += 1;
        Ok(byte)
    }

    fn take(&mut self, count: usize, what: &'static str) -> Result<&[u8], PackError> {
        let end = self.at.checked_add(count).filter(|end| *end <= self.bytes.len()).ok_or(PackError(what))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    /// One group of `width` bytes from its tag: its non-zero bytes.
    fn expand(&mut self, tag: u8, width: usize, out: &mut Vec<u8>) -> Result<(), PackError> {
        let present = self.take(tag.count_ones() as usize, "a group is cut short")?;
        if present.contains(&0) {
            return Err(PackError("a zero byte marked as not zero"));
        }
        // Without a branch per byte: each of the 8 places takes the next present byte, masked
        // to zero where its bit is clear (`next` stays at most 8, within the padding).
        let mut padded = [0u8; 9];
        padded[..present.len()].copy_from_slice(present);
        let mut group = [0u8; 8];
        let mut next = 0;
        for (bit, slot) in group.iter_mut().enumerate() {
            let set = (tag >> bit) & 1;
            *slot = padded[next] & 0u8.wrapping_sub(set);
            next += usize::from(set);
        }
        out.extend_from_slice(&group[..width]);
        Ok(())
    }
}

/// Unpacks what [`pack`] produced; `max` bounds the unpacked length (the bytes are read from
/// disk or from a peer).
pub fn unpack(packed: &[u8], max: usize) -> Result<Vec<u8>, PackError> {
    let mut input = Input { bytes: packed, at: 0 };
    // At most 5 varint bytes: 35 bits, more than any record's length.
    let mut length: u64 = 0;
    for shift in [0, 7, 14, 21, 28] {
        let byte = input.byte("the length is cut short")?;
        length |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            if byte == 0 && shift > 0 {
                return Err(PackError("the length's varint is longer than it needs to be"));
            }
            break;
        }
        if shift == 28 {
            return Err(PackError("the length's varint is too long"));
        }
    }
    let length = usize::try_from(length).ok().filter(|length| *length <= max).ok_or(PackError("too long"))?;
    // A zero run of 2 bytes unpacks to at most 2,048: reserve no more than the input can fill.
    let mut out = Vec::with_capacity(length.min(packed.len().saturating_mul(1024)));
    let full = length / 8;
    let mut group = 0;
    while group < full {
        let tag = input.byte("a tag is missing")?;
        group += 1;
        match tag {
            0x00 => {
                let count = usize::from(input.byte("a zero run's count is missing")?);
                if count > full - group {
                    return Err(PackError("a zero run past the end"));
                }
                out.resize(out.len() + 8 * (1 + count), 0);
                group += count;
                // The packer extends a run as far as it can: a shorter run must end at a group
                // that is not zero.
                if count < RUN_MAX && group < full && input.peek() == Some(0x00) {
                    return Err(PackError("a zero run that stops short"));
                }
            }
            0xFF => {
                let first = input.take(8, "a group is cut short")?;
                if first.contains(&0) {
                    return Err(PackError("a zero byte in a group marked dense"));
                }
                out.extend_from_slice(first);
                let count = usize::from(input.byte("a raw run's count is missing")?);
                if count > full - group {
                    return Err(PackError("a raw run past the end"));
                }
                let run = input.take(8 * count, "a raw run is cut short")?;
                if run.chunks_exact(8).any(|group| zeros_in(word(group, 0)) > 1) {
                    return Err(PackError("a group with two zero bytes in a raw run"));
                }
                out.extend_from_slice(run);
                group += count;
                // A shorter run must end at a group with two zero bytes or more.
                if count < RUN_MAX && group < full && input.peek().is_some_and(|tag| tag.count_ones() >= 7) {
                    return Err(PackError("a raw run that stops short"));
                }
            }
            tag => input.expand(tag, 8, &mut out)?,
        }
    }
    let tail = length % 8;
    if tail > 0 {
        let tag = input.byte("the last tag is missing")?;
        if tag >> tail != 0 {
            return Err(PackError("the last tag marks bytes past the end"));
        }
        input.expand(tag, tail, &mut out)?;
    }
    if input.at != packed.len() {
        return Err(PackError("trailing bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (the state crate has no randomness of its own).
    struct Xorshift(u64);

    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Values of every length up to 300 bytes, with zero bytes from none to all, in runs.
    fn values() -> Vec<Vec<u8>> {
        let mut random = Xorshift(0x9E37_79B9_7F4A_7C15);
        let mut values = vec![Vec::new(), vec![0; 8 * 300], vec![0xAB; 8 * 300]];
        for length in 0..300usize {
            for zero_percent in [0u64, 10, 50, 90, 100] {
                let mut value = Vec::with_capacity(length);
                while value.len() < length {
                    let run = 1 + (random.next() % 24) as usize;
                    let zero = random.next() % 100 < zero_percent;
                    for _ in 0..run.min(length - value.len()) {
                        value.push(if zero { 0 } else { 1 + (random.next() % 255) as u8 });
                    }
                }
                values.push(value);
            }
        }
        values
    }

    #[test]
    fn tags_mark_the_non_zero_bytes() {
        let mut random = Xorshift(7);
        for _ in 0..100_000 {
            // Words with each byte zero half of the time.
            let mask = random.next();
            let word = random.next()
                & (0..8).fold(0u64, |m, i| if mask >> i & 1 == 1 { m | 0xFF << (8 * i) } else { m });
            let expected =
                word.to_le_bytes().iter().enumerate().fold(0u8, |t, (i, b)| t | (u8::from(*b != 0) << i));
            assert_eq!(tag_of(word), expected, "{word:#x}");
        }
        assert_eq!(tag_of(0), 0);
        assert_eq!(tag_of(u64::MAX), 0xFF);
        assert_eq!(tag_of(0x0100_0000_0000_0080), 0b1000_0001);
    }

    #[test]
    fn unpack_inverts_pack() {
        for value in values() {
            let packed = pack(&value);
            assert_eq!(unpack(&packed, value.len()).as_deref(), Ok(value.as_slice()), "{value:?}");
        }
    }

    #[test]
    fn sparse_records_shrink_and_dense_ones_barely_grow() {
        // A transfer as the ledger stores it: small ids and amount, no user data.
        let mut transfer = vec![0u8; 128];
        transfer[0..3].copy_from_slice(&[0x11, 0x22, 0x03]); // id
        transfer[16..18].copy_from_slice(&[0x10, 0x27]); // debit account
        transfer[32..34].copy_from_slice(&[0x20, 0x4E]); // credit account
        transfer[48] = 7; // amount
        transfer[112..120].copy_from_slice(&0x1877_7E5A_11C0_0001u64.to_le_bytes()); // timestamp
        assert!(pack(&transfer).len() <= 40, "{}", pack(&transfer).len());
        let dense: Vec<u8> = (0..8192u32).map(|i| (i % 251 + 1) as u8).collect();
        assert!(pack(&dense).len() <= dense.len() + dense.len() / 128 + 8);
    }

    /// Every packing that unpacks is the one `pack` makes of what it unpacks to: packings
    /// of random values with one byte changed or cut, and random bytes.
    #[test]
    fn every_value_has_one_packing() {
        let mut random = Xorshift(0xD1B5_4A32_D192_ED03);
        let mut accepted = 0;
        let mut check = |candidate: &[u8]| {
            if let Ok(value) = unpack(candidate, 4096) {
                assert_eq!(pack(&value), candidate, "{candidate:?} unpacks to {value:?}");
                assert!(candidate.len() <= packed_max(value.len()));
                accepted += 1;
            }
        };
        for value in values() {
            let packed = pack(&value);
            assert!(packed.len() <= packed_max(value.len()), "{} for {}", packed.len(), value.len());
            for _ in 0..4 {
                let mut changed = packed.clone();
                let at = (random.next() % changed.len() as u64) as usize;
                changed[at] = random.next() as u8;
                check(&changed);
                changed.truncate(at);
                check(&changed);
            }
        }
        // Random bytes after a small length, drawn mostly from the bytes that mean something
        // to the format (zero, 0xFF, small counts), so that many of them unpack.
        for _ in 0..200_000 {
            let mut bytes = vec![(random.next() % 40) as u8];
            for _ in 0..random.next() % 48 {
                bytes.push(match random.next() % 10 {
                    0..=3 => 0,
                    4..=5 => 0xFF,
                    6..=7 => (random.next() % 4) as u8,
                    _ => random.next() as u8,
                });
            }
            check(&bytes);
        }
        assert!(accepted > 100, "only {accepted} candidates unpacked: the check saw too little");
    }

    #[test]
    fn malformed_packings_are_refused() {
        let good = pack(&[1, 0, 2, 0, 0, 0, 0, 0, 3]);
        assert_eq!(unpack(&good, 9), Ok(vec![1, 0, 2, 0, 0, 0, 0, 0, 3]));
        assert!(unpack(&good, 8).is_err(), "longer than allowed");
        for cut in 0..good.len() {
            assert!(unpack(&good[..cut], 9).is_err(), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(unpack(&trailing, 9).is_err());
        // A tag that marks a zero byte as present.
        assert!(unpack(&[1, 0x01, 0x00], 1).is_err());
        // A last tag that marks bytes past the end.
        assert!(unpack(&[1, 0x02, 0x05], 1).is_err());
        // A zero run longer than the value.
        assert!(unpack(&[16, 0x00, 2], 16).is_err());
        // A length that never ends, and one longer than it needs to be.
        assert!(unpack(&[0xFF; 11], 1 << 20).is_err());
        assert!(unpack(&[0x80, 0x00], 16).is_err());
        // A zero run that stops short of the next zero group.
        assert_eq!(unpack(&[16, 0x00, 1], 16), Ok(vec![0; 16]));
        assert!(unpack(&[16, 0x00, 0, 0x00, 0], 16).is_err());
        // A dense group with a zero byte; a raw run holding a group with two zero bytes; a raw
        // run that stops before a group it should have taken.
        assert!(unpack(&[8, 0xFF, 1, 2, 3, 4, 5, 6, 7, 0, 0], 8).is_err());
        let mut two_zeros = vec![16, 0xFF, 1, 2, 3, 4, 5, 6, 7, 8, 1];
        two_zeros.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 0]);
        assert!(unpack(&two_zeros, 16).is_err());
        let stops_short = [16, 0xFF, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xFF, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        assert!(unpack(&stops_short, 16).is_err());
        assert_eq!(pack(&[1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8])[..3], [16, 0xFF, 1]);
    }
}
