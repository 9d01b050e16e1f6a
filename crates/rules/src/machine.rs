//! The matcher: every sub-rule of every rule compiled into one state machine over sorted field
//! paths, after event-ruler's design.
//!
//! A sub-rule is a sequence of field conditions sorted by path. The machine is the trie of those
//! sequences: a state's outgoing transitions are keyed by field, and each field's
//! [`ValueIndex`] maps a value to the next states; sub-rules that share their first conditions
//! share states, so a condition common to many rules is tested once. Matching an event walks the
//! trie from the start state, looking up only the event's leaves at the fields a state names.
//! The cost grows with the event (and with the matches), not with the number of rules.
//!
//! Arrays: a walk carries the array elements its chosen leaves came from; a leaf from another
//! element of an array already used is not consistent and is not taken (and `exists: false`
//! only sees consistent leaves), as in event-ruler's `rulesForJSONEvent`. The carried context is
//! cut down, at each state, to the arrays that a field still ahead could sit in, and a state is
//! walked once per distinct context, so sibling arrays never multiply each other's work.

use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use serde_json::Value;

use crate::event::{Buffers, EventError, EventLimits, Flat, Paths, flatten_text, flatten_value};
use crate::event::{Leaf, Scalar};
use crate::index::{EqTable, FastHasher, FastMap, StateId, ValueIndex};
use crate::pattern::{Matcher, Pattern};

#[derive(Debug, Clone, Default)]
struct Transition {
    field: u32,
    /// The transition's number in the machine's [`EqTable`].
    id: u32,
    /// Whether some exact string pattern continues here (in the [`EqTable`]).
    strings: bool,
    /// Every other pattern, if any.
    values: Option<Box<ValueIndex>>,
    absent: Vec<StateId>,
}

/// A state while the machine is built.
#[derive(Debug, Clone, Default)]
struct Draft {
    transitions: Vec<Transition>,
    /// Rules (by index) whose sub-rule ends here.
    terminals: Vec<u32>,
    /// Path nodes that fields ahead of this state sit under (sorted): the arrays that matter.
    ahead: Vec<u32>,
}

/// A state of the built machine: ranges of the machine's arrays, 16 bytes, so that following a
/// chain of states costs as few cache misses as can be (a large machine is rarely in cache).
#[derive(Debug, Clone, Copy, Default)]
struct State {
    /// Its transitions, in [`Machine::transitions`].
    transitions: (u32, u32),
    /// Rules (by index) whose sub-rule ends here, in [`Machine::terminals`].
    terminals: (u32, u32),
}

/// Collects rules, then builds the [`Machine`].
#[derive(Debug, Clone)]
pub struct MachineBuilder<T> {
    rules: Vec<(T, Pattern)>,
    limits: EventLimits,
}

impl<T> Default for MachineBuilder<T> {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            limits: EventLimits::default(),
        }
    }
}

impl<T> MachineBuilder<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule: `name` is what [`Machine::matches_value`] returns when it matches.
    pub fn add(&mut self, name: T, pattern: &Pattern) -> &mut Self {
        self.rules.push((name, pattern.clone()));
        self
    }

    /// Bounds for the events this machine will read (default: EventBridge's).
    pub fn event_limits(&mut self, limits: EventLimits) -> &mut Self {
        self.limits = limits;
        self
    }

    pub fn build(self) -> Machine<T> {
        Machine::build(self.rules, self.limits)
    }
}

/// Compiled rules, matched against events all at once. Immutable and `Sync`: share it between
/// threads; to change the rules, build a new one.
#[derive(Debug, Clone)]
pub struct Machine<T> {
    names: Vec<T>,
    states: Vec<State>,
    transitions: Vec<Transition>,
    terminals: Vec<u32>,
    /// Each state's path nodes that fields ahead of it sit under (sorted): the arrays that
    /// matter (read only for events with arrays).
    ahead: Vec<Box<[u32]>>,
    strings: EqTable,
    paths: Paths,
    limits: EventLimits,
}

type Key = (u32, Vec<(u32, u32)>);

