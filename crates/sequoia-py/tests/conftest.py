"""Fixtures of the pytest suite: the `sequoia` command (to check answers against), FASTA
files, and stores imported by the command."""

import hashlib
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "crates/sequoia-cli/tests/data/sample.fasta"


def find_cli():
    """The `sequoia` binary: $SEQUOIA_BIN, else a build under target/."""
    named = os.environ.get("SEQUOIA_BIN")
    if named:
        return named
    for profile in ("debug", "release"):
        path = ROOT / "target" / profile / "sequoia"
        if path.exists():
            return str(path)
    pytest.fail("no sequoia binary: build it (cargo build -p sequoia-cli) or set SEQUOIA_BIN")


def read_fasta(path):
    """(header, residues) of every record, residues upper-cased as the store keeps them."""
    records, header, parts = [], None, []
    for line in pathlib.Path(path).read_text().splitlines():
        if line.startswith(">"):
            if header is not None:
                records.append((header, "".join(parts).upper()))
            header, parts = line[1:], []
        elif line.strip():
            parts.append(line.strip())
    if header is not None:
        records.append((header, "".join(parts).upper()))
    return records


def sha256(residues):
    return hashlib.sha256(residues.encode()).hexdigest()


@pytest.fixture(scope="session")
def cli():
    path = find_cli()

    def run(store, *args, check=True):
        out = subprocess.run(
            [path, "--store", str(store), *args], capture_output=True, text=True
        )
        if check and out.returncode != 0:
            raise AssertionError(f"sequoia {' '.join(args)}: {out.stderr}")
        return out

    return run


@pytest.fixture(scope="session")
def records():
    return read_fasta(SAMPLE)


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory, cli):
    """The sample imported by the command (read-only use: tests do not write to it)."""
    path = tmp_path_factory.mktemp("sample") / "store"
    cli(path, "import", "--source", "sample", str(SAMPLE))
    return path


@pytest.fixture
def writable_store(tmp_path, sample_store):
    """A copy of the sample store a test may write to."""
    path = tmp_path / "store"
    shutil.copytree(sample_store, path)
    return path
