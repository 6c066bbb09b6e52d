// tlogcheck checks amity's Merkle proofs with Go's own transparency-log
// package (golang.org/x/mod/sumdb/tlog, the checksum database's), sharing no
// code with amity: it rebuilds the tree from an `amity export` (leaf = each
// line's bytes) and checks every proof against the roots it computed.
//
// Usage: tlogcheck EXPORT PROOFS, where PROOFS holds one `amity prove --json`
// output per line (Certificate Transparency's shapes). Prints "ok N proofs"
// and exits 0, or names the first proof that fails and exits 1.
//
// Offline on Debian: GO111MODULE=off GOPATH=/usr/share/gocode go run tlogcheck.go …
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"

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
	if len(os.Args) != 3 {
		fail("usage: tlogcheck EXPORT PROOFS")
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
}
