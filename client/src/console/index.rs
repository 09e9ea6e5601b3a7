//! The console's view of the ledger: which shipments and GTINs concern this member, and, for
//! each shipment, a work item computed from its verified case file. The node's feed (each
//! block's events on the shipments this member may read) and stream only say *where to look*;
//! every line shown comes from proofs verified here. The feed is the source of truth
//! (followed from height 1, resumed after any gap); the stream, where the member may follow
//! it, wakes the follower as soon as something commits.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use waybill_protocol::event::{Epc, EventKind};
use waybill_protocol::execution::EventOutcome;
use waybill_protocol::genesis::Role;
use waybill_protocol::{Gtin, OrgId, ShipmentId};

use super::{Console, Lookup};
use crate::customs::risk::Lane;
use crate::customs::units::Money;
use crate::limits::{
    CONSOLE_BLOCKS_PER_ROUND_MAX as BLOCKS_PER_ROUND_MAX, CONSOLE_GTINS_MAX as INDEX_GTINS_MAX,
    CONSOLE_SHIPMENTS_MAX as INDEX_SHIPMENTS_MAX,
};

/// What the work list and the party view show of one shipment.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    pub shipment: ShipmentId,
    /// The block its case file was verified as of.
    pub height: u64,
    pub lane: Option<Lane>,
    pub score: i32,
    pub declared_ms: Option<u64>,
    pub arrived_ms: Option<u64>,
    pub platform: Option<OrgId>,
    pub custodian: Option<OrgId>,
    pub value: Option<Money>,
    pub duty: Option<Money>,
    /// The heaviest findings, in words.
    pub reasons: Vec<String>,
    pub consignee: Option<String>,
    pub hs_codes: Vec<String>,
    pub state: &'static str,
    pub blockers: Vec<String>,
    pub decided: Option<&'static str>,
}

/// One shipment's line: computed, still to compute, or failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Pending,
    Ready(Box<WorkItem>),
    /// The node's answer did not verify: shown as NOT VERIFIED with the reason.
    NotVerified(String),
    /// The node refused or could not be reached.
    Refused(String),
}

#[derive(Debug, Default)]
struct State {
    followed_height: u64,
    entries: BTreeMap<ShipmentId, Entry>,
    /// Shipments whose line is to be computed again, oldest first, each once.
    dirty: VecDeque<ShipmentId>,
    queued: BTreeSet<ShipmentId>,
    gtins: BTreeSet<Gtin>,
    /// Bumped on every change: the pages' live updates compare it.
    version: u64,
    /// Why following stopped short, if it did (shown on the work list).
    trouble: Option<String>,
    full: bool,
}

/// The index, shared by the follower, the workers and the pages.
#[derive(Debug, Default)]
pub struct Index {
    state: Mutex<State>,
    work: Condvar,
    changed: Mutex<Option<tokio::sync::watch::Sender<u64>>>,
}

/// A copy of the index for one page.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub followed_height: u64,
    pub entries: Vec<(ShipmentId, Entry)>,
    pub gtins: Vec<Gtin>,
    pub pending: usize,
    pub trouble: Option<String>,
    pub full: bool,
}

