//! Shipment lifecycle events (DESIGN.md §3): EPCIS 2.0 what/when/where/why, with customs terms in
//! our own vocabulary, signed by an organisation's key.
//!
//! This module knows what a well-formed event is on its own (stateless validation). Whether its
//! signer may sign it, and whether it fits the shipment's custody so far, is decided at
//! execution against the genesis and the ledger state.

use std::collections::BTreeSet;
use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::crypto::{self, CryptoError, Hash, Keypair, PublicKey, Signature, tag};
use crate::ids::*;
use crate::limits::*;
use crate::particulars::DeclarationSummary;

/// The signed content of an event. Its signer, nonce and chain are inside what is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    pub chain_id: ChainId,
    pub signer: KeyId,
    /// The replay guard: each nonce is spent once per signer. Signers use increasing nonces;
    /// the chain applies one that arrives after up to `NONCE_WINDOW` later ones
    /// (`execution::SpentNonces`).
    pub nonce: u64,
    /// When it happened, Unix milliseconds (EPCIS eventTime).
    pub event_time_ms: u64,
    /// The local offset where it happened, minutes east of UTC (EPCIS eventTimeZoneOffset).
    pub timezone_offset_minutes: i16,
    pub shipment: ShipmentId,
    pub kind: EventKind,
    pub read_point: Option<Location>,
    pub biz_location: Option<Location>,
    pub epcs: Vec<Epc>,
    pub biz_transactions: Vec<BizTransaction>,
}

/// What happened. Who may sign each kind is the genesis permission table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventKind {
    /// A brand brings serials (the EPCs) into existence under its own GS1 company prefix.
    Commission,
    /// A brand retires serials: destroyed, expired, recalled.
    Decommission {
        reason: Text,
    },
    /// A platform files the pre-arrival declaration for the consignment: its public summary,
    /// which commits to the private particulars (`particulars`).
    Declare(Box<DeclarationSummary>),
    /// Items (the EPCs) go into a parcel.
    Pack {
        parcel: Sscc,
    },
    /// Items (the EPCs) come out of a parcel.
    Unpack {
        parcel: Sscc,
    },
    /// A carrier takes the consignment from the shipper: custody starts.
    PickUp,
    /// The custodian offers custody to another carrier.
    HandOver {
        to: OrgId,
    },
    /// The receiving carrier countersigns a hand-over: custody moves.
    Accept {
        from: OrgId,
    },
    Depart,
    Arrive,
    /// Handed to the consignee: custody ends.
    Deliver,
    /// Sent back after delivery or refusal.
    Return {
        reason: Text,
    },
    /// The customs risk engine's result for the consignment.
    RiskAssessed {
        status: RiskStatus,
    },
    Inspect {
        result: InspectionResult,
        note: Text,
    },
    Hold {
        reason: Text,
    },
    Release,
    Seize {
        reason: Text,
    },
    /// An annotation on a serial by a brand or customs; never changes custody.
    Flag {
        serial: Sgtin,
        suspicion: Text,
    },
    /// Erases the declaration's private particulars wherever they are held (an erasure
    /// request, or the end of a retention period). Names the commitment, carries no personal
    /// data; the summary and every proof stay.
    Purge {
        particulars: Hash,
    },
    /// Customs accredits an operator in a trusted-trader programme (AEO, CTPAT, trust and
    /// check), for a period; filed on a register shipment of customs' choosing and indexed by
    /// the operator's registration (and its member id, if it is a member).
    Accredit(Box<Accreditation>),
    /// Customs ends an accreditation before its term (revoked or suspended) from a day on.
    RevokeAccreditation(Box<Revocation>),
    /// An EPCIS 2.0 event captured onto the ledger (rules version 4), with the custody or
    /// customs meaning its signer claims for it, if any (`epcis::capture`).
    Epcis(Box<EpcisCapture>),
}

/// An EPCIS 2.0 event as captured, and the ledger meaning its signer claims for it. Without a
/// meaning it is an observation: indexed on its keys, with no custody effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct EpcisCapture {
    /// What it means on the ledger: a kind the CBV terms of `content` allow (the mapping table
    /// of `epcis::capture`), never itself a capture.
    pub meaning: Option<EventKind>,
    /// The event as captured, in canonical JSON (`EpcisEvent::canonical_bytes`).
    pub content: EpcisContent,
}

