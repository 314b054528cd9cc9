//! One module per command: its arguments and an `exec` that calls the library. What the
//! commands share (errors, progress bars, pack options) is here.

use std::io::IsTerminal;

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use sequoia_store::{PackVersion, StoreOptions};

pub mod compact;
pub mod export;
pub mod gc;
pub mod get;
pub mod import;
pub mod info;
pub mod rebuild_index;
pub mod repack;
pub mod serve;
pub mod stats;
pub mod sync;
pub mod verify;

pub type Result<T> = std::result::Result<T, std::io::Error>;

/// An error with this message (printed as `sequoia: MESSAGE`).
pub fn fail(msg: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(msg.to_string())
}

/// Publishes the commit a writer made on `target` (a store on object storage) and says so.
pub fn publish(target: &sequoia_remote::Target) -> Result<()> {
    if let Some(seq) = target.publish().map_err(fail)? {
        let url = target.name();
        eprintln!("published commit {seq} to {url}");
    }
    Ok(())
}

/// Threads for work spread over the machine: one per core.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Block size of `--profile archive` (docs/performance.md, "Store size").
const ARCHIVE_BLOCK_SIZE: usize = 64 << 10;

/// Zstandard level of `--profile archive`.
const ARCHIVE_LEVEL: i32 = 19;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    V1,
    V2,
    /// Residues and headers in separate streams of 16 KiB blocks, no stored hashes: the
    /// smallest, best after `repack`, which puts similar sequences together.
    V3,
}

/// What a profile sets unless an option says otherwise.
#[derive(Clone, Copy, ValueEnum)]
pub enum Profile {
    /// The layout and settings of each option's default.
    Default,
    /// The smallest store whose sequences still read one at a time: v3 packs, 64 KiB
    /// blocks, zstd level 19 (slow to write; each read decompresses 64 KiB).
    Archive,
}

/// How new packs are written (import, repack).
#[derive(clap::Args)]
pub struct PackArgs {
    /// Settings for a purpose; --format, --block-size and --level override its.
    #[arg(long, value_enum, default_value = "default")]
    profile: Profile,
    /// Layout of new packs [default: v2; v3 with --profile archive].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Pack size limit in bytes.
    #[arg(long, default_value_t = 64 << 20, hide = true)]
    pack_size: u64,
    /// Uncompressed bytes at which a block of new sequences closes [default: v2 2048 in
    /// packs with a dictionary, 8192 without; v3 16384]. 1 puts every sequence in a block of its own:
    /// random reads of single sequences about 1.5 times as fast, packs about 11% larger,
    /// export and verify slower (docs/performance.md)
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..=(1 << 26)))]
    block_size: Option<u32>,
    /// Zstandard level of new packs (1-22) [default: per pack, v2: 1 for protein, 3 for
    /// nucleotide sequences; v1: 3].
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=22))]
    level: Option<i32>,
}

impl PackArgs {
    pub fn options(&self) -> StoreOptions {
        let (format, block_size, level) = match self.profile {
            Profile::Default => (Format::V2, None, None),
            Profile::Archive => (Format::V3, Some(ARCHIVE_BLOCK_SIZE), Some(ARCHIVE_LEVEL)),
        };
        StoreOptions {
            format: match self.format.unwrap_or(format) {
                Format::V1 => PackVersion::V1,
                Format::V2 => PackVersion::V2,
                Format::V3 => PackVersion::V3,
            },
            pack_size_limit: self.pack_size,
            block_size: self.block_size.map(|b| b as usize).or(block_size),
            level: self.level.or(level),
            ..StoreOptions::default()
        }
    }
}

/// How `stats` and `verify` name a file in the store's directories that is not the store's.
pub const LEFTOVER_NOTE: &str = "note: not part of the store (left by an interrupted import, or replaced by a repack or a merge of index layers; `sequoia gc` deletes it)";

pub fn progress_bar(len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("template is valid")
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                .expect("template is valid"),
        ),
    }
}
