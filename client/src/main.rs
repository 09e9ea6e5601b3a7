//! `waybill`: the command line for carriers, customs and brands. Exit codes: 0 success, 1 a
//! verification failed, 2 a usage, file or network error (with what to do about it).
//!
//! So far: `keygen`, `status`, one subcommand per event kind (sign with `--key`, submit, wait
//! for the block), `provenance` (fetch, verify against the local genesis, print the custody
//! timeline) and `verify` (a saved bundle, offline).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use waybill_client::answer::{Answer, AnswerError, ProvenanceReader};
use waybill_client::casefile::CaseError;
use waybill_client::customs::Policies;
use waybill_client::disclosure::Disclosure;
use waybill_client::node::{EventStatus, NodeClient};
use waybill_client::release::Verdict;
use waybill_client::timeline::{VerifiedHistory, verified_history};
use waybill_protocol::api::{Status, StreamItem};
use waybill_protocol::event::{EventKind, Sgtin};
use waybill_protocol::execution::EventOutcome;
use waybill_protocol::files::{self, KeyFile};
use waybill_protocol::provenance::{Freshness, ProvenanceProof, Question};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::{Gtin, Keypair, Serial, ShipmentId};

#[derive(Parser)]
#[command(
    name = "waybill",
    version,
    about = "Waybill: sign shipment events, read verified provenance"
)]
struct Cli {
    /// The node's API URL.
    #[arg(
        long,
        global = true,
        env = "WAYBILL_NODE",
        default_value = "http://127.0.0.1:7001"
    )]
    node: String,
    /// The network's genesis file: what every proof is checked against, and the keys every
    /// node's API must present.
    #[arg(long, global = true, env = "WAYBILL_GENESIS")]
    genesis: Option<PathBuf>,
    /// Your organisation's signing key file (mode 0600): signs events, and is the credential
    /// presented to the node (the TLS client certificate).
    #[arg(long, global = true, env = "WAYBILL_KEY")]
    key: Option<PathBuf>,
    /// The validator whose API key to expect, by name, when --node is not its genesis
    /// api_address (a port forward, a load balancer).
    #[arg(long, global = true, env = "WAYBILL_VALIDATOR")]
    validator: Option<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// The oldest proof accepted from a node, in seconds of its block's age (an idle network
    /// still makes a block every 10 s).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = waybill_protocol::limits::PROOF_AGE_DEFAULT_SECONDS)]
    max_age: u64,
    /// The lowest block height accepted: one you have already seen, so a node cannot answer
    /// from before it.
    #[arg(long, global = true, value_name = "HEIGHT", default_value_t = 0)]
    min_height: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a new ed25519 signing key (mode 0600; never overwrites).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// For curl and other TLS tools: write --key as a client certificate and private key
    /// (PREFIX.crt, PREFIX.pem, mode 0600) and print each validator's key pin.
    TlsCert {
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
    },
    /// The node's height, peers and mempool.
    Status,
    /// Fetch a shipment's (or, with --serial, an item's) provenance, verify it against the
    /// genesis, and print the custody timeline.
    Provenance {
        /// The shipment id.
        #[arg(required_unless_present = "serial")]
        shipment: Option<String>,
        /// An item instead: its GTIN and serial.
        #[arg(long, num_args = 2, value_names = ["GTIN", "SERIAL"], conflicts_with = "shipment")]
        serial: Option<Vec<String>>,
        /// Also save the proof bundle (to verify later with `waybill verify`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a saved proof bundle against the genesis, offline.
    Verify { bundle: PathBuf },
    /// Follow committed events as they happen (one shipment's, or all), until interrupted.
    Watch { shipment: Option<String> },
    /// Read an EPCIS 2.0 JSON-LD document whole, sign its events with --key and submit them in
    /// order; say which committed (ids and heights), with what meaning.
    ImportEpcis {
        document: PathBuf,
        /// The shipment events take their custody meaning on (unless one names its own,
        /// `waybill:shipment`). Without one, events are observations on your register
        /// (`epcis:<org>`).
        #[arg(long)]
        shipment: Option<String>,
    },
    /// Write a shipment's verified history as an EPCIS 2.0 JSON-LD document.
    ExportEpcis {
        shipment: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Brand: the counterfeit audit of one item (GTIN SERIAL) on its verified history. Exit 0
    /// only when clean; "data gap" findings are kept apart from "suspect" ones.
    Audit {
        #[arg(long, num_args = 2, value_names = ["GTIN", "SERIAL"], required_unless_present = "gtin", conflicts_with = "gtin")]
        serial: Option<Vec<String>>,
        /// Every serial of this GTIN the ledger has seen: the GTIN's own proven history lists
        /// them (complete by proof), and each is audited on its verified history.
        #[arg(long)]
        gtin: Option<String>,
    },
    /// Customs: verified provenance + the law in force on its day → a lane (GREEN, BLUE,
    /// YELLOW, RED, HOLD) with every reason and weight, and the duties and taxes due with the
    /// rule behind each. Exit 0 only when released (green or blue).
    ReleaseCheck {
        shipment: String,
        /// A policy directory (client/policies/README.md); default: the bundled one.
        #[arg(long, env = "WAYBILL_POLICIES")]
        policies: Option<PathBuf>,
    },
    /// The officer's and analyst's web console, served on this machine (loopback only): the
    /// work list, shipment pages, brand audits and the carrier's and platform's own shipments,
    /// every line verified here against the genesis; actions signed with --key after a
    /// confirmation. Prints the URL it listens on.
    Console {
        /// Where to listen (loopback only); port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// A policy directory (client/policies/README.md); default: the bundled one.
        #[arg(long, env = "WAYBILL_POLICIES")]
        policies: Option<PathBuf>,
    },
    /// The EPCIS 2.0 REST interface (capture, query, subscriptions) for an organisation's
    /// EPCIS systems: captures are signed with --key and submitted to --node; answers come
    /// from events verified against the genesis. Prints the URL it listens on.
    EpcisGateway {
        /// Where to listen; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
        /// The gateway's store (created if missing): verified events, jobs, subscriptions.
        #[arg(long)]
        state: PathBuf,
        /// The bearer token callers present (Authorization: Bearer …); written with a random
        /// token, readable by you only, if the file does not exist.
        #[arg(long)]
        token_file: PathBuf,
    },
    /// Sign and submit one event (waits for commitment unless --no-wait).
    #[command(flatten)]
    Event(Box<EventCommand>),
}

/// What every event subcommand takes.
#[derive(clap::Args)]
struct EventArgs {
    /// The shipment (house waybill) the event is about.
    shipment: String,
    /// The replay guard; it must exceed your key's last one. Default: the current time in
    /// microseconds, which increases as long as one process signs for the key at a time.
    #[arg(long)]
    nonce: Option<u64>,
    /// Where it happened: a GLN (13 digits) or a UN/LOCODE.
    #[arg(long)]
    at: Option<String>,
    /// The place's coordinates, as LATITUDE,LONGITUDE in decimal degrees (WGS 84, at most 7
    /// decimals), with --at: what the console draws on its map.
    #[arg(
        long,
        value_name = "LAT,LON",
        requires = "at",
        allow_hyphen_values = true
    )]
    geo: Option<String>,
    /// Items it concerns, as GTIN:SERIAL (repeatable).
    #[arg(long = "epc")]
    epcs: Vec<String>,
    /// Business documents it names, as KIND:ID (repeatable): house_air_waybill, air_waybill,
    /// bill_of_lading, invoice, purchase_order, movement_reference, despatch_advice,
    /// gift_declaration.
    #[arg(long = "document", value_name = "KIND:ID")]
    documents: Vec<String>,
    /// Return once the node accepted the event, without waiting for a block.
    #[arg(long)]
    no_wait: bool,
}

