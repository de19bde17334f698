//! Identity keys: one Ed25519 key per site and per coordinator, in PEM files.
//!
//! Private keys are PKCS#8 PEM, written atomically with mode 0600 and refused at load time if
//! anyone but the owner can read them. Public keys are SubjectPublicKeyInfo PEM. Secrets are
//! zeroized when dropped and never printed: [`Identity`]'s `Debug` shows only the fingerprint.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use quietcount_protocol::envelope::Payload;
use quietcount_protocol::{EnvelopeError, Fingerprint, Opened, fingerprint_of, open_with};

/// Errors reading or writing key files. Messages name the file and never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The private key file is readable by group or others.
    #[error(
        "{path}: private key is readable by other users (mode {mode:o}); fix with: chmod 600 {path}"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a PEM key of the expected kind.
    #[error("{path}: not an Ed25519 {kind} key in PEM form")]
    Format {
        /// The file.
        path: PathBuf,
        /// `private` or `public`.
        kind: &'static str,
    },
    /// Refusing to overwrite an existing key.
    #[error("{path}: already exists; refusing to overwrite a key")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A private key was given where only a public key belongs (a donor's `--trust`).
    #[error(
        "{path}: this is a private key; pass the coordinator's public key (coordinator.pub) \
         instead, and keep the private key where it was made"
    )]
    PrivateWherePublicBelongs {
        /// The file.
        path: PathBuf,
    },
}

/// A signing identity (site or coordinator). The secret is zeroized on drop.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", short_fingerprint(&self.fingerprint()))
    }
}

impl Identity {
    /// A fresh random identity from the operating system's generator.
    pub fn generate() -> Self {
        Self {
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// An identity from a 32-byte seed (tests and fixed vectors only).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// Loads a PKCS#8 PEM private key, refusing files that group or others can read.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        check_private_mode(path)?;
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| io(path, source))?,
        );
        let signing = SigningKey::from_pkcs8_pem(&text).map_err(|_| KeyError::Format {
            path: path.to_owned(),
            kind: "private",
        })?;
        Ok(Self { signing })
    }

    /// Writes the private key atomically with mode 0600. Refuses to replace an existing file.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        if path.exists() {
            return Err(KeyError::Exists {
                path: path.to_owned(),
            });
        }
        // Encoding an in-memory Ed25519 key to PKCS#8 cannot fail.
        #[allow(clippy::expect_used)]
        let pem = self
            .signing
            .to_pkcs8_pem(LineEnding::LF)
            .expect("Ed25519 keys always encode");
        write_atomic(path, pem.as_bytes(), 0o600)
    }

    /// The key that signs.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The site's disclosure secret: derived from the signing key by a one-way hash, so it never
    /// leaves the node and nothing published reveals it. It keys suppression's choices
    /// (`quietcount_protocol::SuppressionSecret::for_report`).
    pub fn disclosure_secret(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(b"quietcount/disclosure-secret/v1\0");
        hash.update(self.signing.to_bytes());
        hash.finalize().into()
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// SHA-256 of the public key's SPKI DER.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint_of(&self.verifying_key())
    }

    /// The PKCS#8 DER of the private key, for building the TLS certificate (`quietcount-service`).
    pub fn pkcs8_der(&self) -> zeroize::Zeroizing<Vec<u8>> {
        // Encoding an in-memory Ed25519 key to PKCS#8 cannot fail.
        #[allow(clippy::expect_used)]
        let doc = self
            .signing
            .to_pkcs8_der()
            .expect("Ed25519 keys always encode");
        zeroize::Zeroizing::new(doc.as_bytes().to_vec())
    }
}

/// The SubjectPublicKeyInfo PEM of a public key.
pub fn public_key_pem(key: &VerifyingKey) -> String {
    // Encoding an Ed25519 public key to SPKI cannot fail.
    #[allow(clippy::expect_used)]
    key.to_public_key_pem(LineEnding::LF)
        .expect("Ed25519 keys always encode")
}

/// Parses a SubjectPublicKeyInfo PEM public key.
pub fn parse_public_key_pem(text: &str) -> Option<VerifyingKey> {
    VerifyingKey::from_public_key_pem(text.trim()).ok()
}

/// Reads a public key file (SubjectPublicKeyInfo PEM). A private key file is also accepted,
/// and only its public half is used.
pub fn load_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| io(path, source))?);
    if let Some(key) = parse_public_key_pem(&text) {
        return Ok(key);
    }
    if text.contains("PRIVATE KEY") {
        return Identity::load(path).map(|id| id.verifying_key());
    }
    Err(KeyError::Format {
        path: path.to_owned(),
        kind: "public",
    })
}

