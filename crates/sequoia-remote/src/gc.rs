//! Objects of a remote store that its newest commit does not name: what `stats` reports
//! and `gc` deletes.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use sequoia_store::commit_record::{parse_commit_record_name, read_commit_record, LayerName};
use sequoia_store::layout::StoreLayout;

use crate::cache::RemoteStore;
use crate::client::Listed;
use crate::RemoteError;

/// Objects no commit uses, as listed.
#[derive(Debug, Default)]
pub struct RemoteLeftovers {
    /// The newest commit's number (`None`: no store).
    pub seq: Option<u64>,
    /// Each object (`packs/…`, `indices/…`) with its listing; older commit records first.
    pub objects: Vec<(String, Listed)>,
}

impl RemoteLeftovers {
    /// Bytes of all of them.
    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|(_, l)| l.size).sum()
    }
}

/// What a remote `gc` did.
#[derive(Debug, Default)]
pub struct RemoteGc {
    /// Objects deleted (or that would be, with `dry_run`), with their bytes.
    pub deleted: Vec<(String, u64)>,
    /// Leftovers younger than the grace period, kept: they may be the uploads of a
    /// commit still being made.
    pub young: Vec<(String, u64)>,
}

impl RemoteStore {
    /// Lists the objects under `packs/` and `indices/` that the newest commit record
    /// does not name: older records, packs and index files of failed or lost commits,
    /// packs a repack replaced, merged layers.
    pub fn leftovers(&self) -> Result<RemoteLeftovers, RemoteError> {
        let indices = self.client().list("indices")?;
        let packs = self.client().list("packs")?;
        let newest = (indices.iter())
            .filter_map(|l| parse_commit_record_name(&l.name))
            .max();
        let mut out = RemoteLeftovers {
            seq: newest,
            objects: Vec::new(),
        };
        let (named_layers, named_packs) = match newest {
            Some(seq) => {
                self.refresh(Duration::ZERO)?;
                let record = read_commit_record(&StoreLayout::new(self.cache_dir()), seq)?;
                let layers: HashSet<LayerName> = record.layers.iter().map(|l| l.name).collect();
                let packs: HashSet<u32> = record.packs.iter().copied().collect();
                (layers, packs)
            }
            None => (HashSet::new(), HashSet::new()),
        };
        let mut records = Vec::new();
        let mut others = Vec::new();
        for l in indices {
            if let Some(seq) = parse_commit_record_name(&l.name) {
                if Some(seq) != newest {
                    records.push((format!("indices/{}", l.name), l));
                }
                continue;
            }
            let named =
                LayerName::parse_file_name(&l.name).is_some_and(|n| named_layers.contains(&n));
            if !named {
                others.push((format!("indices/{}", l.name), l));
            }
        }
        for l in packs {
            let named =
                pack_io::parse_pack_file_name(&l.name).is_some_and(|id| named_packs.contains(&id));
            if !named {
                others.push((format!("packs/{}", l.name), l));
            }
        }
        records.sort_by(|a, b| a.0.cmp(&b.0));
        out.objects = records.into_iter().chain(others).collect();
        Ok(out)
    }

    /// Deletes the [`leftovers`](Self::leftovers) written more than `grace` ago (older
    /// commit records first, so that no record ever names a deleted object); with
    /// `dry_run` only says which. There is no lock on object storage: the grace period
    /// keeps the uploads of a commit another process is making.
    pub fn gc(&self, dry_run: bool, grace: Duration) -> Result<RemoteGc, RemoteError> {
        let leftovers = self.leftovers()?;
        let now = SystemTime::now();
        let mut out = RemoteGc::default();
        for (rel, l) in leftovers.objects {
            let age = now.duration_since(l.modified).unwrap_or(Duration::ZERO);
            let is_record = rel
                .strip_prefix("indices/")
                .and_then(parse_commit_record_name)
                .is_some();
            if age < grace && !is_record {
                out.young.push((rel, l.size));
                continue;
            }
            if !dry_run {
                self.client().delete(&rel)?;
            }
            out.deleted.push((rel, l.size));
        }
        Ok(out)
    }
}
