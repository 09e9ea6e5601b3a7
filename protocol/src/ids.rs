//! Validated identifiers and bounded text.
//!
//! Each type can only hold a well-formed value: the constructor, JSON deserialisation and the
//! canonical decoder all run the same check. Inner code therefore never re-validates formats,
//! and every value has one canonical encoding (a `u64` length and the ASCII or UTF-8 bytes).

use std::fmt;
use std::str::FromStr;

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::limits::*;

/// A value that does not have the form its type requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: expected {expected}")]
pub struct FormatError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks `value` and wraps it.
            pub fn new(value: impl Into<String>) -> Result<Self, FormatError> {
                let value = value.into();
                match $check(&value) {
                    Ok(()) => Ok($name(value)),
                    Err(expected) => Err(FormatError {
                        what: $what,
                        // Echo at most a short prefix of hostile input back.
                        value: value.chars().take(80).collect(),
                        expected,
                    }),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{:?}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = FormatError;
            fn from_str(text: &str) -> Result<Self, FormatError> {
                $name::new(text)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::new(text).map_err(serde::de::Error::custom)
            }
        }

        impl Encode for $name {
            fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
                self.0.encode(encoder)
            }
        }

        impl<Context> Decode<Context> for $name {
            fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
                let text = String::decode(decoder)?;
                $name::new(text).map_err(|error| DecodeError::OtherString(error.to_string()))
            }
        }

        bincode::impl_borrow_decode!($name);
    };
}

validated_string!(
    /// The network a message belongs to, e.g. `waybill-testnet`. Part of every signature.
    ChainId, "chain id", check_chain_id
);
validated_string!(
    /// An organisation named in the genesis: a customs administration, platform, carrier or brand.
    OrgId, "organisation id", check_org_id
);
validated_string!(
    /// A consignment reference, e.g. a house air waybill number.
    ShipmentId, "shipment id", check_shipment_id
);
validated_string!(
    /// A GTIN in its 14-digit form with a valid GS1 check digit.
    Gtin, "GTIN", check_gtin
);
validated_string!(
    /// A serial number (GS1 AI 21): 1 to 20 characters of the GS1 character set 82.
    Serial, "serial", check_serial
);
validated_string!(
    /// A Serial Shipping Container Code: 18 digits with a valid GS1 check digit.
    Sscc, "SSCC", check_sscc
);
validated_string!(
    /// A GS1 company prefix, 6 to 12 digits: the serial space a brand owns.
    Gs1CompanyPrefix, "GS1 company prefix", check_gs1_prefix
);
validated_string!(
    /// A Harmonised System subheading: exactly 6 digits.
    HsCode, "HS code", check_hs_code
);
validated_string!(
    /// An EU Import One-Stop-Shop number: `IM` followed by 10 digits.
    IossNumber, "IOSS number", check_ioss
);
validated_string!(
    /// An ISO 4217 currency code, three upper-case letters.
    CurrencyCode, "currency code", check_currency
);
validated_string!(
    /// An ISO 3166-1 alpha-2 country code, two upper-case letters.
    CountryCode, "country code", check_country
);
validated_string!(
    /// A place: a 13-digit GLN with a valid check digit, or a 5-character UN/LOCODE.
    LocationId, "location id", check_location_id
);
validated_string!(
    /// A business document number (purchase order, invoice, bill of lading, air waybill).
    DocumentId, "document id", check_document_id
);
validated_string!(
    /// A party's registration, e.g. an EORI or tax number.
    Reference, "reference", check_reference
);
validated_string!(
    /// Free text for people (descriptions, reasons, notes): bounded UTF-8, no control characters.
    Text, "text", check_text
);
validated_string!(
    /// A person's or company's name.
    PartyName, "party name", check_party_name
);
validated_string!(
    /// A postal address on one line.
    Address, "address", check_address
);
validated_string!(
    /// A network address: a libp2p multiaddr (`/ip4/127.0.0.1/tcp/7000`) or `host:port`.
    NetworkAddress, "network address", check_network_address
);

type Check = Result<(), &'static str>;

fn check_length(value: &str, min: usize, max: usize, expected: &'static str) -> Check {
    if value.len() < min || value.len() > max {
        return Err(expected);
    }
    Ok(())
}

fn check_chain_id(value: &str) -> Check {
    const EXPECTED: &str = "1 to 64 characters of a-z, 0-9, '-' and '.', starting with a letter";
    check_length(value, 1, CHAIN_ID_BYTES_MAX, EXPECTED)?;
    check_slug(value, EXPECTED, |c| c == '-' || c == '.')
}

