//! The canonical CBOR parser on arbitrary bytes: never panics, and whatever it accepts
//! re-encodes to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quietcount_protocol::cbor;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = cbor::parse_canonical(data) {
        if let Ok(bytes) = cbor::to_canonical(&value) {
            assert_eq!(
                bytes, data,
                "accepted input is not its own canonical encoding"
            );
        }
    }
});
