// Command ledgerverify checks the proof bundles that `ncp-share-approver audit prove` prints,
// independently of the Rust code: signatures with golang.org/x/mod/sumdb/note, proofs with
// golang.org/x/mod/sumdb/tlog (the Go checksum database's RFC 6962 implementation).
//
// Usage: ledgerverify [-key VKEY] BUNDLE.json...
//
// It prints one "ok: ..." line per bundle and exits 0 when every bundle verifies; otherwise it
// names the first failure and exits 1. With -key, each bundle's public_key must be VKEY (a
// bundle's own key proves nothing unless it is the key the log publishes).
//
// Build offline against Debian's golang-golang-x-mod-dev in GOPATH mode (no go.mod, so no
// module download or go.sum): GO111MODULE=off GOPATH=/usr/share/gocode go build. The x/mod
// APIs used here are stable since v0.1. tests/go/interop.sh does this.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// bundle is the union of the inclusion and the consistency bundle; old_checkpoint tells them apart.
type bundle struct {
	PublicKey      string   `json:"public_key"`
	Checkpoint     string   `json:"checkpoint"`
	OldCheckpoint  *string  `json:"old_checkpoint"`
	Records        []record `json:"records"`
	ConsistencyB64 []string `json:"consistency_b64"`
}

type record struct {
	Seq      int64    `json:"seq"`
	Index    int64    `json:"index"`
	LeafB64  string   `json:"leaf_b64"`
	ProofB64 []string `json:"proof_b64"`
}

// checkpoint opens a signed checkpoint with v and parses its body. The origin must be the
// key's name, the rule the Rust side applies. The size and root lines are parsed by
// tlog.ParseTree, which reads exactly a checkpoint body whose origin is "go.sum database
// tree" (extension lines are ignored), so the origin line is swapped for that one first.
func checkpoint(signed string, v note.Verifier) (tlog.Tree, error) {
	n, err := note.Open([]byte(signed), note.VerifierList(v))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	origin, rest, ok := strings.Cut(n.Text, "\n")
	if !ok || origin != v.Name() {
		return tlog.Tree{}, fmt.Errorf("checkpoint origin %q is not the key name %q", origin, v.Name())
	}
	tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + rest))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("checkpoint body: %w", err)
	}
	return tree, nil
}

func hashes(what string, b64 []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(b64))
	for i, s := range b64 {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("%s hash %d is not 32 bytes of base64", what, i)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

func verify(path, trusted string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var b bundle
	if err := dec.Decode(&b); err != nil {
		return "", fmt.Errorf("bundle JSON: %w", err)
	}
	if trusted != "" && b.PublicKey != trusted {
		return "", fmt.Errorf("bundle key %q is not the trusted key", b.PublicKey)
	}
	v, err := note.NewVerifier(b.PublicKey)
	if err != nil {
		return "", fmt.Errorf("public_key: %w", err)
	}
	tree, err := checkpoint(b.Checkpoint, v)
	if err != nil {
		return "", err
	}

	if b.OldCheckpoint == nil { // inclusion bundle
		if len(b.Records) == 0 {
			return "", errors.New("inclusion bundle without records")
		}
		for _, r := range b.Records {
			leaf, err := base64.StdEncoding.DecodeString(r.LeafB64)
			if err != nil {
				return "", fmt.Errorf("record %d: leaf_b64: %w", r.Seq, err)
			}
			proof, err := hashes("proof", r.ProofB64)
			if err != nil {
				return "", fmt.Errorf("record %d: %w", r.Seq, err)
			}
			if err := tlog.CheckRecord(proof, tree.N, tree.Hash, r.Index, tlog.RecordHash(leaf)); err != nil {
				return "", fmt.Errorf("record %d (leaf %d): %w", r.Seq, r.Index, err)
			}
		}
		return fmt.Sprintf("ok: %d records included in tree of size %d", len(b.Records), tree.N), nil
	}

	if b.Records != nil {
		return "", errors.New("consistency bundle with records")
	}
	old, err := checkpoint(*b.OldCheckpoint, v)
	if err != nil {
		return "", fmt.Errorf("old %w", err)
	}
	proof, err := hashes("consistency", b.ConsistencyB64)
	if err != nil {
		return "", err
	}
	switch {
	case old.N > tree.N:
		return "", fmt.Errorf("old tree size %d is larger than %d", old.N, tree.N)
	case old.N == 0:
		// tlog.CheckTree starts at size 1; every tree extends the empty one, whose root is
		// SHA-256 of nothing.
		if len(proof) != 0 || old.Hash != tlog.Hash(sha256.Sum256(nil)) {
			return "", errors.New("bad proof from the empty tree")
		}
	default:
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, old.N, old.Hash); err != nil {
			return "", fmt.Errorf("tree %d is not a prefix of tree %d: %w", old.N, tree.N, err)
		}
	}
	return fmt.Sprintf("ok: tree %d is a prefix of %d", old.N, tree.N), nil
}

func main() {
	key := flag.String("key", "", "the log's published verifier key; each bundle's public_key must be it")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: ledgerverify [-key VKEY] BUNDLE.json...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	for _, path := range flag.Args() {
		msg, err := verify(path, *key)
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", path, err)
			os.Exit(1)
		}
		fmt.Println(msg)
	}
}
