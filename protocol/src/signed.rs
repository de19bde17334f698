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
    /// The coordinator's ingest sequence number, strictly increasing.
    pub sequence: u64,
}

/// One key the registry lists for a site. A site that changes key gets a second entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    /// The site.
    pub site: SiteId,
    /// Its display name.
    pub name: String,
    /// The site's Ed25519 public key.
    pub public_key: PublicKeyBytes,
    /// When the key was enrolled.
    pub enrolled_at: UnixTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixTime>,
}

impl RegistryEntry {
    /// Whether the key spoke for the site at time `t`: enrolled at or before `t`, not yet revoked.
    pub fn active_at(&self, t: UnixTime) -> bool {
        self.enrolled_at <= t && self.revoked_at.is_none_or(|r| r > t)
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
    /// Every key ever enrolled, revoked ones included.
    pub entries: Vec<RegistryEntry>,
}

impl SiteRegistry {
    /// Sites with a key active at `t`: the sites expected to report.
    pub fn sites_active_at(&self, t: UnixTime) -> std::collections::BTreeSet<SiteId> {
        self.entries
            .iter()
            .filter(|e| e.active_at(t))
            .map(|e| e.site.clone())
            .collect()
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
    /// Sites expected: those with a key active at publication.
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
