//! The EPCIS 2.0 query language's fixed-name parameters, as the REST binding passes them in a
//! URL (`EQ_bizStep=shipping|receiving`) or a named query's JSON body (`{"EQ_bizStep":
//! ["shipping"]}`), evaluated over the gateway's verified events in record order, a page at a
//! time. Values are read in every spelling the standard allows (EPC URN or Digital Link, bare
//! or URN CBV terms) and compared in one.

use serde_json::{Map, Value, json};
use waybill_protocol::calendar::Timestamp;
use waybill_protocol::epcis::cbv::Vocabulary;
use waybill_protocol::epcis::gs1::Gs1Key;

use super::store::{Naming, Recorded, Store, StoreError};
use crate::limits::{
    GATEWAY_PAGE_EVENTS_DEFAULT, GATEWAY_PAGE_EVENTS_MAX, GATEWAY_QUERY_SCAN_MAX,
    GATEWAY_QUERY_VALUES_MAX,
};

/// The parameters this gateway answers, as the standard names them.
pub const PARAMETERS: [&str; 21] = [
    "eventType",
    "GE_eventTime",
    "LT_eventTime",
    "GE_recordTime",
    "LT_recordTime",
    "EQ_action",
    "EQ_bizStep",
    "EQ_disposition",
    "EQ_readPoint",
    "EQ_bizLocation",
    "EQ_eventID",
    "MATCH_epc",
    "MATCH_parentID",
    "MATCH_inputEPC",
    "MATCH_outputEPC",
    "MATCH_anyEPC",
    "MATCH_epcClass",
    "MATCH_inputEPCClass",
    "MATCH_outputEPCClass",
    "MATCH_anyEPCClass",
    "perPage",
];

/// A parameter the gateway cannot answer, or a value it cannot read: the standard's
/// `QueryParameterException`, naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {reason}")]
pub struct QueryError {
    pub parameter: String,
    pub reason: String,
}

fn fail(parameter: &str, reason: impl Into<String>) -> QueryError {
    QueryError {
        parameter: parameter.to_string(),
        reason: reason.into(),
    }
}

/// One `MATCH_…` parameter: the event names one of `identifiers` in one of `namings`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IdentifierMatch {
    namings: &'static [Naming],
    identifiers: Vec<String>,
}

/// A query: every parameter given must hold (values of one parameter are alternatives).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventQuery {
    event_types: Option<Vec<String>>,
    event_time: (Option<i128>, Option<i128>),
    record_time: (Option<i128>, Option<i128>),
    actions: Option<Vec<String>>,
    biz_steps: Option<Vec<String>>,
    dispositions: Option<Vec<String>>,
    read_points: Option<Vec<String>>,
    biz_locations: Option<Vec<String>>,
    event_ids: Option<Vec<String>>,
    matches: Vec<IdentifierMatch>,
    /// Events per page.
    pub per_page: usize,
    /// The parameters as given, sorted: what a page token is bound to.
    fingerprint: String,
}

const EPC: &[Naming] = &[Naming::Epc, Naming::Child];
const ANY_EPC: &[Naming] = &[
    Naming::Epc,
    Naming::Child,
    Naming::Parent,
    Naming::Input,
    Naming::Output,
];
const ANY_CLASS: &[Naming] = &[Naming::Class, Naming::InputClass, Naming::OutputClass];

fn namings_of(parameter: &str) -> Option<&'static [Naming]> {
    Some(match parameter {
        "MATCH_epc" => EPC,
        "MATCH_parentID" => &[Naming::Parent],
        "MATCH_inputEPC" => &[Naming::Input],
        "MATCH_outputEPC" => &[Naming::Output],
        "MATCH_anyEPC" => ANY_EPC,
        "MATCH_epcClass" => &[Naming::Class],
        "MATCH_inputEPCClass" => &[Naming::InputClass],
        "MATCH_outputEPCClass" => &[Naming::OutputClass],
        "MATCH_anyEPCClass" => ANY_CLASS,
        _ => return None,
    })
}

/// An identifier as the gateway indexes it: a GS1 key as its canonical Digital Link URI,
/// any other URI as written.
pub fn identifier(uri: &str) -> Result<String, String> {
    match Gs1Key::read(uri) {
        Ok(Some(key)) => Ok(key.digital_link()),
        Ok(None) => Ok(uri.to_string()),
        Err(error) => Err(error.reason),
    }
}

/// A CBV term in its one spelling (bare if standard).
pub fn term(vocabulary: Vocabulary, text: &str) -> Result<String, String> {
    vocabulary.read(text).map(|term| term.json().to_string())
}

