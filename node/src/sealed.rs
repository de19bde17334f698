//! Sealed identity fields: the site's *records key pair*, sealing, and the keyring of wrapped
//! private keys.
//!
//! Every identifying field of a client (full name, exact date of birth, phone, national ID,
//! address) is stored only sealed to the site's records public key, with HPKE (RFC 9180:
//! X25519, HKDF-SHA256) and ChaCha20-Poly1305. One HPKE encapsulation per client row and
//! write; each field's key is exported from that context under a label naming the field and
//! the client code, and the same label is the AEAD's associated data, so a sealed value opens
//! only as the field of the client it was sealed for: values cannot be swapped between rows
//! or fields. Values are padded to 32-byte blocks so that lengths say little.
//!
//! Sealing needs only the public key ([`Sealer`]): imports and the simulator seal unattended.
//! Opening needs the private key ([`RecordsKey`]), which exists on disk only wrapped, in the
//! keyring file `records-keys.toml`: once per staff member under a key derived from that
//! person's passphrase with Argon2id (parameters recorded with each wrap), and once under the
//! recovery key shown a single time when the key pair is made. The service (`run`, reports,
//! delivery, backups) loads the public key only.
//!
//! A wrong staff name or passphrase costs the Argon2 time of a real attempt and yields one
//! error that says nothing else ([`SealError::NotAccepted`]).

use std::fmt;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hpke::aead::ExportOnlyAead;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// The keyring's file name in the data directory.
pub const KEYRING_FILE: &str = "records-keys.toml";

type Kem = X25519HkdfSha256;
type PublicKey = <Kem as hpke::Kem>::PublicKey;
type PrivateKey = <Kem as hpke::Kem>::PrivateKey;
type EncappedKey = <Kem as hpke::Kem>::EncappedKey;

const HPKE_INFO: &[u8] = b"quietcount sealed identity v1";
const ENC_LEN: usize = 32;
const PAD_BLOCK: usize = 32;
const STAFF_WRAP_AAD: &[u8] = b"quietcount staff wrap v1";
const RECOVERY_WRAP_AAD: &[u8] = b"quietcount recovery wrap v1";

/// Errors of sealing, opening and the keyring. They never carry a sealed value, a passphrase
/// or a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The keyring file cannot be read or written.
    #[error("{path}: {problem}")]
    Keyring {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The data directory has no keyring yet (a site from before sealed records).
    #[error(
        "{path}: no records keyring; run `quietcount-node seal` to make one and seal the records"
    )]
    NoKeyring {
        /// The file expected.
        path: PathBuf,
    },
    /// The records are sealed but the keyring is gone: a new key pair would open none of them.
    #[error(
        "{path} is missing but the records are sealed: restore it from a backup (it is the only way to read their names)"
    )]
    KeyringLost {
        /// The file expected.
        path: PathBuf,
    },
    /// Making the records key pair needs its first staff member's name and passphrase.
    #[error("making the records key needs the first staff member's name and passphrase")]
    FirstStaffNeeded,
    /// The staff name, passphrase or recovery key was not accepted.
    #[error("not accepted")]
    NotAccepted,
    /// A staff member of that name already has a wrapped key.
    #[error("staff member {name:?} already exists")]
    StaffExists {
        /// The name.
        name: String,
    },
    /// No staff member of that name.
    #[error("no staff member {name:?}")]
    UnknownStaff {
        /// The name.
        name: String,
    },
    /// A staff name that cannot be stored (empty, or with control characters).
    #[error("a staff name must be 1 to 64 printable characters")]
    BadStaffName,
    /// A passphrase shorter than [`MIN_PASSPHRASE_CHARS`].
    #[error("a passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")]
    WeakPassphrase,
    /// A recovery key that is not 32 bytes in base32.
    #[error("a recovery key is 52 letters and digits (dashes and spaces are ignored)")]
    MalformedRecoveryKey,
    /// Argon2 refused its parameters.
    #[error("key derivation parameters: {0}")]
    Kdf(String),
    /// A sealed value does not open with this key (damaged, or sealed for another client,
    /// field or site).
    #[error("sealed {field} of a client does not open with this site's records key")]
    Corrupt {
        /// The field.
        field: &'static str,
    },
}

type Result<T, E = SealError> = std::result::Result<T, E>;

