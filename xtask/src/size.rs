//! Bench section `size`: how small a store of protein_all gets, and what its reads cost,
//! against whole-file compression of its two streams (issue 33's goals), side by side in
//! one run: the store as imported (v2), repacked (v2, similar order), repacked as v3 at
//! several block sizes (the curve of bytes against read time), and an archival v3
//! setting; `get --keys`, cold `get`, library gets and `export --dedup` of each, and
//! `zstd -3` / `zstd -19 --long` of the separated streams and `bgzip -@2 -dc` of the
//! de-duplicated FASTA. Then 1,000,000 synthetic transcripts (600-880 bases) imported as
//! v2 and as v3 (residue blocks coded two bits a base): bytes, import time against
//! `zstd -3 -T2`, export.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use sequoia_store::PackedSequenceStorage;

use crate::bench::{repeat, sh, Report, Stat};

/// One store the section measures: its name in keys and labels, and how it is made
/// from the imported store (`None`: the imported store itself).
struct Variant {
    key: &'static str,
    label: &'static str,
    repack: Option<&'static str>,
}

const VARIANTS: [Variant; 6] = [
    Variant {
        key: "v2_imported",
        label: "v2 as imported",
        repack: None,
    },
    Variant {
        key: "v2_similar",
        label: "v2 repacked (similar order)",
        repack: Some("repack"),
    },
    Variant {
        key: "v3_4k",
        label: "v3, 4 KiB blocks",
        repack: Some("repack --format v3 --block-size 4096"),
    },
    Variant {
        key: "v3",
        label: "v3 (16 KiB blocks, the default)",
        repack: Some("repack --format v3"),
    },
    Variant {
        key: "v3_64k",
        label: "v3, 64 KiB blocks",
        repack: Some("repack --format v3 --block-size 65536"),
    },
    Variant {
        key: "v3_archive",
        label: "v3 archival (--profile archive: 64 KiB blocks, level 19)",
        repack: Some("repack --profile archive"),
    },
];

/// Bytes of `zstd ARGS` of `file` (cached beside it for slow levels: the file's size and
/// the result).
fn zstd_bytes(file: &Path, args: &str) -> Result<f64, String> {
    let cache = file.with_extension(format!("zstd{}.size", args.replace([' ', '-', '='], "")));
    let size = std::fs::metadata(file).map_err(|e| e.to_string())?.len();
    if let Some(v) = std::fs::read_to_string(&cache).ok().and_then(|t| {
        let (s, v) = t.split_once(' ')?;
        (s.parse::<u64>().ok()? == size).then(|| v.trim().parse::<f64>().ok())?
    }) {
        return Ok(v);
    }
    let (_, o) = sh(&format!("zstd {args} -c {} | wc -c", file.display()))?;
    let v: f64 = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("zstd {args}: {e}"))?;
    let _ = std::fs::write(&cache, format!("{size} {v}"));
    Ok(v)
}

/// Splits a FASTA file into its headers (one a line, without `>`) and its residues (one
/// sequence a line), read with the library's reader: the two streams the goals compress
/// separately.
fn split_streams(fasta: &Path, headers: &Path, residues: &Path) -> Result<(), String> {
    use sequoia_store::fasta::{open_input, FastaReader, FastaRecord};
    let err = |e: std::io::Error| e.to_string();
    let name = fasta.display().to_string();
    let mut reader = FastaReader::new(open_input(&name).map_err(err)?, &name);
    let mut h = BufWriter::new(std::fs::File::create(headers).map_err(err)?);
    let mut r = BufWriter::new(std::fs::File::create(residues).map_err(err)?);
    let mut rec = FastaRecord::default();
    while reader.next_record(&mut rec).map_err(|e| e.to_string())? {
        h.write_all(rec.header.as_bytes()).map_err(err)?;
        h.write_all(b"\n").map_err(err)?;
        r.write_all(&rec.residues).map_err(err)?;
        r.write_all(b"\n").map_err(err)?;
    }
    h.flush().map_err(err)?;
    r.flush().map_err(err)
}