fn nanos(time: &Timestamp) -> i128 {
    i128::from(time.unix_seconds) * 1_000_000_000 + i128::from(time.nanos)
}

fn time_value(parameter: &str, value: &str) -> Result<i128, QueryError> {
    Timestamp::parse(value)
        .map(|time| nanos(&time))
        .ok_or_else(|| {
            fail(
                parameter,
                format!(
                    "{value:?} is not a date and time YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)"
                ),
            )
        })
}

fn read_values(
    parameter: &str,
    values: &[String],
    read: impl Fn(&str) -> Result<String, String>,
) -> Result<Vec<String>, QueryError> {
    values
        .iter()
        .map(|value| read(value).map_err(|reason| fail(parameter, reason)))
        .collect()
}

impl EventQuery {
    /// Reads URL query pairs (`|` separates a parameter's values). `nextPageToken` is the
    /// caller's to read.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<EventQuery, QueryError> {
        let mut given: Vec<(String, Vec<String>)> = Vec::new();
        for (name, value) in pairs {
            if name == "nextPageToken" {
                continue;
            }
            if given.iter().any(|(seen, _)| seen == name) {
                return Err(fail(name, "given twice: separate alternatives with |"));
            }
            let values = value.split('|').map(str::to_string).collect();
            given.push((name.clone(), values));
        }
        EventQuery::from_values(given)
    }

    /// Reads a named query's JSON body: each member a string, a number or a list of strings.
    pub fn from_json(query: &Map<String, Value>) -> Result<EventQuery, QueryError> {
        let mut given = Vec::new();
        for (name, value) in query {
            let values = match value {
                Value::String(one) => vec![one.clone()],
                Value::Number(number) => vec![number.to_string()],
                Value::Array(many) => many
                    .iter()
                    .map(|item| item.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| fail(name, "a list of strings is expected"))?,
                _ => return Err(fail(name, "a string or a list of strings is expected")),
            };
            given.push((name.clone(), values));
        }
        EventQuery::from_values(given)
    }

    fn from_values(mut given: Vec<(String, Vec<String>)>) -> Result<EventQuery, QueryError> {
        given.sort();
        let mut query = EventQuery {
            per_page: GATEWAY_PAGE_EVENTS_DEFAULT,
            fingerprint: format!("{given:?}"),
            ..EventQuery::default()
        };
        for (name, values) in &given {
            if values.is_empty() || values.len() > GATEWAY_QUERY_VALUES_MAX {
                return Err(fail(
                    name,
                    format!("1 to {GATEWAY_QUERY_VALUES_MAX} values, separated by |"),
                ));
            }
            query.take(name, values)?;
        }
        Ok(query)
    }

    fn take(&mut self, name: &str, values: &[String]) -> Result<(), QueryError> {
        let one = values.first().map(String::as_str).unwrap_or_default();
        let same = |value: &str| Ok(value.to_string());
        match name {
            "eventType" => self.event_types = Some(read_values(name, values, event_type)?),
            "GE_eventTime" => self.event_time.0 = Some(time_value(name, one)?),
            "LT_eventTime" => self.event_time.1 = Some(time_value(name, one)?),
            "GE_recordTime" => self.record_time.0 = Some(time_value(name, one)?),
            "LT_recordTime" => self.record_time.1 = Some(time_value(name, one)?),
            "EQ_action" => self.actions = Some(read_values(name, values, action)?),
            "EQ_bizStep" => {
                let read = |v: &str| term(Vocabulary::BizStep, v);
                self.biz_steps = Some(read_values(name, values, read)?);
            }
            "EQ_disposition" => {
                let read = |v: &str| term(Vocabulary::Disposition, v);
                self.dispositions = Some(read_values(name, values, read)?);
            }
            "EQ_readPoint" => self.read_points = Some(read_values(name, values, identifier)?),
            "EQ_bizLocation" => self.biz_locations = Some(read_values(name, values, identifier)?),
            "EQ_eventID" => self.event_ids = Some(read_values(name, values, same)?),
            "perPage" => self.per_page = per_page(one)?,
            _ => match namings_of(name) {
                Some(namings) => {
                    let identifiers = read_values(name, values, epc_value)?;
                    self.matches.push(IdentifierMatch {
                        namings,
                        identifiers,
                    });
                }
                None => return Err(unknown_parameter(name)),
            },
        }
        Ok(())
    }

    /// The query a page token must have been made for.
    pub fn fingerprint(&self) -> String {
        let digest = waybill_protocol::Hash::of_parts(&[self.fingerprint.as_bytes()]);
        digest.to_hex()[..16].to_string()
    }

    /// Whether `event` answers the query.
    pub fn matches(&self, event: &Recorded) -> bool {
        let time = i128::from(event.event_time.0) * 1_000_000_000 + i128::from(event.event_time.1);
        let record = i128::from(event.record_time_ms) * 1_000_000;
        let listed = |allowed: &Option<Vec<String>>, value: Option<&String>| {
            allowed
                .as_ref()
                .is_none_or(|allowed| value.is_some_and(|value| allowed.contains(value)))
        };
        let event_id_listed = self.event_ids.as_ref().is_none_or(|ids| {
            ids.contains(&event.hash) || event.event_id.as_ref().is_some_and(|id| ids.contains(id))
        });
        within(self.event_time, time)
            && within(self.record_time, record)
            && listed(&self.event_types, Some(&event.event_type))
            && listed(&self.actions, event.action.as_ref())
            && listed(&self.biz_steps, event.biz_step.as_ref())
            && listed(&self.dispositions, event.disposition.as_ref())
            && listed(&self.read_points, event.read_point.as_ref())
            && listed(&self.biz_locations, event.biz_location.as_ref())
            && event_id_listed
            && self.matches.iter().all(|wanted| {
                event.identifiers.iter().any(|(naming, id)| {
                    wanted.namings.contains(naming) && wanted.identifiers.contains(id)
                })
            })
    }

    /// One page from `from` on: the matching events (at most `per_page`), and where the next
    /// page starts if the store may hold more (`None`: this was the last).
    pub fn page(&self, store: &Store, from: u64) -> Result<Page, StoreError> {
        let mut from = from;
        if let Some(since) = self.record_time.0 {
            let ms = u64::try_from(since.div_euclid(1_000_000)).unwrap_or(0);
            from = from.max(store.first_recorded_since(ms)?);
        }
        let end = store.next_seq()?;
        // With a MATCH_ parameter, its index gives the candidates; a list cut at the scan
        // bound is continued by the next page.
        let (candidates, complete) = match self.matches.first() {
            Some(first) => {
                let seqs = self.candidates(store, first, from)?;
                let complete = seqs.len() < GATEWAY_QUERY_SCAN_MAX;
                (Some(seqs), complete)
            }
            None => (None, true),
        };
        let mut page = Page::default();
        let mut scanned = 0usize;
        let mut next = from;
        let mut pending = candidates.map(|seqs| seqs.into_iter());
        while next < end && scanned < GATEWAY_QUERY_SCAN_MAX && page.events.len() < self.per_page {
            let batch: Vec<Recorded> = match pending.as_mut() {
                Some(seqs) => match seqs.next() {
                    Some(seq) => store.event(seq)?.into_iter().collect(),
                    None => {
                        if complete {
                            next = end;
                        }
                        break;
                    }
                },
                None => store.events_from(next, (self.per_page - page.events.len()).max(64))?,
            };
            if batch.is_empty() {
                next = end;
                break;
            }
            for event in batch {
                scanned += 1;
                next = event.seq.saturating_add(1);
                if self.matches(&event) {
                    page.events.push(event);
                    if page.events.len() >= self.per_page {
                        break;
                    }
                }
            }
        }
        page.next = (next < end).then_some(next);
        page.scanned_to = next;
        Ok(page)
    }

    /// The events naming one of the first `MATCH_…` parameter's identifiers, from `from` on.
    fn candidates(
        &self,
        store: &Store,
        wanted: &IdentifierMatch,
        from: u64,
    ) -> Result<Vec<u64>, StoreError> {
        let mut seqs = Vec::new();
        for id in &wanted.identifiers {
            seqs.extend(store.naming(wanted.namings, id, from, GATEWAY_QUERY_SCAN_MAX)?);
        }
        seqs.sort_unstable();
        seqs.dedup();
        seqs.truncate(GATEWAY_QUERY_SCAN_MAX);
        Ok(seqs)
    }
}

