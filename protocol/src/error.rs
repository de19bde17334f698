//! Typed errors of the protocol crate. Messages say what is wrong and where, and never echo
//! payload contents beyond short identifiers.

use crate::ids::{Fingerprint, Period, SiteId};

/// An identifier that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not a valid site id.
    #[error("invalid site id: use 1 to 64 characters of a-z, 0-9 and '-', not starting with '-'")]
    SiteId,
    /// Not a valid period.
    #[error("invalid period: use YYYY-MM (month), YYYY-QN (quarter) or YYYY (year), from 1970")]
    Period,
    /// Not a valid SHA-256 hex digest.
    #[error("invalid hash: expected 64 hexadecimal digits")]
    Hash,
}

/// Failure to encode a value canonically (a bug in the caller, never bad input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Serde could not serialise the value.
    #[error("cannot serialise: {0}")]
    Serialize(String),
    /// Floats have no place in Quietcount payloads.
    #[error("floating-point values are not allowed in canonical payloads")]
    Float,
    /// CBOR tags have no place in Quietcount payloads.
    #[error("CBOR tags are not allowed in canonical payloads")]
    Tag,
    /// Two map keys encode the same.
    #[error("duplicate map key")]
    DuplicateKey,
}

/// Why bytes were refused as a Quietcount payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Input longer than the limit.
    #[error("message of {size} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Input ended in the middle of an item.
    #[error("message is truncated")]
    Truncated,
    /// Input is not well-formed CBOR.
    #[error("malformed CBOR at byte {offset}")]
    Malformed {
        /// Byte offset of the fault.
        offset: usize,
    },
    /// Arrays and maps nested deeper than the limit.
    #[error("nesting deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// Bytes after the end of the single top-level item.
    #[error("trailing bytes after the message, from byte {offset}")]
    TrailingBytes {
        /// Where the trailing bytes start.
        offset: usize,
    },
    /// Well-formed but not deterministic CBOR (RFC 8949 §4.2.1).
    #[error("not canonical CBOR (non-minimal integer, indefinite length or unsorted map keys)")]
    NonCanonical,
    /// A map key appears twice.
    #[error("duplicate map key {key}")]
    DuplicateKey {
        /// The key, described without echoing long payload text.
        key: String,
    },
    /// A float where none is allowed.
    #[error("floating-point values are not allowed")]
    Float,
    /// A CBOR tag where none is allowed.
    #[error("unexpected CBOR tag {tag}")]
    UnexpectedTag {
        /// The tag number.
        tag: u64,
    },
    /// The structure does not match the expected type.
    #[error("unexpected structure: {0}")]
    Schema(String),
    /// A format version this build does not know.
    #[error("unknown format version {found} (this build reads version {supported})")]
    UnknownFormatVersion {
        /// The version in the message.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
}

/// Why a COSE_Sign1 envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Envelope longer than the limit.
    #[error("envelope of {size} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a tagged COSE_Sign1 structure.
    #[error("not a COSE_Sign1 envelope: {0}")]
    Malformed(String),
    /// The protected header does not name EdDSA.
    #[error("algorithm is not EdDSA (-8) in the protected header")]
    WrongAlgorithm,
    /// An algorithm was given in the unprotected header, where it could be changed in transit.
    #[error("algorithm must not appear in the unprotected header")]
    UnprotectedAlgorithm,
    /// The content type is not the expected one.
    #[error("content type is {found:?}, expected {expected:?}")]
    WrongContentType {
        /// The content type found (empty if none).
        found: String,
        /// The content type expected.
        expected: &'static str,
    },
    /// No key id, or one that is not a 32-byte fingerprint.
    #[error("missing or malformed key id")]
    MissingKeyId,
    /// The key id names no key the verifier trusts.
    #[error("signed by unknown key {kid}")]
    UnknownKey {
        /// The fingerprint in the envelope.
        kid: Fingerprint,
    },
    /// The key id does not match the key it must be signed by.
    #[error("signed by key {found}, expected {expected}")]
    KeyMismatch {
        /// The fingerprint in the envelope.
        found: Fingerprint,
        /// The fingerprint required.
        expected: Fingerprint,
    },
    /// The envelope has no payload.
    #[error("envelope has no payload")]
    MissingPayload,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The payload inside a valid envelope is not acceptable.
    #[error("payload: {0}")]
    Payload(#[from] DecodeError),
}

