//! The bundled customs law, jurisdiction by jurisdiction: consignments on either side of each
//! rule change, with and without tax collected at sale, gifts or not, and the exact duty, tax
//! and fees expected, each row naming the rules that must produce them. And policy files that
//! must be refused, with the file, line and field.

use waybill_client::customs::Policies;
use waybill_client::customs::assess::{Consignment, DayBasis, GoodsLine, assess};
use waybill_client::customs::policy::RuleSet;
use waybill_client::customs::units::Day;
use waybill_protocol::{CountryCode, CurrencyCode};

/// One consignment and what the law of its day makes of it.
struct Row {
    why: &'static str,
    to: &'static str,
    day: &'static str,
    currency: &'static str,
    /// (HS sub-heading, quantity, line value in minor units, origin).
    lines: &'static [(&'static str, u32, u64, &'static str)],
    ioss: Option<&'static str>,
    seller: Option<&'static str>,
    gift: bool,
    /// Minor units of the jurisdiction's currency: duty (customs and additional), import VAT,
    /// fees.
    duty: u64,
    vat: u64,
    fees: u64,
    /// Every rule that must appear, as a charge or a treatment.
    rules: &'static [&'static str],
}

const fn row(
    why: &'static str,
    to: &'static str,
    day: &'static str,
    currency: &'static str,
) -> Row {
    Row {
        why,
        to,
        day,
        currency,
        lines: &[],
        ioss: None,
        seller: None,
        gift: false,
        duty: 0,
        vat: 0,
        fees: 0,
        rules: &[],
    }
}

const SHOES: &[(&str, u32, u64, &str)] = &[("640411", 1, 8_990, "CN")];
const IOSS: Option<&str> = Some("IM1234567890");

fn check(rows: &[Row]) {
    let policies = Policies::bundled();
    for row in rows {
        let consignment = Consignment {
            day: Day::parse(row.day).expect("row day"),
            day_basis: DayBasis::Arrival,
            destination: CountryCode::new(row.to).expect("row country"),
            currency: CurrencyCode::new(row.currency).expect("row currency"),
            lines: row
                .lines
                .iter()
                .map(|(hs6, quantity, value_minor, origin)| GoodsLine {
                    description: "goods".into(),
                    hs6: (*hs6).into(),
                    quantity: *quantity,
                    value_minor: *value_minor,
                    origin: CountryCode::new(*origin).expect("origin"),
                })
                .collect(),
            ioss: row.ioss.map(Into::into),
            seller_registration: row.seller.map(Into::into),
            gift: row.gift,
        };
        let set = policies
            .jurisdiction_of(&consignment.destination)
            .expect("a rule set");
        let assessment = assess(&consignment, set, &policies.rates);
        assert_eq!(assessment.not_assessed, None, "{}", row.why);
        let sum = |kinds: &[&str]| -> u64 {
            assessment
                .charges
                .iter()
                .filter(|c| kinds.contains(&c.kind))
                .map(|c| c.amount.minor)
                .sum()
        };
        let got = (
            sum(&["customs_duty", "additional_duty"]),
            sum(&["import_vat"]),
            sum(&["fee"]),
        );
        assert_eq!(
            got,
            (row.duty, row.vat, row.fees),
            "{}: {assessment:#?}",
            row.why
        );
        let total = assessment.total_due.as_ref().expect("a total").minor;
        assert_eq!(total, row.duty + row.vat + row.fees, "{}", row.why);
        let cited: Vec<&str> = assessment
            .charges
            .iter()
            .map(|c| c.rule.as_str())
            .chain(assessment.treatments.iter().map(|t| t.rule.as_str()))
            .collect();
        for rule in row.rules {
            assert!(
                cited.contains(rule),
                "{}: {rule} not among {cited:?}",
                row.why
            );
        }
        for charge in &assessment.charges {
            assert_eq!(
                charge.amount.currency, set.currency,
                "{}: amounts in the law's currency",
                row.why
            );
            assert!(
                !charge.source.is_empty(),
                "{}: every amount names its legal source",
                row.why
            );
        }
    }
}

