//! `cargo xtask dict-experiment --store DIR`: how per-entry Zstandard frames with a trained
//! dictionary compare with the 8 KiB blocks of the v2 layout, on a real store's entries:
//! total compressed bytes and the time to decode one random entry. Informs the next layout
//! decision (docs/format.md); writes nothing to the store.

use std::time::Instant;

use pack_format::entry;
use sequoia_store::PackedSequenceStorage;

use crate::fixtures::Rng;

pub fn run(args: &[String]) -> Result<(), String> {
    let store = match args {
        [flag, dir] if flag == "--store" => dir.clone(),
        _ => return Err("usage: cargo xtask dict-experiment --store DIR".into()),
    };
    let store =
        PackedSequenceStorage::open(std::path::Path::new(&store)).map_err(|e| e.to_string())?;
    let mut entries: Vec<Vec<u8>> = Vec::new();
    store
        .for_each_sequence(|s| {
            let mut buf = Vec::new();
            entry::encode(&mut buf, &s.hash, &s.residues, &s.representations)
                .map_err(|e| sequoia_store::StoreError::Corrupt(e.to_string()))?;
            entries.push(buf);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    let raw: usize = entries.iter().map(Vec::len).sum();
    println!(
        "{} entries (one per sequence, all representations), {:.1} MB raw",
        entries.len(),
        raw as f64 / 1e6
    );
    let mut rng = Rng::new(5);
    let probe: Vec<usize> = (0..50_000)
        .map(|_| rng.below(entries.len() as u64) as usize)
        .collect();

    // Blocks without a dictionary, as the v2 layout does today.
    for block in [1024usize, 4096, 8192] {
        let mut blocks: Vec<(Vec<u8>, usize)> = Vec::new();
        let mut owner = Vec::with_capacity(entries.len());
        let mut cur = Vec::new();
        for e in &entries {
            owner.push(blocks.len());
            cur.extend_from_slice(e);
            if cur.len() >= block {
                blocks.push((
                    zstd::bulk::compress(&cur, 3).map_err(|e| e.to_string())?,
                    cur.len(),
                ));
                cur.clear();
            }
        }
        if !cur.is_empty() {
            blocks.push((
                zstd::bulk::compress(&cur, 3).map_err(|e| e.to_string())?,
                cur.len(),
            ));
        }
        let total: usize = blocks.iter().map(|b| b.0.len()).sum();
        let mut d = zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?;
        let t = Instant::now();
        for &i in &probe {
            let (c, n) = &blocks[owner[i].min(blocks.len() - 1)];
            d.decompress(c, *n).map_err(|e| e.to_string())?;
        }
        println!(
            "blocks of {block:>5} B, no dictionary:        {:>7.1} MB, {:.2} us per random entry",
            total as f64 / 1e6,
            t.elapsed().as_secs_f64() / probe.len() as f64 * 1e6
        );
    }
    // One frame per entry with a dictionary trained on a sample of entries.
    for dict_size in [64 * 1024usize, 112 * 1024, 256 * 1024] {
        let mut sample_rng = Rng::new(9);
        let samples: Vec<&[u8]> = (0..20_000)
            .map(|_| entries[sample_rng.below(entries.len() as u64) as usize].as_slice())
            .collect();
        let t = Instant::now();
        let dict = zstd::dict::from_samples(&samples, dict_size).map_err(|e| e.to_string())?;
        let trained = t.elapsed().as_secs_f64();
        let mut c = zstd::bulk::Compressor::with_dictionary(3, &dict).map_err(|e| e.to_string())?;
        let mut frames = Vec::with_capacity(entries.len());
        let t = Instant::now();
        for e in &entries {
            frames.push(c.compress(e).map_err(|e| e.to_string())?);
        }
        let comp_s = t.elapsed().as_secs_f64();
        let total: usize = frames.iter().map(Vec::len).sum::<usize>() + dict.len();
        let mut d = zstd::bulk::Decompressor::with_dictionary(&dict).map_err(|e| e.to_string())?;
        let t = Instant::now();
        for &i in &probe {
            d.decompress(&frames[i], entries[i].len())
                .map_err(|e| e.to_string())?;
        }
        println!(
            "one frame per entry, {:>3} KiB dictionary: {:>7.1} MB, {:.2} us per random entry (trained in {trained:.1} s, compressed in {comp_s:.1} s)",
            dict_size / 1024,
            total as f64 / 1e6,
            t.elapsed().as_secs_f64() / probe.len() as f64 * 1e6
        );
    }
    Ok(())
}