/// Whose accreditation, in which programme.
#[derive(clap::Args)]
struct AccreditationHolder {
    /// The operator's registration (EORI or equivalent).
    #[arg(long)]
    operator: String,
    /// The ledger member this operator is, if it is one.
    #[arg(long)]
    member: Option<String>,
    /// The programme, as the risk profile names it (e.g. "EU AEO", "CTPAT").
    #[arg(long)]
    programme: String,
}

impl AccreditationHolder {
    fn parts(
        &self,
    ) -> Result<
        (
            waybill_protocol::Reference,
            Option<waybill_protocol::OrgId>,
            waybill_protocol::Text,
        ),
        Failure,
    > {
        Ok((
            waybill_protocol::Reference::new(self.operator.as_str())?,
            self.member
                .as_deref()
                .map(waybill_protocol::OrgId::new)
                .transpose()?,
            waybill_protocol::Text::new(self.programme.as_str())?,
        ))
    }
}

#[derive(Subcommand)]
enum EventCommand {
    /// Platform: file the pre-arrival declaration (a JSON file, as in the API).
    Declare {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        declaration: PathBuf,
    },
    /// Carrier: take custody from the shipper.
    Pickup(EventArgs),
    /// Carrier: offer custody to another carrier.
    Handover {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        to: String,
    },
    /// Carrier: countersign a hand-over.
    Accept {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        from: String,
    },
    Depart(EventArgs),
    Arrive(EventArgs),
    Deliver(EventArgs),
    Return {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        reason: String,
    },
    /// Customs: the risk engine's result (approved, request_for_information, screen, do_not_load).
    Risk {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        status: String,
    },
    /// Customs: an inspection's result (compliant, discrepancy, prohibited).
    Inspect {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        result: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    Hold {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        reason: String,
    },
    Release(EventArgs),
    Seize {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        reason: String,
    },
    /// Brand: bring the --epc serials into existence.
    Commission(EventArgs),
    Decommission {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        reason: String,
    },
    Pack {
        #[command(flatten)]
        common: EventArgs,
        /// The parcel's SSCC (18 digits).
        #[arg(long)]
        parcel: String,
    },
    Unpack {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        parcel: String,
    },
    /// Customs, or the declaring platform: erase the declaration's private particulars at
    /// every node holding them (an erasure request). The summary and every proof stay.
    Purge {
        #[command(flatten)]
        common: EventArgs,
        /// The commitment to purge; default: the one in the shipment's verified declaration.
        #[arg(long)]
        particulars: Option<String>,
    },
    /// Customs: accredit an operator in a trusted-trader programme (filed on the SHIPMENT
    /// register of customs' choosing, e.g. `register:aeo`).
    Accredit {
        #[command(flatten)]
        common: EventArgs,
        #[command(flatten)]
        holder: AccreditationHolder,
        /// The tier (e.g. AEOF, AEOS, AEOC, "Tier 3").
        #[arg(long)]
        tier: String,
        /// First day in force, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: String,
        /// Last day in force, YYYY-MM-DD (UTC).
        #[arg(long)]
        until: String,
    },
    /// Customs: end an operator's accreditation in a programme from a day on.
    RevokeAccreditation {
        #[command(flatten)]
        common: EventArgs,
        #[command(flatten)]
        holder: AccreditationHolder,
        /// First day it no longer counts, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: String,
        #[arg(long)]
        reason: String,
    },
    /// Brand or customs: annotate a serial (GTIN:SERIAL) with a suspicion.
    Flag {
        #[command(flatten)]
        common: EventArgs,
        #[arg(long)]
        serial: String,
        #[arg(long)]
        suspicion: String,
    },
}

fn named<T: serde::de::DeserializeOwned>(what: &str, value: &str) -> Result<T, Failure> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).map_err(|_| {
        Failure::Usage(format!(
            "{what}: {value:?} is not one of the allowed values (see --help)"
        ))
    })
}

