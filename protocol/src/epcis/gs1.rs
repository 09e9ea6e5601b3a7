//! GS1 keys as EPCIS names them, in both spellings: EPC URIs (`urn:epc:id:sgtin:…`, the Tag
//! Data Standard's pure identity, class and pattern URIs) and GS1 Digital Link URIs
//! (`https://id.gs1.org/01/…/21/…`, any domain). Both read into one [`Gs1Key`], so two
//! spellings of one thing compare equal, and every check digit is checked.

use std::fmt::Write;

/// Which GS1 key a URI names: the instance-level keys of the Tag Data Standard, and the
/// class-level ones EPCIS quantity lists use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    /// A serialised trade item, GTIN + serial: (01)(21).
    Sgtin,
    /// A logistic unit: (00).
    Sscc,
    /// A location, GLN with an optional extension: (414)(254).
    Sgln,
    /// A party: (417).
    Pgln,
    /// A returnable asset: (8003).
    Grai,
    /// An individual asset: (8004).
    Giai,
    /// A service relation (recipient): (8018).
    Gsrn,
    /// A service relation (provider): (8017).
    Gsrnp,
    /// A document: (253).
    Gdti,
    /// A coupon: (255).
    Sgcn,
    /// A consignment: (401).
    Ginc,
    /// A shipment: (402).
    Gsin,
    /// A component or part: (8010)(8011).
    Cpi,
    /// A batch or lot of a trade item, GTIN + lot: (01)(10).
    Lgtin,
    /// Every instance of a trade item: (01) alone, or an SGTIN pattern with `*`.
    ProductClass,
}

/// A GS1 key with its qualifiers, as (application identifier, value) pairs in Digital Link
/// order: the primary key first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gs1Key {
    pub kind: KeyKind,
    pub elements: Vec<(&'static str, String)>,
}

/// Why a URI that claims to be a GS1 key is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{uri:?}: {reason}")]
pub struct Gs1Error {
    pub uri: String,
    pub reason: String,
}

const DIGITAL_LINK_HOST: &str = "https://id.gs1.org";

/// The GS1 mod-10 check digit of `body` (all digits).
pub fn check_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            // Callers pass digits; anything else weighs nothing rather than panicking.
            let digit = u32::from(digit.saturating_sub(b'0').min(9));
            if position % 2 == 0 { digit * 3 } else { digit }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// GS1 AI encodable character set 82 (GS1 General Specifications §7.11, figure 7.11-1).
fn is_cset82(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!\"%&'()*+,-./:;<=>?_".contains(&b))
}

/// Whether `digits` (with its check digit last) is `length` digits with a valid check digit.
fn checked_number(digits: &str, length: usize) -> bool {
    digits.len() == length
        && all_digits(digits)
        && digits
            .get(..length - 1)
            .is_some_and(|body| digits.ends_with(check_digit(body)))
}

impl Gs1Key {
    /// Reads an EPC URI or a GS1 Digital Link URI. `Ok(None)` when `uri` is neither (some
    /// other URI), an error when it claims to be one and is not.
    pub fn read(uri: &str) -> Result<Option<Gs1Key>, Gs1Error> {
        let fail = |reason: String| Gs1Error {
            uri: uri.to_string(),
            reason,
        };
        if let Some(rest) = uri.strip_prefix("urn:epc:") {
            return epc_urn(rest).map(Some).map_err(fail);
        }
        let Some(path) = uri
            .strip_prefix("https://")
            .or_else(|| uri.strip_prefix("http://"))
            .and_then(|rest| rest.split_once('/').map(|(_, path)| path))
        else {
            return Ok(None);
        };
        let path = path.split(['?', '#']).next().unwrap_or_default();
        match digital_link(path) {
            Ok(found) => Ok(found),
            Err(reason) if uri.starts_with(DIGITAL_LINK_HOST) => Err(fail(reason)),
            // On another domain a path that is not a GS1 key is just a web address.
            Err(_) => Ok(None),
        }
    }

    /// The canonical GS1 Digital Link URI (on id.gs1.org) with every qualifier.
    pub fn digital_link(&self) -> String {
        link(&self.elements)
    }

