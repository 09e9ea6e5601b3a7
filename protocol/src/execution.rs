//! Execution (DESIGN.md §3): applies a block's ordered events to the ledger state, deciding for
//! each whether it is applied or rejected, and why.
//!
//! Pure and deterministic: the ledger loads the state every event of the block may read
//! ([`keys_read`]) into a [`StateSnapshot`], [`execute_block`] decides and updates the snapshot,
//! and the ledger writes back what changed. No clock (the block's time is an input), no I/O.
//!
//! Custody rules, per shipment:
//! - PickUp by a carrier starts custody; HandOver{to} by the custodian offers it to a carrier,
//!   Accept{from} by that carrier moves it. Depart, Arrive and Deliver only by the custodian.
//! - Declare once, by a platform. RiskAssessed needs a declaration. A Hold suspends any release
//!   until an Inspect with result compliant lifts the holds. Release needs the declaration, no
//!   open hold and risk status approved. Deliver needs a release: nothing leaves customs control
//!   without one.
//! - After Deliver nothing but Return (and Flag, an annotation); after Seize nothing but
//!   Inspect and Flag.
//! - Brands commission only serials under their own GS1 prefix, once; only the commissioner
//!   decommissions, once.
//! - A shipment's events (all but commissioning and decommissioning, which are about items) may
//!   not be dated before its latest event by more than clock skew (`DatedBeforePrevious`):
//!   late reports are fine, a history rewritten backwards is not.
//! - Pack and Unpack only by a party to the shipment: its custodian, its declaring platform, or
//!   the brand whose prefix every named item serial is under. Flag only by customs, or by the
//!   brand of the flagged serial. An organisation with the role but no part is refused
//!   (`NoPartInShipment`): nobody appends to another's shipment.
//! - Per signer, each nonce is spent once ([`SpentNonces`]). A nonce that passes is spent even if
//!   a later rule rejects the event, so a rejected event can never be replayed into acceptance.
//!   From rules version 2 nonces need not arrive in order: an event that reaches the chain
//!   after up to [`NONCE_WINDOW`] later nonces of its signer (a batch held by a node that was
//!   down) is still applied; under version 1 they must strictly increase.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::admission::CheckedEvent;
use crate::crypto::Hash;
use crate::event::{Epc, EventBody, EventKind, EventType, InspectionResult, RiskStatus, Sgtin};
use crate::genesis::Role;
use crate::ids::{Gtin, KeyId, OrgId, ShipmentId};
use crate::index::{IndexKey, KeyRecord, index_keys};
use crate::limits::EVENT_TIME_FUTURE_SKEW_MS_MAX;
use crate::rules::ChainRules;
use crate::rules_version::RulesVersion;

/// Where a shipment stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct ShipmentState {
    /// The platform that filed the declaration.
    pub declared_by: Option<OrgId>,
    pub custodian: Option<OrgId>,
    /// A hand-over offered by the custodian and not yet accepted.
    pub offered_to: Option<OrgId>,
    pub risk: Option<RiskStatus>,
    pub open_holds: u32,
    pub released: bool,
    pub delivered: bool,
    pub returned: bool,
    pub seized: bool,
    /// The latest event time of the shipment's events so far (0 before the first).
    pub last_event_time_ms: u64,
    /// The declaration's commitment to its private particulars.
    pub particulars: Option<Hash>,
    /// Whether a `purge` erased them.
    pub particulars_purged: bool,
}

/// Who commissioned an item serial, and whether it is retired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct SerialState {
    pub commissioned_by: OrgId,
    pub commissioned_height: u64,
    pub decommissioned: bool,
}

