//! The half of a simulated run that depends on the application: what the simulated clients
//! send, and how what they were told is judged.
//!
//! The simulator sees only bytes: before a run, each client's operations are drawn as
//! [`Invocation`]s (a script); afterwards the clients' histories, operation bytes and
//! accepted result bytes, go back to the [`Workload`] for judgement. [`AppWorkload`] is the
//! workload of a typed operation and a sequential model, which [`crate::campaign`] builds
//! from what a user hands it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use bytes::Bytes;
use rampart_replica::core::Rng;
use rampart_replica::message::ClientId;

use crate::checker::Violation;
use crate::checker::linearizability::{self, Model, Operation, Verdict};
use crate::signatures::Identities;
use crate::simulation::SimConfig;

/// One operation a simulated client issues: its bytes, and whether it asks for the
/// read-only way first (PBFT §5.1.3; ordered after all if that fails).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub operation: Bytes,
    pub read_only: bool,
}

/// What the judgement of a run's histories found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    pub violations: Vec<Violation>,
    /// Histories (or parts) whose check hit the search bound, each described.
    pub undecided: Vec<String>,
}

/// What the simulated clients send, and how their histories are judged.
pub trait Workload: Send {
    /// Client `client`'s `operations` operations, in the order it issues them. Of the
    /// queries, `read_only_per_mille` per thousand try the read-only way first.
    fn draw(
        &mut self,
        client: usize,
        operations: usize,
        read_only_per_mille: u64,
        rng: &mut Rng,
    ) -> Vec<Invocation>;

    /// Judges the correct clients' histories: `histories[c][i]` is client `c`'s operation
    /// `i` as drawn, with the result it accepted, if any.
    fn judge(&self, histories: &[&[Operation<Bytes, Bytes>]]) -> Judgement;
}

/// Who takes part in a seed's cluster, for applications whose genesis state names them
/// (the interlock registers its agents' keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    pub seed: u64,
    pub replicas: usize,
    /// The correct clients' keys: client `c` of the workload and the model signs with
    /// `clients[c]`.
    pub clients: Vec<ClientId>,
    /// The faulty clients' keys.
    pub faulty_clients: Vec<ClientId>,
}

impl Genesis {
    /// The participants of a simulation with `config`: the same keys it gives them.
    pub fn of(config: &SimConfig) -> Genesis {
        let count = config.clients + config.faulty_clients.len();
        let identities = Identities::new(config.signatures, config.seed, config.replicas + count);
        let key = |c: usize| ClientId(identities.public_key(config.replicas + c));
        Genesis {
            seed: config.seed,
            replicas: config.replicas,
            clients: (0..config.clients).map(key).collect(),
            faulty_clients: (config.clients..count).map(key).collect(),
        }
    }
}

/// Draws one operation for client `client`.
pub type Generate<Op> = Arc<dyn Fn(&mut Rng, usize) -> Op + Send + Sync>;

/// Turns operations into bytes and result bytes into outputs.
pub trait ErasedCodec<Op, Output>: Send + Sync {
    fn encode(&self, op: &Op) -> Bytes;
    fn is_query(&self, op: &Op) -> bool;
    fn decode(&self, op: &Op, result: &[u8]) -> Output;
}

/// Judges a history of typed operations (all clients', in no particular order).
pub type Judge<Op, Output> = Arc<dyn Fn(&[Operation<Op, Output>]) -> Judgement + Send + Sync>;

/// A workload of typed operations: drawn by a generator, encoded by a codec, and judged
/// on their decoded outputs.
pub struct AppWorkload<Op, Output> {
    generate: Generate<Op>,
    codec: Arc<dyn ErasedCodec<Op, Output>>,
    judges: Vec<Judge<Op, Output>>,
    /// What each client was given, by client.
    drawn: BTreeMap<usize, Vec<Op>>,
}

impl<Op, Output> std::fmt::Debug for AppWorkload<Op, Output> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppWorkload")
            .field("judges", &self.judges.len())
            .field("clients_drawn", &self.drawn.len())
            .finish()
    }
}

impl<Op, Output> AppWorkload<Op, Output> {
    pub fn new(
        generate: Generate<Op>,
        codec: Arc<dyn ErasedCodec<Op, Output>>,
        judges: Vec<Judge<Op, Output>>,
    ) -> AppWorkload<Op, Output> {
        AppWorkload {
            generate,
            codec,
            judges,
            drawn: BTreeMap::new(),
        }
    }
}

impl<Op, Output> Workload for AppWorkload<Op, Output>
where
    Op: Clone + Send,
    Output: Send,
{
    fn draw(
        &mut self,
        client: usize,
        operations: usize,
        read_only_per_mille: u64,
        rng: &mut Rng,
    ) -> Vec<Invocation> {
        let ops: Vec<Op> = (0..operations)
            .map(|_| (self.generate)(rng, client))
            .collect();
        let script = ops
            .iter()
            .map(|op| Invocation {
                operation: self.codec.encode(op),
                read_only: self.codec.is_query(op) && rng.chance(read_only_per_mille, 1_000),
            })
            .collect();
        self.drawn.insert(client, ops);
        script
    }

    fn judge(&self, histories: &[&[Operation<Bytes, Bytes>]]) -> Judgement {
        let mut typed = Vec::new();
        for (client, history) in histories.iter().enumerate() {
            let drawn = self.drawn.get(&client).map_or(&[][..], Vec::as_slice);
            for (operation, op) in history.iter().zip(drawn) {
                typed.push(Operation {
                    client,
                    invoked_at: operation.invoked_at,
                    completed: operation
                        .completed
                        .as_ref()
                        .map(|(at, result)| (*at, self.codec.decode(op, result))),
                    op: op.clone(),
                });
            }
        }
        let mut judgement = Judgement::default();
        for judge in &self.judges {
            let found = judge(&typed);
            judgement.violations.extend(found.violations);
            judgement.undecided.extend(found.undecided);
        }
        judgement
    }
}

/// The judge of a sequential model: the history, partitioned if the model allows, must be
/// linearizable from `initial`, within `states_max` search states per part.
pub fn model_judge<M>(initial: M, states_max: usize) -> Judge<M::Op, M::Output>
where
    M: Model + Send + Sync + 'static,
    M::Op: Clone,
    M::Output: Clone,
{
    Arc::new(move |history: &[Operation<M::Op, M::Output>]| {
        let mut judgement = Judgement::default();
        for (part, verdict) in
            linearizability::check_partitioned(&initial, history.to_vec(), states_max)
        {
            match verdict {
                Verdict::Linearizable => {}
                Verdict::NotLinearizable { .. } => {
                    judgement.violations.push(Violation::NotLinearizable {
                        part,
                        detail: verdict.to_string(),
                    })
                }
                Verdict::Undecided { .. } => judgement
                    .undecided
                    .push(format!("history of {part}: {verdict}")),
            }
        }
        judgement
    })
}

/// The judge of an application invariant on what clients were told.
pub fn invariant_judge<Op, Output>(
    invariant: impl Fn(&[Operation<Op, Output>]) -> Result<(), String> + Send + Sync + 'static,
) -> Judge<Op, Output> {
    Arc::new(move |history: &[Operation<Op, Output>]| Judgement {
        violations: invariant(history)
            .err()
            .map(|detail| Violation::Application { detail })
            .into_iter()
            .collect(),
        undecided: Vec::new(),
    })
}