/// Canonical EPCIS event JSON: bytes on the ledger, a JSON object in the API.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct EpcisContent(pub Vec<u8>);

impl Serialize for EpcisContent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_slice::<serde_json::Value>(&self.0) {
            Ok(value) => value.serialize(serializer),
            // Not JSON (validation refuses such an event): shown as text, not hidden.
            Err(_) => String::from_utf8_lossy(&self.0).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for EpcisContent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let mut bytes = Vec::new();
        crate::epcis::canonical_json(&value, &mut bytes);
        Ok(EpcisContent(bytes))
    }
}

/// An operator's accreditation in a trusted-trader programme. Programme and tier names are
/// data: the customs policy gives them their effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Accreditation {
    /// The operator's registration (EORI or the programme's equivalent).
    pub operator: Reference,
    /// The ledger member this operator is, if it is one (a platform, a carrier).
    pub member: Option<OrgId>,
    pub programme: Text,
    pub tier: Text,
    /// Unix milliseconds; in force from `valid_from_ms` until before `valid_until_ms`.
    pub valid_from_ms: u64,
    pub valid_until_ms: u64,
}

/// The end of an accreditation before its term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    pub operator: Reference,
    pub member: Option<OrgId>,
    pub programme: Text,
    /// Unix milliseconds from which the accreditation no longer counts.
    pub effective_ms: u64,
    pub reason: Text,
}

/// The kind of an event without its data: what the permission table speaks of.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Commission,
    Decommission,
    Declare,
    Pack,
    Unpack,
    PickUp,
    HandOver,
    Accept,
    Depart,
    Arrive,
    Deliver,
    Return,
    RiskAssessed,
    Inspect,
    Hold,
    Release,
    Seize,
    Flag,
    Purge,
    Accredit,
    RevokeAccreditation,
    /// An EPCIS capture without custody meaning (rules version 4).
    Observe,
}

impl EventType {
    pub const ALL: [EventType; 22] = [
        EventType::Commission,
        EventType::Decommission,
        EventType::Declare,
        EventType::Pack,
        EventType::Unpack,
        EventType::PickUp,
        EventType::HandOver,
        EventType::Accept,
        EventType::Depart,
        EventType::Arrive,
        EventType::Deliver,
        EventType::Return,
        EventType::RiskAssessed,
        EventType::Inspect,
        EventType::Hold,
        EventType::Release,
        EventType::Seize,
        EventType::Flag,
        EventType::Purge,
        EventType::Accredit,
        EventType::RevokeAccreditation,
        EventType::Observe,
    ];

    /// The name used in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Commission => "commission",
            EventType::Decommission => "decommission",
            EventType::Declare => "declare",
            EventType::Pack => "pack",
            EventType::Unpack => "unpack",
            EventType::PickUp => "pick_up",
            EventType::HandOver => "hand_over",
            EventType::Accept => "accept",
            EventType::Depart => "depart",
            EventType::Arrive => "arrive",
            EventType::Deliver => "deliver",
            EventType::Return => "return",
            EventType::RiskAssessed => "risk_assessed",
            EventType::Inspect => "inspect",
            EventType::Hold => "hold",
            EventType::Release => "release",
            EventType::Seize => "seize",
            EventType::Flag => "flag",
            EventType::Purge => "purge",
            EventType::Accredit => "accredit",
            EventType::RevokeAccreditation => "revoke_accreditation",
            EventType::Observe => "observe",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl EventKind {
    pub fn event_type(&self) -> EventType {
        match self {
            EventKind::Commission => EventType::Commission,
            EventKind::Decommission { .. } => EventType::Decommission,
            EventKind::Declare(_) => EventType::Declare,
            EventKind::Pack { .. } => EventType::Pack,
            EventKind::Unpack { .. } => EventType::Unpack,
            EventKind::PickUp => EventType::PickUp,
            EventKind::HandOver { .. } => EventType::HandOver,
            EventKind::Accept { .. } => EventType::Accept,
            EventKind::Depart => EventType::Depart,
            EventKind::Arrive => EventType::Arrive,
            EventKind::Deliver => EventType::Deliver,
            EventKind::Return { .. } => EventType::Return,
            EventKind::RiskAssessed { .. } => EventType::RiskAssessed,
            EventKind::Inspect { .. } => EventType::Inspect,
            EventKind::Hold { .. } => EventType::Hold,
            EventKind::Release => EventType::Release,
            EventKind::Seize { .. } => EventType::Seize,
            EventKind::Flag { .. } => EventType::Flag,
            EventKind::Purge { .. } => EventType::Purge,
            EventKind::Accredit(_) => EventType::Accredit,
            EventKind::RevokeAccreditation(_) => EventType::RevokeAccreditation,
            EventKind::Epcis(capture) => capture
                .meaning
                .as_ref()
                .map_or(EventType::Observe, EventKind::event_type),
        }
    }

    /// What the event means on the ledger: a capture's meaning, or the kind itself (an
    /// observation is its capture). Custody rules, indexing and readers go by this.
    pub fn effective(&self) -> &EventKind {
        match self {
            EventKind::Epcis(capture) => capture.meaning.as_ref().unwrap_or(self),
            kind => kind,
        }
    }

    /// The capture, if the event is one.
    pub fn capture(&self) -> Option<&EpcisCapture> {
        match self {
            EventKind::Epcis(capture) => Some(capture),
            _ => None,
        }
    }
}

/// The pre-arrival declaration a platform files (the customs data set for low-value consignments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    pub consignor: Party,
    pub consignee: Party,
    /// The marketplace seller, where it is not the consignor.
    pub seller: Option<Party>,
    pub items: Vec<DeclaredItem>,
    /// One invoice currency for every item value.
    pub currency: CurrencyCode,
    pub pieces: u32,
    pub gross_mass_g: u64,
    pub ioss: Option<IossNumber>,
}

