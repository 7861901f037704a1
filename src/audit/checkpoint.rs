//! C2SP `tlog-checkpoint`: the origin line, the tree size in decimal, the base64 root hash, and
//! optional extension lines, each ending in a newline; signed as a signed note.

use super::merkle::Hash;
use super::note::{NoteError, NoteSigner, NoteVerifier};

/// A tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin (also the signing key's name).
    pub origin: String,
    /// How many records the tree covers.
    pub size: u64,
    /// The RFC 6962 root hash.
    pub root: Hash,
    /// Extension lines (without newlines), usually none.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint's note text.
    pub fn to_text(&self) -> String {
        todo!()
    }
    /// Parses a checkpoint's text (the note body, without signatures).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        todo!("{text}")
    }
    /// Signs it.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        todo!("{signer:?}")
    }
    /// Opens a signed checkpoint note with `verifier`, and checks the origin is the key's name.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, NoteError> {
        todo!("{note}{verifier:?}")
    }
}
