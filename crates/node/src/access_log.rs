//! The access log: every read an auditor makes of another organisation's data, recorded before
//! the data is answered, where that organisation lists it (`GET /v1/access-log`).
//!
//! A validator keeps the log of the reads it answered, in its data folder (`access-log.redb`):
//! an organisation that wants every auditor read asks each validator. An entry that cannot be
//! written fails the read (503), so no auditor read goes unrecorded. Each organisation keeps its
//! newest [`ACCESS_ENTRIES_PER_ORG_MAX`] entries: the oldest is dropped as each new one is added,
//! so the log's size has a bound.

use hansa_types::OrgId;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Entries each organisation keeps.
pub const ACCESS_ENTRIES_PER_ORG_MAX: u64 = 1_000_000;

/// (organisation whose data was read, sequence) -> the entry as JSON.
const ENTRIES: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("entries");
/// Organisation -> the sequence its next entry takes.
const NEXT: TableDefinition<u32, u64> = TableDefinition::new("next");

/// One recorded read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessEntry {
    /// Numbers the organisation's entries at this validator, from 0.
    pub sequence: u64,
    /// When the read was answered (the validator's clock, Unix ms).
    pub time_ms: u64,
    /// The organisation that read.
    pub reader: OrgId,
    /// What it read: the route, such as `GET /v1/accounts/2001`.
    pub what: String,
}

#[derive(Debug, thiserror::Error)]
#[error("access log: {0}")]
pub struct AccessLogError(String);

fn error(error: impl std::fmt::Display) -> AccessLogError {
    AccessLogError(error.to_string())
}

/// The log, in a redb database of its own.
pub struct AccessLog {
    db: Database,
}

impl AccessLog {
    pub fn open(path: &Path) -> Result<AccessLog, AccessLogError> {
        Ok(AccessLog { db: Database::create(path).map_err(error)? })
    }

    /// A log in memory (tests).
    #[cfg(test)]
    pub fn in_memory() -> Result<AccessLog, AccessLogError> {
        let db =
            Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).map_err(error)?;
        Ok(AccessLog { db })
    }

    /// Records that `reader` read `what`, which belongs to each of `owners` (the reader's own
    /// organisation among them is skipped), durably, before the read is answered.
    pub fn record(
        &self,
        owners: &[OrgId],
        reader: OrgId,
        what: &str,
        time_ms: u64,
    ) -> Result<(), AccessLogError> {
        let mut owners: Vec<OrgId> = owners.iter().copied().filter(|owner| *owner != reader).collect();
        owners.sort();
        owners.dedup();
        if owners.is_empty() {
            return Ok(());
        }
        let write = self.db.begin_write().map_err(error)?;
        {
            let mut entries = write.open_table(ENTRIES).map_err(error)?;
            let mut next = write.open_table(NEXT).map_err(error)?;
            for owner in owners {
                let sequence = next.get(owner.0).map_err(error)?.map_or(0, |value| value.value());
                let entry = AccessEntry { sequence, time_ms, reader, what: what.to_string() };
                let bytes = serde_json::to_vec(&entry).map_err(error)?;
                entries.insert((owner.0, sequence), bytes.as_slice()).map_err(error)?;
                next.insert(owner.0, sequence + 1).map_err(error)?;
                if sequence >= ACCESS_ENTRIES_PER_ORG_MAX {
                    entries.remove((owner.0, sequence - ACCESS_ENTRIES_PER_ORG_MAX)).map_err(error)?;
                }
            }
        }
        write.commit().map_err(error)
    }

    /// `owner`'s entries, newest first: at most `limit`, each with a sequence below `before`
    /// when given (the previous page's last sequence).
    pub fn list(
        &self,
        owner: OrgId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AccessEntry>, AccessLogError> {
        let read = self.db.begin_read().map_err(error)?;
        let entries = match read.open_table(ENTRIES) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(other) => return Err(error(other)),
        };
        let end = before.unwrap_or(u64::MAX);
        let mut found = Vec::new();
        for item in entries.range((owner.0, 0)..(owner.0, end)).map_err(error)?.rev().take(limit) {
            let (_, value) = item.map_err(error)?;
            found.push(serde_json::from_slice(value.value()).map_err(error)?);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_listed_per_owner_newest_first_with_pages() {
        let log = AccessLog::in_memory().expect("log");
        log.record(&[OrgId(2), OrgId(3), OrgId(5)], OrgId(5), "GET /v1/transfers/7", 10).expect("records");
        log.record(&[OrgId(2)], OrgId(5), "GET /v1/accounts/2001", 11).expect("records");
        log.record(&[OrgId(5)], OrgId(5), "GET /v1/accounts/5001", 12).expect("its own: nothing");
        let two = log.list(OrgId(2), None, 10).expect("lists");
        let whats: Vec<&str> = two.iter().map(|entry| entry.what.as_str()).collect();
        assert_eq!(whats, ["GET /v1/accounts/2001", "GET /v1/transfers/7"]);
        assert_eq!((two[0].sequence, two[0].reader, two[0].time_ms), (1, OrgId(5), 11));
        assert_eq!(log.list(OrgId(2), Some(1), 10).expect("page").len(), 1, "below sequence 1");
        assert_eq!(log.list(OrgId(3), None, 10).expect("lists").len(), 1);
        assert!(
            log.list(OrgId(5), None, 10).expect("lists").is_empty(),
            "an auditor's own reads are not logged"
        );
        assert!(log.list(OrgId(9), None, 10).expect("lists").is_empty());
    }
}
