//! The console in a real browser: headless Chromium, driven over WebDriver, against a 4-node
//! cluster and a `waybill console` process, as an officer, a brand's analyst and a carrier
//! would use it. Each story saves screenshots (under the target directory's
//! `tmp/console-screenshots/`) and fails on any error in the browser's console.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use waybill_tests::browser::{Browser, ConsoleProcess};
use waybill_tests::proxy::Lie;
use waybill_tests::story::Story;

const GTIN: &str = "04012345000016";

/// The officer's time zone in these stories: +05:30 all year, so no test depends on the day.
const OFFICER_TIME_ZONE: &str = "Asia/Kolkata";

fn screenshots(story: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("console-screenshots")
        .join(story)
}

/// The fixture declaration to `consignee`, at `value_minor` cents, as a file for `declare`.
fn declaration(story: &Story, consignee: &str, value_minor: u64) -> String {
    let mut declaration = waybill_protocol::fixtures::declaration();
    declaration.items[0].value_minor = value_minor;
    declaration.consignee.name = waybill_protocol::PartyName::new(consignee).unwrap();
    let path = story.cluster.dir.path().join(format!("{consignee}.json"));
    std::fs::write(&path, serde_json::to_vec(&declaration).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

/// Trainers at EUR 3.00 a pair, to a consignee never seen before, with no addresses: the
/// undervaluation, HS risk, new consignee and ICS2 data-set hits add up to the red lane.
fn undervalued_declaration(story: &Story) -> String {
    declaration(story, "P. de Vries", 300)
}

fn row(shipment: &str) -> String {
    format!("#work tr[data-shipment=\"{shipment}\"]")
}

/// The cells of a shipment's work-list row, if it is listed.
fn cells(browser: &Browser, shipment: &str) -> Vec<String> {
    browser.texts(&format!("{} td", row(shipment)))
}

/// Reviews the action `action` (its form filled by the caller), signs it on the confirmation
/// page, and returns the height it committed at.
fn review_and_sign(browser: &Browser, action: &str, names: &[&str], story: &str) -> u64 {
    browser.click(&format!("form.action button[value=\"{action}\"]"));
    let shown = browser.text("pre.event");
    for name in names {
        assert!(shown.contains(name), "the event to sign: {shown}");
    }
    assert_eq!(
        browser.text("#event-id").len(),
        64,
        "the id of the event shown"
    );
    browser.screenshot(&format!("{story}-confirm"));
    browser.click("#sign");
    let height = browser.text("#committed-height");
    browser.screenshot(&format!("{story}-committed"));
    height.parse().unwrap()
}

/// The officer opens the work list, sees a red-lane consignment arrive live, reads its reasons
/// and duty, records an inspection, releases it, and sees it leave the list.
#[test]
fn an_officer_inspects_and_releases_a_red_lane_consignment() {
    let story = Story::start();
    story.declare("GREEN-1");
    story.step("customs", &["risk", "GREEN-1", "--status", "approved"]);
    let console = ConsoleProcess::start(&story.cluster, "customs", &story.cluster.api[0], &[]);
    let mut browser = Browser::start(&console.url, &screenshots("officer"), OFFICER_TIME_ZONE);
    browser.goto("/");
    browser.wait_until("GREEN-1 on the work list", |b| {
        cells(b, "GREEN-1")
            .get(1)
            .is_some_and(|lane| !lane.contains("VERIFYING"))
    });

    // Declared while the officer watches: the row arrives without a reload.
    let undervalued = undervalued_declaration(&story);
    story.declare_as("platform-b", "RED-1", &undervalued);
    story.step(
        "carrier-a",
        &[
            "pickup",
            "RED-1",
            "--at",
            "CNSZX",
            "--geo",
            "22.5431,114.0579",
        ],
    );
    story.step("carrier-a", &["handover", "RED-1", "--to", "carrier-b"]);
    story.step(
        "carrier-b",
        &[
            "accept",
            "RED-1",
            "--from",
            "carrier-a",
            "--at",
            "NLAMS",
            "--geo",
            "52.3105,4.7683",
        ],
    );
    story.step("customs", &["risk", "RED-1", "--status", "approved"]);
    browser.wait_until("RED-1 in the red lane", |b| {
        cells(b, "RED-1").get(1).is_some_and(|lane| lane == "RED")
    });
    assert!(
        browser
            .script("return document.body.dataset.updated")
            .is_string()
    );
    let red = cells(&browser, "RED-1");
    assert!(
        red[2].contains("3.00 EUR a unit, below the floor of 8.00 EUR"),
        "top reasons: {red:?}"
    );
    assert_eq!(red[4], "platform-b", "declaring platform: {red:?}");
    assert_eq!(red[5], "3.00 EUR", "value: {red:?}");
    assert_eq!(
        red[6], "3.00 EUR",
        "duty due (EUR 3 per distinct sub-heading): {red:?}"
    );
    // Worst lane first.
    let order = browser.count("#work tbody tr");
    assert_eq!(order, 2);
    assert_eq!(browser.texts("#work tbody tr td:first-child")[0], "RED-1");
    browser.screenshot("officer-1-worklist");

    // The filters: by lane, and a search by HS code and by platform.
    browser.choose("#lane", "red");
    browser.click("form.filters button");
    browser.wait_until("the red lane alone", |b| {
        b.texts("#work tbody tr td:first-child") == ["RED-1"]
    });
    browser.goto("/?q=platform-b");
    assert_eq!(browser.texts("#work tbody tr td:first-child"), ["RED-1"]);
    browser.goto("/?q=6404");
    assert_eq!(browser.count("#work tbody tr"), 2, "both are HS 640411");
    browser.goto("/?q=nobody");
    assert_eq!(browser.count("#work tbody tr"), 0);

    // The shipment page: verified, why this lane, the duty with its rule, times in the
    // officer's zone with the offset.
    browser.goto("/");
    browser.click(&format!("{} td:first-child a", row("RED-1")));
    assert!(browser.text(".banner").starts_with("VERIFIED"));
    let reasons = browser.text("section[aria-labelledby=reasons]");
    for rule in ["undervaluation", "hs_risk", "new_consignee", "ics2"] {
        assert!(reasons.contains(rule), "why this lane: {reasons}");
    }
    let duties = browser.text("section[aria-labelledby=duties]");
    assert!(duties.contains("eu-flat-duty-3"), "duties: {duties}");
    assert!(duties.contains("Total due\n3.00 EUR"), "duties: {duties}");
    let when = browser.text("section[aria-labelledby=timeline] time");
    assert!(
        when.ends_with("+05:30"),
        "a time in the officer's zone: {when}"
    );
    let custody = browser.texts("ol.custody li");
    assert_eq!(custody.len(), 2, "{custody:?}");
    assert!(custody[1].starts_with("carrier-b since"), "{custody:?}");
    let stops = browser.texts("section[aria-labelledby=map] svg text");
    assert_eq!(
        stops,
        ["1 pick_up CNSZX", "2 accept NLAMS"],
        "the map's located events"
    );
    browser.screenshot("officer-2-shipment");

    // The proof bundle behind the page's link checks offline.
    let link = browser.find("a.download");
    let href = browser.attribute(&link, "href");
    let bundle = story.cluster.dir.path().join("RED-1.proof.json");
    let downloaded = ureq::get(&href)
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    std::fs::write(&bundle, downloaded).unwrap();
    let (code, shown) = story.check("http://127.0.0.1:1", &["verify", bundle.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("VERIFIED shipment RED-1"), "{shown}");

    // An inspection, confirmed and signed; then the release.
    browser.choose("#inspect-result", "compliant");
    browser.fill("#inspect-note", "one pair of trainers, as declared");
    let inspected = review_and_sign(
        &browser,
        "inspect",
        &["inspect", "compliant", "one pair of trainers"],
        "officer-3-inspection",
    );
    assert!(inspected > 0);
    browser.click(".banner + p a");
    assert!(
        browser
            .text("section[aria-labelledby=holds]")
            .contains("Inspections: Compliant"),
        "the inspection on the page"
    );
    let released = review_and_sign(&browser, "release", &["release"], "officer-4-release");
    assert!(released > inspected, "{released} after {inspected}");

    // Decided: it leaves the work list; the decided page offers no more actions.
    browser.click(".banner + p a");
    assert!(browser.text("dl.facts").contains("released"));
    assert_eq!(browser.count("form.action"), 0);
    browser.goto("/");
    browser.wait_until("RED-1 to leave the work list", |b| {
        b.count(&row("RED-1")) == 0
    });
    browser.screenshot("officer-5-worklist-after");
    browser.assert_no_console_errors();
}

/// Keyboard and tablet: the first Tab reaches the skip link, which leads to the content; at
/// tablet width nothing needs a horizontal scroll.
#[test]
fn the_work_list_is_usable_by_keyboard_and_at_tablet_width() {
    let story = Story::start();
    story.declare("TAB-1");
    let console = ConsoleProcess::start(&story.cluster, "customs", &story.cluster.api[0], &[]);
    let mut browser = Browser::start(&console.url, &screenshots("keyboard"), OFFICER_TIME_ZONE);
    browser.goto("/");
    browser.press("\u{e004}");
    let focused = browser.script("return document.activeElement.textContent");
    assert_eq!(focused, "Skip to content");
    browser.press("\u{e007}");
    let focused = browser.script("return document.activeElement.id");
    assert_eq!(focused, "main");
    for (width, height) in [(1280, 800), (768, 1024)] {
        browser.set_window_size(width, height);
        browser.goto("/shipments/TAB-1");
        browser.find(".banner");
        let overflow = browser.script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        );
        assert_eq!(overflow, 0, "horizontal scroll at {width}×{height}");
        browser.screenshot(&format!("shipment-{width}x{height}"));
    }
    browser.assert_no_console_errors();
}

/// The brand's analyst opens a GTIN and sees which serial is suspect, why, and which shipment
/// named it.
#[test]
fn a_brand_sees_a_suspect_serial_and_why() {
    let story = Story::start();
    let genuine = format!("{GTIN}:SN-1");
    story.step("brand", &["commission", "STOCK", "--epc", &genuine]);
    story.declare("FAKE-SHIP");
    story.step(
        "carrier-a",
        &["pickup", "FAKE-SHIP", "--epc", &format!("{GTIN}:FAKE-1")],
    );
    let console = ConsoleProcess::start(&story.cluster, "brand", &story.cluster.api[0], &[]);
    let mut browser = Browser::start(&console.url, &screenshots("brand"), OFFICER_TIME_ZONE);
    browser.goto("/");
    assert!(
        browser.url().ends_with("/brand"),
        "a brand starts at its audit"
    );
    // The brand's own GTINs are listed as its console follows the feed; one is looked up.
    browser.wait_until("the commissioned GTIN listed", |b| {
        b.goto("/brand");
        b.texts("main table td") == [GTIN]
    });
    browser.fill("#gtin", GTIN);
    browser.click("form.filters button");
    assert!(browser.text(".banner").starts_with("VERIFIED"));
    let count = browser.text("p.count");
    assert!(
        count.starts_with("2 serial(s) seen, complete by proof") && count.ends_with("1 suspect"),
        "{count}"
    );
    let rows = browser.texts("main table tbody tr");
    let suspect = rows.iter().find(|r| r.starts_with("FAKE-1")).unwrap();
    assert!(suspect.contains("SUSPECT"), "{suspect}");
    assert!(suspect.contains("[never_commissioned]"), "{suspect}");
    assert!(suspect.contains("FAKE-SHIP"), "{suspect}");
    let genuine = rows.iter().find(|r| r.starts_with("SN-1")).unwrap();
    assert!(!genuine.contains("SUSPECT"), "{genuine}");
    let named = browser.texts("ul.suspect-shipments li");
    assert_eq!(named, ["FAKE-SHIP named suspect serial FAKE-1"]);
    browser.screenshot("brand-gtin");
    browser.assert_no_console_errors();
}

/// A node that answers a shipment's question with another shipment's genuine proof: the page
/// says NOT VERIFIED, naming both, shows nothing of it as fact and offers no action.
#[test]
fn a_lying_node_is_shown_not_verified_and_offers_no_action() {
    let story = Story::start();
    // Two consignees: neither shipment's check reads the other's proof as a related one.
    story.declare("LIE-A");
    story.declare_as(
        "platform",
        "LIE-B",
        &declaration(&story, "K. Honest", 8_990),
    );
    let proxy = story.proxy();
    proxy.lie(|path: &str| Lie::Forward(path.replace("/shipments/LIE-A/", "/shipments/LIE-B/")));
    let validator = story.cluster.testnet.genesis.validators[0].name.to_string();
    let console = ConsoleProcess::start(
        &story.cluster,
        "customs",
        &proxy.url,
        &["--validator", &validator],
    );
    let mut browser = Browser::start(&console.url, &screenshots("lying-node"), OFFICER_TIME_ZONE);
    browser.goto("/shipments/LIE-A");
    let banner = browser.text(".banner");
    assert!(banner.starts_with("NOT VERIFIED"), "{banner}");
    assert!(
        banner.contains("shipment LIE-A") && banner.contains("shipment LIE-B"),
        "{banner}"
    );
    assert!(browser.count("form.action") == 0, "no action offered");
    assert!(browser.count("a.download") == 0, "no proof offered");
    assert!(browser.count("section") == 0, "nothing shown as fact");
    browser.screenshot("lying-node-shipment");
    // The honest shipment through the same node is verified and actionable.
    browser.goto("/shipments/LIE-B");
    assert!(browser.text(".banner").starts_with("VERIFIED"));
    assert!(browser.count("form.action") > 0);
    // On the work list, the lie is a line of its own, not a lane.
    browser.goto("/");
    browser.wait_until("LIE-A marked on the work list", |b| {
        cells(b, "LIE-A")
            .get(1)
            .is_some_and(|lane| lane == "NOT VERIFIED")
    });
    browser.screenshot("lying-node-worklist");
    browser.assert_no_console_errors();
}

/// A carrier's console: a shipment it is no party to shows the node's 403 plainly; its own
/// shipments show what blocks each.
#[test]
fn a_shipment_the_member_may_not_read_shows_the_nodes_refusal() {
    let story = Story::start();
    story.step("carrier-a", &["pickup", "PRIVATE-1", "--at", "CNSZX"]);
    story.step("carrier-a", &["pickup", "SHARED-1", "--at", "CNSZX"]);
    story.step("carrier-a", &["handover", "SHARED-1", "--to", "carrier-b"]);
    let console = ConsoleProcess::start(&story.cluster, "carrier-b", &story.cluster.api[0], &[]);
    let mut browser = Browser::start(&console.url, &screenshots("refusal"), OFFICER_TIME_ZONE);
    browser.goto("/shipments/PRIVATE-1");
    let banner = browser.text(".banner");
    assert!(banner.starts_with("REFUSED BY THE NODE"), "{banner}");
    assert!(banner.contains("403"), "the node's status: {banner}");
    assert_eq!(browser.count("form.action"), 0);
    browser.screenshot("refusal-shipment");

    browser.goto("/");
    assert!(
        browser.url().ends_with("/mine"),
        "a carrier starts at its shipments"
    );
    browser.wait_until("SHARED-1 with what blocks it", |b| {
        b.goto("/mine");
        b.texts("main table tbody tr")
            .iter()
            .any(|r| r.starts_with("SHARED-1") && r.contains("awaits acceptance by carrier-b"))
    });
    let listed = browser.texts("main table tbody tr td:first-child");
    assert_eq!(listed, ["SHARED-1"], "only what it was handed");
    browser.screenshot("refusal-mine");
    browser.assert_no_console_errors();
}
