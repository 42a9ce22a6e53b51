//! What the shell tells its operators: the recorder watches the core's actions go by and
//! records metrics (batches ordered, the time between protocol steps of each sequence
//! number, client refusals), and fills the status the shell publishes. It only looks:
//! nothing here changes what the shell does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::metrics::{Phase, ShellMetrics};
use crate::core::{Action, Outbound, PersistOp, Replica};
use crate::message::{Message, Payload, Seq};

use super::status::NodeStatus;

/// How many sequence numbers' step times are kept at most. The log window bounds the
/// sequence numbers in progress; this bounds the memory if executions stop coming.
const SLOTS_TIMED_MAX: usize = 4_096;

/// When this replica saw one sequence number reach each step.
#[derive(Clone, Copy, Debug, Default)]
struct StepTimes {
    pre_prepared: Option<Instant>,
    prepared: Option<Instant>,
    committed: Option<Instant>,
}

#[derive(Debug)]
pub(super) struct Recorder {
    metrics: Arc<ShellMetrics>,
    steps: BTreeMap<Seq, StepTimes>,
    /// The highest sequence number seen committed: batches are counted once, even when a
    /// new view commits a sequence number again.
    committed: Seq,
    /// Client requests refused, by the refusal's kind.
    client_refusals: BTreeMap<&'static str, u64>,
}

impl Recorder {
    /// A recorder for a core that executed up to `last_executed` (and so committed it).
    pub(super) fn new(last_executed: Seq) -> Recorder {
        Recorder {
            metrics: Arc::default(),
            steps: BTreeMap::new(),
            committed: last_executed,
            client_refusals: BTreeMap::new(),
        }
    }

    pub(super) fn metrics(&self) -> Arc<ShellMetrics> {
        self.metrics.clone()
    }

    /// Looks at the actions of one input before the shell carries them out.
    pub(super) fn actions(&mut self, actions: &[Action]) {
        let now = Instant::now();
        for action in actions {
            match action {
                Action::Broadcast(Outbound::Sign(Payload::PrePrepare { pre_prepare, .. })) => {
                    self.pre_prepared(pre_prepare.seq, now);
                }
                Action::Persist(ops) => {
                    for op in ops {
                        self.persisted(op, now);
                    }
                }
                Action::Execute(execution) => self.executed(execution.seq, now),
                Action::Refuse { refusal, .. } => {
                    *self.client_refusals.entry(refusal.kind()).or_default() += 1;
                }
                _ => {}
            }
        }
        while self.steps.len() > SLOTS_TIMED_MAX {
            self.steps.pop_first();
        }
    }

    fn persisted(&mut self, op: &PersistOp, now: Instant) {
        match op {
            PersistOp::Message(Message::PrePrepare { pre_prepare, .. }) => {
                self.pre_prepared(pre_prepare.value.seq, now);
            }
            PersistOp::Prepared { certificate, .. } => {
                let steps = self.steps.entry(certificate.seq()).or_default();
                if steps.prepared.is_none() {
                    steps.prepared = Some(now);
                    if let Some(at) = steps.pre_prepared {
                        self.metrics
                            .phase(Phase::PrePreparedToPrepared, now.duration_since(at));
                    }
                }
            }
            PersistOp::Decided(certificate) => {
                let Some((_, seq, _)) = certificate.subject() else {
                    return;
                };
                if seq > self.committed {
                    self.committed = seq;
                    let requests = certificate.batch.requests.len() as u64;
                    self.metrics.batches_ordered.inc();
                    self.metrics.requests_ordered.inc_by(requests);
                    self.metrics.batch_requests.observe(requests as f64);
                }
                let steps = self.steps.entry(seq).or_default();
                if steps.committed.is_none() {
                    steps.committed = Some(now);
                    if let Some(at) = steps.prepared {
                        self.metrics
                            .phase(Phase::PreparedToCommitted, now.duration_since(at));
                    }
                }
            }
            _ => {}
        }
    }

