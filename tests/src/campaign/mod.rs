//! Seeded fault campaigns against an application of your own.
//!
//! A [`Campaign`] takes the application (a [`StateMachine`], or an [`Application`] through
//! [`Typed`]), a workload (a seeded generator of operations per client) and a sequential
//! model of the application ([`Model`]). Each seed draws a [`Plan`]: a cluster of 4 or 7
//! replicas running the production shell, a lossy and reordering network, up to f faulty
//! replicas (Byzantine behaviours, Twins, crashes forever, wiped and faulty disks), faulty
//! clients, and transient crashes, isolations, partitions and one-way links for the
//! others. After the faults heal, every request must complete; throughout, the checkers
//! must find nothing:
//!
//! - safety: no two correct replicas execute different batches at one sequence number,
//!   and their checkpoints' state digests agree;
//! - linearizability: what the correct clients were told is explained by the model in
//!   some order that respects real time (operations that never completed may or may not
//!   have taken effect); the model may partition operations by key to keep the search
//!   small, and a search past its bound says "undecided" instead of hanging;
//! - the application's own invariants on what the clients were told, if given;
//! - liveness within a bound after healing, also while a Byzantine primary is live; no
//!   view change in a fault-free run; memory and stored bytes within the bounds computed
//!   from the configuration.
//!
//! The plan depends on the seed alone, and everything in a run is drawn from it: the same
//! seed gives the same run, and every violation names the seed that replays it.
//!
//! The example in `tests/examples/campaign.rs` (and in the README): a register, its
//! model, a workload of writes and reads, and a campaign of [`SEEDS_DEFAULT`] seeds.
//!
//! ```
#![doc = include_str!("../../examples/campaign.rs")]
//! ```
//!
//! `RAMPART_SEED=<seed>` makes [`Campaign::run`] replay that one seed, printing its plan;
//! `RAMPART_SEEDS=<count>` runs that many seeds instead of the campaign's own count;
//! `RAMPART_TRACE=1` prints a timeline of the replicas' states.
//!
//! Faulty clients send the shipped key-value store's puts on keys of their own
//! (`faulty-client-<i>`), which typed applications other than the key-value store refuse
//! as undecodable. An application that could take them must keep their effects out of
//! what the correct clients observe: [`Genesis::faulty_clients`] names their keys.

mod codec;
mod execute;
mod plan;
mod report;

use std::sync::Arc;

use rampart_replica::app::{Application, StateMachine, Typed};

pub use codec::{Answer, Codec, TypedCodec};
pub use plan::{Fault, Plan};
pub use report::{CampaignReport, SeedReport};

pub use crate::checker::linearizability::{
    Model, Operation as HistoryEntry, SEARCH_STATES_MAX, Verdict, WHOLE_HISTORY,
};
pub use crate::workload::Genesis;
pub use rampart_replica::core::Rng;

/// What a campaign against a typed application needs in scope.
pub mod prelude {
    pub use super::{Answer, Campaign, HistoryEntry, Model};
    pub use rampart_replica::app::{Application, ApplyContext, Operation};
    pub use rampart_replica::message::ClientId;
}

use crate::machine::AppFactory;
use crate::simulation::Simulation;
use crate::workload::{AppWorkload, ErasedCodec, Generate, Judge, invariant_judge, model_judge};

/// The default number of seeds: a few seconds of `make test`. `RAMPART_SEEDS` runs more.
pub const SEEDS_DEFAULT: u64 = 4;

type MakeApp = Arc<dyn Fn(&Genesis) -> Box<dyn StateMachine> + Send + Sync>;
type MakeJudge<Op, Output> = Arc<dyn Fn(usize) -> Judge<Op, Output> + Send + Sync>;