fn sgtin(text: &str) -> Result<Sgtin, Failure> {
    let (gtin, serial) = text
        .split_once(':')
        .ok_or_else(|| Failure::Usage(format!("{text:?}: expected GTIN:SERIAL")))?;
    Ok(Sgtin {
        gtin: Gtin::new(gtin)?,
        serial: Serial::new(serial)?,
    })
}

/// A declaration file, split into the event's summary and its sealed particulars with a
/// fresh random salt.
fn sealed_declaration(
    path: &Path,
) -> Result<(EventKind, waybill_protocol::particulars::SealedParticulars), Failure> {
    let bytes = files::read_bounded("declaration", path)?;
    let declaration: waybill_protocol::event::Declaration =
        waybill_protocol::json::parse(&bytes)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    let salt = waybill_protocol::particulars::Salt::generate()?;
    let (summary, sealed) = declaration.seal(salt);
    sealed
        .check_fits(&summary)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    Ok((EventKind::Declare(Box::new(summary)), sealed))
}

/// The commitment a purge names: given, or read from the shipment's verified declaration.
fn purge_target(
    cli: &Cli,
    shipment: &str,
    given: Option<&String>,
) -> Result<waybill_protocol::Hash, Failure> {
    if let Some(hex) = given {
        return waybill_protocol::Hash::from_hex(hex)
            .map_err(|e| Failure::Usage(format!("--particulars: {e}")));
    }
    let rules = rules(cli)?;
    let node = node_client(cli)?;
    let answer = reader(cli, &node, &rules)
        .shipment(&ShipmentId::new(shipment)?)
        .map_err(failed)?;
    waybill_client::disclosure::declaration_of(&answer.proof)
        .map(|(summary, _)| summary.particulars)
        .ok_or_else(|| Failure::Usage(format!("shipment {shipment} has no declaration to purge")))
}

type Particulars = Option<waybill_protocol::particulars::SealedParticulars>;

impl EventCommand {
    fn parts(&self, cli: &Cli) -> Result<(&EventArgs, EventKind, Particulars), Failure> {
        use waybill_protocol::{OrgId, Sscc, Text};
        let (common, kind) = match self {
            EventCommand::Declare {
                common,
                declaration,
            } => {
                let (kind, sealed) = sealed_declaration(declaration)?;
                return Ok((common, kind, Some(sealed)));
            }
            EventCommand::Purge {
                common,
                particulars,
            } => {
                let particulars = purge_target(cli, &common.shipment, particulars.as_ref())?;
                (common, EventKind::Purge { particulars })
            }
            EventCommand::Pickup(c) => (c, EventKind::PickUp),
            EventCommand::Handover { common, to } => (
                common,
                EventKind::HandOver {
                    to: OrgId::new(to.as_str())?,
                },
            ),
            EventCommand::Accept { common, from } => (
                common,
                EventKind::Accept {
                    from: OrgId::new(from.as_str())?,
                },
            ),
            EventCommand::Depart(c) => (c, EventKind::Depart),
            EventCommand::Arrive(c) => (c, EventKind::Arrive),
            EventCommand::Deliver(c) => (c, EventKind::Deliver),
            EventCommand::Return { common, reason } => (
                common,
                EventKind::Return {
                    reason: Text::new(reason.as_str())?,
                },
            ),
            EventCommand::Risk { common, status } => (
                common,
                EventKind::RiskAssessed {
                    status: named("--status", status)?,
                },
            ),
            EventCommand::Inspect {
                common,
                result,
                note,
            } => (
                common,
                EventKind::Inspect {
                    result: named("--result", result)?,
                    note: Text::new(note.as_str())?,
                },
            ),
            EventCommand::Hold { common, reason } => (
                common,
                EventKind::Hold {
                    reason: Text::new(reason.as_str())?,
                },
            ),
            EventCommand::Release(c) => (c, EventKind::Release),
            EventCommand::Seize { common, reason } => (
                common,
                EventKind::Seize {
                    reason: Text::new(reason.as_str())?,
                },
            ),
            EventCommand::Commission(c) => (c, EventKind::Commission),
            EventCommand::Decommission { common, reason } => (
                common,
                EventKind::Decommission {
                    reason: Text::new(reason.as_str())?,
                },
            ),
            EventCommand::Pack { common, parcel } => (
                common,
                EventKind::Pack {
                    parcel: Sscc::new(parcel.as_str())?,
                },
            ),
            EventCommand::Unpack { common, parcel } => (
                common,
                EventKind::Unpack {
                    parcel: Sscc::new(parcel.as_str())?,
                },
            ),
            EventCommand::Accredit {
                common,
                holder,
                tier,
                from,
                until,
            } => {
                let (operator, member, programme) = holder.parts()?;
                let accreditation = waybill_protocol::event::Accreditation {
                    operator,
                    member,
                    programme,
                    tier: Text::new(tier.as_str())?,
                    valid_from_ms: day_start_ms("--from", from)?,
                    // In force through its last day: until the next day starts.
                    valid_until_ms: day_start_ms("--until", until)?.saturating_add(86_400_000),
                };
                (common, EventKind::Accredit(Box::new(accreditation)))
            }
            EventCommand::RevokeAccreditation {
                common,
                holder,
                from,
                reason,
            } => {
                let (operator, member, programme) = holder.parts()?;
                let revocation = waybill_protocol::event::Revocation {
                    operator,
                    member,
                    programme,
                    effective_ms: day_start_ms("--from", from)?,
                    reason: Text::new(reason.as_str())?,
                };
                (common, EventKind::RevokeAccreditation(Box::new(revocation)))
            }
            EventCommand::Flag {
                common,
                serial,
                suspicion,
            } => (
                common,
                EventKind::Flag {
                    serial: sgtin(serial)?,
                    suspicion: Text::new(suspicion.as_str())?,
                },
            ),
        };
        Ok((common, kind, None))
    }
}

