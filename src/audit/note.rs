//! C2SP `signed-note` with Ed25519 keys (the format of Go's `golang.org/x/mod/sumdb/note`):
//! verifier keys `name+hash+base64(0x01 || public key)`, signer keys
//! `PRIVATE+KEY+name+hash+base64(0x01 || seed)`, where `hash` is the first four bytes of
//! `SHA-256(name || "\n" || 0x01 || public key)` as eight hex digits; a signed note is the text,
//! a blank line, and one `— name base64(key hash || signature)` line per signature.
//!
//! Parsing follows Go's `note.NewVerifier`, `note.NewSigner` and `note.Open` rule for rule, so
//! that a note one side accepts the other accepts too (see `open` for the two details).

use base64::Engine as _;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use rand::RngCore as _;
use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;
use sha2::{Digest, Sha256};

/// Why a key or a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoteError(pub String);

fn fail<T>(msg: impl Into<String>) -> Result<T, NoteError> {
    Err(NoteError(msg.into()))
}

/// The signature type byte of Ed25519 in keys and key ids.
const ALG_ED25519: u8 = 0x01;
/// What starts a signature line: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// Go's limit; the spec asks for at least 16 and some limit.
const MAX_SIGNATURES: usize = 100;

/// Go's `base64.StdEncoding`: padding required, non-zero trailing bits accepted (Go decodes
/// them; refusing would reject notes Go opens).
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// A key name: non-empty, no `+`, no Unicode space (spec), and no control character (Go's
/// `Open` refuses those anywhere in a note, so such a key could never be checked).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || (c as u32) < 0x20)
}

/// `SHA-256(name || "\n" || 0x01 || public key)[..4]`, big-endian.
fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let d = Sha256::new()
        .chain_update(name)
        .chain_update("\n")
        .chain_update([ALG_ED25519])
        .chain_update(public)
        .finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Go's `chop`: the text before and after the first `sep`, or all of it and "".
fn chop(s: &str, sep: char) -> (&str, &str) {
    s.split_once(sep).unwrap_or((s, ""))
}

/// Eight hex digits (either case, as Go's `strconv.ParseUint(h, 16, 32)` with the length check).
fn parse_key_id(h: &str) -> Option<u32> {
    if h.len() != 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(h, 16).ok()
}

