use sequoia_store::*;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let n: u64 = args[2].parse().unwrap();
    let k: usize = args[3].parse().unwrap();
    let runs: usize = args[4].parse().unwrap();
    let s = PackedSequenceStorage::open(&dir).unwrap();
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let mut keys = Vec::new();
    for _ in 0..k {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % n;
        let v = s.get_by(&SequenceId::Accession(format!("syn{i}"))).unwrap();
        keys.push(v[0].0);
    }
    for _ in 0..runs {
        let t = Instant::now();
        let mut c = 0;
        for h in &keys {
            if s.get(h).unwrap().is_some() {
                c += 1;
            }
        }
        println!(
            "{} found, {:.2} us/get",
            c,
            t.elapsed().as_secs_f64() / k as f64 * 1e6
        );
    }
}