#[test]
fn eu_low_value_consignments_before_and_after_the_interim_flat_duty() {
    check(&[
        Row {
            lines: SHOES,
            ioss: IOSS,
            rules: &["eu-ioss", "eu-duty-relief-150"],
            ..row(
                "IOSS, €89.90, the day before the flat duty: VAT at sale, duty relief",
                "NL",
                "2026-06-30",
                "EUR",
            )
        },
        Row {
            lines: SHOES,
            ioss: IOSS,
            duty: 300,
            rules: &["eu-ioss", "eu-flat-duty-3"],
            ..row(
                "IOSS, one sub-heading, from 2026-07-01: €3",
                "NL",
                "2026-07-01",
                "EUR",
            )
        },
        Row {
            lines: &[("620630", 2, 4_000, "CN"), ("610610", 1, 2_000, "CN")],
            ioss: IOSS,
            duty: 600,
            rules: &["eu-flat-duty-3"],
            ..row(
                "three blouses of two sub-headings: €6",
                "NL",
                "2026-07-01",
                "EUR",
            )
        },
        Row {
            lines: &[("620630", 2, 4_000, "CN"), ("620630", 3, 5_000, "VN")],
            ioss: IOSS,
            duty: 300,
            rules: &["eu-flat-duty-3"],
            ..row(
                "several items of one sub-heading on two lines: €3",
                "DE",
                "2026-07-01",
                "EUR",
            )
        },
        Row {
            lines: &[("640411", 1, 20_000, "CN")],
            ioss: IOSS,
            duty: 3_400,
            vat: 4_914,
            rules: &["eu-duty-rates", "eu-import-vat"],
            ..row(
                "over €150 with an IOSS number: no scheme; 17 % duty, 21 % VAT on value + duty",
                "NL",
                "2026-07-01",
                "EUR",
            )
        },
        Row {
            lines: SHOES,
            vat: 1_888,
            rules: &["eu-duty-relief-150", "eu-import-vat"],
            ..row(
                "no IOSS, under €150, before 2026-07-01: relief, VAT at import",
                "NL",
                "2026-06-30",
                "EUR",
            )
        },
        Row {
            lines: SHOES,
            duty: 1_528,
            vat: 2_209,
            rules: &["eu-duty-rates", "eu-import-vat"],
            ..row(
                "no IOSS, under €150, from 2026-07-01: the relief is gone",
                "NL",
                "2026-07-01",
                "EUR",
            )
        },
        Row {
            lines: &[("610610", 1, 4_000, "CN")],
            gift: true,
            rules: &["eu-gift-45"],
            ..row("a €40 gift", "FR", "2026-07-01", "EUR")
        },
        Row {
            lines: SHOES,
            ioss: IOSS,
            duty: 300,
            fees: 200,
            rules: &["eu-flat-duty-3", "eu-handling-fee"],
            ..row(
                "the proposed handling fee, once its start date comes",
                "NL",
                "2028-07-01",
                "EUR",
            )
        },
        Row {
            lines: &[("640411", 1, 10_000, "CN")],
            ioss: IOSS,
            duty: 300,
            rules: &["eu-ioss", "eu-flat-duty-3"],
            ..row(
                "USD 100 at 0.86: EUR 86.00 under IOSS",
                "DE",
                "2026-07-15",
                "USD",
            )
        },
        Row {
            lines: &[("220421", 1, 3_000, "CL")],
            ioss: IOSS,
            duty: 120,
            vat: 655,
            rules: &["eu-duty-rates", "eu-import-vat"],
            ..row(
                "wine under IOSS: excise goods are excluded; default 4 % duty",
                "NL",
                "2026-07-01",
                "EUR",
            )
        },
    ]);
}

#[test]
fn us_consignments_either_side_of_the_de_minimis_suspension() {
    const SHOES_100: &[(&str, u32, u64, &str)] = &[("640411", 1, 10_000, "CN")];
    check(&[
        Row {
            lines: SHOES_100,
            rules: &["us-de-minimis-800"],
            ..row(
                "USD 100, the last day of de minimis",
                "US",
                "2025-08-28",
                "USD",
            )
        },
        Row {
            lines: SHOES_100,
            duty: 2_000,
            rules: &["us-duty-rates", "us-entry"],
            ..row(
                "USD 100 the day after: dutiable, informal entry",
                "US",
                "2025-08-29",
                "USD",
            )
        },
        Row {
            lines: SHOES_100,
            duty: 4_000,
            rules: &["us-duty-rates", "us-ieepa", "us-entry"],
            ..row(
                "USD 100 from China in 2026: 20 % duty + 20 % IEEPA",
                "US",
                "2026-07-01",
                "USD",
            )
        },
        Row {
            lines: &[("610610", 1, 8_000, "CN")],
            gift: true,
            rules: &["us-gift-100"],
            ..row("a bona fide gift of USD 80", "US", "2026-07-01", "USD")
        },
        Row {
            lines: &[("640411", 1, 15_000, "CN")],
            gift: true,
            duty: 6_000,
            rules: &["us-duty-rates", "us-ieepa"],
            ..row(
                "a gift of USD 150: over the USD 100 exemption",
                "US",
                "2026-07-01",
                "USD",
            )
        },
        Row {
            lines: &[("851713", 1, 300_000, "VN")],
            rules: &["us-entry"],
            ..row(
                "USD 3,000 of phones: duty-free, a formal entry",
                "US",
                "2026-07-01",
                "USD",
            )
        },
    ]);
}