fn check_org_id(value: &str) -> Check {
    const EXPECTED: &str = "1 to 32 characters of a-z, 0-9 and '-', starting with a letter";
    check_length(value, 1, ORG_ID_BYTES_MAX, EXPECTED)?;
    check_slug(value, EXPECTED, |c| c == '-')
}

fn check_slug(value: &str, expected: &'static str, extra: impl Fn(char) -> bool) -> Check {
    let mut chars = value.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
        return Err(expected);
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra(c)) {
        return Err(expected);
    }
    Ok(())
}

fn check_shipment_id(value: &str) -> Check {
    const EXPECTED: &str = "1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.', '/' and ':'";
    check_length(value, 1, SHIPMENT_ID_BYTES_MAX, EXPECTED)?;
    check_chars(value, EXPECTED, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':')
    })
}

fn check_document_id(value: &str) -> Check {
    const EXPECTED: &str = "1 to 64 printable ASCII characters without spaces";
    check_length(value, 1, BIZ_TRANSACTION_ID_BYTES_MAX, EXPECTED)?;
    check_chars(value, EXPECTED, |c| c.is_ascii_graphic())
}

fn check_reference(value: &str) -> Check {
    const EXPECTED: &str = "1 to 64 printable ASCII characters without spaces";
    check_length(value, 1, REFERENCE_BYTES_MAX, EXPECTED)?;
    check_chars(value, EXPECTED, |c| c.is_ascii_graphic())
}

fn check_chars(value: &str, expected: &'static str, allowed: impl Fn(char) -> bool) -> Check {
    if value.chars().all(allowed) {
        Ok(())
    } else {
        Err(expected)
    }
}

fn check_digits(value: &str, count: usize, expected: &'static str) -> Check {
    if value.len() == count && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(expected)
    }
}

/// The GS1 mod-10 check digit over all digits but the last.
fn gs1_check_digit_valid(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    let (body, check) = bytes.split_at(bytes.len() - 1);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            let value = u32::from(digit - b'0');
            if position % 2 == 0 { value * 3 } else { value }
        })
        .sum();
    (10 - sum % 10) % 10 == u32::from(check[0] - b'0')
}

fn check_gtin(value: &str) -> Check {
    check_digits(
        value,
        14,
        "14 digits (pad a GTIN-8, -12 or -13 with leading zeros)",
    )?;
    if !gs1_check_digit_valid(value) {
        return Err("a valid GS1 check digit in the last position");
    }
    Ok(())
}

fn check_sscc(value: &str) -> Check {
    check_digits(value, 18, "18 digits")?;
    if !gs1_check_digit_valid(value) {
        return Err("a valid GS1 check digit in the last position");
    }
    Ok(())
}

fn check_serial(value: &str) -> Check {
    const EXPECTED: &str = "1 to 20 characters of the GS1 character set 82";
    check_length(value, 1, SERIAL_BYTES_MAX, EXPECTED)?;
    check_chars(value, EXPECTED, |c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '!' | '"'
                    | '%'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | '-'
                    | '.'
                    | '/'
                    | ':'
                    | ';'
                    | '<'
                    | '='
                    | '>'
                    | '?'
                    | '_'
            )
    })
}

fn check_gs1_prefix(value: &str) -> Check {
    const EXPECTED: &str = "6 to 12 digits";
    check_length(value, 6, 12, EXPECTED)?;
    check_chars(value, EXPECTED, |c| c.is_ascii_digit())
}

fn check_hs_code(value: &str) -> Check {
    check_digits(value, 6, "exactly 6 digits (an HS subheading)")
}

fn check_ioss(value: &str) -> Check {
    const EXPECTED: &str = "'IM' followed by 10 digits";
    match value.strip_prefix("IM") {
        Some(digits) => check_digits(digits, 10, EXPECTED),
        None => Err(EXPECTED),
    }
}

fn check_upper_letters(value: &str, count: usize, expected: &'static str) -> Check {
    if value.len() == count && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(expected)
    }
}

fn check_currency(value: &str) -> Check {
    check_upper_letters(value, 3, "three upper-case letters (ISO 4217)")
}

fn check_country(value: &str) -> Check {
    check_upper_letters(value, 2, "two upper-case letters (ISO 3166-1 alpha-2)")
}

