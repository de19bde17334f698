//! The library's typed errors in the page's language: each [`NodeError`] the web app can meet
//! becomes one catalogue sentence (`error-*` keys) saying what happened and what to do. The
//! detail a page shows is short and never an identifying field: a staff name, a period, a
//! folder the staff member typed, a count. The English text of the error, with its technical
//! detail, goes to the service's log only (the library's errors never hold a record value).

use std::io::ErrorKind;

use super::i18n::Tr;
use crate::deliver::DeliveryError;
use crate::error::NodeError;
use crate::import::ImportError;
use crate::sealed::{MIN_PASSPHRASE_CHARS, SealError};
use crate::store::StoreError;

/// `error` as one sentence in `t`'s language.
pub fn describe(t: Tr, error: &NodeError) -> String {
    match error {
        NodeError::Seal(seal) => describe_seal(t, seal),
        NodeError::NotSealed => t.msg("error-not-sealed"),
        NodeError::Io { path, source } => {
            let path = path.display().to_string();
            let key = match source.kind() {
                ErrorKind::AlreadyExists => "error-io-exists",
                ErrorKind::NotFound => "error-io-not-found",
                ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
                    "error-io-permission"
                }
                ErrorKind::StorageFull => "error-io-full",
                _ => "error-io",
            };
            t.arg(key, "path", &path)
        }
        NodeError::Store(StoreError::Busy { .. }) => t.msg("error-store-busy"),
        NodeError::Store(_) => t.msg("error-store"),
        NodeError::PeriodNotOver { period } => {
            t.arg("error-period-not-over", "period", &period.to_string())
        }
        NodeError::ClockWrong { period, .. } => {
            t.arg("error-clock-wrong", "period", &period.to_string())
        }
        NodeError::WrongPeriodType { period, .. } => {
            t.arg("error-wrong-period-type", "period", &period.to_string())
        }
        NodeError::UnknownForm { form } => t.arg("error-unknown-form", "form", form),
        NodeError::CorrectionHeld {
            period, changed, ..
        } => t.args2(
            "error-correction-held",
            ("period", &period.to_string()),
            ("changed", &t.num(*changed)),
        ),
        NodeError::Correction(_) => t.msg("error-correction"),
        NodeError::Import(import) => describe_import(t, import),
        NodeError::Delivery(DeliveryError::Unreachable { .. } | DeliveryError::Resolve { .. }) => {
            t.msg("error-delivery-unreachable")
        }
        NodeError::Delivery(_) | NodeError::Fetch(_) => t.msg("error-delivery"),
        NodeError::Disclosure { indicator, .. } | NodeError::Uncategorised { indicator, .. } => {
            t.arg("error-report-indicator", "indicator", indicator)
        }
        NodeError::Key(_) | NodeError::Config { .. } | NodeError::Form { .. } => {
            t.msg("error-setup")
        }
        _ => t.msg("error-internal"),
    }
}

fn describe_import(t: Tr, error: &ImportError) -> String {
    match error {
        ImportError::Io { .. } | ImportError::Undecodable { .. } => {
            t.msg("error-import-unreadable")
        }
        ImportError::UnknownHeader { .. } => t.msg("error-import-header"),
        ImportError::MissingColumns { missing, .. } => t.arg(
            "error-import-missing-columns",
            "columns",
            &missing.join(", "),
        ),
        ImportError::RepeatedColumn { column, .. } => {
            t.arg("error-import-repeated-column", "column", column)
        }
        ImportError::AmbiguousDateOrder { rows, .. } => t.arg(
            "error-import-date-order",
            "count",
            &t.num(rows.len() as u64),
        ),
        _ => t.msg("error-import"),
    }
}

fn describe_seal(t: Tr, error: &SealError) -> String {
    match error {
        SealError::NotAccepted => t.msg("error-not-accepted"),
        SealError::StaffExists { name } => t.arg("error-staff-exists", "name", name),
        SealError::UnknownStaff { name } => t.arg("error-unknown-staff", "name", name),
        SealError::BadStaffName => t.msg("error-bad-staff-name"),
        SealError::WeakPassphrase => t.arg(
            "error-weak-passphrase",
            "min",
            &MIN_PASSPHRASE_CHARS.to_string(),
        ),
        SealError::NoKeyring { .. } => t.msg("error-not-sealed"),
        SealError::KeyringLost { .. } | SealError::Keyring { .. } => t.msg("error-keyring"),
        SealError::Corrupt { .. } => t.msg("error-sealed-corrupt"),
        _ => t.msg("error-internal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Lang;

    fn both(error: &NodeError) -> (String, String) {
        (
            describe(Tr::new(Lang::Vi), error),
            describe(Tr::new(Lang::En), error),
        )
    }

    #[test]
    fn errors_speak_the_pages_language_and_keep_the_short_detail() {
        let wrong = NodeError::Seal(SealError::NotAccepted);
        let (vi, en) = both(&wrong);
        assert!(vi.contains("mật khẩu"), "{vi}");
        assert!(en.contains("passphrase"), "{en}");

        let exists = NodeError::Seal(SealError::StaffExists { name: "Lan".into() });
        let (vi, en) = both(&exists);
        assert!(vi.contains("Lan") && vi.contains("đã có"), "{vi}");
        assert!(en.contains("Lan") && en.contains("already"), "{en}");

        let weak = NodeError::Seal(SealError::WeakPassphrase);
        let (vi, en) = both(&weak);
        assert!(vi.contains(&MIN_PASSPHRASE_CHARS.to_string()) && vi.contains("ký tự"));
        assert!(en.contains(&MIN_PASSPHRASE_CHARS.to_string()) && en.contains("characters"));

        let folder = NodeError::Io {
            path: "/media/usb/qc".into(),
            source: std::io::Error::new(ErrorKind::AlreadyExists, "already exists"),
        };
        let (vi, en) = both(&folder);
        assert!(vi.contains("/media/usb/qc") && vi.contains("đã có"), "{vi}");
        assert!(
            en.contains("/media/usb/qc") && en.contains("already"),
            "{en}"
        );

        let period = quietcount_protocol::Period::parse("2026-11").unwrap();
        let (vi, en) = both(&NodeError::PeriodNotOver { period });
        assert!(
            vi.contains("2026-11") && vi.contains("chưa kết thúc"),
            "{vi}"
        );
        assert!(en.contains("2026-11") && en.contains("not over"), "{en}");
    }

    #[test]
    fn free_text_inside_an_error_is_never_shown() {
        // `Correction` carries a library sentence in English: the page gives the catalogue's.
        let error = NodeError::Correction("no client has the code given; Nguyễn".into());
        let (vi, en) = both(&error);
        assert!(!vi.contains("Nguyễn") && !en.contains("Nguyễn"));
        assert!(!vi.contains("no client"), "{vi}");
        let error = NodeError::Import(ImportError::MissingColumns {
            file: "/tmp/upload-Nguyễn.csv".into(),
            kind: crate::import::RecordKind::Clients,
            missing: vec!["client_code"],
        });
        let (vi, en) = both(&error);
        assert!(vi.contains("client_code") && vi.contains("cột"), "{vi}");
        assert!(en.contains("client_code") && en.contains("column"), "{en}");
        assert!(!vi.contains("Nguyễn") && !en.contains("Nguyễn"));
        let error = NodeError::Fetch("secret detail".into());
        let (vi, en) = both(&error);
        assert!(!vi.contains("secret") && !en.contains("secret"));
    }
}