/// The first millisecond (UTC) of a `YYYY-MM-DD` day.
fn day_start_ms(what: &str, text: &str) -> Result<u64, Failure> {
    waybill_client::customs::units::Day::parse(text)
        .map(|day| day.start_ms())
        .ok_or_else(|| Failure::Usage(format!("{what}: {text:?} is not a day such as 2026-07-01")))
}

/// `KIND:ID` of `--document`.
fn document(
    text: &str,
) -> Result<
    (
        waybill_protocol::event::BizTransactionKind,
        waybill_protocol::DocumentId,
    ),
    Failure,
> {
    let (kind, id) = text
        .split_once(':')
        .ok_or_else(|| Failure::Usage(format!("--document: {text:?}: expected KIND:ID")))?;
    Ok((
        named("--document", kind)?,
        waybill_protocol::DocumentId::new(id)?,
    ))
}

fn submit_event(cli: &Cli, command: &EventCommand) -> Result<(), Failure> {
    let (common, kind, particulars) = command.parts(cli)?;
    let genesis_path = cli.genesis.as_ref().ok_or_else(|| {
        Failure::Usage("no genesis file: pass --genesis FILE or set WAYBILL_GENESIS".into())
    })?;
    let genesis = files::read_genesis(genesis_path)?;
    let identity = signing_identity(cli, &genesis)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| Failure::Usage(format!("the clock is before 1970: {e}")))?;
    let nonce = common.nonce.unwrap_or(now_ms.as_micros() as u64);
    let mut builder = waybill_protocol::EventBuilder::new(
        genesis.chain_id.clone(),
        identity.key_id.clone(),
        nonce,
        ShipmentId::new(common.shipment.as_str())?,
        kind,
        now_ms.as_millis() as u64,
    );
    if let Some(at) = &common.at {
        let geo = common
            .geo
            .as_deref()
            .map(|text| text.parse::<waybill_protocol::event::GeoPoint>())
            .transpose()
            .map_err(|e| Failure::Usage(format!("--geo {e}")))?;
        builder = builder.read_point(waybill_protocol::event::Location {
            id: waybill_protocol::LocationId::new(at.as_str())?,
            geo,
        });
    }
    let epcs = common
        .epcs
        .iter()
        .map(|text| sgtin(text).map(waybill_protocol::event::Epc::Sgtin))
        .collect::<Result<Vec<_>, _>>()?;
    for text in &common.documents {
        let (kind, id) = document(text)?;
        builder = builder.biz_transaction(kind, id);
    }
    let event = builder.epcs(epcs).sign(&identity.keypair);
    let client = connect(cli, &genesis, Some(&identity.keypair))?;
    let id = match &particulars {
        Some(sealed) => client.submit_declaration(&event, sealed)?,
        None => client.submit(&event)?,
    };
    if common.no_wait {
        print_outcome(cli, &id, "accepted", None);
        return Ok(());
    }
    match client.wait_committed(&id, std::time::Duration::from_secs(60))? {
        EventStatus::Committed { height, .. } => {
            print_outcome(cli, &id, "committed", Some((height, None)))
        }
        EventStatus::Rejected { height, reason, .. } => {
            print_outcome(cli, &id, "rejected", Some((height, Some(reason.as_str()))));
            return Err(Failure::Rejected);
        }
        // `wait_committed` returns only a final state or an error.
        EventStatus::Pending => return Err(Failure::Usage(format!("event {id} is still pending"))),
    }
    Ok(())
}

fn print_outcome(
    cli: &Cli,
    id: &waybill_protocol::Hash,
    state: &str,
    at: Option<(u64, Option<&str>)>,
) {
    if cli.json {
        let (height, reason) = at.unwrap_or((0, None));
        println!(
            "{}",
            serde_json::json!({"id": id, "state": state, "height": height, "reason": reason})
        );
        return;
    }
    match at {
        None => println!("{state} {id} (pending; `waybill provenance` shows it once committed)"),
        Some((height, None)) => println!("{state} {id} at height {height}"),
        Some((height, Some(reason))) => println!("{state} {id} at height {height}: {reason}"),
    }
}

/// What went wrong, and which exit code it earns.
enum Failure {
    /// Exit 1: a proof did not verify.
    Verification(String),
    /// Exit 2: usage, files, network.
    Usage(String),
    /// Exit 1: the ledger recorded the event as rejected, or the verdict is not release (the
    /// reasons were printed).
    Rejected,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::Usage(error.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Verification(message)) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({"verified": false, "error": message})
                );
            } else {
                println!("NOT VERIFIED: {message}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Rejected) => ExitCode::from(1),
    }
}

fn genesis(cli: &Cli) -> Result<waybill_protocol::Genesis, Failure> {
    let path = cli.genesis.as_ref().ok_or_else(|| {
        Failure::Usage("no genesis file: pass --genesis FILE or set WAYBILL_GENESIS".into())
    })?;
    Ok(files::read_genesis(path)?)
}

fn signing_identity(
    cli: &Cli,
    genesis: &waybill_protocol::Genesis,
) -> Result<waybill_client::keystore::SigningIdentity, Failure> {
    let key = cli.key.as_ref().ok_or_else(|| {
        Failure::Usage("no signing key: pass --key FILE or set WAYBILL_KEY".into())
    })?;
    Ok(waybill_client::keystore::load_identity(key, genesis)?)
}

fn connect(
    cli: &Cli,
    genesis: &waybill_protocol::Genesis,
    identity: Option<&Keypair>,
) -> Result<NodeClient, Failure> {
    Ok(NodeClient::connect(
        &cli.node,
        genesis,
        cli.validator.as_deref(),
        identity,
    )?)
}

