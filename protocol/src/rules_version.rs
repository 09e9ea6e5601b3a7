//! Versions of the execution rules, and the genesis schedule of which applies from which
//! height. Execution changes (such as the nonce window) are new versions; a block is executed
//! under the version its height falls in, so a chain written under older rules re-executes and
//! verifies under them for ever, and every node switches at the same block.

use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::execution::NONCE_WINDOW;
use crate::genesis::GenesisError;
use crate::limits::RULES_ACTIVATIONS_MAX;

/// A version of the execution rules this build knows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
)]
#[serde(transparent)]
pub struct RulesVersion(pub u16);

impl RulesVersion {
    /// Nonces strictly increasing per signer: an event is refused once a later nonce of its
    /// signer is on the chain (the first rules, before events could overtake each other).
    pub const STRICT_NONCES: RulesVersion = RulesVersion(1);
    /// An event may reach the chain after up to [`NONCE_WINDOW`] later nonces of its signer.
    pub const NONCE_WINDOW: RulesVersion = RulesVersion(2);
    /// Customs may accredit operators in trusted-trader programmes and revoke them
    /// (`accredit`, `revoke_accreditation`); under older rules those kinds are refused.
    pub const ACCREDITATION: RulesVersion = RulesVersion(3);
    /// EPCIS 2.0 events may be captured (`epcis`), with a custody or customs meaning or as
    /// observations, each EPCIS event once; organisations' registers (`epcis:<org>`) hold their
    /// observations. Under older rules captures are refused.
    pub const EPCIS: RulesVersion = RulesVersion(4);
    /// What a new chain runs.
    pub const LATEST: RulesVersion = RulesVersion::EPCIS;

    pub fn is_known(self) -> bool {
        (RulesVersion::STRICT_NONCES..=RulesVersion::LATEST).contains(&self)
    }

    /// How many spent nonces above the floor a signer's record remembers one by one: 0 makes
    /// nonces strictly increasing.
    pub fn nonce_window(self) -> usize {
        if self >= RulesVersion::NONCE_WINDOW {
            NONCE_WINDOW
        } else {
            0
        }
    }
}

impl RulesVersion {
    /// Whether events of `event_type` exist under these rules.
    pub fn knows(self, event_type: crate::event::EventType) -> bool {
        use crate::event::EventType;
        match event_type {
            EventType::Accredit | EventType::RevokeAccreditation => {
                self >= RulesVersion::ACCREDITATION
            }
            EventType::Observe => self.captures_epcis(),
            _ => true,
        }
    }
}

impl RulesVersion {
    /// Whether EPCIS events may be captured, and registers and capture rules apply.
    pub fn captures_epcis(self) -> bool {
        self >= RulesVersion::EPCIS
    }
}

impl fmt::Display for RulesVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// From `from_height` on (until the next entry's), blocks execute under `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct RulesActivation {
    pub version: RulesVersion,
    pub from_height: u64,
}

/// A new chain's schedule: the latest rules from block 1.
pub fn default_schedule() -> Vec<RulesActivation> {
    vec![RulesActivation {
        version: RulesVersion::LATEST,
        from_height: 1,
    }]
}

/// The version in force at `height` under a validated `schedule`.
pub fn version_at(schedule: &[RulesActivation], height: u64) -> RulesVersion {
    schedule
        .iter()
        .rev()
        .find(|activation| activation.from_height <= height)
        .or(schedule.first())
        .map_or(RulesVersion::LATEST, |activation| activation.version)
}

/// Checks a schedule: starts at block 1, heights and versions strictly ascending, every
/// version known to this build (a node never executes rules it does not have).
pub fn validate_schedule(schedule: &[RulesActivation]) -> Result<(), GenesisError> {
    let field = |i: usize| format!("rules[{i}]");
    if schedule.len() > RULES_ACTIVATIONS_MAX {
        return Err(GenesisError::TooMany {
            field: "rules".into(),
            count: schedule.len(),
            max: RULES_ACTIVATIONS_MAX,
        });
    }
    let Some(first) = schedule.first() else {
        return Err(GenesisError::Empty {
            field: "rules".into(),
        });
    };
    if first.from_height != 1 {
        return Err(GenesisError::Invalid {
            field: field(0),
            reason: format!(
                "from_height {}; the first rules apply from block 1",
                first.from_height
            ),
        });
    }
    for (i, activation) in schedule.iter().enumerate() {
        if !activation.version.is_known() {
            return Err(GenesisError::Invalid {
                field: format!("{}.version", field(i)),
                reason: format!(
                    "rules version {} is unknown to this build, which knows {} to {}",
                    activation.version,
                    RulesVersion::STRICT_NONCES,
                    RulesVersion::LATEST
                ),
            });
        }
    }
    for (i, pair) in schedule.windows(2).enumerate() {
        if pair[1].from_height <= pair[0].from_height || pair[1].version <= pair[0].version {
            return Err(GenesisError::Invalid {
                field: field(i + 1),
                reason: "each entry must start at a later height with a later version".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(version: u16, from_height: u64) -> RulesActivation {
        RulesActivation {
            version: RulesVersion(version),
            from_height,
        }
    }

    #[test]
    fn the_version_at_a_height_is_the_last_activation_at_or_below_it() {
        let schedule = [at(1, 1), at(2, 100)];
        assert_eq!(version_at(&schedule, 1), RulesVersion(1));
        assert_eq!(version_at(&schedule, 99), RulesVersion(1));
        assert_eq!(version_at(&schedule, 100), RulesVersion(2));
        assert_eq!(version_at(&schedule, u64::MAX), RulesVersion(2));
    }

    #[test]
    fn a_schedule_starts_at_block_1_ascends_and_names_known_versions() {
        assert!(validate_schedule(&default_schedule()).is_ok());
        assert!(validate_schedule(&[at(1, 1), at(2, 5)]).is_ok());
        let refused = |schedule: &[RulesActivation]| {
            validate_schedule(schedule)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(refused(&[]), "rules: must not be empty");
        assert!(refused(&[at(1, 2)]).starts_with("rules[0]: from_height 2"));
        assert!(refused(&[at(1, 1), at(2, 1)]).starts_with("rules[1]: each entry"));
        assert!(refused(&[at(2, 1), at(1, 5)]).starts_with("rules[1]: each entry"));
        assert!(refused(&[at(1, 1), at(9, 5)]).contains("rules version 9 is unknown"));
    }
}