/// Writes `n` random transcripts of 600-880 bases (one in 7 with a run of up to 15 `N`),
/// 70 bases a line: the nucleotide input of the section, the same bytes every run.
fn write_transcripts(path: &Path, n: usize) -> Result<(), String> {
    let err = |e: std::io::Error| e.to_string();
    let mut rng = crate::fixtures::Rng::new(3);
    let mut w = BufWriter::new(std::fs::File::create(path).map_err(err)?);
    for i in 0..n {
        let len = 600 + rng.below(281) as usize;
        let mut s: Vec<u8> = (0..len).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
        if i % 7 == 0 {
            let at = rng.below((len - 20) as u64) as usize;
            let run = 1 + rng.below(15) as usize;
            s[at..at + run].fill(b'N');
        }
        crate::fixtures::write_fasta(
            &mut w,
            &format!("NR_{i:07}.1 synthetic transcript {i}"),
            &s,
            70,
        )
        .map_err(err)?;
    }
    w.flush().map_err(err)
}

/// Transcripts of the nucleotide half: a million, the scale of the real set.
const TRANSCRIPTS: usize = 1_000_000;

/// The nucleotide half: [`TRANSCRIPTS`] transcripts imported as v2 and as v3 (coded residue
/// blocks), bytes against `zstd -3` of their separated streams, import time against
/// `zstd -3 -T2` of the file, `export --dedup` against `bgzip -@2 -dc`.
fn nucleotides(runs: usize, bin: &Path, dir: &Path, r: &mut Report) -> Result<(), String> {
    println!("\n== Store size: nucleotides ({TRANSCRIPTS} synthetic transcripts) ==");
    let fasta = dir.join(format!("transcripts-{TRANSCRIPTS}.fa"));
    if !fasta.exists() {
        write_transcripts(&fasta, TRANSCRIPTS)?;
    }
    let b = bin.display();
    let f = fasta.display();
    let stores = [("v2", "import"), ("v3", "import --format v3")];
    let mut imports: Vec<Vec<f64>> = vec![Vec::new(); stores.len()];
    let mut zstd = Vec::new();
    for _ in 0..runs {
        for (i, (key, how)) in stores.iter().enumerate() {
            let store = dir.join(format!("nt_{key}"));
            let _ = std::fs::remove_dir_all(&store);
            imports[i].push(
                sh(&format!(
                    "{b} --store {} {how} {f} 2>/dev/null",
                    store.display()
                ))?
                .0,
            );
        }
        zstd.push(sh(&format!("zstd -3 -T2 -c {f} > /dev/null"))?.0);
    }
    let z = Stat::of(zstd).median;
    r.add(
        "size_nt_anchor_zstd3_t2_s",
        "nucleotides: anchor zstd -3 -T2 of the FASTA (s)",
        z,
        "s",
        String::new(),
    );
    let dedup = dir.join("transcripts.dedup.fa");
    sh(&format!(
        "{b} --store {} export --dedup > {}",
        dir.join("nt_v3").display(),
        dedup.display()
    ))?;
    let (headers, residues) = (dir.join("nt_headers.txt"), dir.join("nt_residues.txt"));
    split_streams(&dedup, &headers, &residues)?;
    let goal = (zstd_bytes(&headers, "-3 -T2")? + zstd_bytes(&residues, "-3 -T2")?) / 1e6;
    r.add(
        "size_nt_anchor_zstd3_mb",
        "nucleotides: anchor zstd -3 of headers + residues, separately",
        goal,
        "MB",
        String::new(),
    );
    let gz = dir.join("transcripts.dedup.fa.gz");
    let bgzip = crate::bench::have("bgzip");
    if bgzip {
        sh(&format!(
            "bgzip -@2 -c {} > {}",
            dedup.display(),
            gz.display()
        ))?;
    }
    for (i, (key, _)) in stores.iter().enumerate() {
        let store = dir.join(format!("nt_{key}"));
        let (bytes, _) = crate::bench::dir_bytes(&store);
        let mb = bytes as f64 / 1e6;
        r.add(
            &format!("size_nt_{key}_store_mb"),
            &format!("nucleotides, {key} imported: store bytes (packs + indexes)"),
            mb,
            "MB",
            format!("{:.2}x zstd -3 of the streams; target <= 1", mb / goal),
        );
        let t = Stat::of(imports[i].clone());
        r.add(
            &format!("size_nt_{key}_import_s"),
            &format!("nucleotides, {key}: import (s)"),
            t.median,
            "s",
            format!(
                "{:.2}..{:.2}; {:.2}x zstd -3 -T2; target <= 1.2x",
                t.min,
                t.max,
                t.median / z
            ),
        );
        let mut exports = Vec::new();
        let mut gzs = Vec::new();
        for _ in 0..runs {
            exports.push(
                sh(&format!(
                    "{b} --store {} export --dedup > /dev/null",
                    store.display()
                ))?
                .0,
            );
            if bgzip {
                gzs.push(sh(&format!("bgzip -@2 -dc {} > /dev/null", gz.display()))?.0);
            }
        }
        let e = Stat::of(exports);
        r.add(
            &format!("size_nt_{key}_export_dedup_s"),
            &format!("nucleotides, {key}: export --dedup (s)"),
            e.median,
            "s",
            if gzs.is_empty() {
                "bgzip not installed".into()
            } else {
                format!(
                    "{:.2}x the speed of bgzip -@2 -dc; target >= 1",
                    Stat::of(gzs).median / e.median
                )
            },
        );
    }
    Ok(())
}

