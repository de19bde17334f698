//! What a verifier does with a report payload once its signature holds: decode, check it
//! against the form, and run the disclosure check (LP audit) on the whole report, relations
//! between indicators included, as the verifier does. Signatures
//! cannot be forged by a fuzzer, so this target starts after them. Must never panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use quietcount_protocol::disclosure::check_report;
use quietcount_protocol::{Form, SiteReport};

static FORM: LazyLock<Form> = LazyLock::new(Form::default_monthly);

fuzz_target!(|data: &[u8]| {
    let Ok(report) = SiteReport::decode(data) else {
        return;
    };
    if report.check_against(&FORM).is_err() {
        return;
    }
    let _ = check_report(&FORM, &report.indicators, &report.policy);
});
