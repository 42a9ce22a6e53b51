use rampart_testkit::campaign::prelude::*;
use serde::{Deserialize, Serialize};
#[derive(Default, Serialize, Deserialize)]
struct Register(u64); // the application
impl Application for Register {
    type Command = u64; // the new value
    type Output = u64; // the value it replaced
    type Query = (); // read the value
    type QueryOutput = u64;
    fn apply(&mut self, _: &ApplyContext, value: u64) -> u64 {
        std::mem::replace(&mut self.0, value)
    }
    fn query(&self, _: &ClientId, _: ()) -> u64 {
        self.0
    }
}
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Spec(u64); // the model: what a correct register answers, one operation at a time
impl Model for Spec {
    type Op = Operation<u64, ()>;
    type Output = Answer<u64, u64>;
    fn step(&self, _client: usize, op: &Self::Op) -> (Spec, Self::Output) {
        match op {
            Operation::Command(value) => (Spec(*value), Answer::Output(self.0)),
            Operation::Query(()) => (self.clone(), Answer::QueryOutput(self.0)),
        }
    }
}

fn main() {
    let report = Campaign::typed(Register::default)
        .workload(|rng, _client| match rng.below(3) {
            0 => Operation::Query(()),
            _ => Operation::Command(rng.below(1_000)),
        })
        .model(Spec::default())
        .run();
    assert!(report.violations.is_empty(), "{report}");
}
