//! The risk profile (`client/policies/risk.toml`): weighted criteria, the score at which each
//! lane starts, trusted-trader credits and the random selection rates by tier; and the draw,
//! which nobody can know when the consignment is declared.

use serde::{Deserialize, Serialize};
use waybill_protocol::Hash;

use super::policy::{PolicyError, Source};
use super::units::Money;

/// Lanes in the ASYCUDA / WCO sense, plus HOLD where the ledger itself stops the goods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Release.
    Green,
    /// Release, then a post-clearance audit.
    Blue,
    /// Documents checked before release.
    Yellow,
    /// Physical inspection before release.
    Red,
    /// Stopped by the ledger: an open hold, a seizure, a suspect serial, do-not-load.
    Hold,
}

impl Lane {
    pub fn released(self) -> bool {
        matches!(self, Lane::Green | Lane::Blue)
    }

    pub fn name(self) -> &'static str {
        match self {
            Lane::Green => "GREEN",
            Lane::Blue => "BLUE",
            Lane::Yellow => "YELLOW",
            Lane::Red => "RED",
            Lane::Hold => "HOLD",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Lane::Green => "release",
            Lane::Blue => "release, post-clearance audit",
            Lane::Yellow => "documentary check before release",
            Lane::Red => "physical inspection before release",
            Lane::Hold => "held: the ledger stops the goods",
        }
    }
}

/// The weights of the criteria; each is documented in `risk.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub origin: i32,
    pub hs_risk: i32,
    pub undervaluation: i32,
    pub new_consignee: i32,
    pub many_consignments: i32,
    pub possible_split: i32,
    pub prior_findings: i32,
    pub custody: i32,
    pub serial_gap: i32,
    pub tax_issue: i32,
    pub ics2_missing: i32,
    pub not_assessed: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lanes {
    pub yellow_from: i32,
    pub red_from: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFloor {
    hs_prefix: String,
    unit_value: String,
}

/// A unit value below which goods of this HS prefix look undervalued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueFloor {
    pub hs_prefix: String,
    pub unit_value: Money,
}

/// A trusted-trader tier's effect: a score credit and its own selection rates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierEffect {
    pub programme: String,
    pub tier: String,
    /// Subtracted from the score (written as a positive number).
    pub credit: i32,
    pub red_per_million: u32,
    pub blue_per_million: u32,
}

/// Random selection for consignments with no accreditation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    pub red_per_million: u32,
    pub blue_per_million: u32,
    /// No tier goes below this red rate: nobody is never checked.
    pub minimum_red_per_million: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    lanes: Lanes,
    weights: Weights,
    selection: Selection,
    #[serde(default)]
    origin_countries: Vec<String>,
    #[serde(default)]
    hs_risk: Vec<String>,
    #[serde(default)]
    floor: Vec<toml::Spanned<RawFloor>>,
    consignee_window_days: u32,
    many_consignments: u32,
    prior_window_days: u32,
    #[serde(default)]
    tier: Vec<toml::Spanned<TierEffect>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskProfile {
    pub file: String,
    pub lanes: Lanes,
    pub weights: Weights,
    pub selection: Selection,
    pub origin_countries: Vec<waybill_protocol::CountryCode>,
    pub hs_risk: Vec<String>,
    pub floors: Vec<ValueFloor>,
    /// Other consignments to the same consignee are looked at over this many days.
    pub consignee_window_days: u32,
    /// This many other consignments to one consignee in the window is "many".
    pub many_consignments: u32,
    /// Failed inspections and seizures of a party's consignments count over this many days.
    pub prior_window_days: u32,
    pub tiers: Vec<TierEffect>,
}

const PER_MILLION: u32 = 1_000_000;

