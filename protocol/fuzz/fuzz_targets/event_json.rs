//! The HTTP API's JSON event parser (`POST /v1/events`): any body either fails with an error
//! naming where, or parses to an event that writes back to JSON and parses to the same event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waybill_protocol::event::SignedEvent;
use waybill_protocol::json;

fuzz_target!(|data: &[u8]| {
    match json::parse::<SignedEvent>(data) {
        Ok(event) => {
            let text = serde_json::to_vec(&event).expect("events serialise to JSON");
            let again: SignedEvent = json::parse(&text).expect("our own JSON parses");
            assert_eq!(again, event);
        }
        Err(error) => {
            assert!(!error.reason.is_empty());
        }
    }
});