/// Why an event was not applied. Stored with the event and shown to whoever submitted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Rejection {
    Malformed {
        detail: String,
    },
    Replay {
        nonce: u64,
        last_nonce: u64,
    },
    NotPermitted {
        org: OrgId,
        event_type: EventType,
    },
    NotPrefixOwner {
        org: OrgId,
        gtin: Gtin,
    },
    AlreadyCommissioned {
        serial: Sgtin,
        by: OrgId,
    },
    NotCommissioned {
        serial: Sgtin,
    },
    NotCommissioner {
        serial: Sgtin,
        by: OrgId,
    },
    AlreadyDecommissioned {
        serial: Sgtin,
    },
    AlreadyDeclared {
        by: OrgId,
    },
    NotDeclared,
    CustodyAlreadyStarted {
        custodian: OrgId,
    },
    NoCustody,
    NotCustodian {
        custodian: OrgId,
        signer: OrgId,
    },
    HandOverPending {
        offered_to: OrgId,
    },
    NotACarrier {
        org: OrgId,
    },
    NoHandOverOffered,
    OfferedToAnother {
        offered_to: OrgId,
    },
    WrongHandOverSource {
        from: OrgId,
        custodian: OrgId,
    },
    OpenHolds {
        count: u32,
    },
    RiskNotApproved {
        status: Option<RiskStatus>,
    },
    NotReleased,
    AlreadyDelivered,
    Seized,
    /// Packing, unpacking or flagging a shipment the signer has no part in.
    NoPartInShipment {
        org: OrgId,
    },
    /// Dated before the shipment's latest event by more than clock skew: a custody history
    /// cannot be rewritten backwards.
    DatedBeforePrevious {
        event_time_ms: u64,
        previous_ms: u64,
    },
    /// A purge naming particulars the shipment's declaration does not commit to.
    NotTheParticulars {
        named: Hash,
        declared: Option<Hash>,
    },
    AlreadyPurged,
    /// A platform purging particulars another platform declared.
    NotDeclarer {
        declared_by: OrgId,
    },
    /// The kind exists only from a later rules version than the block's.
    NotInRules {
        event_type: EventType,
        rules: RulesVersion,
    },
    /// The same EPCIS event (by its CBV event hash) is already on the ledger.
    DuplicateCapture {
        event_hash: String,
    },
}

