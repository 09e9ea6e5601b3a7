//! The Waybill SDK: signing identities (`keystore`), a client for a node's HTTP API (`node`),
//! verified provenance laid out as a custody timeline (`timeline`), and the customs release
//! check on a verified history (`release`). The counterfeit audit and EPCIS arrive with the rest
//! of the client issue.

pub mod keystore;
pub mod node;
pub mod release;
pub mod timeline;