/// Shortest passphrase accepted for staff.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

/// The identifying fields, in storage order (their names are the store's column stems).
pub const IDENTITY_FIELDS: [&str; 5] = [
    "full_name",
    "date_of_birth",
    "phone",
    "national_id",
    "address",
];

/// A client's identifying fields in clear (dates as ISO text, empty when unknown). Its
/// `Debug` shows nothing.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IdentityFields {
    /// Full name.
    pub full_name: String,
    /// Exact date of birth, ISO `YYYY-MM-DD`, or empty.
    pub date_of_birth: String,
    /// Phone.
    pub phone: String,
    /// National ID.
    pub national_id: String,
    /// Address.
    pub address: String,
}

impl fmt::Debug for IdentityFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityFields(<identifiable>)")
    }
}

impl Drop for IdentityFields {
    fn drop(&mut self) {
        self.full_name.zeroize();
        self.date_of_birth.zeroize();
        self.phone.zeroize();
        self.national_id.zeroize();
        self.address.zeroize();
    }
}

impl IdentityFields {
    fn values(&self) -> [&str; 5] {
        [
            &self.full_name,
            &self.date_of_birth,
            &self.phone,
            &self.national_id,
            &self.address,
        ]
    }
}

/// A client's identifying fields, sealed: one ciphertext per field, in [`IDENTITY_FIELDS`]
/// order.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedIdentity(pub [Vec<u8>; 5]);

impl fmt::Debug for SealedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedIdentity(..)")
    }
}

/// The label binding a sealed value to its field and client.
fn label(field: &str, client_code: &str) -> Vec<u8> {
    let mut label = Vec::with_capacity(16 + field.len() + client_code.len());
    label.extend_from_slice(b"field\0");
    label.extend_from_slice(field.as_bytes());
    label.push(0);
    label.extend_from_slice(client_code.as_bytes());
    label
}

fn pad(value: &str) -> Zeroizing<Vec<u8>> {
    let len = (value.len() / PAD_BLOCK + 1) * PAD_BLOCK;
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.extend_from_slice(value.as_bytes());
    out.push(0x80);
    out.resize(len, 0);
    out
}

fn unpad(mut bytes: Vec<u8>) -> Option<String> {
    let end = bytes.iter().rposition(|b| *b != 0)?;
    if bytes[end] != 0x80 {
        bytes.zeroize();
        return None;
    }
    bytes.truncate(end);
    String::from_utf8(bytes).ok()
}

fn field_cipher(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(Key::from_slice(key))
}

/// Seals identity fields to the site's records public key. Holds no secret.
#[derive(Clone)]
pub struct Sealer {
    public: PublicKey,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// Seals `fields` for client `client_code`.
    pub fn seal(&self, client_code: &str, fields: &IdentityFields) -> SealedIdentity {
        let mut rng = rand::rngs::OsRng;
        // Encapsulation to an X25519 public key cannot fail.
        #[allow(clippy::expect_used)]
        let (enc, context) = hpke::setup_sender::<ExportOnlyAead, HkdfSha256, Kem, _>(
            &OpModeS::Base,
            &self.public,
            HPKE_INFO,
            &mut rng,
        )
        .expect("X25519 encapsulation is infallible");
        let enc = enc.to_bytes();
        let sealed = std::array::from_fn(|i| {
            let field = IDENTITY_FIELDS[i];
            let label = label(field, client_code);
            let mut key = Zeroizing::new([0u8; 32]);
            #[allow(clippy::expect_used)]
            context
                .export(&label, key.as_mut())
                .expect("32 bytes are within the export limit");
            let plaintext = pad(fields.values()[i]);
            #[allow(clippy::expect_used)]
            let ciphertext = field_cipher(&key)
                .encrypt(
                    Nonce::from_slice(&[0; 12]),
                    Payload {
                        msg: &plaintext,
                        aad: &label,
                    },
                )
                .expect("in-memory encryption is infallible");
            let mut out = Vec::with_capacity(ENC_LEN + ciphertext.len());
            out.extend_from_slice(&enc);
            out.extend_from_slice(&ciphertext);
            out
        });
        SealedIdentity(sealed)
    }
}

/// The records private key, unlocked. Opening sealed fields needs it; nothing in the
/// service ever holds one. Its `Debug` shows nothing.
pub struct RecordsKey {
    private: PrivateKey,
}

