// tlogcheck checks amity's Merkle proofs with Go's own transparency-log
// package (golang.org/x/mod/sumdb/tlog, the checksum database's), sharing no
// code with amity: it rebuilds the tree from an `amity export` (leaf = each
// line's bytes) and checks every proof against the roots it computed.
//
// Usage: tlogcheck EXPORT PROOFS [CHECKPOINT VKEY], where PROOFS holds one
// `amity prove --json` output per line (Certificate Transparency's shapes),
// CHECKPOINT a signed checkpoint (`amity checkpoint`, `GET /checkpoint`) and
// VKEY its verifier key. The checkpoint's signature is checked with
// golang.org/x/mod/sumdb/note and its root against the export's. Prints "ok
// N proofs" (and "ok checkpoint SIZE") and exits 0, or names the first
// failure and exits 1.
//
// Offline on Debian: GO111MODULE=off GOPATH=/usr/share/gocode go run tlogcheck.go …
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"

	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type stored map[int64]tlog.Hash

func (s stored) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, index := range indexes {
		h, ok := s[index]
		if !ok {
			return nil, fmt.Errorf("no stored hash %d", index)
		}
		out[i] = h
	}
	return out, nil
}

type proof struct {
	LeafIndex   *int64   `json:"leaf_index"`
	TreeSize    int64    `json:"tree_size"`
	AuditPath   []string `json:"audit_path"`
	First       int64    `json:"first"`
	Second      int64    `json:"second"`
	Consistency []string `json:"consistency"`
}

func hashes(encoded []string) (tlog.TreeProof, error) {
	out := make(tlog.TreeProof, len(encoded))
	for i, e := range encoded {
		h, err := tlog.ParseHash(e)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 && len(os.Args) != 5 {
		fail("usage: tlogcheck EXPORT PROOFS [CHECKPOINT VKEY]")
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	records := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	tree := stored{}
	roots := map[int64]tlog.Hash{}
	for i, record := range records {
		n := int64(i)
		new, err := tlog.StoredHashes(n, record, tree)
		if err != nil {
			fail("%v", err)
		}
		for j, h := range new {
			tree[tlog.StoredHashIndex(0, n)+int64(j)] = h
		}
		if roots[n+1], err = tlog.TreeHash(n+1, tree); err != nil {
			fail("%v", err)
		}
	}
	file, err := os.Open(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	count := 0
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		var p proof
		if err := json.Unmarshal(scanner.Bytes(), &p); err != nil {
			fail("proof %d: %v", count+1, err)
		}
		if p.LeafIndex != nil {
			path, err := hashes(p.AuditPath)
			if err != nil || p.TreeSize > int64(len(records)) || *p.LeafIndex >= p.TreeSize {
				fail("proof %d: malformed", count+1)
			}
			leaf := tlog.RecordHash(records[*p.LeafIndex])
			if err := tlog.CheckRecord(tlog.RecordProof(path), p.TreeSize, roots[p.TreeSize], *p.LeafIndex, leaf); err != nil {
				fail("proof %d: leaf %d in size %d: %v", count+1, *p.LeafIndex, p.TreeSize, err)
			}
		} else {
			path, err := hashes(p.Consistency)
			if err != nil || p.Second > int64(len(records)) || p.First > p.Second {
				fail("proof %d: malformed", count+1)
			}
			if err := tlog.CheckTree(path, p.Second, roots[p.Second], p.First, roots[p.First]); err != nil {
				fail("proof %d: %d → %d: %v", count+1, p.First, p.Second, err)
			}
		}
		count++
	}
	fmt.Printf("ok %d proofs\n", count)
	if len(os.Args) == 5 {
		checkCheckpoint(os.Args[3], os.Args[4], roots)
	}
}

func checkCheckpoint(checkpointFile, vkeyFile string, roots map[int64]tlog.Hash) {
	msg, err := os.ReadFile(checkpointFile)
	if err != nil {
		fail("%v", err)
	}
	vkey, err := os.ReadFile(vkeyFile)
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("checkpoint: origin %q, key %q", lines[0], verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		fail("checkpoint: tree size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("checkpoint: root %q", lines[2])
	}
	want, ok := roots[size]
	if size == 0 {
		want, ok = tlog.Hash(sha256Empty()), true
	}
	if !ok || root != want {
		fail("checkpoint: the root of size %d is not the export's", size)
	}
	fmt.Printf("ok checkpoint %d\n", size)
}

func sha256Empty() [32]byte { return sha256.Sum256(nil) }
