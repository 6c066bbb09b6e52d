#!/usr/bin/env python3
"""An auditor's check of `amity export`, independent of the Rust code.

Reads exported records (one JSON object per line) from stdin or a file and
checks, with nothing but Python's json and hashlib: every line is exactly the
RFC 8785 (JCS) form of its record; `hash` is the SHA-256 of the JCS form of
the record without `hash`; `prev` links to the previous `hash` (64 zeros for
seq 1); seqs run 1, 2, 3 ... Prints `ok N records, head HASH` and exits 0, or
names the first bad seq and exits 1.

Python's json.dumps with sort_keys and compact separators, ensure_ascii off,
escapes strings as JSON.stringify does; the ledger has no floats, and every
key is ASCII, so sorting by code point equals JCS's UTF-16 order.
"""
import hashlib
import json
import sys

FIELDS = {"data", "hash", "id", "occurred", "prev", "recorded_at", "seq", "sources", "type"}


def jcs(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def no_floats(value):
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(no_floats(v) for v in value.values())
    if isinstance(value, list):
        return all(no_floats(v) for v in value)
    return True


def main():
    stream = open(sys.argv[1], "rb") if len(sys.argv) > 1 else sys.stdin.buffer
    prev = "0" * 64
    count = 0
    for line in stream:
        line = line.rstrip(b"\n")
        seq = count + 1
        try:
            record = json.loads(line.decode("utf-8"))
        except ValueError as error:
            return fail(seq, f"not JSON: {error}")
        if set(record) != FIELDS:
            return fail(seq, f"fields {sorted(record)}")
        if not no_floats(record):
            return fail(seq, "contains a float")
        if jcs(record) != line:
            return fail(seq, "line is not the JCS form of its record")
        if record["seq"] != seq:
            return fail(seq, f"says seq {record['seq']}")
        if record["prev"] != prev:
            return fail(seq, "prev does not link to the previous hash")
        unsealed = {k: v for k, v in record.items() if k != "hash"}
        digest = hashlib.sha256(jcs(unsealed)).hexdigest()
        if digest != record["hash"]:
            return fail(seq, f"hash {record['hash']} but content hashes to {digest}")
        prev = record["hash"]
        count = seq
    print(f"ok {count} records, head {prev}")
    return 0


def fail(seq, problem):
    print(f"seq {seq}: {problem}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
