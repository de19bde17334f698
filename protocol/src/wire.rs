//! The application protocol between a site node and the coordinator, over QUIC.
//!
//! One bidirectional stream per request: the node writes one canonical-CBOR [`Request`] and
//! finishes its side; the coordinator answers with one [`Response`] and finishes. Requests and
//! responses are at most [`MAX_MESSAGE_BYTES`](crate::cbor::MAX_MESSAGE_BYTES) plus a small
//! frame allowance. A receipt is the only proof that a report was accepted: in TLS 1.3 a client
//! can believe it is connected even when the server has refused its certificate.

use serde::{Deserialize, Serialize};

use crate::cbor;
use crate::error::{DecodeError, EncodeError};
use crate::ids::{EnvelopeHash, Period, UnixTime};
use crate::revision::ChainHead;

/// ALPN protocol id of Quietcount over QUIC.
pub const ALPN: &[u8] = b"quietcount/1";

/// Largest request or response on a stream: an envelope plus framing.
pub const MAX_FRAME_BYTES: usize = cbor::MAX_MESSAGE_BYTES + 8192;

/// Bytes carried as a CBOR byte string.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(v))
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}

/// What a node asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Deliver a signed site report (COSE_Sign1 bytes).
    Submit {
        /// The envelope.
        envelope: Blob,
    },
    /// Send back one of this site's own stored reports, with its receipt: a node restored
    /// from an old backup learns what the coordinator already holds (and publishes) for a
    /// form and period. Only the connected site's reports are ever sent.
    Fetch {
        /// Form id.
        form_id: String,
        /// Form version.
        form_version: u32,
        /// The period.
        period: Period,
        /// The revision wanted; `None` for the latest.
        revision: Option<u32>,
    },
}

/// What the coordinator answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Stored; here is the signed receipt (COSE_Sign1 bytes).
    Accepted {
        /// The receipt envelope.
        receipt: Blob,
        /// True if the coordinator already held this exact envelope, or one with the same
        /// content for the same revision.
        duplicate: bool,
        /// When the coordinator holds another envelope with the same content for this
        /// revision (the site re-signed a stored report, e.g. after restoring a backup): that
        /// stored envelope, which the receipt names. It is the site's own signed report; the
        /// site keeps it in place of its re-signed copy so that its chain continues from it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stored_envelope: Option<Blob>,
        /// The coordinator's clock when it answered (Unix seconds), so a site can tell that
        /// its own clock is wrong.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time: Option<UnixTime>,
    },
    /// A stored report of the asking site, answering [`Request::Fetch`].
    Stored {
        /// The site's envelope exactly as stored.
        envelope: Blob,
        /// The receipt the coordinator signed for it.
        receipt: Blob,
        /// The latest revision stored for the same site, form and period.
        latest: u32,
        /// The coordinator's clock when it answered (Unix seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time: Option<UnixTime>,
    },
    /// Refused; nothing was stored (except equivocation evidence).
    Refused {
        /// Machine-readable reason.
        code: RefusalCode,
        /// Human-readable detail; never echoes payload contents.
        message: String,
        /// For a stale revision or an equivocation: the latest revision the coordinator
        /// holds for the report's (site, form, period), so the site can build its next
        /// revision on it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        head: Option<WireHead>,
        /// The coordinator's clock when it answered (Unix seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time: Option<UnixTime>,
    },
}

/// The head of a revision chain as the coordinator holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireHead {
    /// Its revision.
    pub revision: u32,
    /// The SHA-256 of its envelope.
    pub envelope_hash: EnvelopeHash,
}

impl From<ChainHead> for WireHead {
    fn from(head: ChainHead) -> Self {
        Self {
            revision: head.revision,
            envelope_hash: head.envelope_hash,
        }
    }
}

impl From<WireHead> for ChainHead {
    fn from(head: WireHead) -> Self {
        Self {
            revision: head.revision,
            envelope_hash: head.envelope_hash,
        }
    }
}