#[test]
fn uk_consignments_up_to_and_over_135_pounds() {
    const SHOES_GBP: &[(&str, u32, u64, &str)] = &[("640411", 1, 10_000, "CN")];
    check(&[
        Row {
            lines: SHOES_GBP,
            seller: Some("GB123456789"),
            rules: &["gb-vat-at-sale-135", "gb-low-value-relief-135"],
            ..row(
                "£100 with the marketplace's VAT number",
                "GB",
                "2026-07-01",
                "GBP",
            )
        },
        Row {
            lines: SHOES_GBP,
            vat: 2_000,
            rules: &["gb-low-value-relief-135", "gb-import-vat"],
            ..row(
                "£100 without a VAT number: VAT at import",
                "GB",
                "2026-07-01",
                "GBP",
            )
        },
        Row {
            lines: &[("640411", 1, 20_000, "CN")],
            seller: Some("GB123456789"),
            duty: 3_200,
            vat: 4_640,
            rules: &["gb-duty-rates", "gb-import-vat"],
            ..row("£200: import VAT and 16 % duty", "GB", "2026-07-01", "GBP")
        },
        Row {
            lines: &[("610610", 1, 3_000, "CN")],
            gift: true,
            rules: &["gb-gift-39"],
            ..row("a £30 gift", "GB", "2026-07-01", "GBP")
        },
        Row {
            lines: SHOES_GBP,
            seller: Some("GB123456789"),
            rules: &["gb-vat-at-sale-135"],
            ..row(
                "EUR 100 at 0.87: £87 under the scheme",
                "GB",
                "2026-12-10",
                "EUR",
            )
        },
    ]);
}

#[test]
fn australian_consignments_up_to_and_over_1000_dollars() {
    const SHOES_AUD: &[(&str, u32, u64, &str)] = &[("640411", 1, 50_000, "CN")];
    check(&[
        Row {
            lines: SHOES_AUD,
            seller: Some("12345678901"),
            rules: &["au-gst-at-sale-1000", "au-low-value-1000"],
            ..row(
                "A$500 from a registered vendor (ABN)",
                "AU",
                "2026-07-01",
                "AUD",
            )
        },
        Row {
            lines: SHOES_AUD,
            seller: Some("ARN123456789012"),
            rules: &["au-gst-at-sale-1000"],
            ..row(
                "A$500 from a platform with an ARN",
                "AU",
                "2026-07-01",
                "AUD",
            )
        },
        Row {
            lines: SHOES_AUD,
            vat: 5_000,
            rules: &["au-low-value-1000", "au-import-gst"],
            ..row(
                "A$500 from an unregistered vendor: GST at the border",
                "AU",
                "2026-07-01",
                "AUD",
            )
        },
        Row {
            lines: &[("640411", 1, 150_000, "CN")],
            seller: Some("12345678901"),
            duty: 7_500,
            vat: 15_750,
            rules: &["au-duty-rates", "au-import-gst"],
            ..row(
                "A$1,500: 5 % duty and 10 % GST at the border",
                "AU",
                "2026-07-01",
                "AUD",
            )
        },
    ]);
}

#[test]
fn a_registration_misused_is_named_as_a_tax_issue() {
    let policies = Policies::bundled();
    let consignment = |value_minor, ioss: &str| Consignment {
        day: Day::parse("2026-07-01").expect("day"),
        day_basis: DayBasis::Declaration,
        destination: CountryCode::new("NL").expect("country"),
        currency: CurrencyCode::new("EUR").expect("currency"),
        lines: vec![GoodsLine {
            description: "shoes".into(),
            hs6: "640411".into(),
            quantity: 1,
            value_minor,
            origin: CountryCode::new("CN").expect("origin"),
        }],
        ioss: Some(ioss.into()),
        seller_registration: None,
        gift: false,
    };
    let set = policies
        .jurisdiction_of(&CountryCode::new("NL").expect("country"))
        .expect("EU");
    let over = assess(&consignment(20_000, "IM1234567890"), set, &policies.rates);
    assert!(
        over.issues[0].detail.contains("over the 150.00 EUR limit"),
        "{:?}",
        over.issues
    );
    let malformed = assess(&consignment(5_000, "IM12"), set, &policies.rates);
    assert!(
        malformed.issues[0].detail.contains("not a valid Ioss"),
        "{:?}",
        malformed.issues
    );
    // No rate for the day: not assessed, naming the pair and the day.
    let mut yen = consignment(5_000, "IM1234567890");
    yen.currency = CurrencyCode::new("JPY").expect("currency");
    let unrated = assess(&yen, set, &policies.rates);
    assert!(
        unrated
            .not_assessed
            .as_deref()
            .is_some_and(|r| r.contains("JPY → EUR") && r.contains("2026-07-01")),
        "{unrated:?}"
    );
}

