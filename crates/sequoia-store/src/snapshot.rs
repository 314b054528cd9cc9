//! A committed view of a store: the multi-pack index, the indexes of packs it does not
//! cover, and lazily opened pack readers. Opening reads index headers and one directory
//! listing, never a whole index or pack.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use memmap2::Mmap;
use pack_format::{PackId, PackLocation, SequenceHash};
use pack_index::{hash_prefix, EntryRow, HashPrefix, IndexCounts, IndexKind, PackIndex};
use pack_io::{BlockCache, PackReader};

use crate::error::StoreError;
use crate::layout::{io_err, parse_pack_index_name, StoreLayout};
use crate::report::OpenProblem;

/// A lookup error of the multi-pack index (`None`) or of a pack's own index, named by file.
pub(crate) fn index_error(id: Option<PackId>) -> impl FnOnce(pack_index::Error) -> StoreError {
    move |source| StoreError::Index {
        path: PathBuf::from(match id {
            None => crate::layout::MULTI_PACK_INDEX.to_string(),
            Some(id) => format!("pack_{id:04}.idx"),
        }),
        source,
    }
}

pub(crate) struct PackSlot {
    pub path: PathBuf,
    reader: OnceLock<Result<PackReader, String>>,
}

impl PackSlot {
    pub fn reader(&self) -> Result<&PackReader, String> {
        self.reader
            .get_or_init(|| PackReader::open(&self.path).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| e.clone())
    }
}

pub(crate) struct Snapshot {
    pub multi: Option<PackIndex<Mmap>>,
    /// Alias indexes (MD5, `sha512t24u`, accession → SHA-256), each over the packs it lists.
    pub aliases: BTreeMap<IndexKind, PackIndex<Mmap>>,
    /// Per-pack indexes, used only when the multi-pack index is missing or unreadable: the
    /// pack's index file, else one built in memory from the pack (v2 packs have no file).
    pub extras: Vec<(PackId, PackIndex<Mmap>)>,
    pub packs: BTreeMap<PackId, PackSlot>,
    pub problems: Vec<OpenProblem>,
    /// Highest pack id seen in any file name (finished, temporary or index).
    pub max_id_seen: Option<PackId>,
    /// Leftover `.tmp` files of interrupted imports.
    pub stray_temp_files: Vec<PathBuf>,
    /// Finished packs no commit lists (a commit interrupted after publishing its packs but
    /// before writing the multi-pack index): invisible, reported, left in place.
    pub orphans: Vec<(PackId, PathBuf, Option<PathBuf>)>,
}

/// An index of pack `id` built from the pack alone (its footer's entry table, or a scan of
/// a v1 pack), held in anonymous memory: what degraded mode serves a pack through when it
/// has no index file.
fn index_in_memory(slot: &PackSlot, id: PackId) -> Result<PackIndex<Mmap>, String> {
    // No file CRC: it is checked only in index files, and reading the whole pack for it
    // would make opening in degraded mode read every byte of the store.
    let mut rows = (slot.reader()?)
        .index_rows(id, false)
        .map_err(|e| e.to_string())?;
    let bytes = pack_index::write_index(
        Vec::new(),
        IndexKind::Pack,
        &[id],
        rows.counts,
        Some(rows.crc),
        &mut rows.entries,
    )
    .map_err(|e| e.to_string())?;
    let mut map = memmap2::MmapMut::map_anon(bytes.len()).map_err(|e| e.to_string())?;
    map.copy_from_slice(&bytes);
    let map = map.make_read_only().map_err(|e| e.to_string())?;
    PackIndex::parse(map).map_err(|e| e.to_string())
}