/// Reads a public key to trust (a donor's `--trust`): refuses a private key file, which an
/// auditor should never have been handed, in one sentence saying what to pass instead.
pub fn load_trusted_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| io(path, source))?);
    if let Some(key) = parse_public_key_pem(&text) {
        return Ok(key);
    }
    if text.contains("PRIVATE KEY") {
        return Err(KeyError::PrivateWherePublicBelongs {
            path: path.to_owned(),
        });
    }
    Err(KeyError::Format {
        path: path.to_owned(),
        kind: "public",
    })
}

/// Writes a public key file (mode 0644), atomically.
pub fn save_public_key(path: &Path, key: &VerifyingKey) -> Result<(), KeyError> {
    write_atomic(path, public_key_pem(key).as_bytes(), 0o644)
}

/// The full fingerprint: 64 lower-case hex digits.
pub fn full_fingerprint(fingerprint: &Fingerprint) -> String {
    fingerprint.to_hex()
}

/// Opens an envelope signed by one of the `trusted` keys (named by the envelope's key id):
/// how the verifier and `inspect` open what the coordinator signed.
pub fn open_trusted<T: Payload>(
    bytes: &[u8],
    trusted: &[VerifyingKey],
) -> Result<Opened<T>, EnvelopeError> {
    open_with(bytes, |kid| {
        trusted
            .iter()
            .find(|key| fingerprint_of(key) == *kid)
            .copied()
    })
}

/// The short fingerprint read over the phone: the first 80 bits in Crockford base32 (no I, L,
/// O or U), four groups of four, e.g. `K7QX-M2PA-9HZC-4TRE`. Finding another key with the same
/// short form takes about 2^80 work.
pub fn short_fingerprint(fingerprint: &Fingerprint) -> String {
    let encoded = crockford().encode(&fingerprint.0[..10]);
    encoded
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Normalises a short fingerprint typed by a person: case, spaces and dashes do not matter, and
/// the look-alikes `I`/`L` (as 1) and `O` (as 0) are accepted as Crockford base32 allows.
pub fn normalize_short_fingerprint(text: &str) -> String {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            other => other,
        })
        .collect();
    compact
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn crockford() -> data_encoding::Encoding {
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str("0123456789ABCDEFGHJKMNPQRSTVWXYZ");
    // The specification is a fixed, valid 32-symbol alphabet.
    #[allow(clippy::expect_used)]
    spec.encoding().expect("valid Crockford alphabet")
}

fn check_private_mode(path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| io(path, source))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_owned(),
                mode,
            });
        }
    }
    Ok(())
}

/// Writes `bytes` to a fresh temporary file with `mode` beside `path`, syncs it, renames it
/// into place and syncs the directory: a crash leaves either the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        io(path, source)
    })
}

fn io(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_key_is_refused_as_a_key_to_trust_and_the_public_one_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("coordinator.key");
        let public = dir.path().join("coordinator.pub");
        let id = Identity::generate();
        id.save(&private).unwrap();
        save_public_key(&public, &id.verifying_key()).unwrap();
        let refusal = load_trusted_public_key(&private).unwrap_err();
        assert!(matches!(
            refusal,
            KeyError::PrivateWherePublicBelongs { .. }
        ));
        let text = refusal.to_string();
        assert!(text.contains("this is a private key"), "{text}");
        assert!(text.contains("coordinator.pub"), "{text}");
        assert_eq!(
            load_trusted_public_key(&public).unwrap(),
            id.verifying_key()
        );
    }

    #[test]
    fn private_key_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.key");
        let id = Identity::generate();
        id.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let back = Identity::load(&path).unwrap();
        assert_eq!(back.fingerprint(), id.fingerprint());
        assert!(matches!(id.save(&path), Err(KeyError::Exists { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_group_readable_private_key_naming_the_file_and_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.key");
        Identity::generate().save(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Identity::load(&path).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, KeyError::TooOpen { .. }));
        assert!(
            text.contains("site.key") && text.contains("chmod 600"),
            "{text}"
        );
    }

    #[test]
    fn public_key_files_and_debug_hide_secret() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::from_seed([7; 32]);
        let path = dir.path().join("site.pub");
        save_public_key(&path, &id.verifying_key()).unwrap();
        assert_eq!(load_public_key(&path).unwrap(), id.verifying_key());
        let debug = format!("{id:?}");
        assert!(!debug.contains(&hex::encode([7u8; 32])));
        assert!(debug.starts_with("Identity("));
    }

    #[test]
    fn short_fingerprint_is_four_groups_of_unambiguous_characters() {
        let fp = Identity::from_seed([1; 32]).fingerprint();
        let short = short_fingerprint(&fp);
        assert_eq!(short.len(), 19);
        assert_eq!(short.split('-').count(), 4);
        assert!(
            short
                .chars()
                .all(|c| c == '-' || "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c))
        );
        assert_eq!(
            normalize_short_fingerprint(&short.to_lowercase().replace('-', " ")),
            short
        );
    }
}
