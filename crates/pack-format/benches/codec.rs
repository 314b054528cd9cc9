//! Entry codec and v2 block codec throughput.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pack_format::v2::{BlockDecoder, V2Pack, V2PackEncoder};
use pack_format::{entry, Representation, SequenceHash};

fn protein(len: usize, seed: u64) -> Vec<u8> {
    let aa = b"ACDEFGHIKLMNPQRSTVWY";
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            aa[(x % 20) as usize]
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let residues = protein(400, 1);
    let hash = SequenceHash::of_residues(&residues);
    let reps = vec![Representation::new(
        "sp|P69905|HBA_HUMAN Hemoglobin subunit alpha",
        "uniprot",
    )];
    let mut buf = Vec::new();
    let len = entry::encode(&mut buf, &hash, &residues, &reps).unwrap();
    let mut g = c.benchmark_group("entry");
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("encode_400aa", |b| {
        b.iter(|| {
            buf.clear();
            entry::encode(&mut buf, &hash, black_box(&residues), &reps).unwrap()
        })
    });
    g.bench_function("decode_400aa", |b| {
        b.iter(|| entry::decode(black_box(&buf), 0).unwrap().0.sequence.len())
    });
    g.finish();

    let mut g = c.benchmark_group("v2_block");
    for block in [4096usize, 8192, 32768] {
        let mut enc = V2PackEncoder::new(Vec::new(), 0, 3, block).unwrap();
        for i in 0..64 {
            let r = protein(300, i);
            enc.push(&SequenceHash::of_residues(&r), &r, &reps).unwrap();
        }
        let (file, _) = enc.finish().unwrap();
        let pack = V2Pack::parse(&file).unwrap();
        let info = pack.block_info(0).unwrap();
        g.throughput(Throughput::Bytes(info.uncompressed_len as u64));
        let mut dec = BlockDecoder::new();
        let mut out = Vec::new();
        g.bench_with_input(BenchmarkId::new("decompress", block), &block, |b, _| {
            b.iter(|| pack.read_block(0, &mut dec, None, &mut out).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
