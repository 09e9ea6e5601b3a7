//! A story told with the `waybill` CLI on a 4-node cluster: each step signed as an organisation
//! of the testnet and waited for, reads as customs, and a lying node in front of node 0 for
//! the tests that catch one.

use std::process::{Command, Output};

use crate::cluster::{Cluster, workspace_binary};
use crate::proxy::LyingProxy;

/// A command's standard output and error, as one text.
pub fn shown(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[derive(Debug)]
pub struct Story {
    pub cluster: Cluster,
    pub genesis: String,
    /// The fixture declaration as a file, for `declare`.
    pub declaration: String,
}

impl Story {
    /// A fresh 4-node cluster.
    pub fn start() -> Story {
        let cluster = Cluster::start(4);
        let genesis = cluster
            .testnet
            .genesis_path
            .to_str()
            .expect("utf-8 path")
            .to_string();
        let declaration = cluster.dir.path().join("declaration.json");
        std::fs::write(
            &declaration,
            serde_json::to_vec(&waybill_protocol::fixtures::declaration()).expect("json"),
        )
        .expect("write the declaration");
        let declaration = declaration.to_str().expect("utf-8 path").to_string();
        Story {
            cluster,
            genesis,
            declaration,
        }
    }

    /// The path of `org`'s testnet key.
    pub fn key(&self, org: &str) -> String {
        let path = self.cluster.testnet.dir.join(format!("keys/{org}.key"));
        path.to_str().expect("utf-8 path").to_string()
    }

    /// `waybill ARGS` against `node`, reading as customs unless `args` name a key (through a
    /// proxy, expecting the key of the validator it fronts); draws switched off.
    pub fn waybill(&self, node: &str, args: &[&str]) -> Output {
        let mut command = Command::new(workspace_binary("waybill"));
        command
            .args(args)
            .args(["--node", node, "--genesis", &self.genesis]);
        if !args.contains(&"--key") {
            command.arg("--key").arg(self.key("customs"));
            if node != self.cluster.api[0] {
                command.args([
                    "--validator",
                    self.cluster.testnet.genesis.validators[0].name.as_str(),
                ]);
            }
        }
        command
            .env_remove("WAYBILL_NODE")
            .env_remove("WAYBILL_GENESIS")
            .env("WAYBILL_POLICIES", crate::policies_without_draws())
            .output()
            .expect("run waybill")
    }

    /// Signs as `org` and submits on node 0, waiting for the block.
    pub fn step(&self, org: &str, args: &[&str]) {
        let key = self.key(org);
        let mut all = args.to_vec();
        all.extend(["--key", &key]);
        let output = self.waybill(&self.cluster.api[0], &all);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            shown(&output)
        );
    }

    /// The platform declares `shipment` with the fixture declaration.
    pub fn declare(&self, shipment: &str) {
        self.declare_as("platform", shipment, &self.declaration);
    }

    /// `platform` declares `shipment` with the declaration in the file `declaration`.
    pub fn declare_as(&self, platform: &str, shipment: &str, declaration: &str) {
        self.step(
            platform,
            &["declare", shipment, "--declaration", declaration],
        );
    }

    /// The command's exit code and output, through `node`.
    pub fn check(&self, node: &str, args: &[&str]) -> (Option<i32>, String) {
        let output = self.waybill(node, args);
        (output.status.code(), shown(&output))
    }

    /// A lying node in front of node 0, with node 0's own API key.
    pub fn proxy(&self) -> LyingProxy {
        let key = self.cluster.testnet.dir.join(format!(
            "nodes/{}/api.key",
            self.cluster.testnet.genesis.validators[0].name
        ));
        let key = waybill_protocol::files::KeyFile::read(&key, None)
            .expect("node 0's API key")
            .keypair;
        let tls = waybill_node::caller::server_config(&key, &["localhost".into()])
            .expect("the proxy's TLS");
        LyingProxy::start(&self.cluster.api[0], self.cluster.agent().clone(), tls)
    }
}
