//! A committed view of a store: the multi-pack index, the indexes of packs it does not
//! cover, and lazily opened pack readers. Opening reads index headers and one directory
//! listing, never a whole index or pack.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memmap2::Mmap;
use pack_format::{PackId, PackLocation, SequenceHash};
use pack_index::{hash_prefix, EntryRow, HashPrefix, IndexCounts, IndexKind, PackIndex};
use pack_io::{BlockCache, PackReader};

use crate::commit_record::{parse_commit_record_name, read_commit_record, CommitRecord, LayerName};
use crate::error::StoreError;
use crate::layer::Layer;
use crate::layout::{io_err, parse_pack_index_name, StoreLayout, ALIAS_KINDS};
use crate::report::OpenProblem;

/// A lookup error of the index file at `path`.
pub(crate) fn index_error(path: &Path) -> impl FnOnce(pack_index::Error) -> StoreError + '_ {
    move |source| StoreError::Index {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) struct PackSlot {
    pub path: PathBuf,
    reader: OnceLock<Result<PackReader, String>>,
    /// Where the pack is read from when `path` does not exist (a store that lives
    /// elsewhere).
    remote: Option<Arc<dyn pack_io::remote::RemotePacks>>,
}

impl PackSlot {
    /// The slot of the pack file at `path`, opened at its first read.
    pub fn new(path: PathBuf) -> PackSlot {
        PackSlot {
            path,
            reader: OnceLock::new(),
            remote: None,
        }
    }

    /// The slot of pack `id` of the store `layout` describes: its local file, or for a
    /// store that lives elsewhere its remote object when there is no local file.
    pub fn of(layout: &StoreLayout, id: PackId) -> PackSlot {
        PackSlot {
            path: layout.pack_path(id),
            reader: OnceLock::new(),
            remote: layout.remote().cloned(),
        }
    }

    pub fn reader(&self) -> Result<&PackReader, String> {
        self.reader
            .get_or_init(|| self.open().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| e.clone())
    }

    fn open(&self) -> Result<PackReader, pack_io::Error> {
        match &self.remote {
            Some(remote) if !self.path.exists() => {
                let name = (self.path.file_name())
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                let source = remote.pack(name).map_err(|source| pack_io::Error::Io {
                    path: self.path.clone(),
                    source,
                })?;
                PackReader::open_remote(&self.path, source)
            }
            _ => PackReader::open(&self.path),
        }
    }
}

pub(crate) struct Snapshot {
    /// The commit record read (the highest-numbered readable one); `None` in a store
    /// written before layers, or without a usable record (degraded).
    pub record: Option<CommitRecord>,
    /// The highest commit record number in `indices/`, readable or not: the next commit
    /// takes the one after it.
    pub max_record_seq: Option<u64>,
    /// The index layers the record lists, oldest first (or the one layer of a store
    /// written before layers).
    pub layers: Vec<Layer>,
    /// Per-pack indexes, used only without a usable commit record: the pack's index file,
    /// else one built in memory from the pack (v2 packs have no file).
    pub extras: Vec<(PathBuf, PackIndex<Mmap>)>,
    pub packs: BTreeMap<PackId, Arc<PackSlot>>,
    pub problems: Vec<OpenProblem>,
    /// Highest pack id seen in any file name (finished, temporary or index).
    pub max_id_seen: Option<PackId>,
    /// Leftover `.tmp` files of interrupted writes.
    pub stray_temp_files: Vec<PathBuf>,
    /// Finished packs the commit record does not list (a commit interrupted after
    /// publishing its packs but before its commit record, or packs a repack replaced):
    /// invisible, reported, deleted only by `gc`.
    pub orphans: Vec<(PackId, PathBuf, Option<PathBuf>)>,
    /// Layer files of commits interrupted before their commit record (numbered past
    /// it): leftovers like the packs above, deleted only by `gc`.
    pub unreferenced: Vec<PathBuf>,
    /// Index files a later commit replaced: layers merged into others, older commit
    /// records, the index files of a store written before layers. Readers of an older
    /// commit may still use them; `gc` deletes them.
    pub superseded: Vec<PathBuf>,
    /// Whether the lists above come from a listing of the store's directories (a snapshot
    /// a writer makes after its own commit skips it: [`after_commit`](Self::after_commit)).
    pub listed: bool,
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
    /// A view of `layers` over the packs at these paths alone, nothing committed: what a
    /// write session's puts find its runs through (`store/run.rs`).
    pub fn of_layers(layers: Vec<Layer>, packs: BTreeMap<PackId, Arc<PackSlot>>) -> Snapshot {
        Snapshot {
            record: None,
            max_record_seq: None,
            layers,
            extras: Vec::new(),
            unreferenced: Vec::new(),
            superseded: Vec::new(),
            packs,
            problems: Vec::new(),
            max_id_seen: None,
            stray_temp_files: Vec::new(),
            orphans: Vec::new(),
            listed: false,
        }
    }

