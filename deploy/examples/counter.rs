//! A replicated application of your own: a counter, in a few lines.
//!
//! ```text
//! rampart init --replicas 4 --clients 1 --app kv --out cluster
//! cargo run --example counter -- replica cluster/replica-0.toml   # and 1, 2, 3
//! cargo run --example counter -- add cluster/client-0.toml 5      # prints 5, then 10, ...
//! ```

use std::path::Path;

use rampart_client::Client;
use rampart_deploy::client::ClientSetup;
use rampart_deploy::replica::Setup;
use rampart_replica::app::{Application, ApplyContext, Typed};
use rampart_replica::message::ClientId;
use rampart_replica::node::Node;
use serde::{Deserialize, Serialize};

/// The replicated state: its serde encoding is the snapshot, so it must be deterministic.
#[derive(Default, Serialize, Deserialize)]
struct Counter {
    value: u64,
}

impl Application for Counter {
    type Command = u64; // add this much
    type Output = u64; // the new value
    type Query = (); // read the value
    type QueryOutput = u64;

    fn apply(&mut self, _context: &ApplyContext, add: u64) -> u64 {
        self.value = self.value.saturating_add(add);
        self.value
    }

    fn query(&self, _client: &ClientId, _query: ()) -> u64 {
        self.value
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["replica", config] => {
            let setup = Setup::load(Path::new(config))?;
            let node = Node::builder(setup.node)
                .key(setup.key)
                .application(Typed::new(Counter::default()))
                .start()
                .await?;
            tokio::signal::ctrl_c().await?;
            node.shutdown().await?;
        }
        ["add", config, amount] => {
            let setup = ClientSetup::load(Path::new(config))?;
            let client = Client::connect(setup.client_config()?, setup.key()?).await?;
            let value = client.execute::<Counter>(&amount.parse()?).await?;
            println!("{value}");
            client.close().await;
        }
        _ => eprintln!("usage: counter replica REPLICA.toml | counter add CLIENT.toml AMOUNT"),
    }
    Ok(())
}
