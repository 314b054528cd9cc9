//! `cargo xtask layout-experiment --fasta FILE [--levels 1,3] [--blocks 2,16]
//! [--slow]`: what a pack layout
//! with separate residue and header streams would weigh, on the distinct sequences of a
//! real FASTA file, and what one random read of it would cost: each stream cut into
//! blocks of a size, each block compressed on its own (with a dictionary trained on the
//! stream, for blocks up to 64 KiB), for several block sizes, levels and orders of the
//! sequences. Prints bytes and the time to decode one block (the cost of a random read);
//! writes nothing. Informs the next pack layout (issue 33, docs/format.md).

use std::collections::HashMap;
use std::time::Instant;

/// The distinct sequences of a FASTA file, in order of first appearance, with every header
/// of each.
struct Distinct {
    residues: Vec<Vec<u8>>,
    headers: Vec<Vec<String>>,
}

fn read_distinct(path: &str) -> Result<Distinct, String> {
    use sequoia_store::fasta::{open_input, FastaReader, FastaRecord};
    let input = open_input(path).map_err(|e| format!("{path}: {e}"))?;
    let mut reader = FastaReader::new(input, path);
    let mut seen: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut order: Vec<Vec<String>> = Vec::new();
    let mut rec = FastaRecord::default();
    while reader.next_record(&mut rec).map_err(|e| e.to_string())? {
        let next = order.len() as u32;
        let id = *seen
            .entry(std::mem::take(&mut rec.residues))
            .or_insert(next);
        if id == next {
            order.push(Vec::new());
        }
        order[id as usize].push(std::mem::take(&mut rec.header));
    }
    let mut by_id: Vec<Vec<u8>> = vec![Vec::new(); order.len()];
    for (r, id) in seen {
        by_id[id as usize] = r;
    }
    Ok(Distinct {
        residues: by_id,
        headers: order,
    })
}

/// One stream's items (a sequence's residues, or its headers joined) cut into blocks.
struct Measured {
    bytes: usize,
    blocks: usize,
    dict: usize,
    /// Mean time to decode one block, microseconds.
    decode_us: f64,
    compress_s: f64,
}

