"""Writes: imports and put_many commit all or nothing; a `with` block commits on a clean
exit and rolls back on an exception."""

import pytest
import sequoia

from conftest import SAMPLE, sha256


def test_import_fasta_commits_and_readers_see_it(tmp_path, records):
    path = tmp_path / "store"
    with sequoia.open(path, read_only=False) as w:
        summary = w.import_fasta(str(SAMPLE), source="uniprot")
    assert summary["records"] == len(records)
    assert summary["new_sequences"] == len({r for _, r in records})
    with sequoia.open(path) as r:
        assert len(r) == summary["new_sequences"]
        header, residues = records[0]
        assert r[sha256(residues)] == residues
        assert {rep.source for rep in r.info(sha256(residues)).representations} == {"uniprot"}


def test_import_outside_a_block_commits_when_it_returns(tmp_path):
    path = tmp_path / "store"
    w = sequoia.open(path, read_only=False)
    w.import_fasta([SAMPLE])
    with sequoia.open(path) as r:
        assert len(r) > 0
    w.close()


def test_put_many_stores_records_and_representations(writable_store):
    with sequoia.open(writable_store) as r:
        before = len(r)
    w = sequoia.open(writable_store, read_only=False)
    got = w.put_many(
        ((f"py{i} made in python", "mkvl" + "W" * i) for i in range(1, 101)), source="py"
    )
    assert got["records"] == 100 and got["new_sequences"] == 100
    assert w.commit_number is not None
    w.close()
    with sequoia.open(writable_store) as r:
        assert len(r) == before + 100
        assert r["py7"] == "MKVL" + "W" * 7
        info = r.info(sha256("MKVL" + "W" * 7))
        assert [(x.header, x.source) for x in info.representations] == [("py7 made in python", "py")]


def test_a_block_that_raises_rolls_back(writable_store):
    with sequoia.open(writable_store) as r:
        before = len(r)
    with pytest.raises(RuntimeError):
        with sequoia.open(writable_store, read_only=False) as w:
            w.put_many([("gone1", "MKVLWWWWQ")], source="x")
            w.import_fasta(SAMPLE)
            raise RuntimeError("stop")
    with sequoia.open(writable_store) as r:
        assert len(r) == before
        assert "gone1" not in r
        assert r.stats()["leftovers"] == []


def test_a_block_that_ends_cleanly_commits_everything_once(writable_store):
    with sequoia.open(writable_store) as r:
        before = r.commit_number
    with sequoia.open(writable_store, read_only=False) as w:
        w.put_many([("kept1", "MKVLWWWWQ")], source="x")
        w.put_many([("kept2", "MKVLWWWWR")], source="x")
        # Nothing is visible before the block ends.
        with sequoia.open(writable_store) as r:
            assert "kept1" not in r
    with sequoia.open(writable_store) as r:
        assert r["kept1"] == "MKVLWWWWQ" and r["kept2"] == "MKVLWWWWR"
        assert r.commit_number == before + 1


def test_put_many_with_a_bad_record_keeps_nothing(writable_store):
    w = sequoia.open(writable_store, read_only=False)
    before = len(w)
    with pytest.raises(ValueError, match="record 2"):
        w.put_many([("a1", "MKVLQ"), ("a2", "MKVLR"), ("a3", "MK*1")], source="x")
    with pytest.raises(TypeError, match="record 0"):
        w.put_many([("only header",)], source="x")
    w.commit()
    w.close()
    with sequoia.open(writable_store) as r:
        assert len(r) == before
        assert "a1" not in r


def test_a_reader_refreshes_to_see_new_commits(writable_store):
    r = sequoia.open(writable_store)
    before = len(r)
    with sequoia.open(writable_store, read_only=False) as w:
        w.put_many([("fresh1", "MKVLWWWWF")], source="x")
    assert len(r) == before
    r.refresh()
    assert len(r) == before + 1 and r["fresh1"] == "MKVLWWWWF"
    r.close()


def test_a_writer_reads_its_committed_sequences(tmp_path):
    with sequoia.open(tmp_path / "s", read_only=False) as w:
        w.put_many([("w1", "MKVLA")], source="x")
        w.commit()
        assert w["w1"] == "MKVLA"