const GOOD: &str = r#"jurisdiction = "XX"
name = "Test"
currency = "EUR"
countries = ["NL"]

[[rule]]
id = "relief"
kind = "duty_relief"
threshold = "150.00 EUR"
valid_from = 2021-01-01
valid_until = 2026-06-30
source = "a regulation"
checked = 2026-11-30
"#;

fn refused(text: &str) -> waybill_client::customs::PolicyError {
    RuleSet::parse("xx.toml", text).expect_err("the file must be refused")
}

#[test]
fn policy_files_are_refused_with_file_line_and_field() {
    RuleSet::parse("xx.toml", GOOD).expect("the good file reads");
    let unknown = refused(&GOOD.replace("threshold =", "thresold ="));
    assert_eq!(
        (unknown.file.as_str(), unknown.line, unknown.field.as_str()),
        ("xx.toml", 9, "thresold"),
        "{unknown}"
    );
    assert!(unknown.message.contains("unknown field"), "{unknown}");
    let overlapping = refused(&format!(
        "{GOOD}{}",
        GOOD[GOOD.find("[[rule]]").expect("a rule")..]
            .replace("2021-01-01", "2026-06-01")
            .replace("2026-06-30", "2027-06-30")
    ));
    assert_eq!(
        (overlapping.line, overlapping.field.as_str()),
        (14, "rule.valid_from"),
        "{overlapping}"
    );
    assert!(overlapping.message.contains("line 6"), "{overlapping}");
    let unsourced = refused(&GOOD.replace("source = \"a regulation\"\n", ""));
    assert_eq!(
        (unsourced.line, unsourced.field.as_str()),
        (6, "rule[0] (relief).source"),
        "{unsourced}"
    );
    let blank = refused(&GOOD.replace("\"a regulation\"", "\"  \""));
    assert_eq!(blank.field, "rule[0] (relief).source", "{blank}");
    let dollars = refused(&GOOD.replace("150.00 EUR", "150.00 USD"));
    assert_eq!(dollars.field, "rule[0] (relief).threshold", "{dollars}");
    assert!(
        dollars
            .message
            .contains("in USD, the jurisdiction's amounts are in EUR"),
        "{dollars}"
    );
    let misplaced = refused(&GOOD.replace("threshold =", "amount = \"1.00 EUR\"\nthreshold ="));
    assert_eq!(misplaced.field, "rule[0] (relief).amount", "{misplaced}");
    let bad_kind = refused(&GOOD.replace("duty_relief", "duty_holiday"));
    assert_eq!(bad_kind.field, "rule[0] (relief).kind", "{bad_kind}");
    let reversed = refused(&GOOD.replace("2026-06-30", "2020-06-30"));
    assert_eq!(reversed.field, "rule[0] (relief).valid_until", "{reversed}");
    let impossible = refused(&GOOD.replace("2021-01-01", "2021-02-30"));
    assert!(
        impossible.field.contains("valid_from") || impossible.message.contains("2021-02-30"),
        "{impossible}"
    );
    let text = format!("{unknown}");
    assert!(text.starts_with("xx.toml:9: thresold: "), "{text}");
}

#[test]
fn the_bundled_directory_reads_and_every_rule_has_a_source() {
    let policies = Policies::bundled();
    assert_eq!(policies.jurisdictions.len(), 4);
    for set in &policies.jurisdictions {
        for rule in &set.rules {
            assert!(
                !rule.provenance.source.is_empty(),
                "{}: {}",
                set.file,
                rule.id
            );
        }
    }
    // Read from disk, the same directory gives the same policies.
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let loaded = Policies::load(&directory).expect("the directory reads");
    assert!(
        loaded == policies,
        "the bundled and the loaded directory differ"
    );
}
