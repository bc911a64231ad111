//! A batch list decodes only from its canonical encoding, and never panics.
#![no_main]
use hansa_types::{BatchList, Decode, Encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = BatchList::decode(data) {
        assert_eq!(list.encode(), data, "decoding accepts only canonical bytes");
    }
});