impl Declaration {
    /// The sum of item values in minor units of `currency`, or `None` if it overflows.
    pub fn total_value_minor(&self) -> Option<u64> {
        self.items
            .iter()
            .try_fold(0u64, |sum, item| sum.checked_add(item.value_minor))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub name: PartyName,
    pub address: Option<Address>,
    pub country: CountryCode,
    /// An EORI, VAT or tax number, where the party has one.
    pub registration: Option<Reference>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct DeclaredItem {
    pub description: Text,
    pub hs6: HsCode,
    pub gtin: Option<Gtin>,
    pub quantity: u32,
    /// The line's value (all units), in minor units of the declaration's currency.
    pub value_minor: u64,
    pub origin: CountryCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case")]
pub enum RiskStatus {
    Approved,
    /// Request for information: the declaration must be completed before loading.
    RequestForInformation,
    /// Screening required before loading.
    Screen,
    DoNotLoad,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case")]
pub enum InspectionResult {
    Compliant,
    Discrepancy,
    Prohibited,
}

/// A place (EPCIS readPoint / bizLocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub id: LocationId,
    pub geo: Option<GeoPoint>,
}

/// WGS 84 coordinates in units of 10⁻⁷ degree: integers, so every node hashes the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    pub latitude_e7: i32,
    pub longitude_e7: i32,
}

/// An item serial (SGTIN: GTIN + serial).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
)]
#[serde(deny_unknown_fields)]
pub struct Sgtin {
    pub gtin: Gtin,
    pub serial: Serial,
}

/// An EPC named by an event: a serialised item or a logistic unit.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum Epc {
    Sgtin(Sgtin),
    Sscc(Sscc),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct BizTransaction {
    pub kind: BizTransactionKind,
    pub id: DocumentId,
}

/// Business document kinds (CBV btt, plus the customs movement reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case")]
pub enum BizTransactionKind {
    PurchaseOrder,
    Invoice,
    BillOfLading,
    AirWaybill,
    HouseAirWaybill,
    /// A customs Movement Reference Number.
    MovementReference,
    DespatchAdvice,
    /// The sender's statement that the consignment is a gift between private persons (the
    /// "gift" category of a CN 22 / CN 23 customs declaration), by the form's number.
    GiftDeclaration,
}

/// An event with its signature. Its id (`H(signing bytes)`) does not depend on the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct SignedEvent {
    pub body: EventBody,
    pub signature: Signature,
}