/// Cuts `items` into blocks of at least `block` bytes (0: one block), compresses each at
/// `level` (with a dictionary of `dict` bytes trained on the items, if not 0) and decodes
/// every block once to time it.
fn measure(items: &[&[u8]], block: usize, level: i32, dict: usize) -> Result<Measured, String> {
    let started = Instant::now();
    let dictionary = if dict > 0 {
        // Samples: every 64th item, up to 4 MiB.
        let mut samples: Vec<u8> = Vec::new();
        let mut sizes = Vec::new();
        for item in items.iter().step_by(64) {
            if samples.len() > 4 << 20 {
                break;
            }
            samples.extend_from_slice(item);
            sizes.push(item.len());
        }
        zstd::dict::from_continuous(&samples, &sizes, dict).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    let mut compressor =
        zstd::bulk::Compressor::with_dictionary(level, &dictionary).map_err(|e| e.to_string())?;
    let mut frames: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut flush = |cur: &mut Vec<u8>, frames: &mut Vec<(Vec<u8>, usize)>| -> Result<(), String> {
        if !cur.is_empty() {
            let c = compressor.compress(cur).map_err(|e| e.to_string())?;
            frames.push((c, cur.len()));
            cur.clear();
        }
        Ok(())
    };
    for item in items {
        cur.extend_from_slice(item);
        if block > 0 && cur.len() >= block {
            flush(&mut cur, &mut frames)?;
        }
    }
    flush(&mut cur, &mut frames)?;
    let compress_s = started.elapsed().as_secs_f64();
    let mut decompressor =
        zstd::bulk::Decompressor::with_dictionary(&dictionary).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut out = Vec::new();
    for (f, n) in &frames {
        out.clear();
        out.reserve(*n);
        decompressor
            .decompress_to_buffer(f, &mut out)
            .map_err(|e| e.to_string())?;
    }
    let decode = started.elapsed().as_secs_f64();
    Ok(Measured {
        bytes: frames.iter().map(|(f, _)| f.len()).sum::<usize>() + dictionary.len(),
        blocks: frames.len(),
        dict: dictionary.len(),
        decode_us: decode * 1e6 / frames.len() as f64,
        compress_s,
    })
}

/// The order writers give sequences ([`pack_format::similarity_key`], then length), of
/// `residues`: similar ones next to each other.
fn similarity_order(residues: &[Vec<u8>]) -> Vec<usize> {
    let keys: Vec<u64> = residues
        .iter()
        .map(|r| pack_format::similarity_key(r))
        .collect();
    let mut order: Vec<usize> = (0..residues.len()).collect();
    order.sort_by_key(|&i| (keys[i], residues[i].len()));
    order
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut fasta = None;
    let mut levels = vec![1, 3];
    let mut slow = false;
    let mut block_list: Option<Vec<usize>> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fasta" => fasta = Some(crate::option_value::<String>(&mut it, "--fasta")?),
            "--levels" => {
                let text = crate::option_value::<String>(&mut it, "--levels")?;
                levels = (text.split(','))
                    .map(|l| l.parse().map_err(|e| format!("--levels: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--slow" => slow = true,
            "--blocks" => {
                let text = crate::option_value::<String>(&mut it, "--blocks")?;
                block_list = Some(
                    (text.split(','))
                        .map(|b| b.parse::<usize>().map(|k| k << 10))
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("--blocks (KiB): {e}"))?,
                );
            }
            other => return Err(format!("layout-experiment: unknown option {other}")),
        }
    }
    let fasta =
        fasta.ok_or("usage: cargo xtask layout-experiment --fasta FILE [--levels 1,3] [--blocks KIB,...] [--slow]")?;
    let d = read_distinct(&fasta)?;
    let joined: Vec<Vec<u8>> = (d.headers.iter())
        .map(|hs| {
            let mut j = hs.join("\u{1}").into_bytes();
            j.push(b'\n');
            j
        })
        .collect();
    let raw_r: usize = d.residues.iter().map(Vec::len).sum();
    let raw_h: usize = joined.iter().map(Vec::len).sum();
    println!(
        "{} distinct sequences: residues {:.1} MB, headers {:.1} MB raw",
        d.residues.len(),
        raw_r as f64 / 1e6,
        raw_h as f64 / 1e6
    );
    println!(
        "{:<10} {:<10} {:>6} {:>5} {:>7} {:>9} {:>8} {:>10} {:>8}",
        "stream", "order", "block", "level", "dict", "MB", "blocks", "decode us", "comp s"
    );
    let similar = similarity_order(&d.residues);
    let import: Vec<usize> = (0..d.residues.len()).collect();
    // Similar sequences together within windows of the input (MB of residues, in import
    // order), as a writer that buffers that much before writing could.
    let windowed = |window: usize| -> Vec<usize> {
        let mut order: Vec<usize> = Vec::with_capacity(import.len());
        let mut start = 0;
        while start < import.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < import.len() && bytes < window << 20 {
                bytes += d.residues[end].len();
                end += 1;
            }
            let part = &d.residues[start..end];
            order.extend(similarity_order(part).into_iter().map(|i| start + i));
            start = end;
        }
        order
    };
    let (w4, w16, w64) = (windowed(4), windowed(16), windowed(64));
    let show = |stream: &str, order: &str, block: usize, level: i32, m: &Measured| {
        let b = if block == 0 {
            "whole".to_string()
        } else {
            format!("{}K", block >> 10)
        };
        println!(
            "{stream:<10} {order:<10} {b:>6} {level:>5} {:>7} {:>9.2} {:>8} {:>10.1} {:>8.2}",
            m.dict,
            m.bytes as f64 / 1e6,
            m.blocks,
            m.decode_us,
            m.compress_s
        );
    };
    let blocks: Vec<usize> = match &block_list {
        Some(b) => b.clone(),
        None => vec![2 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20],
    };
    let orders = [
        ("import", &import),
        ("similar", &similar),
        ("sim-4M", &w4),
        ("sim-16M", &w16),
        ("sim-64M", &w64),
    ];
    // Both streams in one, each sequence's residues then its headers: what a v2 pack's
    // entries hold (without the entry framing).
    let mixed: Vec<Vec<u8>> = (d.residues.iter().zip(&joined))
        .map(|(r, h)| [r.as_slice(), h.as_slice()].concat())
        .collect();
    for (name, ord) in orders {
        let res: Vec<&[u8]> = ord.iter().map(|&i| d.residues[i].as_slice()).collect();
        let hdr: Vec<&[u8]> = ord.iter().map(|&i| joined[i].as_slice()).collect();
        let mix: Vec<&[u8]> = ord.iter().map(|&i| mixed[i].as_slice()).collect();
        for (stream, items) in [("residues", &res), ("headers", &hdr), ("mixed", &mix)] {
            for &level in &levels {
                for &block in &blocks {
                    let dict = if block <= 64 << 10 { 64 << 10 } else { 0 };
                    let m = measure(items, block, level, dict)?;
                    show(stream, name, block, level, &m);
                }
            }
            if slow {
                for (block, level) in [(1 << 20, 19), (0, 19)] {
                    let m = measure(items, block, level, 0)?;
                    show(stream, name, block, level, &m);
                }
            }
        }
    }
    Ok(())
}