/// A seeded fault campaign against an application: see the [module docs](self).
pub struct Campaign<Op, Output> {
    app: MakeApp,
    codec: Arc<dyn ErasedCodec<Op, Output>>,
    workload: Option<Generate<Op>>,
    model: Option<MakeJudge<Op, Output>>,
    invariants: Vec<Judge<Op, Output>>,
    seeds: u64,
    first_seed: u64,
    clients: Option<usize>,
    operations: Option<usize>,
    beyond_tolerance: bool,
    search_states_max: usize,
}

impl<Op, Output> std::fmt::Debug for Campaign<Op, Output> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Campaign")
            .field("seeds", &self.seeds)
            .field("first_seed", &self.first_seed)
            .field("clients", &self.clients)
            .field("operations", &self.operations)
            .field("beyond_tolerance", &self.beyond_tolerance)
            .field("model", &self.model.is_some())
            .field("invariants", &self.invariants.len())
            .finish()
    }
}

impl Campaign<(), ()> {
    /// A campaign against the typed application `app` makes: operations are
    /// [`Operation`](rampart_replica::app::Operation)s of its commands and queries,
    /// outputs [`Answer`]s. Its commands and queries must be `Clone + Debug + Send + Sync`,
    /// and its outputs `PartialEq` too ([`TypedCodec`]'s bounds), so that histories can be
    /// kept, shown and compared with the model's.
    pub fn typed<A>(
        app: impl Fn() -> A + Send + Sync + 'static,
    ) -> Campaign<<TypedCodec<A> as Codec>::Op, <TypedCodec<A> as Codec>::Output>
    where
        TypedCodec<A>: Codec,
        A: Application,
    {
        Campaign::typed_with(move |_: &Genesis| app())
    }

    /// The same, for an application whose genesis state names the seed's participants
    /// (registered clients, for example).
    pub fn typed_with<A>(
        app: impl Fn(&Genesis) -> A + Send + Sync + 'static,
    ) -> Campaign<<TypedCodec<A> as Codec>::Op, <TypedCodec<A> as Codec>::Output>
    where
        TypedCodec<A>: Codec,
        A: Application,
    {
        Campaign::new_with(
            move |genesis| Typed::new(app(genesis)),
            TypedCodec::<A>::new(),
        )
    }

    /// A campaign against the byte-level state machine `app` makes, spoken to through
    /// `codec`.
    pub fn new<S: StateMachine, C: Codec>(
        app: impl Fn() -> S + Send + Sync + 'static,
        codec: C,
    ) -> Campaign<C::Op, C::Output> {
        Campaign::new_with(move |_: &Genesis| app(), codec)
    }

    /// The same, for a state machine whose genesis state names the seed's participants.
    pub fn new_with<S: StateMachine, C: Codec>(
        app: impl Fn(&Genesis) -> S + Send + Sync + 'static,
        codec: C,
    ) -> Campaign<C::Op, C::Output> {
        Campaign {
            app: Arc::new(move |genesis| Box::new(app(genesis))),
            codec: Arc::new(codec),
            workload: None,
            model: None,
            invariants: Vec::new(),
            seeds: SEEDS_DEFAULT,
            first_seed: 0,
            clients: None,
            operations: None,
            beyond_tolerance: false,
            search_states_max: SEARCH_STATES_MAX,
        }
    }
}

