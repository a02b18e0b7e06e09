//! Record keys held by the batches in flight, so that two batches upserting
//! the same key do not both find nothing and both create it.
//!
//! A batch takes all its keys at once or waits, which cannot deadlock. The
//! locks live in this process: replicas sharing a database need the
//! database's own locking, which durable intake brings.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// The keys held by batches in flight, for every customer.
#[derive(Default)]
pub(super) struct KeyLocks {
    held: Mutex<HashSet<String>>,
    released: Notify,
}

/// Holds a batch's keys until dropped.
pub(super) struct KeyGuard {
    locks: Arc<KeyLocks>,
    keys: Vec<String>,
}

impl KeyLocks {
    /// Waits until none of `keys` is held, then holds them all.
    pub async fn acquire(self: &Arc<Self>, mut keys: Vec<String>) -> KeyGuard {
        keys.sort_unstable();
        keys.dedup();
        loop {
            // Registered before the check, so a release in between wakes it.
            let released = self.released.notified();
            {
                let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
                if keys.iter().all(|k| !held.contains(k)) {
                    held.extend(keys.iter().cloned());
                    return KeyGuard {
                        locks: Arc::clone(self),
                        keys,
                    };
                }
            }
            released.await;
        }
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        let mut held = self
            .locks
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for key in &self.keys {
            held.remove(key);
        }
        drop(held);
        self.locks.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_batch_waits_for_a_key_another_batch_holds() {
        let locks = Arc::new(KeyLocks::default());
        let first = locks.acquire(vec!["acme/Account/x".into()]).await;

        let waiting = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move { locks.acquire(vec!["acme/Account/x".into()]).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the key is held");

        // Other keys are free meanwhile.
        drop(locks.acquire(vec!["acme/Account/y".into()]).await);

        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(
            second.is_ok_and(|joined| joined.is_ok()),
            "released keys can be taken"
        );
    }
}