/// The node, over TLS pinned by the genesis, presenting --key when given (reads need it:
/// without credentials a node answers only its status).
fn node_client(cli: &Cli) -> Result<NodeClient, Failure> {
    if cli.node.starts_with("http://") {
        // A node run with insecure_http: nothing to pin, nobody to present.
        return Ok(NodeClient::new(&cli.node));
    }
    let genesis = genesis(cli)?;
    let identity = cli
        .key
        .as_ref()
        .map(|_| signing_identity(cli, &genesis))
        .transpose()?;
    connect(cli, &genesis, identity.as_ref().map(|i| &i.keypair))
}

fn tls_cert(cli: &Cli, out: &Path) -> Result<(), Failure> {
    let genesis = genesis(cli)?;
    let identity = signing_identity(cli, &genesis)?;
    let (certificate, key) =
        waybill_protocol::tls::self_signed_pem(&identity.keypair, &["waybill-client".into()])?;
    let path = |extension: &str| out.with_extension(extension);
    files::write_new("client certificate", &path("crt"), certificate.as_bytes())?;
    files::write_secret("client private key", &path("pem"), key.as_bytes())?;
    println!(
        "wrote {} and {} for {}",
        path("crt").display(),
        path("pem").display(),
        identity.key_id.org
    );
    for validator in &genesis.validators {
        println!(
            "curl -k --pinnedpubkey '{}' --cert {} --key {} https://{}/v1/status   # {}",
            waybill_protocol::tls::curl_pin(&validator.api_key),
            path("crt").display(),
            path("pem").display(),
            validator.api_address,
            validator.name
        );
    }
    Ok(())
}

fn rules(cli: &Cli) -> Result<ChainRules, Failure> {
    let path = cli.genesis.as_ref().ok_or_else(|| {
        Failure::Usage("no genesis file: pass --genesis FILE or set WAYBILL_GENESIS".into())
    })?;
    let genesis = files::read_genesis(path)?;
    Ok(ChainRules::new(genesis)?)
}

/// What reading an answer failed on: a proof that does not answer is exit 1, the rest exit 2.
fn failed(error: AnswerError) -> Failure {
    match error {
        AnswerError::Proof { .. } => Failure::Verification(error.to_string()),
        AnswerError::Node(error) => Failure::Usage(error.to_string()),
    }
}

/// The verified reader every command that fetches a proof uses, with `--max-age` and
/// `--min-height`.
fn reader<'a>(cli: &Cli, node: &'a NodeClient, rules: &'a ChainRules) -> ProvenanceReader<'a> {
    let max_age = std::time::Duration::from_secs(cli.max_age);
    ProvenanceReader::new(node, rules, Some(max_age), cli.min_height)
}

fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Keygen { out } => keygen(cli, out),
        Command::Event(command) => submit_event(cli, command),
        Command::Audit {
            serial: Some(serial),
            ..
        } => audit(cli, serial),
        Command::Audit {
            gtin: Some(gtin), ..
        } => audit_gtin(cli, gtin),
        Command::Audit { .. } => Err(Failure::Usage(
            "pass --serial GTIN SERIAL or --gtin GTIN".into(),
        )),
        Command::ImportEpcis { document, shipment } => {
            import_epcis(cli, document, shipment.as_deref())
        }
        Command::TlsCert { out } => tls_cert(cli, out),
        Command::ExportEpcis { shipment, out } => {
            let rules = rules(cli)?;
            let node = node_client(cli)?;
            let answer = reader(cli, &node, &rules)
                .shipment(&ShipmentId::new(shipment.as_str())?)
                .map_err(failed)?;
            let events = answer.events();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let document =
                waybill_protocol::json::to_pretty(&waybill_client::epcis::export(&events, now));
            match out {
                Some(path) => {
                    std::fs::write(path, document)
                        .map_err(|e| Failure::Usage(format!("writing {}: {e}", path.display())))?;
                    println!(
                        "wrote {} ({} events, verified)",
                        path.display(),
                        events.len()
                    );
                }
                None => print!("{document}"),
            }
            Ok(())
        }
        Command::ReleaseCheck { shipment, policies } => {
            release_check(cli, shipment, policies.as_deref())
        }
        Command::Console { listen, policies } => console(cli, *listen, policies.as_deref()),
        Command::EpcisGateway {
            listen,
            state,
            token_file,
        } => epcis_gateway(cli, *listen, state, token_file),
        Command::Watch { shipment } => {
            let shipment = shipment.as_deref().map(ShipmentId::new).transpose()?;
            let client = node_client(cli)?;
            client.follow(shipment.as_ref(), |item| {
                use std::io::Write;
                let line = watch_line(&item, cli.json);
                let mut out = std::io::stdout().lock();
                // A closed pipe (`waybill watch | head`) ends the watch.
                writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
            })?;
            Ok(())
        }
        Command::Status => {
            let status = node_client(cli)?.status()?;
            if cli.json {
                print!("{}", waybill_protocol::json::to_pretty(&status));
            } else {
                println!("{}", status_line(&status, &cli.node));
            }
            Ok(())
        }
        Command::Provenance {
            shipment,
            serial,
            out,
        } => {
            let rules = rules(cli)?;
            let node = node_client(cli)?;
            let reader = reader(cli, &node, &rules);
            let answer = match (shipment, serial) {
                (Some(id), _) => reader.shipment(&ShipmentId::new(id.as_str())?),
                (None, Some(parts)) => {
                    let [gtin, serial] = parts.as_slice() else {
                        return Err(Failure::Usage("--serial takes GTIN and SERIAL".into()));
                    };
                    reader.serial(&Sgtin {
                        gtin: Gtin::new(gtin.as_str())?,
                        serial: Serial::new(serial.as_str())?,
                    })
                }
                (None, None) => return Err(Failure::Usage("name a shipment or --serial".into())),
            }
            .map_err(failed)?;
            if let Some(out) = out {
                let text = waybill_protocol::json::to_pretty(&answer.proof);
                std::fs::write(out, text)
                    .map_err(|e| Failure::Usage(format!("writing {}: {e}", out.display())))?;
            }
            let particulars = reader.particulars(&answer).map_err(failed)?;
            report(cli, &answer.history, None, particulars.as_ref());
            Ok(())
        }
        Command::Verify { bundle } => {
            let rules = rules(cli)?;
            let bytes = files::read_bounded("proof bundle", bundle)?;
            let proof: ProvenanceProof = waybill_protocol::json::parse(&bytes).map_err(|e| {
                Failure::Verification(format!("{} is not a proof bundle: {e}", bundle.display()))
            })?;
            // A saved bundle answers the question it was saved for, at any age: the age is
            // reported, not refused.
            let question = Question {
                key: proof.key.clone(),
                freshness: Freshness {
                    now_ms: waybill_client::answer::now_ms(),
                    max_age_ms: None,
                    min_height: cli.min_height,
                },
            };
            let history = verified_history(&proof, &rules, &question)
                .map_err(|e| Failure::Verification(e.to_string()))?;
            report(
                cli,
                &history,
                Some(question.freshness.age_ms(&proof.header)),
                None,
            );
            Ok(())
        }
    }
}