impl<Op, Output> Campaign<Op, Output>
where
    Op: Clone + Send + 'static,
    Output: Send + 'static,
{
    /// The workload: draws client `client`'s next operation (clients are numbered from 0).
    /// Each client's operations are drawn before the run from a generator seeded by the
    /// seed and the client, so they cannot depend on results.
    pub fn workload(
        mut self,
        generate: impl Fn(&mut Rng, usize) -> Op + Send + Sync + 'static,
    ) -> Campaign<Op, Output> {
        self.workload = Some(Arc::new(generate));
        self
    }

    /// The sequential model the clients' histories must be linearizable against, from
    /// `initial` (the application's genesis state).
    pub fn model<M>(mut self, initial: M) -> Campaign<Op, Output>
    where
        M: Model<Op = Op, Output = Output> + Send + Sync + 'static,
        Output: Clone,
    {
        self.model = Some(Arc::new(move |states_max| {
            model_judge(initial.clone(), states_max)
        }));
        self
    }

    /// An invariant of the application on what the correct clients were told (every
    /// client's operations, each with its output if it completed), checked after each
    /// seed; an `Err` is a violation.
    pub fn invariant(
        mut self,
        invariant: impl Fn(&[HistoryEntry<Op, Output>]) -> Result<(), String> + Send + Sync + 'static,
    ) -> Campaign<Op, Output> {
        self.invariants.push(invariant_judge(invariant));
        self
    }

    /// Maps each decoded output before the model and invariants see it: for outputs that
    /// hold what a model cannot predict (the sequence number that ordered a command), or
    /// to compare a summary. Call it before [`Campaign::model`] and
    /// [`Campaign::invariant`].
    pub fn observe<Seen: Send + 'static>(
        self,
        observe: impl Fn(&Op, Output) -> Seen + Send + Sync + 'static,
    ) -> Campaign<Op, Seen> {
        assert!(
            self.model.is_none() && self.invariants.is_empty(),
            "Campaign::observe changes the outputs the model and invariants see: call it \
             before Campaign::model and Campaign::invariant"
        );
        Campaign {
            app: self.app,
            codec: Arc::new(codec::Observed {
                inner: self.codec,
                observe: Arc::new(observe),
            }),
            workload: self.workload,
            model: None,
            invariants: Vec::new(),
            seeds: self.seeds,
            first_seed: self.first_seed,
            clients: self.clients,
            operations: self.operations,
            beyond_tolerance: self.beyond_tolerance,
            search_states_max: self.search_states_max,
        }
    }

    /// How many seeds [`Campaign::run`] runs ([`SEEDS_DEFAULT`] unless set;
    /// `RAMPART_SEEDS` overrides it).
    pub fn seeds(mut self, seeds: u64) -> Campaign<Op, Output> {
        self.seeds = seeds;
        self
    }

    /// The first seed [`Campaign::run`] runs (0 unless set).
    pub fn first_seed(mut self, seed: u64) -> Campaign<Op, Output> {
        self.first_seed = seed;
        self
    }

    /// Every seed runs `clients` correct clients (otherwise the plan draws 2 to 4), for
    /// applications whose genesis registers a fixed number of them.
    pub fn clients(mut self, clients: usize) -> Campaign<Op, Output> {
        self.clients = Some(clients);
        self
    }

    /// Every correct client issues `operations` operations (otherwise the plan draws 15
    /// to 34).
    pub fn operations(mut self, operations: usize) -> Campaign<Op, Output> {
        self.operations = Some(operations);
        self
    }

    /// The negative control: every seed runs with f + 1 Twins on links that force a split
    /// ([`Plan::beyond_tolerance`]), more faults than PBFT tolerates. The checkers must
    /// then report safety violations
    /// ([`CampaignReport::seeds_with_safety_violations`]); a campaign that cannot fail
    /// proves nothing.
    pub fn beyond_tolerance(mut self) -> Campaign<Op, Output> {
        self.beyond_tolerance = true;
        self
    }

    /// The most states the linearizability search explores per history (or part) before
    /// it reports the history undecided ([`SEARCH_STATES_MAX`] unless set).
    pub fn search_states_max(mut self, states: usize) -> Campaign<Op, Output> {
        self.search_states_max = states;
        self
    }

    /// What seed `seed` does.
    pub fn plan(&self, seed: u64) -> Plan {
        let mut plan = if self.beyond_tolerance {
            Plan::beyond_tolerance(seed)
        } else {
            Plan::generate(seed)
        };
        if let Some(clients) = self.clients {
            assert!(
                clients >= 1,
                "Campaign::clients(0): a campaign needs at least one correct client"
            );
            assert!(
                clients >= 2 || !self.beyond_tolerance,
                "Campaign::clients({clients}) with beyond_tolerance: the negative control \
                 needs at least two clients, one on each side of the split"
            );
            plan.config.clients = clients;
        }
        if let Some(operations) = self.operations {
            plan.config.operations_per_client = operations;
        }
        plan
    }

    /// Runs seed `seed` and checks it.
    pub fn run_seed(&self, seed: u64) -> SeedReport {
        let generate = self
            .workload
            .clone()
            .expect("a campaign needs a workload: call Campaign::workload before running it");
        let plan = self.plan(seed);
        execute::run(&plan, || {
            let genesis = Genesis::of(&plan.config);
            let make = self.app.clone();
            let app: AppFactory = Arc::new(move || make(&genesis));
            let mut judges: Vec<Judge<Op, Output>> = self
                .model
                .iter()
                .map(|make| make(self.search_states_max))
                .collect();
            judges.extend(self.invariants.iter().cloned());
            let workload = AppWorkload::new(generate, self.codec.clone(), judges);
            Simulation::with_workload(plan.config.clone(), app, Box::new(workload))
        })
    }

    /// Replays one seed, printing its plan, what it did and what the checkers found.
    pub fn replay(&self, seed: u64) -> SeedReport {
        let plan = self.plan(seed);
        println!(
            "seed {seed}: {} replicas, {} clients of {} operations, faults {:?}, faulty clients {:?}",
            plan.config.replicas,
            plan.config.clients,
            plan.config.operations_per_client,
            plan.faults,
            plan.config.faulty_clients
        );
        let report = self.run_seed(seed);
        println!("{:?}", report.stats);
        for violation in &report.violations {
            println!("violation: {violation}");
        }
        for undecided in &report.undecided {
            println!("undecided: {undecided}");
        }
        report
    }

    /// Runs the campaign's seeds (or, with `RAMPART_SEED` set, replays that one) and
    /// returns what the checkers found. Each failing seed is also printed as it fails,
    /// with the command that replays it.
    pub fn run(&self) -> CampaignReport {
        let mut report = CampaignReport {
            replay: replay_command(),
            ..CampaignReport::default()
        };
        if let Some(seed) = environment_number("RAMPART_SEED") {
            report.add(&self.replay(seed));
            return report;
        }
        let seeds = environment_number("RAMPART_SEEDS").unwrap_or(self.seeds);
        for seed in self.first_seed..self.first_seed.saturating_add(seeds) {
            let seed_report = self.run_seed(seed);
            if let Some(first) = seed_report.violations.first() {
                eprintln!(
                    "seed {seed} ({} replicas, faults {:?}, faulty clients {:?}): {} violation(s), first: {first}\n  reproduce with: {}",
                    seed_report.replicas,
                    seed_report.faults,
                    seed_report.faulty_clients,
                    seed_report.violations.len(),
                    report.replay_command(seed)
                );
            }
            report.add(&seed_report);
        }
        report
    }
}

/// A number from the environment, if the variable is set; a value that is not one is a
/// mistake worth stopping for.
fn environment_number(variable: &str) -> Option<u64> {
    let text = std::env::var(variable).ok()?;
    match text.trim().parse() {
        Ok(number) => Some(number),
        Err(_) => panic!("{variable}={text:?} is not a number; set it to a whole number"),
    }
}

/// How to replay a seed of the running test: the test's name is its thread's, under
/// cargo's test harness, and the package is the one cargo or nextest says it runs.
fn replay_command() -> String {
    let package = std::env::var("CARGO_PKG_NAME")
        .map(|name| format!(" -p {name}"))
        .unwrap_or_default();
    let test = std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(|name| format!(" {name}"))
        .unwrap_or_default();
    format!("RAMPART_SEED={{seed}} cargo nextest run{package}{test}")
}
