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
//! inverse, refusing anything [`pack`] would not have produced.

/// Why packed bytes do not unpack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("packed record: {0}")]
pub struct PackError(&'static str);

/// Groups a tag run can cover.
const RUN_MAX: usize = 255;

fn zeros_in(group: &[u8]) -> usize {
    group.iter().filter(|byte| **byte == 0).count()
}

/// Packs `value`.
pub fn pack(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() / 2 + 16);
    let mut length = value.len() as u64;
    loop {
        let byte = (length & 0x7F) as u8;
        length >>= 7;
        if length == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    let full = value.len() / 8;
    let mut group = 0;
    while group < full {
        let bytes = &value[group * 8..group * 8 + 8];
        let word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        group += 1;
        if word == 0 {
            let run = (group..full)
                .take(RUN_MAX)
                .take_while(|next| value[next * 8..next * 8 + 8].iter().all(|byte| *byte == 0));
            let count = run.count();
            out.extend_from_slice(&[0x00, count as u8]);
            group += count;
            continue;
        }
        let tag = bytes.iter().enumerate().fold(0u8, |tag, (bit, byte)| tag | (u8::from(*byte != 0) << bit));
        out.push(tag);
        if tag == 0xFF {
            out.extend_from_slice(bytes);
            let count = (group..full)
                .take(RUN_MAX)
                .take_while(|next| zeros_in(&value[next * 8..next * 8 + 8]) <= 1)
                .count();
            out.push(count as u8);
            out.extend_from_slice(&value[group * 8..(group + count) * 8]);
            group += count;
        } else {
            out.extend(bytes.iter().filter(|byte| **byte != 0));
        }
    }
    let tail = &value[full * 8..];
    if !tail.is_empty() {
        let tag = tail.iter().enumerate().fold(0u8, |tag, (bit, byte)| tag | (u8::from(*byte != 0) << bit));
        out.push(tag);
        out.extend(tail.iter().filter(|byte| **byte != 0));
    }
    out
}

/// Unpacks what [`pack`] produced; `max` bounds the unpacked length (the bytes are read from
/// disk or from a peer).
pub fn unpack(packed: &[u8], max: usize) -> Result<Vec<u8>, PackError> {
    let mut input = packed.iter().copied();
    let mut next = |what: &'static str| input.next().ok_or(PackError(what));
    // At most 5 varint bytes: 35 bits, more than any record's length.
    let mut length: u64 = 0;
    for shift in [0, 7, 14, 21, 28] {
        let byte = next("the length is cut short")?;
        length |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        if shift == 28 {
            return Err(PackError("the length's varint is too long"));
        }
    }
    let length = usize::try_from(length).ok().filter(|length| *length <= max).ok_or(PackError("too long"))?;
    let mut out = Vec::with_capacity(length);
    let full = length / 8;
    let mut group = 0;
    // One group from a tag: its non-zero bytes.
    let expand = |tag: u8,
                  width: usize,
                  out: &mut Vec<u8>,
                  next: &mut dyn FnMut(&'static str) -> Result<u8, PackError>| {
        for bit in 0..width {
            if tag & (1 << bit) == 0 {
                out.push(0);
            } else {
                let byte = next("a group is cut short")?;
                if byte == 0 {
                    return Err(PackError("a zero byte marked as not zero"));
                }
                out.push(byte);
            }
        }
        Ok(())
    };
    while group < full {
        let tag = next("a tag is missing")?;
        group += 1;
        match tag {
            0x00 => {
                let count = usize::from(next("a zero run's count is missing")?);
                if count > full - group {
                    return Err(PackError("a zero run past the end"));
                }
                out.resize(out.len() + 8 * (1 + count), 0);
                group += count;
            }
            0xFF => {
                for _ in 0..8 {
                    out.push(next("a group is cut short")?);
                }
                let count = usize::from(next("a raw run's count is missing")?);
                if count > full - group {
                    return Err(PackError("a raw run past the end"));
                }
                for _ in 0..8 * count {
                    out.push(next("a raw run is cut short")?);
                }
                group += count;
            }
            tag => expand(tag, 8, &mut out, &mut next)?,
        }
    }
    let tail = length % 8;
    if tail > 0 {
        let tag = next("the last tag is missing")?;
        if tag >> tail != 0 {
            return Err(PackError("the last tag marks bytes past the end"));
        }
        expand(tag, tail, &mut out, &mut next)?;
    }
    if input.next().is_some() {
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
        // A length that never ends.
        assert!(unpack(&[0xFF; 11], usize::MAX).is_err());
    }
}
