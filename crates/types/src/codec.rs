//! Canonical binary encoding.
//!
//! Specification: every value has exactly one encoding. Integers are fixed-width little-endian.
//! `bool` is one byte, 0 or 1. A sequence is a `u32` little-endian element count followed by
//! the elements; every decoder is given a maximum count and rejects a larger one before it
//! allocates. Decoding a whole message rejects trailing bytes. Hashes and signatures are
//! computed over these bytes, so a change here is a change of every golden vector.

use thiserror::Error;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("input ended early: needed {needed} more bytes")]
    EndOfInput { needed: usize },
    #[error("{what}: length {length} is over the maximum {maximum}")]
    TooLong { what: &'static str, length: usize, maximum: usize },
    #[error("{what}: invalid value {value}")]
    InvalidValue { what: &'static str, value: u64 },
    #[error("{remaining} trailing bytes after the message")]
    TrailingBytes { remaining: usize },
}

/// A value with a canonical encoding.
pub trait Encode {
    fn encode_to(&self, out: &mut Vec<u8>);

    /// Bytes to reserve for the encoding: a type that knows its length spares [`Encode::encode`]
    /// growing its buffer step by step (five reallocations for a transfer).
    fn encoded_len_hint(&self) -> usize {
        0
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        self.encode_to(&mut out);
        out
    }
}

/// A value that can be read back from its canonical encoding.
pub trait Decode: Sized {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a whole message: trailing bytes are an error.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode_from(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

/// A cursor over input bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < count {
            return Err(DecodeError::EndOfInput { needed: count - self.bytes.len() });
        }
        let (head, tail) = self.bytes.split_at(count);
        self.bytes = tail;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// Reads a sequence length and checks it against `maximum` before anything is allocated.
    pub fn length(&mut self, what: &'static str, maximum: usize) -> Result<usize, DecodeError> {
        let length = u32::decode_from(self)? as usize;
        if length > maximum {
            return Err(DecodeError::TooLong { what, length, maximum });
        }
        Ok(length)
    }

    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { remaining: self.bytes.len() })
        }
    }
}

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
        impl Decode for $t {
            fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(reader.array()?))
            }
        }
    )*};
}
integer!(u8, u16, u32, u64, u128);

impl Encode for bool {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode_from(reader)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::InvalidValue { what: "bool", value: u64::from(other) }),
        }
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.array()
    }
}

/// A tuple encodes its elements in order.
macro_rules! tuple {
    ($($name:ident),+) => {
        impl<$($name: Encode),+> Encode for ($($name,)+) {
            #[allow(non_snake_case)]
            fn encode_to(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode_to(out);)+
            }
        }
        impl<$($name: Decode),+> Decode for ($($name,)+) {
            fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(($($name::decode_from(reader)?,)+))
            }
        }
    };
}
tuple!(A, B);
tuple!(A, B, C);

/// Encodes a sequence: a `u32` count, then the elements.
pub fn encode_sequence<T: Encode>(items: &[T], out: &mut Vec<u8>) {
    let count = u32::try_from(items.len()).expect("sequences are bounded far below u32::MAX");
    count.encode_to(out);
    for item in items {
        item.encode_to(out);
    }
}

/// Decodes a sequence of at most `maximum` elements.
pub fn decode_sequence<T: Decode>(
    reader: &mut Reader<'_>,
    what: &'static str,
    maximum: usize,
) -> Result<Vec<T>, DecodeError> {
    let length = reader.length(what, maximum)?;
    // Each element takes at least one byte, so a length past the input is rejected before
    // allocation: a forged count cannot make the decoder reserve more than the input's size.
    if length > reader.remaining() {
        return Err(DecodeError::EndOfInput { needed: length - reader.remaining() });
    }
    let mut items = Vec::with_capacity(length);
    for _ in 0..length {
        items.push(T::decode_from(reader)?);
    }
    Ok(items)
}

/// Encodes a byte string: a `u32` length, then the bytes.
pub fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    let count = u32::try_from(bytes.len()).expect("byte strings are bounded far below u32::MAX");
    count.encode_to(out);
    out.extend_from_slice(bytes);
}

/// Decodes a byte string of at most `maximum` bytes.
pub fn decode_bytes(
    reader: &mut Reader<'_>,
    what: &'static str,
    maximum: usize,
) -> Result<Vec<u8>, DecodeError> {
    let length = reader.length(what, maximum)?;
    Ok(reader.take(length)?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_little_endian() {
        assert_eq!(0x0102_0304u32.encode(), vec![4, 3, 2, 1]);
        assert_eq!(u32::decode(&[4, 3, 2, 1]), Ok(0x0102_0304));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        assert_eq!(u16::decode(&[1, 2, 3]), Err(DecodeError::TrailingBytes { remaining: 1 }));
    }

    #[test]
    fn bool_rejects_other_bytes() {
        assert!(bool::decode(&[2]).is_err());
        assert_eq!(bool::decode(&[1]), Ok(true));
    }

    #[test]
    fn sequence_length_is_bounded_before_allocation() {
        let mut bytes = Vec::new();
        u32::MAX.encode_to(&mut bytes);
        let mut reader = Reader::new(&bytes);
        let result = decode_sequence::<u64>(&mut reader, "items", 10);
        assert!(matches!(result, Err(DecodeError::TooLong { .. })));
        let mut reader = Reader::new(&bytes);
        let result = decode_sequence::<u8>(&mut reader, "items", usize::MAX);
        assert!(matches!(result, Err(DecodeError::EndOfInput { .. })));
    }
}
