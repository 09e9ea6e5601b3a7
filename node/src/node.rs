//! What the engine, the network task and the HTTP API share: the ledger (the engine writes, the
//! others read), the mempool, metrics and the feed of committed events.
//!
//! Lock order, everywhere: ledger, then mempool. A commit holds the ledger's write lock while it
//! clears committed events from the mempool, and admission holds the read lock until its event
//! is in the mempool, so no event is ever both committed and pending.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use tokio::sync::broadcast;
use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::event::SignedEvent;
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Hash, ValidatorIndex};

use crate::ledger::Ledger;
use crate::limits::{COMMIT_FEED_BLOCKS, PROPOSED_BLOCKS_MAX, RECENTLY_VERIFIED_MAX};
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::network::wire::ProposedBlock;

pub use waybill_protocol::api::{CommittedEvent, PeerInfo};

/// A committed block's events, in order.
#[derive(Debug)]
pub struct CommittedBlock {
    pub height: u64,
    pub events: Vec<CommittedEvent>,
}

#[derive(Debug)]
pub struct Shared {
    pub rules: Arc<ChainRules>,
    pub validator: ValidatorIndex,
    ledger: RwLock<Ledger>,
    mempool: Mutex<Mempool>,
    pub metrics: Metrics,
    pub commits: broadcast::Sender<Arc<CommittedBlock>>,
    pub peers: Mutex<Vec<PeerInfo>>,
    /// The committed height, readable without the ledger lock (the network task's sync logic).
    pub height: AtomicU64,
    pub consensus_round: AtomicU64,
    /// Whether a peer's tip is ahead of ours: written by the engine only, as it applies what
    /// block sync brought.
    pub syncing: AtomicBool,
    /// Whether the API takes events: set by the network once a peer has handed over its
    /// pending events (or none answered in time), so events a client sends here cannot reach a
    /// proposal ahead of that client's earlier events still pending elsewhere. Written by the
    /// network only.
    pub ready: AtomicBool,
    pub last_commit: Mutex<Instant>,
    pub peer_count: AtomicUsize,
    /// Events whose signatures block validation checked and that were not pending here; a
    /// gossip copy arriving later is admitted without a second `verify_strict`.
    recently_verified: Mutex<RecentlyVerified>,
    /// Declarations' particulars, at a node whose operator may hold some (customs, platforms).
    pub private: Option<crate::private::PrivateStore>,
    /// Proposed blocks held whole for this height and the next, by block hash: the engine
    /// validates them, and the network serves their events to validators that lack some.
    proposals: Mutex<HashMap<Hash, Arc<ProposedBlock>>>,
}

/// Checked events by id, oldest forgotten first past [`RECENTLY_VERIFIED_MAX`].
#[derive(Debug, Default)]
struct RecentlyVerified {
    order: std::collections::VecDeque<Hash>,
    by_id: std::collections::HashMap<Hash, CheckedEvent>,
}

impl Shared {
    pub fn new(
        rules: Arc<ChainRules>,
        validator: ValidatorIndex,
        ledger: Ledger,
        mempool: Mempool,
    ) -> Shared {
        let height = ledger.tip().height;
        let (commits, _) = broadcast::channel(COMMIT_FEED_BLOCKS);
        Shared {
            rules,
            validator,
            ledger: RwLock::new(ledger),
            mempool: Mutex::new(mempool),
            metrics: Metrics::default(),
            commits,
            peers: Mutex::new(Vec::new()),
            height: AtomicU64::new(height),
            consensus_round: AtomicU64::new(0),
            syncing: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            last_commit: Mutex::new(Instant::now()),
            peer_count: AtomicUsize::new(0),
            recently_verified: Mutex::new(RecentlyVerified::default()),
            private: None,
            proposals: Mutex::new(HashMap::new()),
        }
    }

    /// With a private store for declarations' particulars.
    pub fn with_private(mut self, store: crate::private::PrivateStore) -> Shared {
        self.private = Some(store);
        self
    }

    /// The organisation that runs this node.
    pub fn operator(&self) -> &waybill_protocol::OrgId {
        &self.rules.genesis().validators[usize::from(self.validator.0)].operator
    }

    // A panic while a lock is held is a bug that already stopped that task; the data behind the
    // lock is still whole (the ledger commits in one batch), so the others carry on with it.
    pub fn read_ledger(&self) -> RwLockReadGuard<'_, Ledger> {
        self.ledger.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write_ledger(&self) -> RwLockWriteGuard<'_, Ledger> {
        self.ledger.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// A proposed block held whole.
    pub fn proposal(&self, hash: &Hash) -> Option<Arc<ProposedBlock>> {
        self.lock_proposals().get(hash).cloned()
    }

    pub fn holds_proposal(&self, hash: &Hash) -> bool {
        self.lock_proposals().contains_key(hash)
    }

    /// Holds a proposed block, at most [`PROPOSED_BLOCKS_MAX`]: past it the one for the highest
    /// height goes first, as ours is the one we need.
    pub fn keep_proposal(&self, hash: Hash, block: ProposedBlock) {
        let mut proposals = self.lock_proposals();
        if proposals.contains_key(&hash) {
            return;
        }
        if proposals.len() >= PROPOSED_BLOCKS_MAX {
            let victim = proposals
                .iter()
                .max_by_key(|(_, b)| b.body.header.height)
                .map(|(h, _)| *h);
            if let Some(victim) = victim {
                proposals.remove(&victim);
            }
        }
        proposals.insert(hash, Arc::new(block));
    }

    /// Forgets proposed blocks at or below a committed height.
    pub fn forget_proposals(&self, committed: u64) {
        self.lock_proposals()
            .retain(|_, block| block.body.header.height > committed);
    }

    fn lock_proposals(&self) -> MutexGuard<'_, HashMap<Hash, Arc<ProposedBlock>>> {
        self.proposals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn lock_mempool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers events block validation verified.
    pub fn remember_verified(&self, events: impl IntoIterator<Item = CheckedEvent>) {
        let mut recent = self
            .recently_verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for checked in events {
            let id = checked.id();
            if recent.by_id.insert(id, checked).is_none() {
                recent.order.push_back(id);
            }
            while recent.order.len() > RECENTLY_VERIFIED_MAX {
                if let Some(old) = recent.order.pop_front() {
                    recent.by_id.remove(&old);
                }
            }
        }
    }

    /// Whether this very event's check is remembered (as [`Shared::verified_before`], without
    /// the copy).
    pub fn was_verified(&self, id: &Hash, event: &SignedEvent) -> bool {
        self.recent_check(id, event, |_| ()).is_some()
    }

    /// A remembered check of exactly this event: the same id (the caller's, already computed)
    /// and the same signature.
    pub fn verified_before(&self, id: &Hash, event: &SignedEvent) -> Option<CheckedEvent> {
        self.recent_check(id, event, CheckedEvent::clone)
    }

    fn recent_check<T>(
        &self,
        id: &Hash,
        event: &SignedEvent,
        take: impl FnOnce(&CheckedEvent) -> T,
    ) -> Option<T> {
        let recent = self
            .recently_verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        recent
            .by_id
            .get(id)
            .filter(|checked| checked.event().signature == event.signature)
            .map(take)
    }

    pub fn committed_height(&self) -> u64 {
        self.height.load(Ordering::Acquire)
    }

    pub fn since_last_commit(&self) -> std::time::Duration {
        self.last_commit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }
}
