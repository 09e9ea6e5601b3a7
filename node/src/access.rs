//! Who may call which route, and read what (the genesis read policy). A caller is an
//! organisation key from the genesis, presented as a TLS client certificate. Without one, only
//! liveness (`/v1/status`, reduced to height and health) and the API description are served;
//! a key the genesis does not know is refused everywhere (401). A member reads what its roles'
//! grants allow: everything (customs), the shipments it is a party to (platforms, carriers),
//! its own serials and the shipments naming them (brands); anything else is a 403 naming the
//! rule. A history the caller may not read is refused whether or not it exists, so a refusal
//! tells nothing about other members' shipments.

use std::collections::BTreeSet;

use waybill_protocol::event::{Epc, EventKind, SignedEvent};
use waybill_protocol::execution::ShipmentState;
use waybill_protocol::genesis::{ParticularsGrant, ReadScope};
use waybill_protocol::index::IndexKey;
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Gtin, OrgId};

use crate::caller::Caller;

/// Routes served to callers without credentials.
const OPEN_ROUTES: [&str; 2] = ["/v1/status", "/openapi.json"];
/// Routes whose answers hold every member's data, with what they are.
const EVERYTHING_ROUTES: [(&str, &str); 3] = [
    ("/v1/blocks/", "blocks (every member's events)"),
    (
        "/v1/consignees/",
        "the consignee listing (personal data of every platform's customers)",
    ),
    (
        "/v1/parties/",
        "the adverse-outcome listing by party (customs findings on every platform's declarations)",
    ),
];

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no credentials where they are needed.
    Unauthenticated,
    /// 401: a key that is not an organisation key of the genesis.
    UnknownKey(String),
    /// 403: the read policy does not let this organisation read this.
    NotEntitled {
        org: OrgId,
        what: String,
        rule: String,
    },
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Unauthenticated | Refusal::UnknownKey(_) => 401,
            Refusal::NotEntitled { .. } => 403,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::UnknownKey(_) => "unknown_key",
            Refusal::NotEntitled { .. } => "not_entitled",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Unauthenticated => "this route needs an organisation key from the genesis as the TLS client certificate (waybill --key FILE; curl --cert FILE.crt --key FILE.pem, made by `waybill tls-cert`)".into(),
            Refusal::UnknownKey(key) => format!(
                "the client certificate's key {key} is not an organisation key in this network's genesis"
            ),
            Refusal::NotEntitled { org, what, rule } => format!(
                "{org} may not read {what}: the genesis read policy grants it {rule}"
            ),
        }
    }
}

/// How much of a declaration's particulars a reader may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticularsRead {
    Whole,
    /// The parts the genesis grant gives.
    Parts(ParticularsGrant),
}

/// What one caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// Everything (customs by default; every caller under `insecure_http`).
    Everything,
    /// An organisation with its roles' grants.
    Member {
        org: OrgId,
        scopes: BTreeSet<ReadScope>,
    },
}

impl Reader {
    /// The reader a caller is, or why it is none.
    pub fn of(caller: &Caller, rules: &ChainRules) -> Result<Reader, Refusal> {
        match caller {
            Caller::Unchecked => Ok(Reader::Everything),
            Caller::Anonymous => Err(Refusal::Unauthenticated),
            Caller::UnknownKey(key) => Err(Refusal::UnknownKey(key.to_hex())),
            Caller::Organisation(key_id) => {
                let roles = rules
                    .genesis()
                    .organisation(&key_id.org)
                    .map(|org| org.roles.clone())
                    .unwrap_or_default();
                let scopes = rules.genesis().read_scopes(&roles);
                if scopes.contains(&ReadScope::Everything) {
                    return Ok(Reader::Everything);
                }
                Ok(Reader::Member {
                    org: key_id.org.clone(),
                    scopes,
                })
            }
        }
    }

    /// Whole-network answers: blocks, the unfiltered stream, listings of every member.
    pub fn everything(&self, what: &str) -> Result<(), Refusal> {
        match self {
            Reader::Everything => Ok(()),
            Reader::Member { org, scopes } => Err(refuse(org, scopes, what.to_string())),
        }
    }