/// A page of answers.
#[derive(Debug, Default)]
pub struct Page {
    pub events: Vec<Recorded>,
    /// Where the next page starts, if there may be one.
    pub next: Option<u64>,
    /// Every event before this was looked at.
    pub scanned_to: u64,
}

fn within(range: (Option<i128>, Option<i128>), value: i128) -> bool {
    range.0.is_none_or(|low| value >= low) && range.1.is_none_or(|high| value < high)
}

fn event_type(name: &str) -> Result<String, String> {
    waybill_protocol::epcis::EpcisEventType::from_name(name)
        .map(|kind| kind.name().to_string())
        .ok_or_else(|| format!("{name:?} is not an EPCIS 2.0 event type"))
}

fn action(value: &str) -> Result<String, String> {
    match value {
        "ADD" | "OBSERVE" | "DELETE" => Ok(value.to_string()),
        _ => Err(format!("{value:?} is not ADD, OBSERVE or DELETE")),
    }
}

fn epc_value(value: &str) -> Result<String, String> {
    if value.starts_with("urn:epc:idpat:") || value.contains('*') {
        return Err(format!(
            "{value:?} is a pattern; this gateway matches whole identifiers (EPC URI or GS1 Digital Link)"
        ));
    }
    identifier(value)
}

fn per_page(value: &str) -> Result<usize, QueryError> {
    match value.parse::<usize>() {
        Ok(count @ 1..=GATEWAY_PAGE_EVENTS_MAX) => Ok(count),
        _ => Err(fail(
            "perPage",
            format!("{value:?}: a whole number from 1 to {GATEWAY_PAGE_EVENTS_MAX}"),
        )),
    }
}

