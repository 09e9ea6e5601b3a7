//! Customs decisions by the law in force on the day: the dated rule sets of each jurisdiction
//! (`policy`), the exchange-rate table (`rates`), duties and taxes (`assess`), the risk profile,
//! lanes and the random draw (`risk`), trusted-trader standing (`tiers`) and the ICS2 view
//! (`ics2`). The release decision that combines them is `crate::release`.
//!
//! A policy directory holds one file per jurisdiction, `exchange-rates.toml` and `risk.toml`;
//! `client/policies/` is the bundled one, and its README documents every field.

pub mod assess;
pub mod ics2;
pub mod policy;
pub mod rates;
pub mod risk;
pub mod tiers;
pub mod units;

use std::path::Path;

use waybill_protocol::CountryCode;

pub use policy::PolicyError;
use policy::RuleSet;
use rates::ExchangeRates;
use risk::RiskProfile;

/// The exchange-rate table's and the risk profile's file names; every other `*.toml` in a
/// policy directory is a jurisdiction's rule set.
pub const RATES_FILE: &str = "exchange-rates.toml";
pub const RISK_FILE: &str = "risk.toml";

/// The bundled policy directory, compiled in so the CLI works from any directory; in file
/// name order, as [`Policies::load`] reads a directory.
const BUNDLED: [(&str, &str); 6] = [
    ("au.toml", include_str!("../../policies/au.toml")),
    ("eu.toml", include_str!("../../policies/eu.toml")),
    (
        RATES_FILE,
        include_str!("../../policies/exchange-rates.toml"),
    ),
    ("gb.toml", include_str!("../../policies/gb.toml")),
    (RISK_FILE, include_str!("../../policies/risk.toml")),
    ("us.toml", include_str!("../../policies/us.toml")),
];

/// Everything a decision applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    pub jurisdictions: Vec<RuleSet>,
    pub rates: ExchangeRates,
    pub risk: RiskProfile,
}

/// Why a policy directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PoliciesError {
    #[error(transparent)]
    File(#[from] PolicyError),
    #[error("{path}: {message}")]
    Directory { path: String, message: String },
}

impl Policies {
    /// Reads a directory's files, given as (file name, text).
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Policies, PoliciesError> {
        let (mut jurisdictions, mut rates, mut risk) = (Vec::new(), None, None);
        for (name, text) in files {
            match name {
                RATES_FILE => rates = Some(ExchangeRates::parse(name, text)?),
                RISK_FILE => risk = Some(RiskProfile::parse(name, text)?),
                _ => jurisdictions.push(RuleSet::parse(name, text)?),
            }
        }
        let missing = |file: &str| PoliciesError::Directory {
            path: file.into(),
            message: "missing from the policy directory".into(),
        };
        let policies = Policies {
            jurisdictions,
            rates: rates.ok_or_else(|| missing(RATES_FILE))?,
            risk: risk.ok_or_else(|| missing(RISK_FILE))?,
        };
        policies.refuse_shared_countries()?;
        Ok(policies)
    }

    /// One destination country, one jurisdiction.
    fn refuse_shared_countries(&self) -> Result<(), PoliciesError> {
        for (index, set) in self.jurisdictions.iter().enumerate() {
            for earlier in &self.jurisdictions[..index] {
                if let Some(country) = set.countries.iter().find(|c| earlier.countries.contains(c))
                {
                    return Err(PoliciesError::Directory {
                        path: set.file.clone(),
                        message: format!(
                            "countries: {country} is already covered by {}",
                            earlier.file
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn bundled() -> Policies {
        Policies::from_files(BUNDLED)
            .expect("the bundled policies are valid (a unit test reads them)")
    }

    /// Reads every `*.toml` of `directory` (bounded by `files::read_bounded`'s limit each).
    pub fn load(directory: &Path) -> Result<Policies, PoliciesError> {
        let fail = |message: String| PoliciesError::Directory {
            path: directory.display().to_string(),
            message,
        };
        let entries = std::fs::read_dir(directory).map_err(|e| fail(e.to_string()))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| fail(e.to_string()))?.path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            if files.len() >= crate::limits::POLICY_FILES_MAX {
                return Err(fail(format!(
                    "more than {} policy files",
                    crate::limits::POLICY_FILES_MAX
                )));
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = read_policy_file(&path).map_err(fail)?;
            files.push((name, bytes));
        }
        files.sort();
        Policies::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    }

    pub fn jurisdiction_of(&self, destination: &CountryCode) -> Option<&RuleSet> {
        self.jurisdictions
            .iter()
            .find(|set| set.countries.contains(destination))
    }
}

/// A policy file, read whole up to the protocol's file bound.
fn read_policy_file(path: &Path) -> Result<String, String> {
    let bytes =
        waybill_protocol::files::read_bounded("policy file", path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))
}
