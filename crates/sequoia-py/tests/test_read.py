"""Reads: every identifier form and coordinates, checked against the `sequoia` command."""

import base64
import json
import random
import shutil

import pytest
import sequoia

from conftest import sha256


def cli_get(cli, store, query):
    out = cli(store, "get", "--width", "0", query).stdout.splitlines()
    return [line for line in out if not line.startswith(">")]


@pytest.fixture(scope="module", params=["v2", "v3"])
def sample_store(request, sample_store, cli, tmp_path_factory):
    """The sample store as imported (v2 packs), and a copy repacked as v3 packs: every
    read below is checked against the command on each."""
    if request.param == "v2":
        return sample_store
    path = tmp_path_factory.mktemp("sample_v3") / "store"
    shutil.copytree(sample_store, path)
    cli(path, "repack", "--format", "v3")
    cli(path, "gc")
    assert json.loads(cli(path, "stats", "--json").stdout)["v3_packs"] > 0
    return path


@pytest.fixture(scope="module")
def store(sample_store):
    with sequoia.open(sample_store) as s:
        yield s


@pytest.fixture(scope="module")
def infos(cli, sample_store, records):
    """`sequoia info --json` of every distinct sequence, by SHA-256."""
    keys = sorted({sha256(r) for _, r in records})
    out = json.loads(cli(sample_store, "info", "--json", *keys).stdout)
    return {i["sha256"]: i for i in out}


def test_every_identifier_form_reads_the_sequence_the_cli_reads(cli, sample_store, store, infos):
    for key, info in list(infos.items())[:40]:
        residues = store[key]
        assert len(residues) == info["length"]
        assert sha256(residues) == key
        sq = info["sha512t24u"]
        trunc512 = base64.urlsafe_b64decode(sq[3:] + "==").hex()
        for form in (key, info["md5"], sq, "ga4gh:" + sq, trunc512):
            assert store[form] == residues, form
        assert set(cli_get(cli, sample_store, info["md5"])) == {residues}


def test_accessions_answer_as_in_the_cli(cli, sample_store, store, records):
    # UniProt-style headers (sp|ACC|NAME) answer to their accession, others (ACC|note)
    # to their first field; every header to its first word.
    for header, residues in records[:60]:
        first = header.split()[0]
        fields = first.split("|")
        accession = fields[1] if fields[0] in ("sp", "tr") else fields[0]
        found = store.find(accession)
        assert sha256(residues) in found
        if len(found) == 1:
            assert store[accession] == residues
            assert set(cli_get(cli, sample_store, accession)) == {residues}
            assert store[first] == residues


def test_fetch_coordinates_are_zero_based_end_exclusive_as_the_cli_regions_are_one_based(
    cli, sample_store, store, infos
):
    rng = random.Random(7)
    for key, info in list(infos.items())[:25]:
        n = info["length"]
        start = rng.randrange(0, n)
        end = rng.randrange(start, n + 1)
        got = store.fetch(key, start, end)
        assert got == store[key][start:end]
        if end > start:
            # samtools' regions: 1-based, inclusive.
            assert set(cli_get(cli, sample_store, f"{key}:{start + 1}-{end}")) == {got}
        assert store.fetch(key, start) == store[key][start:]
        assert store.fetch(key, None, end) == store[key][:end]
        assert store.fetch(key, 0, n + 100) == store[key]


def test_info_matches_the_cli(store, infos):
    for key, expected in infos.items():
        info = store.info(key)
        assert info.length == expected["length"]
        assert info.sha256 == expected["sha256"]
        assert info.md5 == expected["md5"]
        assert info.sha512t24u == expected["sha512t24u"]
        got = [(r.header, r.source) for r in info.representations]
        assert got == [(r["header"], r["source"]) for r in expected["representations"]]


def test_len_contains_and_iteration_cover_every_distinct_sequence(store, records):
    keys = {sha256(r) for _, r in records}
    assert len(store) == len(keys)
    listed = list(store)
    assert len(listed) == len(set(listed)) == len(keys)
    assert set(listed) == keys
    assert all(k in store for k in list(keys)[:50])
    assert "0" * 64 not in store
    assert "NOT_AN_ACCESSION" not in store
    assert "has space" not in store
    assert 42 not in store