fn check_location_id(value: &str) -> Check {
    const EXPECTED: &str = "a 13-digit GLN with a valid check digit, or a UN/LOCODE such as NLRTM";
    if value.len() == 13 && value.bytes().all(|b| b.is_ascii_digit()) {
        return if gs1_check_digit_valid(value) {
            Ok(())
        } else {
            Err(EXPECTED)
        };
    }
    let bytes = value.as_bytes();
    let is_locode = bytes.len() == 5
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'9').contains(b));
    if is_locode { Ok(()) } else { Err(EXPECTED) }
}

/// Characters text for people may not hold: they make what a reader sees differ from what is
/// stored. Controls; the bidirectional embeddings, overrides and isolates that reorder what is
/// shown (the "Trojan Source" class, CVE-2021-42574); and invisible characters with no place in a
/// name or a description (zero-width space, word joiner, invisible operators, byte-order mark).
/// ZWJ, ZWNJ and the directional marks stay allowed: Persian, Indic scripts and emoji need them;
/// name folding ignores them.
fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{202A}'..='\u{202E}' // LRE, RLE, PDF, LRO, RLO
            | '\u{2066}'..='\u{2069}' // LRI, RLI, FSI, PDI
            | '\u{200B}' // zero-width space
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{FEFF}' // byte-order mark, zero-width no-break space
        )
}

fn check_bounded_text(value: &str, max: usize, expected: &'static str) -> Check {
    check_length(value, 1, max, expected)?;
    if value.trim() != value {
        return Err(expected);
    }
    check_chars(value, expected, |c| !is_deceptive(c))
}

fn check_text(value: &str) -> Check {
    check_bounded_text(
        value,
        TEXT_BYTES_MAX,
        "1 to 512 bytes of text without control, bidirectional-override or invisible characters or surrounding spaces",
    )
}

fn check_party_name(value: &str) -> Check {
    check_bounded_text(
        value,
        PARTY_NAME_BYTES_MAX,
        "1 to 128 bytes of text without control, bidirectional-override or invisible characters or surrounding spaces",
    )
}

fn check_address(value: &str) -> Check {
    check_bounded_text(
        value,
        ADDRESS_BYTES_MAX,
        "1 to 256 bytes of text without control, bidirectional-override or invisible characters or surrounding spaces",
    )
}

fn check_network_address(value: &str) -> Check {
    const EXPECTED: &str = "a multiaddr such as /ip4/127.0.0.1/tcp/7000 or host:port";
    check_length(value, 1, NETWORK_ADDRESS_BYTES_MAX, EXPECTED)?;
    check_chars(value, EXPECTED, |c| c.is_ascii_graphic())?;
    if value.starts_with('/') {
        return Ok(());
    }
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(EXPECTED),
    }
}

/// A name as names are compared: NFKC with Unicode case folding (NFKC_Casefold, UAX #15 and
/// UAX #44), default-ignorable characters (ZWJ, ZWNJ, soft hyphen, directional marks,
/// variation selectors) removed, and runs of white space made one space. So "J.  Jansen",
/// "j. jansen", "Ｊ. Ｊａｎｓｅｎ" and "J. Jan\u{AD}sen" are found to be the same consignee.
/// (Look-alikes from other scripts, such as a Cyrillic "а", are not folded: UTS #39 skeletons
/// would merge names that really differ.)
pub fn fold_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let compatible: String = name.nfkc().collect();
    let folded: String = caseless::default_case_fold_str(&compatible)
        .nfkc()
        .filter(|c| !is_default_ignorable(*c))
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt, Unicode 15):
/// characters that show nothing and are ignored when text is compared.
fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}'
    )
}

impl Gtin {
    /// The GS1 company prefix space this GTIN belongs to: the digits after the indicator digit.
    pub fn is_under_prefix(&self, prefix: &Gs1CompanyPrefix) -> bool {
        self.0[1..].starts_with(prefix.as_str())
    }
}

impl Gs1CompanyPrefix {
    /// Whether the two prefixes claim overlapping serial spaces (one is a prefix of the other).
    pub fn overlaps(&self, other: &Gs1CompanyPrefix) -> bool {
        self.0.starts_with(&other.0) || other.0.starts_with(&self.0)
    }
}

/// Which key signed: the organisation and the index of the key in its genesis key list.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
)]
pub struct KeyId {
    pub org: OrgId,
    pub index: u16,
}

impl fmt::Display for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}#{}", self.org, self.index)
    }
}
