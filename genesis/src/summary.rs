//! A genesis described for people: organisations, roles, validators, parameters, hash.

use std::fmt::Write as _;

use waybill_protocol::Genesis;

/// A plain-text description of `genesis`, one section per table.
pub fn describe(genesis: &Genesis) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "chain        {}", genesis.chain_id);
    let _ = writeln!(out, "genesis hash {}", genesis.hash());
    let _ = writeln!(out, "genesis time {} (unix ms)", genesis.genesis_time_ms);
    let _ = writeln!(
        out,
        "quorum       {} of {} validators",
        genesis.quorum(),
        genesis.validators.len()
    );

    let _ = writeln!(out, "\norganisations");
    let _ = writeln!(
        out,
        "  {:<16} {:<28} {:<7} {:<20} {:>4}  gs1 prefixes",
        "id", "name", "country", "roles", "keys"
    );
    for org in &genesis.organisations {
        let roles: Vec<&str> = org.roles.iter().map(|r| r.name()).collect();
        let prefixes: Vec<&str> = org.gs1_prefixes.iter().map(|p| p.as_str()).collect();
        let _ = writeln!(
            out,
            "  {:<16} {:<28} {:<7} {:<20} {:>4}  {}",
            org.id.as_str(),
            org.name.as_str(),
            org.country.as_str(),
            roles.join(","),
            org.signing_keys.len(),
            if prefixes.is_empty() {
                "-".to_string()
            } else {
                prefixes.join(",")
            }
        );
    }

    let _ = writeln!(out, "\nvalidators");
    let _ = writeln!(
        out,
        "  {:>3} {:<16} {:<16} {:<18} {:<30} api",
        "#", "name", "operator", "node key", "p2p"
    );
    for (index, validator) in genesis.validators.iter().enumerate() {
        let key = validator.node_key.to_hex();
        let _ = writeln!(
            out,
            "  {:>3} {:<16} {:<16} {:<18} {:<30} {}",
            index,
            validator.name.as_str(),
            validator.operator.as_str(),
            format!("{}…", &key[..16]),
            validator.p2p_address.as_str(),
            validator.api_address.as_str()
        );
    }

    let c = &genesis.consensus;
    let _ = writeln!(out, "\nconsensus");
    let _ = writeln!(
        out,
        "  timeouts (ms, base + round × increase): propose {}+{}, prevote {}+{}, precommit {}+{}",
        c.timeout_propose_ms,
        c.timeout_propose_increase_ms,
        c.timeout_prevote_ms,
        c.timeout_prevote_increase_ms,
        c.timeout_precommit_ms,
        c.timeout_precommit_increase_ms
    );
    let _ = writeln!(
        out,
        "  blocks: at most {} events, {} bytes",
        c.block_events_max, c.block_bytes_max
    );

    let _ = writeln!(out, "\npermissions");
    for permission in &genesis.permissions {
        let kinds: Vec<&str> = permission.event_types.iter().map(|k| k.name()).collect();
        let _ = writeln!(out, "  {:<9} {}", permission.role.name(), kinds.join(", "));
    }
    let _ = writeln!(out, "\nreads");
    for grant in &genesis.read_policy {
        let scopes: Vec<&str> = grant.scopes.iter().map(|s| s.name()).collect();
        let _ = writeln!(out, "  {:<9} {}", grant.role.name(), scopes.join(", "));
    }
    let _ = writeln!(
        out,
        "\nparticulars: customs and the declaring platform; kept {}",
        genesis
            .particulars_retention_days
            .map_or("until a purge".into(), |days| format!("{days} days"))
    );
    for grant in &genesis.particulars_grants {
        let _ = writeln!(out, "  {:<9} {grant}", grant.role.name());
    }
    out
}
