//! Calendar time for people and EPCIS: the protocol's, so the node and the client read times the
//! same way.

pub use waybill_protocol::calendar::*;