impl Rejection {
    /// The reason's name, as JSON's `reason` tag spells it (metrics labels, logs).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Malformed { .. } => "malformed",
            Rejection::Replay { .. } => "replay",
            Rejection::NotPermitted { .. } => "not_permitted",
            Rejection::NotPrefixOwner { .. } => "not_prefix_owner",
            Rejection::AlreadyCommissioned { .. } => "already_commissioned",
            Rejection::NotCommissioned { .. } => "not_commissioned",
            Rejection::NotCommissioner { .. } => "not_commissioner",
            Rejection::AlreadyDecommissioned { .. } => "already_decommissioned",
            Rejection::AlreadyDeclared { .. } => "already_declared",
            Rejection::NotDeclared => "not_declared",
            Rejection::CustodyAlreadyStarted { .. } => "custody_already_started",
            Rejection::NoCustody => "no_custody",
            Rejection::NotCustodian { .. } => "not_custodian",
            Rejection::HandOverPending { .. } => "hand_over_pending",
            Rejection::NotACarrier { .. } => "not_a_carrier",
            Rejection::NoHandOverOffered => "no_hand_over_offered",
            Rejection::OfferedToAnother { .. } => "offered_to_another",
            Rejection::WrongHandOverSource { .. } => "wrong_hand_over_source",
            Rejection::OpenHolds { .. } => "open_holds",
            Rejection::RiskNotApproved { .. } => "risk_not_approved",
            Rejection::NotReleased => "not_released",
            Rejection::AlreadyDelivered => "already_delivered",
            Rejection::Seized => "seized",
            Rejection::NoPartInShipment { .. } => "no_part_in_shipment",
            Rejection::DatedBeforePrevious { .. } => "dated_before_previous",
            Rejection::NotTheParticulars { .. } => "not_the_particulars",
            Rejection::AlreadyPurged => "already_purged",
            Rejection::NotDeclarer { .. } => "not_declarer",
            Rejection::NotInRules { .. } => "not_in_rules",
            Rejection::DuplicateCapture { .. } => "duplicate_capture",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Malformed { detail } => write!(f, "malformed: {detail}"),
            Rejection::Replay { nonce, last_nonce } => write!(
                f,
                "replay: nonce {nonce} is already spent by this signer (its highest is {last_nonce})"
            ),
            Rejection::NotPermitted { org, event_type } => {
                write!(f, "{org} has no role allowing {event_type} events")
            }
            Rejection::NotPrefixOwner { org, gtin } => {
                write!(f, "GTIN {gtin} is not under a GS1 prefix of {org}")
            }
            Rejection::AlreadyCommissioned { serial, by } => {
                write!(f, "{serial} was already commissioned by {by}")
            }
            Rejection::NotCommissioned { serial } => write!(f, "{serial} was never commissioned"),
            Rejection::NotCommissioner { serial, by } => {
                write!(
                    f,
                    "{serial} was commissioned by {by}; only it may decommission"
                )
            }
            Rejection::AlreadyDecommissioned { serial } => {
                write!(f, "{serial} is already decommissioned")
            }
            Rejection::AlreadyDeclared { by } => {
                write!(f, "the shipment is already declared by {by}")
            }
            Rejection::NotDeclared => write!(f, "the shipment has no declaration"),
            Rejection::CustodyAlreadyStarted { custodian } => {
                write!(f, "custody already started: {custodian} holds the shipment")
            }
            Rejection::NoCustody => write!(f, "no carrier has picked the shipment up"),
            Rejection::NotCustodian { custodian, signer } => {
                write!(f, "{signer} is not the custodian; {custodian} is")
            }
            Rejection::HandOverPending { offered_to } => {
                write!(f, "a hand-over to {offered_to} is already pending")
            }
            Rejection::NotACarrier { org } => write!(f, "{org} is not a carrier"),
            Rejection::NoHandOverOffered => write!(f, "no hand-over is pending"),
            Rejection::OfferedToAnother { offered_to } => {
                write!(f, "the hand-over was offered to {offered_to}")
            }
            Rejection::WrongHandOverSource { from, custodian } => {
                write!(f, "accepting from {from}, but the custodian is {custodian}")
            }
            Rejection::OpenHolds { count } => write!(f, "{count} customs hold(s) still open"),
            Rejection::RiskNotApproved { status } => match status {
                Some(status) => write!(f, "risk status is {status:?}, not approved"),
                None => write!(f, "no risk assessment recorded"),
            },
            Rejection::NotReleased => write!(f, "customs has not released the shipment"),
            Rejection::AlreadyDelivered => {
                write!(f, "the shipment is delivered; only return follows")
            }
            Rejection::Seized => write!(f, "the shipment is seized by customs"),
            Rejection::DatedBeforePrevious {
                event_time_ms,
                previous_ms,
            } => write!(
                f,
                "dated {event_time_ms} ms, before the shipment's latest event at {previous_ms} ms by more than clock skew"
            ),
            Rejection::NoPartInShipment { org } => write!(
                f,
                "{org} has no part in this shipment: it is not its custodian, its declaring platform, customs, or the brand of the serials named"
            ),
            Rejection::NotTheParticulars { named, declared } => match declared {
                Some(declared) => write!(
                    f,
                    "the purge names particulars {named}; the declaration commits to {declared}"
                ),
                None => write!(
                    f,
                    "the purge names particulars {named}; the shipment has no declaration"
                ),
            },
            Rejection::AlreadyPurged => {
                write!(f, "the declaration's particulars are already purged")
            }
            Rejection::NotDeclarer { declared_by } => write!(
                f,
                "only customs or the declaring platform ({declared_by}) may purge its particulars"
            ),
            Rejection::NotInRules { event_type, rules } => write!(
                f,
                "{event_type} events do not exist under rules version {rules}, which this block executes under"
            ),
            Rejection::DuplicateCapture { event_hash } => {
                write!(f, "the EPCIS event {event_hash} is already on the ledger")
            }
        }
    }
}