    /// The constrained canonical Digital Link the CBV event hash uses: the finest level of
    /// identification only (serial over lot over product variant; the GLN extension; a part's
    /// serial).
    pub fn constrained_digital_link(&self) -> String {
        let finest: &[&str] = match self.kind {
            KeyKind::Sgtin => &["01", "21"],
            KeyKind::Lgtin => &["01", "10"],
            KeyKind::ProductClass => &["01"],
            _ => &[],
        };
        if finest.is_empty() {
            return self.digital_link();
        }
        let kept: Vec<(&'static str, String)> = self
            .elements
            .iter()
            .filter(|(ai, _)| finest.contains(ai))
            .cloned()
            .collect();
        link(&kept)
    }

    /// The GTIN of a trade-item key (SGTIN, LGTIN, product class).
    pub fn gtin(&self) -> Option<&str> {
        self.elements
            .iter()
            .find(|(ai, _)| *ai == "01")
            .map(|(_, value)| value.as_str())
    }

    /// The value of `ai`, if the key has it.
    pub fn value(&self, ai: &str) -> Option<&str> {
        self.elements
            .iter()
            .find(|(found, _)| *found == ai)
            .map(|(_, value)| value.as_str())
    }
}

fn link(elements: &[(&'static str, String)]) -> String {
    let mut uri = DIGITAL_LINK_HOST.to_string();
    for (ai, value) in elements {
        let _ = write!(uri, "/{ai}/{}", percent_encode(value));
    }
    uri
}

/// Digital Link percent-encoding: everything outside RFC 3986's unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Undoes `%HH` escapes (EPC URIs and Digital Link paths both use them).
pub fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = text
                .get(at + 1..at + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("bad escape at byte {at}"))?;
            out.push(hex);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "escapes are not UTF-8".to_string())
}

/// A serial or reference from an EPC URI: unescaped, then within GS1's character set 82.
fn reference(what: &str, text: &str, max: usize) -> Result<String, String> {
    let value = percent_decode(text)?;
    if !is_cset82(&value) || value.len() > max {
        return Err(format!(
            "{what} {value:?} is not 1 to {max} characters of GS1's set 82"
        ));
    }
    Ok(value)
}

/// Company prefix and the digits that follow it, which together must be `length` digits.
fn prefixed(prefix: &str, rest: &str, length: usize, what: &str) -> Result<String, String> {
    if !(6..=12).contains(&prefix.len()) || !all_digits(prefix) {
        return Err(format!("company prefix {prefix:?} is not 6 to 12 digits"));
    }
    if !all_digits(rest) && !rest.is_empty() || prefix.len() + rest.len() != length {
        return Err(format!(
            "company prefix and {what} are {} digits, {length} expected",
            prefix.len() + rest.len()
        ));
    }
    Ok(format!("{prefix}{rest}"))
}

/// `urn:epc:` already stripped: `id:sgtin:…`, `class:lgtin:…`, `idpat:sgtin:…`.
fn epc_urn(rest: &str) -> Result<Gs1Key, String> {
    let (form, rest) = rest.split_once(':').ok_or("no EPC scheme")?;
    let (scheme, body) = rest.split_once(':').ok_or("no EPC scheme")?;
    let parts: Vec<&str> = body.split('.').collect();
    let read = match (form, scheme) {
        ("id", "sgtin") => sgtin,
        ("class", "lgtin") => lgtin,
        ("idpat", "sgtin") => product_class,
        ("id", "sscc") => sscc,
        ("id", "sgln") => sgln,
        ("id", "pgln") => pgln,
        ("id", "grai") => grai,
        ("id", "giai") => giai,
        ("id", "gsrn") => |parts: &[&str]| service_relation(parts, KeyKind::Gsrn, "8018"),
        ("id", "gsrnp") => |parts: &[&str]| service_relation(parts, KeyKind::Gsrnp, "8017"),
        ("id", "gdti") => gdti,
        ("id", "sgcn") => sgcn,
        ("id", "ginc") => ginc,
        ("id", "gsin") => gsin,
        ("id", "cpi") => cpi,
        _ => {
            return Err(format!(
                "urn:epc:{form}:{scheme}: is not an EPC URI this ledger reads (id: sgtin, \
                 sscc, sgln, pgln, grai, giai, gsrn, gsrnp, gdti, sgcn, ginc, gsin, cpi; \
                 class: lgtin; idpat: sgtin)"
            ));
        }
    };
    read(&parts)
}

/// The parts of an EPC URI's body, exactly `N` of them.
fn parts<'a, const N: usize>(parts: &[&'a str]) -> Result<[&'a str; N], String> {
    <[&str; N]>::try_from(parts)
        .map_err(|_| format!("{} parts separated by dots, {N} expected", parts.len()))
}

fn sgtin(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, item, serial] = parts(found)?;
    Ok(Gs1Key {
        kind: KeyKind::Sgtin,
        elements: vec![
            ("01", gtin(prefix, item)?),
            ("21", reference("serial", serial, 20)?),
        ],
    })
}

fn lgtin(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, item, lot] = parts(found)?;
    Ok(Gs1Key {
        kind: KeyKind::Lgtin,
        elements: vec![
            ("01", gtin(prefix, item)?),
            ("10", reference("lot", lot, 20)?),
        ],
    })
}

fn product_class(found: &[&str]) -> Result<Gs1Key, String> {
    match parts(found)? {
        [prefix, item, "*"] => Ok(single(KeyKind::ProductClass, "01", gtin(prefix, item)?)),
        _ => Err("an SGTIN pattern names every serial with *".into()),
    }
}

