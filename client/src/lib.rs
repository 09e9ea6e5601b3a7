//! The Waybill SDK: signing identities today; the HTTP client, provenance verification, release
//! checks and counterfeit audits as the client issue lands.

pub mod keystore;
