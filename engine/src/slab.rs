//! Storage for pod records that clones cheaply: records live in fixed-size chunks shared
//! between snapshots, so cloning the index copies one pointer per chunk, and a change copies
//! only the chunk it touches (copy-on-write).

use std::sync::Arc;

use smallvec::SmallVec;

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

/// The pods claiming one address, in claim order (newest last), each with whether it is
/// running. Almost always exactly one, so the common case holds no heap allocation.
///
/// # Guarantees
/// The address resolves to the newest running claim; only when no claim is running (all
/// are terminating) to the newest claim. So a terminating pod never keeps an address that a
/// running pod has claimed, whichever of their events (or list entries) came first.
#[derive(Clone, Debug)]
pub(crate) struct Owners {
    claims: SmallVec<[Claim; 1]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Claim {
    id: PodId,
    running: bool,
}

impl Owners {
    pub(crate) fn new(id: PodId, running: bool) -> Self {
        let mut claims = SmallVec::new();
        claims.push(Claim { id, running });
        Owners { claims }
    }

    /// The pod the address resolves to.
    pub(crate) fn current(&self) -> PodId {
        self.claims
            .iter()
            .rev()
            .find(|c| c.running)
            .or(self.claims.last())
            .expect("an Owners is never empty")
            .id
    }

    /// Adds the newest claim.
    pub(crate) fn push(&mut self, id: PodId, running: bool) {
        self.claims.push(Claim { id, running });
    }

    /// Records that a claimant started or stopped running, keeping its place.
    pub(crate) fn set_running(&mut self, id: PodId, running: bool) {
        for c in self.claims.iter_mut().filter(|c| c.id == id) {
            c.running = running;
        }
    }

    /// Removes `id`; returns true when no owner is left.
    pub(crate) fn remove(&mut self, id: PodId) -> bool {
        self.claims.retain(|c| c.id != id);
        self.claims.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step on an address's owners: a claim (pod, running), a status change, a removal.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        Claim(PodId, bool),
        Running(PodId, bool),
        Remove(PodId),
    }
    use Step::*;

    #[test]
    fn owners_table() {
        // (case, steps after `Claim(1, true)`, expected owner or `None` when empty)
        let cases: [(&str, &[Step], Option<PodId>); 12] = [
            ("single", &[], Some(1)),
            (
                "newest running wins",
                &[Claim(2, true), Claim(3, true)],
                Some(3),
            ),
            (
                "removing newest falls back",
                &[Claim(2, true), Claim(3, true), Remove(3)],
                Some(2),
            ),
            (
                "removing an older keeps newest",
                &[Claim(2, true), Claim(3, true), Remove(2)],
                Some(3),
            ),
            (
                "removing all empties",
                &[Claim(2, true), Remove(1), Remove(2)],
                None,
            ),
            (
                "a terminating newcomer does not take over",
                &[Claim(2, false)],
                Some(1),
            ),
            (
                "the old owner starts terminating",
                &[Claim(2, true), Running(2, false)],
                Some(1),
            ),
            (
                "running newcomer beats terminating old",
                &[Running(1, false), Claim(2, true)],
                Some(2),
            ),
            (
                "all terminating: newest",
                &[Running(1, false), Claim(2, false)],
                Some(2),
            ),
            (
                "terminating alone still resolves",
                &[Running(1, false)],
                Some(1),
            ),
            (
                "a status change keeps the place",
                &[Claim(2, true), Running(1, false), Running(1, true)],
                Some(2),
            ),
            (
                "removing the running owner falls to terminating",
                &[Claim(2, false), Remove(1)],
                Some(2),
            ),
        ];
        for (name, steps, want) in cases {
            let mut o = Owners::new(1, true);
            let mut empty = false;
            for step in steps {
                match *step {
                    Claim(id, running) => o.push(id, running),
                    Running(id, running) => o.set_running(id, running),
                    Remove(id) => empty = o.remove(id),
                }
            }
            let got = (!empty).then(|| o.current());
            assert_eq!(got, want, "case {name:?}");
        }
    }
}