impl Snapshot {
    pub fn open(layout: &StoreLayout) -> Result<Snapshot, StoreError> {
        let mut snap = Snapshot {
            multi: None,
            aliases: BTreeMap::new(),
            extras: Vec::new(),
            packs: BTreeMap::new(),
            problems: Vec::new(),
            max_id_seen: None,
            stray_temp_files: Vec::new(),
            orphans: Vec::new(),
        };
        let packs_dir = layout.packs_dir();
        let listing = std::fs::read_dir(&packs_dir).map_err(io_err(&packs_dir))?;
        for item in listing {
            let item = item.map_err(io_err(&packs_dir))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = pack_io::parse_pack_file_name(name) {
                snap.see(id);
                snap.packs.insert(
                    id,
                    PackSlot {
                        path: item.path(),
                        reader: OnceLock::new(),
                    },
                );
            } else if let Some(id) = name
                .strip_suffix(".tmp")
                .and_then(pack_io::parse_pack_file_name)
            {
                snap.see(id);
                snap.stray_temp_files.push(item.path());
            }
        }
        let indices_dir = layout.indices_dir();
        let listing = std::fs::read_dir(&indices_dir).map_err(io_err(&indices_dir))?;
        for item in listing {
            let item = item.map_err(io_err(&indices_dir))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            let base = name.strip_suffix(".tmp").unwrap_or(name);
            if let Some(id) = parse_pack_index_name(base) {
                snap.see(id);
                if base == name && !snap.packs.contains_key(&id) {
                    // The index of a pack that was never published.
                    snap.stray_temp_files.push(item.path());
                }
            }
            if name.ends_with(".tmp") {
                snap.stray_temp_files.push(item.path());
            }
        }
        // The multi-pack index is the commit record: it lists the committed packs. Packs it
        // does not list belong to an interrupted commit and stay invisible. Without a usable
        // multi-pack index every pack is served through its own index (degraded: reported).
        let multi_path = layout.multi_index_path();
        let multi = if multi_path.exists() {
            match pack_index::open(&multi_path) {
                Ok(m) => Some(m),
                Err(e) => {
                    snap.problem(multi_path.clone(), e.to_string());
                    None
                }
            }
        } else {
            if !snap.packs.is_empty() {
                snap.problem(multi_path.clone(), "missing".into());
            }
            None
        };
        match multi {
            Some(m) => {
                let covered = m.packs();
                let orphan_ids: Vec<PackId> = snap
                    .packs
                    .keys()
                    .copied()
                    .filter(|id| covered.binary_search(id).is_err())
                    .collect();
                for id in orphan_ids {
                    if let Some(slot) = snap.packs.remove(&id) {
                        let index = Some(layout.pack_index_path(id)).filter(|p| p.exists());
                        snap.orphans.push((id, slot.path, index));
                    }
                }
                for id in covered {
                    if !snap.packs.contains_key(&id) {
                        snap.problem(
                            layout.pack_path(id),
                            "listed in the multi-pack index but missing".into(),
                        );
                    }
                }
                snap.multi = Some(m);
            }
            None => {
                let ids: Vec<PackId> = snap.packs.keys().copied().collect();
                for id in ids {
                    let path = layout.pack_index_path(id);
                    if path.exists() {
                        match pack_index::open(&path) {
                            Ok(ix) => snap.extras.push((id, ix)),
                            Err(e) => snap.problem(path, e.to_string()),
                        }
                        continue;
                    }
                    // A v2 pack has no index file: its footer's entry table is one.
                    match index_in_memory(&snap.packs[&id], id) {
                        Ok(ix) => snap.extras.push((id, ix)),
                        Err(reason) => snap.problem(layout.pack_path(id), reason),
                    }
                }
            }
        }
        // Alias indexes are written before the commit record, so they cover every
        // committed pack (and maybe the packs of an interrupted commit, whose rows name
        // sequences no lookup finds). One that covers less is out of date.
        let committed = snap.indexed_packs();
        for kind in crate::layout::ALIAS_KINDS {
            let path = layout.alias_index_path(kind);
            if !path.exists() {
                if !committed.is_empty() {
                    snap.problem(
                        path,
                        "missing: lookups by digest or accession miss sequences".into(),
                    );
                }
                continue;
            }
            match pack_index::open(&path) {
                Ok(ix) if ix.kind() != kind => {
                    snap.problem(path, format!("holds a {:?} index", ix.kind()))
                }
                Ok(ix) => {
                    let covered = ix.packs();
                    let missing: Vec<PackId> = committed
                        .iter()
                        .copied()
                        .filter(|id| covered.binary_search(id).is_err())
                        .collect();
                    if !missing.is_empty() {
                        snap.problem(
                            path.clone(),
                            format!("out of date: does not cover packs {missing:?}"),
                        );
                    }
                    snap.aliases.insert(kind, ix);
                }
                Err(e) => snap.problem(path, e.to_string()),
            }
        }
        Ok(snap)
    }

