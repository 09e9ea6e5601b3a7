//! Declarations' particulars, point to point between entitled nodes (issue 13). They never
//! travel by gossip: a node that committed a declaration it is entitled to but holds no copy
//! of (it was down, or the declaration was filed elsewhere) asks a connected peer whose
//! operator is entitled too, and that peer answers only with what the asker's operator may
//! hold. The answer is checked against the commitment before it is kept
//! (`PrivateStore::receive`).

use bincode::{Decode, Encode};
use libp2p::PeerId;
use waybill_protocol::particulars::SealedParticulars;
use waybill_protocol::{Hash, OrgId, ShipmentId};

use crate::limits::{
    PARTICULARS_PER_REQUEST_MAX, PARTICULARS_REQUEST_BYTES_MAX, PARTICULARS_RESPONSE_BYTES_MAX,
};
use crate::node::Shared;

/// "Send me the particulars of these committed declarations."
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ParticularsRequest {
    pub wanted: Vec<(ShipmentId, Hash)>,
}

/// Those the answering node holds and the asker's operator may hold.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ParticularsResponse {
    pub found: Vec<(ShipmentId, SealedParticulars)>,
}

/// The particulars exchange, framed like block sync.
#[derive(Debug)]
pub struct Particulars;

impl super::Exchange for Particulars {
    type Request = ParticularsRequest;
    type Response = ParticularsResponse;
    const REQUEST_BYTES_MAX: usize = PARTICULARS_REQUEST_BYTES_MAX;
    const RESPONSE_BYTES_MAX: usize = PARTICULARS_RESPONSE_BYTES_MAX;
    const REQUEST: &'static str = "particulars request";
    const RESPONSE: &'static str = "particulars response";
}

/// What this node gives a peer run by `asker`: what it holds of the request, filtered by what
/// `asker` may hold. Nothing at a node without a private store.
pub fn serve(shared: &Shared, asker: &OrgId, request: &ParticularsRequest) -> ParticularsResponse {
    let mut found = Vec::new();
    if let Some(store) = shared.private.as_ref() {
        for (shipment, commitment) in request.wanted.iter().take(PARTICULARS_PER_REQUEST_MAX) {
            match store.serve(&shared.rules, asker, shipment, commitment) {
                Ok(Some(sealed)) => found.push((shipment.clone(), sealed)),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "particulars request: reading the store"),
            }
        }
    }
    ParticularsResponse { found }
}

/// Keeps what a peer sent (each checked against its commitment); how many were kept.
pub fn keep(shared: &Shared, response: ParticularsResponse) -> usize {
    let Some(store) = shared.private.as_ref() else {
        return 0;
    };
    let mut kept = 0;
    for (shipment, sealed) in response.found.iter().take(PARTICULARS_PER_REQUEST_MAX) {
        match store.receive(shipment, sealed) {
            Ok(true) => kept += 1,
            Ok(false) => tracing::debug!(%shipment, "particulars not wanted, or not as committed"),
            Err(error) => tracing::warn!(%error, "particulars: keeping what a peer sent"),
        }
    }
    kept
}

/// Whom to ask for what: the first wanted declaration picks a connected peer whose operator
/// may hold it, and the request names every wanted one that peer's operator may hold.
pub fn next_ask<'a>(
    shared: &Shared,
    connected: impl Iterator<Item = (PeerId, &'a OrgId)> + Clone,
) -> Option<(PeerId, ParticularsRequest)> {
    let store = shared.private.as_ref()?;
    let wanted = match store.wanted(PARTICULARS_PER_REQUEST_MAX) {
        Ok(wanted) => wanted,
        Err(error) => {
            tracing::warn!(%error, "particulars: reading what is wanted");
            return None;
        }
    };
    let genesis = shared.rules.genesis();
    let (peer, operator) = wanted.iter().find_map(|(_, _, first)| {
        connected
            .clone()
            .find(|(_, operator)| genesis.entitled_to_particulars(operator, &first.declared_by))
    })?;
    let request = ParticularsRequest {
        wanted: wanted
            .into_iter()
            .filter(|(_, _, w)| genesis.entitled_to_particulars(operator, &w.declared_by))
            .map(|(shipment, commitment, _)| (shipment, commitment))
            .collect(),
    };
    Some((peer, request))
}