fn sscc(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, serial] = parts(found)?;
    let (extension, rest) = split_first(serial)?;
    let body = format!(
        "{extension}{}",
        prefixed(prefix, rest, 16, "serial reference")?
    );
    if !all_digits(&body) {
        return Err(format!("extension digit {extension:?} is not a digit"));
    }
    Ok(single(KeyKind::Sscc, "00", with_check(&body)))
}

fn sgln(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, location, extension] = parts(found)?;
    let gln = with_check(&prefixed(prefix, location, 12, "location reference")?);
    let mut elements = vec![("414", gln)];
    if extension != "0" {
        elements.push(("254", reference("extension", extension, 20)?));
    }
    Ok(Gs1Key {
        kind: KeyKind::Sgln,
        elements,
    })
}

fn pgln(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, party] = parts(found)?;
    let gln = with_check(&prefixed(prefix, party, 12, "party reference")?);
    Ok(single(KeyKind::Pgln, "417", gln))
}

/// A key of 12 digits and a check digit, then an optional serial (GRAI, GDTI).
fn numbered_with_serial(
    prefix: &str,
    rest: &str,
    what: &str,
    serial: &str,
    max: usize,
) -> Result<String, String> {
    let body = with_check(&prefixed(prefix, rest, 12, what)?);
    let serial = if serial.is_empty() {
        String::new()
    } else {
        reference("serial", serial, max)?
    };
    Ok(format!("{body}{serial}"))
}

fn grai(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, asset, serial] = parts(found)?;
    let value = numbered_with_serial(prefix, asset, "asset type", serial, 16)?;
    Ok(single(KeyKind::Grai, "8003", format!("0{value}")))
}

fn gdti(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, document, serial] = parts(found)?;
    let value = numbered_with_serial(prefix, document, "document type", serial, 17)?;
    Ok(single(KeyKind::Gdti, "253", value))
}

/// A company prefix followed by a free reference, 30 characters at most in all (GIAI, GINC).
fn prefixed_reference(prefix: &str, rest: &str, what: &str) -> Result<String, String> {
    prefixed(prefix, "", prefix.len(), "")?;
    let value = format!("{prefix}{}", reference(what, rest, 30)?);
    if value.len() > 30 {
        return Err(format!("{value:?} is longer than 30 characters"));
    }
    Ok(value)
}

fn giai(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, asset] = parts(found)?;
    let value = prefixed_reference(prefix, asset, "asset reference")?;
    Ok(single(KeyKind::Giai, "8004", value))
}

fn ginc(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, consignment] = parts(found)?;
    let value = prefixed_reference(prefix, consignment, "consignment reference")?;
    Ok(single(KeyKind::Ginc, "401", value))
}

fn service_relation(found: &[&str], kind: KeyKind, ai: &'static str) -> Result<Gs1Key, String> {
    let [prefix, service] = parts(found)?;
    let value = with_check(&prefixed(prefix, service, 17, "service reference")?);
    Ok(single(kind, ai, value))
}

fn sgcn(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, coupon, serial] = parts(found)?;
    let body = with_check(&prefixed(prefix, coupon, 12, "coupon reference")?);
    if !serial.is_empty() && (!all_digits(serial) || serial.len() > 12) {
        return Err(format!("coupon serial {serial:?} is not up to 12 digits"));
    }
    Ok(single(KeyKind::Sgcn, "255", format!("{body}{serial}")))
}

fn gsin(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, shipper] = parts(found)?;
    let value = with_check(&prefixed(prefix, shipper, 16, "shipper reference")?);
    Ok(single(KeyKind::Gsin, "402", value))
}

fn cpi(found: &[&str]) -> Result<Gs1Key, String> {
    let [prefix, part, serial] = parts(found)?;
    if !all_digits(serial) || serial.len() > 12 {
        return Err(format!("part serial {serial:?} is not up to 12 digits"));
    }
    let value = prefixed_reference(prefix, part, "part reference")?;
    Ok(Gs1Key {
        kind: KeyKind::Cpi,
        elements: vec![("8010", value), ("8011", serial.to_string())],
    })
}

fn single(kind: KeyKind, ai: &'static str, value: String) -> Gs1Key {
    Gs1Key {
        kind,
        elements: vec![(ai, value)],
    }
}

fn split_first(text: &str) -> Result<(char, &str), String> {
    let first = text.chars().next().ok_or("empty reference")?;
    Ok((first, &text[first.len_utf8()..]))
}

fn with_check(body: &str) -> String {
    format!("{body}{}", check_digit(body))
}

