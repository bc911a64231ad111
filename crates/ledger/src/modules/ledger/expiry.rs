//! Holds that time out: released by consensus time at the start of the first block whose
//! time reaches their expiry.
//!
//! Open holds with a timeout are filed in buckets, one per second of consensus time, and a
//! directory lists the seconds that have a bucket, so a block reads one directory record and
//! the buckets that are due, never a scan of every hold. A hold posted or voided before its
//! time stays in its bucket and is skipped when the bucket comes due.

use super::records::{BUCKET_ENTRIES_MAX, DIRECTORY_ENTRIES_MAX};
use super::transfers::{reopen, sub};
use super::{
    ACCOUNTS, EXPIRY_BUCKETS, EXPIRY_DIRECTORY, ExpiryBucket, ExpiryDirectory, HOLDS, Hold, NANOS_PER_S,
    RESOLUTIONS, Resolution, TRANSFERS,
};
use crate::working::{Prefetched, Working};
use hansa_types::{Account, Decode, PendingStatus, StateKey, Transfer};

fn directory_key() -> StateKey {
    EXPIRY_DIRECTORY.key(0)
}

fn bucket_key(second: u64) -> StateKey {
    EXPIRY_BUCKETS.key(u128::from(second))
}

/// The records that filing a hold expiring at `expires_at` touches.
pub(crate) fn schedule_reads(expires_at: u64, out: &mut Vec<StateKey>) {
    out.push(directory_key());
    out.push(bucket_key(expires_at / NANOS_PER_S));
}

/// Files the open hold `id` (created at `created`) to expire at `expires_at`.
pub(crate) fn schedule(state: &mut Working<'_>, expires_at: u64, created: u64, id: u128) {
    let second = expires_at / NANOS_PER_S;
    let mut bucket: ExpiryBucket = state.get(bucket_key(second)).unwrap_or_default();
    if bucket.0.is_empty() {
        let mut directory: ExpiryDirectory = state.get(directory_key()).unwrap_or_default();
        let at = directory.0.partition_point(|known| *known < second);
        assert!(directory.0.get(at) != Some(&second), "a second with no bucket is not listed");
        directory.0.insert(at, second);
        assert!(directory.0.len() <= DIRECTORY_ENTRIES_MAX, "expiry directory within its bound");
        state.put(directory_key(), directory);
    }
    let entry = (expires_at, created, id);
    let at = bucket.0.partition_point(|known| *known < entry);
    bucket.0.insert(at, entry);
    assert!(bucket.0.len() <= BUCKET_ENTRIES_MAX, "expiry bucket within its bound");
    state.put(bucket_key(second), bucket);
}

/// The records that expiring the holds due at `now` (ns) reads, given what is known so far;
/// true if some depend on records not known yet.
pub(crate) fn expiry_reads(now: u64, known: &Prefetched, out: &mut Vec<StateKey>) -> bool {
    out.push(directory_key());
    if !known.contains(&directory_key()) {
        return true;
    }
    let Some(directory) = known.decode::<ExpiryDirectory>(&directory_key()) else {
        return false;
    };
    let mut more = false;
    for second in directory.0.iter().take_while(|second| **second <= now / NANOS_PER_S) {
        out.push(bucket_key(*second));
        let Some(Some(bucket)) = known.get(&bucket_key(*second)) else {
            more = true;
            continue;
        };
        let bucket = ExpiryBucket::decode(bucket).expect("buckets decode");
        for (_, _, id) in bucket.0.iter().take_while(|(expires_at, _, _)| *expires_at <= now) {
            out.push(HOLDS.key(*id));
            out.push(TRANSFERS.key(*id));
            out.push(RESOLUTIONS.key(*id));
            match known.get(&TRANSFERS.key(*id)) {
                None => more = true,
                Some(None) => {}
                Some(Some(bytes)) => {
                    let hold = Transfer::decode(bytes).expect("transfers decode");
                    out.push(ACCOUNTS.key(hold.debit_account_id));
                    out.push(ACCOUNTS.key(hold.credit_account_id));
                }
            }
        }
    }
    more
}

/// Releases every open hold whose expiry is at or before `now` (ns of consensus time).
pub(crate) fn expire_holds(state: &mut Working<'_>, now: u64) {
    let Some(mut directory) = state.get::<ExpiryDirectory>(directory_key()) else {
        return;
    };
    let due = directory.0.partition_point(|second| *second <= now / NANOS_PER_S);
    let mut emptied = 0;
    for &second in &directory.0[..due] {
        let mut bucket: ExpiryBucket = state.get(bucket_key(second)).expect("a listed second has a bucket");
        let expired = bucket.0.partition_point(|(expires_at, _, _)| *expires_at <= now);
        for (expires_at, _, id) in bucket.0.drain(..expired) {
            expire(state, id, expires_at);
        }
        if bucket.0.is_empty() {
            state.delete(bucket_key(second));
            emptied += 1;
        } else {
            // Only the last due second can keep holds (those due later within that second).
            state.put(bucket_key(second), bucket);
        }
    }
    if emptied > 0 {
        directory.0.drain(..emptied);
        if directory.0.is_empty() {
            state.delete(directory_key());
        } else {
            state.put(directory_key(), directory);
        }
    }
}

fn expire(state: &mut Working<'_>, id: u128, expires_at: u64) {
    let Some(open) = state.get::<Hold>(HOLDS.key(id)) else {
        return; // Posted or voided before its time.
    };
    assert_eq!(open.expires_at, expires_at, "a hold is filed under its own expiry");
    let hold: Transfer = state.get(TRANSFERS.key(id)).expect("an open hold has its transfer");
    let mut debit: Account = state.get(ACCOUNTS.key(hold.debit_account_id)).expect("a hold's accounts exist");
    let mut credit: Account =
        state.get(ACCOUNTS.key(hold.credit_account_id)).expect("a hold's accounts exist");
    debit.debits_pending = sub(debit.debits_pending, hold.amount);
    credit.credits_pending = sub(credit.credits_pending, hold.amount);
    reopen(&mut debit, &mut credit, &hold);
    super::put_account(state, &debit, expires_at);
    super::put_account(state, &credit, expires_at);
    state.delete(HOLDS.key(id));
    let resolution = Resolution { status: PendingStatus::Expired, transfer_id: 0, timestamp: expires_at };
    state.append(RESOLUTIONS.key(id), resolution);
}
