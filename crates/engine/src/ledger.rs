//! What this run knows about blobs on each destination registry: where one already lives
//! (so another repository can mount it instead of uploading it again) and which are being
//! uploaded right now (so a second image waits and then mounts, rather than sending the same
//! bytes twice). Blob existence is per repository in the distribution API, so without this
//! a base layer shared by N images would cross the wire N times.

use hangar_image::digest::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

type Key = (String, Digest);

enum Entry {
    /// Being copied; the semaphore (no permits) is closed when that ends, waking every waiter.
    InFlight(Arc<Semaphore>),
    /// Known to exist in this repository.
    At(String),
}

#[derive(Default)]
pub struct BlobLedger {
    entries: Mutex<HashMap<Key, Entry>>,
}

pub enum Claim<'a> {
    /// Nobody is copying it: the caller does, and settles the guard.
    Mine(InFlightGuard<'a>),
    /// Someone else is copying it: wait on this, then claim again.
    Wait(Arc<Semaphore>),
    /// It exists in this repository of the registry.
    At(String),
}

/// Held by whoever copies a blob; dropping it without `done` (failure, cancellation)
/// forgets the claim so a waiter can take over.
pub struct InFlightGuard<'a> {
    ledger: &'a BlobLedger,
    key: Option<Key>,
    gate: Arc<Semaphore>,
}

impl BlobLedger {
    pub fn claim(&self, registry: &str, digest: &Digest) -> Claim<'_> {
        let key = (registry.to_string(), digest.clone());
        let mut entries = self.entries.lock().expect("ledger lock");
        match entries.get(&key) {
            Some(Entry::At(repo)) => Claim::At(repo.clone()),
            Some(Entry::InFlight(gate)) => Claim::Wait(gate.clone()),
            None => {
                let gate = Arc::new(Semaphore::new(0));
                entries.insert(key.clone(), Entry::InFlight(gate.clone()));
                Claim::Mine(InFlightGuard {
                    ledger: self,
                    key: Some(key),
                    gate,
                })
            }
        }
    }

    /// Whether the blob is known to exist on `registry` (not merely being copied).
    pub fn knows(&self, registry: &str, digest: &Digest) -> bool {
        matches!(
            self.entries
                .lock()
                .expect("ledger lock")
                .get(&(registry.to_string(), digest.clone())),
            Some(Entry::At(_))
        )
    }

    /// Records a blob seen in a repository (e.g. found by HEAD), unless something is known.
    pub fn remember(&self, registry: &str, digest: &Digest, repo: &str) {
        let mut entries = self.entries.lock().expect("ledger lock");
        entries
            .entry((registry.to_string(), digest.clone()))
            .or_insert_with(|| Entry::At(repo.to_string()));
    }
}

impl InFlightGuard<'_> {
    /// The blob now exists in `repo`.
    pub fn done(mut self, repo: &str) {
        if let Some(key) = self.key.take() {
            self.ledger
                .entries
                .lock()
                .expect("ledger lock")
                .insert(key, Entry::At(repo.to_string()));
        }
        self.gate.close();
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.ledger
                .entries
                .lock()
                .expect("ledger lock")
                .remove(&key);
        }
        self.gate.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Digest {
        Digest::sha256_of(b"x")
    }

    #[tokio::test]
    async fn one_copier_many_waiters_then_a_location() {
        let ledger = BlobLedger::default();
        let Claim::Mine(guard) = ledger.claim("reg", &d()) else {
            panic!("first claim copies")
        };
        let Claim::Wait(gate) = ledger.claim("reg", &d()) else {
            panic!("second claim waits")
        };
        assert!(
            matches!(ledger.claim("other-reg", &d()), Claim::Mine(_)),
            "registries are separate"
        );
        let waiter = tokio::spawn(async move { gate.acquire().await.is_err() });
        guard.done("repo/a");
        assert!(waiter.await.unwrap(), "waiter woken by close");
        assert!(matches!(ledger.claim("reg", &d()), Claim::At(r) if r == "repo/a"));
    }

    #[tokio::test]
    async fn a_failed_copy_hands_over_to_the_next_claimer() {
        let ledger = BlobLedger::default();
        let Claim::Mine(guard) = ledger.claim("reg", &d()) else {
            panic!()
        };
        let Claim::Wait(gate) = ledger.claim("reg", &d()) else {
            panic!()
        };
        drop(guard);
        assert!(gate.acquire().await.is_err());
        assert!(matches!(ledger.claim("reg", &d()), Claim::Mine(_)));
        ledger.remember("reg2", &d(), "r");
        assert!(matches!(ledger.claim("reg2", &d()), Claim::At(r) if r == "r"));
    }
}