fn load_policies(directory: Option<&Path>) -> Result<Policies, Failure> {
    match directory {
        Some(path) => Policies::load(path).map_err(|e| Failure::Usage(format!("policies: {e}"))),
        None => Ok(Policies::bundled()),
    }
}

fn release_check(cli: &Cli, shipment: &str, directory: Option<&Path>) -> Result<(), Failure> {
    let policies = load_policies(directory)?;
    let rules = rules(cli)?;
    let node = node_client(cli)?;
    let reader = reader(cli, &node, &rules);
    let case =
        waybill_client::casefile::gather(&reader, &rules, &ShipmentId::new(shipment)?, &policies)
            .map_err(|error| match error {
            CaseError::Verification(message) => Failure::Verification(message),
            CaseError::Node(error) => Failure::Usage(error.to_string()),
        })?;
    let report = case.release_check(&policies);
    let height = case.answer.history.height;
    if cli.json {
        println!(
            "{}",
            serde_json::json!({"shipment": shipment, "height": height, "report": report})
        );
    } else {
        print!(
            "{}",
            waybill_client::release::describe(shipment, height, case.events.len(), &report)
        );
    }
    if report.verdict == Verdict::Release {
        Ok(())
    } else {
        Err(Failure::Rejected)
    }
}

fn console(
    cli: &Cli,
    listen: std::net::SocketAddr,
    directory: Option<&Path>,
) -> Result<(), Failure> {
    let policies = load_policies(directory)?;
    let genesis = genesis(cli)?;
    let identity = signing_identity(cli, &genesis)?;
    let node = connect(cli, &genesis, Some(&identity.keypair))?;
    let config = waybill_client::console::ConsoleConfig {
        node,
        rules: ChainRules::new(genesis)?,
        identity,
        policies,
        listen,
        max_age: Some(std::time::Duration::from_secs(cli.max_age)),
    };
    waybill_client::console::run(config, |address| {
        use std::io::Write;
        println!(
            "console at http://{address}/ (verifying against {})",
            cli.node
        );
        let _ = std::io::stdout().flush();
    })?;
    Ok(())
}

/// The gateway's token: read from `path` (which only its owner may read), or made and
/// written there.
fn gateway_token(path: &Path) -> Result<String, Failure> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::metadata(path) {
        Ok(metadata) => {
            if metadata.permissions().mode() & 0o077 != 0 {
                return Err(Failure::Usage(format!(
                    "{}: other users may read this token file; chmod 600 it",
                    path.display()
                )));
            }
            let text = files::read_bounded("token file", path)?;
            Ok(String::from_utf8_lossy(&text).trim().to_string())
        }
        Err(_) => {
            let mut random = [0u8; 32];
            getrandom::fill(&mut random).map_err(|e| Failure::Usage(e.to_string()))?;
            let token = hex::encode(random);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            writeln!(file, "{token}")
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            Ok(token)
        }
    }
}

fn epcis_gateway(
    cli: &Cli,
    listen: std::net::SocketAddr,
    state: &Path,
    token_file: &Path,
) -> Result<(), Failure> {
    let genesis = genesis(cli)?;
    let identity = signing_identity(cli, &genesis)?;
    let node = connect(cli, &genesis, Some(&identity.keypair))?;
    let config = waybill_client::gateway::GatewayConfig {
        node,
        rules: ChainRules::new(genesis)?,
        identity,
        listen,
        state: state.to_path_buf(),
        token: gateway_token(token_file)?,
        follow_pause: std::time::Duration::from_millis(200),
    };
    waybill_client::gateway::run(config, |address| {
        use std::io::Write;
        println!(
            "EPCIS gateway at http://{address}/ (capturing to and verifying {})",
            cli.node
        );
        let _ = std::io::stdout().flush();
    })?;
    Ok(())
}