    pub fn open(layout: &StoreLayout) -> Result<Snapshot, StoreError> {
        Snapshot::open_at(layout, None)
    }

    /// The snapshot of commit `at` (its record must exist), or of the newest commit.
    pub fn open_at(layout: &StoreLayout, at: Option<u64>) -> Result<Snapshot, StoreError> {
        let mut snap = Snapshot {
            record: None,
            max_record_seq: None,
            layers: Vec::new(),
            extras: Vec::new(),
            unreferenced: Vec::new(),
            superseded: Vec::new(),
            packs: BTreeMap::new(),
            problems: Vec::new(),
            max_id_seen: None,
            stray_temp_files: Vec::new(),
            orphans: Vec::new(),
            listed: true,
        };
        let packs_dir = layout.packs_dir();
        let listing = std::fs::read_dir(&packs_dir).map_err(io_err(&packs_dir))?;
        for item in listing {
            let item = item.map_err(io_err(&packs_dir))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = pack_io::parse_pack_file_name(name) {
                snap.see(id);
                snap.packs.insert(id, Arc::new(PackSlot::of(layout, id)));
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
        let mut records: Vec<u64> = Vec::new();
        let mut layer_files: Vec<(LayerName, PathBuf)> = Vec::new();
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
            } else if let Some(seq) = parse_commit_record_name(name) {
                records.push(seq);
            } else if let Some(layer) = LayerName::parse_file_name(name) {
                layer_files.push((layer, item.path()));
            }
        }
        records.sort_unstable_by(|a, b| b.cmp(a));
        snap.max_record_seq = records.first().copied();
        if let Some(at) = at {
            if !records.contains(&at) {
                return Err(StoreError::NoCommit {
                    path: layout.commit_record_path(at),
                });
            }
            records.retain(|&seq| seq <= at);
        }
        // The highest-numbered commit record is the store. One that cannot be read is
        // reported (writing is refused) and every pack is served through its own index
        // (degraded), not an older record, which would hide the packs committed since.
        if let Some(&seq) = records.first() {
            match read_commit_record(layout, seq) {
                Ok(r) => snap.record = Some(r),
                Err(e) => {
                    snap.problem(layout.commit_record_path(seq), e.to_string());
                    snap.superseded
                        .extend(records[1..].iter().map(|s| layout.commit_record_path(*s)));
                    snap.open_extras(layout);
                    return Ok(snap);
                }
            }
        }
        let legacy = [layout.multi_index_path()]
            .into_iter()
            .chain(ALIAS_KINDS.iter().map(|k| layout.alias_index_path(*k)))
            .filter(|p| p.exists());
        if let Some(record) = snap.record.clone() {
            if layout.remote().is_some() {
                // The packs of a store that lives elsewhere are where the record says.
                for &id in &record.packs {
                    snap.see(id);
                    (snap.packs.entry(id)).or_insert_with(|| Arc::new(PackSlot::of(layout, id)));
                }
            }
            snap.superseded.extend(legacy);
            for &seq in &records {
                if seq < record.seq {
                    snap.superseded.push(layout.commit_record_path(seq));
                }
            }
            let named: std::collections::HashSet<LayerName> =
                record.layers.iter().map(|l| l.name).collect();
            for (layer, path) in layer_files {
                if layer.seq > record.seq {
                    snap.unreferenced.push(path);
                } else if !named.contains(&layer) {
                    snap.superseded.push(path);
                }
            }
            snap.open_layers(layout, &record);
        } else if layout.multi_index_path().exists() {
            // A store written before layers: its multi-pack index is its commit record.
            snap.unreferenced
                .extend(layer_files.into_iter().map(|(_, p)| p));
            snap.open_legacy(layout);
        } else {
            if !snap.packs.is_empty() {
                snap.problem(layout.commit_record_path(0), "missing".into());
            }
            snap.unreferenced
                .extend(layer_files.into_iter().map(|(_, p)| p));
            snap.open_extras(layout);
        }
        Ok(snap)
    }

