//! The API's JSON batch input never panics the parser or the re-encoding.
#![no_main]
use hansa_types::{Encode, SignedBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = serde_json::from_slice::<SignedBatch>(data) {
        let _ = batch.batch.digest();
        let _ = batch.encode();
    }
});
