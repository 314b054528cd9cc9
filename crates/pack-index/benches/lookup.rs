//! Index lookups (bucket CRC included) at several sizes.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use pack_format::{PackLocation, SequenceHash};
use pack_index::{write_index, IndexCounts, IndexEntry, IndexKind, PackIndex};

fn lookups(c: &mut Criterion) {
    let mut g = c.benchmark_group("index_lookup");
    for n in [10_000u32, 1_000_000] {
        let mut entries: Vec<IndexEntry> = (0..n)
            .map(|i| IndexEntry {
                hash: SequenceHash::of_residues(&i.to_le_bytes()),
                location: PackLocation {
                    pack: i % 7,
                    block: i,
                    offset: i,
                    length: 100,
                },
            })
            .collect();
        let keys: Vec<SequenceHash> = entries.iter().step_by(97).map(|e| e.hash).collect();
        let bytes = write_index(
            Vec::new(),
            IndexKind::Multi,
            &[0, 1, 2, 3, 4, 5, 6],
            IndexCounts::default(),
            None,
            &mut entries,
        )
        .unwrap();
        let index = PackIndex::parse(bytes).unwrap();
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::new("hit", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                index
                    .as_locations()
                    .unwrap()
                    .lookup(black_box(&keys[i]))
                    .unwrap()
                    .count()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