/// Signs notes; holds the private key (never printed: `Debug` shows the name and key id only).
pub struct NoteSigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    fn from_seed(name: &str, seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        NoteSigner {
            name: name.to_owned(),
            id,
            key,
        }
    }

    /// A new random key named `name` (a key name has no spaces, `+` or newlines).
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return fail(format!(
                "invalid key name {name:?}: it must be non-empty, without spaces, '+' or control characters"
            ));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        // ThreadRng is a CSPRNG seeded from the operating system.
        rand::rng().fill_bytes(&mut *seed);
        Ok(Self::from_seed(name, &seed))
    }

    /// Parses a `PRIVATE+KEY+...` signer key.
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        // The messages never quote the key: it is a secret.
        let malformed = || fail("malformed signer key (want PRIVATE+KEY+name+hash+base64)");
        let (p1, rest) = chop(skey, '+');
        let (p2, rest) = chop(rest, '+');
        let (name, rest) = chop(rest, '+');
        let (hash16, key64) = chop(rest, '+');
        if p1 != "PRIVATE" || p2 != "KEY" || !valid_name(name) {
            return malformed();
        }
        let Some(id) = parse_key_id(hash16) else {
            return malformed();
        };
        let Ok(key) = GO_STD.decode(key64).map(Zeroizing::new) else {
            return malformed();
        };
        match key.split_first() {
            Some((&ALG_ED25519, seed)) if seed.len() == 32 => {
                let mut s = Zeroizing::new([0u8; 32]);
                s.copy_from_slice(seed);
                let signer = Self::from_seed(name, &s);
                // The hash names the public key, so it can only be checked after deriving it.
                if signer.id != id {
                    return fail("signer key hash does not match its name and key");
                }
                Ok(signer)
            }
            Some((&ALG_ED25519, _)) => fail("signer key: an Ed25519 seed has 32 bytes"),
            Some(_) => fail("signer key: unknown signature algorithm (only Ed25519 is supported)"),
            None => malformed(),
        }
    }

    /// The signer key text, to be stored as a secret.
    pub fn to_skey(&self) -> SecretString {
        let mut raw = Zeroizing::new([0u8; 33]);
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        let b64 = Zeroizing::new(GO_STD.encode(&raw[..]));
        let head = format!("PRIVATE+KEY+{}+{:08x}+", self.name, self.id);
        // Exactly sized, so that turning it into the secret's `Box<str>` does not reallocate
        // and leave an unzeroed copy behind.
        let mut out = String::with_capacity(head.len() + b64.len());
        out.push_str(&head);
        out.push_str(&b64);
        SecretString::from(out)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public verifier for this key.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` (which must be non-empty and end with a newline) as a signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') {
            return fail("note text must be non-empty and end with a newline");
        }
        // The spec (and every `Open`) refuses control characters in a note: a note with one
        // could be signed but never opened.
        if text.chars().any(|c| (c as u32) < 0x20 && c != '\n') {
            return fail("note text must not contain control characters other than newline");
        }
        let sig = self.key.sign(text.as_bytes()).to_bytes();
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(&sig);
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            GO_STD.encode(blob)
        ))
    }

    /// A bare Ed25519 signature over `msg` (for per-record signatures).
    pub fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// Checks notes signed by one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a `name+hash+base64` verifier key (the hash must match the name and key).
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let malformed = || {
            fail(format!(
                "malformed verifier key {vkey:?} (want name+hash+base64)"
            ))
        };
        let (name, rest) = chop(vkey, '+');
        let (hash16, key64) = chop(rest, '+');
        if !valid_name(name) {
            return malformed();
        }
        let Some(id) = parse_key_id(hash16) else {
            return malformed();
        };
        let Ok(key) = GO_STD.decode(key64) else {
            return malformed();
        };
        let Some((&alg, public)) = key.split_first() else {
            return malformed();
        };
        // As Go: the hash covers whatever bytes are there, checked before the algorithm.
        let hash = Sha256::new()
            .chain_update(name)
            .chain_update("\n")
            .chain_update(&key)
            .finalize();
        if u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) != id {
            return fail(format!(
                "verifier key {vkey:?}: the hash does not match the name and key"
            ));
        }
        if alg != ALG_ED25519 {
            return fail(format!(
                "verifier key {vkey:?}: unknown signature algorithm {alg:#04x} (only Ed25519 is supported)"
            ));
        }
        let Ok(public) = <[u8; 32]>::try_from(public) else {
            return fail(format!(
                "verifier key {vkey:?}: an Ed25519 public key has 32 bytes"
            ));
        };
        let Ok(key) = VerifyingKey::from_bytes(&public) else {
            return fail(format!("verifier key {vkey:?}: not an Ed25519 public key"));
        };
        Ok(NoteVerifier {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The verifier key text (safe to publish).
    pub fn to_vkey(&self) -> String {
        let mut raw = [0u8; 33];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, GO_STD.encode(raw))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The four-byte key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// Checks a bare Ed25519 signature over `msg`.
    pub fn verify_raw(&self, msg: &[u8], sig: &[u8]) -> bool {
        // `verify` is RFC 8032 cofactorless verification with canonical S, as Go's
        // crypto/ed25519, so both accept the same signatures.
        Signature::from_slice(sig).is_ok_and(|s| self.key.verify(msg, &s).is_ok())
    }

    /// Checks many bare signatures by this key at once (Ed25519 batch verification: about
    /// half the cost per signature); true only when all verify. Batch verification is the
    /// cofactored equation, so a caller that must name the bad signature (or agree exactly with
    /// [`Self::verify_raw`]) checks one by one after a failure.
    pub fn verify_raw_batch(&self, msgs: &[&[u8]], sigs: &[&[u8]]) -> bool {
        if msgs.len() != sigs.len() {
            return false;
        }
        let Ok(sigs) = sigs
            .iter()
            .map(|s| Signature::from_slice(s))
            .collect::<Result<Vec<_>, _>>()
        else {
            return false;
        };
        let keys = vec![self.key; msgs.len()];
        ed25519_dalek::verify_batch(msgs, &sigs, &keys).is_ok()
    }
}

/// Opens a signed note: returns its text when at least one signature is by one of `verifiers`
/// and every signature by one of them verifies; signatures by unknown keys are ignored.
///
/// As Go's `note.Open`: at most 100 signature lines; a repeated signature by the same known key
/// (name and id) is skipped, not checked again; two different verifiers with the same name and
/// id are an error when a signature names them.
pub fn open(note: &str, verifiers: &[NoteVerifier]) -> Result<String, NoteError> {
    let malformed = |why: &str| fail(format!("malformed note: {why}"));
    if note.chars().any(|c| (c as u32) < 0x20 && c != '\n') {
        return malformed("control character");
    }
    // The text ends at the last blank line: the text itself may contain blank lines.
    let Some(split) = note.rfind("\n\n") else {
        return malformed("no blank line before the signatures");
    };
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    let Some(sigs) = sigs.strip_suffix('\n') else {
        return malformed("no signature lines, or no newline after the last one");
    };
    let mut checked: Vec<&NoteVerifier> = Vec::new();
    for (n, line) in sigs.split('\n').enumerate() {
        let Some(line) = line.strip_prefix(SIG_PREFIX) else {
            return malformed("a line after the blank line is not a signature");
        };
        let (name, b64) = chop(line, ' ');
        let sig = match GO_STD.decode(b64) {
            Ok(sig) if valid_name(name) && sig.len() >= 5 => sig,
            _ => return malformed("bad signature line"),
        };
        if n + 1 > MAX_SIGNATURES {
            return malformed("more than 100 signatures");
        }
        let id = u32::from_be_bytes([sig[0], sig[1], sig[2], sig[3]]);
        let mut known = verifiers.iter().filter(|v| v.name == name && v.id == id);
        let Some(v) = known.next() else {
            continue; // Unknown keys are ignored, even when the name or the id matches.
        };
        if known.any(|other| other.key != v.key) {
            return fail(format!(
                "two verifier keys are named {name} with id {id:08x}"
            ));
        }
        if checked.iter().any(|c| c.name == name && c.id == id) {
            continue;
        }
        if !v.verify_raw(text.as_bytes(), &sig[4..]) {
            return fail(format!(
                "the signature by {name} (key {id:08x}) does not verify"
            ));
        }
        checked.push(v);
    }
    if checked.is_empty() {
        return fail("note has no signature by a known key");
    }
    Ok(text.to_owned())
}

/// [`open`] on bytes read from elsewhere (a signed note must be UTF-8).
pub fn open_bytes(note: &[u8], verifiers: &[NoteVerifier]) -> Result<String, NoteError> {
    match std::str::from_utf8(note) {
        Ok(note) => open(note, verifiers),
        Err(_) => fail("malformed note: not valid UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    // Known answers from golang.org/x/mod sumdb/note/note_test.go (TestNewVerifier, TestSign,
    // TestOpen) and from c2sp.org/signed-note (section "Verifier keys", Example).
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    /// Go's test signer key for PETER_VKEY (note_test.go TestNewSigner, TestSign).
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const EXAMPLE_VKEY: &str =
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const EXAMPLE_NOTE: &str = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
    /// PETER_SIG with four characters replaced (TestOpen's invalid signature).
    const PETER_BAD_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNABCDIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    /// ENOCH_SIG with four characters replaced (TestOpen's duplicated, unverified signatures).
    const ENOCH_BAD_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tABCDiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
    /// TestNewVerifier: a wrong-length key and an unknown algorithm, each with its hash adjusted.
    const BAD_VKEYS: [&str; 2] = [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ];

    fn v(vkey: &str) -> NoteVerifier {
        NoteVerifier::from_vkey(vkey).unwrap()
    }

    fn signed(sigs: &[&str]) -> String {
        format!("{PETER_TEXT}\n{}", sigs.concat())
    }

    #[test]
    fn good_verifier_keys_parse_and_print_back() {
        for (vkey, name, id) in [
            (EXAMPLE_VKEY, "example.com/foo", 0x530d903a),
            (PETER_VKEY, "PeterNeumann", 0xc74f20a3),
            (ENOCH_VKEY, "EnochRoot", 0xaf0cfe78),
        ] {
            let ver = v(vkey);
            assert_eq!((ver.name(), ver.key_id()), (name, id));
            assert_eq!(ver.to_vkey(), vkey);
        }
    }

    #[test]
    fn bad_and_mangled_verifier_keys_are_refused() {
        for bad in BAD_VKEYS {
            assert!(NoteVerifier::from_vkey(bad).is_err(), "{bad}");
        }
        // TestNewVerifier: every proper substring and every one-byte increment is refused.
        let b = PETER_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if (i, j) != (0, b.len()) {
                    let s = std::str::from_utf8(&b[i..j]).unwrap();
                    assert!(NoteVerifier::from_vkey(s).is_err(), "{s}");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let s = String::from_utf8(m).unwrap();
            assert!(NoteVerifier::from_vkey(&s).is_err(), "{s}");
        }
    }

    #[test]
    fn go_signer_key_signs_exactly_as_go() {
        let s = NoteSigner::from_skey(PETER_SKEY).unwrap();
        assert_eq!(s.name(), "PeterNeumann");
        assert_eq!(s.verifier(), v(PETER_VKEY));
        assert_eq!(s.to_skey().expose_secret(), PETER_SKEY);
        // Ed25519 is deterministic: the same note, byte for byte, as TestSign.
        assert_eq!(s.sign(PETER_TEXT).unwrap(), signed(&[PETER_SIG]));
        // TestNewSigner's manglings.
        let b = PETER_SKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if (i, j) != (0, b.len()) {
                    let t = std::str::from_utf8(&b[i..j]).unwrap();
                    assert!(NoteSigner::from_skey(t).is_err(), "{t}");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let t = String::from_utf8(m).unwrap();
            assert!(NoteSigner::from_skey(&t).is_err(), "{t}");
        }
    }

    #[test]
    fn known_notes_open_or_are_refused_as_go_does() {
        let peter = [v(PETER_VKEY)];
        let both = [v(PETER_VKEY), v(ENOCH_VKEY)];
        let example = [v(EXAMPLE_VKEY)];
        assert_eq!(
            open(EXAMPLE_NOTE, &example).unwrap(),
            "This is an example message.\n"
        );
        assert_eq!(open(&signed(&[PETER_SIG]), &peter).unwrap(), PETER_TEXT);
        assert_eq!(
            open(&signed(&[PETER_SIG, ENOCH_SIG]), &peter).unwrap(),
            PETER_TEXT
        );
        assert_eq!(
            open(&signed(&[PETER_SIG, ENOCH_SIG]), &both).unwrap(),
            PETER_TEXT
        );
        // Known to nobody here.
        assert!(open(&signed(&[PETER_SIG, ENOCH_SIG]), &example).is_err());
        assert!(open(&signed(&[PETER_BAD_SIG]), &peter).is_err());
        // Duplicates are dropped, and the bad Enoch signature is by an unknown key.
        let dup = signed(&[PETER_SIG, PETER_SIG, ENOCH_SIG, ENOCH_SIG, ENOCH_BAD_SIG]);
        assert_eq!(open(&dup, &peter).unwrap(), PETER_TEXT);
        // With Enoch known, Go checks only its first signature and skips later ones by the
        // same key, the bad one included; we do the same, so both sides accept the same notes.
        assert_eq!(open(&dup, &both).unwrap(), PETER_TEXT);
        // A bad signature by a known key before any good one fails the note.
        let bad_first = signed(&[PETER_SIG, ENOCH_BAD_SIG, ENOCH_SIG]);
        assert!(open(&bad_first, &peter).is_ok());
        assert!(open(&bad_first, &both).is_err());
        // 101 signatures: more than the limit.
        assert!(open(&signed(&[PETER_SIG; 101]), &peter).is_err());
        assert!(open(&signed(&[PETER_SIG; 100]), &peter).is_ok());
        for bad in [
            PETER_TEXT.to_owned(),                                  // no signatures
            format!("{PETER_TEXT}\n"),                              // blank line only
            signed(&[PETER_SIG]).trim_end_matches('\n').to_owned(), // no final newline
            format!("\u{1}{}", signed(&[PETER_SIG])),               // control character
            signed(&[&PETER_SIG.replace("PeterNeumann", "Bad Name")]),
            signed(&[PETER_SIG, "Unexpected line.\n"]),
        ] {
            assert!(open(&bad, &peter).is_err(), "{bad:?}");
        }
        // The same note with an invalid UTF-8 byte first.
        let mut bytes = vec![0xff];
        bytes.extend_from_slice(signed(&[PETER_SIG]).as_bytes());
        assert!(open_bytes(&bytes, &peter).is_err());
        assert!(open_bytes(signed(&[PETER_SIG]).as_bytes(), &peter).is_ok());
    }

    #[test]
    fn generated_keys_round_trip_and_sign() {
        let s = NoteSigner::generate("ledger.example/audit").unwrap();
        let skey = s.to_skey();
        let again = NoteSigner::from_skey(skey.expose_secret()).unwrap();
        assert_eq!(again.verifier(), s.verifier());
        let ver = NoteVerifier::from_vkey(&s.verifier().to_vkey()).unwrap();
        assert_eq!(ver, s.verifier());
        let text = "line one\n\nline three after a blank line\n— not a signature\n";
        let note = s.sign(text).unwrap();
        assert_eq!(open(&note, std::slice::from_ref(&ver)).unwrap(), text);
        // Another key of the same name is a different key.
        let other = NoteSigner::generate("ledger.example/audit").unwrap();
        assert!(open(&note, &[other.verifier()]).is_err());
        // Signed by both; each verifier alone accepts it (the other signature is unknown).
        let both = format!(
            "{note}{}",
            other.sign(text).unwrap().split_at(text.len() + 1).1
        );
        assert_eq!(open(&both, std::slice::from_ref(&ver)).unwrap(), text);
        assert_eq!(open(&both, &[other.verifier()]).unwrap(), text);
        let raw = s.sign_raw(b"record");
        assert!(ver.verify_raw(b"record", &raw));
        assert!(!ver.verify_raw(b"recorD", &raw));
        assert!(!ver.verify_raw(b"record", &raw[..63]));
    }

    #[test]
    fn tampered_notes_fail() {
        let s = NoteSigner::generate("tamper").unwrap();
        let note = s.sign("size 10\n").unwrap();
        let ver = [s.verifier()];
        // Text changed.
        assert!(open(&note.replacen("10", "11", 1), &ver).is_err());
        // Every byte of the key id and signature flipped in turn.
        let sig_start = note.rfind(' ').unwrap() + 1;
        let blob = GO_STD.decode(&note[sig_start..note.len() - 1]).unwrap();
        assert_eq!(blob.len(), 68);
        for i in 0..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 0x01;
            let bad = format!("{}{}\n", &note[..sig_start], GO_STD.encode(&b));
            assert!(open(&bad, &ver).is_err(), "byte {i}");
        }
        assert!(open(&note, &ver).is_ok());
    }

    #[test]
    fn names_and_texts_are_checked() {
        for bad in [
            "",
            "a+b",
            "a b",
            "a\tb",
            "a\u{a0}b",
            "a\u{2003}b",
            "a\u{3000}b",
            "a\nb",
        ] {
            assert!(NoteSigner::generate(bad).is_err(), "{bad:?}");
        }
        let s = NoteSigner::generate("ok").unwrap();
        for bad in ["", "no newline", "tab\there\n", "nul\0\n"] {
            assert!(s.sign(bad).is_err(), "{bad:?}");
        }
        assert!(s.sign("\n").is_ok());
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let s = NoteSigner::from_skey(PETER_SKEY).unwrap();
        let shown = format!("{s:?} {s:#?}");
        assert!(
            shown.contains("PeterNeumann") && shown.contains("c74f20a3"),
            "{shown}"
        );
        let seed_b64 = PETER_SKEY.split_once("c74f20a3+").unwrap().1;
        for secret in [seed_b64, &seed_b64[4..20], "PRIVATE"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let seed = GO_STD.decode(seed_b64).unwrap();
        assert!(!shown.contains(&hex::encode(&seed[1..])), "{shown}");
        assert!(!shown.contains(&format!("{:?}", &seed[1..5])), "{shown}");
        let skey = format!("{:?}", s.to_skey());
        assert!(!skey.contains(seed_b64), "{skey}");
    }
}