    /// The snapshot after its writer published `record`, which adds the packs `added`
    /// (published under their names) to this snapshot's: the record's layers opened,
    /// without listing the store's directories, so that a commit's cost does not grow with
    /// the files a store accumulates between two `gc`s. It knows no leftovers or superseded
    /// files (`listed` is false); what reports them lists the directories again.
    pub fn after_commit(
        &self,
        layout: &StoreLayout,
        record: CommitRecord,
        added: &[PackId],
    ) -> Result<Snapshot, StoreError> {
        let mut packs = self.packs.clone();
        for &id in added {
            packs.insert(id, Arc::new(PackSlot::of(layout, id)));
        }
        let layers = (record.layers.iter())
            .map(|l| Layer::open(layout, l.name, l.rows))
            .collect::<Result<Vec<_>, _>>()?;
        let mut snap = Snapshot::of_layers(layers, packs);
        snap.max_record_seq = Some(record.seq);
        snap.max_id_seen = added.iter().copied().chain(self.max_id_seen).max();
        snap.record = Some(record);
        Ok(snap)
    }

    /// Opens the layers `record` lists and sorts the packs into committed and orphans.
    fn open_layers(&mut self, layout: &StoreLayout, record: &CommitRecord) {
        let mut covered: Vec<PackId> = Vec::new();
        for entry in &record.layers {
            match Layer::open(layout, entry.name, entry.rows) {
                Ok(layer) => {
                    covered.extend(layer.rows.packs());
                    self.layers.push(layer);
                }
                Err(e) => self.problem(layout.layer_rows_path(entry.name), e.to_string()),
            }
        }
        covered.sort_unstable();
        if covered.windows(2).any(|w| w[0] == w[1]) {
            self.problem(
                layout.commit_record_path(record.seq),
                "two of its layers cover the same pack".into(),
            );
        }
        if self.problems.is_empty() && covered != record.packs {
            self.problem(
                layout.commit_record_path(record.seq),
                format!(
                    "lists packs {:?}, its layers cover {covered:?}",
                    record.packs
                ),
            );
        }
        self.sort_packs(layout, &record.packs);
    }

    /// Packs not in `committed` become orphans; committed packs without a file are
    /// reported.
    fn sort_packs(&mut self, layout: &StoreLayout, committed: &[PackId]) {
        let orphan_ids: Vec<PackId> = (self.packs.keys().copied())
            .filter(|id| committed.binary_search(id).is_err())
            .collect();
        for id in orphan_ids {
            if let Some(slot) = self.packs.remove(&id) {
                let index = Some(layout.pack_index_path(id)).filter(|p| p.exists());
                self.orphans.push((id, slot.path.clone(), index));
            }
        }
        for &id in committed {
            if !self.packs.contains_key(&id) {
                self.problem(
                    layout.pack_path(id),
                    "listed in the commit record but missing".into(),
                );
            }
        }
    }