/// Runs the section on protein_all (`fasta`), then on synthetic nucleotides.
pub(crate) fn bench(
    runs: usize,
    keys: usize,
    bin: &Path,
    out: &Path,
    fasta: &Path,
    r: &mut Report,
) -> Result<(), String> {
    println!("\n== Store size: v2 and v3 layouts against zstd of the separated streams ==");
    let dir = out.join("size");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let b = bin.display();
    let imported = dir.join("v2_imported");
    let _ = std::fs::remove_dir_all(&imported);
    sh(&format!(
        "{b} --store {} import {} 2>/dev/null",
        imported.display(),
        fasta.display()
    ))?;
    // The anchors: the de-duplicated FASTA, its two streams, compressed.
    let dedup = dir.join("dedup.fa");
    sh(&format!(
        "{b} --store {} export --dedup > {}",
        imported.display(),
        dedup.display()
    ))?;
    let (headers, residues) = (dir.join("headers.txt"), dir.join("residues.txt"));
    split_streams(&dedup, &headers, &residues)?;
    let mut goal = [0.0f64; 2];
    for (i, (args, what)) in [
        ("-3 -T2", "zstd -3"),
        ("-19 --long=31 -T2", "zstd -19 --long"),
    ]
    .into_iter()
    .enumerate()
    {
        let h = zstd_bytes(&headers, args)? / 1e6;
        let s = zstd_bytes(&residues, args)? / 1e6;
        goal[i] = h + s;
        r.add(
            &format!(
                "size_anchor_{}_mb",
                if i == 0 { "zstd3" } else { "zstd19_long" }
            ),
            &format!("anchor: {what} of headers + residues, separately"),
            h + s,
            "MB",
            format!("headers {h:.1} + residues {s:.1}"),
        );
    }
    let bgzip = crate::bench::have("bgzip");
    let gz = dir.join("dedup.fa.gz");
    if bgzip && !gz.exists() {
        sh(&format!(
            "bgzip -@2 -c {} > {}",
            dedup.display(),
            gz.display()
        ))?;
    }
    let lib = PackedSequenceStorage::open(&imported).map_err(|e| e.to_string())?;
    let sampled = Arc::new(crate::bench::sample_keys(&lib, keys, 7)?);
    drop(lib);
    let keyfile = dir.join("keys.txt");
    std::fs::write(
        &keyfile,
        sampled
            .iter()
            .map(|k| k.to_hex() + "\n")
            .collect::<String>(),
    )
    .map_err(|e| e.to_string())?;
    let one = sampled[0].to_hex();

    // Each variant, made from the imported store.
    for v in VARIANTS.iter().filter(|v| v.repack.is_some()) {
        let store = dir.join(v.key);
        let _ = std::fs::remove_dir_all(&store);
        sh(&format!("cp -r {} {}", imported.display(), store.display()))?;
        let (t, _) = sh(&format!(
            "{b} --store {} {} 2>/dev/null && {b} --store {} gc > /dev/null",
            store.display(),
            v.repack.unwrap_or_default(),
            store.display()
        ))?;
        r.add(
            &format!("size_{}_repack_s", v.key),
            &format!("{}: repack (s, one run)", v.label),
            t,
            "s",
            String::new(),
        );
    }
    // Bytes of each, and their reads, the variants' runs taking turns so that the
    // machine's drift falls on all alike.
    let mut gets: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut colds: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut exports: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut gzs = Vec::new();
    for _ in 0..runs {
        for (i, v) in VARIANTS.iter().enumerate() {
            let store = dir.join(v.key);
            let s = store.display();
            gets[i].push(
                sh(&format!(
                    "{b} --store {s} get --keys {} > /dev/null",
                    keyfile.display()
                ))?
                .0,
            );
            colds[i].push(sh(&format!("{b} --store {s} get {one} > /dev/null"))?.0);
            exports[i].push(sh(&format!("{b} --store {s} export --dedup > /dev/null"))?.0);
        }
        if bgzip {
            gzs.push(sh(&format!("bgzip -@2 -dc {} > /dev/null", gz.display()))?.0);
        }
    }
    let base = Stat::of(gets[0].clone()).median;
    let v2_similar = Stat::of(gets[1].clone()).median;
    let gz = (!gzs.is_empty()).then(|| Stat::of(gzs.clone()).median);
    if let Some(g) = gz {
        r.add(
            "size_anchor_bgzip_dc_s",
            "anchor: bgzip -@2 -dc of the de-duplicated FASTA (s)",
            g,
            "s",
            String::new(),
        );
    }
    for (i, v) in VARIANTS.iter().enumerate() {
        let store = dir.join(v.key);
        let (bytes, _) = crate::bench::dir_bytes(&store);
        let mb = bytes as f64 / 1e6;
        let lib = PackedSequenceStorage::open(&store).map_err(|e| e.to_string())?;
        let stats = lib.stats().map_err(|e| e.to_string())?;
        r.add(
            &format!("size_{}_store_mb", v.key),
            &format!("{}: store bytes (packs + indexes)", v.label),
            mb,
            "MB",
            format!(
                "packs {:.1} + indexes {:.1}; {:.2}x zstd -3 of the streams ({:.1}), {:.2}x zstd -19 --long ({:.1})",
                stats.pack_bytes as f64 / 1e6,
                stats.index_bytes as f64 / 1e6,
                mb / goal[0],
                goal[0],
                mb / goal[1],
                goal[1]
            ),
        );
        r.add(
            &format!("size_{}_index_bytes_per_sequence", v.key),
            &format!("{}: index bytes per sequence", v.label),
            stats.index_bytes as f64 / stats.sequences as f64,
            "B",
            "target <= 24".into(),
        );
        let g = Stat::of(gets[i].clone());
        r.timed(
            &format!("size_{}_get_keys", v.key),
            &format!("{}: get --keys {keys}", v.label),
            g,
            keys as f64,
            "seq/s",
            &format!(
                "{:.2}x v2 as imported, {:.2}x v2 repacked; target >= 0.8x of v2",
                base / g.median,
                v2_similar / g.median
            ),
        );
        let c = Stat::of(colds[i].clone());
        r.add(
            &format!("size_{}_cold_get_ms", v.key),
            &format!("{}: cold process, open + get 1 (ms)", v.label),
            c.median * 1e3,
            "ms",
            format!("{:.1}..{:.1}; target <= 10", c.min * 1e3, c.max * 1e3),
        );
        let lib = Arc::new(lib);
        let single = repeat(runs, || crate::bench::library_gets(&lib, &sampled, 1))?;
        r.timed(
            &format!("size_{}_get_lib_1t", v.key),
            &format!("{}: random get, library, 1 thread", v.label),
            single,
            keys as f64,
            "seq/s",
            "",
        );
        let e = Stat::of(exports[i].clone());
        r.add(
            &format!("size_{}_export_dedup_s", v.key),
            &format!("{}: export --dedup (s)", v.label),
            e.median,
            "s",
            match gz {
                Some(g) => format!(
                    "{:.2}..{:.2}; {:.2}x the speed of bgzip -@2 -dc; target >= 1",
                    e.min,
                    e.max,
                    g / e.median
                ),
                None => format!("{:.2}..{:.2}; bgzip not installed", e.min, e.max),
            },
        );
    }
    nucleotides(runs, bin, &dir, r)
}
