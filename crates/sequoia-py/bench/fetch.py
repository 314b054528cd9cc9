"""Random fetches from Python: SEQUOIA's module against pyfaidx on the same sequences.

Run by `cargo xtask bench --only python`, which builds the module (release) and the
inputs:

    python fetch.py --store STORE --dedup DEDUP.fa --by-sha SHA.fa --keys N --runs R --out DIR

STORE is protein_all imported; DEDUP.fa its `sequoia export --dedup` (one record per
distinct sequence, named by its first header's first word), SHA.fa the same sequences
named by SHA-256 (written from the store when missing). Each figure is the best of R rounds, in sequences per second. Writes
DIR/python.json and the keys it used (DIR/keys.sha256, DIR/keys.ids) for the Rust
comparison.
"""

import argparse
import json
import os
import random
import threading
import time

import pyfaidx
import sequoia


def best_rate(runs, n, fn):
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def on_threads(k, work):
    """Runs work(i) for i in range(k) on k threads at once."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def first_name(word):
    """A record's name: its header's first word, up to the first \\x01 (`export --dedup`
    joins a sequence's headers with \\x01), as pyfaidx is told to key it."""
    return word.split("\x01", 1)[0]


def unique_names(path):
    """The record names of a FASTA file that occur once (pyfaidx keeps the first)."""
    seen = {}
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b">"):
                name = first_name(line[1:].split(None, 1)[0].decode())
                seen[name] = seen.get(name, 0) + 1
    return [n for n, c in seen.items() if c == 1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--store", required=True)
    p.add_argument("--dedup", required=True)
    p.add_argument("--by-sha", required=True)
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--single", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    rng = random.Random(a.seed)

    store = sequoia.open(a.store)
    if not os.path.exists(a.by_sha):
        with open(a.by_sha + ".tmp", "w") as f:
            for key, residues in store.sequences():
                f.write(f">{key}\n{residues}\n")
        os.replace(a.by_sha + ".tmp", a.by_sha)
    shas = unique_names(a.by_sha)
    names = unique_names(a.dedup)
    sha_keys = rng.sample(shas, a.keys)
    id_keys = rng.sample(names, a.keys)
    with open(os.path.join(a.out, "keys.sha256"), "w") as f:
        f.write("\n".join(sha_keys) + "\n")
    with open(os.path.join(a.out, "keys.ids"), "w") as f:
        f.write("\n".join(id_keys) + "\n")

    t = time.perf_counter()
    fa_sha = pyfaidx.Fasta(a.by_sha, as_raw=True, duplicate_action="first")
    fa_ids = pyfaidx.Fasta(
        a.dedup, as_raw=True, duplicate_action="first", key_function=first_name
    )
    faidx_open = time.perf_counter() - t

    one_sha, one_ids = sha_keys[: a.single], id_keys[: a.single]
    # Every answer checked once: both libraries read the same residues.
    for k in one_sha[:2000]:
        assert store[k] == fa_sha[k][:], k
    for k in one_ids[:2000]:
        assert store[k] == fa_ids[k][:], k
    assert store.fetch_many(sha_keys[:5000]) == [fa_sha[k][:] for k in sha_keys[:5000]]

    r = {"keys": a.keys, "single": a.single, "pyfaidx_open_s": faidx_open}
    r["sequoia_sha_1t"] = best_rate(a.runs, len(one_sha), lambda: [store[k] for k in one_sha])
    r["pyfaidx_sha_1t"] = best_rate(a.runs, len(one_sha), lambda: [fa_sha[k][:] for k in one_sha])
    # A region without the whole sequence as a str: what a lazy sequence object would save.
    r["sequoia_sha_region_1t"] = best_rate(
        a.runs, len(one_sha), lambda: [store.fetch(k, 10, 60) for k in one_sha]
    )
    r["sequoia_ids_1t"] = best_rate(a.runs, len(one_ids), lambda: [store[k] for k in one_ids])
    r["pyfaidx_ids_1t"] = best_rate(a.runs, len(one_ids), lambda: [fa_ids[k][:] for k in one_ids])

    # Two threads, each half of the keys: one shared store; one pyfaidx.Fasta per thread
    # (a shared one is not safe to read from several threads: pyfaidx #92, #211).
    halves = [one_sha[0::2], one_sha[1::2]]
    r["sequoia_sha_2t"] = best_rate(
        a.runs, len(one_sha), lambda: on_threads(2, lambda i: [store[k] for k in halves[i]])
    )
    per_thread = [pyfaidx.Fasta(a.by_sha, as_raw=True, duplicate_action="first") for _ in range(2)]
    r["pyfaidx_sha_2t"] = best_rate(
        a.runs,
        len(one_sha),
        lambda: on_threads(2, lambda i: [per_thread[i][k][:] for k in halves[i]]),
    )
    id_halves = [one_ids[0::2], one_ids[1::2]]
    r["sequoia_ids_2t"] = best_rate(
        a.runs, len(one_ids), lambda: on_threads(2, lambda i: [store[k] for k in id_halves[i]])
    )
    per_thread = [
        pyfaidx.Fasta(a.dedup, as_raw=True, duplicate_action="first", key_function=first_name)
        for _ in range(2)
    ]
    r["pyfaidx_ids_2t"] = best_rate(
        a.runs,
        len(one_ids),
        lambda: on_threads(2, lambda i: [per_thread[i][k][:] for k in id_halves[i]]),
    )

    r["sequoia_fetch_many_sha"] = best_rate(a.runs, a.keys, lambda: store.fetch_many(sha_keys))
    r["sequoia_fetch_many_ids"] = best_rate(a.runs, a.keys, lambda: store.fetch_many(id_keys))

    with open(os.path.join(a.out, "python.json"), "w") as f:
        json.dump(r, f, indent=1)
    print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
