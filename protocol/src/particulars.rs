//! A declaration's private particulars (issue 13): its parties (names, addresses,
//! registrations), its values and its IOSS number. The ledger carries only a salted commitment
//! to them, in the declaration's summary; the cleartext and its salt live in the private store
//! of the nodes entitled to them and reach entitled readers point to point, who check them
//! against the commitment ([`SealedParticulars::open`]).
//!
//! The salt is 32 random bytes the declaring platform draws for each declaration: without it,
//! a commitment to a short list of likely consignees could be confirmed by guessing.
//!
//! The commitment is over the commitments of the particulars' parts ([`ParticularsPart`]),
//! each salted with a salt of its own derived from the declaration's, so that a read policy can
//! grant one part (the delivery address to the carrier on the last mile) with its salt and the
//! other parts' commitments: the reader checks its part against the ledger and learns nothing
//! of the rest ([`DisclosedParts`]).

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
    /// `H("waybill/particulars/v2" ‖ c(consignor) ‖ c(delivery) ‖ … ‖ c(ioss))`, over each
    /// part's commitment `c` in part order ([`SealedParticulars::commitment`]).
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
        sum_minor(&self.values_minor)
    }

    /// One part's value.
    pub fn part(&self, part: ParticularsPart) -> PartValue {
        match part {
            ParticularsPart::Consignor => PartValue::Consignor(self.consignor.clone()),
            ParticularsPart::Delivery => PartValue::Delivery(Delivery {
                name: self.consignee.name.clone(),
                address: self.consignee.address.clone(),
                country: self.consignee.country.clone(),
            }),
            ParticularsPart::ConsigneeRegistration => {
                PartValue::ConsigneeRegistration(self.consignee.registration.clone())
            }
            ParticularsPart::Seller => PartValue::Seller(self.seller.clone()),
            ParticularsPart::Values => PartValue::Values(DeclaredValues {
                currency: self.currency.clone(),
                values_minor: self.values_minor.clone(),
            }),
            ParticularsPart::Ioss => PartValue::Ioss(self.ioss.clone()),
        }
    }
}

/// The parts of a declaration's particulars, each committed to on its own so that a read
/// policy may grant one without the others. The order is the commitment's.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum ParticularsPart {
    Consignor,
    /// The consignee's name, address and country: what the carrier delivering needs.
    Delivery,
    /// The consignee's EORI, VAT or tax number.
    ConsigneeRegistration,
    Seller,
    /// The currency and the line values: never granted beyond customs and the declarer.
    Values,
    Ioss,
}

impl ParticularsPart {
    pub const ALL: [ParticularsPart; 6] = [
        ParticularsPart::Consignor,
        ParticularsPart::Delivery,
        ParticularsPart::ConsigneeRegistration,
        ParticularsPart::Seller,
        ParticularsPart::Values,
        ParticularsPart::Ioss,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ParticularsPart::Consignor => "consignor",
            ParticularsPart::Delivery => "delivery",
            ParticularsPart::ConsigneeRegistration => "consignee_registration",
            ParticularsPart::Seller => "seller",
            ParticularsPart::Values => "values",
            ParticularsPart::Ioss => "ioss",
        }
    }
}

// A part's discriminant is its position in `ALL`: salts and the commitment index by it.
const _: () = {
    let mut index = 0;
    while index < ParticularsPart::ALL.len() {
        assert!(ParticularsPart::ALL[index] as usize == index);
        index += 1;
    }
};

impl fmt::Display for ParticularsPart {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Where the goods go and to whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub name: PartyName,
    pub address: Option<Address>,
    pub country: CountryCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct DeclaredValues {
    pub currency: CurrencyCode,
    /// In goods line order.
    pub values_minor: Vec<u64>,
}

/// One part's value; its variant names the part, so a value cannot stand for another part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PartValue {
    Consignor(Party),
    Delivery(Delivery),
    ConsigneeRegistration(Option<Reference>),
    Seller(Option<Party>),
    Values(DeclaredValues),
    Ioss(Option<IossNumber>),
}

impl PartValue {
    pub fn part(&self) -> ParticularsPart {
        match self {
            PartValue::Consignor(_) => ParticularsPart::Consignor,
            PartValue::Delivery(_) => ParticularsPart::Delivery,
            PartValue::ConsigneeRegistration(_) => ParticularsPart::ConsigneeRegistration,
            PartValue::Seller(_) => ParticularsPart::Seller,
            PartValue::Values(_) => ParticularsPart::Values,
            PartValue::Ioss(_) => ParticularsPart::Ioss,
        }
    }

    /// `H("waybill/particulars-part/v1" ‖ part salt ‖ encode(value))`.
    pub fn commitment(&self, salt: &Salt) -> Hash {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(tag::PARTICULARS_PART);
        bytes.extend_from_slice(&salt.0);
        codec::encode_into(self, &mut bytes);
        Hash::of_parts(&[&bytes])
    }
}