/// A purge names the shipment's committed particulars, once, by customs or their declarer.
fn check_purge(
    rules: &ChainRules,
    signer: &OrgId,
    before: &ShipmentState,
    named: &Hash,
) -> Result<(), Rejection> {
    if before.particulars.as_ref() != Some(named) {
        return Err(Rejection::NotTheParticulars {
            named: *named,
            declared: before.particulars,
        });
    }
    if before.particulars_purged {
        return Err(Rejection::AlreadyPurged);
    }
    let declared_by = before.declared_by.clone().ok_or(Rejection::NotDeclared)?;
    if !rules.has_role(signer, Role::Customs) && signer != &declared_by {
        return Err(Rejection::NotDeclarer { declared_by });
    }
    Ok(())
}

/// What became of one event of a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EventOutcome {
    Applied,
    Rejected { rejection: Rejection },
}

/// The block an execution belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockContext {
    pub height: u64,
    pub time_ms: u64,
    /// The genesis schedule's rules at `height`.
    pub rules: RulesVersion,
}

/// How many of a signer's highest spent nonces are remembered one by one, from rules version 2
/// ([`RulesVersion::nonce_window`]); every nonce below them counts as spent.
pub const NONCE_WINDOW: usize = 1_024;

/// The nonces a signer has spent: every nonce up to `floor`, and each one in `above` (at most
/// [`NONCE_WINDOW`] of them, all above `floor`, in increasing order). When `above` overflows,
/// its lowest nonce becomes the floor, so a spent nonce stays spent forever.
///
/// `above` is a sorted deque rather than a set: admission reads a signer's nonces for every
/// event it takes, and building a tree of up to 1,024 nonces each time was a seventh of a
/// loaded node's CPU. Nonces mostly arrive in order, so spending is a push at the back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpentNonces {
    floor: u64,
    above: VecDeque<u64>,
}

impl SpentNonces {
    pub fn is_spent(&self, nonce: u64) -> bool {
        nonce <= self.floor || self.above.binary_search(&nonce).is_ok()
    }

    /// The highest nonce spent (0 for none).
    pub fn highest(&self) -> u64 {
        self.above.back().copied().unwrap_or(self.floor)
    }

    /// Spends `nonce`, remembering at most `window` (at most [`NONCE_WINDOW`]) nonces above the
    /// floor: with 0, the floor is the highest nonce and nonces must strictly increase.
    pub fn spend(&mut self, nonce: u64, window: usize) {
        if nonce <= self.floor {
            return;
        }
        match self.above.back() {
            Some(highest) if nonce <= *highest => {
                if let Err(position) = self.above.binary_search(&nonce) {
                    self.above.insert(position, nonce);
                }
            }
            _ => self.above.push_back(nonce),
        }
        while self.above.len() > window.min(NONCE_WINDOW) {
            if let Some(lowest) = self.above.pop_front() {
                self.floor = lowest;
            }
        }
    }

    /// Storage bytes: the floor, then each spent nonce above it in increasing order, all
    /// big-endian `u64`. (Eight bytes alone is what ledgers before the window stored, the last
    /// nonce, which means the same: everything up to it is spent.)
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 * (1 + self.above.len()));
        bytes.extend_from_slice(&self.floor.to_be_bytes());
        for nonce in &self.above {
            bytes.extend_from_slice(&nonce.to_be_bytes());
        }
        bytes
    }

    /// Reads [`SpentNonces::to_bytes`]; `None` unless the bytes are exactly such an encoding.
    pub fn from_bytes(bytes: &[u8]) -> Option<SpentNonces> {
        if bytes.is_empty() || bytes.len() % 8 != 0 || bytes.len() > 8 * (1 + NONCE_WINDOW) {
            return None;
        }
        let mut values = bytes
            .chunks_exact(8)
            .map(|chunk| u64::from_be_bytes(chunk.try_into().unwrap_or_default()));
        let floor = values.next()?;
        let mut above = VecDeque::with_capacity(bytes.len() / 8 - 1);
        let mut previous = floor;
        for nonce in values {
            if nonce <= previous {
                return None;
            }
            above.push_back(nonce);
            previous = nonce;
        }
        Some(SpentNonces { floor, above })
    }
}

/// The state keys a block's events may read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateKeys {
    pub shipments: BTreeSet<ShipmentId>,
    pub serials: BTreeSet<Sgtin>,
    pub signers: BTreeSet<KeyId>,
    pub index_keys: BTreeSet<IndexKey>,
}

