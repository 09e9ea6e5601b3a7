//! Commits blocks to the ledger in a directory until killed, printing each committed height as
//! soon as its synced write returned. The crash-atomicity test kills it with SIGKILL at random
//! moments and checks that every printed height survived.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use waybill_protocol::event::EventKind;
use waybill_protocol::fixtures;
use waybill_tests::{EventFactory, commit_block, open_ledger};

/// Events per block: small, so blocks are many and kills land at every stage of a commit.
const EVENTS_PER_BLOCK: u64 = 10;
const HEIGHT_MAX: u64 = 1_000_000;

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: waybill-ledger-writer DIR");
        return ExitCode::from(2);
    };
    let mut ledger = match open_ledger(&dir) {
        Ok(ledger) => ledger,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    let mut stdout = std::io::stdout().lock();
    loop {
        let height = ledger.tip().height + 1;
        if height > HEIGHT_MAX {
            return ExitCode::SUCCESS;
        }
        let time_ms = fixtures::NOW_MS + height * 1_000;
        // Nonces continue across restarts: each height owns a range of them.
        let mut factory = EventFactory::starting_at(height * 1_000, time_ms);
        let mut events = Vec::new();
        for i in 0..EVENTS_PER_BLOCK {
            let shipment = format!("CRASH-{height}-{i}");
            events.push(factory.event("platform", &shipment, waybill_tests::declare_kind()));
            events.push(factory.event("carrier-a", &shipment, EventKind::PickUp));
        }
        if let Err(error) = commit_block(&mut ledger, events, time_ms) {
            eprintln!("error at height {height}: {error}");
            return ExitCode::from(1);
        }
        if writeln!(stdout, "{height}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return ExitCode::from(1);
        }
    }
}
