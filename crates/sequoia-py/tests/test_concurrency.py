"""Reads from 8 threads and from 4 processes at once, every answer checked; a pickled
store re-opens at its commit."""

import multiprocessing
import pickle
import random
import threading

import sequoia

from conftest import sha256


def expected_of(records):
    return {sha256(r): r for _, r in records}


def test_eight_threads_read_at_once_and_every_answer_is_right(sample_store, records):
    expected = expected_of(records)
    keys = list(expected)
    store = sequoia.open(sample_store)
    failures = []
    start = threading.Barrier(8)

    def reader(seed):
        rng = random.Random(seed)
        start.wait()
        for _ in range(300):
            k = rng.choice(keys)
            r = expected[k]
            s = rng.randrange(len(r))
            if store[k] != r or store.fetch(k, s) != r[s:]:
                failures.append(k)
            batch = rng.sample(keys, 20)
            if store.fetch_many(batch) != [expected[b] for b in batch]:
                failures.append(tuple(batch))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    store.close()


def read_share(args):
    store, keys = args
    return [store[k] for k in keys] + store.fetch_many(keys)


def test_four_processes_read_a_pickled_store(sample_store, records):
    expected = expected_of(records)
    keys = sorted(expected)
    store = sequoia.open(sample_store)
    shares = [(store, keys[i::4]) for i in range(4)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        answers = pool.map(read_share, shares)
    for (_, share), got in zip(shares, answers):
        assert got == [expected[k] for k in share] * 2
    store.close()


def test_a_pickled_store_reopens_at_its_commit(writable_store):
    old = sequoia.open(writable_store)
    commit, count = old.commit_number, len(old)
    with sequoia.open(writable_store, read_only=False) as w:
        w.put_many([("later1", "MKVLWWWWL")], source="x")
    copy = pickle.loads(pickle.dumps(old))
    assert copy.commit_number == commit
    assert len(copy) == count and "later1" not in copy
    copy.refresh()
    assert "later1" in copy
    old.close()
    copy.close()