/// Why an event is not well formed. Each variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("chain_id: event is for chain {found}, this is chain {expected}")]
    WrongChain { expected: ChainId, found: ChainId },
    #[error("event_time_ms: {time_ms} is before {min_ms} (2020-01-01)")]
    TimeTooEarly { time_ms: u64, min_ms: u64 },
    #[error(
        "event_time_ms: {time_ms} is {ahead_ms} ms in the future (at most {max_ms} ms of clock skew)"
    )]
    TimeInFuture {
        time_ms: u64,
        ahead_ms: u64,
        max_ms: u64,
    },
    #[error("{field}: {value} is outside {min}..={max}")]
    OutOfRange {
        field: &'static str,
        value: i64,
        min: i64,
        max: i64,
    },
    #[error("{field}: {count} entries, at most {max} allowed")]
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{field}: must not be empty for a {event_type} event")]
    Empty {
        field: &'static str,
        event_type: EventType,
    },
    #[error("{field}: {value} appears more than once")]
    Duplicate { field: &'static str, value: String },
    #[error("{field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    #[error("event: {bytes} bytes in its canonical encoding, at most {max} allowed")]
    TooLarge { bytes: usize, max: usize },
    #[error("kind.content{pointer}: {reason}")]
    Epcis { pointer: String, reason: String },
    #[error("event: {0}")]
    Encoding(#[from] CodecError),
    #[error("signature: {0}")]
    Signature(#[from] CryptoError),
}

impl EventError {
    /// Whether the failure depends on the checker's clock (an event from the future by this
    /// node's clock may be fine by another's): a peer that relays such an event is not faulty.
    pub fn depends_on_clock(&self) -> bool {
        matches!(self, EventError::TimeInFuture { .. })
    }
}

impl EventBody {
    /// Checks everything that can be checked without the ledger: the chain, the clock, sizes and
    /// the rules of each kind. `now_ms` is the checker's clock (execution passes block time).
    pub fn validate(&self, chain_id: &ChainId, now_ms: u64) -> Result<(), EventError> {
        if &self.chain_id != chain_id {
            return Err(EventError::WrongChain {
                expected: chain_id.clone(),
                found: self.chain_id.clone(),
            });
        }
        if self.event_time_ms < EVENT_TIME_MS_MIN {
            return Err(EventError::TimeTooEarly {
                time_ms: self.event_time_ms,
                min_ms: EVENT_TIME_MS_MIN,
            });
        }
        let ahead_ms = self.event_time_ms.saturating_sub(now_ms);
        if ahead_ms > EVENT_TIME_FUTURE_SKEW_MS_MAX {
            return Err(EventError::TimeInFuture {
                time_ms: self.event_time_ms,
                ahead_ms,
                max_ms: EVENT_TIME_FUTURE_SKEW_MS_MAX,
            });
        }
        check_range(
            "timezone_offset_minutes",
            i64::from(self.timezone_offset_minutes),
            i64::from(TIMEZONE_OFFSET_MINUTES_MIN),
            i64::from(TIMEZONE_OFFSET_MINUTES_MAX),
        )?;
        for (field, location) in [
            ("read_point.geo", &self.read_point),
            ("biz_location.geo", &self.biz_location),
        ] {
            if let Some(geo) = location.as_ref().and_then(|l| l.geo) {
                geo.validate(field)?;
            }
        }
        check_count("epcs", self.epcs.len(), EPCS_PER_EVENT_MAX)?;
        check_count(
            "biz_transactions",
            self.biz_transactions.len(),
            BIZ_TRANSACTIONS_PER_EVENT_MAX,
        )?;
        let mut seen = BTreeSet::new();
        for epc in &self.epcs {
            if !seen.insert(epc) {
                return Err(EventError::Duplicate {
                    field: "epcs",
                    value: epc.to_string(),
                });
            }
        }
        self.validate_kind()
    }

    fn validate_kind(&self) -> Result<(), EventError> {
        if let EventKind::Epcis(capture) = &self.kind {
            crate::epcis::capture::check(self, capture)?;
        }
        let event_type = self.kind.event_type();
        let needs_epcs = || {
            if self.epcs.is_empty() {
                Err(EventError::Empty {
                    field: "epcs",
                    event_type,
                })
            } else {
                Ok(())
            }
        };
        let only_items = || {
            if self.epcs.iter().all(|epc| matches!(epc, Epc::Sgtin(_))) {
                Ok(())
            } else {
                Err(EventError::Invalid {
                    field: "epcs",
                    reason: "only item serials (SGTIN) can be commissioned or decommissioned",
                })
            }
        };
        match self.kind.effective() {
            EventKind::Commission | EventKind::Decommission { .. } => {
                needs_epcs()?;
                only_items()
            }
            EventKind::Pack { parcel } | EventKind::Unpack { parcel } => {
                needs_epcs()?;
                if self.epcs.contains(&Epc::Sscc(parcel.clone())) {
                    return Err(EventError::Invalid {
                        field: "epcs",
                        reason: "a parcel cannot contain itself",
                    });
                }
                Ok(())
            }
            EventKind::HandOver { to } if to == &self.signer.org => Err(EventError::Invalid {
                field: "kind.to",
                reason: "a custodian cannot hand over to itself",
            }),
            EventKind::Accept { from } if from == &self.signer.org => Err(EventError::Invalid {
                field: "kind.from",
                reason: "a carrier cannot accept a hand-over from itself",
            }),
            EventKind::Declare(summary) => summary.validate(),
            EventKind::Accredit(accreditation)
                if accreditation.valid_until_ms <= accreditation.valid_from_ms =>
            {
                Err(EventError::Invalid {
                    field: "kind.valid_until_ms",
                    reason: "an accreditation must end after it starts",
                })
            }
            _ => Ok(()),
        }
    }
}

impl DeclarationSummary {
    fn validate(&self) -> Result<(), EventError> {
        if self.goods.is_empty() {
            return Err(EventError::Empty {
                field: "kind.goods",
                event_type: EventType::Declare,
            });
        }
        check_count("kind.goods", self.goods.len(), DECLARED_ITEMS_PER_EVENT_MAX)?;
        if self.pieces == 0 {
            return Err(EventError::Invalid {
                field: "kind.pieces",
                reason: "a consignment has at least one piece",
            });
        }
        if self.gross_mass_g == 0 {
            return Err(EventError::Invalid {
                field: "kind.gross_mass_g",
                reason: "a consignment has a gross mass above zero",
            });
        }
        if self.goods.iter().any(|line| line.quantity == 0) {
            return Err(EventError::Invalid {
                field: "kind.goods.quantity",
                reason: "every declared line has a quantity of at least one",
            });
        }
        Ok(())
    }
}

/// Why a `LATITUDE,LONGITUDE` text is not a [`GeoPoint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    #[error("{0:?}: expected LATITUDE,LONGITUDE in decimal degrees, such as 52.3676,4.9041")]
    Shape(String),
    #[error("{part} {value:?}: at most 7 decimal places (10⁻⁷ degree, about 1 cm)")]
    Precision { part: &'static str, value: String },
    #[error("{part} {value:?}: outside -{max}..={max} degrees")]
    Range {
        part: &'static str,
        value: String,
        max: u32,
    },
}

impl std::str::FromStr for GeoPoint {
    type Err = GeoError;

    /// `LATITUDE,LONGITUDE` in decimal degrees, read exactly (no floating point, so the same
    /// text gives the same integers everywhere).
    fn from_str(text: &str) -> Result<GeoPoint, GeoError> {
        let (latitude, longitude) = text
            .split_once(',')
            .ok_or_else(|| GeoError::Shape(text.to_string()))?;
        Ok(GeoPoint {
            latitude_e7: degrees_e7("latitude", latitude.trim(), 90, text)?,
            longitude_e7: degrees_e7("longitude", longitude.trim(), 180, text)?,
        })
    }
}

/// One coordinate in units of 10⁻⁷ degree, within ±`max` degrees.
fn degrees_e7(
    part: &'static str,
    value: &str,
    max: u32,
    whole_text: &str,
) -> Result<i32, GeoError> {
    let shape = || GeoError::Shape(whole_text.to_string());
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 3 || !all_digits(whole) || !all_digits(fraction) {
        return Err(shape());
    }
    if digits.ends_with('.') {
        return Err(shape());
    }
    if fraction.len() > 7 {
        return Err(GeoError::Precision {
            part,
            value: value.to_string(),
        });
    }
    // At most 3 + 7 digits: no overflow in i64.
    let units: i64 = format!("{whole}{fraction:0<7}")
        .parse()
        .map_err(|_| shape())?;
    let units = if negative { -units } else { units };
    let limit = i64::from(max) * 10_000_000;
    if units.abs() > limit {
        return Err(GeoError::Range {
            part,
            value: value.to_string(),
            max,
        });
    }
    i32::try_from(units).map_err(|_| shape())
}

impl GeoPoint {
    fn validate(&self, field: &'static str) -> Result<(), EventError> {
        check_range(
            field,
            i64::from(self.latitude_e7),
            -900_000_000,
            900_000_000,
        )?;
        check_range(
            field,
            i64::from(self.longitude_e7),
            -1_800_000_000,
            1_800_000_000,
        )
    }
}

fn check_range(field: &'static str, value: i64, min: i64, max: i64) -> Result<(), EventError> {
    if value < min || value > max {
        return Err(EventError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

fn check_count(field: &'static str, count: usize, max: usize) -> Result<(), EventError> {
    if count > max {
        return Err(EventError::TooMany { field, count, max });
    }
    Ok(())
}

impl fmt::Display for Epc {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Epc::Sgtin(sgtin) => write!(formatter, "{sgtin}"),
            Epc::Sscc(sscc) => write!(formatter, "sscc:{sscc}"),
        }
    }
}

impl fmt::Display for Sgtin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "sgtin:{}.{}", self.gtin, self.serial)
    }
}

