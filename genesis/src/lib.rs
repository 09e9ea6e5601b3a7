//! The genesis ceremony: makes the keys, the genesis file and the node configurations of a
//! network, and describes an existing genesis for people.

pub mod summary;
pub mod testnet;