/// A part given with its salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenedPart {
    pub salt: Salt,
    pub value: PartValue,
}

/// A part kept back: its commitment only, which the whole commitment needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedPart {
    pub part: ParticularsPart,
    pub commitment: Hash,
}

/// Particulars disclosed in part, as a read policy grants them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosedParts {
    pub opened: Vec<OpenedPart>,
    pub sealed: Vec<SealedPart>,
}

impl DisclosedParts {
    /// The opened parts, if together with the sealed ones they are the particulars `summary`
    /// commits to: every part once, and values (if opened) fitting the goods lines. Pure.
    pub fn open(&self, summary: &DeclarationSummary) -> Result<Vec<PartValue>, ParticularsError> {
        let mut commitments: [Option<Hash>; ParticularsPart::ALL.len()] = Default::default();
        let given = self
            .opened
            .iter()
            .map(|opened| (opened.value.part(), opened.value.commitment(&opened.salt)))
            .chain(
                self.sealed
                    .iter()
                    .map(|sealed| (sealed.part, sealed.commitment)),
            );
        for (part, commitment) in given {
            let slot = &mut commitments[part as usize];
            if slot.replace(commitment).is_some() {
                return Err(ParticularsError::PartTwice { part });
            }
        }
        let mut parts = [Hash::ZERO; ParticularsPart::ALL.len()];
        for (part, (slot, commitment)) in ParticularsPart::ALL
            .into_iter()
            .zip(parts.iter_mut().zip(commitments))
        {
            *slot = commitment.ok_or(ParticularsError::PartMissing { part })?;
        }
        let found = commitment_over(&parts);
        if found != summary.particulars {
            return Err(ParticularsError::NotCommitted {
                committed: summary.particulars,
                found,
            });
        }
        for opened in &self.opened {
            if let PartValue::Values(values) = &opened.value {
                check_values_fit(&values.values_minor, summary)?;
            }
        }
        Ok(self.opened.iter().map(|o| o.value.clone()).collect())
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
    #[error("parts: part {part} is given twice")]
    PartTwice { part: ParticularsPart },
    #[error("parts: part {part} is missing (neither opened nor sealed)")]
    PartMissing { part: ParticularsPart },
}

impl SealedParticulars {
    /// The commitment a declaration summary names for these particulars.
    pub fn commitment(&self) -> Hash {
        commitment_over(&ParticularsPart::ALL.map(|part| self.part_commitment(part)))
    }

    /// The salt of one part: `H("waybill/particulars-salt/v1" ‖ salt ‖ part)`. Giving it away
    /// opens that part only; the declaration's salt cannot be derived from it.
    pub fn part_salt(&self, part: ParticularsPart) -> Salt {
        let digest = Hash::of_parts(&[tag::PARTICULARS_PART_SALT, &self.salt.0, &[part as u8]]);
        Salt(digest.0)
    }

    /// One part's commitment, as the whole commitment is built from.
    pub fn part_commitment(&self, part: ParticularsPart) -> Hash {
        self.particulars
            .part(part)
            .commitment(&self.part_salt(part))
    }

    /// What a reader granted `parts` gets: those parts with their salts, and the other parts'
    /// commitments only.
    pub fn disclose(&self, parts: &[ParticularsPart]) -> DisclosedParts {
        let (opened, sealed) = ParticularsPart::ALL
            .into_iter()
            .partition::<Vec<_>, _>(|part| parts.contains(part));
        DisclosedParts {
            opened: opened
                .into_iter()
                .map(|part| OpenedPart {
                    salt: self.part_salt(part),
                    value: self.particulars.part(part),
                })
                .collect(),
            sealed: sealed
                .into_iter()
                .map(|part| SealedPart {
                    part,
                    commitment: self.part_commitment(part),
                })
                .collect(),
        }
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
        check_values_fit(&self.particulars.values_minor, summary)
    }
}

/// One value per goods line, at most the limit, and a sum that fits.
fn check_values_fit(values: &[u64], summary: &DeclarationSummary) -> Result<(), ParticularsError> {
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
    sum_minor(values).ok_or(ParticularsError::ValueOverflow)?;
    Ok(())
}

/// The sum of line values, or `None` if it overflows.
fn sum_minor(values: &[u64]) -> Option<u64> {
    values
        .iter()
        .try_fold(0u64, |sum, value| sum.checked_add(*value))
}

/// The whole commitment over the parts' commitments, in part order.
fn commitment_over(parts: &[Hash; ParticularsPart::ALL.len()]) -> Hash {
    let mut bytes = Vec::with_capacity(tag::PARTICULARS.len() + 32 * parts.len());
    bytes.extend_from_slice(tag::PARTICULARS);
    for part in parts {
        bytes.extend_from_slice(&part.0);
    }
    Hash::of_parts(&[&bytes])
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
