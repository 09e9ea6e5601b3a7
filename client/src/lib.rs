//! The Waybill SDK: signing identities (`keystore`), a client for a node's HTTP API (`node`),
//! and verified provenance laid out as a custody timeline (`timeline`). The release check, the
//! counterfeit audit and EPCIS arrive with the rest of the client issue.

pub mod keystore;
pub mod node;
pub mod timeline;
