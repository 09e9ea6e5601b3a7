//! The genesis: the chain's constitution. Which organisations take part, in which roles, with
//! which keys; which nodes validate; the consensus parameters; who may sign which event kinds.
//!
//! Every node and every client holds the same file; its hash names the network's rules.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::block::ValidatorIndex;
use crate::codec;
use crate::crypto::{CryptoError, Hash, PublicKey, tag};
use crate::event::EventType;
use crate::execution::ShipmentState;
use crate::ids::*;
use crate::limits::*;
use crate::particulars::ParticularsPart;
use crate::rules_version::{self, RulesActivation, RulesVersion};

/// What an organisation is to the network.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customs,
    Platform,
    Carrier,
    Brand,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Customs, Role::Platform, Role::Carrier, Role::Brand];

    pub fn name(self) -> &'static str {
        match self {
            Role::Customs => "customs",
            Role::Platform => "platform",
            Role::Carrier => "carrier",
            Role::Brand => "brand",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: ChainId,
    /// Unix milliseconds; the first block's time must be later.
    pub genesis_time_ms: u64,
    pub organisations: Vec<Organisation>,
    /// In this order: a validator's index is its position here, and proposers rotate over it.
    pub validators: Vec<Validator>,
    pub consensus: ConsensusParameters,
    /// Who may sign which event kinds; one entry per role, in role order.
    pub permissions: Vec<Permission>,
    /// Who may read what at every node's API; one entry per role, in role order. A role
    /// without an entry reads nothing beyond liveness.
    #[serde(default = "default_read_policy")]
    pub read_policy: Vec<ReadGrant>,
    /// Days after its event time that a declaration's private particulars are purged at every
    /// node holding them, without a purge event; `None` (the default) keeps them until one.
    #[serde(default)]
    pub particulars_retention_days: Option<u32>,
    /// Parts of declarations' particulars a role reads beyond customs and the declarer, while
    /// a condition on the shipment holds (the delivery address to the carrier on the last
    /// mile). One entry per role, in role order; never the values. Default: none.
    #[serde(default)]
    pub particulars_grants: Vec<ParticularsGrant>,
    /// Which execution rules apply from which height; default: the latest from block 1.
    #[serde(default = "crate::rules_version::default_schedule")]
    pub rules: Vec<RulesActivation>,
}

/// A grant of some parts of a declaration's particulars to a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct ParticularsGrant {
    pub role: Role,
    /// In part order, no repeats; never `values`.
    pub parts: Vec<ParticularsPart>,
    pub when: GrantCondition,
}

/// When a grant of particulars applies to an organisation, judged on the shipment's state.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum GrantCondition {
    /// It holds custody of the shipment, until delivery, return or seizure.
    HoldsCustody,
    /// It holds custody of a shipment customs released: the last mile.
    LastMile,
}

impl GrantCondition {
    pub fn name(self) -> &'static str {
        match self {
            GrantCondition::HoldsCustody => "holds_custody",
            GrantCondition::LastMile => "last_mile",
        }
    }

    /// Whether `org` meets the condition for a shipment in `state`.
    pub fn holds(self, org: &OrgId, state: &ShipmentState) -> bool {
        let in_custody = state.custodian.as_ref() == Some(org)
            && !(state.delivered || state.returned || state.seized);
        match self {
            GrantCondition::HoldsCustody => in_custody,
            GrantCondition::LastMile => in_custody && state.released,
        }
    }
}

/// "delivery while last_mile".
impl fmt::Display for ParticularsGrant {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = self.parts.iter().map(|part| part.name()).collect();
        write!(formatter, "{} while {}", parts.join(", "), self.when)
    }
}

impl fmt::Display for GrantCondition {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// What a role may read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum ReadScope {
    /// Every block, listing, stream, history and metric.
    Everything,
    /// The histories of shipments the organisation is a party to: it signed one of their
    /// events (declared, held, inspected) or was offered their custody.
    PartyToShipment,
    /// The histories of serials under its GS1 company prefixes, the shipments that name them,
    /// and the serial listings of its GTINs.
    OwnSerials,
}

