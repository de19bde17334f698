//! Deterministic CBOR (RFC 8949 §4.2.1) for every Quietcount payload.
//!
//! `ciborium` writes struct fields in declaration order and accepts non-minimal integers and
//! duplicate keys, so it is not canonical by itself. This module is a checked canonical writer
//! on top of it: values are serialised to a [`Value`] tree, every map is sorted by the bytes of
//! its encoded keys, floats are refused, and the tree is written with definite lengths and
//! shortest integer forms. Decoding parses with a depth limit, refuses trailing bytes, refuses
//! duplicate keys, and re-encodes the tree: input that is not byte-for-byte canonical is refused.

use ciborium::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, EncodeError};

/// The largest payload or envelope any Quietcount decoder accepts: 1 MiB.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The deepest nesting of arrays and maps any Quietcount decoder accepts.
pub const MAX_DEPTH: usize = 16;

/// Encodes `value` as deterministic CBOR.
pub fn to_canonical<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let tree = Value::serialized(value).map_err(|e| EncodeError::Serialize(e.to_string()))?;
    let tree = canonicalize(tree)?;
    write_value(&tree)
}

/// Decodes deterministic CBOR into `T`, refusing anything that is not exactly canonical.
pub fn from_canonical<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    from_canonical_with_limit(bytes, MAX_MESSAGE_BYTES)
}

/// [`from_canonical`] with another size limit (for wire frames that carry an envelope).
pub fn from_canonical_with_limit<T: DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, DecodeError> {
    let tree = parse_canonical_with_limit(bytes, limit)?;
    tree.deserialized()
        .map_err(|e| DecodeError::Schema(schema_message(&e.to_string())))
}

/// Parses and checks canonical CBOR without mapping it to a type.
pub fn parse_canonical(bytes: &[u8]) -> Result<Value, DecodeError> {
    parse_canonical_with_limit(bytes, MAX_MESSAGE_BYTES)
}

fn parse_canonical_with_limit(bytes: &[u8], limit: usize) -> Result<Value, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let mut cursor = std::io::Cursor::new(bytes);
    let tree: Value = ciborium::de::from_reader_with_recursion_limit(&mut cursor, MAX_DEPTH)
        .map_err(|e| match e {
            ciborium::de::Error::RecursionLimitExceeded => {
                DecodeError::TooDeep { limit: MAX_DEPTH }
            }
            ciborium::de::Error::Io(_) => DecodeError::Truncated,
            ciborium::de::Error::Syntax(offset) => DecodeError::Malformed { offset },
            ciborium::de::Error::Semantic(offset, _) => DecodeError::Malformed {
                offset: offset.unwrap_or(0),
            },
        })?;
    let consumed = cursor.position() as usize;
    if consumed != bytes.len() {
        return Err(DecodeError::TrailingBytes { offset: consumed });
    }
    check_tree(&tree)?;
    let reencoded = write_value(&tree).map_err(|_| DecodeError::NonCanonical)?;
    if reencoded != bytes {
        return Err(DecodeError::NonCanonical);
    }
    Ok(tree)
}

/// Sorts every map by encoded key bytes and refuses floats.
fn canonicalize(value: Value) -> Result<Value, EncodeError> {
    Ok(match value {
        Value::Float(_) => return Err(EncodeError::Float),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(canonicalize)
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => {
            let mut keyed = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let k = canonicalize(k)?;
                let encoded = write_value(&k)?;
                keyed.push((encoded, k, canonicalize(v)?));
            }
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            if keyed.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(EncodeError::DuplicateKey);
            }
            Value::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Tag(_, _) => return Err(EncodeError::Tag),
        other => other,
    })
}