def test_get_returns_the_default_for_unknown_ids(store, records):
    assert store.get("0" * 64) is None
    assert store.get("NOPE", "x") == "x"
    assert store.get(sha256(records[0][1])) == records[0][1]


def test_fetch_many_answers_in_input_order_with_regions(store, records):
    keys = [sha256(r) for _, r in records]
    rng = random.Random(3)
    items = []
    expected = []
    for _ in range(500):
        header, residues = records[rng.randrange(len(records))]
        kind = rng.randrange(3)
        if kind == 0:
            items.append(sha256(residues))
            expected.append(residues)
        elif kind == 1:
            s = rng.randrange(len(residues))
            e = rng.randrange(s, len(residues) + 1)
            items.append((sha256(residues), s, e))
            expected.append(residues[s:e])
        else:
            items.append((sha256(residues), None, 10))
            expected.append(residues[:10])
    assert store.fetch_many(items) == expected
    assert store.fetch_many(iter(keys[:5])) == [store[k] for k in keys[:5]]
    assert store.fetch_many([]) == []


def test_fetch_many_with_any_identifier_form(store, infos):
    items, expected = [], []
    for key, info in list(infos.items())[:60]:
        residues = store[key]
        for form in (key, info["md5"], info["sha512t24u"]):
            items.append(form)
            expected.append(residues)
        items.append((info["md5"], 1, 4))
        expected.append(residues[1:4])
    assert store.fetch_many(items) == expected


def test_fetch_many_missing_ids_raise_or_are_none_or_skipped(store, records):
    known = sha256(records[0][1])
    absent = "f" * 64
    with pytest.raises(KeyError, match="f" * 64):
        store.fetch_many([known, absent])
    with pytest.raises(KeyError, match="NO_SUCH_ACC"):
        store.fetch_many([known, "NO_SUCH_ACC"])
    assert store.fetch_many([known, absent], missing="none") == [records[0][1], None]
    assert store.fetch_many([absent, known, absent], missing="skip") == [records[0][1]]


def test_records_stream_what_export_writes(cli, sample_store, store):
    exported = []
    header = None
    for line in cli(sample_store, "export").stdout.splitlines():
        if line.startswith(">"):
            header = line[1:]
            exported.append([header, ""])
        else:
            exported[-1][1] += line
    got = [(h, r) for h, _source, r in store.records()]
    assert sorted(got) == sorted(map(tuple, exported))
    assert {s for _h, s, _r in store.records()} == {"sample"}


def test_sequences_yield_each_sequence_once_with_its_key(store, records):
    seen = dict(store.sequences())
    assert len(seen) == len(store)
    for key, residues in seen.items():
        assert sha256(residues) == key


def test_an_iterator_dropped_early_stops_its_reader(store):
    for _ in range(20):
        it = store.records()
        next(it)
        del it
    assert len(list(store.records())) > 0


def test_stats_match_the_cli(cli, sample_store, store):
    expected = json.loads(cli(sample_store, "stats", "--json").stdout)
    got = store.stats()
    for field in ("packs", "sequences", "representations", "pack_bytes", "layers"):
        assert got[field] == expected[field], field


def test_help_teaches_the_api():
    text = sequoia.Store.__doc__
    for name in ("fetch_many", "import_fasta", "records", "info", "0-based"):
        assert name in text
    assert "Opens the store" in sequoia.open.__doc__
    assert sequoia.Store.fetch_many.__doc__


def test_fetch_many_of_repeated_ids_keeps_input_order(store, records, infos):
    # Large batches (read on every core) with every id many times over.
    by_key = {sha256(r): r for _, r in records}
    keys = sorted(by_key)
    items = (keys * 200)[:40_000]
    assert store.fetch_many(items) == [by_key[k] for k in items]
    md5s = [infos[k]["md5"] for k in keys]
    assert store.fetch_many((md5s * 100)[:20_000]) == [by_key[k] for k in (keys * 100)[:20_000]]
    late_absent = items[:30_000] + ["f" * 64] + items[:10]
    with pytest.raises(KeyError, match="f" * 64):
        store.fetch_many(late_absent)
    assert len(store.fetch_many(late_absent, missing="skip")) == 30_010
    assert store.fetch_many(late_absent, missing="none")[30_000] is None
