//! C2SP `signed-note` with Ed25519 keys (the format of Go's `golang.org/x/mod/sumdb/note`):
//! verifier keys `name+hash+base64(0x01 || public key)`, signer keys
//! `PRIVATE+KEY+name+hash+base64(0x01 || seed)`, where `hash` is the first four bytes of
//! `SHA-256(name || "\n" || 0x01 || public key)` as eight hex digits; a signed note is the text,
//! a blank line, and one `— name base64(key hash || signature)` line per signature.

use secrecy::SecretString;

/// Why a key or a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoteError(pub String);

/// Signs notes; holds the private key (never printed: `Debug` shows the name and key id only).
pub struct NoteSigner {
    _p: (),
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let _ = f;
        todo!()
    }
}

impl NoteSigner {
    /// A new random key named `name` (a key name has no spaces, `+` or newlines).
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        todo!("{name}")
    }
    /// Parses a `PRIVATE+KEY+...` signer key.
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        todo!("{}", skey.len())
    }
    /// The signer key text, to be stored as a secret.
    pub fn to_skey(&self) -> SecretString {
        todo!()
    }
    /// The key's name.
    pub fn name(&self) -> &str {
        todo!()
    }
    /// The public verifier for this key.
    pub fn verifier(&self) -> NoteVerifier {
        todo!()
    }
    /// Signs `text` (which must be non-empty and end with a newline) as a signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        todo!("{text}")
    }
    /// A bare Ed25519 signature over `msg` (for per-record signatures).
    pub fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        todo!("{}", msg.len())
    }
}

/// Checks notes signed by one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    _p: (),
}

impl NoteVerifier {
    /// Parses a `name+hash+base64` verifier key (the hash must match the name and key).
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        todo!("{vkey}")
    }
    /// The verifier key text (safe to publish).
    pub fn to_vkey(&self) -> String {
        todo!()
    }
    /// The key's name.
    pub fn name(&self) -> &str {
        todo!()
    }
    /// The four-byte key id.
    pub fn key_id(&self) -> u32 {
        todo!()
    }
    /// Checks a bare Ed25519 signature over `msg`.
    pub fn verify_raw(&self, msg: &[u8], sig: &[u8]) -> bool {
        todo!("{}{}", msg.len(), sig.len())
    }
}

/// Opens a signed note: returns its text when at least one signature is by one of `verifiers`
/// and every signature by one of them verifies; signatures by unknown keys are ignored.
pub fn open(note: &str, verifiers: &[NoteVerifier]) -> Result<String, NoteError> {
    todo!("{note}{}", verifiers.len())
}