/// Everything [`execute_block`] may read, as loaded before the block; `None` for "never seen".
/// After execution it holds the new values, and `changed` says which to write back.
#[derive(Debug, Clone, Default)]
pub struct StateSnapshot {
    pub shipments: BTreeMap<ShipmentId, Option<ShipmentState>>,
    pub serials: BTreeMap<Sgtin, Option<SerialState>>,
    pub nonces: BTreeMap<KeyId, Option<SpentNonces>>,
    pub records: BTreeMap<IndexKey, Option<KeyRecord>>,
    pub changed: StateKeys,
}

pub fn keys_read(events: &[CheckedEvent]) -> StateKeys {
    let mut keys = StateKeys::default();
    for checked in events {
        let body = &checked.event().body;
        keys.shipments.insert(body.shipment.clone());
        keys.signers.insert(body.signer.clone());
        if matches!(
            body.kind.effective(),
            EventKind::Commission | EventKind::Decommission { .. }
        ) {
            keys.serials.extend(item_serials(body).cloned());
        }
        keys.index_keys.extend(index_keys(body));
    }
    keys
}

fn item_serials(body: &EventBody) -> impl Iterator<Item = &Sgtin> {
    body.epcs.iter().filter_map(|epc| match epc {
        Epc::Sgtin(sgtin) => Some(sgtin),
        Epc::Sscc(_) => None,
    })
}

/// Applies `events` in order to `state`; returns one outcome per event.
///
/// # Panics
/// If `state` lacks a key of [`keys_read`]`(events)`: the ledger must load them all.
pub fn execute_block(
    rules: &ChainRules,
    block: BlockContext,
    events: &[CheckedEvent],
    state: &mut StateSnapshot,
) -> Vec<EventOutcome> {
    events
        .iter()
        .map(
            |checked| match execute_event(rules, block, checked, state) {
                Ok(()) => EventOutcome::Applied,
                Err(rejection) => EventOutcome::Rejected { rejection },
            },
        )
        .collect()
}

fn loaded<'a, K: Ord + fmt::Debug, V>(
    map: &'a mut BTreeMap<K, Option<V>>,
    key: &K,
) -> &'a mut Option<V> {
    match map.get_mut(key) {
        Some(slot) => slot,
        None => panic!("execution read {key:?}, which the ledger did not load"),
    }
}

fn execute_event(
    rules: &ChainRules,
    block: BlockContext,
    checked: &CheckedEvent,
    state: &mut StateSnapshot,
) -> Result<(), Rejection> {
    let body = &checked.event().body;
    let signer_org = &body.signer.org;

    // The nonce first: once it passes it is spent, whatever follows.
    let spent = loaded(&mut state.nonces, &body.signer).get_or_insert_with(SpentNonces::default);
    if spent.is_spent(body.nonce) {
        return Err(Rejection::Replay {
            nonce: body.nonce,
            last_nonce: spent.highest(),
        });
    }
    spent.spend(body.nonce, block.rules.nonce_window());
    state.changed.signers.insert(body.signer.clone());

    body.validate(rules.chain_id(), block.time_ms)
        .map_err(|error| Rejection::Malformed {
            detail: error.to_string(),
        })?;
    let event_type = body.kind.event_type();
    if !block.rules.knows(event_type)
        || (body.kind.capture().is_some() && !block.rules.captures_epcis())
    {
        return Err(Rejection::NotInRules {
            event_type,
            rules: block.rules,
        });
    }
    let permitted = rules
        .signer(&body.signer)
        .is_some_and(|signer| rules.may_sign(signer, event_type));
    if !permitted {
        return Err(Rejection::NotPermitted {
            org: signer_org.clone(),
            event_type,
        });
    }

    // Every check before any write: a rejected event changes nothing but its signer's nonce.
    let before = loaded(&mut state.shipments, &body.shipment)
        .clone()
        .unwrap_or_default();
    if block.rules.captures_epcis() {
        check_capture(rules, &before, body, state)?;
    }
    let after = custody(rules, &before, body)?;
    match body.kind.effective() {
        EventKind::Commission => commission(rules, block, body, state)?,
        EventKind::Decommission { .. } => decommission(body, state)?,
        _ => {}
    }
    if after != before {
        *loaded(&mut state.shipments, &body.shipment) = Some(after);
        state.changed.shipments.insert(body.shipment.clone());
    }

    let id = checked.id();
    for key in index_keys(body) {
        let slot = loaded(&mut state.records, &key);
        let record = KeyRecord::append(slot.as_ref(), &key.encode(), &id, block.height);
        *slot = Some(record);
        state.changed.index_keys.insert(key);
    }
    Ok(())
}

