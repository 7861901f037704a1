//! RFC 6962 / RFC 9162 Merkle tree hashing over the ledger's records: leaf hashes
//! `SHA-256(0x00 || data)`, node hashes `SHA-256(0x01 || left || right)`, the tree of the first
//! `n` leaves split at the largest power of two below `n`. Inclusion and consistency proofs in
//! the RFC's order (from the leaf up), so that any RFC 6962 verifier (Go's `sumdb/tlog`, the
//! transparency-dev libraries) accepts them.
//!
//! Provers take every leaf hash (the checkpointer and `audit prove` have them) and cost O(n);
//! verifiers take only the proof and cost O(log n), so an outsider checks cheaply.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProofError(pub String);

fn fail<T>(msg: impl Into<String>) -> Result<T, ProofError> {
    Err(ProofError(msg.into()))
}

/// The root of the empty tree, `SHA-256("")`.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(data)
        .finalize()
        .into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The largest power of two strictly below `n` (`n >= 2`): where RFC 6962 splits a tree.
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root of the tree over `leaves` (leaf hashes); the empty tree's root is `SHA-256("")`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The compact range of a tree: the roots of its perfect subtrees, left to right. It is all
/// that is needed to append leaves and compute the root, so the checkpointer keeps it between
/// checkpoints instead of reading the whole ledger again.
///
/// Invariant: one hash per set bit of `size`, largest subtree first. `new`, `push` and
/// deserialisation (which runs [`Frontier::check`]) are the only ways to make one, so the
/// invariant always holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FrontierRepr", into = "FrontierRepr")]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

/// The serialised form: hex digests, so that stores keep them as plain strings; checked before
/// it becomes a [`Frontier`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontierRepr {
    size: u64,
    hashes: Vec<String>,
}

impl From<Frontier> for FrontierRepr {
    fn from(f: Frontier) -> Self {
        FrontierRepr {
            size: f.size,
            hashes: f.hashes.iter().map(hex::encode).collect(),
        }
    }
}

impl TryFrom<FrontierRepr> for Frontier {
    type Error = ProofError;
    fn try_from(r: FrontierRepr) -> Result<Self, ProofError> {
        let mut hashes = Vec::with_capacity(r.hashes.len());
        for (i, h) in r.hashes.iter().enumerate() {
            // Lowercase only: that is what serialisation writes, so anything else was edited.
            let mut out = [0u8; 32];
            if h.len() != 64
                || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                || hex::decode_to_slice(h, &mut out).is_err()
            {
                return fail(format!(
                    "frontier hash {i} is not 64 lowercase hex digits: {h:?}"
                ));
            }
            hashes.push(out);
        }
        let f = Frontier {
            size: r.size,
            hashes,
        };
        f.check()?;
        Ok(f)
    }
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }
    /// How many leaves it covers.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        // Like binary increment: each trailing one bit of the size is a perfect subtree of the
        // same height as the carry, and merges with it.
        let mut carry = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("Frontier invariant: one hash per set bit");
            carry = node_hash(&left, &carry);
            s >>= 1;
        }
        self.hashes.push(carry);
        self.size += 1;
    }
    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        // The RFC tree over sizes 2^a + 2^b + ... (a > b > ...) is the left subtree of 2^a
        // leaves joined to the tree of the rest, so fold from the right.
        let mut it = self.hashes.iter().rev();
        match it.next() {
            None => EMPTY_ROOT,
            Some(last) => it.fold(*last, |acc, h| node_hash(h, &acc)),
        }
    }
    /// Checks the invariant (one hash per set bit of the size); deserialisation runs it.
    pub fn check(&self) -> Result<(), ProofError> {
        let want = self.size.count_ones() as usize;
        if self.hashes.len() != want {
            return fail(format!(
                "frontier of size {} must hold {want} hashes, not {}",
                self.size,
                self.hashes.len()
            ));
        }
        Ok(())
    }
}

