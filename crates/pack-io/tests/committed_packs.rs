//! Packs written by earlier builds (committed under `fuzz/corpus/`, where they also seed the
//! fuzzers) must read back forever.

use std::path::PathBuf;

use pack_format::{PackVersion, SequenceHash};
use pack_io::{BlockCache, PackReader};

fn corpus(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(path)
}

/// Hash, residue count and (header, source) pairs of one entry.
type Walked = (SequenceHash, usize, Vec<(String, String)>);

fn read_all(path: &str) -> (PackReader, Vec<Walked>) {
    let reader = PackReader::open(&corpus(path)).unwrap();
    let mut out = Vec::new();
    reader
        .for_each_entry::<pack_io::Error>(0, |_, e| {
            if e.has_sequence() {
                assert_eq!(SequenceHash::of_residues(e.sequence), e.hash);
            }
            let reps = e
                .representations()
                .unwrap()
                .into_iter()
                .map(|r| (r.header, r.source))
                .collect();
            out.push((e.hash, e.sequence.len(), reps));
            Ok(())
        })
        .unwrap();
    reader.verify_footer().unwrap();
    (reader, out)
}

#[test]
fn the_committed_v1_pack_reads_back() {
    let (reader, entries) = read_all("pack_v1/seed_v1.tal");
    assert_eq!(reader.version(), PackVersion::V1);
    assert_eq!(reader.pack_id().unwrap(), 0);
    assert_eq!(entries.len(), 5);
    assert_eq!(
        entries[0].2,
        vec![(
            "sp|Q00000|PROT0_HUMAN Synthetic protein 0 OS=Homo sapiens OX=9606".to_string(),
            "tiny.fa".to_string()
        )]
    );
}

#[test]
fn the_committed_v2_packs_read_back() {
    let (reader, entries) = read_all("pack_v2/seed_v2.tal");
    assert_eq!(reader.version(), PackVersion::V2);
    assert_eq!(entries.len(), 5);
    assert!(entries.iter().all(|e| e.1 > 0));
    let (_, reps_only) = read_all("pack_v2/seed_v2_reps_only.tal");
    assert_eq!(reps_only.len(), 5, "one addition entry per sequence");
    for (e, first) in reps_only.iter().zip(&entries) {
        assert_eq!(e.1, 0);
        assert_eq!(e.0, first.0);
        assert_eq!(e.2[0].1, "other");
        assert_eq!(e.2[0].0, first.2[0].0);
    }
    // Random access through the entry table matches the walk.
    let table = reader.entry_table(0).unwrap().unwrap();
    let mut cache = BlockCache::default();
    for row in table {
        let h = reader
            .read_entry(&row.hash, &row.location, &mut cache, |e| e.hash)
            .unwrap();
        assert_eq!(h, row.hash);
    }
}

#[test]
fn the_committed_v2_pack_with_a_dictionary_reads_back() {
    let (reader, entries) = read_all("pack_v2/seed_v2_dict.tal");
    assert!(reader.has_dictionary());
    // sample.fasta: 300 records of 208 distinct sequences; the 72 sequences seen again get one
    // addition entry each, written at commit.
    assert_eq!(entries.len(), 280);
    assert_eq!(entries.iter().filter(|e| e.1 > 0).count(), 208);
    assert_eq!(
        entries[0].2[0],
        (
            "sp|Q00000|PROT0_HUMAN Synthetic protein 0 OS=Homo sapiens OX=9606".to_string(),
            "sample.fasta".to_string()
        )
    );
}

#[test]
fn the_committed_v2_pack_with_hash_tags_reads_back() {
    // sample.fasta imported after entries in blocks kept only a 4-byte tag of their hash:
    // the same entries as the dictionary pack before it, fewer bytes.
    let (reader, entries) = read_all("pack_v2/seed_v2_tagged.tal");
    let (_, before) = read_all("pack_v2/seed_v2_dict.tal");
    assert!(reader.has_dictionary());
    let bytes = std::fs::read(corpus("pack_v2/seed_v2_tagged.tal")).unwrap();
    assert_eq!(bytes[9], 3, "flags: dictionary and hash tags");
    let key = |e: &Walked| (e.0, e.1, e.2.clone());
    let mut a: Vec<_> = entries.iter().map(key).collect();
    let mut b: Vec<_> = before.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let table = reader.entry_table(0).unwrap().unwrap();
    let mut cache = BlockCache::default();
    for row in &table {
        let h = reader
            .read_entry(&row.hash, &row.location, &mut cache, |e| e.hash)
            .unwrap();
        assert_eq!(h, row.hash);
    }
    // Asking a location for another sequence's entry is refused, though only a tag is kept.
    let (first, second) = (&table[0], &table[1]);
    assert!(reader
        .read_entry(&second.hash, &first.location, &mut cache, |_| ())
        .is_err());
}

