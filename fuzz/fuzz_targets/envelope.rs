//! Opens arbitrary bytes as every signed payload type with a fixed key: must never panic.
#![no_main]

use std::sync::LazyLock;

use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use quietcount_protocol::{ProvincialReport, Receipt, SiteRegistry, SiteReport, open};

static KEY: LazyLock<VerifyingKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[0x11; 32]).verifying_key());

fuzz_target!(|data: &[u8]| {
    let _ = open::<SiteReport>(data, &KEY);
    let _ = open::<Receipt>(data, &KEY);
    let _ = open::<SiteRegistry>(data, &KEY);
    let _ = open::<ProvincialReport>(data, &KEY);
});
