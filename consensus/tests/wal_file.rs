//! The consensus WAL on disk: whole records survive, a torn final record is cut off, anything
//! else is refused with the offset.
#![allow(clippy::unwrap_used)]

use std::io::Write;

use waybill_consensus::wal::{WalEntry, WalError, encode_record, replay};
use waybill_consensus::wal_file::{WalFile, WalFileError};
use waybill_consensus::{Input, Timeout, TimeoutStep, WalStorage};
use waybill_protocol::block::ConsensusMessage;
use waybill_protocol::{Hash, ValidatorIndex, Vote, VoteStep, fixtures};

fn timeout(round: u32) -> WalEntry {
    WalEntry::Input(Input::Timeout(Timeout {
        height: 3,
        round,
        step: TimeoutStep::Propose,
    }))
}

fn signed_vote() -> WalEntry {
    let vote = Vote {
        height: 3,
        round: 0,
        step: VoteStep::Prevote,
        block: Some(Hash([4; 32])),
        validator: ValidatorIndex(1),
    };
    WalEntry::Signed(ConsensusMessage::Vote(
        vote.sign(&fixtures::chain_id(), &fixtures::node_keypair(1)),
    ))
}

fn append_raw(path: &std::path::Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn synced_records_survive_and_unsynced_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consensus.wal");
    {
        let (mut wal, contents) = WalFile::open(&path).unwrap();
        assert!(contents.entries.is_empty());
        wal.start_height(3).unwrap();
        wal.append(&timeout(0));
        wal.append(&signed_vote());
        wal.sync().unwrap();
        wal.append(&timeout(1)); // never synced: lost with the process
    }
    let (_, contents) = WalFile::open(&path).unwrap();
    assert_eq!(
        contents.entries,
        vec![WalEntry::Height(3), timeout(0), signed_vote()]
    );
    assert!(!contents.torn_tail);
}

#[test]
fn a_torn_final_record_is_cut_off_and_appending_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consensus.wal");
    {
        let (mut wal, _) = WalFile::open(&path).unwrap();
        wal.start_height(3).unwrap();
        wal.append(&timeout(0));
        wal.sync().unwrap();
    }
    let whole = std::fs::metadata(&path).unwrap().len();
    let record = encode_record(&signed_vote());
    append_raw(&path, &record[..record.len() / 2]);
    {
        let (mut wal, contents) = WalFile::open(&path).unwrap();
        assert!(contents.torn_tail);
        assert_eq!(contents.entries, vec![WalEntry::Height(3), timeout(0)]);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            whole,
            "the torn bytes are cut off"
        );
        wal.append(&timeout(2));
        wal.sync().unwrap();
    }
    let (_, contents) = WalFile::open(&path).unwrap();
    assert_eq!(contents.entries.last(), Some(&timeout(2)));
}

#[test]
fn a_zero_filled_tail_is_torn_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consensus.wal");
    {
        let (mut wal, _) = WalFile::open(&path).unwrap();
        wal.start_height(3).unwrap();
    }
    append_raw(&path, &[0; 300]);
    let (_, contents) = WalFile::open(&path).unwrap();
    assert!(contents.torn_tail);
    assert_eq!(contents.entries, vec![WalEntry::Height(3)]);
}

#[test]
fn damage_before_the_last_record_is_refused_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consensus.wal");
    {
        let (mut wal, _) = WalFile::open(&path).unwrap();
        wal.start_height(3).unwrap();
        wal.append(&timeout(0));
        wal.append(&signed_vote());
        wal.sync().unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let second_record = encode_record(&WalEntry::Height(3)).len();
    bytes[second_record + 14] ^= 0xff; // inside the timeout record's payload
    std::fs::write(&path, &bytes).unwrap();
    let error = WalFile::open(&path).unwrap_err();
    assert!(
        matches!(&error, WalFileError::Damaged { source: WalError::Corrupt { offset, .. }, .. } if *offset == second_record),
        "{error}"
    );
    assert!(
        error.to_string().contains("not a torn final record"),
        "{error}"
    );
}

#[test]
fn replay_resumes_the_uncommitted_height_or_starts_fresh() {
    let entries = vec![WalEntry::Height(3), timeout(0), signed_vote(), timeout(1)];
    let resumed = replay(&entries, 2);
    assert_eq!(resumed.height, 3);
    assert_eq!(resumed.inputs.len(), 2);
    assert_eq!(resumed.signed.len(), 1);
    // The ledger already holds height 3: nothing of it is replayed.
    let fresh = replay(&entries, 3);
    assert_eq!(fresh.height, 4);
    assert!(fresh.inputs.is_empty() && fresh.signed.is_empty());
}
