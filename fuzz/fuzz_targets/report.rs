//! What a verifier does with a report payload once its signature holds: decode, check it
//! against the form, and run the disclosure check (LP audit) on every indicator. Signatures
//! cannot be forged by a fuzzer, so this target starts after them. Must never panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use quietcount_protocol::disclosure::check;
use quietcount_protocol::{Form, SiteReport};

static FORM: LazyLock<Form> = LazyLock::new(Form::default_monthly);

fuzz_target!(|data: &[u8]| {
    let Ok(report) = SiteReport::decode(data) else {
        return;
    };
    if report.check_against(&FORM).is_err() {
        return;
    }
    for (indicator, tables) in FORM.indicators.iter().zip(&report.indicators) {
        let _ = check(&FORM.shapes(indicator), &tables.tables, &report.policy);
    }
});