    /// A declaration's private particulars, filed by `declared_by`: customs reading
    /// everything, and the declarer itself (`Genesis::entitled_to_particulars`).
    pub fn particulars(&self, rules: &ChainRules, declared_by: &OrgId) -> Result<(), Refusal> {
        match self {
            Reader::Everything => Ok(()),
            Reader::Member { org, .. }
                if rules.genesis().entitled_to_particulars(org, declared_by) =>
            {
                Ok(())
            }
            Reader::Member { org, scopes } => Err(Refusal::NotEntitled {
                org: org.clone(),
                what: format!("the private particulars of a declaration by {declared_by}"),
                rule: format!(
                    "{}; particulars go to customs and the declaring platform, and parts of them only as a genesis particulars_grants entry allows while its condition holds",
                    granted(scopes)
                ),
            }),
        }
    }

    /// How much of the particulars of a declaration by `declared_by` this reader may have,
    /// for a shipment in `state`: the whole to customs and the declarer, the parts a genesis
    /// grant gives while its condition holds (the delivery address on the last mile).
    pub fn particulars_of(
        &self,
        rules: &ChainRules,
        declared_by: &OrgId,
        state: &ShipmentState,
    ) -> Result<ParticularsRead, Refusal> {
        let refusal = match self.particulars(rules, declared_by) {
            Ok(()) => return Ok(ParticularsRead::Whole),
            Err(refusal) => refusal,
        };
        let Reader::Member { org, .. } = self else {
            return Err(refusal);
        };
        let grant = rules
            .genesis()
            .particulars_grant(org, state)
            .ok_or(refusal)?;
        Ok(ParticularsRead::Parts(grant.clone()))
    }

    /// A key's history, given its first events (`complete` if that is all of it).
    pub fn history<'e>(
        &self,
        rules: &ChainRules,
        key: &IndexKey,
        events: impl IntoIterator<Item = &'e SignedEvent> + Clone,
        complete: bool,
    ) -> Result<(), Refusal> {
        let Reader::Member { org, scopes } = self else {
            return Ok(());
        };
        let owns = scopes.contains(&ReadScope::OwnSerials);
        let allowed = match key {
            // A GTIN's history lists every serial of it: only its owner reads it whole.
            IndexKey::Gtin(gtin) => owns && rules.owns_gtin(org, gtin),
            IndexKey::Serial(sgtin) if owns && rules.owns_gtin(org, &sgtin.gtin) => true,
            // Trusted-trader status is public to members, as the EU's AEO list is public.
            IndexKey::Operator(_) | IndexKey::Member(_) => true,
            _ => {
                let party = scopes.contains(&ReadScope::PartyToShipment)
                    && events.clone().into_iter().any(|event| is_party(org, event));
                party
                    || owns
                        && events
                            .into_iter()
                            .any(|event| names_own_serial(rules, org, event))
            }
        };
        if allowed {
            return Ok(());
        }
        let what = if complete {
            key.to_string()
        } else {
            format!("{key} (no part of it found in its first events)")
        };
        Err(refuse(org, scopes, what))
    }

    /// The serial listing of one GTIN.
    pub fn gtin(&self, rules: &ChainRules, gtin: &Gtin) -> Result<(), Refusal> {
        match self {
            Reader::Member { org, scopes }
                if !(scopes.contains(&ReadScope::OwnSerials) && rules.owns_gtin(org, gtin)) =>
            {
                Err(refuse(org, scopes, format!("the serials of GTIN {gtin}")))
            }
            _ => Ok(()),
        }
    }
}

fn refuse(org: &OrgId, scopes: &BTreeSet<ReadScope>, what: String) -> Refusal {
    Refusal::NotEntitled {
        org: org.clone(),
        what,
        rule: granted(scopes),
    }
}

