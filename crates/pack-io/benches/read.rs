//! Random entry reads from a mapped v2 pack (block CRC + decompression + decode).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pack_format::{Representation, SequenceHash};
use pack_io::{BlockCache, PackReader, PackWriter, PackWriterConfig, PutEntry};

fn reads(c: &mut Criterion) {
    let mut g = c.benchmark_group("pack_read");
    for block in [4096usize, 8192, 32768] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = PackWriterConfig::new(dir.path(), 0);
        config.block_size = block;
        let writer = PackWriter::spawn(config).unwrap();
        let aa = b"ACDEFGHIKLMNPQRSTVWY";
        let batch: Vec<PutEntry> = (0..20_000u64)
            .map(|i| {
                let residues: Vec<u8> = (0..300)
                    .map(|k| aa[((i * 31 + k * 7) ^ (k * i)) as usize % 20])
                    .collect();
                PutEntry {
                    hash: SequenceHash::of_residues(&residues),
                    residues,
                    representations: vec![Representation::new(format!("seq{i}"), "bench")],
                }
            })
            .collect();
        writer.put(batch).unwrap();
        let packs = writer.finish().unwrap();
        let reader = PackReader::open(&packs[0].temp_path).unwrap();
        let locs: Vec<_> = packs[0]
            .entries()
            .unwrap()
            .iter()
            .map(|e| (e.hash, e.location))
            .collect();
        let mut cache = BlockCache::default();
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::new("random_entry", block), &block, |b, _| {
            b.iter(|| {
                i = (i * 7919 + 13) % locs.len();
                reader
                    .read_entry(&locs[i].0, &locs[i].1, &mut cache, |e| e.sequence.len())
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, reads);
criterion_main!(benches);