impl<T> Machine<T> {
    fn build(rules: Vec<(T, Pattern)>, limits: EventLimits) -> Self {
        let mut paths = Paths::new();
        let mut field_ids: FastMap<String, u32> = FastMap::default();
        let mut field_nodes = Vec::new();
        let mut states = vec![Draft::default()];
        // Children of a state, keyed by (field, canonical alternatives).
        let mut children: FastMap<(StateId, u32, String), StateId> = FastMap::default();
        let mut names = Vec::with_capacity(rules.len());
        // Exact strings of every transition, and each transition's string targets.
        let mut strings: FastMap<(u32, Box<str>), Vec<StateId>> = FastMap::default();
        let mut string_targets: Vec<Vec<StateId>> = Vec::new();
        for (rule_index, (name, pattern)) in rules.into_iter().enumerate() {
            names.push(name);
            for sub in &pattern.sub_rules {
                let mut state: StateId = 0;
                for (path, alternatives) in &sub.fields {
                    let field = *field_ids.entry(path.clone()).or_insert_with(|| {
                        let id = field_nodes.len() as u32;
                        field_nodes.push(paths.insert(path, id));
                        id
                    });
                    let key = (state, field, canonical(alternatives));
                    let next = match children.get(&key) {
                        Some(&n) => n,
                        None => {
                            let n = states.len() as StateId;
                            states.push(Draft::default());
                            let from = &mut states[state as usize];
                            let i = match from.transitions.iter().position(|t| t.field == field) {
                                Some(i) => i,
                                None => {
                                    from.transitions.push(Transition {
                                        field,
                                        id: string_targets.len() as u32,
                                        ..Transition::default()
                                    });
                                    string_targets.push(Vec::new());
                                    from.transitions.len() - 1
                                }
                            };
                            let t = &mut from.transitions[i];
                            for m in alternatives {
                                match m {
                                    Matcher::Absent => {
                                        if !t.absent.contains(&n) {
                                            t.absent.push(n);
                                        }
                                    }
                                    Matcher::Exact(text) => {
                                        t.strings = true;
                                        let list = strings
                                            .entry((t.id, text.as_str().into()))
                                            .or_default();
                                        if !list.contains(&n) {
                                            list.push(n);
                                            string_targets[t.id as usize].push(n);
                                        }
                                    }
                                    _ => t.values.get_or_insert_with(Box::default).insert(m, n),
                                }
                            }
                            children.insert(key, n);
                            n
                        }
                    };
                    state = next;
                }
                let terminals = &mut states[state as usize].terminals;
                if !terminals.contains(&(rule_index as u32)) {
                    terminals.push(rule_index as u32);
                }
            }
        }
        // Children are always created after their parent, so a reverse sweep sees every child's
        // `ahead` set before its parent's.
        for s in (0..states.len()).rev() {
            let mut ahead: Vec<u32> = Vec::new();
            for t in &states[s].transitions {
                ahead.extend(paths.ancestors_of(field_nodes[t.field as usize]));
            }
            let targets: Vec<StateId> = states[s]
                .transitions
                .iter()
                .flat_map(|t| {
                    let others = t.values.as_ref().map(|v| v.targets()).unwrap_or_default();
                    t.absent
                        .iter()
                        .copied()
                        .chain(string_targets[t.id as usize].iter().copied())
                        .chain(others)
                })
                .collect();
            for target in targets {
                ahead.extend_from_slice(&states[target as usize].ahead);
            }
            ahead.sort_unstable();
            ahead.dedup();
            let state = &mut states[s];
            state.ahead = ahead;
            for t in &mut state.transitions {
                if let Some(v) = &mut t.values {
                    v.build();
                }
            }
        }
        let mut compact = Self {
            names,
            states: Vec::with_capacity(states.len()),
            transitions: Vec::new(),
            terminals: Vec::new(),
            ahead: Vec::with_capacity(states.len()),
            strings: EqTable::build(&strings),
            paths,
            limits,
        };
        for d in states {
            let range = |at: usize, len: usize| (at as u32, len as u32);
            compact.states.push(State {
                transitions: range(compact.transitions.len(), d.transitions.len()),
                terminals: range(compact.terminals.len(), d.terminals.len()),
            });
            compact.transitions.extend(d.transitions);
            compact.terminals.extend(d.terminals);
            compact.ahead.push(d.ahead.into_boxed_slice());
        }
        compact
    }

    fn transitions_of(&self, state: State) -> &[Transition] {
        let (at, len) = state.transitions;
        self.transitions
            .get(at as usize..(at + len) as usize)
            .unwrap_or_default()
    }