fn commission(
    rules: &ChainRules,
    block: BlockContext,
    body: &EventBody,
    state: &mut StateSnapshot,
) -> Result<(), Rejection> {
    let org = &body.signer.org;
    for serial in item_serials(body) {
        if !rules.owns_gtin(org, &serial.gtin) {
            return Err(Rejection::NotPrefixOwner {
                org: org.clone(),
                gtin: serial.gtin.clone(),
            });
        }
        if let Some(existing) = loaded(&mut state.serials, serial) {
            return Err(Rejection::AlreadyCommissioned {
                serial: serial.clone(),
                by: existing.commissioned_by.clone(),
            });
        }
    }
    for serial in item_serials(body) {
        *loaded(&mut state.serials, serial) = Some(SerialState {
            commissioned_by: org.clone(),
            commissioned_height: block.height,
            decommissioned: false,
        });
        state.changed.serials.insert(serial.clone());
    }
    Ok(())
}

fn decommission(body: &EventBody, state: &mut StateSnapshot) -> Result<(), Rejection> {
    let org = &body.signer.org;
    for serial in item_serials(body) {
        match loaded(&mut state.serials, serial) {
            None => {
                return Err(Rejection::NotCommissioned {
                    serial: serial.clone(),
                });
            }
            Some(existing) if &existing.commissioned_by != org => {
                return Err(Rejection::NotCommissioner {
                    serial: serial.clone(),
                    by: existing.commissioned_by.clone(),
                });
            }
            Some(existing) if existing.decommissioned => {
                return Err(Rejection::AlreadyDecommissioned {
                    serial: serial.clone(),
                });
            }
            Some(_) => {}
        }
    }
    for serial in item_serials(body) {
        if let Some(existing) = loaded(&mut state.serials, serial) {
            existing.decommissioned = true;
        }
        state.changed.serials.insert(serial.clone());
    }
    Ok(())
}

/// The ledger's rules for captures and registers (rules version 4): a register (`epcis:<org>`)
/// is written by its organisation only, and with observations only; an observation elsewhere
/// needs a part in the shipment (custodian, declarer, offered the custody, customs, or the
/// brand of every item it names), so it never makes its signer a party; and an EPCIS event is
/// applied once (its CBV event hash).
fn check_capture(
    rules: &ChainRules,
    before: &ShipmentState,
    body: &EventBody,
    state: &mut StateSnapshot,
) -> Result<(), Rejection> {
    let signer = &body.signer.org;
    let observation = body.kind.event_type() == EventType::Observe;
    if body
        .shipment
        .as_str()
        .starts_with(crate::epcis::capture::REGISTER_PREFIX)
    {
        let own = crate::epcis::capture::register_of(signer).as_ref() == Some(&body.shipment);
        if !own || !observation {
            return Err(Rejection::NoPartInShipment {
                org: signer.clone(),
            });
        }
    } else if observation {
        let serials: Vec<&Sgtin> = item_serials(body).collect();
        let party = before.custodian.as_ref() == Some(signer)
            || before.declared_by.as_ref() == Some(signer)
            || before.offered_to.as_ref() == Some(signer)
            || rules.has_role(signer, Role::Customs)
            || (!serials.is_empty() && serials.iter().all(|s| rules.owns_gtin(signer, &s.gtin)));
        if !party {
            return Err(Rejection::NoPartInShipment {
                org: signer.clone(),
            });
        }
    }
    if let Some(hash) = crate::index::capture_hash(body)
        && loaded(&mut state.records, &IndexKey::EpcisEvent(hash)).is_some()
    {
        return Err(Rejection::DuplicateCapture {
            event_hash: crate::epcis::EventHash(hash.0).ni(),
        });
    }
    Ok(())
}

