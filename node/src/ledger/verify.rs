//! `verify-chain`: re-walks a ledger from genesis and checks everything a block commits to. Each
//! block's certificate and every event signature are verified, then the block is re-executed on
//! an in-memory replica through the same pipeline that made it, under the rules version the
//! genesis schedules at its height, so every header field (rules version, parent link, the
//! parent's certificate it carries, events root, log size and root, index root, validators) is
//! recomputed, and every stored receipt and per-key event list is compared with what
//! re-execution gives. The stored certificate of every block below the tip must be the one
//! the next block carries.

use std::collections::BTreeMap;

use waybill_protocol::admission::CheckedEvent;
use waybill_protocol::rules_version::RulesVersion;

use super::memory::MemoryStore;
use super::{BlockProposal, Ledger, build_block, check_header};

/// What a successful walk checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    pub blocks: u64,
    pub events: u64,
    pub applied: u64,
    pub rejected: u64,
    /// Blocks executed under each rules version.
    pub blocks_by_rules: BTreeMap<RulesVersion, u64>,
}

/// The first inconsistency found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block {height}: {problem}")]
pub struct ChainFault {
    pub height: u64,
    pub problem: String,
}

/// Checks the whole chain in `ledger`; `progress` is called after each block.
pub fn verify_chain(
    ledger: &Ledger,
    mut progress: impl FnMut(u64),
) -> Result<ChainReport, ChainFault> {
    let rules = ledger.rules();
    let fault = |height: u64| move |problem: String| ChainFault { height, problem };
    let mut replica = MemoryStore::new(rules).map_err(|e| fault(0)(e.to_string()))?;
    let mut report = ChainReport::default();
    for height in 1..=ledger.tip().height {
        let at = fault(height);
        let header = ledger
            .header(height)
            .map_err(|e| at(e.to_string()))?
            .ok_or_else(|| at("header is missing".into()))?;
        let certificate = ledger
            .certificate(height)
            .map_err(|e| at(e.to_string()))?
            .ok_or_else(|| at("commit certificate is missing".into()))?;
        certificate
            .verify(rules, &header)
            .map_err(|e| at(e.to_string()))?;

        let stored = ledger.block_events(height).map_err(|e| at(e.to_string()))?;
        if stored.len() != header.event_count as usize {
            return Err(at(format!(
                "{} events stored, the header counts {}",
                stored.len(),
                header.event_count
            )));
        }
        let mut events = Vec::with_capacity(stored.len());
        for (index, event) in stored.into_iter().enumerate() {
            let checked =
                CheckedEvent::check(rules, event).map_err(|e| at(format!("event {index}: {e}")))?;
            events.push(checked);
        }

        // The certificate stored for the parent must be the one this block carries.
        let last_commit = match height {
            1 => None,
            _ => ledger
                .certificate(height - 1)
                .map_err(|e| at(e.to_string()))?,
        };
        let proposal = BlockProposal {
            time_ms: header.time_ms,
            proposer: header.proposer,
            events,
            last_commit,
        };
        let block =
            build_block(&replica, rules, replica.tip(), proposal).map_err(|e| at(e.to_string()))?;
        check_header(&header, &block.header).map_err(|e| at(e.to_string()))?;

        for (index, (checked, outcome)) in block.events.iter().zip(&block.outcomes).enumerate() {
            let location = ledger
                .event_location(&checked.id())
                .map_err(|e| at(e.to_string()))?
                .ok_or_else(|| at(format!("event {index} ({}) has no receipt", checked.id())))?;
            if location.height != height
                || location.index as usize != index
                || &location.outcome != outcome
            {
                return Err(at(format!(
                    "event {index} ({}): receipt says {}/{} {:?}, re-execution gives {height}/{index} {:?}",
                    checked.id(),
                    location.height,
                    location.index,
                    location.outcome,
                    outcome
                )));
            }
            match outcome {
                waybill_protocol::execution::EventOutcome::Applied => report.applied += 1,
                waybill_protocol::execution::EventOutcome::Rejected { .. } => report.rejected += 1,
            }
        }
        for (map_key, position, index) in &block.key_positions {
            let stored = ledger
                .key_event(map_key, *position)
                .map_err(|e| at(e.to_string()))?;
            if stored != Some((height, *index)) {
                return Err(at(format!(
                    "per-key list {} position {position}: stored {stored:?}, re-execution gives ({height}, {index})",
                    waybill_protocol::Hash(*map_key)
                )));
            }
        }
        report.events += block.events.len() as u64;
        report.blocks += 1;
        *report
            .blocks_by_rules
            .entry(block.header.rules_version)
            .or_default() += 1;
        replica.commit(&block);
        progress(height);
    }
    Ok(report)
}