    /// A PRE-PREPARE accepted, or sent as primary. In a new view a sequence number starts
    /// over: its earlier steps belonged to the view that failed.
    fn pre_prepared(&mut self, seq: Seq, now: Instant) {
        self.steps.insert(
            seq,
            StepTimes {
                pre_prepared: Some(now),
                ..StepTimes::default()
            },
        );
    }

    fn executed(&mut self, seq: Seq, now: Instant) {
        let steps = self.steps.get(&seq).copied().unwrap_or_default();
        if let Some(at) = steps.pre_prepared {
            self.metrics
                .phase(Phase::PrePreparedToExecuted, now.duration_since(at));
        }
        if let Some(at) = steps.committed {
            self.metrics
                .phase(Phase::CommittedToExecuted, now.duration_since(at));
            self.steps.remove(&seq);
        }
        // Earlier sequence numbers will see no more steps. A tentative execution (before
        // the commit) keeps its own entry, for the prepared-to-committed time.
        self.steps = self.steps.split_off(&seq);
    }

    /// Fills what the status says beyond the core's own fields.
    pub(super) fn status(&self, status: &mut NodeStatus, core: &Replica) {
        let position = core.cluster_position();
        let (cluster_view, cluster_executed) =
            position.unwrap_or((core.view(), core.last_executed()));
        let checkpoint_interval = core.config().checkpoint_interval;
        status.committed = self.committed.max(core.last_executed());
        status.cluster_view = cluster_view;
        status.cluster_executed = cluster_executed;
        status.cluster_known = position.is_some();
        status.behind = cluster_view > core.view()
            || cluster_executed.0 >= core.last_executed().0 + checkpoint_interval;
        status.reject_counts.clone_from(core.rejects());
        status.client_refusals.clone_from(&self.client_refusals);
        status.view_changes.clone_from(core.view_change_counts());
        status.clients = core.client_table().client_count();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::View;
    use crate::store::fixture;

    fn decided(seq: u64, requests: u64) -> PersistOp {
        let batch = fixture::batch(requests, 8);
        PersistOp::Decided(fixture::commit_certificate(View(0), Seq(seq), &batch))
    }

    #[test]
    fn every_batch_is_counted_once_and_every_step_timed() {
        let mut recorder = Recorder::new(Seq(0));
        let batch = fixture::batch(3, 8);
        let pre_prepare = fixture::pre_prepare(View(0), Seq(1), batch.clone());
        recorder.actions(&[Action::Persist(vec![PersistOp::Message(pre_prepare)])]);
        let certificate = fixture::prepared_certificate(View(0), Seq(1), &batch);
        recorder.actions(&[Action::Persist(vec![PersistOp::Prepared {
            certificate,
            batch,
        }])]);
        recorder.actions(&[Action::Persist(vec![decided(1, 3)])]);
        // The same sequence number committed again (a new view): counted once.
        recorder.actions(&[Action::Persist(vec![decided(1, 3), decided(2, 2)])]);
        let metrics = recorder.metrics();
        assert_eq!(metrics.batches_ordered.get(), 2);
        assert_eq!(metrics.requests_ordered.get(), 5);
        let mut registry = prometheus_client::registry::Registry::default();
        metrics.register(&mut registry);
        let text = crate::ops::metrics::encode(&registry);
        assert!(text.contains("\nbatch_requests_count 2\n"), "{text}");
        assert!(text.contains("\nbatch_requests_sum 5.0\n"), "{text}");
        for phase in ["pre_prepared_to_prepared", "prepared_to_committed"] {
            let line = format!("\nphase_seconds_count{{phase=\"{phase}\"}} 1\n");
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert_eq!(recorder.committed, Seq(2));
        let steps = recorder.steps[&Seq(1)];
        assert!(steps.pre_prepared.is_some() && steps.prepared.is_some());
        assert!(steps.committed.is_some());
        assert_eq!(recorder.steps.len(), 2);
        recorder.executed(Seq(2), Instant::now());
        assert!(
            recorder.steps.is_empty(),
            "executed and older slots are let go"
        );
    }
}
