//! The other signed objects: receipts, the site registry and the provincial report.

use serde::{Deserialize, Serialize};

use crate::aggregate::ProvincialTotals;
use crate::cbor;
use crate::envelope::{ContentType, Payload};
use crate::error::{DecodeError, EncodeError};
use crate::form::FormRef;
use crate::ids::{EnvelopeHash, Fingerprint, Period, SiteId, UnixTime, fingerprint_of};
use crate::report::{SiteReport, check_format};

/// The coordinator's signed acknowledgement that a site report is stored durably.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Payload format version.
    pub format: u32,
    /// Hash of the site report's envelope.
    pub report: EnvelopeHash,
    /// The reporting site.
    pub site: SiteId,
    /// The period reported.
    pub period: Period,
    /// The revision stored.
    pub revision: u32,
    /// When the coordinator stored it.
    pub received_at: UnixTime,
    /// The coordinator's ingest sequence number: never issued twice by one store, drawn in
    /// increasing order (with several coordinator processes sharing one PostgreSQL store, two
    /// reports may commit in the other order than their numbers).
    pub sequence: u64,
}

/// Why a key stopped speaking for its site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyEndReason {
    /// Replaced by a newer key of the same site (a new laptop, a reinstalled node): the key is
    /// retired, and reports received while it was valid stay valid.
    Replaced,
    /// The key, or the machine holding it, was compromised from the window's end on.
    Compromised,
    /// The key was lost; nothing received after the window's end counts.
    Lost,
    /// The site stopped reporting (closed, merged).
    SiteClosed,
}

impl KeyEndReason {
    /// Every reason, in the order `revoke --reason` lists them.
    pub const ALL: [KeyEndReason; 4] = [
        KeyEndReason::Replaced,
        KeyEndReason::Compromised,
        KeyEndReason::Lost,
        KeyEndReason::SiteClosed,
    ];

    /// The reason as written in the registry and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyEndReason::Replaced => "replaced",
            KeyEndReason::Compromised => "compromised",
            KeyEndReason::Lost => "lost",
            KeyEndReason::SiteClosed => "site-closed",
        }
    }

    /// The reason named by `text` (as [`KeyEndReason::as_str`] writes it).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether this ending is a retirement (the key was fine, another took over) rather than
    /// a revocation.
    pub fn is_retirement(self) -> bool {
        self == KeyEndReason::Replaced
    }
}

impl std::fmt::Display for KeyEndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How and when a key's validity window was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEnd {
    /// Why.
    pub reason: KeyEndReason,
    /// When the coordinator recorded it. A revocation `--since` an earlier date is recorded
    /// after the window's end: that gap is what a donor is warned about.
    pub recorded_at: UnixTime,
}

/// One key the registry lists for a site, with its validity window. A site that changes key
/// gets a second entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    /// The site.
    pub site: SiteId,
    /// Its display name.
    pub name: String,
    /// The site's Ed25519 public key.
    pub public_key: PublicKeyBytes,
    /// When the key was enrolled: its validity window opens.
    pub enrolled_at: UnixTime,
    /// When its validity window closed, if it did (retired or revoked). Reports received at
    /// or after this time do not count; those received before do. (Written `revoked_at`, the
    /// name of format 1.)
    #[serde(rename = "revoked_at")]
    pub valid_until: Option<UnixTime>,
    /// Why and when the window was closed; absent in registries issued before key lifetimes
    /// were recorded (and for keys still valid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<KeyEnd>,
    /// The start of the first period the site is expected to report for, when the province
    /// set one at enrolment (`enroll --reports-from`, e.g. to collect the month before the
    /// site joined); absent: from the enrolment on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reports_from: Option<UnixTime>,
}

impl RegistryEntry {
    /// Whether the key spoke for the site at time `t`: inside its validity window.
    pub fn active_at(&self, t: UnixTime) -> bool {
        self.enrolled_at <= t && self.valid_until.is_none_or(|r| r > t)
    }

    /// Whether this enrolment makes the site expected to report for `period`: it starts
    /// (at `reports_from`, else at enrolment) before the period ends, and the key's window
    /// did not close before the period began.
    pub fn expected_for(&self, period: Period) -> bool {
        self.reports_from.unwrap_or(self.enrolled_at) < period.end()
            && self.valid_until.is_none_or(|u| u > period.start())
    }

    /// When the window's end was decided: the recorded time, or the end itself for
    /// registries that do not record it.
    pub fn ended_recorded_at(&self) -> Option<UnixTime> {
        self.ended.map(|e| e.recorded_at).or(self.valid_until)
    }