impl fmt::Debug for RecordsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordsKey(..)")
    }
}

impl RecordsKey {
    /// Opens the sealed fields of client `client_code`.
    pub fn open(&self, client_code: &str, sealed: &SealedIdentity) -> Result<IdentityFields> {
        let mut values: [String; 5] = Default::default();
        let mut context = None;
        let mut context_enc: &[u8] = &[];
        for (i, value) in values.iter_mut().enumerate() {
            let field = IDENTITY_FIELDS[i];
            let corrupt = || SealError::Corrupt { field };
            let bytes = &sealed.0[i];
            if bytes.len() < ENC_LEN {
                return Err(corrupt());
            }
            let (enc, ciphertext) = bytes.split_at(ENC_LEN);
            // Fields sealed in one write share their encapsulation: decapsulate once.
            if context.is_none() || context_enc != enc {
                let encapped = EncappedKey::from_bytes(enc).map_err(|_| corrupt())?;
                context = Some(
                    hpke::setup_receiver::<ExportOnlyAead, HkdfSha256, Kem>(
                        &OpModeR::Base,
                        &self.private,
                        &encapped,
                        HPKE_INFO,
                    )
                    .map_err(|_| corrupt())?,
                );
                context_enc = enc;
            }
            let Some(receiver) = &context else {
                return Err(corrupt());
            };
            let label = label(field, client_code);
            let mut key = Zeroizing::new([0u8; 32]);
            receiver
                .export(&label, key.as_mut())
                .map_err(|_| corrupt())?;
            let plaintext = field_cipher(&key)
                .decrypt(
                    Nonce::from_slice(&[0; 12]),
                    Payload {
                        msg: ciphertext,
                        aad: &label,
                    },
                )
                .map_err(|_| corrupt())?;
            *value = unpad(plaintext).ok_or_else(corrupt)?;
        }
        let [full_name, date_of_birth, phone, national_id, address] = values;
        Ok(IdentityFields {
            full_name,
            date_of_birth,
            phone,
            national_id,
            address,
        })
    }
}

/// Argon2id parameters, recorded with each staff member's wrapped key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// The parameters for real staff: 128 MiB, 5 passes, 1 lane (about 0.4 s measured on the
    /// development machine, up to about a second on an older site laptop; see README).
    fn default() -> Self {
        Self {
            m_cost_kib: 128 * 1024,
            t_cost: 5,
            p_cost: 1,
        }
    }
}

impl KdfParams {
    /// Very cheap parameters for tests only (milliseconds). Never for real staff.
    pub fn for_tests() -> Self {
        Self {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }

    fn derive(&self, passphrase: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = argon2::Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| SealError::Kdf(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
            .map_err(|e| SealError::Kdf(e.to_string()))?;
        Ok(key)
    }
}

/// The recovery key: 32 random bytes, shown once as base32 for printing and storing offline.
#[derive(Clone)]
pub struct RecoveryKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey(..)")
    }
}

impl RecoveryKey {
    fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    /// Reads a recovery key as [`RecoveryKey::display`] writes it (case, spaces and dashes
    /// ignored).
    pub fn parse(text: &str) -> Result<Self> {
        let cleaned: Zeroizing<String> = Zeroizing::new(
            text.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        let bytes = Zeroizing::new(
            data_encoding::BASE32_NOPAD
                .decode(cleaned.as_bytes())
                .map_err(|_| SealError::MalformedRecoveryKey)?,
        );
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::MalformedRecoveryKey)?;
        Ok(Self(Zeroizing::new(array)))
    }

    /// The key as 13 groups of 4 base32 characters joined by dashes.
    pub fn display(&self) -> Zeroizing<String> {
        let text = Zeroizing::new(data_encoding::BASE32_NOPAD.encode(self.0.as_ref()));
        let groups: Vec<&str> = text
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        Zeroizing::new(groups.join("-"))
    }
}

/// How a person unlocks the records key.
pub enum Unlock {
    /// A staff member's name and passphrase.
    Staff {
        /// The name.
        name: String,
        /// The passphrase.
        passphrase: Zeroizing<String>,
    },
    /// The recovery key.
    Recovery(RecoveryKey),
}

