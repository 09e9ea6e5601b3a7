//! A declaration's private particulars (issue 13): its parties (names, addresses,
//! registrations), its values and its IOSS number. The ledger carries only a salted commitment
//! to them, in the declaration's summary; the cleartext and its salt live in the private store
//! of the nodes entitled to them and reach entitled readers point to point, who check them
//! against the commitment ([`SealedParticulars::open`]).
//!
//! The salt is 32 random bytes the declaring platform draws for each declaration: without it,
//! a commitment to a short list of likely consignees could be confirmed by guessing.

use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec;
use crate::crypto::{CryptoError, Hash, tag};
use crate::event::{Declaration, DeclaredItem, Party};
use crate::ids::*;
use crate::limits::DECLARED_ITEMS_PER_EVENT_MAX;

/// The public summary of a declaration, as the `declare` event carries it: what the goods are
/// and how many, which every member may read, and the commitment to the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct DeclarationSummary {
    pub goods: Vec<GoodsLine>,
    pub pieces: u32,
    pub gross_mass_g: u64,
    /// `H("waybill/particulars/v1" ‖ salt ‖ encode(particulars))`.
    pub particulars: Hash,
}

/// A declared line without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct GoodsLine {
    pub description: Text,
    pub hs6: HsCode,
    pub gtin: Option<Gtin>,
    pub quantity: u32,
    pub origin: CountryCode,
}

/// The private part of a declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Particulars {
    pub consignor: Party,
    pub consignee: Party,
    pub seller: Option<Party>,
    pub currency: CurrencyCode,
    /// Each goods line's value (all its units) in minor units of `currency`, in line order.
    pub values_minor: Vec<u64>,
    pub ioss: Option<IossNumber>,
}

impl Particulars {
    /// The sum of the line values in minor units of `currency`, or `None` if it overflows.
    pub fn total_value_minor(&self) -> Option<u64> {
        self.values_minor
            .iter()
            .try_fold(0u64, |sum, value| sum.checked_add(*value))
    }
}

/// The particulars with the salt that opens the commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct SealedParticulars {
    pub salt: Salt,
    pub particulars: Particulars,
}

/// 32 random bytes. Hex in JSON; never printed by `Debug`.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Salt(pub [u8; 32]);

impl Salt {
    /// A fresh salt from the operating system's random source.
    pub fn generate() -> Result<Salt, CryptoError> {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).map_err(|error| CryptoError::Randomness {
            reason: error.to_string(),
        })?;
        Ok(Salt(salt))
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Salt(…)")
    }
}

impl Serialize for Salt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Salt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let mut salt = [0u8; 32];
        if text.len() != 64 {
            return Err(serde::de::Error::custom(format!(
                "salt: expected 64 hex characters, found {}",
                text.len()
            )));
        }
        hex::decode_to_slice(text.as_bytes(), &mut salt).map_err(|error| {
            serde::de::Error::custom(format!("salt: not hexadecimal ({error})"))
        })?;
        Ok(Salt(salt))
    }
}

/// Why particulars do not fit the declaration they are offered for. Each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParticularsError {
    #[error(
        "particulars: they hash to {found}, the declaration commits to {committed} (not this declaration's particulars, or altered)"
    )]
    NotCommitted { committed: Hash, found: Hash },
    #[error("particulars.values_minor: {values} values for {lines} goods lines")]
    ValueCount { values: usize, lines: usize },
    #[error("particulars.values_minor: the values overflow when summed")]
    ValueOverflow,
    #[error("particulars.values_minor: {count} entries, at most {max} allowed")]
    TooMany { count: usize, max: usize },
}

impl SealedParticulars {
    /// The commitment a declaration summary names for these particulars.
    pub fn commitment(&self) -> Hash {
        let mut bytes = Vec::with_capacity(512);
        bytes.extend_from_slice(tag::PARTICULARS);
        bytes.extend_from_slice(&self.salt.0);
        codec::encode_into(&self.particulars, &mut bytes);
        Hash::of_parts(&[&bytes])
    }

    /// The whole declaration, if these are the particulars `summary` commits to and they fit
    /// its goods lines. Pure: what the SDK runs on what a node disclosed.
    pub fn open(&self, summary: &DeclarationSummary) -> Result<Declaration, ParticularsError> {
        self.check(summary)?;
        let particulars = &self.particulars;
        let items = summary
            .goods
            .iter()
            .zip(&particulars.values_minor)
            .map(|(line, value)| DeclaredItem {
                description: line.description.clone(),
                hs6: line.hs6.clone(),
                gtin: line.gtin.clone(),
                quantity: line.quantity,
                value_minor: *value,
                origin: line.origin.clone(),
            })
            .collect();
        Ok(Declaration {
            consignor: particulars.consignor.clone(),
            consignee: particulars.consignee.clone(),
            seller: particulars.seller.clone(),
            items,
            currency: particulars.currency.clone(),
            pieces: summary.pieces,
            gross_mass_g: summary.gross_mass_g,
            ioss: particulars.ioss.clone(),
        })
    }

    /// Whether these are the particulars `summary` commits to and they fit its goods lines,
    /// without assembling the declaration (what a node checks before it keeps them).
    pub fn check(&self, summary: &DeclarationSummary) -> Result<(), ParticularsError> {
        let found = self.commitment();
        if found != summary.particulars {
            return Err(ParticularsError::NotCommitted {
                committed: summary.particulars,
                found,
            });
        }
        self.check_fits(summary)
    }

    /// The checks that need no commitment: one value per goods line, and a sum that fits.
    pub fn check_fits(&self, summary: &DeclarationSummary) -> Result<(), ParticularsError> {
        let values = &self.particulars.values_minor;
        if values.len() > DECLARED_ITEMS_PER_EVENT_MAX {
            return Err(ParticularsError::TooMany {
                count: values.len(),
                max: DECLARED_ITEMS_PER_EVENT_MAX,
            });
        }
        if values.len() != summary.goods.len() {
            return Err(ParticularsError::ValueCount {
                values: values.len(),
                lines: summary.goods.len(),
            });
        }
        self.particulars
            .total_value_minor()
            .ok_or(ParticularsError::ValueOverflow)?;
        Ok(())
    }
}

impl Declaration {
    /// Splits the declaration as filed into what the ledger carries and what stays private,
    /// sealed with `salt`.
    pub fn seal(&self, salt: Salt) -> (DeclarationSummary, SealedParticulars) {
        let sealed = SealedParticulars {
            salt,
            particulars: Particulars {
                consignor: self.consignor.clone(),
                consignee: self.consignee.clone(),
                seller: self.seller.clone(),
                currency: self.currency.clone(),
                values_minor: self.items.iter().map(|item| item.value_minor).collect(),
                ioss: self.ioss.clone(),
            },
        };
        let goods = self
            .items
            .iter()
            .map(|item| GoodsLine {
                description: item.description.clone(),
                hs6: item.hs6.clone(),
                gtin: item.gtin.clone(),
                quantity: item.quantity,
                origin: item.origin.clone(),
            })
            .collect();
        let summary = DeclarationSummary {
            goods,
            pieces: self.pieces,
            gross_mass_g: self.gross_mass_g,
            particulars: sealed.commitment(),
        };
        (summary, sealed)
    }
}