fn granted(scopes: &BTreeSet<ReadScope>) -> String {
    if scopes.is_empty() {
        return "nothing".into();
    }
    scopes
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Signed one of the events, or was offered the custody.
fn is_party(org: &OrgId, event: &SignedEvent) -> bool {
    event.body.signer.org == *org
        || matches!(event.body.kind.effective(), EventKind::HandOver { to } if to == org)
}

fn names_own_serial(rules: &ChainRules, org: &OrgId, event: &SignedEvent) -> bool {
    let serial_of_kind = match event.body.kind.effective() {
        EventKind::Flag { serial, .. } => Some(serial),
        _ => None,
    };
    event
        .body
        .epcs
        .iter()
        .filter_map(|epc| match epc {
            Epc::Sgtin(sgtin) => Some(sgtin),
            _ => None,
        })
        .chain(serial_of_kind)
        .any(|sgtin| rules.owns_gtin(org, &sgtin.gtin))
}

/// Whether `caller` may call `path` at all: credentials, and the whole-network routes.
pub fn admit(caller: &Caller, rules: &ChainRules, path: &str) -> Result<(), Refusal> {
    if path == "/openapi.json" || (OPEN_ROUTES.contains(&path) && *caller == Caller::Anonymous) {
        return Ok(());
    }
    let reader = Reader::of(caller, rules)?;
    if let Some((_, what)) = EVERYTHING_ROUTES.iter().find(|(r, _)| path.starts_with(r)) {
        return reader.everything(what);
    }
    Ok(())
}

/// Whether `caller` sees the whole status or only height and health.
pub fn sees_full_status(caller: &Caller) -> bool {
    matches!(caller, Caller::Organisation(_) | Caller::Unchecked)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use waybill_protocol::fixtures;

    fn rules() -> ChainRules {
        ChainRules::new(fixtures::genesis(4)).unwrap()
    }

    #[test]
    fn only_liveness_and_the_description_are_open() {
        let rules = rules();
        let anonymous = Caller::Anonymous;
        assert_eq!(admit(&anonymous, &rules, "/v1/status"), Ok(()));
        assert_eq!(admit(&anonymous, &rules, "/openapi.json"), Ok(()));
        for path in [
            "/v1/blocks/1",
            "/v1/stream",
            "/v1/events",
            "/metrics",
            "/v1/status/",
        ] {
            assert_eq!(
                admit(&anonymous, &rules, path),
                Err(Refusal::Unauthenticated),
                "{path}"
            );
        }
        let stranger = Caller::UnknownKey(fixtures::keypair("stranger").public_key());
        assert!(matches!(
            admit(&stranger, &rules, "/v1/status"),
            Err(Refusal::UnknownKey(_))
        ));
        assert_eq!(admit(&stranger, &rules, "/openapi.json"), Ok(()));
        let customs = Caller::Organisation(fixtures::key_id("customs"));
        assert_eq!(admit(&customs, &rules, "/v1/blocks/1"), Ok(()));
        let carrier = Caller::Organisation(fixtures::key_id("carrier-a"));
        let refused = admit(&carrier, &rules, "/v1/blocks/1").unwrap_err();
        assert_eq!(refused.status(), 403);
        assert!(
            refused.message().contains("party_to_shipment"),
            "{}",
            refused.message()
        );
        assert!(!sees_full_status(&anonymous) && sees_full_status(&customs));
    }

    #[test]
    fn members_read_what_they_are_party_to_and_brands_their_serials() {
        let rules = rules();
        let shipment = IndexKey::Shipment(fixtures::shipment("S-1"));
        let declare = fixtures::declare();
        let declared = fixtures::signed_event("platform", 1, "S-1", declare);
        let to = fixtures::org("carrier-b");
        let offered = fixtures::signed_event("carrier-a", 1, "S-1", EventKind::HandOver { to });
        let history = [declared, offered];
        let reader =
            |org: &str| Reader::of(&Caller::Organisation(fixtures::key_id(org)), &rules).unwrap();
        for org in ["customs", "platform", "carrier-a", "carrier-b"] {
            assert_eq!(
                reader(org).history(&rules, &shipment, &history, true),
                Ok(()),
                "{org}"
            );
        }
        for org in ["platform-b", "brand"] {
            let refused = reader(org)
                .history(&rules, &shipment, &history, true)
                .unwrap_err();
            assert_eq!(refused.code(), "not_entitled", "{org}");
            assert!(
                refused.message().contains("shipment S-1"),
                "{}",
                refused.message()
            );
        }
        // A brand reads its own serial's history, and shipments naming its serials.
        let own = fixtures::sgtin("SN-1");
        let serial = IndexKey::Serial(own.clone());
        assert_eq!(reader("brand").history(&rules, &serial, &[], true), Ok(()));
        assert_eq!(reader("brand").gtin(&rules, &own.gtin), Ok(()));
        assert!(reader("carrier-a").gtin(&rules, &own.gtin).is_err());
        let picked = fixtures::event("carrier-a", 2, "S-1", EventKind::PickUp)
            .epcs(vec![Epc::Sgtin(own)])
            .sign(&fixtures::org_keypair("carrier-a"));
        assert_eq!(
            reader("brand").history(&rules, &shipment, &[picked], true),
            Ok(())
        );
    }
}
