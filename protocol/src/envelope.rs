//! Signed envelopes: COSE_Sign1 (RFC 9052, CBOR tag 18) with EdDSA over canonical payloads.
//!
//! The protected header carries `alg` = EdDSA (-8), `kid` = the signer's key fingerprint and a
//! text content type naming the object; the external AAD is empty. A signed object's identity
//! is the SHA-256 of its exact envelope bytes, which are what is stored and forwarded.

use coset::{CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::cbor::MAX_MESSAGE_BYTES;
use crate::error::{DecodeError, EncodeError, EnvelopeError};
use crate::ids::{EnvelopeHash, Fingerprint, Sha256Hash, fingerprint_of};

/// The kinds of signed object, each with its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// A [`crate::SiteReport`].
    SiteReport,
    /// A [`crate::Receipt`].
    Receipt,
    /// A [`crate::SiteRegistry`].
    Registry,
    /// A [`crate::ProvincialReport`].
    ProvincialReport,
}

impl ContentType {
    /// The text content type in the protected header.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentType::SiteReport => "application/vnd.quietcount.site-report+cbor",
            ContentType::Receipt => "application/vnd.quietcount.receipt+cbor",
            ContentType::Registry => "application/vnd.quietcount.registry+cbor",
            ContentType::ProvincialReport => "application/vnd.quietcount.provincial-report+cbor",
        }
    }
}

/// A payload type that travels signed.
pub trait Payload: Sized {
    /// Its content type.
    const CONTENT_TYPE: ContentType;
    /// Canonical encoding.
    fn encode_payload(&self) -> Result<Vec<u8>, EncodeError>;
    /// Canonical decoding.
    fn decode_payload(bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// A verified envelope: who signed it, its hash and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened<T> {
    /// The decoded payload.
    pub payload: T,
    /// Fingerprint of the key that signed it.
    pub signer: Fingerprint,
    /// SHA-256 of the envelope bytes.
    pub hash: EnvelopeHash,
}

/// Signs `payload` with `key`, giving the tagged COSE_Sign1 bytes.
pub fn sign<T: Payload>(payload: &T, key: &SigningKey) -> Result<Vec<u8>, EncodeError> {
    let bytes = payload.encode_payload()?;
    sign_bytes(T::CONTENT_TYPE, bytes, key)
}

/// Signs already-encoded payload bytes.
pub fn sign_bytes(
    content_type: ContentType,
    payload: Vec<u8>,
    key: &SigningKey,
) -> Result<Vec<u8>, EncodeError> {
    let kid = fingerprint_of(&key.verifying_key());
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(kid.0.to_vec())
        .content_type(content_type.as_str().to_owned())
        .build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(b"", |tbs| key.sign(tbs).to_bytes().to_vec())
        .build();
    sign1
        .to_tagged_vec()
        .map_err(|e| EncodeError::Serialize(e.to_string()))
}

/// The envelope's claimed signer, read before verification so the caller can find the key.
pub fn claimed_signer(bytes: &[u8]) -> Result<Fingerprint, EnvelopeError> {
    let sign1 = parse(bytes)?;
    key_id(&sign1)
}

/// Verifies an envelope signed by `key` and decodes its payload.
pub fn open<T: Payload>(bytes: &[u8], key: &VerifyingKey) -> Result<Opened<T>, EnvelopeError> {
    open_with(bytes, |kid| (*kid == fingerprint_of(key)).then_some(*key))
}

/// Verifies an envelope whose signer is looked up by fingerprint, and decodes its payload.
pub fn open_with<T: Payload>(
    bytes: &[u8],
    lookup: impl FnOnce(&Fingerprint) -> Option<VerifyingKey>,
) -> Result<Opened<T>, EnvelopeError> {
    let sign1 = parse(bytes)?;
    let expected = T::CONTENT_TYPE.as_str();
    match &sign1.protected.header.alg {
        Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA)) => {}
        _ => return Err(EnvelopeError::WrongAlgorithm),
    }
    if sign1.unprotected.alg.is_some() {
        return Err(EnvelopeError::UnprotectedAlgorithm);
    }
    match &sign1.protected.header.content_type {
        Some(coset::ContentType::Text(t)) if t == expected => {}
        other => {
            let found = match other {
                Some(coset::ContentType::Text(t)) => t.chars().take(80).collect(),
                Some(coset::ContentType::Assigned(a)) => format!("{a:?}"),
                None => String::new(),
            };
            return Err(EnvelopeError::WrongContentType { found, expected });
        }
    }
    let kid = key_id(&sign1)?;
    let key = lookup(&kid).ok_or(EnvelopeError::UnknownKey { kid })?;
    if fingerprint_of(&key) != kid {
        return Err(EnvelopeError::KeyMismatch {
            found: kid,
            expected: fingerprint_of(&key),
        });
    }
    sign1.verify_signature(b"", |sig, data| {
        let sig = Signature::from_slice(sig).map_err(|_| EnvelopeError::BadSignature)?;
        key.verify_strict(data, &sig)
            .map_err(|_| EnvelopeError::BadSignature)
    })?;
    let payload_bytes = sign1
        .payload
        .as_deref()
        .ok_or(EnvelopeError::MissingPayload)?;
    let payload = T::decode_payload(payload_bytes)?;
    Ok(Opened {
        payload,
        signer: kid,
        hash: Sha256Hash::of(bytes),
    })
}