    fn terminals_of(&self, state: State) -> &[u32] {
        let (at, len) = state.terminals;
        self.terminals
            .get(at as usize..(at + len) as usize)
            .unwrap_or_default()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Number of states (a measure of the machine's size).
    pub fn state_count(&self) -> usize {
        self.states.len()
    }

    /// The rules an event matches, in the order they were added.
    pub fn matches_value(&self, event: &Value) -> Result<Vec<&T>, EventError> {
        with_buffers(|buffers| {
            let flat = flatten_value(&self.paths, event, &self.limits, buffers)?;
            Ok(self.names_of(flat, buffers))
        })
    }

    /// The rules an event given as JSON text matches, in the order they were added.
    pub fn matches_json(&self, event: &str) -> Result<Vec<&T>, EventError> {
        with_buffers(|buffers| {
            let flat = flatten_text(&self.paths, event, &self.limits, buffers)?;
            Ok(self.names_of(flat, buffers))
        })
    }

    /// Indices (in the order of [`MachineBuilder::add`]) of the rules the event matches.
    pub fn matching_indices(&self, event: &Value) -> Result<Vec<usize>, EventError> {
        with_buffers(|buffers| {
            let flat = flatten_value(&self.paths, event, &self.limits, buffers)?;
            self.run(&flat, buffers);
            flat.recycle(buffers);
            Ok(buffers.found.iter().map(|&i| i as usize).collect())
        })
    }

    /// Runs the machine over a flattened event and names the rules found.
    fn names_of(&self, flat: Flat<'_>, buffers: &mut Buffers) -> Vec<&T> {
        self.run(&flat, buffers);
        flat.recycle(buffers);
        buffers
            .found
            .iter()
            .filter_map(|&i| self.names.get(i as usize))
            .collect()
    }

    /// Leaves the rules the event matches in `buffers.found`, sorted.
    fn run(&self, flat: &Flat<'_>, buffers: &mut Buffers) {
        let Buffers {
            states: stack,
            targets: scratch,
            found,
            ..
        } = buffers;
        found.clear();
        if flat.simple {
            // No arrays and one leaf per field: a trie state is reached at most once.
            stack.clear();
            stack.push(0);
            while let Some(s) = stack.pop() {
                let state = self.states[s as usize];
                found.extend_from_slice(self.terminals_of(state));
                for t in self.transitions_of(state) {
                    let leaves = flat.field(t.field);
                    match leaves.first() {
                        None => stack.extend_from_slice(&t.absent),
                        Some(leaf) => {
                            scratch.clear();
                            self.lookup(t, leaf, scratch);
                            scratch.sort_unstable();
                            scratch.dedup();
                            stack.extend_from_slice(scratch);
                        }
                    }
                }
            }
        } else {
            let mut seen: HashSet<Key, BuildHasherDefault<FastHasher>> = HashSet::default();
            let mut stack: Vec<Key> = vec![(0, Vec::new())];
            while let Some((s, context)) = stack.pop() {
                if !seen.insert((s, context.clone())) {
                    continue;
                }
                let state = self.states[s as usize];
                found.extend_from_slice(self.terminals_of(state));
                for t in self.transitions_of(state) {
                    let leaves = flat.field(t.field);
                    if !t.absent.is_empty()
                        && !leaves
                            .iter()
                            .any(|l| merge(&context, flat.membership(l)).is_some())
                    {
                        for &n in &t.absent {
                            stack.push((n, self.project(n, &context, flat)));
                        }
                    }
                    for leaf in leaves {
                        let Some(merged) = merge(&context, flat.membership(leaf)) else {
                            continue;
                        };
                        scratch.clear();
                        self.lookup(t, leaf, scratch);
                        scratch.sort_unstable();
                        scratch.dedup();
                        for &n in scratch.iter() {
                            stack.push((n, self.project(n, &merged, flat)));
                        }
                    }
                }
            }
        }
        found.sort_unstable();
        found.dedup();
    }

    /// Appends the states that `leaf` leads to through `t` (possibly with repeats).
    fn lookup(&self, t: &Transition, leaf: &Leaf<'_>, out: &mut Vec<StateId>) {
        if t.strings
            && let Scalar::Str(s) = &leaf.value
        {
            self.strings.lookup(t.id, leaf.hash, s.as_bytes(), out);
        }
        if let Some(values) = &t.values {
            values.lookup(&leaf.value, out);
        }
    }

    /// The part of a context that can still matter at state `n`.
    fn project(&self, n: StateId, context: &[(u32, u32)], flat: &Flat<'_>) -> Vec<(u32, u32)> {
        let ahead = &self.ahead[n as usize];
        context
            .iter()
            .copied()
            .filter(|(array, _)| {
                flat.arrays
                    .get(*array as usize)
                    .is_some_and(|node| ahead.binary_search(node).is_ok())
            })
            .collect()
    }
}

thread_local! {
    /// Each thread's allocations for matching, reused from event to event.
    static BUFFERS: RefCell<Buffers> = RefCell::default();
}

/// Runs `f` with this thread's buffers (fresh ones if they are somehow in use already).
fn with_buffers<R>(f: impl FnOnce(&mut Buffers) -> R) -> R {
    BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => f(&mut buffers),
        Err(_) => f(&mut Buffers::default()),
    })
}