    /// Opens the index files of a store written before layers: its multi-pack index (the
    /// commit record then) and alias indexes, as one layer.
    fn open_legacy(&mut self, layout: &StoreLayout) {
        let multi_path = layout.multi_index_path();
        let multi = match pack_index::open(&multi_path) {
            Ok(m) => m,
            Err(e) => {
                self.problem(multi_path, e.to_string());
                self.open_extras(layout);
                return;
            }
        };
        let committed = multi.packs();
        self.sort_packs(layout, &committed);
        // Alias indexes were written before the commit record, so they cover every
        // committed pack (and maybe the packs of an interrupted commit, whose rows name
        // sequences no lookup finds). One that covers less is out of date.
        let mut aliases = BTreeMap::new();
        for kind in ALIAS_KINDS {
            let path = layout.alias_index_path(kind);
            if !path.exists() {
                if !committed.is_empty() {
                    self.problem(
                        path,
                        "missing: lookups by digest or accession miss sequences".into(),
                    );
                }
                continue;
            }
            match pack_index::open(&path) {
                Ok(ix) if ix.kind() != kind => {
                    self.problem(path, format!("holds a {:?} index", ix.kind()))
                }
                Ok(ix) => {
                    let covered = ix.packs();
                    let missing: Vec<PackId> = (committed.iter().copied())
                        .filter(|id| covered.binary_search(id).is_err())
                        .collect();
                    if !missing.is_empty() {
                        self.problem(
                            path.clone(),
                            format!("out of date: does not cover packs {missing:?}"),
                        );
                    }
                    aliases.insert(kind, (path, ix));
                }
                Err(e) => self.problem(path, e.to_string()),
            }
        }
        self.layers.push(Layer {
            name: None,
            rows_path: multi_path,
            rows: multi,
            aliases,
        });
    }

    /// Without a usable commit record every pack is served through its own index
    /// (degraded: reported, writing refused until `rebuild-index`).
    fn open_extras(&mut self, layout: &StoreLayout) {
        let ids: Vec<PackId> = self.packs.keys().copied().collect();
        for id in ids {
            let path = layout.pack_index_path(id);
            if path.exists() {
                match pack_index::open(&path) {
                    Ok(ix) => self.extras.push((path, ix)),
                    Err(e) => self.problem(path, e.to_string()),
                }
                continue;
            }
            // A v2 pack has no index file: its footer's entry table is one.
            match index_in_memory(&self.packs[&id], id) {
                Ok(ix) => self.extras.push((self.packs[&id].path.clone(), ix)),
                Err(reason) => self.problem(layout.pack_path(id), reason),
            }
        }
    }

