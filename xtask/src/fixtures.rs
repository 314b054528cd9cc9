//! Deterministic synthetic FASTA: protein-like residues with UniProt amino-acid frequencies
//! and a log-normal length distribution (median about 300), a chosen share of sequences
//! repeated under other headers and sources, and nucleotide records.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// splitmix64: small, fast, and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// UniProtKB/Swiss-Prot amino-acid composition, percent.
const AMINO: [(u8, f64); 20] = [
    (b'A', 8.25),
    (b'R', 5.53),
    (b'N', 4.06),
    (b'D', 5.45),
    (b'C', 1.37),
    (b'Q', 3.93),
    (b'E', 6.75),
    (b'G', 7.07),
    (b'H', 2.27),
    (b'I', 5.96),
    (b'L', 9.66),
    (b'K', 5.84),
    (b'M', 2.42),
    (b'F', 3.86),
    (b'P', 4.70),
    (b'S', 6.56),
    (b'T', 5.34),
    (b'W', 1.08),
    (b'Y', 2.92),
    (b'V', 6.87),
];

pub struct Residues {
    cumulative: Vec<(f64, u8)>,
}

impl Residues {
    pub fn protein() -> Self {
        let total: f64 = AMINO.iter().map(|a| a.1).sum();
        let mut acc = 0.0;
        let cumulative = AMINO
            .iter()
            .map(|&(c, p)| {
                acc += p / total;
                (acc, c)
            })
            .collect();
        Residues { cumulative }
    }

    pub fn pick(&self, rng: &mut Rng) -> u8 {
        let u = rng.unit();
        self.cumulative
            .iter()
            .find(|(c, _)| u < *c)
            .map_or(b'L', |(_, a)| *a)
    }

    /// A protein: starts with M, log-normal length around a median of 300.
    pub fn protein_sequence(&self, rng: &mut Rng) -> Vec<u8> {
        let len = (300f64.ln() + 0.7 * rng.normal())
            .exp()
            .clamp(2.0, 35_000.0) as usize;
        let mut s = Vec::with_capacity(len);
        s.push(b'M');
        while s.len() < len {
            s.push(self.pick(rng));
        }
        s
    }
}

pub fn nucleotide_sequence(rng: &mut Rng) -> Vec<u8> {
    let len = 200 + rng.below(4800) as usize;
    (0..len)
        .map(|_| match rng.below(1000) {
            0..=1 => b'N',
            n => b"ACGT"[(n % 4) as usize],
        })
        .collect()
}

pub(crate) fn write_fasta(
    w: &mut impl Write,
    header: &str,
    residues: &[u8],
    width: usize,
) -> std::io::Result<()> {
    writeln!(w, ">{header}")?;
    for line in residues.chunks(width) {
        w.write_all(line)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

pub struct Options {
    pub out: PathBuf,
    pub records: usize,
    pub dup_share: f64,
    pub seed: u64,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        out: crate::workspace_root().join("target/fixtures"),
        records: 2000,
        dup_share: 0.3,
        seed: 42,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => o.out = crate::option_value(&mut it, "--out")?,
            "--records" => o.records = crate::option_value(&mut it, "--records")?,
            "--dup-share" => o.dup_share = crate::option_value(&mut it, "--dup-share")?,
            "--seed" => o.seed = crate::option_value(&mut it, "--seed")?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !(0.0..=1.0).contains(&o.dup_share) {
        return Err("--dup-share must lie in 0..1".into());
    }
    Ok(o)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let written = generate(&o).map_err(|e| format!("writing fixtures: {e}"))?;
    for p in &written {
        eprintln!("wrote {}", p.display());
    }
    for p in written
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "protein_small.fasta"))
    {
        compress_copy(p, "gzip", "gz");
        compress_copy(p, "zstd", "zst");
    }
    Ok(())
}

fn compress_copy(path: &Path, tool: &str, ext: &str) {
    let out = path.with_extension(format!("fasta.{ext}"));
    let status = std::process::Command::new(tool)
        .args(["-q", "-f", "-k", "-c"])
        .arg(path)
        .stdout(match File::create(&out) {
            Ok(f) => f,
            Err(_) => return,
        })
        .status();
    match status {
        Ok(s) if s.success() => eprintln!("wrote {}", out.display()),
        _ => {
            let _ = std::fs::remove_file(&out);
            eprintln!("skipped {} ({tool} not available)", out.display());
        }
    }
}

/// Writes the fixture files; returns their paths.
pub fn generate(o: &Options) -> std::io::Result<Vec<PathBuf>> {
    let mut rng = Rng::new(o.seed);
    let aa = Residues::protein();
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let small = o.out.join("protein_small.fasta");
    let mut w = BufWriter::new(File::create(&small)?);
    for i in 0..o.records {
        let seq = if !pool.is_empty() && rng.unit() < o.dup_share {
            pool[rng.below(pool.len() as u64) as usize].clone()
        } else {
            let s = aa.protein_sequence(&mut rng);
            pool.push(s.clone());
            s
        };
        let header = match i % 3 {
            0 => format!("sp|Q{i:05}|PROT{i}_HUMAN Synthetic protein {i} OS=Homo sapiens OX=9606"),
            1 => format!("tr|A0A{i:06}|A0A{i:06}_MOUSE Uncharacterized protein OS=Mus musculus"),
            _ => format!(
                "SYN{i:07}|GO:{:07},GO:{:07}",
                rng.below(10_000_000),
                rng.below(10_000_000)
            ),
        };
        write_fasta(&mut w, &header, &seq, 60)?;
    }
    w.flush()?;
    // A second source: half of its records are sequences of the first file under NCBI
    // headers, so importing both exercises de-duplication across sources.
    let dup = o.out.join("protein_dup.fasta");
    let mut w = BufWriter::new(File::create(&dup)?);
    for i in 0..o.records / 2 {
        let seq = if i % 2 == 0 && !pool.is_empty() {
            pool[rng.below(pool.len() as u64) as usize].clone()
        } else {
            aa.protein_sequence(&mut rng)
        };
        write_fasta(
            &mut w,
            &format!("ref|NP_{i:09}.1| synthetic protein [Homo sapiens]"),
            &seq,
            80,
        )?;
    }
    w.flush()?;
    let nt = o.out.join("nucleotide_small.fasta");
    let mut w = BufWriter::new(File::create(&nt)?);
    for i in 0..(o.records / 10).max(1) {
        let seq = nucleotide_sequence(&mut rng);
        write_fasta(
            &mut w,
            &format!("NC_{i:06}.1 Synthetic chromosome fragment {i}"),
            &seq,
            70,
        )?;
    }
    w.flush()?;
    Ok(vec![small, dup, nt])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_deterministic() {
        let a = tempdir("a");
        let b = tempdir("b");
        for d in [&a, &b] {
            generate(&Options {
                out: d.clone(),
                records: 200,
                dup_share: 0.3,
                seed: 7,
            })
            .unwrap();
        }
        for name in [
            "protein_small.fasta",
            "protein_dup.fasta",
            "nucleotide_small.fasta",
        ] {
            assert_eq!(
                std::fs::read(a.join(name)).unwrap(),
                std::fs::read(b.join(name)).unwrap()
            );
        }
        let text = std::fs::read_to_string(a.join("protein_small.fasta")).unwrap();
        assert_eq!(text.matches('>').count(), 200);
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-fixtures-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
