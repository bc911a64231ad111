//! The ledger module's own records (accounts and transfers are `hansa_types` records, since
//! clients read them too). Each encoding is canonical; golden vectors pin them.

use hansa_types::codec::{Decode, DecodeError, Encode, Reader, decode_sequence, encode_sequence};
use hansa_types::{PendingStatus, ResultCode};

/// An open hold: a pending transfer not yet posted, voided or expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// Consensus time (ns) at which it expires; 0 for never.
    pub expires_at: u64,
}

impl Encode for Hold {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.expires_at.encode_to(out);
    }
}

impl Decode for Hold {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Hold { expires_at: Decode::decode_from(reader)? })
    }
}

/// How a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    /// `Posted`, `Voided` or `Expired`.
    pub status: PendingStatus,
    /// The id of the transfer that posted or voided it; 0 when it expired.
    pub transfer_id: u128,
    /// When it ended (ns of consensus time).
    pub timestamp: u64,
}

impl Encode for Resolution {
    fn encode_to(&self, out: &mut Vec<u8>) {
        (self.status as u8).encode_to(out);
        self.transfer_id.encode_to(out);
        self.timestamp.encode_to(out);
    }
}

impl Decode for Resolution {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let value = u8::decode_from(reader)?;
        let status = match PendingStatus::from_u8(value) {
            Some(status @ (PendingStatus::Posted | PendingStatus::Voided | PendingStatus::Expired)) => status,
            _ => {
                return Err(DecodeError::InvalidValue { what: "resolution status", value: u64::from(value) });
            }
        };
        Ok(Resolution {
            status,
            transfer_id: Decode::decode_from(reader)?,
            timestamp: Decode::decode_from(reader)?,
        })
    }
}

/// A transfer id whose attempt failed with a transient error: the id is refused for good
/// (`id_already_failed`). Written once, outside the linked chain's undo, so it outlives the
/// chain's rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedTransfer {
    /// The transient code the attempt got.
    pub result: ResultCode,
    /// When (ns of consensus time).
    pub timestamp: u64,
}

impl Encode for FailedTransfer {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.result.encode_to(out);
        self.timestamp.encode_to(out);
    }
}

impl Decode for FailedTransfer {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let result = ResultCode::decode_from(reader)?;
        if !result.is_transient() {
            return Err(DecodeError::InvalidValue {
                what: "failed transfer result",
                value: u64::from(result as u32),
            });
        }
        Ok(FailedTransfer { result, timestamp: Decode::decode_from(reader)? })
    }
}

/// The most holds one second of consensus time can expire: two blocks' worth of operations.
pub const BUCKET_ENTRIES_MAX: usize = 2 * hansa_types::block::OPERATIONS_PER_BLOCK_MAX;
/// The most distinct seconds with open holds that expire.
pub const DIRECTORY_ENTRIES_MAX: usize = 1 << 22;

/// The open holds that expire within one second of consensus time, as
/// (expires_at ns, creation timestamp ns, transfer id), sorted: holds expire in that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiryBucket(pub Vec<(u64, u64, u128)>);

impl Encode for ExpiryBucket {
    fn encode_to(&self, out: &mut Vec<u8>) {
        encode_sequence(&self.0, out);
    }
}

impl Decode for ExpiryBucket {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ExpiryBucket(decode_sequence(reader, "expiry bucket", BUCKET_ENTRIES_MAX)?))
    }
}

/// The seconds of consensus time that have an expiry bucket, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiryDirectory(pub Vec<u64>);

impl Encode for ExpiryDirectory {
    fn encode_to(&self, out: &mut Vec<u8>) {
        encode_sequence(&self.0, out);
    }
}

impl Decode for ExpiryDirectory {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ExpiryDirectory(decode_sequence(reader, "expiry directory", DIRECTORY_ENTRIES_MAX)?))
    }
}