/// The inclusion (audit) path of leaf `index` in the tree over `leaves`, leaf to root.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let n = leaves.len() as u64;
    if index >= n {
        return fail(format!(
            "no inclusion proof for leaf index {index}: the tree has {n} leaves"
        ));
    }
    // RFC 6962 section 2.1.1, PATH(m, D[n]); the deepest sibling is pushed first.
    fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
        if leaves.len() <= 1 {
            return;
        }
        let k = split(leaves.len());
        if m < k {
            path(m, &leaves[..k], out);
            out.push(root(&leaves[k..]));
        } else {
            path(m - k, &leaves[k..], out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    path(index as usize, leaves, &mut out);
    Ok(out)
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves with root `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return fail(format!(
            "leaf index {index} is not below the tree size {size}"
        ));
    }
    // RFC 9162 section 2.1.3.2: walk up from the leaf; `fnode` is our node's index at the
    // current level and `snode` the last node's, so `fnode == snode` means we are on the right
    // edge, where a level may have no right sibling.
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return fail(format!(
                "inclusion proof has {} hashes, more than a tree of size {size} needs",
                proof.len()
            ));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            // Skip the levels where we are a lone right-edge node (no sibling, no hash).
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return fail(format!(
            "inclusion proof has {} hashes, fewer than leaf {index} of a tree of size {size} needs",
            proof.len()
        ));
    }
    if r != *root {
        return fail(format!(
            "inclusion proof for leaf {index} does not lead to the root of the tree of size {size}"
        ));
    }
    Ok(())
}

/// The consistency proof from the tree of the first `old_size` leaves to the tree over all
/// `leaves` (RFC 6962 section 2.1.2).
///
/// From the empty tree (`old_size` 0) and to the same size the proof is empty (RFC 9162 section
/// 2.1.4; Go's `tlog.ProveTree` refuses size 0, transparency-dev returns an empty proof).
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, ProofError> {
    let n = leaves.len() as u64;
    if old_size > n {
        return fail(format!(
            "no consistency proof from size {old_size}: the tree has only {n} leaves"
        ));
    }
    // SUBPROOF(m, D[n], b): `complete` is b, true while the old tree is a left-edge subtree
    // whose root the verifier already has.
    fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
        let n = leaves.len();
        if m == n {
            if !complete {
                out.push(root(leaves));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, &leaves[..k], complete, out);
            out.push(root(&leaves[k..]));
        } else {
            subproof(m - k, &leaves[k..], false, out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    if old_size != 0 && old_size != n {
        subproof(old_size as usize, leaves, true, &mut out);
    }
    Ok(out)
}

/// Checks that the tree (`old_size`, `old_root`) is a prefix of (`new_size`, `new_root`).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return fail(format!(
            "the old tree size {old_size} is larger than the new size {new_size}"
        ));
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return fail(format!(
                "trees of the same size {old_size} need an empty consistency proof, not {} hashes",
                proof.len()
            ));
        }
        if old_root != new_root {
            return fail(format!("two trees of size {old_size} have different roots"));
        }
        return Ok(());
    }
    if old_size == 0 {
        // Every tree extends the empty one, but an "empty" tree with another root is a lie
        // (transparency-dev skips this check; it costs nothing).
        if !proof.is_empty() {
            return fail("a consistency proof from the empty tree must be empty");
        }
        if *old_root != EMPTY_ROOT {
            return fail("the tree of size 0 has a root other than SHA-256(\"\")");
        }
        return Ok(());
    }
    // RFC 9162 section 2.1.4.2. When the old tree is a perfect left subtree its root is the
    // proof's implied first hash.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some((f, rest)) => (f, rest),
            None => return fail("empty consistency proof between different sizes"),
        }
    };
    if old_size.is_power_of_two() && proof.is_empty() {
        return fail("empty consistency proof between different sizes");
    }
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return fail(format!(
                "consistency proof has {} hashes, more than sizes {old_size} to {new_size} need",
                proof.len()
            ));
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return fail(format!(
            "consistency proof has {} hashes, fewer than sizes {old_size} to {new_size} need",
            proof.len()
        ));
    }
    if fr != *old_root {
        return fail(format!(
            "consistency proof does not lead to the root of the old tree of size {old_size}"
        ));
    }
    if sr != *new_root {
        return fail(format!(
            "consistency proof does not lead to the root of the new tree of size {new_size}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Hash {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    }

    // Known answers from github.com/transparency-dev/merkle (testonly/constants.go and
    // proof/verify_test.go, which take them from certificate-transparency's
    // merkle_tree_test.cc): eight leaves, the root of every prefix, and proofs.
    const LEAVES_HEX: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    /// ROOTS_HEX[n] is the root of the first n leaves.
    const ROOTS_HEX: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    /// Leaf hashes of LEAVES_HEX (level 0 of testonly's node hashes).
    const LEAF_HASHES_HEX: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ];
    /// (index, size, proof), 0-based (verify_test.go lists 1-based leaf numbers).
    const INCLUSION: [(u64, u64, &[&str]); 5] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    /// (old size, new size, proof).
    const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn kat_leaves() -> Vec<Hash> {
        LEAVES_HEX
            .iter()
            .map(|l| leaf_hash(&hex::decode(l).unwrap()))
            .collect()
    }

    fn hashes(hexes: &[&str]) -> Vec<Hash> {
        hexes.iter().map(|s| h(s)).collect()
    }

    /// Leaves with distinct hashes, for the larger tests.
    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn record_hash_of_hello_world() {
        // golang.org/x/mod sumdb/tlog/note_test.go TestFormatTree: RecordHash("hello world").
        use base64::Engine as _;
        let want = base64::engine::general_purpose::STANDARD
            .decode("TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=")
            .unwrap();
        assert_eq!(leaf_hash(b"hello world").to_vec(), want);
    }

    #[test]
    fn known_leaf_hashes_and_roots() {
        let leaves = kat_leaves();
        assert_eq!(leaves, hashes(&LEAF_HASHES_HEX));
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
        let mut f = Frontier::new();
        for n in 0..=8 {
            assert_eq!(root(&leaves[..n]), h(ROOTS_HEX[n]), "root of {n}");
            assert_eq!(f.root(), h(ROOTS_HEX[n]), "frontier root of {n}");
            if n < 8 {
                f.push(leaves[n]);
            }
        }
    }

    #[test]
    fn known_inclusion_proofs() {
        let leaves = kat_leaves();
        for (index, size, proof) in INCLUSION {
            let proof = hashes(proof);
            let tree = &leaves[..size as usize];
            assert_eq!(
                inclusion_proof(tree, index).unwrap(),
                proof,
                "{index}/{size}"
            );
            let r = h(ROOTS_HEX[size as usize]);
            verify_inclusion(index, size, &leaves[index as usize], &proof, &r).unwrap();
        }
    }

    #[test]
    fn known_consistency_proofs() {
        let leaves = kat_leaves();
        for (old, new, proof) in CONSISTENCY {
            let proof = hashes(proof);
            let tree = &leaves[..new as usize];
            assert_eq!(consistency_proof(tree, old).unwrap(), proof, "{old}->{new}");
            let (r1, r2) = (h(ROOTS_HEX[old as usize]), h(ROOTS_HEX[new as usize]));
            verify_consistency(old, new, &r1, &r2, &proof).unwrap();
        }
    }

    /// Every way of changing one input of a valid inclusion check must fail it.
    fn inclusion_tampers_fail(index: u64, size: u64, leaf: &Hash, proof: &[Hash], r: &Hash) {
        let mut bad_root = *r;
        bad_root[31] ^= 1;
        assert!(verify_inclusion(index, size, leaf, proof, &bad_root).is_err());
        let mut bad_leaf = *leaf;
        bad_leaf[0] ^= 0x80;
        assert!(verify_inclusion(index, size, &bad_leaf, proof, r).is_err());
        for i in 0..proof.len() {
            let mut p = proof.to_vec();
            p[i][7] ^= 4;
            assert!(verify_inclusion(index, size, leaf, &p, r).is_err());
            let mut p = proof.to_vec();
            p.remove(i);
            assert!(verify_inclusion(index, size, leaf, &p, r).is_err());
        }
        let mut longer = proof.to_vec();
        longer.push(*r);
        assert!(verify_inclusion(index, size, leaf, &longer, r).is_err());
        if size > 1 {
            let other = (index + 1) % size;
            assert!(verify_inclusion(other, size, leaf, proof, r).is_err());
        }
    }

    #[test]
    fn every_proof_of_small_trees_verifies_and_tampering_fails() {
        let all = leaves(40);
        for n in 1..=all.len() {
            let tree = &all[..n];
            let r = root(tree);
            for i in 0..n as u64 {
                let p = inclusion_proof(tree, i).unwrap();
                assert!(p.len() <= 64 - (n as u64).leading_zeros() as usize);
                verify_inclusion(i, n as u64, &tree[i as usize], &p, &r).unwrap();
                inclusion_tampers_fail(i, n as u64, &tree[i as usize], &p, &r);
            }
            for old in 0..=n as u64 {
                let old_root = root(&tree[..old as usize]);
                let p = consistency_proof(tree, old).unwrap();
                verify_consistency(old, n as u64, &old_root, &r, &p).unwrap();
                let mut bad = r;
                bad[3] ^= 1;
                // Every tree extends the empty one, whatever its root.
                if old > 0 {
                    assert!(verify_consistency(old, n as u64, &old_root, &bad, &p).is_err());
                }
                assert!(verify_consistency(old, n as u64, &bad, &r, &p).is_err());
                for j in 0..p.len() {
                    let mut q = p.clone();
                    q[j][0] ^= 1;
                    assert!(verify_consistency(old, n as u64, &old_root, &r, &q).is_err());
                }
            }
        }
    }

    #[test]
    fn bad_indexes_and_sizes_are_errors_not_panics() {
        let t = leaves(5);
        let r = root(&t);
        assert!(inclusion_proof(&[], 0).is_err());
        assert!(inclusion_proof(&t, 5).is_err());
        assert!(inclusion_proof(&t, u64::MAX).is_err());
        assert!(consistency_proof(&t, 6).is_err());
        assert!(verify_inclusion(0, 0, &t[0], &[], &r).is_err());
        assert!(verify_inclusion(5, 5, &t[0], &[], &r).is_err());
        assert!(verify_inclusion(u64::MAX, u64::MAX, &t[0], &[r; 70], &r).is_err());
        assert!(verify_inclusion(0, u64::MAX, &t[0], &[r; 64], &r).is_err());
        assert!(verify_consistency(6, 5, &r, &r, &[]).is_err());
        assert!(verify_consistency(3, 5, &r, &r, &[]).is_err());
        assert!(verify_consistency(4, 5, &r, &r, &[]).is_err());
        assert!(verify_consistency(1, u64::MAX, &r, &r, &[r; 80]).is_err());
        assert!(verify_consistency(5, 5, &r, &r, &[r]).is_err());
        // From the empty tree: only its real root, with an empty proof.
        verify_consistency(0, 5, &EMPTY_ROOT, &r, &[]).unwrap();
        assert!(verify_consistency(0, 5, &r, &r, &[]).is_err());
        assert!(verify_consistency(0, 5, &EMPTY_ROOT, &r, &[r]).is_err());
        let e = verify_inclusion(7, 5, &t[0], &[], &r).unwrap_err();
        assert!(e.0.contains("index 7") && e.0.contains("size 5"), "{e}");
    }

    #[test]
    fn frontier_matches_root_for_every_size_up_to_300() {
        let all = leaves(300);
        let mut f = Frontier::new();
        assert_eq!(f.root(), root(&[]));
        for n in 1..=300 {
            f.push(all[n - 1]);
            assert_eq!(f.size(), n as u64);
            f.check().unwrap();
            assert_eq!(f.root(), root(&all[..n]), "size {n}");
        }
    }

    #[test]
    fn frontier_serde_round_trip_and_checks() {
        let mut f = Frontier::new();
        for l in leaves(11) {
            f.push(l);
        }
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.starts_with(r#"{"size":11,"hashes":[""#), "{json}");
        let back: Frontier = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
        // 11 = 0b1011 needs three hashes.
        let wrong_count = json.replacen(r#""size":11"#, r#""size":12"#, 1);
        assert!(serde_json::from_str::<Frontier>(&wrong_count).is_err());
        let upper = serde_json::to_string(&f).unwrap().to_uppercase();
        let upper = upper.replace("SIZE", "size").replace("HASHES", "hashes");
        assert!(serde_json::from_str::<Frontier>(&upper).is_err());
        let short = json.replacen(r#"["#, r#"["0"#, 1);
        assert!(serde_json::from_str::<Frontier>(&short).is_err());
        let bad = Frontier {
            size: 2,
            hashes: vec![[0u8; 32]; 2],
        };
        assert!(bad.check().is_err());
        let zz = json.replacen(&json[22..24], "zz", 1);
        assert!(serde_json::from_str::<Frontier>(&zz).is_err(), "{zz}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_inclusion_proofs_verify_and_altered_ones_fail(
            n in 1usize..600, i in any::<prop::sample::Index>(), byte in 0usize..32, bit in 0u8..8,
            which in any::<prop::sample::Index>(),
        ) {
            let tree = leaves(n);
            let r = root(&tree);
            let index = i.index(n) as u64;
            let p = inclusion_proof(&tree, index).unwrap();
            prop_assert!(verify_inclusion(index, n as u64, &tree[index as usize], &p, &r).is_ok());
            if !p.is_empty() {
                let mut q = p.clone();
                q[which.index(p.len())][byte] ^= 1 << bit;
                prop_assert!(verify_inclusion(index, n as u64, &tree[index as usize], &q, &r).is_err());
            }
            let mut leaf = tree[index as usize];
            leaf[byte] ^= 1 << bit;
            prop_assert!(verify_inclusion(index, n as u64, &leaf, &p, &r).is_err());
        }

        #[test]
        fn random_consistency_proofs_verify_and_altered_ones_fail(
            n in 1usize..600, m in any::<prop::sample::Index>(), byte in 0usize..32, bit in 0u8..8,
            which in any::<prop::sample::Index>(),
        ) {
            let tree = leaves(n);
            let old = m.index(n + 1);
            let (r1, r2) = (root(&tree[..old]), root(&tree));
            let p = consistency_proof(&tree, old as u64).unwrap();
            prop_assert!(verify_consistency(old as u64, n as u64, &r1, &r2, &p).is_ok());
            if !p.is_empty() {
                let mut q = p.clone();
                q[which.index(p.len())][byte] ^= 1 << bit;
                prop_assert!(verify_consistency(old as u64, n as u64, &r1, &r2, &q).is_err());
            }
            let mut bad = r2;
            bad[byte] ^= 1 << bit;
            // Every tree extends the empty one, whatever its root.
            if old > 0 {
                prop_assert!(verify_consistency(old as u64, n as u64, &r1, &bad, &p).is_err());
            }
            let mut bad = r1;
            bad[byte] ^= 1 << bit;
            prop_assert!(verify_consistency(old as u64, n as u64, &bad, &r2, &p).is_err());
            // A tree that is not an extension of the old one (its last old leaf changed).
            if old > 0 && old < n {
                let mut forked = tree.clone();
                forked[old - 1][0] ^= 1;
                let p2 = consistency_proof(&forked, old as u64).unwrap();
                prop_assert!(verify_consistency(old as u64, n as u64, &r1, &root(&forked), &p2).is_err());
            }
        }
    }
}
