//! The Waybill SDK: signing identities (`keystore`), a client for a node's HTTP API (`node`),
//! provenance read as verified answers to the question asked (`answer`),
//! verified provenance laid out as a custody timeline (`timeline`), and the customs release
//! check on a verified history (`release`), the counterfeit audit of a serial (`audit`), and
//! EPCIS 2.0 JSON-LD import and export (`epcis`).

pub mod answer;
pub mod audit;
pub mod disclosure;
pub mod epcis;
pub mod keystore;
pub mod node;
pub mod release;
pub mod time;
pub mod timeline;
pub mod tls;