impl SignedEvent {
    /// Signs `body` with `keypair`. The caller picks the key named by `body.signer`.
    pub fn sign(body: EventBody, keypair: &Keypair) -> SignedEvent {
        let signature = keypair.sign(&body.signing_bytes());
        SignedEvent { body, signature }
    }

    /// The event id: `H(signing bytes)`, the same whatever signature bytes accompany it.
    pub fn id(&self) -> Hash {
        self.body.id()
    }

    /// Verifies the signature with `verify_strict` against the signer's public key.
    pub fn verify_signature(&self, signer_key: &PublicKey) -> Result<(), EventError> {
        signer_key.verify(&self.body.signing_bytes(), &self.signature)?;
        Ok(())
    }

    /// The canonical bytes of the whole signed event.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes one signed event, bounded by [`EVENT_ENCODED_BYTES_MAX`].
    pub fn decode(bytes: &[u8]) -> Result<SignedEvent, EventError> {
        Ok(codec::decode(
            "signed event",
            bytes,
            EVENT_ENCODED_BYTES_MAX,
        )?)
    }
}

impl EventBody {
    /// `tag ‖ chain_id ‖ body`: what the signer signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        crypto::signing_bytes(tag::EVENT, &self.chain_id, self)
    }

    pub fn id(&self) -> Hash {
        Hash::of_parts(&[&self.signing_bytes()])
    }
}

