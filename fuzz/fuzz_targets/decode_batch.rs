//! A signed batch decodes only from its canonical encoding, and never panics.
#![no_main]
use hansa_types::{Decode, Encode, SignedBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = SignedBatch::decode(data) {
        assert_eq!(batch.encode(), data, "decoding accepts only canonical bytes");
    }
});
