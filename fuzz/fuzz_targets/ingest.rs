//! The coordinator's decoding path for a submission: frame, claimed signer, envelope, form
//! check. Must never panic.
#![no_main]

use std::sync::LazyLock;

use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use quietcount_protocol::wire::Request;
use quietcount_protocol::{Form, SiteReport, envelope, open};

static KEY: LazyLock<VerifyingKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[0x11; 32]).verifying_key());
static FORM: LazyLock<Form> = LazyLock::new(Form::default_monthly);

fuzz_target!(|data: &[u8]| {
    let Ok(Request::Submit { envelope: blob }) = Request::decode(data) else {
        return;
    };
    if envelope::claimed_signer(&blob.0).is_err() {
        return;
    }
    if let Ok(opened) = open::<SiteReport>(&blob.0, &KEY) {
        let _ = opened.payload.check_against(&FORM);
    }
});