/// Refuses floats, tags and duplicate or unsorted map keys in a decoded tree.
fn check_tree(value: &Value) -> Result<(), DecodeError> {
    match value {
        Value::Float(_) => Err(DecodeError::Float),
        Value::Tag(tag, _) => Err(DecodeError::UnexpectedTag { tag: *tag }),
        Value::Array(items) => items.iter().try_for_each(check_tree),
        Value::Map(entries) => {
            let mut previous: Option<Vec<u8>> = None;
            for (k, v) in entries {
                check_tree(k)?;
                check_tree(v)?;
                let encoded = write_value(k).map_err(|_| DecodeError::NonCanonical)?;
                if let Some(prev) = &previous {
                    match prev.cmp(&encoded) {
                        std::cmp::Ordering::Equal => {
                            return Err(DecodeError::DuplicateKey {
                                key: describe_key(k),
                            });
                        }
                        std::cmp::Ordering::Greater => return Err(DecodeError::NonCanonical),
                        std::cmp::Ordering::Less => {}
                    }
                }
                previous = Some(encoded);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn write_value(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out)
        .map_err(|e| EncodeError::Serialize(e.to_string()))?;
    Ok(out)
}

/// Names a map key in an error without echoing arbitrary payload: short text keys and
/// integers are shown, anything else only by its kind.
fn describe_key(key: &Value) -> String {
    match key {
        Value::Text(t) if t.len() <= 32 && t.chars().all(|c| c.is_ascii_graphic()) => {
            format!("{t:?}")
        }
        Value::Integer(i) => format!("{}", i128::from(*i)),
        Value::Text(_) => "a text key".to_owned(),
        _ => "a non-text key".to_owned(),
    }
}

/// Serde's messages can quote the offending value; keep them short so a hostile payload
/// cannot fill a log line.
fn schema_message(message: &str) -> String {
    const LIMIT: usize = 160;
    if message.len() <= LIMIT {
        return message.to_owned();
    }
    let mut end = LIMIT;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        zeta: u64,
        alpha: String,
        mid: Vec<Option<u32>>,
    }

    #[test]
    fn struct_fields_are_written_in_key_order() {
        let bytes = to_canonical(&Sample {
            zeta: 1,
            alpha: "a".into(),
            mid: vec![Some(1), None],
        })
        .unwrap();
        // map(3) "alpha" "a" "mid" [1, null] "zeta" 1 — shorter keys sort first.
        assert_eq!(
            hex::encode(&bytes),
            "a3636d69648201f6647a6574610165616c7068616161"
        );
        let back: Sample = from_canonical(&bytes).unwrap();
        assert_eq!(back.zeta, 1);
    }

    #[test]
    fn refuses_non_minimal_integers() {
        // {"a": 1} with 1 written as a one-byte-argument integer (0x18 0x01).
        let err = from_canonical::<BTreeMap<String, u64>>(&hex::decode("a161611801").unwrap());
        assert!(matches!(err, Err(DecodeError::NonCanonical)), "{err:?}");
    }

    #[test]
    fn refuses_duplicate_keys() {
        let err = from_canonical::<BTreeMap<String, u64>>(&hex::decode("a2616101616102").unwrap());
        assert!(
            matches!(err, Err(DecodeError::DuplicateKey { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_unsorted_keys() {
        let err = from_canonical::<BTreeMap<String, u64>>(&hex::decode("a2616201616102").unwrap());
        assert!(matches!(err, Err(DecodeError::NonCanonical)), "{err:?}");
    }

    #[test]
    fn refuses_trailing_bytes_indefinite_lengths_floats_and_depth() {
        assert!(matches!(
            from_canonical::<u64>(&[0x01, 0x00]),
            Err(DecodeError::TrailingBytes { offset: 1 })
        ));
        assert!(matches!(
            from_canonical::<Vec<u64>>(&[0x9f, 0x01, 0xff]),
            Err(DecodeError::NonCanonical)
        ));
        assert!(matches!(
            from_canonical::<f64>(&hex::decode("f93c00").unwrap()),
            Err(DecodeError::Float)
        ));
        let deep = [vec![0x81u8; 40], vec![0x01]].concat();
        assert!(matches!(
            parse_canonical(&deep),
            Err(DecodeError::TooDeep { .. })
        ));
        let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            parse_canonical(&big),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_canonical(&[0x82, 0x01]),
            Err(DecodeError::Truncated)
        ));
    }
}
