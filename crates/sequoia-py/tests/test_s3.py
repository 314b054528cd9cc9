"""A store in a bucket, through the same URLs the command takes (run by `cargo xtask
python`, which starts a SeaweedFS on loopback and sets SEQUOIA_TEST_S3_BUCKET)."""

import os
import uuid

import pytest
import sequoia

from conftest import SAMPLE, sha256

BUCKET = os.environ.get("SEQUOIA_TEST_S3_BUCKET")
pytestmark = pytest.mark.skipif(
    not BUCKET, reason="no object storage server (cargo xtask python starts one)"
)


def test_a_store_in_a_bucket_reads_and_writes_as_a_local_one(cli, tmp_path, records):
    url = f"s3://{BUCKET}/py-{uuid.uuid4().hex}"
    cli(url, "--cache", str(tmp_path / "c1"), "import", "--source", "sample", str(SAMPLE))
    expected = {sha256(r): r for _, r in records}
    keys = sorted(expected)
    with sequoia.open(url, cache=tmp_path / "c2") as s:
        assert len(s) == len(expected)
        assert set(s) == set(expected)
        assert all(s[k] == expected[k] for k in keys[:20])
        assert s.fetch_many(keys) == [expected[k] for k in keys]
        assert s.fetch(keys[0], 2, 5) == expected[keys[0]][2:5]
        assert s.info(keys[0]).sha256 == keys[0]
        assert sum(1 for _ in s.records()) == len(records)
    with sequoia.open(url, read_only=False, cache=tmp_path / "c3") as w:
        w.put_many([("frombucket1 py", "MKVLWWWWB")], source="py")
    out = cli(url, "--cache", str(tmp_path / "c4"), "get", "--width", "0", "frombucket1")
    assert out.stdout.splitlines()[1] == "MKVLWWWWB"
    # One writer, two commits, each published on top of the one before.
    w = sequoia.open(url, read_only=False, cache=tmp_path / "c7")
    first = w.put_many([("twice1 py", "MKVLWWWWT")], source="py")
    second = w.put_many([("twice2 py", "MKVLWWWWU")], source="py")
    assert first["new_sequences"] == second["new_sequences"] == 1
    w.close()
    with sequoia.open(url, cache=tmp_path / "c8") as s:
        assert s["twice1"] == "MKVLWWWWT" and s["twice2"] == "MKVLWWWWU"
    with pytest.raises(RuntimeError):
        with sequoia.open(url, read_only=False, cache=tmp_path / "c5") as w:
            w.put_many([("rolledback1", "MKVLWWWWX")], source="py")
            raise RuntimeError("stop")
    with sequoia.open(url, cache=tmp_path / "c6") as s:
        assert "frombucket1" in s and "rolledback1" not in s


def test_an_empty_prefix_is_no_store(tmp_path):
    with pytest.raises(sequoia.NoStoreError, match="no store"):
        sequoia.open(f"s3://{BUCKET}/absent-{uuid.uuid4().hex}", cache=tmp_path / "c")