impl fmt::Debug for Unlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Staff { name, .. } => write!(f, "Unlock::Staff({name:?})"),
            Self::Recovery(_) => f.write_str("Unlock::Recovery"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Wrap {
    nonce: String,
    wrapped: String,
}

/// One staff member's entry in the keyring (what `staff list` shows).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffEntry {
    /// The name.
    pub name: String,
    /// The Argon2id parameters of this member's wrap.
    pub kdf: KdfParams,
    /// Unix time the entry was made or its passphrase last changed.
    pub changed_at: u64,
    salt: String,
    #[serde(flatten)]
    wrap: Wrap,
}

/// The keyring file: the records public key and the private key wrapped once per staff
/// member and once under the recovery key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Keyring {
    version: u32,
    public_key: String,
    recovery: Wrap,
    #[serde(default)]
    staff: Vec<StaffEntry>,
}

fn wrap(key: &[u8; 32], aad: &[u8], secret: &[u8]) -> Wrap {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    #[allow(clippy::expect_used)]
    let wrapped = field_cipher(key)
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret, aad })
        .expect("in-memory encryption is infallible");
    Wrap {
        nonce: hex::encode(nonce),
        wrapped: hex::encode(wrapped),
    }
}

fn unwrap(key: &[u8; 32], aad: &[u8], wrap: &Wrap) -> Result<PrivateKey> {
    let nonce = hex::decode(&wrap.nonce).map_err(|_| SealError::NotAccepted)?;
    let wrapped = hex::decode(&wrap.wrapped).map_err(|_| SealError::NotAccepted)?;
    if nonce.len() != 12 {
        return Err(SealError::NotAccepted);
    }
    let secret = Zeroizing::new(
        field_cipher(key)
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &wrapped, aad })
            .map_err(|_| SealError::NotAccepted)?,
    );
    PrivateKey::from_bytes(&secret).map_err(|_| SealError::NotAccepted)
}

fn staff_aad(name: &str) -> Vec<u8> {
    let mut aad = STAFF_WRAP_AAD.to_vec();
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad
}

fn check_name(name: &str) -> Result<()> {
    let chars = name.chars().count();
    if chars == 0 || chars > 64 || name.chars().any(char::is_control) || name.trim() != name {
        return Err(SealError::BadStaffName);
    }
    Ok(())
}

