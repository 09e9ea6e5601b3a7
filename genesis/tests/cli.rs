//! `waybill-genesis` as an operator runs it: make a testnet, validate it, and see hand-broken
//! copies refused with a message that names the problem.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use waybill_protocol::files::{KeyFile, NodeConfig};
use waybill_protocol::genesis::Genesis;

fn genesis_tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_waybill-genesis"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn make_testnet(dir: &Path, validators: &str) {
    let output = genesis_tool(&[
        "testnet",
        "--validators",
        validators,
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// Rewrites genesis.json in `dir` with `edit` applied to its JSON text; returns its path.
fn broken_copy(dir: &Path, name: &str, edit: impl FnOnce(String) -> String) -> String {
    let text = fs::read_to_string(dir.join("genesis.json")).unwrap();
    let path = dir.join(format!("broken-{name}.json"));
    fs::write(&path, edit(text)).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn testnet_of_four_validates_and_has_every_file() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("net");
    make_testnet(&dir, "4");

    let genesis_path = dir.join("genesis.json");
    let output = genesis_tool(&["validate", genesis_path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("is valid: chain waybill-testnet, 6 organisations, 4 validators")
    );

    let genesis = waybill_protocol::files::read_genesis(&genesis_path).unwrap();
    assert_eq!(genesis.validators.len(), 4);
    for org in [
        "customs",
        "platform",
        "carrier-a",
        "carrier-b",
        "brand",
        "platform-b",
    ] {
        let path = dir.join("keys").join(format!("{org}.key"));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "{org}"
        );
        let key = KeyFile::read(&path, Some(&genesis.chain_id)).unwrap();
        let listed = &genesis
            .organisation(&org.parse().unwrap())
            .unwrap()
            .signing_keys;
        assert_eq!(listed, &vec![key.keypair.public_key()]);
    }
    // The brand is a member but runs no validator.
    assert!(
        genesis
            .validators
            .iter()
            .all(|v| v.operator.as_str() != "brand")
    );
    for (index, validator) in genesis.validators.iter().enumerate() {
        let node_dir = dir.join("nodes").join(validator.name.as_str());
        let config = NodeConfig::read(&node_dir.join("config.toml")).unwrap();
        assert_eq!(config.validator, validator.name);
        assert_eq!(config.p2p_listen, validator.p2p_address);
        assert!(
            config.api_listen.as_str().starts_with("127.0.0.1:"),
            "validator {index}"
        );
        assert_eq!(
            fs::canonicalize(&config.genesis).unwrap(),
            fs::canonicalize(&genesis_path).unwrap()
        );
        let node_key = KeyFile::read(&config.node_key, Some(&genesis.chain_id)).unwrap();
        assert_eq!(node_key.keypair.public_key(), validator.node_key);
        // The API's TLS key is the genesis's api_key for this validator, and its curl pin.
        let api_key = KeyFile::read(config.api_key.as_ref().unwrap(), Some(&genesis.chain_id));
        assert_eq!(api_key.unwrap().keypair.public_key(), validator.api_key);
        assert!(!config.insecure_http);
        let pin = fs::read_to_string(node_dir.join("api.pin")).unwrap();
        assert_eq!(pin, waybill_protocol::tls::curl_pin(&validator.api_key));
    }
    // Each organisation's key as a client certificate for curl, the private half mode 0600.
    for org in [
        "customs",
        "platform",
        "carrier-a",
        "carrier-b",
        "brand",
        "platform-b",
    ] {
        let keys = dir.join("keys");
        let certificate = fs::read_to_string(keys.join(format!("{org}.crt"))).unwrap();
        assert!(
            certificate.starts_with("-----BEGIN CERTIFICATE-----"),
            "{org}"
        );
        let key = keys.join(format!("{org}.pem"));
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let env = fs::read_to_string(dir.join("env")).unwrap();
    assert!(env.contains("export WAYBILL_GENESIS='"));
    assert!(env.contains(&format!(
        "export WAYBILL_NODE=https://{}\n",
        genesis.validators[0].api_address
    )));
    for variable in [
        "CUSTOMS",
        "PLATFORM",
        "CARRIER_A",
        "CARRIER_B",
        "BRAND",
        "PLATFORM_B",
    ] {
        assert!(
            env.contains(&format!("export WAYBILL_KEY_{variable}='")),
            "{variable}"
        );
    }

    let show = genesis_tool(&["show", genesis_path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains(&genesis.hash().to_hex()));
    assert!(text.contains("carrier-b-3"));
}

#[test]
fn hand_broken_genesis_copies_are_refused_naming_the_problem() {
    let temp = tempfile::tempdir().unwrap();
    make_testnet(temp.path(), "4");
    let genesis: Genesis =
        waybill_protocol::files::read_genesis(&temp.path().join("genesis.json")).unwrap();
    let customs_key = genesis.organisations[0].signing_keys[0].to_hex();
    let platform_key = genesis.organisations[1].signing_keys[0].to_hex();

    let cases: Vec<(String, &str)> = vec![
        (
            broken_copy(temp.path(), "duplicate-key", |t| {
                t.replace(&platform_key, &customs_key)
            }),
            "is used both as signing key customs#0 and as signing key platform#0",
        ),
        (
            broken_copy(temp.path(), "unknown-role", |t| {
                t.replacen("\"carrier\"", "\"shipper\"", 1)
            }),
            "at organisations[2].roles[0] (line",
        ),
        (
            broken_copy(temp.path(), "unknown-role-2", |t| {
                t.replacen("\"carrier\"", "\"shipper\"", 1)
            }),
            "unknown variant `shipper`, expected one of `customs`, `platform`, `carrier`, `brand`",
        ),
        (
            broken_copy(temp.path(), "duplicate-name", |t| {
                t.replacen("carrier-a-2", "customs-0", 1)
            }),
            "validators[].name: customs-0 appears more than once",
        ),
        (
            // Cut between two fields of the top-level object.
            broken_copy(temp.path(), "truncated", |t| {
                t[..t.find(",\n  \"validators\"").unwrap()].to_string()
            }),
            "EOF while parsing an object",
        ),
    ];
    for (path, expected) in cases {
        let output = genesis_tool(&["validate", &path]);
        assert_eq!(output.status.code(), Some(1), "{path}");
        let message = stderr(&output);
        assert!(
            message.contains(expected),
            "expected {expected:?} in {message:?}"
        );
        assert!(
            message.contains(&path),
            "the message names the file: {message}"
        );
    }
}

#[test]
fn missing_genesis_is_an_io_error_naming_the_file() {
    let output = genesis_tool(&["validate", "/nonexistent/genesis.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim(),
        "error: genesis /nonexistent/genesis.json: no such file"
    );
}

#[test]
fn testnet_refuses_a_non_empty_directory_and_bad_counts() {
    let temp = tempfile::tempdir().unwrap();
    fs::write(temp.path().join("precious.txt"), "keep me").unwrap();
    let output = genesis_tool(&["testnet", "--out", temp.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("exists and is not empty"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        fs::read_to_string(temp.path().join("precious.txt")).unwrap(),
        "keep me"
    );

    let output = genesis_tool(&[
        "testnet",
        "--validators",
        "0",
        "--out",
        temp.path().join("n").to_str().unwrap(),
    ]);
    assert!(stderr(&output).contains("--validators must be between 1 and 128, not 0"));
    let output = genesis_tool(&[
        "testnet",
        "--base-port",
        "65530",
        "--out",
        temp.path().join("p").to_str().unwrap(),
    ]);
    assert!(
        stderr(&output).contains("above 65535"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn testnet_scales_to_seven_validators_with_fixed_ports() {
    let temp = tempfile::tempdir().unwrap();
    let output = genesis_tool(&[
        "testnet",
        "--validators",
        "7",
        "--base-port",
        "41000",
        "--out",
        temp.path().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let genesis = waybill_protocol::files::read_genesis(&temp.path().join("genesis.json")).unwrap();
    assert_eq!(genesis.validators.len(), 7);
    assert_eq!(genesis.quorum(), 5);
    assert_eq!(
        genesis.validators[6].p2p_address.as_str(),
        "/ip4/127.0.0.1/tcp/41012"
    );
    assert_eq!(
        genesis.validators[6].api_address.as_str(),
        "127.0.0.1:41013"
    );
    assert_eq!(genesis.validators[4].operator.as_str(), "customs");
}

#[test]
fn key_files_are_refused_when_readable_by_others_or_for_another_chain() {
    let temp = tempfile::tempdir().unwrap();
    make_testnet(temp.path(), "1");
    let key = temp.path().join("keys/customs.key");
    let other_chain = "other-chain".parse().unwrap();
    let error = KeyFile::read(&key, Some(&other_chain))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("made for chain waybill-testnet, but the genesis is chain other-chain"),
        "{error}"
    );

    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let error = KeyFile::read(&key, None).unwrap_err().to_string();
    assert!(
        error.contains("readable by other users (mode 644)"),
        "{error}"
    );
    assert!(error.contains("chmod 600"), "{error}");

    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let text = fs::read_to_string(&key).unwrap();
    let tampered = temp.path().join("tampered.key");
    let secret_start = text.find("\"secret_key\": \"").unwrap() + 15;
    let flipped = if &text[secret_start..secret_start + 1] == "0" {
        "1"
    } else {
        "0"
    };
    let text = format!(
        "{}{}{}",
        &text[..secret_start],
        flipped,
        &text[secret_start + 1..]
    );
    fs::write(&tampered, text).unwrap();
    fs::set_permissions(&tampered, fs::Permissions::from_mode(0o600)).unwrap();
    let error = KeyFile::read(&tampered, None).unwrap_err().to_string();
    assert!(
        error.contains("its secret key does not match its public key"),
        "{error}"
    );
}
