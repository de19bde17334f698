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