impl Index {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked left consistent data (each change is one assignment).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        let mut changed = self
            .changed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match changed.as_ref() {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = tokio::sync::watch::channel(0);
                *changed = Some(sender);
                receiver
            }
        }
    }

    fn bump(&self, state: &mut State) {
        state.version += 1;
        let changed = self
            .changed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(sender) = changed.as_ref() {
            sender.send_replace(state.version);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        Snapshot {
            followed_height: state.followed_height,
            entries: state
                .entries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            gtins: state.gtins.iter().cloned().collect(),
            pending: state.queued.len(),
            trouble: state.trouble.clone(),
            full: state.full,
        }
    }

    /// Marks `shipment` to be computed again (a page saw it change, an action committed).
    pub fn touch(&self, shipment: &ShipmentId) {
        self.mark_block([(shipment, true)]);
    }

    /// Marks the shipments of one block: each that is listed already, or `wanted` if not.
    /// One lock and one change for the whole block.
    fn mark_block<'a>(&self, seen: impl IntoIterator<Item = (&'a ShipmentId, bool)>) {
        let mut state = self.lock();
        let mut marked = false;
        for (shipment, wanted) in seen {
            if !state.entries.contains_key(shipment) {
                if !wanted {
                    continue;
                }
                if state.entries.len() >= INDEX_SHIPMENTS_MAX {
                    state.full = true;
                    continue;
                }
                state.entries.insert(shipment.clone(), Entry::Pending);
            }
            if state.queued.insert(shipment.clone()) {
                state.dirty.push_back(shipment.clone());
            }
            marked = true;
        }
        if marked {
            self.bump(&mut state);
            self.work.notify_all();
        }
    }

    fn add_gtin(&self, gtin: &Gtin) {
        let mut state = self.lock();
        if state.gtins.len() < INDEX_GTINS_MAX && state.gtins.insert(gtin.clone()) {
            self.bump(&mut state);
        }
    }

    fn next_dirty(&self) -> ShipmentId {
        let mut state = self.lock();
        loop {
            if let Some(shipment) = state.dirty.pop_front() {
                state.queued.remove(&shipment);
                return shipment;
            }
            state = self
                .work
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn set(&self, shipment: ShipmentId, entry: Entry) {
        let mut state = self.lock();
        if state.entries.get(&shipment) != Some(&entry) {
            state.entries.insert(shipment, entry);
            self.bump(&mut state);
        }
    }

    fn followed(&self, height: u64, trouble: Option<String>) {
        let mut state = self.lock();
        if state.followed_height != height || state.trouble != trouble {
            state.followed_height = height;
            state.trouble = trouble;
            self.bump(&mut state);
        }
    }
}

/// Whether an applied event makes its shipment this member's concern, and the GTINs it adds.
fn concerns(console: &Console, event: &waybill_protocol::SignedEvent) -> bool {
    let me = &console.identity.key_id.org;
    let roles = &console.identity.roles;
    let body = &event.body;
    if roles.contains(&Role::Customs) {
        return true;
    }
    let party = roles.contains(&Role::Carrier) || roles.contains(&Role::Platform);
    party
        && (body.signer.org == *me
            || matches!(body.kind.effective(), EventKind::HandOver { to } if to == me))
}

/// Follows the node's blocks for ever, from height 1: each applied event marks its shipment.
pub fn follow(console: Arc<Console>) {
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    if console.identity.roles.contains(&Role::Customs) {
        let streaming = console.clone();
        std::thread::spawn(move || stream_wakes(&streaming, &wake));
    }
    let mut height = 0u64;
    loop {
        match follow_round(&console, height) {
            Ok(reached) => {
                height = reached;
                console.index.followed(height, None);
            }
            Err(trouble) => console.index.followed(height, Some(trouble)),
        }
        // Woken by the stream, or every second.
        let _ = woken.recv_timeout(Duration::from_secs(1));
    }
}

/// Reads the blocks after `height`, at most a bounded number; returns the height reached.
fn follow_round(console: &Console, mut height: u64) -> Result<u64, String> {
    for _ in 0..BLOCKS_PER_ROUND_MAX {
        let next = height.saturating_add(1);
        // The feed: the whole block for customs, the shipments it may read for a party.
        let Some(block) = console.node.feed(next).map_err(|e| e.to_string())? else {
            return Ok(height);
        };
        // Discovery only: a block is the node's word of where to look. What is shown comes
        // from each shipment's verified proof.
        let mut seen = Vec::new();
        for entry in &block.events {
            if !matches!(entry.outcome, Some(EventOutcome::Applied)) {
                continue;
            }
            let body = &entry.event.body;
            if console.identity.roles.contains(&Role::Brand)
                && body.signer.org == console.identity.key_id.org
                && matches!(body.kind.effective(), EventKind::Commission)
            {
                for epc in &body.epcs {
                    if let Epc::Sgtin(sgtin) = epc {
                        console.index.add_gtin(&sgtin.gtin);
                    }
                }
            }
            // Customs list a consignment from its declaration on; a party, what concerns it.
            let wanted = concerns(console, &entry.event)
                && (!console.identity.roles.contains(&Role::Customs)
                    || matches!(body.kind.effective(), EventKind::Declare(_)));
            seen.push((&body.shipment, wanted));
        }
        console.index.mark_block(seen);
        height = next;
    }
    Ok(height)
}

/// Wakes the follower whenever the node streams a commit; reconnects after a pause.
fn stream_wakes(console: &Console, wake: &std::sync::mpsc::SyncSender<()>) {
    loop {
        let _ = console.node.follow(None, |_| {
            let _ = wake.try_send(());
            true
        });
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Computes dirty shipments' lines for ever.
pub fn work(console: Arc<Console>) {
    loop {
        let shipment = console.index.next_dirty();
        let entry = match console.lookup(&shipment) {
            Lookup::Found(item) => Entry::Ready(item),
            Lookup::NotVerified(reason) => Entry::NotVerified(reason),
            Lookup::Refused(reason) => Entry::Refused(reason),
        };
        console.index.set(shipment, entry);
    }
}