    /// The committed sequences whose alias row of `kind` has `key`, each with its
    /// locations (as [`locations`](Self::locations) gives them): the multi-pack index is
    /// read once per candidate, by prefix.
    pub fn alias_locations(
        &self,
        kind: IndexKind,
        key: &[u8],
    ) -> Result<Vec<(SequenceHash, Vec<PackLocation>)>, StoreError> {
        let Some(ix) = self.aliases.get(&kind) else {
            return Ok(Vec::new());
        };
        let mut prefixes: Vec<pack_index::HashPrefix> = ix
            .as_alias()
            .and_then(|v| v.lookup(key))
            .map_err(|source| StoreError::Index {
                path: PathBuf::from(crate::layout::alias_index_name(kind)),
                source,
            })?
            .collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        // The prefixes' bytes the index holds (4 or 5, or 8 in indexes of earlier builds): the
        // rows under them may be of other sequences too, which the caller tells apart.
        let len = ix
            .as_alias()
            .ok()
            .map(|v| v.layout())
            .map_or(pack_index::PREFIX_LEN, |l| l.value_len);
        let mut rows: Vec<(SequenceHash, PackLocation)> = Vec::new();
        for p in prefixes {
            let p = &p[..len];
            for (id, ix) in self.location_indexes() {
                if ix.kind() == IndexKind::Entries {
                    for row in ix
                        .as_entries()
                        .and_then(|v| v.lookup(p))
                        .map_err(index_error(id))?
                    {
                        let reader = self.pack_reader(&row)?;
                        rows.push(self.resolve_entry(reader, &row)?);
                    }
                    continue;
                }
                let found = ix
                    .as_locations()
                    .and_then(|v| v.lookup_prefix(p))
                    .map_err(index_error(id))?;
                rows.extend(found.map(|r| (r.hash, r.location)));
            }
        }
        rows.sort_unstable();
        rows.dedup();
        let mut out: Vec<(SequenceHash, Vec<PackLocation>)> = Vec::new();
        for (hash, loc) in rows {
            match out.last_mut() {
                Some((h, locs)) if *h == hash => locs.push(loc),
                _ => out.push((hash, vec![loc])),
            }
        }
        Ok(out)
    }

    /// The indexes lookups go through: the multi-pack index (`None`), and the per-pack
    /// indexes of packs it does not cover (degraded mode).
    fn location_indexes(&self) -> impl Iterator<Item = (Option<PackId>, &PackIndex<Mmap>)> {
        let extras = self.extras.iter().map(|(id, ix)| (Some(*id), ix));
        self.multi.iter().map(|m| (None, m)).chain(extras)
    }

    /// `NeedsRepair` naming the first problem found at open, if any: writing would build on
    /// damaged or out-of-date files.
    pub fn sound_for_writing(&self) -> Result<(), StoreError> {
        match self.problems.first() {
            Some(p) => Err(StoreError::NeedsRepair(format!(
                "{}: {}",
                p.path.display(),
                p.reason
            ))),
            None => Ok(()),
        }
    }

