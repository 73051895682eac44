//! Storage for pod records that clones cheaply: records live in fixed-size chunks shared
//! between snapshots, so cloning the index copies one pointer per chunk, and a change copies
//! only the chunk it touches (copy-on-write).

use std::sync::Arc;

use crate::model::PodRecord;

/// A pod's slot number.
pub(crate) type PodId = u32;

const CHUNK: usize = 64;

type Chunk = Vec<Option<Arc<PodRecord>>>;

#[derive(Clone, Debug, Default)]
pub(crate) struct PodSlab {
    chunks: Vec<Arc<Chunk>>,
    free: Vec<PodId>,
    live: usize,
}

fn split(id: PodId) -> (usize, usize) {
    (id as usize / CHUNK, id as usize % CHUNK)
}

impl PodSlab {
    pub(crate) fn get(&self, id: PodId) -> Option<&PodRecord> {
        let (c, i) = split(id);
        self.chunks.get(c)?.get(i)?.as_deref()
    }

    /// The record, unshared first if a snapshot still holds it.
    pub(crate) fn get_mut(&mut self, id: PodId) -> Option<&mut PodRecord> {
        let (c, i) = split(id);
        let chunk = Arc::make_mut(self.chunks.get_mut(c)?);
        chunk.get_mut(i)?.as_mut().map(Arc::make_mut)
    }

    /// Stores a record in a free slot.
    pub(crate) fn insert(&mut self, record: PodRecord) -> PodId {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                let id = self.chunks.len() * CHUNK;
                self.chunks.push(Arc::new(vec![None; CHUNK]));
                let id = PodId::try_from(id).expect("fewer than 2^32 pods");
                // Hand out the rest of the new chunk in ascending order.
                self.free.extend((id + 1..id + CHUNK as PodId).rev());
                id
            }
        };
        self.set(id, Some(Arc::new(record)));
        self.live += 1;
        id
    }

    /// Replaces the record in a live slot.
    pub(crate) fn replace(&mut self, id: PodId, record: PodRecord) {
        self.set(id, Some(Arc::new(record)));
    }

    /// Frees a live slot.
    pub(crate) fn remove(&mut self, id: PodId) {
        self.set(id, None);
        self.free.push(id);
        self.live -= 1;
    }

    fn set(&mut self, id: PodId, value: Option<Arc<PodRecord>>) {
        let (c, i) = split(id);
        Arc::make_mut(&mut self.chunks[c])[i] = value;
    }

    /// Number of live records.
    pub(crate) fn len(&self) -> usize {
        self.live
    }
}

/// The pods claiming one address, newest last. Almost always exactly one, so the common case
/// holds no heap allocation and clones by copy.
#[derive(Clone, Debug)]
pub(crate) struct Owners {
    newest: PodId,
    older: Vec<PodId>,
}

impl Owners {
    pub(crate) fn new(id: PodId) -> Self {
        Owners {
            newest: id,
            older: Vec::new(),
        }
    }

    /// The pod the address resolves to.
    pub(crate) fn newest(&self) -> PodId {
        self.newest
    }

    pub(crate) fn push(&mut self, id: PodId) {
        let previous = std::mem::replace(&mut self.newest, id);
        self.older.push(previous);
    }

    /// Removes `id`; returns true when no owner is left.
    pub(crate) fn remove(&mut self, id: PodId) -> bool {
        if self.newest == id {
            match self.older.pop() {
                Some(previous) => self.newest = previous,
                None => return true,
            }
        } else {
            self.older.retain(|o| *o != id);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (case, pushes after 1, removals, expected newest or `None` when empty)
    type Case = (
        &'static str,
        &'static [PodId],
        &'static [PodId],
        Option<PodId>,
    );

    #[test]
    fn owners_table() {
        let cases: [Case; 5] = [
            ("single", &[], &[], Some(1)),
            ("newest wins", &[2, 3], &[], Some(3)),
            ("removing newest falls back", &[2, 3], &[3], Some(2)),
            ("removing an older keeps newest", &[2, 3], &[2], Some(3)),
            ("removing all empties", &[2], &[1, 2], None),
        ];
        for (name, pushes, removals, want) in cases {
            let mut o = Owners::new(1);
            for p in pushes {
                o.push(*p);
            }
            let mut empty = false;
            for r in removals {
                empty = o.remove(*r);
            }
            let got = (!empty).then(|| o.newest());
            assert_eq!(got, want, "case {name:?}");
        }
    }
}