/// Builds an [`EventBody`] field by field; the required fields come first.
#[derive(Debug, Clone)]
pub struct EventBuilder {
    body: EventBody,
}

impl EventBuilder {
    pub fn new(
        chain_id: ChainId,
        signer: KeyId,
        nonce: u64,
        shipment: ShipmentId,
        kind: EventKind,
        event_time_ms: u64,
    ) -> EventBuilder {
        EventBuilder {
            body: EventBody {
                chain_id,
                signer,
                nonce,
                event_time_ms,
                timezone_offset_minutes: 0,
                shipment,
                kind,
                read_point: None,
                biz_location: None,
                epcs: Vec::new(),
                biz_transactions: Vec::new(),
            },
        }
    }

    pub fn timezone_offset_minutes(mut self, minutes: i16) -> EventBuilder {
        self.body.timezone_offset_minutes = minutes;
        self
    }

    pub fn read_point(mut self, location: Location) -> EventBuilder {
        self.body.read_point = Some(location);
        self
    }

    pub fn biz_location(mut self, location: Location) -> EventBuilder {
        self.body.biz_location = Some(location);
        self
    }

    pub fn epc(mut self, epc: Epc) -> EventBuilder {
        self.body.epcs.push(epc);
        self
    }

    pub fn epcs(mut self, epcs: impl IntoIterator<Item = Epc>) -> EventBuilder {
        self.body.epcs.extend(epcs);
        self
    }

    pub fn biz_transaction(mut self, kind: BizTransactionKind, id: DocumentId) -> EventBuilder {
        self.body.biz_transactions.push(BizTransaction { kind, id });
        self
    }

    pub fn build(self) -> EventBody {
        self.body
    }

    pub fn sign(self, keypair: &Keypair) -> SignedEvent {
        SignedEvent::sign(self.body, keypair)
    }
}
