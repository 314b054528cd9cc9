//! End-to-end scenarios that run the real `sequoia` binary on the committed sample data.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

mod common;
use common::{bin, data, fails, ok, run};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// (header, residues) of every record, residues joined and upper-cased.
fn records(text: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8(text.to_vec()).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix('>') {
            out.push((h.to_string(), String::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(&line.trim().to_uppercase());
        }
    }
    out
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn stats(store: &Path) -> serde_json_lite::Stats {
    serde_json_lite::parse(&ok(store, &["stats", "--json"]).stdout)
}

/// Just enough JSON reading for the stats object (numbers by key).
mod serde_json_lite {
    pub struct Stats(pub std::collections::HashMap<String, f64>);
    impl Stats {
        pub fn get(&self, k: &str) -> u64 {
            *self.0.get(k).unwrap_or_else(|| panic!("stats has no {k}")) as u64
        }
    }
    pub fn parse(bytes: &[u8]) -> Stats {
        let text = String::from_utf8_lossy(bytes);
        let mut m = std::collections::HashMap::new();
        for line in text.lines() {
            let line = line.trim().trim_end_matches(',');
            if let Some((k, v)) = line.split_once(": ") {
                if let Ok(n) = v.parse::<f64>() {
                    m.insert(k.trim_matches('"').to_string(), n);
                }
            }
        }
        Stats(m)
    }
}

/// Imports the sample in packs of `format` ("v1", "v2") small enough to rotate.
fn import_sample_in_small_packs(store: &Path, format: &str) {
    let a = data("sample.fasta");
    let args = ["import", "--format", format, "--pack-size", "50000"];
    ok(store, &[&args[..], &[a.to_str().unwrap()]].concat());
}

fn pack_files(store: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(store.join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tal"))
        .collect();
    v.sort();
    v
}

fn listing(store: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut m = BTreeMap::new();
    for sub in ["packs", "indices"] {
        if let Ok(rd) = std::fs::read_dir(store.join(sub)) {
            for e in rd {
                let p = e.unwrap().path();
                m.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    m
}

#[test]
fn import_get_export_stats_verify_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store = store.as_path();
    let a = data("sample.fasta");
    let b = data("sample_dup.fasta");
    let out = ok(
        store,
        &["import", "--source", "swissprot", a.to_str().unwrap()],
    );
    assert!(
        stderr(&out).contains("imported 300 records"),
        "{}",
        stderr(&out)
    );
    // Small packs so that rotation and several index files are exercised.
    ok(
        store,
        &[
            "import",
            "--pack-size",
            "20000",
            "--block-size",
            "2000",
            b.to_str().unwrap(),
        ],
    );

    let mut input = records(&std::fs::read(&a).unwrap());
    input.extend(records(&std::fs::read(&b).unwrap()));
    let distinct: std::collections::BTreeSet<&String> = input.iter().map(|r| &r.1).collect();

    let s = stats(store);
    assert_eq!(s.get("sequences"), distinct.len() as u64);
    assert_eq!(s.get("representations"), input.len() as u64);
    // A store of v2 packs: its index layers name entry table rows, one per entry.
    assert!(s.get("index_rows") >= s.get("sequences"));
    assert!(s.get("layers") >= 1);
    let text = String::from_utf8(ok(store, &["stats"]).stdout).unwrap();
    let want = format!("index rows       {} entry rows in ", s.get("index_rows"));
    assert!(text.lines().any(|l| l.starts_with(&want)), "{text}");
    assert!(s.get("packs") > 2, "small packs rotate");
    assert!(s.get("bytes_on_disk") > 0);

    let exported = ok(store, &["export"]);
    assert_eq!(sorted(records(&exported.stdout)), sorted(input.clone()));
    // Threads format parts of the store at once; the output is the same, byte for byte.
    for threads in ["1", "3"] {
        let other = ok(store, &["export", "--threads", threads]);
        assert!(other.stdout == exported.stdout, "{threads} threads");
    }
    fails(store, &["export", "--threads", "0"]);

    let dedup = records(&ok(store, &["export", "--dedup", "--width", "0"]).stdout);
    assert_eq!(dedup.len(), distinct.len());
    let mut headers_back: Vec<(String, String)> = dedup
        .iter()
        .flat_map(|(h, s)| h.split('\u{1}').map(move |x| (x.to_string(), s.clone())))
        .collect();
    headers_back.sort();
    assert_eq!(headers_back, sorted(input.clone()));

    // get: one record per representation of that sequence.
    let (header, residues) = &input[0];
    let hash = hex(residues.as_bytes());
    let got = records(&ok(store, &["get", &hash]).stdout);
    assert!(got.contains(&(header.clone(), residues.clone())));
    assert!(got.iter().all(|(_, r)| r == residues));

    // --keys with many hashes gives them in order.
    let keys = dir.path().join("keys.txt");
    let wanted: Vec<&String> = distinct.iter().take(25).copied().collect();
    std::fs::write(
        &keys,
        wanted
            .iter()
            .map(|r| hex(r.as_bytes()) + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let got = records(&ok(store, &["get", "--keys", keys.to_str().unwrap()]).stdout);
    let mut seqs: Vec<&String> = got.iter().map(|r| &r.1).collect();
    seqs.dedup();
    assert_eq!(seqs, wanted);
    // CRLF line ends, blank lines and spaces around a key are allowed; IDs given as
    // arguments come first.
    std::fs::write(
        &keys,
        format!(
            "\r\n  {}  \r\n\n{}\r\n",
            hex(wanted[1].as_bytes()),
            hex(wanted[2].as_bytes())
        ),
    )
    .unwrap();
    let first = hex(wanted[0].as_bytes());
    let got = records(&ok(store, &["get", &first, "--keys", keys.to_str().unwrap()]).stdout);
    let mut seqs: Vec<&String> = got.iter().map(|r| &r.1).collect();
    seqs.dedup();
    assert_eq!(seqs, wanted[..3]);
    let missing = dir.path().join("no-such-keys.txt");
    let out = run(store, &["get", "--keys", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-keys.txt"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Many more keys than one unit of lookups (512), with unknown ones among them: the
    // answers stay in input order, each unknown one is named, the exit status is 1.
    let unknown = hex(b"NOTSTORED");
    let distinct: Vec<&String> = distinct.iter().copied().collect();
    let mut many: Vec<String> = Vec::new();
    for i in 0..1600 {
        many.push(if i == 700 || i == 1300 {
            unknown.clone()
        } else {
            distinct[i % distinct.len()].to_string()
        });
    }
    std::fs::write(
        &keys,
        many.iter()
            .map(|r| {
                if *r == unknown {
                    unknown.clone() + "\n"
                } else {
                    hex(r.as_bytes()) + "\n"
                }
            })
            .collect::<String>(),
    )
    .unwrap();
    let out = run(store, &["get", "--keys", keys.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches(&unknown).count(), 2, "{stderr}");
    let got = records(&out.stdout);
    let mut seqs: Vec<&String> = got.iter().map(|r| &r.1).collect();
    seqs.dedup();
    let known: Vec<&String> = many.iter().filter(|r| **r != unknown).collect();
    assert_eq!(seqs, known);

    let v = ok(store, &["verify"]);
    assert!(String::from_utf8_lossy(&v.stdout).contains(": OK"));
}

fn hex(residues: &[u8]) -> String {
    Sha256::digest(residues)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn an_unknown_hash_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    ok(store, &["import", data("sample.fasta").to_str().unwrap()]);
    let missing = "ab".repeat(32);
    let out = fails(store, &["get", &missing]);
    assert!(stderr(&out).contains(&missing), "{}", stderr(&out));
    let out = fails(store, &["get", "xyz"]);
    assert!(stderr(&out).contains("xyz"), "{}", stderr(&out));
}

#[test]
fn importing_the_same_records_again_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    let a = data("sample.fasta");
    ok(store, &["import", a.to_str().unwrap()]);
    let before = stats(store);
    let out = ok(store, &["import", a.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("0 new sequences, 0 new representations"),
        "{}",
        stderr(&out)
    );
    let after = stats(store);
    assert_eq!(after.get("sequences"), before.get("sequences"));
    assert_eq!(after.get("representations"), before.get("representations"));
    // The same records under another source are new representations, not new sequences.
    let out = ok(
        store,
        &["import", "--source", "mirror", a.to_str().unwrap()],
    );
    assert!(
        stderr(&out).contains("0 new sequences, 300 new representations"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn repack_merges_entries_keeps_every_answer_and_names_the_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    let a = data("sample.fasta");
    let b = data("sample_dup.fasta");
    ok(store, &["import", a.to_str().unwrap()]);
    ok(
        store,
        &["import", "--source", "mirror", a.to_str().unwrap()],
    );
    ok(store, &["import", b.to_str().unwrap()]);
    let export_before = ok(store, &["export"]).stdout;
    let stats_before = stats(store);
    let old_files = pack_files(store);
    let out = ok(store, &["repack"]);
    let err = stderr(&out);
    assert!(err.contains("repacked"), "{err}");
    // Every old pack file is named as no longer part of the store, and still there.
    for f in &old_files {
        assert!(
            err.contains(&f.display().to_string()),
            "{} in {err}",
            f.display()
        );
        assert!(f.exists());
    }
    // Similar sequences together: the same records, in another order.
    let repacked = ok(store, &["export"]).stdout;
    assert_eq!(sorted(records(&repacked)), sorted(records(&export_before)));
    let after = stats(store);
    for key in ["sequences", "representations"] {
        assert_eq!(after.get(key), stats_before.get(key), "{key}");
    }
    assert!(after.get("pack_bytes") < stats_before.get("pack_bytes"));
    let verified = String::from_utf8_lossy(&ok(store, &["verify"]).stdout).into_owned();
    assert!(verified.contains("replaced by a repack"), "{verified}");
    // Once the old files are deleted, as the note says, the store is whole.
    for f in &old_files {
        std::fs::remove_file(f).unwrap();
        // v2 packs have no index file of their own: the footer's entry table is one.
        let idx = store.join("indices").join(
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".tal", ".idx"),
        );
        assert!(!idx.exists(), "{}", idx.display());
    }
    let verified = ok(store, &["verify"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        stderr(&verified)
    );
    assert!(!text.contains("not part of the store"), "{text}");
    assert_eq!(ok(store, &["export"]).stdout, repacked);
}

#[test]
fn repack_to_v3_then_every_command_reads_it_and_imports_add_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    let a = data("sample.fasta");
    let b = data("sample_dup.fasta");
    ok(store, &["import", a.to_str().unwrap()]);
    ok(store, &["import", b.to_str().unwrap()]);
    let export_before = ok(store, &["export"]).stdout;
    let before = stats(store);
    ok(store, &["repack", "--format", "v3"]);
    ok(store, &["gc"]);
    let after = stats(store);
    assert_eq!(after.get("v3_packs"), after.get("packs"));
    for key in ["sequences", "representations"] {
        assert_eq!(after.get(key), before.get(key), "{key}");
    }
    assert!(after.get("pack_bytes") < before.get("pack_bytes"));
    let repacked = ok(store, &["export"]).stdout;
    assert_eq!(sorted(records(&repacked)), sorted(records(&export_before)));
    let text = String::from_utf8_lossy(&ok(store, &["stats"]).stdout).into_owned();
    assert!(text.contains(" v3)"), "{text}");
    ok(store, &["verify"]);
    ok(store, &["rebuild-index"]);
    assert_eq!(ok(store, &["export"]).stdout, repacked);
    // Each record by its identifier, as before.
    let first = records(&export_before)[0].0.clone();
    let id = first.split_whitespace().next().unwrap().to_string();
    let got = ok(store, &["get", &id]).stdout;
    assert!(
        String::from_utf8_lossy(&got).starts_with(&format!(">{id}")),
        "{id}"
    );
    // An import into it, in v3 too: new sequences and new records of stored ones.
    ok(
        store,
        &[
            "import",
            "--format",
            "v3",
            "--source",
            "again",
            a.to_str().unwrap(),
        ],
    );
    let again = stats(store);
    assert_eq!(again.get("sequences"), after.get("sequences"));
    assert!(again.get("representations") > after.get("representations"));
    assert_eq!(again.get("v3_packs"), again.get("packs"));
    ok(store, &["verify"]);
    // The archival profile: v3 in larger blocks at a higher level, smaller still.
    let before_archive = ok(store, &["export"]).stdout;
    ok(store, &["repack", "--profile", "archive"]);
    ok(store, &["gc"]);
    let archived = stats(store);
    assert_eq!(archived.get("v3_packs"), archived.get("packs"));
    assert!(archived.get("pack_bytes") < again.get("pack_bytes"));
    ok(store, &["verify"]);
    let after_archive = ok(store, &["export"]).stdout;
    assert_eq!(
        sorted(records(&after_archive)),
        sorted(records(&before_archive))
    );
}

#[test]
fn a_flipped_byte_in_a_pack_fails_verify_naming_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    ok(
        store,
        &[
            "import",
            "--pack-size",
            "30000",
            data("sample.fasta").to_str().unwrap(),
        ],
    );
    let packs = pack_files(store);
    assert!(packs.len() > 1);
    let victim = &packs[1];
    let mut bytes = std::fs::read(victim).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x20;
    std::fs::write(victim, bytes).unwrap();
    let out = fails(store, &["verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(text.contains(name), "{text}");
    assert!(text.contains("PROBLEMS"), "{text}");
    // Other packs still read: export fails only when it reaches the damaged pack, while a
    // sequence of the first pack still reads.
    let input = records(&std::fs::read(data("sample.fasta")).unwrap());
    let unique = input
        .iter()
        .find(|r| input.iter().filter(|o| o.1 == r.1).count() == 1)
        .expect("the sample has unique sequences");
    let out = run(store, &["get", &hex(unique.1.as_bytes())]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn bad_input_is_rejected_with_file_and_line_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    ok(&store, &["import", data("sample.fasta").to_str().unwrap()]);
    let before = listing(&store);
    let cases: &[(&str, &[u8], &str)] = &[
        ("digits.fa", b">a\nMKV\n>b\nMK1V\n", "digits.fa:4:3"),
        ("preamble.fa", b"hello\n>a\nMK\n", "before the first"),
        ("empty_header.fa", b">\nMK\n", "empty header"),
        ("empty_record.fa", b">a\n>b\nMK\n", "no residues"),
        ("nul.fa", b">a\nM\0K\n", "NUL"),
        ("space.fa", b">a\nMK VL\n", "whitespace inside"),
        ("control.fa", b">a\nMK\x1bVL\n", "0x1b"),
        (
            "binary.fa",
            &[0xde, 0xad, 0xbe, 0xef, 0, 1, 2],
            "before the first",
        ),
    ];
    for (name, content, expect) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let good = data("sample_dup.fasta");
        // The good file first: its records must not survive the failure of the second.
        let out = run(
            &store,
            &["import", good.to_str().unwrap(), path.to_str().unwrap()],
        );
        assert!(!out.status.success(), "{name} accepted");
        let err = stderr(&out);
        assert!(err.contains(name) && err.contains(expect), "{name}: {err}");
        assert!(err.contains("unchanged"), "{err}");
        assert_eq!(listing(&store), before, "{name} changed the store");
    }
    // Unreadable inputs: a missing file, and a directory.
    for unreadable in [dir.path().join("nope.fa"), dir.path().to_path_buf()] {
        let out = run(&store, &["import", unreadable.to_str().unwrap()]);
        assert!(!out.status.success(), "{} accepted", unreadable.display());
        assert!(
            stderr(&out).contains(unreadable.to_str().unwrap()),
            "{}",
            stderr(&out)
        );
        assert_eq!(listing(&store), before);
    }
}

#[test]
fn crlf_lowercase_and_compressed_inputs_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let crlf = dir.path().join("crlf.fa");
    std::fs::write(&crlf, b">x one\r\nmkv\r\n\r\nla\r\n").unwrap();
    ok(&store, &["import", crlf.to_str().unwrap()]);
    let got = records(&ok(&store, &["get", &hex(b"MKVLA")]).stdout);
    assert_eq!(got, vec![("x one".to_string(), "MKVLA".to_string())]);

    let gz = dir.path().join("in.fa.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b">g gz record\nWWWW\n").unwrap();
    let bytes = enc.finish().unwrap();
    std::fs::write(&gz, &bytes).unwrap();
    ok(&store, &["import", gz.to_str().unwrap()]);
    assert!(run(&store, &["get", &hex(b"WWWW")]).status.success());

    let truncated = dir.path().join("cut.fa.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() - 6]).unwrap();
    let out = run(&store, &["import", truncated.to_str().unwrap()]);
    assert!(!out.status.success(), "a truncated gzip file was accepted");
    assert!(stderr(&out).contains("cut.fa.gz"), "{}", stderr(&out));

    // Standard input, with the source name given.
    let mut child = bin()
        .args([
            "--store",
            store.to_str().unwrap(),
            "import",
            "--source",
            "pipe",
            "-",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b">p piped\nPPP\n")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert!(run(&store, &["get", &hex(b"PPP")]).status.success());
}

#[test]
fn a_second_writer_gets_a_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    ok(&store, &["import", data("sample.fasta").to_str().unwrap()]);
    let mut first = bin()
        .args(["--store", store.to_str().unwrap(), "import", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = first.stdin.take().unwrap();
    stdin.write_all(b">held\nMKMKMK\n").unwrap();
    stdin.flush().unwrap();
    // The first import holds the lock while it waits for more input (give it time to
    // start, or the second one could take the lock first).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut refused = None;
    for _ in 0..100 {
        if let Some(status) = first.try_wait().unwrap() {
            panic!("the first import ended early: {status}");
        }
        let out = run(
            &store,
            &["import", data("sample_dup.fasta").to_str().unwrap()],
        );
        if !out.status.success() {
            refused = Some(stderr(&out));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let Some(refused) = refused else {
        drop(stdin);
        let o = first.wait_with_output().unwrap();
        panic!(
            "the second writer was never refused; first: {:?} {}",
            o.status,
            stderr(&o)
        );
    };
    assert!(refused.contains("locked"), "{refused}");
    drop(stdin);
    assert!(first.wait_with_output().unwrap().status.success());
    // Readers are never blocked, and the lock is free again.
    assert!(run(&store, &["get", &hex(b"MKMKMK")]).status.success());
    ok(
        &store,
        &["import", data("sample_dup.fasta").to_str().unwrap()],
    );
}

#[test]
fn v1_packs_import_read_verify_and_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    import_sample_in_small_packs(store, "v1");
    ok(
        store,
        &["import", data("sample_nucleotide.fasta").to_str().unwrap()],
    );
    let s = stats(store);
    assert!(s.get("v1_packs") >= 2);
    assert!(s.get("packs") > s.get("v1_packs"));
    // v1 packs need location rows in the index; no rebuild-index can change that.
    let text = String::from_utf8(ok(store, &["stats"]).stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("index rows")).unwrap();
    assert!(line.contains(" location rows in "), "{line}");
    let first = std::fs::read(pack_files(store)[0].clone()).unwrap();
    assert_eq!(
        &first[..4],
        &[0x28, 0xb5, 0x2f, 0xfd],
        "v1 packs are one zstd frame"
    );
    let exported = sorted(records(&ok(store, &["export"]).stdout));
    ok(store, &["verify"]);

    // Every index file deleted: rebuild-index restores full service from the packs alone.
    std::fs::remove_dir_all(store.join("indices")).unwrap();
    std::fs::create_dir(store.join("indices")).unwrap();
    ok(store, &["rebuild-index"]);
    assert_eq!(sorted(records(&ok(store, &["export"]).stdout)), exported);
    ok(store, &["verify"]);
    let after = stats(store);
    assert_eq!(after.get("sequences"), s.get("sequences"));
    assert_eq!(after.get("representations"), s.get("representations"));
}

#[test]
fn a_corrupt_index_is_reported_and_left_in_place_until_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    ok(store, &["import", data("sample.fasta").to_str().unwrap()]);
    let exported = ok(store, &["export"]).stdout;
    // The newest commit record.
    let midx = std::fs::read_dir(store.join("indices"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("commit-")
        })
        .max()
        .unwrap();
    let name = midx.file_name().unwrap().to_string_lossy().into_owned();
    let mut bytes = std::fs::read(&midx).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&midx, &bytes).unwrap();
    let out = fails(store, &["verify"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&name));
    // Writing is refused with the way out, and the damaged file is not replaced.
    let out = fails(
        store,
        &["import", data("sample_dup.fasta").to_str().unwrap()],
    );
    assert!(stderr(&out).contains("rebuild-index"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&midx).unwrap(), bytes);
    // Reads still work, every pack served through an index built from its footer (v2
    // packs have no index file).
    let first = records(&std::fs::read(data("sample.fasta")).unwrap());
    assert!(run(store, &["get", &hex(first[0].1.as_bytes())])
        .status
        .success());
    assert_eq!(ok(store, &["export"]).stdout, exported);
    ok(store, &["rebuild-index"]);
    ok(store, &["verify"]);
    ok(
        store,
        &["import", data("sample_dup.fasta").to_str().unwrap()],
    );
}

#[test]
fn a_killed_import_leaves_a_store_that_opens_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let a = data("sample.fasta");
    ok(&store, &["import", a.to_str().unwrap()]);
    let committed = sorted(records(&ok(&store, &["export"]).stdout));
    for delay_ms in [0u64, 5, 20, 60] {
        let mut child = bin()
            .args([
                "--store",
                store.to_str().unwrap(),
                "import",
                "--pack-size",
                "10000",
                "--source",
                "k",
            ])
            .arg(data("sample_nucleotide.fasta"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let out = ok(&store, &["verify"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains(": OK"));
        let now = sorted(records(&ok(&store, &["export"]).stdout));
        // Everything committed before is there; anything else is whole records of the
        // killed import, or everything of it when it finished before the kill.
        for r in &committed {
            assert!(
                now.binary_search(r).is_ok(),
                "lost {r:?} (kill after {delay_ms} ms, {status})"
            );
        }
    }
    ok(
        &store,
        &["import", data("sample_dup.fasta").to_str().unwrap()],
    );
    ok(&store, &["verify"]);
}

#[test]
fn the_compression_level_changes_the_packs_not_the_answers() {
    let dir = tempfile::tempdir().unwrap();
    let a = data("sample.fasta");
    let fast = dir.path().join("fast");
    let small = dir.path().join("small");
    ok(&fast, &["import", "--level", "1", a.to_str().unwrap()]);
    ok(&small, &["import", "--level", "19", a.to_str().unwrap()]);
    assert_ne!(
        std::fs::read(&pack_files(&fast)[0]).unwrap(),
        std::fs::read(&pack_files(&small)[0]).unwrap(),
        "the level reaches the compressor"
    );
    assert_eq!(
        ok(&fast, &["export"]).stdout,
        ok(&small, &["export"]).stdout
    );
    ok(&small, &["verify"]);
    let out = fails(&fast, &["import", "--level", "0", a.to_str().unwrap()]);
    assert!(stderr(&out).contains("--level"), "{}", stderr(&out));
}

#[test]
fn block_size_one_puts_every_sequence_in_a_block_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let a = data("sample.fasta");
    let store = |name: &str, args: &[&str]| {
        let store = dir.path().join(name);
        let mut full = vec!["import"];
        full.extend_from_slice(args);
        full.push(a.to_str().unwrap());
        ok(&store, &full);
        store
    };
    // (blocks, entries) of each pack, from its trailer (docs/format.md): the block count
    // is the u32 at byte 8 of the last 64, the entry count the u32 at byte 12.
    let counts = |store: &Path| -> Vec<(u32, u32)> {
        pack_files(store)
            .iter()
            .map(|p| {
                let bytes = std::fs::read(p).unwrap();
                let t = &bytes[bytes.len() - 64..];
                let u32_at = |i: usize| u32::from_le_bytes(t[i..i + 4].try_into().unwrap());
                (u32_at(8), u32_at(12))
            })
            .collect()
    };
    let default = store("default", &[]);
    let one = store("one", &["--block-size", "1"]);
    // Every sequence's residues entry in a block of its own: at least as many blocks as
    // sequences (the addition entries of repeated records share theirs).
    let sequences = |store: &Path| -> u32 {
        let out = ok(store, &["stats"]).stdout;
        let text = String::from_utf8(out).unwrap();
        let line = text.lines().find(|l| l.starts_with("sequences")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let blocks = |store: &Path| -> u32 { counts(store).iter().map(|c| c.0).sum() };
    assert!(blocks(&one) >= sequences(&one), "{:?}", counts(&one));
    assert!(
        blocks(&default) < sequences(&default) / 2,
        "{:?}",
        counts(&default)
    );
    // The default is 2 KiB blocks with the pack's dictionary.
    let bytes = |s: &Path| -> Vec<Vec<u8>> {
        pack_files(s)
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect()
    };
    assert_eq!(
        bytes(&default),
        bytes(&store("2048", &["--block-size", "2048"]))
    );
    assert_eq!(
        ok(&default, &["export"]).stdout,
        ok(&one, &["export"]).stdout
    );
    ok(&one, &["verify"]);
    let out = fails(&one, &["import", "--block-size", "0", a.to_str().unwrap()]);
    assert!(stderr(&out).contains("--block-size"), "{}", stderr(&out));
}

#[test]
fn the_default_level_is_chosen_per_pack() {
    let dir = tempfile::tempdir().unwrap();
    let packs = |name: &str, input: &str, args: &[&str]| {
        let store = dir.path().join(name);
        let input = data(input);
        let mut full = vec!["import"];
        full.extend_from_slice(args);
        full.push(input.to_str().unwrap());
        ok(&store, &full);
        pack_files(&store)
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect::<Vec<_>>()
    };
    // v2: level 1 for protein, 3 for nucleotide sequences.
    let protein = packs("p", "sample.fasta", &[]);
    assert_eq!(protein, packs("p1", "sample.fasta", &["--level", "1"]));
    assert_ne!(protein, packs("p3", "sample.fasta", &["--level", "3"]));
    let nucleotide = packs("n", "sample_nucleotide.fasta", &[]);
    assert_eq!(
        nucleotide,
        packs("n3", "sample_nucleotide.fasta", &["--level", "3"])
    );
    assert_ne!(
        nucleotide,
        packs("n1", "sample_nucleotide.fasta", &["--level", "1"])
    );
    // v1: level 3, the seed format's.
    let v1 = packs("v1", "sample.fasta", &["--format", "v1"]);
    assert_eq!(
        v1,
        packs("v1-3", "sample.fasta", &["--format", "v1", "--level", "3"])
    );
    assert_ne!(
        v1,
        packs("v1-1", "sample.fasta", &["--format", "v1", "--level", "1"])
    );
}

#[test]
fn help_and_usage_errors() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "import",
        "get",
        "export",
        "stats",
        "verify",
        "rebuild-index",
    ] {
        assert!(text.contains(cmd), "help lacks {cmd}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = fails(&dir.path().join("none"), &["stats"]);
    assert!(
        stderr(&out).contains("no SEQUOIA store"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_file_size_limit_fails_the_import_cleanly_and_the_next_one_works() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    ok(
        &store,
        &["import", data("sample_dup.fasta").to_str().unwrap()],
    );
    let before = listing(&store);
    // A 16 KiB file-size limit (SIGXFSZ ignored, so writes fail with EFBIG) stands in for
    // a full disk: the first pack outgrows it.
    let script = format!(
        "trap '' XFSZ; ulimit -f 16; exec {} --store {} import {}",
        env!("CARGO_BIN_EXE_sequoia"),
        store.display(),
        data("sample.fasta").display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(
        !out.status.success(),
        "the import passed a 16 KiB file-size limit"
    );
    let err = stderr(&out);
    assert!(
        err.contains("File too large") && err.contains("pack_"),
        "{err}"
    );
    assert_eq!(
        listing(&store),
        before,
        "the failed import changed the store"
    );
    ok(&store, &["import", data("sample.fasta").to_str().unwrap()]);
    ok(&store, &["verify"]);
}

#[test]
fn readers_in_other_processes_read_consistently_during_an_import() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    ok(&store, &["import", data("sample.fasta").to_str().unwrap()]);
    let committed = records(&std::fs::read(data("sample.fasta")).unwrap());
    let keys = dir.path().join("keys");
    std::fs::write(
        &keys,
        committed
            .iter()
            .map(|r| hex(r.1.as_bytes()) + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let mut writer = bin()
        .args([
            "--store",
            store.to_str().unwrap(),
            "import",
            "--pack-size",
            "8000",
        ])
        .arg(data("sample_nucleotide.fasta"))
        .arg(data("sample_dup.fasta"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reads = 0;
    while writer.try_wait().unwrap().is_none() || reads < 3 {
        let out = ok(&store, &["get", "--keys", keys.to_str().unwrap()]);
        let got = records(&out.stdout);
        for r in &committed {
            assert!(
                got.contains(r),
                "a committed record was not readable during the import"
            );
        }
        reads += 1;
    }
    assert!(writer.wait().unwrap().success());
    ok(&store, &["verify"]);
}

/// Copies a directory tree (the committed store fixtures are read-only sources).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_tree(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_store_written_before_hash_tags_reads_verifies_takes_new_imports_and_repacks_to_v3() {
    // tests/data/store_full_hashes: sample.fasta then sample_dup.fasta imported by the
    // build of 2026-11-25 before hash tags (v2 packs whose entries hold whole hashes).
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    copy_tree(&data("store_full_hashes"), &old);
    let flags = |store: &Path| -> Vec<u8> {
        pack_files(store)
            .iter()
            .map(|p| std::fs::read(p).unwrap()[9])
            .collect()
    };
    assert!(flags(&old).iter().all(|f| f & 2 == 0), "{:?}", flags(&old));

    // The same input imported now, into packs with hash tags.
    let new = dir.path().join("new");
    ok(&new, &["import", data("sample.fasta").to_str().unwrap()]);
    ok(
        &new,
        &["import", data("sample_dup.fasta").to_str().unwrap()],
    );
    assert!(flags(&new).iter().all(|f| f & 2 == 2), "{:?}", flags(&new));
    let total = |store: &Path| -> u64 {
        pack_files(store)
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum()
    };
    assert!(total(&new) < total(&old), "{} {}", total(&new), total(&old));

    ok(&old, &["verify"]);
    let exported = sorted(records(&ok(&old, &["export"]).stdout));
    assert_eq!(exported, sorted(records(&ok(&new, &["export"]).stdout)));
    let one = hex(exported[0].1.as_bytes());
    assert_eq!(
        ok(&old, &["get", &one]).stdout,
        ok(&new, &["get", &one]).stdout
    );

    // A new import adds tagged packs beside the old ones; everything reads and verifies,
    // and rebuild-index indexes both kinds.
    ok(
        &old,
        &["import", data("sample_nucleotide.fasta").to_str().unwrap()],
    );
    let mixed = flags(&old);
    assert!(mixed.iter().any(|f| f & 2 == 0) && mixed.iter().any(|f| f & 2 == 2));
    ok(&old, &["verify"]);
    ok(
        &new,
        &["import", data("sample_nucleotide.fasta").to_str().unwrap()],
    );
    let both = sorted(records(&ok(&old, &["export"]).stdout));
    assert_eq!(both, sorted(records(&ok(&new, &["export"]).stdout)));
    assert!(both.len() > exported.len());
    std::fs::remove_dir_all(old.join("indices")).unwrap();
    std::fs::create_dir(old.join("indices")).unwrap();
    ok(&old, &["rebuild-index"]);
    ok(&old, &["verify"]);
    assert_eq!(sorted(records(&ok(&old, &["export"]).stdout)), both);
    // get --keys of every sequence by SHA-256 answers the same from both stores.
    let keys: String = both
        .iter()
        .map(|(_, residues)| format!("{}\n", hex(residues.as_bytes())))
        .collect();
    let keys_path = dir.path().join("keys.txt");
    std::fs::write(&keys_path, keys).unwrap();
    let k = keys_path.to_str().unwrap();
    assert_eq!(
        ok(&old, &["get", "--keys", k]).stdout,
        ok(&new, &["get", "--keys", k]).stdout
    );
    // Repacked into v3 packs, it answers the same, in the same order.
    ok(&old, &["repack", "--format", "v3"]);
    ok(&old, &["gc"]);
    assert!(flags(&old).iter().all(|&f| f <= 1), "{:?}", flags(&old));
    ok(&old, &["verify"]);
    assert_eq!(sorted(records(&ok(&old, &["export"]).stdout)), both);
    assert_eq!(
        ok(&old, &["get", "--keys", k]).stdout,
        ok(&new, &["get", "--keys", k]).stdout
    );
}

/// A pack the commit record lists but the directory lacks: export fails naming it instead
/// of leaving its sequences out, whichever kind of rows the commit record has.
#[test]
fn export_of_a_store_missing_a_pack_fails_naming_it() {
    for format in ["v2", "v1"] {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path();
        import_sample_in_small_packs(store, format);
        let packs = pack_files(store);
        assert!(packs.len() > 2, "{format}: small packs rotate");
        ok(store, &["export"]);
        std::fs::remove_file(&packs[1]).unwrap();
        let out = run(store, &["export"]);
        assert!(!out.status.success(), "{format}: export succeeded");
        let err = stderr(&out);
        assert!(
            err.contains("pack 1") && err.contains("missing"),
            "{format}: {err}"
        );
    }
}

#[test]
fn a_store_of_packed_index_rows_naming_entries_reads_answers_and_repacks() {
    // tests/data/store_packed_rows: sample.fasta, sample_dup.fasta, then
    // sample_nucleotide.fasta as v3, imported by the build of 2026-12-07 (three layers, v2
    // and v3 packs): index files of layout version 2 (packed rows), alias rows naming
    // entries. Kept as written, so that later builds keep reading them.
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    copy_tree(&data("store_packed_rows"), &old);
    let idx: Vec<PathBuf> = std::fs::read_dir(old.join("indices"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    assert_eq!(idx.len(), 12, "three layers of four files");
    for p in &idx {
        let head = std::fs::read(p).unwrap();
        assert_eq!(head[4], 2, "{}: packed rows", p.display());
        if !p.to_string_lossy().ends_with(".rows.idx") {
            assert!(
                head[61] != 0 && head[62] != 0,
                "{}: rows name entries",
                p.display()
            );
        }
    }
    ok(&old, &["verify"]);

    // The same input imported now answers alike: records, and every identifier.
    let new = dir.path().join("new");
    ok(&new, &["import", data("sample.fasta").to_str().unwrap()]);
    ok(
        &new,
        &["import", data("sample_dup.fasta").to_str().unwrap()],
    );
    let nt = data("sample_nucleotide.fasta");
    ok(&new, &["import", "--format", "v3", nt.to_str().unwrap()]);
    let exported = sorted(records(&ok(&old, &["export"]).stdout));
    assert_eq!(exported, sorted(records(&ok(&new, &["export"]).stdout)));
    // Identifiers of every 7th record: its first header word (an accession or a whole
    // identifier), its MD5 and its SQ. digest, from `info`.
    let mut ids = Vec::new();
    for (header, residues) in exported.iter().step_by(7) {
        ids.push(header.split_whitespace().next().unwrap().to_string());
        let info =
            String::from_utf8(ok(&old, &["info", "--json", &hex(residues.as_bytes())]).stdout)
                .unwrap();
        for field in ["\"md5\": \"", "\"sha512t24u\": \""] {
            let at = info
                .find(field)
                .unwrap_or_else(|| panic!("{field} in {info}"))
                + field.len();
            ids.push(info[at..at + info[at..].find('"').unwrap()].to_string());
        }
    }
    let keys_path = dir.path().join("ids.txt");
    std::fs::write(
        &keys_path,
        ids.iter().map(|i| format!("{i}\n")).collect::<String>(),
    )
    .unwrap();
    let k = keys_path.to_str().unwrap();
    let from_old = ok(&old, &["get", "--keys", k]).stdout;
    assert_eq!(from_old, ok(&new, &["get", "--keys", k]).stdout);
    assert!(
        records(&from_old).len() >= ids.len(),
        "every identifier answers"
    );

    // It takes new imports, compacts and repacks as a store of this build does.
    ok(
        &old,
        &["import", data("sample_dup.fasta").to_str().unwrap()],
    );
    ok(&old, &["compact"]);
    ok(&old, &["verify"]);
    assert_eq!(from_old, ok(&old, &["get", "--keys", k]).stdout);
    ok(&old, &["repack", "--format", "v3"]);
    ok(&old, &["verify"]);
    assert_eq!(from_old, ok(&old, &["get", "--keys", k]).stdout);
}
