//! The lanes against `md-5` and `sha2` one message at a time, on the same batch: 4096
//! protein-like messages of 50 to 1,000 bytes (an import hashes its new sequences in
//! batches of about this size). Run with `cargo bench -p digest-lanes`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use md5::Digest as _;

/// Deterministic residues of deterministic lengths (a small LCG; no data files needed).
fn batch() -> Vec<Vec<u8>> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    const RESIDUES: &[u8] = b"ACDEFGHIKLMNPQRSTVWY";
    (0..4096)
        .map(|_| {
            let len = 50 + next() % 951;
            (0..len)
                .map(|_| RESIDUES[next() % RESIDUES.len()])
                .collect()
        })
        .collect()
}

fn lanes(c: &mut Criterion) {
    let owned = batch();
    let messages: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    let bytes: usize = messages.iter().map(|m| m.len()).sum();

    let mut g = c.benchmark_group("md5");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("lanes", |b| {
        b.iter(|| digest_lanes::md5_each(black_box(&messages)))
    });
    g.bench_function("md-5 one at a time", |b| {
        b.iter(|| {
            black_box(&messages)
                .iter()
                .map(|m| <[u8; 16]>::from(md5::Md5::digest(m)))
                .collect::<Vec<_>>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("sha512");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("lanes", |b| {
        b.iter(|| digest_lanes::sha512_each(black_box(&messages)))
    });
    g.bench_function("sha2 one at a time", |b| {
        b.iter(|| {
            black_box(&messages)
                .iter()
                .map(|m| <[u8; 64]>::from(sha2::Sha512::digest(m)))
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, lanes);
criterion_main!(benches);