fn check_passphrase(passphrase: &str) -> Result<()> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(SealError::WeakPassphrase);
    }
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Keyring {
    /// Makes a new records key pair; returns the keyring (no staff yet) and the recovery key
    /// to show once.
    pub fn generate() -> (Self, RecoveryKey) {
        let (private, public) = Kem::gen_keypair(&mut rand::rngs::OsRng);
        let recovery = RecoveryKey::generate();
        let secret = Zeroizing::new(private.to_bytes().to_vec());
        let keyring = Self {
            version: 1,
            public_key: hex::encode(public.to_bytes()),
            recovery: wrap(&recovery.0, RECOVERY_WRAP_AAD, &secret),
            staff: Vec::new(),
        };
        (keyring, recovery)
    }

    /// The keyring file of the data directory `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(KEYRING_FILE)
    }

    /// Reads the keyring of the data directory `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SealError::NoKeyring { path });
            }
            Err(e) => {
                return Err(SealError::Keyring {
                    path,
                    problem: e.to_string(),
                });
            }
        };
        let keyring: Self = toml::from_str(&text).map_err(|e| SealError::Keyring {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        keyring.sealer().map_err(|_| SealError::Keyring {
            path,
            problem: "public_key is not an X25519 public key".into(),
        })?;
        Ok(keyring)
    }

    /// Writes the keyring into the data directory `dir` (atomically, owner-only).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = Self::path(dir);
        let problem = |problem: String| SealError::Keyring {
            path: path.clone(),
            problem,
        };
        let body = toml::to_string(self).map_err(|e| problem(e.to_string()))?;
        let text = format!(
            "# Quietcount records keyring: the public key that seals client identity fields, and\n\
             # the private key wrapped once per staff member (Argon2id) and once under the\n\
             # recovery key. Change it only with `quietcount-node staff ...`.\n{body}"
        );
        quietcount_service::files::write_atomic(&path, text.as_bytes(), 0o600)
            .map_err(|e| problem(e.to_string()))
    }

    /// The sealer for this keyring's public key.
    pub fn sealer(&self) -> Result<Sealer> {
        let bytes = hex::decode(&self.public_key).map_err(|_| SealError::NotAccepted)?;
        let public = PublicKey::from_bytes(&bytes).map_err(|_| SealError::NotAccepted)?;
        Ok(Sealer { public })
    }

    /// The staff members, in the order they were added.
    pub fn staff(&self) -> &[StaffEntry] {
        &self.staff
    }

    /// Unlocks the private key. A wrong name, passphrase or recovery key gives
    /// [`SealError::NotAccepted`] only, after the same Argon2 work as a right one.
    pub fn unlock(&self, unlock: &Unlock) -> Result<RecordsKey> {
        let private = match unlock {
            Unlock::Recovery(key) => unwrap(&key.0, RECOVERY_WRAP_AAD, &self.recovery)?,
            Unlock::Staff { name, passphrase } => match self.staff.iter().find(|s| &s.name == name)
            {
                Some(entry) => {
                    let salt = hex::decode(&entry.salt).map_err(|_| SealError::NotAccepted)?;
                    let key = entry.kdf.derive(passphrase, &salt)?;
                    unwrap(&key, &staff_aad(name), &entry.wrap)?
                }
                None => {
                    // The same work as a known name, so the answer time says nothing.
                    let _ = KdfParams::default().derive(passphrase, &[0; 16])?;
                    return Err(SealError::NotAccepted);
                }
            },
        };
        // The unwrapped key must be this keyring's (a keyring edited by hand could hold
        // another site's wrap).
        let public = Kem::sk_to_pk(&private);
        if hex::encode(public.to_bytes()) != self.public_key {
            return Err(SealError::NotAccepted);
        }
        Ok(RecordsKey { private })
    }

    /// Adds staff member `name` with `passphrase`, wrapping the unlocked `key`.
    pub fn add_staff(
        &mut self,
        key: &RecordsKey,
        name: &str,
        passphrase: &str,
        kdf: KdfParams,
    ) -> Result<()> {
        check_name(name)?;
        check_passphrase(passphrase)?;
        if self.staff.iter().any(|s| s.name == name) {
            return Err(SealError::StaffExists { name: name.into() });
        }
        let entry = Self::staff_entry(key, name, passphrase, kdf)?;
        self.staff.push(entry);
        Ok(())
    }

    /// Changes the passphrase of staff member `name` (the caller unlocked as them).
    pub fn set_passphrase(
        &mut self,
        key: &RecordsKey,
        name: &str,
        passphrase: &str,
        kdf: KdfParams,
    ) -> Result<()> {
        check_passphrase(passphrase)?;
        let entry = Self::staff_entry(key, name, passphrase, kdf)?;
        let slot = self
            .staff
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| SealError::UnknownStaff { name: name.into() })?;
        *slot = entry;
        Ok(())
    }

    /// Removes staff member `name`'s wrapped key.
    pub fn remove_staff(&mut self, name: &str) -> Result<()> {
        let before = self.staff.len();
        self.staff.retain(|s| s.name != name);
        if self.staff.len() == before {
            return Err(SealError::UnknownStaff { name: name.into() });
        }
        Ok(())
    }

    fn staff_entry(
        key: &RecordsKey,
        name: &str,
        passphrase: &str,
        kdf: KdfParams,
    ) -> Result<StaffEntry> {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let derived = kdf.derive(passphrase, &salt)?;
        let secret = Zeroizing::new(key.private.to_bytes().to_vec());
        Ok(StaffEntry {
            name: name.to_owned(),
            kdf,
            changed_at: unix_now(),
            salt: hex::encode(salt),
            wrap: wrap(&derived, &staff_aad(name), &secret),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn fields() -> IdentityFields {
        IdentityFields {
            full_name: "Nguyễn Văn Marker".into(),
            date_of_birth: "1931-02-03".into(),
            phone: "0999123456".into(),
            national_id: "079309156112".into(),
            address: String::new(),
        }
    }

    fn unlocked() -> (Keyring, RecordsKey) {
        let (keyring, recovery) = Keyring::generate();
        let key = keyring.unlock(&Unlock::Recovery(recovery)).unwrap();
        (keyring, key)
    }

    #[test]
    fn sealed_fields_open_only_for_their_client_and_field() {
        let (keyring, key) = unlocked();
        let sealer = keyring.sealer().unwrap();
        let sealed = sealer.seal("C1", &fields());
        assert_eq!(key.open("C1", &sealed).unwrap(), fields());
        // Another client's code does not open them.
        assert!(matches!(
            key.open("C2", &sealed),
            Err(SealError::Corrupt { .. })
        ));
        // Two fields swapped within a row do not open.
        let mut swapped = sealed.clone();
        swapped.0.swap(0, 2);
        assert!(key.open("C1", &swapped).is_err());
        // A field moved from another client's row does not open.
        let other = sealer.seal("C2", &fields());
        let mut moved = sealed.clone();
        moved.0[0] = other.0[0].clone();
        assert!(key.open("C1", &moved).is_err());
        // No clear byte of a value is in the sealed bytes, and lengths are padded.
        for bytes in &sealed.0 {
            assert!(!bytes.windows(6).any(|w| w == b"Marker" || w == b"099912"));
            assert_eq!((bytes.len() - ENC_LEN - 16) % PAD_BLOCK, 0);
        }
    }

    #[test]
    fn another_sites_key_does_not_open_them() {
        let (keyring, _) = unlocked();
        let (_, other_key) = unlocked();
        let sealed = keyring.sealer().unwrap().seal("C1", &fields());
        assert!(other_key.open("C1", &sealed).is_err());
    }

    #[test]
    fn staff_unlock_with_their_passphrase_only_and_the_recovery_key_always() {
        let (mut keyring, recovery) = Keyring::generate();
        let shown = recovery.display().to_string();
        let key = keyring.unlock(&Unlock::Recovery(recovery)).unwrap();
        keyring
            .add_staff(&key, "Lan", "correct horse battery", KdfParams::for_tests())
            .unwrap();
        let staff = |name: &str, passphrase: &str| Unlock::Staff {
            name: name.into(),
            passphrase: Zeroizing::new(passphrase.into()),
        };
        let sealed = keyring.sealer().unwrap().seal("C1", &fields());
        let opened = keyring
            .unlock(&staff("Lan", "correct horse battery"))
            .unwrap()
            .open("C1", &sealed)
            .unwrap();
        assert_eq!(opened, fields());
        assert!(matches!(
            keyring.unlock(&staff("Lan", "wrong horse battery")),
            Err(SealError::NotAccepted)
        ));
        // The recovery key as printed, with spacing and case changed, still unlocks.
        let typed = shown.to_lowercase().replace('-', " ");
        assert!(
            keyring
                .unlock(&Unlock::Recovery(RecoveryKey::parse(&typed).unwrap()))
                .is_ok()
        );
        assert!(matches!(
            keyring.add_staff(&key, "Lan", "another passphrase", KdfParams::for_tests()),
            Err(SealError::StaffExists { .. })
        ));
        assert!(matches!(
            keyring.add_staff(&key, "Minh", "short", KdfParams::for_tests()),
            Err(SealError::WeakPassphrase)
        ));
        keyring
            .set_passphrase(&key, "Lan", "a new passphrase", KdfParams::for_tests())
            .unwrap();
        assert!(
            keyring
                .unlock(&staff("Lan", "correct horse battery"))
                .is_err()
        );
        assert!(keyring.unlock(&staff("Lan", "a new passphrase")).is_ok());
        keyring.remove_staff("Lan").unwrap();
        assert!(keyring.unlock(&staff("Lan", "a new passphrase")).is_err());
    }

    #[test]
    fn the_keyring_file_round_trips_and_holds_no_clear_key() {
        let dir = tempfile::tempdir().unwrap();
        let (mut keyring, recovery) = Keyring::generate();
        let key = keyring.unlock(&Unlock::Recovery(recovery)).unwrap();
        keyring
            .add_staff(&key, "Lan", "correct horse battery", KdfParams::for_tests())
            .unwrap();
        keyring.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(Keyring::path(dir.path())).unwrap();
        assert!(!text.contains(&hex::encode(key.private.to_bytes())));
        let loaded = Keyring::load(dir.path()).unwrap();
        assert_eq!(loaded.staff().len(), 1);
        assert_eq!(loaded.staff()[0].kdf, KdfParams::for_tests());
        let sealed = loaded.sealer().unwrap().seal("C1", &fields());
        assert_eq!(key.open("C1", &sealed).unwrap(), fields());
    }
}
