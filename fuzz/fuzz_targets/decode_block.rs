//! A block decodes only from its canonical encoding, and never panics.
#![no_main]
use hansa_types::{Block, Decode, Encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode(data) {
        assert_eq!(block.encode(), data, "decoding accepts only canonical bytes");
        let _ = block.operations_match_header();
    }
});