fn import_epcis(cli: &Cli, document: &Path, shipment: Option<&str>) -> Result<(), Failure> {
    let genesis_path = cli.genesis.as_ref().ok_or_else(|| {
        Failure::Usage("no genesis file: pass --genesis FILE or set WAYBILL_GENESIS".into())
    })?;
    let genesis = files::read_genesis(genesis_path)?;
    let identity = signing_identity(cli, &genesis)?;
    let bytes = files::read_bounded("EPCIS document", document)?;
    let value: serde_json::Value = waybill_protocol::json::parse(&bytes)
        .map_err(|e| Failure::Usage(format!("{}: {e}", document.display())))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let roles = genesis
        .organisation(&identity.key_id.org)
        .map(|o| o.roles.clone())
        .unwrap_or_default();
    let signer = waybill_client::epcis::ImportSigner {
        chain_id: genesis.chain_id.clone(),
        key_id: identity.key_id.clone(),
        first_nonce: now.as_micros() as u64,
        default_shipment: shipment.map(ShipmentId::new).transpose()?,
        captured_at_ms: now.as_millis() as u64,
        may_sign: waybill_protocol::EventType::ALL
            .into_iter()
            .filter(|kind| genesis.may_sign(&roles, *kind))
            .collect(),
    };
    // The whole document is read and checked before anything is signed.
    let imported = waybill_client::epcis::import(&value, &signer).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        Failure::Usage(format!(
            "{}: {} problem(s), nothing was signed or submitted:\n{}",
            document.display(),
            errors.len(),
            lines.join("\n")
        ))
    })?;
    let meanings: Vec<String> = imported.iter().map(|one| one.meaning.clone()).collect();
    let bodies: Vec<_> = imported.into_iter().map(|one| one.body).collect();
    let client = connect(cli, &genesis, Some(&identity.keypair))?;
    let total = bodies.len();
    // Submitted in document order; a refusal stops the rest, and every submitted event is
    // followed to its block so that the output says exactly what is on the ledger.
    let mut submitted = Vec::with_capacity(total);
    let mut refused = None;
    for (index, body) in bodies.into_iter().enumerate() {
        let event = waybill_protocol::SignedEvent::sign(body, &identity.keypair);
        match client.submit(&event) {
            Ok(id) => submitted.push((index, id)),
            Err(error) => {
                refused = Some((index, error));
                break;
            }
        }
    }
    let mut committed = 0;
    for (index, id) in &submitted {
        match client.wait_committed(id, std::time::Duration::from_secs(60))? {
            EventStatus::Committed { height, .. } => {
                committed += 1;
                println!(
                    "  event {index}: committed {id} at height {height} ({})",
                    meanings[*index]
                );
            }
            EventStatus::Rejected { height, reason, .. } => {
                println!("  event {index}: rejected {id} at height {height}: {reason}");
            }
            EventStatus::Pending => println!("  event {index}: {id} still pending"),
        }
    }
    if let Some((index, error)) = &refused {
        let rest = total - index;
        println!(
            "  event {index}: refused by the node, so it and the {} after it were not submitted: {error}",
            rest - 1
        );
    }
    println!(
        "imported and committed {committed} of {total} event(s) from {}",
        document.display()
    );
    if committed == total {
        Ok(())
    } else {
        Err(Failure::Rejected)
    }
}

/// Audits one serial on its verified history.
fn audit_one(
    reader: &ProvenanceReader<'_>,
    rules: &ChainRules,
    item: &Sgtin,
) -> Result<(u64, usize, waybill_client::audit::AuditReport), Failure> {
    let answer: Answer = reader.serial(item).map_err(failed)?;
    let events = answer.events();
    Ok((
        answer.history.height,
        events.len(),
        waybill_client::audit::audit_serial(item, &events, rules),
    ))
}

fn audit_gtin(cli: &Cli, gtin: &str) -> Result<(), Failure> {
    use waybill_client::audit::AuditClass;
    let gtin = Gtin::new(gtin)?;
    let rules = rules(cli)?;
    let client = node_client(cli)?;
    let reader = reader(cli, &client, &rules);
    // Complete by proof: every serial any applied event named, from the GTIN's own history.
    let listing = reader.gtin(&gtin).map_err(failed)?;
    let serials: Vec<Serial> = waybill_protocol::index::serials_named(
        &gtin,
        listing.proof.events.iter().map(|p| &p.event.body),
    )
    .into_iter()
    .map(|sgtin| sgtin.serial)
    .collect();
    let mut reports = Vec::new();
    for serial in serials {
        let item = Sgtin {
            gtin: gtin.clone(),
            serial,
        };
        reports.push(audit_one(&reader, &rules, &item)?.2);
    }
    let worst = reports
        .iter()
        .map(|r| r.class)
        .max()
        .unwrap_or(AuditClass::Clean);
    if cli.json {
        println!(
            "{}",
            serde_json::json!({"gtin": gtin, "class": worst, "height": listing.history.height, "complete": true, "reports": reports})
        );
    } else {
        let count = |class| reports.iter().filter(|r| r.class == class).count();
        println!(
            "GTIN {gtin}: {} serials seen (complete by proof as of block {}), {} clean, {} data gap, {} suspect (each verified)",
            reports.len(),
            listing.history.height,
            count(AuditClass::Clean),
            count(AuditClass::DataGap),
            count(AuditClass::Suspect),
        );
        for report in reports.iter().filter(|r| r.class != AuditClass::Clean) {
            for finding in &report.findings {
                let class = match finding.class {
                    AuditClass::Suspect => "suspect",
                    _ => "data gap",
                };
                println!(
                    "  {}: {class}: {} [{}]",
                    report.serial.serial, finding.detail, finding.rule
                );
            }
        }
    }
    if worst == AuditClass::Clean {
        Ok(())
    } else {
        Err(Failure::Rejected)
    }
}

fn audit(cli: &Cli, serial: &[String]) -> Result<(), Failure> {
    use waybill_client::audit::AuditClass;
    let [gtin, number] = serial else {
        return Err(Failure::Usage("--serial takes GTIN and SERIAL".into()));
    };
    let item = Sgtin {
        gtin: Gtin::new(gtin.as_str())?,
        serial: Serial::new(number.as_str())?,
    };
    let rules = rules(cli)?;
    let node = node_client(cli)?;
    let (height, event_count, report) = audit_one(&reader(cli, &node, &rules), &rules, &item)?;
    if cli.json {
        println!(
            "{}",
            serde_json::json!({"height": height, "report": report})
        );
    } else {
        let class = match report.class {
            AuditClass::Clean => "CLEAN",
            AuditClass::DataGap => "DATA GAP",
            AuditClass::Suspect => "SUSPECT",
        };
        println!(
            "{class} {gtin} / {number} (provenance verified as of block {height}, {event_count} events)"
        );
        for finding in &report.findings {
            let class = match finding.class {
                AuditClass::Suspect => "suspect",
                _ => "data gap",
            };
            println!("  {class}: {} [{}]", finding.detail, finding.rule);
        }
    }
    if report.class == AuditClass::Clean {
        Ok(())
    } else {
        Err(Failure::Rejected)
    }
}