/// Merges a leaf's arrays into a context; `None` when they disagree on an array's element.
fn merge(context: &[(u32, u32)], membership: &[(u32, u32)]) -> Option<Vec<(u32, u32)>> {
    let mut out = Vec::with_capacity(context.len() + membership.len());
    let (mut i, mut j) = (0, 0);
    while i < context.len() && j < membership.len() {
        let (a, b) = (context[i], membership[j]);
        match a.0.cmp(&b.0) {
            std::cmp::Ordering::Less => {
                out.push(a);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if a.1 != b.1 {
                    return None;
                }
                out.push(a);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&context[i..]);
    out.extend_from_slice(&membership[j..]);
    Some(out)
}

/// A key identifying a set of alternatives, so equal conditions share a state.
fn canonical(alternatives: &[Matcher]) -> String {
    let mut parts: Vec<String> = alternatives.iter().map(|m| format!("{m:?}")).collect();
    parts.sort_unstable();
    parts.dedup();
    parts.join("\u{1}")
}

/// The baseline a [`Machine`] is measured and checked against: every rule compiled on its own
/// and tried in turn. Its cost grows with the number of rules.
#[derive(Debug, Clone)]
pub struct RuleByRule {
    machines: Vec<Machine<()>>,
}

impl RuleByRule {
    pub fn new<'p>(patterns: impl IntoIterator<Item = &'p Pattern>) -> Self {
        let machines = patterns
            .into_iter()
            .map(|p| {
                let mut b = MachineBuilder::new();
                b.add((), p);
                b.build()
            })
            .collect();
        Self { machines }
    }

    /// Indices of the rules the event matches.
    pub fn matches_value(&self, event: &Value) -> Result<Vec<usize>, EventError> {
        let mut out = Vec::new();
        for (i, m) in self.machines.iter().enumerate() {
            if !m.matches_value(event)?.is_empty() {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// As [`RuleByRule::matches_value`], for JSON text.
    pub fn matches_json(&self, event: &str) -> Result<Vec<usize>, EventError> {
        let mut out = Vec::new();
        for (i, m) in self.machines.iter().enumerate() {
            if !m.matches_json(event)?.is_empty() {
                out.push(i);
            }
        }
        Ok(out)
    }
}

impl Pattern {
    /// Whether one event matches this pattern (EventBridge's `TestEventPattern`).
    pub fn matches_value(&self, event: &Value) -> Result<bool, EventError> {
        let mut b = MachineBuilder::new();
        b.add((), self);
        Ok(!b.build().matches_value(event)?.is_empty())
    }

    /// As [`Pattern::matches_value`], for an event given as JSON text.
    pub fn matches_json(&self, event: &str) -> Result<bool, EventError> {
        let mut b = MachineBuilder::new();
        b.add((), self);
        Ok(!b.build().matches_json(event)?.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(patterns: &[&str]) -> Machine<usize> {
        let mut b = MachineBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            b.add(i, &Pattern::compile(p).unwrap());
        }
        b.build()
    }

    #[test]
    fn shared_conditions_share_states() {
        let m = machine(&[
            r#"{"source":["aws.cloudtrail"],"detail":{"eventName":["StopLogging"]}}"#,
            r#"{"source":["aws.cloudtrail"],"detail":{"eventName":["DeleteTrail"]}}"#,
        ]);
        // start, detail.eventName -> 2 states, then source -> 2 states (sources differ in path)
        assert_eq!(m.state_count(), 5);
        let e: Value = serde_json::from_str(
            r#"{"source":"aws.cloudtrail","detail":{"eventName":"DeleteTrail"}}"#,
        )
        .unwrap();
        assert_eq!(m.matches_value(&e).unwrap(), vec![&1]);
    }

    #[test]
    fn array_elements_must_agree() {
        let m = machine(&[
            r#"{"employees":{"firstName":["Anna"],"lastName":["Jones"]}}"#,
            r#"{"employees":{"firstName":["Anna"],"lastName":["Smith"]}}"#,
        ]);
        let e = r#"{"employees":[[{"firstName":"John","lastName":"Doe"},{"firstName":"Anna","lastName":"Smith"}],[{"firstName":"Peter","lastName":"Jones"}]]}"#;
        assert_eq!(m.matches_json(e).unwrap(), vec![&1]);
    }

    #[test]
    fn merge_refuses_disagreeing_elements() {
        assert_eq!(
            merge(&[(0, 1)], &[(0, 1), (2, 0)]),
            Some(vec![(0, 1), (2, 0)])
        );
        assert_eq!(merge(&[(0, 1)], &[(0, 2)]), None);
    }
}
