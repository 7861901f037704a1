//! C2SP `tlog-checkpoint`: the origin line, the tree size in decimal, the base64 root hash, and
//! optional extension lines, each ending in a newline; signed as a signed note.
//!
//! The spec only says the signing key's name SHOULD match the origin. We require it on both
//! sides: `sign` refuses another key and `open` refuses a checkpoint whose origin is not the
//! verifier's name, so a key can never vouch for another log's tree under its own name. One
//! verifier key (`LEDGER_SIGNING_KEY`'s public half) therefore pins both the key and the log.

use super::merkle::Hash;
use super::note::{self, NoteError, NoteSigner, NoteVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

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

fn fail<T>(msg: impl Into<String>) -> Result<T, NoteError> {
    Err(NoteError(format!("checkpoint: {}", msg.into())))
}

impl Checkpoint {
    /// The checkpoint's note text.
    pub fn to_text(&self) -> String {
        let mut t = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            t.push_str(e);
            t.push('\n');
        }
        t
    }

    /// Parses a checkpoint's text (the note body, without signatures).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let Some(body) = text.strip_suffix('\n') else {
            return fail("the text must end with a newline");
        };
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return fail("want at least three lines: origin, tree size, root hash");
        };
        if origin.is_empty() {
            return fail("empty origin");
        }
        if origin.chars().any(|c| (c as u32) < 0x20) {
            return fail("control character in the origin");
        }
        // ASCII digits, no sign, no leading zero (but "0" for the empty tree), fits in u64.
        let digits = !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit());
        let size = match size.parse::<u64>() {
            Ok(n) if digits && (size == "0" || !size.starts_with('0')) => n,
            _ => return fail(format!("bad tree size {size:?}")),
        };
        // Standard base64 with padding and no stray bits: one text per root.
        let root = match STANDARD.decode(root).map(<Hash>::try_from) {
            Ok(Ok(h)) => h,
            _ => return fail(format!("root hash {root:?} is not 32 bytes of base64")),
        };
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return fail("empty extension line");
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs it.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        if self.origin != signer.name() {
            return fail(format!(
                "origin {:?} is not the signing key's name {:?}",
                self.origin,
                signer.name()
            ));
        }
        let text = self.to_text();
        // A newline inside a field, or an empty extension, would sign something else than
        // `self`; parsing back catches every such case.
        if Checkpoint::parse(&text).as_ref() != Ok(self) {
            return fail(
                "a field contains a newline or control character, or an extension is empty",
            );
        }
        signer.sign(&text)
    }

    /// Opens a signed checkpoint note with `verifier`, and checks the origin is the key's name.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, NoteError> {
        let text = note::open(note, std::slice::from_ref(verifier))?;
        let cp = Checkpoint::parse(&text)?;
        if cp.origin != verifier.name() {
            return fail(format!(
                "origin {:?} is not the verifier key's name {:?}",
                cp.origin,
                verifier.name()
            ));
        }
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::merkle::{EMPTY_ROOT, leaf_hash, root};

    // Known answers: golang.org/x/mod sumdb/tlog/note_test.go TestParseTree (a go.sum tree note
    // is a checkpoint with origin "go.sum database tree"; its "junk on end" is an extension line),
    // and the c2sp.org/tlog-checkpoint example.
    const GO_TREE: &str =
        "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
    const GO_TREE_JUNK: &str =
        "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\nJOE\n";
    const GO_BAD_TREES: [&str; 2] = [
        "go.sum database tree\n0xabcdef\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
        "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n",
    ];
    const C2SP_BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    /// The spec's signed example; its public key is not published, so only its form is used.
    const C2SP_NOTE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    #[test]
    fn known_checkpoints_parse_and_print_back() {
        let hello = leaf_hash(b"hello world"); // TszzRg...: RecordHash("hello world")
        for (text, origin, size, ext) in [
            (GO_TREE, "go.sum database tree", 123456789012, vec![]),
            (
                GO_TREE_JUNK,
                "go.sum database tree",
                123456789012,
                vec!["JOE"],
            ),
            (C2SP_BODY, "example.com/behind-the-sofa", 20852163, vec![]),
        ] {
            let cp = Checkpoint::parse(text).unwrap();
            assert_eq!((cp.origin.as_str(), cp.size), (origin, size));
            assert_eq!(cp.extensions, ext);
            assert_eq!(cp.to_text(), text);
            if origin.starts_with("go.sum") {
                assert_eq!(cp.root, hello);
            }
        }
        for bad in GO_BAD_TREES {
            assert!(Checkpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strict_parsing() {
        let r = "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=";
        assert!(Checkpoint::parse(&format!("o\n0\n{r}\n")).is_ok());
        for bad in [
            format!("o\n01\n{r}\n"),
            format!("o\n00\n{r}\n"),
            format!("o\n+1\n{r}\n"),
            format!("o\n-1\n{r}\n"),
            format!("o\n 1\n{r}\n"),
            format!("o\n\n{r}\n"),
            format!("o\n18446744073709551616\n{r}\n"),
            format!("o\n1\n{}\n", r.trim_end_matches('=')),
            format!("o\n1\n{}\n", r.replace("Bb0=", "Bb1=")), // stray bits
            format!("o\n1\n{}\n", &r[4..]),
            "o\n1\nAAAA\n".to_owned(),
            format!("o\n1\n{r}"),
            format!("o\n1\n{r}\n\n"),
            format!("o\n1\n{r}\n\next\n"),
            format!("\n1\n{r}\n"),
            format!("o\r\n1\n{r}\n"),
            "o\n1\n".to_owned(),
            String::new(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{r}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
    }

    #[test]
    fn c2sp_example_note_is_well_formed_but_by_an_unknown_key() {
        let (body, _) = C2SP_NOTE.split_at(C2SP_BODY.len());
        assert_eq!(Checkpoint::parse(body).unwrap().size, 20852163);
        // Another key with the log's name: the note's key id differs, so it is unknown.
        let s = NoteSigner::generate("example.com/behind-the-sofa").unwrap();
        let e = Checkpoint::open(C2SP_NOTE, &s.verifier()).unwrap_err();
        assert!(e.0.contains("no signature by a known key"), "{e}");
    }

    #[test]
    fn sign_open_round_trip_and_tampering() {
        let s = NoteSigner::generate("ledger.example/audit").unwrap();
        let leaves: Vec<_> = (0..7u8).map(|i| leaf_hash(&[i])).collect();
        let cp = Checkpoint {
            origin: s.name().to_owned(),
            size: 7,
            root: root(&leaves),
            extensions: vec![],
        };
        let note = cp.sign(&s).unwrap();
        assert!(note.starts_with(&cp.to_text()));
        assert_eq!(Checkpoint::open(&note, &s.verifier()).unwrap(), cp);
        let ext = Checkpoint {
            extensions: vec!["ts 1700000000".into()],
            ..cp.clone()
        };
        assert_eq!(
            Checkpoint::open(&ext.sign(&s).unwrap(), &s.verifier()).unwrap(),
            ext
        );
        let empty = Checkpoint {
            size: 0,
            root: EMPTY_ROOT,
            ..cp.clone()
        };
        assert_eq!(
            Checkpoint::open(&empty.sign(&s).unwrap(), &s.verifier()).unwrap(),
            empty
        );
        // A changed size, root, or signature, or another key.
        assert!(Checkpoint::open(&note.replacen("\n7\n", "\n8\n", 1), &s.verifier()).is_err());
        let b64 = STANDARD.encode(cp.root);
        let mut other_root = cp.root;
        other_root[0] ^= 1;
        let swapped = note.replacen(&b64, &STANDARD.encode(other_root), 1);
        assert!(Checkpoint::open(&swapped, &s.verifier()).is_err());
        let sig_at = note.rfind(' ').unwrap() + 10;
        let mut bad_sig = note.clone().into_bytes();
        bad_sig[sig_at] = if bad_sig[sig_at] == b'A' { b'B' } else { b'A' };
        let bad_sig = String::from_utf8(bad_sig).unwrap();
        assert!(Checkpoint::open(&bad_sig, &s.verifier()).is_err());
        let other = NoteSigner::generate("ledger.example/audit").unwrap();
        assert!(Checkpoint::open(&note, &other.verifier()).is_err());
    }

    #[test]
    fn origin_must_be_the_key_name() {
        let s = NoteSigner::generate("log-a").unwrap();
        let cp = Checkpoint {
            origin: "log-b".into(),
            size: 1,
            root: leaf_hash(b"x"),
            extensions: vec![],
        };
        assert!(cp.sign(&s).is_err());
        // Signed as a plain note, it verifies, but is not log-a's checkpoint.
        let note = s.sign(&cp.to_text()).unwrap();
        let e = Checkpoint::open(&note, &s.verifier()).unwrap_err();
        assert!(e.0.contains("origin"), "{e}");
        // Fields that would change the text are refused.
        for bad in [
            Checkpoint {
                origin: "log-a\n2".into(),
                ..cp.clone()
            },
            Checkpoint {
                origin: "log-a".into(),
                extensions: vec!["".into()],
                ..cp.clone()
            },
            Checkpoint {
                origin: "log-a".into(),
                extensions: vec!["a\nb".into()],
                ..cp.clone()
            },
        ] {
            assert!(bad.sign(&s).is_err(), "{bad:?}");
        }
    }
}