impl RiskProfile {
    pub fn parse(file: &str, text: &str) -> Result<RiskProfile, PolicyError> {
        let source = Source { file, text };
        let raw: RawProfile = source.parse()?;
        let top = 0..0;
        if raw.lanes.yellow_from > raw.lanes.red_from {
            return Err(source.error(&top, "lanes.yellow_from", "is above lanes.red_from"));
        }
        let rate_ok =
            |red: u32, blue: u32| red.checked_add(blue).is_some_and(|sum| sum <= PER_MILLION);
        if !rate_ok(
            raw.selection.red_per_million,
            raw.selection.blue_per_million,
        ) {
            return Err(source.error(
                &top,
                "selection",
                "red and blue rates add up to more than a million per million",
            ));
        }
        let origin_countries = raw
            .origin_countries
            .iter()
            .map(|c| {
                waybill_protocol::CountryCode::new(c)
                    .map_err(|e| source.error(&top, "origin_countries", e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let mut floors = Vec::new();
        for (index, spanned) in raw.floor.iter().enumerate() {
            let floor = spanned.get_ref();
            let field = |name: &str| format!("floor[{index}].{name}");
            if !matches!(floor.hs_prefix.len(), 2 | 4 | 6)
                || !floor.hs_prefix.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(source.error(
                    &spanned.span(),
                    &field("hs_prefix"),
                    format!("{:?} is not 2, 4 or 6 digits", floor.hs_prefix),
                ));
            }
            let unit_value = Money::parse(&floor.unit_value)
                .map_err(|e| source.error(&spanned.span(), &field("unit_value"), e))?;
            floors.push(ValueFloor {
                hs_prefix: floor.hs_prefix.clone(),
                unit_value,
            });
        }
        let mut tiers = Vec::new();
        for (index, spanned) in raw.tier.iter().enumerate() {
            let tier = spanned.get_ref();
            if !rate_ok(tier.red_per_million, tier.blue_per_million) || tier.credit < 0 {
                let message = "rates must add up to at most a million per million, and the credit is written as a positive number";
                return Err(source.error(&spanned.span(), &format!("tier[{index}]"), message));
            }
            tiers.push(tier.clone());
        }
        Ok(RiskProfile {
            file: file.to_string(),
            lanes: raw.lanes,
            weights: raw.weights,
            selection: raw.selection,
            origin_countries,
            hs_risk: raw.hs_risk,
            floors,
            consignee_window_days: raw.consignee_window_days,
            many_consignments: raw.many_consignments,
            prior_window_days: raw.prior_window_days,
            tiers,
        })
    }

    pub fn tier(&self, programme: &str, tier: &str) -> Option<&TierEffect> {
        self.tiers
            .iter()
            .find(|t| t.programme == programme && t.tier == tier)
    }

    pub fn lane_of(&self, score: i32) -> Lane {
        if score >= self.lanes.red_from {
            Lane::Red
        } else if score >= self.lanes.yellow_from {
            Lane::Yellow
        } else {
            Lane::Green
        }
    }
}

/// The random draw for a consignment: a number in `0..1,000,000` from the hash of the first
/// block after the one holding its declaration that a validator of another organisation than
/// the declarer proposed, and the declaration's id. The declaring platform cannot know that
/// block's hash when it declares, nor make it (a platform running a validator could otherwise
/// grind the block it proposes next); anyone can recompute the draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Draw {
    /// The block whose hash seeds it.
    pub seed_height: u64,
    pub seed_block: Hash,
    pub declaration: Hash,
    pub value: u32,
}

impl Draw {
    pub fn new(seed_height: u64, seed_block: Hash, declaration: Hash) -> Draw {
        let hash = Hash::of_parts(&[
            b"waybill/customs-selection/v1",
            seed_block.as_bytes(),
            declaration.as_bytes(),
        ]);
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash.as_bytes()[..8]);
        // 2⁶⁴ is not a multiple of a million: the bias is below 10⁻¹³.
        let value = (u64::from_le_bytes(first) % u64::from(PER_MILLION)) as u32;
        Draw {
            seed_height,
            seed_block,
            declaration,
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_depends_on_the_later_block_and_the_declaration_only() {
        let declaration = Hash([1; 32]);
        let one = Draw::new(8, Hash([2; 32]), declaration);
        let again = Draw::new(8, Hash([2; 32]), declaration);
        assert_eq!(one, again, "the same ledger gives the same draw everywhere");
        let other_block = Draw::new(8, Hash([3; 32]), declaration);
        assert_ne!(
            one.value, other_block.value,
            "a different later block, a different draw"
        );
        assert!(one.value < PER_MILLION && other_block.value < PER_MILLION);
        // Pinned: a change to the derivation changes every past draw, so it must be deliberate.
        assert_eq!(one.value, GOLDEN_DRAW, "{one:?}");
    }

    const GOLDEN_DRAW: u32 = 954_542;
}