/// Why a form file or a form-checked report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// The TOML could not be parsed.
    #[error("form file: {0}")]
    Toml(String),
    /// The form's content is inconsistent.
    #[error("form {form}: {problem}")]
    Invalid {
        /// Form id (or `?` if not yet known).
        form: String,
        /// What is wrong.
        problem: String,
    },
}

/// Why a report does not match the form it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MismatchError {
    /// The report names another form, version or form hash.
    #[error("report answers form {found}, expected {expected}")]
    WrongForm {
        /// The form named by the report.
        found: String,
        /// The form expected.
        expected: String,
    },
    /// The period type does not fit the form.
    #[error("period {period} is not a {expected:?} period")]
    WrongPeriodType {
        /// The period in the report.
        period: Period,
        /// The period type the form requires.
        expected: crate::ids::PeriodType,
    },
    /// Indicators missing, extra or out of order.
    #[error("indicator {position}: found {found:?}, expected {expected:?}")]
    Indicator {
        /// Position in the report.
        position: usize,
        /// Id found (empty if missing).
        found: String,
        /// Id expected (empty if extra).
        expected: String,
    },
    /// A table has the wrong dimensions or cell count.
    #[error("indicator {indicator}, table {table}: {problem}")]
    Table {
        /// Indicator id.
        indicator: String,
        /// Table position.
        table: usize,
        /// What is wrong.
        problem: String,
    },
    /// Revision numbering is inconsistent with `supersedes`.
    #[error("revision {revision} {problem}")]
    Revision {
        /// The revision number.
        revision: u32,
        /// What is wrong.
        problem: &'static str,
    },
    /// The policy threshold is below the minimum of 2.
    #[error("disclosure threshold k = {k} is below the minimum of 2")]
    PolicyTooWeak {
        /// The k found.
        k: u32,
    },
}

/// Why site reports could not be aggregated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// A report answers another form.
    #[error("site {site} answers another form")]
    WrongForm {
        /// The site.
        site: SiteId,
    },
    /// A report is for another period.
    #[error("site {site} reports period {found}, expected {expected}")]
    WrongPeriod {
        /// The site.
        site: SiteId,
        /// Its period.
        found: Period,
        /// The period aggregated.
        expected: Period,
    },
    /// Two reports from one site.
    #[error("site {site} appears more than once")]
    DuplicateSite {
        /// The site.
        site: SiteId,
    },
    /// A report does not match its form.
    #[error("site {site}: {source}")]
    Mismatch {
        /// The site.
        site: SiteId,
        /// What is wrong.
        source: MismatchError,
    },
    /// Audit failed for a site's indicator.
    #[error("site {site}: {source}")]
    Audit {
        /// The site.
        site: SiteId,
        /// What went wrong.
        source: DisclosureError,
    },
    /// A total overflowed.
    #[error("a total overflows 64 bits")]
    Overflow,
}

/// Why suppression or audit failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisclosureError {
    /// The tables given do not fit together (shape or margins).
    #[error("tables are inconsistent: {0}")]
    Inconsistent(String),
    /// The LP solver failed.
    #[error("linear programme failed: {0}")]
    Solver(String),
    /// k below 2.
    #[error("disclosure threshold k = {k} is below the minimum of 2")]
    PolicyTooWeak {
        /// The k given.
        k: u32,
    },
    /// No publication of this revision keeps every small cell of every revision of the period
    /// protected, given what earlier revisions published: the revision must not be sent yet.
    #[error(
        "no publication of this revision keeps the earlier revisions' small cells protected: \
         {changed} changed record(s) since the last revision would single people out"
    )]
    Unprotectable {
        /// Client records changed since the last revision (as the audit assumes an outsider
        /// knows).
        changed: u64,
    },
}
