#!/usr/bin/env python3
"""Writes merkle_proofs.json: RFC 6962 inclusion and consistency proofs over the
leaves of merkle.json, computed by a direct transcription of RFC 6962 section
2.1 (MTH, PATH, PROOF/SUBPROOF) that shares no code with fedrelay.

    python3 tests/vectors/make_merkle_proofs.py > tests/vectors/merkle_proofs.json

The tests only read the output; they never run this script.
"""
import hashlib
import json
import os


def sha256(data):
    return hashlib.sha256(data).digest()


def split(n):  # the largest power of two smaller than n
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    if not d:
        return sha256(b"")
    if len(d) == 1:
        return sha256(b"\x00" + d[0])
    k = split(len(d))
    return sha256(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m, d):
    if len(d) <= 1:
        return []
    k = split(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m, d, b):
    if m == len(d):
        return [] if b else [mth(d)]
    k = split(len(d))
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "merkle.json")) as f:
        leaves = [leaf.encode() for leaf in json.load(f)["leaves_ascii"]]
    n = len(leaves)
    inclusion = [
        {"leaf_index": m, "tree_size": size,
         "leaf_hash_hex": sha256(b"\x00" + leaves[m]).hex(),
         "root_hex": mth(leaves[:size]).hex(),
         "path_hex": [h.hex() for h in path(m, leaves[:size])]}
        for size in range(1, n + 1) for m in range(size)]
    consistency = [
        {"first_tree_size": first, "second_tree_size": second,
         "first_root_hex": mth(leaves[:first]).hex(),
         "second_root_hex": mth(leaves[:second]).hex(),
         "proof_hex": [h.hex() for h in subproof(first, leaves[:second], True)]}
        for second in range(1, n + 1) for first in range(1, second + 1)]
    out = {
        "about": "RFC 6962 section 2.1.1 audit paths and 2.1.2 consistency proofs over the leaves "
                 "of merkle.json (leaf i = ASCII 'leaf-<i>'), for every tree size 1..13; made by "
                 "make_merkle_proofs.py",
        "inclusion": inclusion,
        "consistency": consistency,
    }
    print(json.dumps(out, indent=1))


main()