/// The shipment's state after `body`, or why `body` does not fit it.
fn custody(
    rules: &ChainRules,
    before: &ShipmentState,
    body: &EventBody,
) -> Result<ShipmentState, Rejection> {
    let signer = &body.signer.org;
    let event_type = body.kind.event_type();
    if event_type == EventType::Observe {
        // An observation changes no custody, so no custody state refuses it.
        return Ok(before.clone());
    }
    if before.seized && !matches!(event_type, EventType::Inspect | EventType::Flag) {
        return Err(Rejection::Seized);
    }
    if before.delivered && !matches!(event_type, EventType::Return | EventType::Flag) {
        return Err(Rejection::AlreadyDelivered);
    }
    let held_by_signer = || match &before.custodian {
        None => Err(Rejection::NoCustody),
        Some(custodian) if custodian != signer => Err(Rejection::NotCustodian {
            custodian: custodian.clone(),
            signer: signer.clone(),
        }),
        Some(_) => Ok(()),
    };
    let mut after = before.clone();
    let item_event = matches!(
        body.kind.effective(),
        EventKind::Commission | EventKind::Decommission { .. }
    );
    if !item_event {
        let earliest = before
            .last_event_time_ms
            .saturating_sub(EVENT_TIME_FUTURE_SKEW_MS_MAX);
        if body.event_time_ms < earliest {
            return Err(Rejection::DatedBeforePrevious {
                event_time_ms: body.event_time_ms,
                previous_ms: before.last_event_time_ms,
            });
        }
        after.last_event_time_ms = before.last_event_time_ms.max(body.event_time_ms);
    }
    match body.kind.effective() {
        EventKind::Commission | EventKind::Decommission { .. } => {}
        EventKind::Pack { .. } | EventKind::Unpack { .. } => {
            let serials: Vec<&Sgtin> = item_serials(body).collect();
            let brand_of_items =
                !serials.is_empty() && serials.iter().all(|s| rules.owns_gtin(signer, &s.gtin));
            let party = before.custodian.as_ref() == Some(signer)
                || before.declared_by.as_ref() == Some(signer)
                || brand_of_items;
            if !party {
                return Err(Rejection::NoPartInShipment {
                    org: signer.clone(),
                });
            }
        }
        EventKind::Flag { serial, .. } => {
            if !rules.has_role(signer, Role::Customs) && !rules.owns_gtin(signer, &serial.gtin) {
                return Err(Rejection::NoPartInShipment {
                    org: signer.clone(),
                });
            }
        }
        EventKind::Declare(summary) => {
            if let Some(by) = &before.declared_by {
                return Err(Rejection::AlreadyDeclared { by: by.clone() });
            }
            after.declared_by = Some(signer.clone());
            after.particulars = Some(summary.particulars);
        }
        EventKind::Purge { particulars } => {
            check_purge(rules, signer, before, particulars)?;
            after.particulars_purged = true;
        }
        EventKind::PickUp => {
            if let Some(custodian) = &before.custodian {
                return Err(Rejection::CustodyAlreadyStarted {
                    custodian: custodian.clone(),
                });
            }
            after.custodian = Some(signer.clone());
        }
        EventKind::HandOver { to } => {
            held_by_signer()?;
            if let Some(offered_to) = &before.offered_to {
                return Err(Rejection::HandOverPending {
                    offered_to: offered_to.clone(),
                });
            }
            if !rules.has_role(to, Role::Carrier) {
                return Err(Rejection::NotACarrier { org: to.clone() });
            }
            after.offered_to = Some(to.clone());
        }
        EventKind::Accept { from } => {
            match &before.offered_to {
                None => return Err(Rejection::NoHandOverOffered),
                Some(offered_to) if offered_to != signer => {
                    return Err(Rejection::OfferedToAnother {
                        offered_to: offered_to.clone(),
                    });
                }
                Some(_) => {}
            }
            let custodian = before.custodian.clone().ok_or(Rejection::NoCustody)?;
            if &custodian != from {
                return Err(Rejection::WrongHandOverSource {
                    from: from.clone(),
                    custodian,
                });
            }
            after.custodian = Some(signer.clone());
            after.offered_to = None;
        }
        EventKind::Depart | EventKind::Arrive => held_by_signer()?,
        EventKind::Deliver => {
            held_by_signer()?;
            if !before.released {
                return Err(Rejection::NotReleased);
            }
            after.delivered = true;
        }
        EventKind::Return { .. } => {
            held_by_signer()?;
            after.delivered = false;
            after.returned = true;
        }
        EventKind::RiskAssessed { status } => {
            if before.declared_by.is_none() {
                return Err(Rejection::NotDeclared);
            }
            after.risk = Some(*status);
        }
        EventKind::Inspect { result, .. } => {
            if *result == InspectionResult::Compliant {
                after.open_holds = 0;
            }
        }
        EventKind::Hold { .. } => {
            after.open_holds = before.open_holds.saturating_add(1);
            after.released = false;
        }
        EventKind::Release => {
            if before.declared_by.is_none() {
                return Err(Rejection::NotDeclared);
            }
            if before.open_holds > 0 {
                return Err(Rejection::OpenHolds {
                    count: before.open_holds,
                });
            }
            if before.risk != Some(RiskStatus::Approved) {
                return Err(Rejection::RiskNotApproved {
                    status: before.risk,
                });
            }
            after.released = true;
        }
        EventKind::Seize { .. } => after.seized = true,
        // A register entry: no custody meaning; the permission table keeps it to customs.
        // An observation returned above; a capture with a meaning matched its meaning.
        EventKind::Accredit(_) | EventKind::RevokeAccreditation(_) | EventKind::Epcis(_) => {}
    }
    Ok(after)
}

