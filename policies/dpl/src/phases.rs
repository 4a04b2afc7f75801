//! Phases of a task for the subgoal head's maps ([`crate::ModelConfig::goal_phases`]).
//!
//! A half fold says "reaching for the corner", "holding the towel" and
//! "releasing" two or three times, each time for another corner. A map per
//! label averages those targets; a map per *phase*, the label's place in the
//! task's usual sequence of labels, keeps them apart. Training reads each
//! step's phase from the demonstrated labels; a running policy follows the
//! same sequence with its own predicted label ([`PhaseTracker`]), moving only
//! forwards, so a label that flickers back for a tick does not undo a phase.

/// How far ahead of the current phase a label may move the tracker: one
/// phase the label prediction skipped (a short one) is tolerated, a jump
/// across the task is not.
const LOOKAHEAD: usize = 2;

/// The labels of `labels` with consecutive repeats collapsed: the phases one
/// episode went through.
pub fn label_runs(labels: &[usize]) -> Vec<usize> {
    let mut runs: Vec<usize> = Vec::new();
    for &l in labels {
        if runs.last() != Some(&l) {
            runs.push(l);
        }
    }
    runs
}

/// The task's phase sequence: the most common of the episodes' label runs
/// (ties: the longer, then the first seen). Empty for no episodes.
pub fn usual_sequence(runs: &[Vec<usize>]) -> Vec<usize> {
    let mut best: Option<(usize, &Vec<usize>)> = None;
    for r in runs {
        let n = runs.iter().filter(|o| *o == r).count();
        if best.is_none_or(|(bn, br)| (n, r.len()) > (bn, br.len())) {
            best = Some((n, r));
        }
    }
    best.map(|(_, r)| r.clone()).unwrap_or_default()
}

/// Where a run of labels stands in a task's phase sequence. Starts at the
/// first phase; [`PhaseTracker::observe`] moves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTracker {
    phase: usize,
    /// The task (taught instruction) the phase belongs to.
    task: Option<usize>,
}

impl PhaseTracker {
    /// The current phase's index in the sequence.
    pub fn phase(&self) -> usize {
        self.phase
    }

    /// Back to the first phase (a new episode).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Takes this step's task, with its phase sequence `phases`, and active
    /// label. Another task than last step's starts at its first phase. When
    /// the label is not the current phase's, the tracker moves to the nearest
    /// of the next [`LOOKAHEAD`] phases that has it; otherwise (an earlier
    /// phase's label, or one the sequence lacks) it stays. Returns the phase.
    pub fn observe(&mut self, task: usize, phases: &[usize], label: usize) -> usize {
        if self.task != Some(task) {
            *self = Self { phase: 0, task: Some(task) };
        }
        if phases.get(self.phase) != Some(&label) {
            let ahead = (self.phase + 1..phases.len()).take(LOOKAHEAD);
            if let Some(j) = ahead.into_iter().find(|&j| phases[j] == label) {
                self.phase = j;
            }
        }
        self.phase
    }
}

/// Each step's phase in `phases` for a demonstrated run of `labels`, as a
/// running policy would follow it.
pub fn step_phases(labels: &[usize], phases: &[usize]) -> Vec<usize> {
    let mut tracker = PhaseTracker::default();
    labels.iter().map(|&l| tracker.observe(0, phases, l)).collect()
}

/// Weights `(P)` over the phase maps of one instruction at phase `at` from
/// label weights `probs` (V): the current phase's and the next one's, each
/// weighted by its label's probability and normalised, so the subgoal moves
/// on as the predicted label does; only the current phase when neither
/// label has any weight.
pub fn phase_weights(phases: &[usize], at: usize, probs: &[f32], maps: usize) -> Vec<f32> {
    let mut w = vec![0f32; maps];
    if maps == 0 {
        return w;
    }
    let mut sum = 0.0;
    for j in [at, at + 1] {
        if let (Some(&l), true) = (phases.get(j), j < maps) {
            let p = probs.get(l).copied().unwrap_or(0.0).max(0.0);
            w[j] = p;
            sum += p;
        }
    }
    if sum > 1e-6 {
        w.iter_mut().for_each(|x| *x /= sum);
    } else {
        w.iter_mut().for_each(|x| *x = 0.0);
        w[at.min(maps - 1)] = 1.0;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_collapse_repeats_and_the_usual_sequence_wins() {
        assert_eq!(label_runs(&[0, 0, 1, 1, 2, 1, 1, 3]), [0, 1, 2, 1, 3]);
        assert!(label_runs(&[]).is_empty());
        let a = vec![0, 1, 2, 1, 2];
        let b = vec![0, 1, 2];
        assert_eq!(usual_sequence(&[b.clone(), a.clone(), a.clone()]), a);
        // A tie goes to the longer sequence.
        assert_eq!(usual_sequence(&[b.clone(), a.clone()]), a);
        assert!(usual_sequence(&[]).is_empty());
    }

    #[test]
    fn a_repeated_label_is_a_new_phase_each_time() {
        // reach edge, hold, release, reach corner, hold, release, reach corner, hold, release
        let phases = [0, 1, 2, 3, 1, 2, 3, 1, 2];
        let labels = [0, 0, 1, 1, 2, 3, 3, 1, 2, 2, 3, 1, 1, 2];
        assert_eq!(step_phases(&labels, &phases), [0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8]);
    }

    #[test]
    fn the_tracker_only_moves_forwards_and_not_far() {
        let phases = [0, 1, 2, 3, 1, 2];
        let mut t = PhaseTracker::default();
        assert_eq!(t.observe(0, &phases, 1), 1);
        assert_eq!(t.observe(0, &phases, 0), 1, "an earlier label does not go back");
        assert_eq!(t.observe(0, &phases, 3), 3, "one skipped phase is tolerated");
        assert_eq!(t.observe(0, &phases, 7), 3, "a label the sequence lacks changes nothing");
        assert_eq!(t.observe(0, &phases, 1), 4);
        assert_eq!(t.observe(0, &phases, 3), 4, "phase 3 is behind");
        t.reset();
        assert_eq!(t.phase(), 0);
        // Three phases ahead is beyond the lookahead.
        assert_eq!(t.observe(0, &phases, 3), 0);
        assert_eq!(t.observe(0, &phases, 1), 1);
        assert_eq!(t.observe(1, &phases, 0), 0, "another task starts at its first phase");
    }

    #[test]
    fn weights_follow_the_next_label_and_fall_back_to_the_current_phase() {
        let phases = [0, 1, 2];
        let w = phase_weights(&phases, 1, &[0.1, 0.6, 0.2, 0.1], 4);
        let expect = [0.0, 0.75, 0.25, 0.0];
        assert!(w.iter().zip(expect).all(|(a, b)| (a - b).abs() < 1e-6), "{w:?}");
        // The last phase has no next one.
        assert_eq!(phase_weights(&phases, 2, &[0.5, 0.3, 0.2, 0.0], 4), [0.0, 0.0, 1.0, 0.0]);
        // Neither label predicted at all: the current phase alone.
        assert_eq!(phase_weights(&phases, 0, &[0.0, 0.0, 0.0, 1.0], 4), [1.0, 0.0, 0.0, 0.0]);
    }
}