/// An SGTIN's indicator-and-item reference after its company prefix, as a GTIN-14.
fn gtin(prefix: &str, item: &str) -> Result<String, String> {
    let (indicator, rest) = split_first(item)?;
    let body = format!(
        "{indicator}{}",
        prefixed(prefix, rest, 12, "item reference")?
    );
    if !all_digits(&body) {
        return Err(format!("indicator {indicator:?} is not a digit"));
    }
    Ok(with_check(&body))
}

/// Qualifiers each primary key may carry, in Digital Link order.
fn qualifiers(primary: &str) -> &'static [&'static str] {
    match primary {
        "01" => &["22", "10", "21", "235"],
        "414" => &["254"],
        "8006" => &["22", "10", "21"],
        "8010" => &["8011"],
        _ => &[],
    }
}

const PRIMARY_KEYS: [&str; 15] = [
    "01", "00", "414", "417", "8003", "8004", "8018", "8017", "253", "255", "401", "402", "8010",
    "8006", "8013",
];

/// The path of a Digital Link URI (after the host). `Ok(None)` when no primary key is in it.
fn digital_link(path: &str) -> Result<Option<Gs1Key>, String> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(start) = (0..segments.len())
        .find(|&at| PRIMARY_KEYS.contains(&segments[at]) && (segments.len() - at) % 2 == 0)
    else {
        return Ok(None);
    };
    let primary = segments[start];
    let mut elements: Vec<(&'static str, String)> = Vec::new();
    for pair in segments[start..].chunks(2) {
        let (ai, value) = (pair[0], percent_decode(pair[1])?);
        let known = PRIMARY_KEYS
            .iter()
            .chain(qualifiers(primary))
            .find(|&&k| k == ai)
            .ok_or_else(|| format!("({ai}) is not a qualifier of ({primary})"))?;
        if elements.iter().any(|(seen, _)| seen == known) {
            return Err(format!("({ai}) appears twice"));
        }
        if elements.is_empty() != (*known == primary) {
            return Err(format!("({ai}) is not a qualifier of ({primary})"));
        }
        elements.push((known, value));
    }
    let kind = checked_elements(&mut elements)?;
    Ok(Some(Gs1Key { kind, elements }))
}

/// Checks each value of a Digital Link key (lengths, digits, check digits) and names its kind.
fn checked_elements(elements: &mut [(&'static str, String)]) -> Result<KeyKind, String> {
    let serial = elements.iter().any(|(found, _)| *found == "21");
    let lot = elements.iter().any(|(found, _)| *found == "10");
    let (primary, value) = elements.first().cloned().ok_or("no key")?;
    let wrong = |what: &str| Err(format!("({primary}) {value:?} is not {what}"));
    let kind = match primary {
        "01" => {
            if !([8, 12, 13, 14].contains(&value.len()) && all_digits(&value)) {
                return wrong("a GTIN of 8, 12, 13 or 14 digits");
            }
            let padded = format!("{value:0>14}");
            if !checked_number(&padded, 14) {
                return wrong("a GTIN with a valid check digit");
            }
            elements[0].1 = padded;
            match (serial, lot) {
                (true, _) => KeyKind::Sgtin,
                (false, true) => KeyKind::Lgtin,
                _ => KeyKind::ProductClass,
            }
        }
        "00" if checked_number(&value, 18) => KeyKind::Sscc,
        "414" if checked_number(&value, 13) => KeyKind::Sgln,
        "417" if checked_number(&value, 13) => KeyKind::Pgln,
        "8018" if checked_number(&value, 18) => KeyKind::Gsrn,
        "8017" if checked_number(&value, 18) => KeyKind::Gsrnp,
        "402" if checked_number(&value, 17) => KeyKind::Gsin,
        "253" if value.get(..13).is_some_and(|b| checked_number(b, 13)) => KeyKind::Gdti,
        "255" if value.get(..13).is_some_and(|b| checked_number(b, 13)) => KeyKind::Sgcn,
        "8003"
            if value.starts_with('0')
                && value.get(1..14).is_some_and(|b| checked_number(b, 13)) =>
        {
            KeyKind::Grai
        }
        "8004" if is_cset82(&value) && value.len() <= 30 => KeyKind::Giai,
        "401" if is_cset82(&value) && value.len() <= 30 => KeyKind::Ginc,
        "8010" if is_cset82(&value) && value.len() <= 30 => KeyKind::Cpi,
        "00" | "414" | "417" | "8018" | "8017" | "402" | "253" | "255" | "8003" => {
            return wrong("a number of the right length with a valid check digit");
        }
        _ => return wrong("a key this ledger reads"),
    };
    for (ai, qualifier) in elements.iter().skip(1) {
        if !is_cset82(qualifier) || qualifier.len() > 20 {
            return Err(format!(
                "({ai}) {qualifier:?} is not 1 to 20 characters of GS1's set 82"
            ));
        }
    }
    Ok(kind)
}