impl ReadScope {
    pub fn name(self) -> &'static str {
        match self {
            ReadScope::Everything => "everything",
            ReadScope::PartyToShipment => "party_to_shipment",
            ReadScope::OwnSerials => "own_serials",
        }
    }
}

impl fmt::Display for ReadScope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct ReadGrant {
    pub role: Role,
    /// In scope order, no repeats.
    pub scopes: Vec<ReadScope>,
}

/// The default read policy: customs read everything; platforms and carriers the shipments
/// they are party to; brands their own serials and the shipments that name them.
pub fn default_read_policy() -> Vec<ReadGrant> {
    let grant = |role, scopes: &[ReadScope]| ReadGrant {
        role,
        scopes: scopes.to_vec(),
    };
    vec![
        grant(Role::Customs, &[ReadScope::Everything]),
        grant(Role::Platform, &[ReadScope::PartyToShipment]),
        grant(Role::Carrier, &[ReadScope::PartyToShipment]),
        grant(
            Role::Brand,
            &[ReadScope::PartyToShipment, ReadScope::OwnSerials],
        ),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    pub id: OrgId,
    pub name: PartyName,
    pub country: CountryCode,
    /// In role order, no repeats.
    pub roles: Vec<Role>,
    /// Event signing keys; an event's `KeyId.index` is a position in this list.
    pub signing_keys: Vec<PublicKey>,
    /// The serial spaces a brand owns; empty for other roles.
    pub gs1_prefixes: Vec<Gs1CompanyPrefix>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    /// A name for people and logs, unique in the genesis (e.g. `customs-0`).
    pub name: OrgId,
    /// The organisation that runs this node.
    pub operator: OrgId,
    /// Signs votes and proposals, and is the node's libp2p identity.
    pub node_key: PublicKey,
    pub p2p_address: NetworkAddress,
    pub api_address: NetworkAddress,
    /// The API's TLS key: clients accept only this key from this validator's API, so they
    /// need no certificate authority. Not the node key: the API host is the more exposed one.
    pub api_key: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct ConsensusParameters {
    /// Round r waits `base + r × increase` for each step, capped at `TIMEOUT_MS_MAX`.
    pub timeout_propose_ms: u64,
    pub timeout_propose_increase_ms: u64,
    pub timeout_prevote_ms: u64,
    pub timeout_prevote_increase_ms: u64,
    pub timeout_precommit_ms: u64,
    pub timeout_precommit_increase_ms: u64,
    pub block_events_max: u32,
    pub block_bytes_max: u32,
}

impl Default for ConsensusParameters {
    fn default() -> ConsensusParameters {
        ConsensusParameters {
            timeout_propose_ms: 1_000,
            timeout_propose_increase_ms: 500,
            timeout_prevote_ms: 500,
            timeout_prevote_increase_ms: 250,
            timeout_precommit_ms: 500,
            timeout_precommit_increase_ms: 250,
            block_events_max: 5_000,
            block_bytes_max: 8 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    pub role: Role,
    /// In kind order, no repeats.
    pub event_types: Vec<EventType>,
}

/// The members of a default local network, in validator-operator order: id, name, country,
/// role. The first four take turns running validators; the brand owner runs none.
pub const TESTNET_ORGANISATIONS: [(&str, &str, &str, Role); 6] = [
    ("customs", "Customs Administration", "NL", Role::Customs),
    ("platform", "Marketplace Platform", "NL", Role::Platform),
    ("carrier-a", "Carrier A Express", "CN", Role::Carrier),
    ("carrier-b", "Carrier B Logistics", "NL", Role::Carrier),
    ("brand", "Brand Owner", "DE", Role::Brand),
    // A second platform: competitors on one ledger must not read each other's shipments.
    ("platform-b", "Other Marketplace", "FR", Role::Platform),
];
/// How many of [`TESTNET_ORGANISATIONS`] run validators.
pub const TESTNET_VALIDATOR_OPERATORS: usize = 4;
/// The brand's GS1 company prefix in a default local network.
pub const TESTNET_BRAND_GS1_PREFIX: &str = "4012345";

/// The permission table of DESIGN.md §3; every role may record EPCIS observations (§13).
pub fn default_permissions() -> Vec<Permission> {
    use EventType::*;
    let table: [(Role, &[EventType]); 4] = [
        (
            Role::Customs,
            &[
                RiskAssessed,
                Inspect,
                Hold,
                Release,
                Seize,
                Flag,
                Purge,
                Accredit,
                RevokeAccreditation,
                Observe,
            ],
        ),
        (Role::Platform, &[Declare, Pack, Unpack, Purge, Observe]),
        (
            Role::Carrier,
            &[
                Pack, Unpack, PickUp, HandOver, Accept, Depart, Arrive, Deliver, Return, Observe,
            ],
        ),
        (
            Role::Brand,
            &[Commission, Decommission, Pack, Unpack, Flag, Observe],
        ),
    ];
    table
        .into_iter()
        .map(|(role, kinds)| {
            let mut event_types = kinds.to_vec();
            event_types.sort();
            Permission { role, event_types }
        })
        .collect()
}

/// Why a genesis is refused. Each variant says where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("organisations: the list is empty")]
    NoOrganisations,
    #[error("validators: the list is empty; a network needs at least one validator")]
    NoValidators,
    #[error("{field}: {count} entries, at most {max} allowed")]
    TooMany {
        field: String,
        count: usize,
        max: usize,
    },
    #[error("{field}: {value} appears more than once")]
    Duplicate { field: String, value: String },
    #[error("{field}: {value} is used both as {first} and as {second}")]
    KeyReused {
        field: String,
        value: String,
        first: String,
        second: String,
    },
    #[error("{field}: {source}")]
    BadKey {
        field: String,
        #[source]
        source: CryptoError,
    },
    #[error("{field}: must not be empty")]
    Empty { field: String },
    #[error("{field}: entries must be in ascending order")]
    Unordered { field: String },
    #[error("{field}: organisation {org} is not in the genesis")]
    UnknownOrganisation { field: String, org: OrgId },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl Genesis {
    /// `H("waybill/genesis/v1" ‖ encode(genesis))`: names this network's rules.
    pub fn hash(&self) -> Hash {
        Hash::tagged(tag::GENESIS, &codec::encode(self))
    }

    /// `H("waybill/validators/v1" ‖ encode(validators))`, carried by every block header.
    pub fn validators_hash(&self) -> Hash {
        Hash::tagged(tag::VALIDATORS, &codec::encode(&self.validators))
    }

    /// Votes needed for a quorum: more than two thirds of the validators.
    pub fn quorum(&self) -> usize {
        self.validators.len() * 2 / 3 + 1
    }

    pub fn organisation(&self, org: &OrgId) -> Option<&Organisation> {
        self.organisations.iter().find(|o| &o.id == org)
    }

    pub fn signing_key(&self, key: &KeyId) -> Option<&PublicKey> {
        self.organisation(&key.org)?
            .signing_keys
            .get(usize::from(key.index))
    }

    pub fn validator(&self, index: ValidatorIndex) -> Option<&Validator> {
        self.validators.get(usize::from(index.0))
    }

    pub fn validator_by_node_key(
        &self,
        node_key: &PublicKey,
    ) -> Option<(ValidatorIndex, &Validator)> {
        self.validators
            .iter()
            .enumerate()
            .find(|(_, v)| &v.node_key == node_key)
            .map(|(i, v)| (ValidatorIndex(i as u16), v))
    }

    /// Whether an organisation with `roles` may sign an event of `event_type`.
    pub fn may_sign(&self, roles: &[Role], event_type: EventType) -> bool {
        self.permissions
            .iter()
            .any(|p| roles.contains(&p.role) && p.event_types.contains(&event_type))
    }

    /// Checks the constitution is usable and unambiguous. Formats were checked on parse; this
    /// checks sizes, uniqueness, key strength and cross-references.
    pub fn validate(&self) -> Result<(), GenesisError> {
        self.validate_organisations()?;
        self.validate_validators()?;
        self.validate_keys_unique()?;
        self.validate_consensus()?;
        self.validate_permissions()?;
        self.validate_read_policy()?;
        self.validate_particulars_grants()?;
        self.validate_retention()?;
        rules_version::validate_schedule(&self.rules)
    }

    /// The execution rules blocks at `height` run under.
    pub fn rules_version_at(&self, height: u64) -> RulesVersion {
        rules_version::version_at(&self.rules, height)
    }

    fn validate_particulars_grants(&self) -> Result<(), GenesisError> {
        let roles: Vec<Role> = self.particulars_grants.iter().map(|g| g.role).collect();
        check_strictly_ascending("particulars_grants[].role", &roles)?;
        for grant in &self.particulars_grants {
            let field = format!("particulars_grants[{}].parts", grant.role);
            if grant.parts.is_empty() {
                return Err(GenesisError::Empty { field });
            }
            check_strictly_ascending(&field, &grant.parts)?;
            if grant.parts.contains(&ParticularsPart::Values) {
                return Err(GenesisError::Invalid {
                    field,
                    reason: "the values are never granted: they go to customs and the declaring platform only".into(),
                });
            }
        }
        Ok(())
    }

    /// The grant of parts of a declaration's particulars that applies to organisation `org`
    /// for a shipment in `state`; `None` if none does. Customs and the declarer read the whole
    /// particulars ([`Genesis::entitled_to_particulars`]).
    pub fn particulars_grant(
        &self,
        org: &OrgId,
        state: &ShipmentState,
    ) -> Option<&ParticularsGrant> {
        let roles = &self.organisation(org)?.roles;
        self.particulars_grants
            .iter()
            .find(|grant| roles.contains(&grant.role) && grant.when.holds(org, state))
    }

    fn validate_retention(&self) -> Result<(), GenesisError> {
        match self.particulars_retention_days {
            Some(days) if days == 0 || days > PARTICULARS_RETENTION_DAYS_MAX => {
                Err(GenesisError::Invalid {
                    field: "particulars_retention_days".into(),
                    reason: format!(
                        "{days} days; a retention period is 1 to {PARTICULARS_RETENTION_DAYS_MAX} days, or absent to keep particulars until a purge"
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// The retention period of private particulars, if the genesis sets one.
    pub fn particulars_retention_ms(&self) -> Option<u64> {
        self.particulars_retention_days
            .map(|days| u64::from(days) * 86_400_000)
    }

    /// Whether organisation `org` may read (and its nodes hold) the private particulars of a
    /// declaration filed by `declared_by`: customs reading everything, and the declarer.
    pub fn entitled_to_particulars(&self, org: &OrgId, declared_by: &OrgId) -> bool {
        org == declared_by || self.reads_everything(org)
    }

    /// Whether `org` may hold any declaration's particulars: a platform its own, whoever reads
    /// everything all of them. Carriers and brands hold none.
    pub fn holds_particulars(&self, org: &OrgId) -> bool {
        self.reads_everything(org)
            || self
                .organisation(org)
                .is_some_and(|o| o.roles.contains(&Role::Platform))
    }

    fn reads_everything(&self, org: &OrgId) -> bool {
        self.organisation(org)
            .is_some_and(|o| self.read_scopes(&o.roles).contains(&ReadScope::Everything))
    }

    fn validate_read_policy(&self) -> Result<(), GenesisError> {
        let roles: Vec<Role> = self.read_policy.iter().map(|g| g.role).collect();
        check_strictly_ascending("read_policy[].role", &roles)?;
        for grant in &self.read_policy {
            check_strictly_ascending(
                &format!("read_policy[{}].scopes", grant.role),
                &grant.scopes,
            )?;
        }
        Ok(())
    }

    /// What an organisation with `roles` may read: the union of its roles' grants.
    pub fn read_scopes(&self, roles: &[Role]) -> BTreeSet<ReadScope> {
        self.read_policy
            .iter()
            .filter(|grant| roles.contains(&grant.role))
            .flat_map(|grant| grant.scopes.iter().copied())
            .collect()
    }

    fn validate_organisations(&self) -> Result<(), GenesisError> {
        if self.organisations.is_empty() {
            return Err(GenesisError::NoOrganisations);
        }
        check_count("organisations", self.organisations.len(), ORGANISATIONS_MAX)?;
        check_unique(
            "organisations[].id",
            self.organisations.iter().map(|o| &o.id),
        )?;
        let mut brand_prefixes: Vec<(&Gs1CompanyPrefix, &OrgId)> = Vec::new();
        for (i, org) in self.organisations.iter().enumerate() {
            let field = |name: &str| format!("organisations[{i}] ({}).{name}", org.id);
            if org.roles.is_empty() {
                return Err(GenesisError::Empty {
                    field: field("roles"),
                });
            }
            check_strictly_ascending(&field("roles"), &org.roles)?;
            if org.signing_keys.is_empty() {
                return Err(GenesisError::Empty {
                    field: field("signing_keys"),
                });
            }
            check_count(
                &field("signing_keys"),
                org.signing_keys.len(),
                KEYS_PER_ORGANISATION_MAX,
            )?;
            for (k, key) in org.signing_keys.iter().enumerate() {
                key.verifying_key().map_err(|source| GenesisError::BadKey {
                    field: field(&format!("signing_keys[{k}]")),
                    source,
                })?;
            }
            check_count(
                &field("gs1_prefixes"),
                org.gs1_prefixes.len(),
                GS1_PREFIXES_PER_ORGANISATION_MAX,
            )?;
            if !org.gs1_prefixes.is_empty() && !org.roles.contains(&Role::Brand) {
                return Err(GenesisError::Invalid {
                    field: field("gs1_prefixes"),
                    reason: "only a brand owns GS1 company prefixes".into(),
                });
            }
            for prefix in &org.gs1_prefixes {
                if let Some((_, owner)) = brand_prefixes.iter().find(|(p, _)| p.overlaps(prefix)) {
                    return Err(GenesisError::Invalid {
                        field: field("gs1_prefixes"),
                        reason: format!(
                            "prefix {prefix} overlaps a prefix of {owner}: serial ownership would be ambiguous"
                        ),
                    });
                }
                brand_prefixes.push((prefix, &org.id));
            }
        }
        Ok(())
    }

    fn validate_validators(&self) -> Result<(), GenesisError> {
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        check_count("validators", self.validators.len(), VALIDATORS_MAX)?;
        check_unique("validators[].name", self.validators.iter().map(|v| &v.name))?;
        check_unique(
            "validators[].p2p_address",
            self.validators.iter().map(|v| &v.p2p_address),
        )?;
        check_unique(
            "validators[].api_address",
            self.validators.iter().map(|v| &v.api_address),
        )?;
        for (i, validator) in self.validators.iter().enumerate() {
            let field = |name: &str| format!("validators[{i}] ({}).{name}", validator.name);
            if self.organisation(&validator.operator).is_none() {
                return Err(GenesisError::UnknownOrganisation {
                    field: field("operator"),
                    org: validator.operator.clone(),
                });
            }
            for (name, key) in [
                ("node_key", &validator.node_key),
                ("api_key", &validator.api_key),
            ] {
                key.verifying_key().map_err(|source| GenesisError::BadKey {
                    field: field(name),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// No key serves twice: not across organisations, not within one, not as both an event key
    /// and a node key (a node key signs votes; one compromised file must not do both).
    fn validate_keys_unique(&self) -> Result<(), GenesisError> {
        let mut owners: BTreeMap<&PublicKey, String> = BTreeMap::new();
        let org_keys = self.organisations.iter().flat_map(|org| {
            org.signing_keys
                .iter()
                .enumerate()
                .map(move |(k, key)| (key, format!("signing key {}#{k}", org.id)))
        });
        let node_keys = self
            .validators
            .iter()
            .map(|v| (&v.node_key, format!("node key of validator {}", v.name)));
        let api_keys = self
            .validators
            .iter()
            .map(|v| (&v.api_key, format!("API key of validator {}", v.name)));
        for (key, owner) in org_keys.chain(node_keys).chain(api_keys) {
            if let Some(first) = owners.get(key) {
                return Err(GenesisError::KeyReused {
                    field: "keys".into(),
                    value: key.to_hex(),
                    first: first.clone(),
                    second: owner,
                });
            }
            owners.insert(key, owner);
        }
        Ok(())
    }

    fn validate_consensus(&self) -> Result<(), GenesisError> {
        let c = &self.consensus;
        for (name, value) in [
            ("timeout_propose_ms", c.timeout_propose_ms),
            ("timeout_prevote_ms", c.timeout_prevote_ms),
            ("timeout_precommit_ms", c.timeout_precommit_ms),
        ] {
            if !(TIMEOUT_MS_MIN..=TIMEOUT_MS_MAX).contains(&value) {
                return Err(GenesisError::Invalid {
                    field: format!("consensus.{name}"),
                    reason: format!("{value} is outside {TIMEOUT_MS_MIN}..={TIMEOUT_MS_MAX}"),
                });
            }
        }
        for (name, value) in [
            ("timeout_propose_increase_ms", c.timeout_propose_increase_ms),
            ("timeout_prevote_increase_ms", c.timeout_prevote_increase_ms),
            (
                "timeout_precommit_increase_ms",
                c.timeout_precommit_increase_ms,
            ),
        ] {
            if value > TIMEOUT_MS_MAX {
                return Err(GenesisError::Invalid {
                    field: format!("consensus.{name}"),
                    reason: format!("{value} is above {TIMEOUT_MS_MAX}"),
                });
            }
        }
        if c.block_events_max == 0 || c.block_events_max as usize > BLOCK_EVENTS_MAX {
            return Err(GenesisError::Invalid {
                field: "consensus.block_events_max".into(),
                reason: format!("{} is outside 1..={BLOCK_EVENTS_MAX}", c.block_events_max),
            });
        }
        let bytes_min = EVENT_ENCODED_BYTES_MAX as u32;
        if c.block_bytes_max < bytes_min || c.block_bytes_max as usize > BLOCK_ENCODED_BYTES_MAX {
            return Err(GenesisError::Invalid {
                field: "consensus.block_bytes_max".into(),
                reason: format!(
                    "{} is outside {bytes_min}..={BLOCK_ENCODED_BYTES_MAX} (a block must fit the largest event)",
                    c.block_bytes_max
                ),
            });
        }
        Ok(())
    }

    fn validate_permissions(&self) -> Result<(), GenesisError> {
        let roles: Vec<Role> = self.permissions.iter().map(|p| p.role).collect();
        check_strictly_ascending("permissions[].role", &roles)?;
        for permission in &self.permissions {
            check_strictly_ascending(
                &format!("permissions[{}].event_types", permission.role),
                &permission.event_types,
            )?;
        }
        let used: BTreeSet<Role> = self
            .organisations
            .iter()
            .flat_map(|o| o.roles.iter().copied())
            .collect();
        for role in used {
            if !roles.contains(&role) {
                return Err(GenesisError::Invalid {
                    field: "permissions".into(),
                    reason: format!(
                        "role {role} is held by an organisation but has no permission entry"
                    ),
                });
            }
        }
        Ok(())
    }
}

fn check_count(field: &str, count: usize, max: usize) -> Result<(), GenesisError> {
    if count > max {
        return Err(GenesisError::TooMany {
            field: field.into(),
            count,
            max,
        });
    }
    Ok(())
}

fn check_unique<'a, T: Ord + fmt::Display + 'a>(
    field: &str,
    values: impl Iterator<Item = &'a T>,
) -> Result<(), GenesisError> {
    let mut seen = BTreeSet::new();
    for value in values {
        if !seen.insert(value) {
            return Err(GenesisError::Duplicate {
                field: field.into(),
                value: value.to_string(),
            });
        }
    }
    Ok(())
}

/// Sorted with no repeats: one canonical encoding per set, and a repeat is a clear mistake.
fn check_strictly_ascending<T: Ord + fmt::Debug>(
    field: &str,
    values: &[T],
) -> Result<(), GenesisError> {
    for pair in values.windows(2) {
        if pair[0] == pair[1] {
            return Err(GenesisError::Duplicate {
                field: field.into(),
                value: format!("{:?}", pair[0]),
            });
        }
        if pair[0] > pair[1] {
            return Err(GenesisError::Unordered {
                field: field.into(),
            });
        }
    }
    Ok(())
}
