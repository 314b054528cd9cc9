"""Bad input raises the Python exception for its kind, with the library's message."""

import pickle

import pytest
import sequoia

from conftest import sha256


@pytest.fixture(scope="module")
def store(sample_store):
    with sequoia.open(sample_store) as s:
        yield s


def test_unknown_ids_raise_key_error_naming_them(store):
    for id in ("0" * 64, "0" * 32, "SQ." + "A" * 32, "NO_SUCH_ACCESSION"):
        with pytest.raises(KeyError) as e:
            store[id]
        assert id in str(e.value)
        with pytest.raises(KeyError):
            store.info(id)
        with pytest.raises(KeyError):
            store.fetch(id, 0, 1)


def test_malformed_ids_raise_value_error(store):
    for id in ("", "two words", "tab\there"):
        with pytest.raises(ValueError, match="not an identifier"):
            store[id]
        with pytest.raises(ValueError):
            store.fetch_many([id])


def test_bad_regions_raise_value_error(store, records):
    key = sha256(records[0][1])
    with pytest.raises(ValueError, match="not negative"):
        store.fetch(key, -1, 5)
    with pytest.raises(ValueError, match="past end"):
        store.fetch(key, 5, 2)
    with pytest.raises(ValueError, match="item 1"):
        store.fetch_many([key, (key, 3, 1)])
    with pytest.raises(TypeError, match="item 0"):
        store.fetch_many([(key, "a", 1)])
    with pytest.raises(TypeError, match="item 0"):
        store.fetch_many([123])
    with pytest.raises(ValueError, match="missing"):
        store.fetch_many([key], missing="ignore")


def test_a_missing_store_raises_no_store_error_naming_it(tmp_path):
    where = tmp_path / "nothing"
    with pytest.raises(sequoia.NoStoreError, match="nothing") as e:
        sequoia.open(where)
    assert isinstance(e.value, FileNotFoundError)


def test_writes_to_a_read_only_store_raise(store, tmp_path):
    fasta = tmp_path / "a.fa"
    fasta.write_text(">x\nMKV\n")
    with pytest.raises(sequoia.ReadOnlyError):
        store.import_fasta(str(fasta))
    with pytest.raises(sequoia.ReadOnlyError):
        store.put_many([("x", "MKV")], source="s")
    assert issubclass(sequoia.ReadOnlyError, OSError)


def test_a_second_writer_raises_store_locked_error(writable_store):
    with sequoia.open(writable_store, read_only=False):
        with pytest.raises(sequoia.StoreLockedError, match="locked"):
            sequoia.open(writable_store, read_only=False)
    # The first one's lock is released when its block ends.
    sequoia.open(writable_store, read_only=False).close()


def test_bad_fasta_raises_value_error_with_file_and_line_and_keeps_nothing(writable_store, tmp_path):
    good = tmp_path / "good.fa"
    good.write_text(">new1 fine\nMKVLAAGIVAL\n")
    bad = tmp_path / "bad.fa"
    bad.write_text(">new2 ok\nMKV\nresidues\n>new3\nMK1V\n")
    w = sequoia.open(writable_store, read_only=False)
    before = len(w)
    with pytest.raises(ValueError) as e:
        w.import_fasta([good, bad])
    assert "bad.fa:5" in str(e.value)
    assert len(w) == before
    w.close()
    with sequoia.open(writable_store) as r:
        assert len(r) == before
        assert "new1" not in r


def test_a_missing_fasta_file_raises_file_not_found(writable_store, tmp_path):
    with sequoia.open(writable_store, read_only=False) as w:
        with pytest.raises(FileNotFoundError, match="absent.fa"):
            w.import_fasta(tmp_path / "absent.fa")


def test_a_closed_store_raises_value_error(sample_store):
    s = sequoia.open(sample_store)
    s.close()
    assert s.closed
    with pytest.raises(ValueError, match="closed"):
        s["0" * 64]
    with pytest.raises(ValueError, match="closed"):
        len(s)


def test_a_writer_cannot_be_pickled(writable_store):
    with sequoia.open(writable_store, read_only=False) as w:
        with pytest.raises(TypeError, match="writing"):
            pickle.dumps(w)


def test_an_accession_of_several_sequences_is_ambiguous(writable_store):
    with sequoia.open(writable_store, read_only=False) as w:
        w.put_many([("DUPACC one", "MKVLW")], source="a")
        w.put_many([("DUPACC two", "MVLSW")], source="b")
    with sequoia.open(writable_store) as r:
        with pytest.raises(sequoia.AmbiguousIdError, match="DUPACC names 2"):
            r["DUPACC"]
        with pytest.raises(sequoia.AmbiguousIdError):
            r.fetch_many(["DUPACC"])
        assert sorted(r.find("DUPACC")) == sorted([sha256("MKVLW"), sha256("MVLSW")])
        assert "DUPACC" in r
