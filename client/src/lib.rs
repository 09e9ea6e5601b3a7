//! The Waybill SDK: signing identities (`keystore`), a client for a node's HTTP API (`node`),
//! verified provenance laid out as a custody timeline (`timeline`), and the customs release
//! check on a verified history (`release`), and the counterfeit audit of a serial (`audit`). EPCIS
//! arrives with the rest of the client issue.

pub mod audit;
pub mod keystore;
pub mod node;
pub mod release;
pub mod timeline;