#[test]
fn the_committed_v3_packs_read_back() {
    // tiny.fa (30 records of 24 sequences) imported as v3: 24 rows with residues, and
    // addition rows (written at the commit) for records seen again after theirs was
    // written.
    let (reader, entries) = read_all("pack_v3/seed_v3.tal");
    assert_eq!(reader.version(), PackVersion::V3);
    assert_eq!(reader.pack_id().unwrap(), 0);
    assert_eq!(entries.len(), 29);
    assert_eq!(entries.iter().filter(|e| e.1 > 0).count(), 24);
    assert!(entries[24..].iter().all(|e| e.1 == 0));
    assert_eq!(entries.iter().map(|e| e.2.len()).sum::<usize>(), 30);
    assert_eq!(
        entries[0].2,
        vec![(
            "sp|Q00000|PROT0_HUMAN Synthetic protein 0 OS=Homo sapiens OX=9606".to_string(),
            "tiny.fa".to_string()
        )]
    );
    // Then mixed.fa: ten of them again (addition rows, their keys stored) and 11 new.
    let (mixed_reader, mixed) = read_all("pack_v3/seed_v3_mixed.tal");
    let additions: Vec<&Walked> = mixed.iter().filter(|e| e.1 == 0).collect();
    assert_eq!(mixed.len() - additions.len(), 11);
    assert!(!additions.is_empty());
    for a in &additions {
        let first = (entries.iter())
            .find(|e| e.0 == a.0 && e.1 > 0)
            .expect("adds to a sequence of seed_v3");
        assert!(a
            .2
            .iter()
            .all(|(h, s)| h.ends_with(" again") && s == "mixed.fa"));
        assert!(first
            .2
            .iter()
            .any(|(h, _)| format!("{h} again") == a.2[0].0));
    }
    // Random access by row matches the walk, and a row asked for another key is refused.
    for (reader, walked) in [(&reader, &entries), (&mixed_reader, &mixed)] {
        let table = reader.entry_table(0).unwrap().unwrap();
        assert_eq!(table.len(), walked.len());
        let mut cache = BlockCache::default();
        for (row, w) in table.iter().zip(walked) {
            let h = reader
                .read_entry(&row.hash, &row.location, &mut cache, |e| e.hash)
                .unwrap();
            assert_eq!((h, row.hash), (w.0, w.0));
        }
        assert!(reader
            .read_entry(&table[1].hash, &table[0].location, &mut cache, |_| ())
            .is_err());
    }
}

#[test]
fn the_committed_v3_pack_of_coded_nucleotides_reads_back() {
    // sample_nucleotide.fasta (30 records) imported as v3: residue blocks coded two bits
    // a base (header flag bit 0).
    let (reader, entries) = read_all("pack_v3/seed_v3_nucleotide.tal");
    let bytes = std::fs::read(corpus("pack_v3/seed_v3_nucleotide.tal")).unwrap();
    assert_eq!(bytes[9], 1, "flags: coded residue blocks");
    assert_eq!(reader.version(), PackVersion::V3);
    let fasta = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../sequoia-cli/tests/data/sample_nucleotide.fasta"),
    )
    .unwrap();
    let mut keys: Vec<SequenceHash> = fasta
        .split('>')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let residues: String = r.lines().skip(1).collect();
            SequenceHash::of_residues(residues.to_ascii_uppercase().as_bytes())
        })
        .collect();
    let mut read: Vec<SequenceHash> = entries.iter().map(|e| e.0).collect();
    keys.sort();
    read.sort();
    assert_eq!(read, keys);
    assert_eq!(entries[0].2[0].1, "sample_nucleotide.fasta");
}
