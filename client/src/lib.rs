//! The Waybill SDK: signing identities (`keystore`), a client for a node's HTTP API (`node`),
//! provenance read as verified answers to the question asked (`answer`), verified provenance
//! laid out as a custody timeline (`timeline`), the customs release decision on a verified
//! history (`release`) under the dated law of `customs`, the counterfeit audit of a serial
//! (`audit`), EPCIS 2.0 JSON-LD import and export (`epcis`), and the EPCIS 2.0 REST gateway
//! (`gateway`).

pub mod answer;
pub mod audit;
pub mod casefile;
pub mod console;
pub mod customs;
pub mod disclosure;
pub mod epcis;
pub mod gateway;
pub mod keystore;
pub mod limits;
pub mod node;
pub mod release;
pub mod time;
pub mod timeline;
pub mod tls;