/// A block's Merkle leaves, in order: what its `events_root` and the `log_root` commit to.
pub fn event_leaves(events: &[CheckedEvent]) -> Vec<Hash> {
    events.iter().map(CheckedEvent::leaf).collect()
}

#[cfg(test)]
mod spent_nonces_tests {
    use super::*;

    #[test]
    fn storage_bytes_round_trip_and_read_the_old_last_nonce() {
        let mut spent = SpentNonces::default();
        for nonce in [7, 3, 9] {
            spent.spend(nonce, NONCE_WINDOW);
        }
        let bytes = spent.to_bytes();
        assert_eq!(SpentNonces::from_bytes(&bytes), Some(spent.clone()));
        assert_eq!(spent.highest(), 9);
        assert!(spent.is_spent(3) && !spent.is_spent(4) && !spent.is_spent(10));
        // Eight bytes: a ledger's last nonce from before the window; everything up to it spent.
        let old = SpentNonces::from_bytes(&42u64.to_be_bytes()).expect("old format");
        assert!(old.is_spent(42) && old.is_spent(1) && !old.is_spent(43));
        assert_eq!(old.highest(), 42);
        // Not an encoding: empty, ragged, out of order, at or below the floor.
        let pair = |a: u64, b: u64| [a.to_be_bytes(), b.to_be_bytes()].concat();
        for bad in [vec![], vec![0u8; 9], pair(5, 5), pair(5, 3)] {
            assert_eq!(SpentNonces::from_bytes(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn without_a_window_nonces_must_strictly_increase() {
        let window = RulesVersion::STRICT_NONCES.nonce_window();
        let mut spent = SpentNonces::default();
        spent.spend(7, window);
        assert!(spent.is_spent(3) && spent.is_spent(7) && !spent.is_spent(8));
        assert_eq!(spent.to_bytes(), 7u64.to_be_bytes());
        let window = RulesVersion::NONCE_WINDOW.nonce_window();
        spent.spend(9, window);
        assert!(!spent.is_spent(8), "the window lets 8 follow 9");
    }
}
