//! The EU's ICS2 view: the risk outcome vocabulary of `RiskAssessed` with its ICS2 meaning, and
//! the pre-loading "7+1" data set checked on a declaration (Commission Implementing Regulation
//! (EU) 2015/2447, Annex B, data set F43/H7 minimum for air cargo pre-loading: consignor,
//! consignee, goods description, packages, gross mass, transport document, and the conveyance).

use serde::Serialize;
use waybill_protocol::event::{
    BizTransactionKind, Declaration, EventKind, RiskStatus, SignedEvent,
};

/// What an ICS2 risk outcome means to the filer and to the carrier.
pub fn meaning(status: RiskStatus) -> &'static str {
    match status {
        RiskStatus::Approved => "assessment complete: no risk found, the goods may be loaded",
        RiskStatus::RequestForInformation => {
            "request for information (RFI): the filer must complete or correct the ENS data; loading may go on"
        }
        RiskStatus::Screen => {
            "request for high-risk cargo and mail screening (HRCM): screen by the named methods before loading"
        }
        RiskStatus::DoNotLoad => {
            "do not load (DNL): an imminent threat; the consignment must not be loaded"
        }
    }
}

/// Goods descriptions ICS2 refuses as too vague (the EU's guidance on acceptable goods
/// descriptions lists these and more): a description must say what the goods are.
const VAGUE: [&str; 12] = [
    "gift",
    "gifts",
    "goods",
    "parts",
    "samples",
    "accessories",
    "general cargo",
    "various",
    "consolidated",
    "personal effects",
    "merchandise",
    "stuff",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataSetCheck {
    /// Each element missing or unusable, named.
    pub missing: Vec<String>,
}

/// Checks the 7+1 elements on the declaration's particulars and the shipment's events. Three
/// of them cannot be missing from a declaration on the ledger, so they are not checked here:
/// the number of pieces and the gross mass (a `declare` event with either at zero is refused
/// at admission) and the countries (every party and every goods line has one by type).
pub fn check_data_set(events: &[SignedEvent], declaration: &Declaration) -> DataSetCheck {
    let mut missing = Vec::new();
    let mut need = |ok: bool, what: &str| {
        if !ok {
            missing.push(what.to_string());
        }
    };
    need(
        declaration.consignor.address.is_some(),
        "shipper (consignor) name and address",
    );
    need(
        declaration.consignee.address.is_some(),
        "consignee name and address",
    );
    let vague: Vec<&str> = declaration
        .items
        .iter()
        .map(|item| item.description.as_str())
        .filter(|d| VAGUE.contains(&d.trim().to_lowercase().as_str()))
        .collect();
    need(
        vague.is_empty(),
        &format!("goods description (too vague: {})", vague.join(", ")),
    );
    let documents = || events.iter().flat_map(|e| e.body.biz_transactions.iter());
    let transport = documents().any(|d| {
        matches!(
            d.kind,
            BizTransactionKind::HouseAirWaybill
                | BizTransactionKind::AirWaybill
                | BizTransactionKind::BillOfLading
        )
    });
    need(
        transport,
        "transport document number (house air waybill, air waybill or bill of lading)",
    );
    let conveyance = events.iter().any(|e| {
        matches!(e.body.kind.effective(), EventKind::Depart)
            && e.body.biz_transactions.iter().any(|d| {
                matches!(
                    d.kind,
                    BizTransactionKind::AirWaybill | BizTransactionKind::BillOfLading
                )
            })
    });
    need(
        conveyance,
        "the conveyance (+1: a departure naming the master air waybill or bill of lading)",
    );
    DataSetCheck { missing }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_protocol::event::EventKind as K;
    use waybill_protocol::{Address, DocumentId, Text, fixtures};

    #[test]
    fn each_missing_element_is_named_and_a_complete_set_passes() {
        let mut declaration = fixtures::declaration();
        let bare = [fixtures::signed_event("carrier-a", 1, "S", K::PickUp)];
        let missing = check_data_set(&bare, &declaration).missing;
        assert_eq!(missing.len(), 4, "{missing:?}");
        for element in ["shipper", "consignee", "transport document", "conveyance"] {
            assert!(
                missing.iter().any(|m| m.contains(element)),
                "{element}: {missing:?}"
            );
        }
        declaration.items[0].description = Text::new("Gift").expect("text");
        let vague = check_data_set(&bare, &declaration).missing;
        assert!(
            vague.iter().any(|m| m.contains("too vague: Gift")),
            "{vague:?}"
        );

        declaration.items[0].description = Text::new("Running shoes").expect("text");
        let address = Address::new("Damrak 1, Amsterdam").expect("address");
        declaration.consignor.address = Some(address.clone());
        declaration.consignee.address = Some(address);
        let document = |kind, id: &str| (kind, DocumentId::new(id).expect("document"));
        let (house, master) = (
            document(BizTransactionKind::HouseAirWaybill, "H-1"),
            document(BizTransactionKind::AirWaybill, "784-1"),
        );
        let picked =
            fixtures::event("carrier-a", 1, "S", K::PickUp).biz_transaction(house.0, house.1);
        let departed =
            fixtures::event("carrier-a", 2, "S", K::Depart).biz_transaction(master.0, master.1);
        let key = fixtures::org_keypair("carrier-a");
        let complete = [picked.sign(&key), departed.sign(&key)];
        assert_eq!(
            check_data_set(&complete, &declaration).missing,
            Vec::<String>::new()
        );
    }
}