    /// Files that are not part of the store: temporary files of interrupted writes, and
    /// packs (with their indexes) of commits interrupted before their commit record.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let mut out = self.stray_temp_files.clone();
        for (_, pack, index) in &self.orphans {
            out.push(pack.clone());
            out.extend(index.clone());
        }
        out
    }

    fn see(&mut self, id: PackId) {
        self.max_id_seen = Some(self.max_id_seen.map_or(id, |m| m.max(id)));
    }

    fn problem(&mut self, path: PathBuf, reason: String) {
        self.problems.push(OpenProblem { path, reason });
    }

    /// Calls `f` with the locations of `hash`, in index order, until it returns `Some`:
    /// what it returned (or `None`) and how many locations it saw. Unlike
    /// [`locations`](Self::locations) this reads no entry table row beyond the one that
    /// answers (a sequence as imported has a second entry, an addition entry).
    pub fn first_location<R>(
        &self,
        hash: &SequenceHash,
        mut f: impl FnMut(&PackLocation) -> Result<Option<R>, StoreError>,
    ) -> Result<(Option<R>, usize), StoreError> {
        let mut seen = 0;
        for (id, ix) in self.location_indexes() {
            if ix.kind() != IndexKind::Entries {
                let found = ix.as_locations().and_then(|l| l.lookup(hash));
                for location in found.map_err(index_error(id))? {
                    seen += 1;
                    if let Some(r) = f(&location)? {
                        return Ok((Some(r), seen));
                    }
                }
                continue;
            }
            for row in ix
                .as_entries()
                .and_then(|v| v.lookup(&hash_prefix(hash)))
                .map_err(index_error(id))?
            {
                let reader = self.reader(hash, row.pack)?;
                let (found, location) = self.resolve_entry(reader, &row)?;
                if found != *hash {
                    // Another sequence with the same first 6 bytes (2^-48 a pair: at
                    // 10^9 sequences, one lookup in about 280,000 meets one), or damage in
                    // the rest of the table row: the footer CRC tells.
                    reader.check_footer_once()?;
                    continue;
                }
                seen += 1;
                if let Some(r) = f(&location)? {
                    return Ok((Some(r), seen));
                }
            }
        }
        Ok((None, seen))
    }

    /// [`first_location`](Self::first_location) of each of `hashes`, as `found(i, location)`
    /// (`None`: not stored), in no particular order.
    ///
    /// With entry rows (one multi-pack index of kind [`IndexKind::Entries`], the store
    /// as written by v2 packs), the index is read in key order and then the packs'
    /// entry tables in row order, so that both are read forwards instead of one cache
    /// miss per key each.
    pub fn first_locations(
        &self,
        hashes: &[SequenceHash],
        mut found: impl FnMut(usize, Option<PackLocation>),
    ) -> Result<(), StoreError> {
        // One key's rows one by one.
        let first = |hash| -> Result<Option<PackLocation>, StoreError> {
            Ok(self.first_location(hash, |loc| Ok(Some(*loc)))?.0)
        };
        let entries = match &self.multi {
            Some(m) if self.extras.is_empty() && m.kind() == IndexKind::Entries => m,
            _ => {
                for (i, hash) in hashes.iter().enumerate() {
                    found(i, first(hash)?);
                }
                return Ok(());
            }
        };
        let mut order: Vec<(HashPrefix, usize)> = hashes
            .iter()
            .enumerate()
            .map(|(i, h)| (hash_prefix(h), i))
            .collect();
        order.sort_unstable();
        let mut rows: Vec<(PackId, u32, usize)> = Vec::with_capacity(order.len());
        for (prefix, i) in order {
            match entries
                .as_entries()
                .and_then(|v| v.lookup(&prefix))
                .map_err(index_error(None))?
                .next()
            {
                Some(row) => rows.push((row.pack, row.entry, i)),
                None => found(i, None),
            }
        }
        rows.sort_unstable();
        for (j, &(pack, entry, i)) in rows.iter().enumerate() {
            if let Some(&(_, _, k)) = rows.get(j + 8) {
                // The keys are visited out of their order.
                pack_format::prefetch(hashes[k].as_bytes());
            }
            let hash = &hashes[i];
            let row = EntryRow {
                prefix: pack_index::cut_prefix(hash_prefix(hash), entries.key_len()),
                pack,
                entry,
            };
            let (whole, location) = self.resolve_entry(self.reader(hash, pack)?, &row)?;
            if whole == *hash {
                found(i, Some(location));
            } else {
                // Another sequence with the same prefix (or damage): the rows one by one.
                found(i, first(hash)?);
            }
        }
        Ok(())
    }

    /// Asks the CPU to start loading the block `loc` (of sequence `hash`) names, for a read
    /// of it soon after (a hint: a pack that cannot be opened is left to that read).
    pub fn prefetch(&self, hash: &SequenceHash, loc: &PackLocation) {
        if let Ok(reader) = self.reader(hash, loc.pack) {
            reader.prefetch(loc);
        }
    }

    /// Every index row of `hash`, sorted by location (the sequence entry first).
    pub fn locations(&self, hash: &SequenceHash) -> Result<Vec<PackLocation>, StoreError> {
        let mut out = Vec::new();
        self.first_location(hash, |location| {
            out.push(*location);
            Ok(None::<()>)
        })?;
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        Ok(out)
    }

    /// The reader of the pack an entry index row names (no sequence known yet but its
    /// prefix, which the error names).
    pub(crate) fn pack_reader(&self, row: &EntryRow) -> Result<&PackReader, StoreError> {
        let reason = match self.packs.get(&row.pack).map(PackSlot::reader) {
            Some(Ok(reader)) => return Ok(reader),
            Some(Err(reason)) => reason,
            None => "the pack file is missing".into(),
        };
        Err(StoreError::Corrupt(format!(
            "pack {}, which holds the sequences whose SHA-256 starts with {}, cannot be read: {reason}",
            row.pack,
            pack_format::to_hex(&row.prefix)
        )))
    }

    /// The whole SHA-256 and the location of the entry an entry index row names, from the
    /// pack's entry table, checked to start with the row's prefix (a table row that does
    /// not is damage: of the table if the pack's footer CRC fails, else of the index).
    pub(crate) fn resolve_entry(
        &self,
        reader: &PackReader,
        row: &EntryRow,
    ) -> Result<(SequenceHash, PackLocation), StoreError> {
        let (hash, location) = reader.entry_row(row.pack, row.entry)?;
        // Rows hold the first ENTRY_KEY_LEN bytes of the hash (8 in files of earlier
        // builds), the rest zero.
        let prefix = hash_prefix(&hash);
        if prefix != row.prefix
            && pack_index::cut_prefix(prefix, pack_index::ENTRY_KEY_LEN) != row.prefix
        {
            reader.check_footer_once()?;
            return Err(index_error(None)(pack_index::Error::Corrupt {
                offset: 0,
                message: format!(
                    "a row of prefix {} names entry {} of pack {}, which holds sequence {hash}",
                    pack_format::to_hex(&row.prefix),
                    row.entry,
                    row.pack
                ),
            }));
        }
        Ok((hash, location))
    }

    /// Every row of an entry index as a location row, read through the packs' entry
    /// tables (for a commit that has to write location rows).
    pub(crate) fn location_rows(
        &self,
        index: &pack_index::CheckedIndex<'_, Mmap>,
    ) -> Result<Vec<pack_index::IndexEntry>, StoreError> {
        let ix = index.index();
        let entries = ix.as_entries().map_err(index_error(None))?;
        entries
            .rows(0..ix.len())
            .map(|row| {
                let (hash, location) = self.resolve_entry(self.pack_reader(&row)?, &row)?;
                Ok(pack_index::IndexEntry { hash, location })
            })
            .collect()
    }

    pub fn reader(&self, hash: &SequenceHash, pack: PackId) -> Result<&PackReader, StoreError> {
        let slot = self
            .packs
            .get(&pack)
            .ok_or_else(|| StoreError::PackUnavailable {
                hash: *hash,
                pack,
                reason: "the pack file is missing".into(),
            })?;
        slot.reader().map_err(|reason| StoreError::PackUnavailable {
            hash: *hash,
            pack,
            reason,
        })
    }

    /// Reads the entry at `loc`, checking that it is an entry of `hash`.
    pub fn with_entry<R>(
        &self,
        hash: &SequenceHash,
        loc: &PackLocation,
        cache: &mut BlockCache,
        f: impl FnOnce(pack_format::EntryRef<'_>) -> R,
    ) -> Result<R, StoreError> {
        let reader = self.reader(hash, loc.pack)?;
        reader
            .read_entry(hash, loc, cache, f)
            .map_err(StoreError::from)
    }

    /// Counts over every published pack, from index headers.
    pub fn counts(&self) -> IndexCounts {
        let mut c = IndexCounts::default();
        for (_, ix) in self.location_indexes() {
            c.add(&ix.counts());
        }
        c
    }

    /// Packs whose sequences can be found through an index.
    pub fn indexed_packs(&self) -> Vec<PackId> {
        let mut ids: Vec<PackId> = self.multi.as_ref().map(|m| m.packs()).unwrap_or_default();
        ids.extend(self.extras.iter().map(|(id, _)| *id));
        ids.sort_unstable();
        ids
    }
}