    /// The committed sequences whose alias row of `kind` has `key` (in any layer), each
    /// with its locations (as [`locations`](Self::locations) gives them): every layer's
    /// rows are read once per candidate prefix.
    pub fn alias_locations(
        &self,
        kind: IndexKind,
        key: &[u8],
    ) -> Result<Vec<(SequenceHash, Vec<PackLocation>)>, StoreError> {
        // Each prefix with the bytes its index holds (4 or 5, or 8 in indexes of earlier
        // builds): the rows under them may be of other sequences too, which the caller
        // tells apart.
        let mut prefixes: Vec<(HashPrefix, usize)> = Vec::new();
        // Rows naming entries: each entry's hash read from its pack, then looked up by its
        // first 8 bytes as a prefix row's are (so that another sequence sharing them,
        // named by the same entry, is found too).
        for layer in &self.layers {
            let Some((path, ix)) = layer.aliases.get(&kind) else {
                continue;
            };
            let alias = ix.as_alias().map_err(index_error(path))?;
            if alias.names_entries() {
                for r in alias.lookup_entries(key).map_err(index_error(path))? {
                    let hash = self.entry_hash(r.pack, r.entry, path)?.0;
                    prefixes.push((hash_prefix(&hash), pack_index::PREFIX_LEN));
                }
                continue;
            }
            let len = alias.layout().value_len;
            prefixes.extend((alias.lookup(key).map_err(index_error(path))?).map(|p| (p, len)));
        }
        prefixes.sort_unstable();
        prefixes.dedup();
        let mut rows: Vec<(SequenceHash, PackLocation)> = Vec::new();
        for (p, len) in prefixes {
            let p = &p[..len];
            for (path, ix) in self.location_indexes() {
                if ix.kind() == IndexKind::Entries {
                    for row in ix
                        .as_entries()
                        .and_then(|v| v.lookup(p))
                        .map_err(index_error(path))?
                    {
                        let reader = self.pack_reader(&row)?;
                        rows.push(self.resolve_entry(reader, &row, path)?);
                    }
                    continue;
                }
                let found = ix
                    .as_locations()
                    .and_then(|v| v.lookup_prefix(p))
                    .map_err(index_error(path))?;
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

    /// The indexes lookups go through, each with its file: the layers' rows files, oldest
    /// (largest) first, so that most lookups are answered by the first; and the per-pack
    /// indexes of degraded mode. Rows are only ever added, never superseded, so the order
    /// changes speed, not answers.
    pub(crate) fn location_indexes(&self) -> impl Iterator<Item = (&Path, &PackIndex<Mmap>)> {
        let extras = self.extras.iter().map(|(p, ix)| (p.as_path(), ix));
        let layers = self.layers.iter().map(|l| (l.rows_path.as_path(), &l.rows));
        layers.chain(extras)
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

    /// Files of interrupted writes, not part of the store (reported; `gc` deletes them):
    /// temporary files, packs (with their indexes) no commit record lists, layer files of
    /// a commit that never published its record.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let mut out = self.stray_temp_files.clone();
        for (_, pack, index) in &self.orphans {
            out.push(pack.clone());
            out.extend(index.clone());
        }
        out.extend(self.unreferenced.iter().cloned());
        out
    }

    /// Every file `gc` deletes: the [`leftovers`](Self::leftovers) and the superseded
    /// index files.
    pub fn garbage(&self) -> Vec<PathBuf> {
        let mut out = self.leftovers();
        out.extend(self.superseded.iter().cloned());
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
        for (path, ix) in self.location_indexes() {
            if ix.kind() != IndexKind::Entries {
                let found = ix.as_locations().and_then(|l| l.lookup(hash));
                for location in found.map_err(index_error(path))? {
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
                .map_err(index_error(path))?
            {
                let reader = self.reader(hash, row.pack)?;
                let (found, location) = self.resolve_entry(reader, &row, path)?;
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

    /// Whether every layer holds entry rows and nothing is served through other indexes:
    /// then keys can be looked up in key order and resolved in row order.
    fn entry_rows_only(&self) -> bool {
        self.extras.is_empty() && (self.layers.iter()).all(|l| l.rows.kind() == IndexKind::Entries)
    }

    /// [`locations`](Self::locations) of each of `hashes`, in one pass: with entry rows
    /// alone, every key's rows are looked up in key order, then resolved in pack and row
    /// order, so that each pack's table is read forwards. A v3 row with residues stores no
    /// key (its key is their hash): it is kept when the index row's prefix is the key's,
    /// and the read checks it, saying [`pack_format::Error::OtherSequence`] when it is
    /// another sequence with that prefix (one in 2^48 a pair), which the reader skips.
    pub fn locations_many(
        &self,
        hashes: &[SequenceHash],
    ) -> Result<Vec<Vec<PackLocation>>, StoreError> {
        if !self.entry_rows_only() {
            return hashes.iter().map(|h| self.locations(h)).collect();
        }
        let keys = sorted_prefixes(hashes);
        let mut rows: Vec<(PackId, u32, usize, usize)> = Vec::with_capacity(keys.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let entries = (layer.rows.as_entries()).map_err(index_error(&layer.rows_path))?;
            for &(prefix, i) in &keys {
                for row in entries
                    .lookup(&prefix)
                    .map_err(index_error(&layer.rows_path))?
                {
                    rows.push((row.pack, row.entry, i, l));
                }
            }
        }
        rows.sort_unstable();
        let mut out = vec![Vec::new(); hashes.len()];
        for (pack, entry, i, l) in rows {
            let hash = &hashes[i];
            let layer = &self.layers[l];
            let row = layer.entry_row(hash, pack, entry);
            let reader = self.reader(hash, pack)?;
            let (whole, location) = reader.entry_place(row.pack, row.entry)?;
            let Some(whole) = whole else {
                out[i].push(location);
                continue;
            };
            let (whole, location) =
                self.check_entry(reader, &row, &layer.rows_path, whole, location)?;
            if whole == *hash {
                out[i].push(location);
            } else {
                // Another sequence with the same prefix, or damage: as `first_location`.
                reader.check_footer_once()?;
            }
        }
        for locations in &mut out {
            locations.sort_unstable();
            locations.dedup();
        }
        Ok(out)
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
        if !self.entry_rows_only() {
            for (i, hash) in hashes.iter().enumerate() {
                found(i, first(hash)?);
            }
            return Ok(());
        }
        let mut pending = sorted_prefixes(hashes);
        // Each layer, oldest (largest) first, answers the keys no earlier one had.
        let mut rows: Vec<(PackId, u32, usize, usize)> = Vec::with_capacity(pending.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let entries = (layer.rows.as_entries()).map_err(index_error(&layer.rows_path))?;
            let mut missing = Vec::new();
            for (prefix, i) in pending {
                match (entries.lookup(&prefix))
                    .map_err(index_error(&layer.rows_path))?
                    .next()
                {
                    Some(row) => rows.push((row.pack, row.entry, i, l)),
                    None => missing.push((prefix, i)),
                }
            }
            pending = missing;
        }
        for (_, i) in pending {
            found(i, None);
        }
        rows.sort_unstable();
        for (j, &(pack, entry, i, l)) in rows.iter().enumerate() {
            if let Some(&(_, _, k, _)) = rows.get(j + 8) {
                // The keys are visited out of their order.
                pack_format::prefetch(hashes[k].as_bytes());
            }
            let hash = &hashes[i];
            let layer = &self.layers[l];
            let row = layer.entry_row(hash, pack, entry);
            let reader = self.reader(hash, pack)?;
            let (whole, location) = self.resolve_entry(reader, &row, &layer.rows_path)?;
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
    /// Fetches, for packs read from elsewhere, every block that `places` (sorted, each
    /// with the index of its sequence in `hashes`) name: per pack, neighbouring blocks in
    /// one ranged request, the packs at the same time, instead of one request per block as
    /// the reads come to them. Nothing for local packs.
    pub fn fetch_places(
        &self,
        hash_of: impl Fn(usize) -> SequenceHash,
        places: &[(PackLocation, usize)],
    ) -> Result<(), StoreError> {
        let mut groups: Vec<(SequenceHash, PackId, &PackReader, Vec<u32>)> = Vec::new();
        let mut start = 0;
        while start < places.len() {
            let pack = places[start].0.pack;
            let end = start + places[start..].partition_point(|(l, _)| l.pack == pack);
            let hash = hash_of(places[start].1);
            let reader = self.reader(&hash, pack)?;
            if reader.is_remote() {
                let blocks = places[start..end].iter().map(|(l, _)| l.block).collect();
                groups.push((hash, pack, reader, blocks));
            }
            start = end;
        }
        let fetch =
            |(hash, pack, reader, blocks): &(SequenceHash, PackId, &PackReader, Vec<u32>)| {
                reader.fetch_blocks(blocks.iter().copied()).map_err(|e| {
                    StoreError::PackUnavailable {
                        hash: *hash,
                        pack: *pack,
                        reason: e.to_string(),
                    }
                })
            };
        match groups.len() {
            0 => Ok(()),
            1 => fetch(&groups[0]),
            _ => std::thread::scope(|scope| {
                let handles: Vec<_> = groups
                    .iter()
                    .map(|g| scope.spawn(move || fetch(g)))
                    .collect();
                (handles.into_iter())
                    .try_for_each(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            }),
        }
    }

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
        self.slot_reader(row.pack).map_err(|reason| {
            StoreError::Corrupt(format!(
                "pack {}, which holds the sequences whose SHA-256 starts with {}, cannot be read: {reason}",
                row.pack,
                pack_format::to_hex(&row.prefix)
            ))
        })
    }

    /// The reader of pack `pack`, or why there is none: what each caller words its error
    /// with.
    fn slot_reader(&self, pack: PackId) -> Result<&PackReader, String> {
        match self.packs.get(&pack) {
            Some(slot) => slot.reader(),
            None => Err("the pack file is missing".into()),
        }
    }

    /// The whole SHA-256 and the location of entry `entry` of pack `pack` (a row an alias
    /// index names, whose file is `index`): from a v2 pack's entry table, or a v3 row's
    /// residues, hashed.
    pub(crate) fn entry_hash(
        &self,
        pack: PackId,
        entry: u32,
        index: &Path,
    ) -> Result<(SequenceHash, PackLocation), StoreError> {
        let reader = self.slot_reader(pack).map_err(|reason| {
            StoreError::Corrupt(format!(
                "{}: a row names entry {entry} of pack {pack}, which cannot be read: {reason}",
                index.display()
            ))
        })?;
        Ok(reader.entry_row(pack, entry)?)
    }

    /// Whether every alias index of `layers` names entries (docs/format.md, "Alias rows
    /// naming entries"): the layout a new layer's alias indexes keep.
    pub(crate) fn aliases_name_entries<'a>(layers: impl IntoIterator<Item = &'a Layer>) -> bool {
        layers.into_iter().all(|l| {
            (l.aliases.values()).all(|(_, ix)| ix.as_alias().is_ok_and(|a| a.names_entries()))
        })
    }

    /// The whole SHA-256 and the location of the entry an entry index row names, from the
    /// pack's entry table, checked to start with the row's prefix (a table row that does
    /// not is damage: of the table if the pack's footer CRC fails, else of the index).
    pub(crate) fn resolve_entry(
        &self,
        reader: &PackReader,
        row: &EntryRow,
        index: &Path,
    ) -> Result<(SequenceHash, PackLocation), StoreError> {
        let (hash, location) = reader.entry_row(row.pack, row.entry)?;
        self.check_entry(reader, row, index, hash, location)
    }

    /// [`resolve_entry`](Self::resolve_entry) of a table row already read: `hash` and
    /// `location`, checked against the index row.
    fn check_entry(
        &self,
        reader: &PackReader,
        row: &EntryRow,
        index: &Path,
        hash: SequenceHash,
        location: PackLocation,
    ) -> Result<(SequenceHash, PackLocation), StoreError> {
        // Rows hold the first ENTRY_KEY_LEN bytes of the hash (8 in files of earlier
        // builds), the rest zero.
        let prefix = hash_prefix(&hash);
        if prefix != row.prefix
            && pack_index::cut_prefix(prefix, pack_index::ENTRY_KEY_LEN) != row.prefix
        {
            reader.check_footer_once()?;
            return Err(index_error(index)(pack_index::Error::Corrupt {
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
        path: &Path,
    ) -> Result<Vec<pack_index::IndexEntry>, StoreError> {
        let ix = index.index();
        let entries = ix.as_entries().map_err(index_error(path))?;
        entries
            .rows(0..ix.len())
            .map(|row| {
                let (hash, location) = self.resolve_entry(self.pack_reader(&row)?, &row, path)?;
                Ok(pack_index::IndexEntry { hash, location })
            })
            .collect()
    }

    pub fn reader(&self, hash: &SequenceHash, pack: PackId) -> Result<&PackReader, StoreError> {
        self.slot_reader(pack)
            .map_err(|reason| StoreError::PackUnavailable {
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

    /// The residues of the entry at `loc` (`None`: an addition entry), checked to be of
    /// `hash`, without its representations (a v3 pack reads no header block for them).
    pub fn with_residues<R>(
        &self,
        hash: &SequenceHash,
        loc: &PackLocation,
        cache: &mut BlockCache,
        f: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, StoreError> {
        let reader = self.reader(hash, loc.pack)?;
        reader
            .read_residues(hash, loc, cache, f)
            .map_err(StoreError::from)
    }

    /// Counts over every published pack, from index headers.
    pub fn counts(&self) -> IndexCounts {
        let mut c = IndexCounts::default();
        if let Some(r) = &self.record {
            return r.counts;
        }
        for (_, ix) in self.location_indexes() {
            c.add(&ix.counts());
        }
        c
    }

    /// Packs whose sequences can be found through an index.
    pub fn indexed_packs(&self) -> Vec<PackId> {
        let mut ids: Vec<PackId> = Vec::new();
        for (_, ix) in self.location_indexes() {
            ids.extend(ix.packs());
        }
        ids.sort_unstable();
        ids
    }
}

/// Each of `hashes`' prefix with its index, in key order.
fn sorted_prefixes(hashes: &[SequenceHash]) -> Vec<(HashPrefix, usize)> {
    let mut keys: Vec<(HashPrefix, usize)> = (hashes.iter().enumerate())
        .map(|(i, h)| (hash_prefix(h), i))
        .collect();
    keys.sort_unstable();
    keys
}