fn unknown_parameter(name: &str) -> QueryError {
    fail(
        name,
        format!(
            "not a query parameter this gateway answers; it answers {}",
            PARAMETERS.join(", ")
        ),
    )
}

/// A page token: where the next page starts, bound to the query it continues.
pub fn page_token(query: &EventQuery, next: u64) -> String {
    format!("{next}.{}", query.fingerprint())
}

/// Reads a page token made for `query`.
pub fn read_page_token(query: &EventQuery, token: &str) -> Result<u64, QueryError> {
    let (next, fingerprint) = token
        .split_once('.')
        .ok_or_else(|| fail("nextPageToken", "not a token this gateway made"))?;
    if fingerprint != query.fingerprint() {
        return Err(fail(
            "nextPageToken",
            "made for another query: repeat the query's parameters unchanged with its token",
        ));
    }
    next.parse()
        .map_err(|_| fail("nextPageToken", "not a token this gateway made"))
}

/// The `EPCISQueryDocument` of `events`.
pub fn query_document(
    events: &[Recorded],
    query_name: &str,
    subscription: Option<&str>,
    created_ms: u64,
) -> Value {
    let mut results = Map::new();
    if let Some(id) = subscription {
        results.insert("subscriptionID".into(), json!(id));
    }
    results.insert("queryName".into(), json!(query_name));
    let list: Vec<&Value> = events.iter().map(|event| &event.event).collect();
    results.insert("resultsBody".into(), json!({ "eventList": list }));
    json!({
        "@context": [crate::epcis::EPCIS_CONTEXT, {"waybill": crate::epcis::WAYBILL_NAMESPACE}],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": crate::time::iso8601(created_ms),
        "epcisBody": { "queryResults": results },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &[(&str, &str)]) -> Vec<(String, String)> {
        text.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_are_read_in_every_spelling_into_one() {
        let urn = EventQuery::from_pairs(&pairs(&[
            ("EQ_bizStep", "urn:epcglobal:cbv:bizstep:shipping|receiving"),
            ("MATCH_epc", "urn:epc:id:sgtin:0614141.107346.2017"),
        ]))
        .expect("urn spelling");
        let bare = EventQuery::from_pairs(&pairs(&[
            ("EQ_bizStep", "shipping|receiving"),
            ("MATCH_epc", "https://id.gs1.org/01/10614141073464/21/2017"),
        ]))
        .expect("bare spelling");
        assert_eq!(urn.biz_steps, bare.biz_steps);
        assert_eq!(urn.matches, bare.matches);
    }

    #[test]
    fn a_bad_parameter_is_named() {
        for (name, value) in [
            ("EQ_bizStep", "urn:epcglobal:cbv:bizstep:shiping"),
            ("GE_eventTime", "2005-02-30T00:00:00Z"),
            ("MATCH_epc", "urn:epc:idpat:sgtin:0614141.107346.*"),
            ("perPage", "0"),
            ("EQ_colour", "red"),
            ("eventType", "ThingEvent"),
        ] {
            let error = EventQuery::from_pairs(&pairs(&[(name, value)])).expect_err(name);
            assert_eq!(error.parameter, name);
        }
    }

    #[test]
    fn a_page_token_only_continues_its_own_query() {
        let one = EventQuery::from_pairs(&pairs(&[("EQ_bizStep", "shipping")])).expect("one");
        let other = EventQuery::from_pairs(&pairs(&[("EQ_bizStep", "receiving")])).expect("two");
        let token = page_token(&one, 42);
        assert_eq!(read_page_token(&one, &token), Ok(42));
        assert!(read_page_token(&other, &token).is_err());
        assert!(read_page_token(&one, "garbage").is_err());
    }
}