fn parse(bytes: &[u8]) -> Result<CoseSign1, EnvelopeError> {
    if bytes.len() > MAX_MESSAGE_BYTES + 4096 {
        return Err(EnvelopeError::TooLarge {
            size: bytes.len(),
            limit: MAX_MESSAGE_BYTES + 4096,
        });
    }
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .map_err(|e| EnvelopeError::Malformed(short(&e.to_string())))?;
    // coset accepts trailing data in some versions; a signed object is exactly one item.
    let reencoded = sign1
        .clone()
        .to_tagged_vec()
        .map_err(|e| EnvelopeError::Malformed(short(&e.to_string())))?;
    if reencoded != bytes {
        return Err(EnvelopeError::Malformed("not in canonical form".into()));
    }
    Ok(sign1)
}

fn key_id(sign1: &CoseSign1) -> Result<Fingerprint, EnvelopeError> {
    let kid: [u8; 32] = sign1
        .protected
        .header
        .key_id
        .as_slice()
        .try_into()
        .map_err(|_| EnvelopeError::MissingKeyId)?;
    Ok(Sha256Hash(kid))
}

fn short(message: &str) -> String {
    message.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use coset::{CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana};
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;
    use crate::signed::Receipt;
    use crate::{Period, SiteId};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn receipt() -> Receipt {
        Receipt {
            format: crate::FORMAT_VERSION,
            report: Sha256Hash([7; 32]),
            site: SiteId::new("hn-01").unwrap(),
            period: Period::parse("2026-10").unwrap(),
            revision: 1,
            received_at: 1_793_500_000,
            sequence: 42,
        }
    }

    /// Builds an envelope by hand, so each test can break exactly one thing.
    fn hand_built(
        key: &SigningKey,
        protected: HeaderBuilder,
        unprotected: HeaderBuilder,
        payload: Option<Vec<u8>>,
    ) -> Vec<u8> {
        let mut builder = CoseSign1Builder::new()
            .protected(protected.build())
            .unprotected(unprotected.build());
        if let Some(payload) = payload {
            builder = builder.payload(payload);
        }
        builder
            .create_signature(b"", |tbs| key.sign(tbs).to_bytes().to_vec())
            .build()
            .to_tagged_vec()
            .unwrap()
    }

    fn good_protected(key: &SigningKey, content_type: &str) -> HeaderBuilder {
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(fingerprint_of(&key.verifying_key()).0.to_vec())
            .content_type(content_type.to_owned())
    }

    fn payload() -> Vec<u8> {
        receipt().encode_payload().unwrap()
    }

    #[test]
    fn signs_and_opens_with_signer_and_hash() {
        let signer = key(1);
        let bytes = sign(&receipt(), &signer).unwrap();
        let opened = open::<Receipt>(&bytes, &signer.verifying_key()).unwrap();
        assert_eq!(opened.payload, receipt());
        assert_eq!(opened.signer, fingerprint_of(&signer.verifying_key()));
        assert_eq!(opened.hash, Sha256Hash::of(&bytes));
        assert_eq!(claimed_signer(&bytes).unwrap(), opened.signer);
        // The hand-built path makes the same bytes, so the refusals below break only one thing.
        let by_hand = hand_built(
            &signer,
            good_protected(&signer, ContentType::Receipt.as_str()),
            HeaderBuilder::new(),
            Some(payload()),
        );
        assert_eq!(by_hand, bytes);
    }

    #[test]
    fn refuses_another_algorithm() {
        let signer = key(1);
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .key_id(fingerprint_of(&signer.verifying_key()).0.to_vec())
            .content_type(ContentType::Receipt.as_str().to_owned());
        let bytes = hand_built(&signer, protected, HeaderBuilder::new(), Some(payload()));
        assert_eq!(
            open::<Receipt>(&bytes, &signer.verifying_key()),
            Err(EnvelopeError::WrongAlgorithm)
        );
    }

    #[test]
    fn refuses_an_algorithm_in_the_unprotected_header() {
        let signer = key(1);
        let unprotected = HeaderBuilder::new().algorithm(iana::Algorithm::EdDSA);
        let bytes = hand_built(
            &signer,
            good_protected(&signer, ContentType::Receipt.as_str()),
            unprotected,
            Some(payload()),
        );
        assert_eq!(
            open::<Receipt>(&bytes, &signer.verifying_key()),
            Err(EnvelopeError::UnprotectedAlgorithm)
        );
    }

    #[test]
    fn refuses_the_wrong_content_type() {
        let signer = key(1);
        let bytes = sign(&receipt(), &signer).unwrap();
        // A receipt offered where a site report is expected.
        let err = open::<crate::SiteReport>(&bytes, &signer.verifying_key()).unwrap_err();
        assert!(
            matches!(err, EnvelopeError::WrongContentType { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_unknown_and_mismatched_key_ids() {
        let signer = key(1);
        let other = key(2);
        let bytes = sign(&receipt(), &signer).unwrap();
        // Verifying against another key: the kid names a key the verifier does not trust.
        assert!(matches!(
            open::<Receipt>(&bytes, &other.verifying_key()),
            Err(EnvelopeError::UnknownKey { .. })
        ));
        // A lookup that answers with a key whose fingerprint is not the kid.
        assert!(matches!(
            open_with::<Receipt>(&bytes, |_| Some(other.verifying_key())),
            Err(EnvelopeError::KeyMismatch { .. })
        ));
        // No kid at all.
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .content_type(ContentType::Receipt.as_str().to_owned());
        let bytes = hand_built(&signer, protected, HeaderBuilder::new(), Some(payload()));
        assert_eq!(
            open::<Receipt>(&bytes, &signer.verifying_key()),
            Err(EnvelopeError::MissingKeyId)
        );
    }

    #[test]
    fn refuses_a_signature_by_another_key_under_the_right_kid() {
        let signer = key(1);
        let forger = key(3);
        // The kid claims `signer`, but `forger` signed.
        let bytes = hand_built(
            &forger,
            good_protected(&signer, ContentType::Receipt.as_str()),
            HeaderBuilder::new(),
            Some(payload()),
        );
        assert_eq!(
            open::<Receipt>(&bytes, &signer.verifying_key()),
            Err(EnvelopeError::BadSignature)
        );
    }

    #[test]
    fn refuses_a_missing_payload_trailing_bytes_and_garbage() {
        let signer = key(1);
        let bytes = hand_built(
            &signer,
            good_protected(&signer, ContentType::Receipt.as_str()),
            HeaderBuilder::new(),
            None,
        );
        assert_eq!(
            open::<Receipt>(&bytes, &signer.verifying_key()),
            Err(EnvelopeError::MissingPayload)
        );
        let mut trailing = sign(&receipt(), &signer).unwrap();
        trailing.push(0);
        assert!(matches!(
            open::<Receipt>(&trailing, &signer.verifying_key()),
            Err(EnvelopeError::Malformed(_))
        ));
        assert!(matches!(
            open::<Receipt>(b"not cbor at all", &signer.verifying_key()),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn refuses_a_non_canonical_payload_even_when_signed() {
        let signer = key(1);
        // {"format": 1} with 1 written in two bytes, properly signed.
        let bytes = hand_built(
            &signer,
            good_protected(&signer, ContentType::Receipt.as_str()),
            HeaderBuilder::new(),
            Some(hex::decode("a166666f726d61741801").unwrap()),
        );
        assert!(matches!(
            open::<Receipt>(&bytes, &signer.verifying_key()),
            Err(EnvelopeError::Payload(DecodeError::NonCanonical))
        ));
    }
}