    /// The key's fingerprint, or `None` if the key bytes are not a valid Ed25519 point.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.public_key.verifying_key().map(|k| fingerprint_of(&k))
    }
}

/// The coordinator's signed list of which keys speak for which sites, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteRegistry {
    /// Payload format version.
    pub format: u32,
    /// The province (coordinator) name.
    pub province: String,
    /// When this export was made.
    pub issued_at: UnixTime,
    /// Every key ever enrolled, retired and revoked ones included.
    pub entries: Vec<RegistryEntry>,
}

impl SiteRegistry {
    /// Sites with a key active at `t`.
    pub fn sites_active_at(&self, t: UnixTime) -> std::collections::BTreeSet<SiteId> {
        self.entries
            .iter()
            .filter(|e| e.active_at(t))
            .map(|e| e.site.clone())
            .collect()
    }

    /// The sites expected to report for `period`: those with a key whose validity window
    /// overlaps it (see [`crate::completeness::expected_sites`]).
    pub fn sites_expected_for(&self, period: Period) -> std::collections::BTreeSet<SiteId> {
        crate::completeness::expected_sites(&self.entries, period)
    }

    /// The entry for `site` whose key has fingerprint `kid`.
    pub fn entry_for(&self, site: &SiteId, kid: &Fingerprint) -> Option<&RegistryEntry> {
        self.entries
            .iter()
            .find(|e| &e.site == site && e.fingerprint().as_ref() == Some(kid))
    }
}

/// An Ed25519 public key as 32 bytes (CBOR byte string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKeyBytes(pub [u8; 32]);

impl PublicKeyBytes {
    /// The key, if the bytes are a valid point.
    pub fn verifying_key(&self) -> Option<ed25519_dalek::VerifyingKey> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.0).ok()
    }
}

impl From<&ed25519_dalek::VerifyingKey> for PublicKeyBytes {
    fn from(key: &ed25519_dalek::VerifyingKey) -> Self {
        Self(key.to_bytes())
    }
}

impl Serialize for PublicKeyBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::ids::Sha256Hash(self.0).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PublicKeyBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(crate::ids::Sha256Hash::deserialize(deserializer)?.0))
    }
}

/// A site report a provincial report rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    /// The site.
    pub site: SiteId,
    /// The revision used (the site's latest).
    pub revision: u32,
    /// Hash of its envelope.
    pub envelope: EnvelopeHash,
    /// When the coordinator received it (from its receipt).
    pub received_at: UnixTime,
}

/// How complete a period's reporting is, as DHIS2 users know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Completeness {
    /// Sites expected: those with a key valid during the period
    /// ([`crate::completeness::expected_sites`]).
    pub expected: u32,
    /// Sites whose report is included.
    pub reported: u32,
    /// Of those, received within the on-time window.
    pub on_time: u32,
    /// The on-time window: days after the period's end.
    pub on_time_days: u32,
}

/// The coordinator's signed provincial report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvincialReport {
    /// Payload format version.
    pub format: u32,
    /// The province.
    pub province: String,
    /// The form.
    pub form: FormRef,
    /// The period.
    pub period: Period,
    /// When published.
    pub published_at: UnixTime,
    /// The site reports it rests on, sorted by site.
    pub inputs: Vec<ReportInput>,
    /// Completeness figures.
    pub completeness: Completeness,
    /// The totals, as [`crate::aggregate`](fn@crate::aggregate) computes them from the inputs.
    pub totals: ProvincialTotals,
    /// Set when the province published with fewer reports than its configured share
    /// (`publish --allow-incomplete`): the totals cover only the sites that reported.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
}

macro_rules! payload {
    ($ty:ty, $ct:expr) => {
        impl Payload for $ty {
            const CONTENT_TYPE: ContentType = $ct;
            fn encode_payload(&self) -> Result<Vec<u8>, EncodeError> {
                cbor::to_canonical(self)
            }
            fn decode_payload(bytes: &[u8]) -> Result<Self, DecodeError> {
                let value: Self = cbor::from_canonical(bytes)?;
                check_format(value.format)?;
                Ok(value)
            }
        }
    };
}

payload!(SiteReport, ContentType::SiteReport);
payload!(Receipt, ContentType::Receipt);
payload!(SiteRegistry, ContentType::Registry);
payload!(ProvincialReport, ContentType::ProvincialReport);