/// Why the coordinator refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefusalCode {
    /// The request or envelope could not be decoded.
    Malformed,
    /// Over the size limit.
    TooLarge,
    /// The signature does not verify, or the envelope's kid is not the sender's key.
    BadSignature,
    /// The report's site is not the site authenticated by TLS.
    SignerMismatch,
    /// The site is not enrolled.
    UnknownSite,
    /// The site's key is revoked.
    Revoked,
    /// The form is not accepted by this coordinator, or the report does not match it.
    WrongForm,
    /// The report's disclosure threshold is below the province's.
    PolicyTooWeak,
    /// The period has not ended yet.
    PeriodNotOver,
    /// The period is too old to accept.
    PeriodTooOld,
    /// The revision is not the next one, or does not supersede the latest.
    StaleRevision,
    /// A different envelope already fills this site, period and revision (kept as evidence).
    Equivocation,
    /// The report breaks the disclosure rule its policy states (a published count below k, a
    /// hidden cell that can be narrowed below k, margins that do not add up, a count out of
    /// range): the same check the donor's verifier runs.
    DisclosureRule,
    /// A fetch asked for a report the coordinator does not hold.
    NotStored,
    /// The province has locked this period (of this form) for publication: nothing new is
    /// stored for it until it unlocks. Retried later; the site keeps the report.
    PeriodLocked,
    /// Server-side failure; retry later.
    Internal,
    /// The coordinator is shutting down; retry later.
    Unavailable,
}

impl RefusalCode {
    /// Whether retrying later may succeed (the node keeps the report in its outbox).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            RefusalCode::Internal
                | RefusalCode::Unavailable
                | RefusalCode::PeriodNotOver
                | RefusalCode::PeriodLocked
        )
    }
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            RefusalCode::Malformed => "malformed",
            RefusalCode::TooLarge => "too large",
            RefusalCode::BadSignature => "bad signature",
            RefusalCode::SignerMismatch => "signer is not the connected site",
            RefusalCode::UnknownSite => "unknown site",
            RefusalCode::Revoked => "site revoked",
            RefusalCode::WrongForm => "wrong form",
            RefusalCode::PolicyTooWeak => "disclosure threshold below the province's",
            RefusalCode::PeriodNotOver => "period not over",
            RefusalCode::PeriodTooOld => "period too old",
            RefusalCode::StaleRevision => "stale or out-of-order revision",
            RefusalCode::Equivocation => "conflicting report for the same revision",
            RefusalCode::DisclosureRule => "breaks the disclosure rule",
            RefusalCode::NotStored => "no such stored report",
            RefusalCode::PeriodLocked => "period locked by the province",
            RefusalCode::Internal => "internal error",
            RefusalCode::Unavailable => "unavailable",
        };
        f.write_str(text)
    }
}

impl Request {
    /// Canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::to_canonical(self)
    }
    /// Canonical decoding (size-limited by [`MAX_FRAME_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_frame(bytes)
    }
}

impl Response {
    /// Canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::to_canonical(self)
    }
    /// Canonical decoding (size-limited by [`MAX_FRAME_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_frame(bytes)
    }
}

fn decode_frame<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    cbor::from_canonical_with_limit(bytes, MAX_FRAME_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Sha256Hash;

    #[test]
    fn responses_without_the_new_fields_encode_as_before_and_round_trip_with_them() {
        let old = Response::Refused {
            code: RefusalCode::StaleRevision,
            message: "m".into(),
            head: None,
            time: None,
        };
        let bytes = old.encode().expect("encodes");
        // The field is left out when absent, so an older decoder reads the same map.
        let tree = cbor::parse_canonical(&bytes).expect("canonical");
        let text = format!("{tree:?}");
        assert!(!text.contains("head") && !text.contains("time"), "{text}");
        assert_eq!(Response::decode(&bytes).expect("decodes"), old);

        let new = Response::Refused {
            code: RefusalCode::Equivocation,
            message: "m".into(),
            head: Some(WireHead {
                revision: 3,
                envelope_hash: Sha256Hash([4; 32]),
            }),
            time: Some(1_794_000_000),
        };
        let bytes = new.encode().expect("encodes");
        assert_eq!(Response::decode(&bytes).expect("decodes"), new);

        let accepted = Response::Accepted {
            receipt: Blob(vec![1, 2]),
            duplicate: true,
            stored_envelope: Some(Blob(vec![3])),
            time: Some(1_794_000_000),
        };
        let bytes = accepted.encode().expect("encodes");
        assert_eq!(Response::decode(&bytes).expect("decodes"), accepted);
    }
}