fn keygen(cli: &Cli, out: &Path) -> Result<(), Failure> {
    let keypair = Keypair::generate()?;
    let file = KeyFile {
        keypair,
        chain_id: None,
        // Its organisation and index are the genesis ceremony's to assign.
        purpose: None,
    };
    file.write(out)?;
    let public = file.keypair.public_key().to_hex();
    if cli.json {
        println!("{}", serde_json::json!({"path": out, "public_key": public}));
    } else {
        println!("wrote {} (mode 0600)\npublic key {public}", out.display());
        println!("give the public key to the genesis ceremony; keep the file to yourself");
    }
    Ok(())
}

/// Prints a verified history; a saved bundle's with its age.
/// A verified history, and its declaration's particulars as this reader may know them.
fn report(
    cli: &Cli,
    history: &VerifiedHistory,
    age_ms: Option<u64>,
    particulars: Option<&Disclosure>,
) {
    if cli.json {
        println!(
            "{}",
            serde_json::json!({"verified": true, "age_ms": age_ms, "history": history, "particulars": particulars})
        );
    } else {
        print_history(history, age_ms);
        if let Some(particulars) = particulars {
            println!("  {}", particulars.describe());
        }
    }
}

fn print_history(history: &VerifiedHistory, age_ms: Option<u64>) {
    use std::io::Write;
    let key = match &history.key {
        waybill_protocol::index::IndexKey::Shipment(id) => format!("shipment {id}"),
        waybill_protocol::index::IndexKey::Serial(s) => format!("item {} / {}", s.gtin, s.serial),
        waybill_protocol::index::IndexKey::Gtin(gtin) => format!("GTIN {gtin}"),
        waybill_protocol::index::IndexKey::Operator(registration) => {
            format!("operator {registration}")
        }
        waybill_protocol::index::IndexKey::Member(org) => format!("member {org}"),
        other @ waybill_protocol::index::IndexKey::EpcisEvent(_) => other.to_string(),
    };
    let mut lines = vec![format!(
        "VERIFIED {key} as of block {} ({}), against the genesis",
        history.height, history.block_hash
    )];
    if let Some(age_ms) = age_ms {
        lines.push(format!(
            "as of {} ago: events since then are not in this bundle",
            age(age_ms)
        ));
    }
    if !history.recorded {
        lines.push("never recorded: the proof shows no event for it".into());
    }
    for entry in &history.entries {
        lines.push(format!(
            "  {}  block {:>6}  {:<10} {:<14} {}{}",
            utc(entry.event_time_ms),
            entry.height,
            entry.signer.as_str(),
            entry.event_type.name(),
            entry.detail,
            entry
                .location
                .as_ref()
                .map_or(String::new(), |l| format!(" @ {l}"))
        ));
    }
    // A reader that stops early (`| head`) closes the pipe: stop writing, quietly.
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}

/// An age people read: `42 s`, `3 min 20 s`, `5 h 2 min`, `12 days 3 h`.
fn age(ms: u64) -> String {
    let seconds = ms / 1000;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        3600..86_400 => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} days {} h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

/// `YYYY-MM-DD HH:MM:SSZ` from Unix milliseconds.
fn utc(ms: u64) -> String {
    format!("{}Z", waybill_client::time::utc_text(ms))
}

/// One line of `waybill watch`: the event as the node streamed it (`--json`), or a summary.
fn watch_line(item: &StreamItem, json: bool) -> String {
    match item {
        StreamItem::Lagged(lagged) if json => waybill_protocol::json::to_compact(lagged),
        StreamItem::Lagged(lagged) => format!(
            "fell behind the node's stream by {} blocks ({}); re-read /v1/blocks",
            lagged.missed_blocks, lagged.message
        ),
        StreamItem::Committed(committed) if json => waybill_protocol::json::to_compact(committed),
        StreamItem::Committed(committed) => {
            let outcome = match &committed.outcome {
                EventOutcome::Applied => "applied".to_string(),
                EventOutcome::Rejected { rejection } => format!("rejected: {}", rejection.code()),
            };
            let body = &committed.event.body;
            format!(
                "block {:>6} #{:<4} {:<10} {:<14} {:<20} {outcome}",
                committed.height,
                committed.index,
                body.signer.org.as_str(),
                body.kind.event_type().name(),
                body.shipment.as_str(),
            )
        }
    }
}

/// `waybill status` in one line; liveness only if the node shows this caller no more.
fn status_line(status: &Status, node: &str) -> String {
    let syncing = if status.syncing { ", syncing" } else { "" };
    match &status.member {
        Some(member) => format!(
            "{} at {node}: height {}, {} peers, {} events pending{syncing}",
            member.validator.name,
            status.height,
            member.peers.len(),
            member.mempool.events,
        ),
        None => format!(
            "{node}: height {}, {}{syncing} (liveness only: this caller sees no member status)",
            status.height,
            if status.healthy {
                "healthy"
            } else {
                "not healthy"
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(super::utc(1_767_225_600_000), "2026-01-01 00:00:00Z");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn ages_read_in_the_largest_sensible_units() {
        assert_eq!(super::age(42_900), "42 s");
        assert_eq!(super::age(200_000), "3 min 20 s");
        assert_eq!(super::age(18_120_000), "5 h 2 min");
        assert_eq!(super::age(1_047_600_000), "12 days 3 h");
    }
}
