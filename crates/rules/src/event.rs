//! Events flattened for matching: the leaves at the paths some rule reads, with their arrays.
//!
//! Only paths that some rule names are visited; everything else is skipped (for JSON text, still
//! checked for syntax). A key whose length no path allows at its place is passed over without
//! reading its bytes; in a parsed object the remaining keys and string values are first loaded
//! in one pass, so that their cache misses overlap (events streaming through a matcher are
//! rarely in cache, and the walk is otherwise a chain of misses). Each leaf records the arrays it sits in (array id and element index),
//! counting only elements that are objects or arrays, as event-ruler does: fields matched by one
//! sub-rule must come from the same element of every array they share.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use crate::index::{bytes_eq, for_each_word, value_hash};
use crate::json::{Lexer, SyntaxError, Token, line_and_column};
use crate::number::{self, NumberKey};

/// Why an event could not be matched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventError {
    /// The event is not a JSON object.
    NotAnObject,
    /// The event's JSON text is longer than the limit.
    TooLarge { bytes: usize, limit: usize },
    /// Objects and arrays nest deeper than the limit.
    TooDeep { limit: usize },
    /// The JSON text is malformed.
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("the event is not a JSON object"),
            Self::TooLarge { bytes, limit } => write!(
                f,
                "the event is {bytes} bytes, over the limit of {limit} (EventBridge's 256 KB)"
            ),
            Self::TooDeep { limit } => {
                write!(
                    f,
                    "the event nests objects and arrays deeper than {limit} levels"
                )
            }
            Self::Syntax {
                message,
                line,
                column,
            } => write!(
                f,
                "the event is not valid JSON (line {line}, column {column}): {message}"
            ),
        }
    }
}

impl std::error::Error for EventError {}

/// Bounds on an event. EventBridge refuses entries over 256 KB and nesting over 1100 levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024,
            max_depth: 1100,
        }
    }
}

/// A leaf's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Str(Cow<'a, str>),
    /// A number: its text, and its comparable key when it has one.
    Num(Cow<'a, str>, Option<NumberKey>),
    Bool(bool),
    Null,
}

impl Scalar<'_> {
    /// The JSON text of a non-string value (`true`, `null`, a number as written).
    pub(crate) fn literal(&self) -> Option<&str> {
        match self {
            Scalar::Str(_) => None,
            Scalar::Num(t, _) => Some(t),
            Scalar::Bool(true) => Some("true"),
            Scalar::Bool(false) => Some("false"),
            Scalar::Null => Some("null"),
        }
    }
}

/// One leaf: its field, value and arrays (a range of [`Flat::memberships`]).
#[derive(Debug, Clone)]
pub(crate) struct Leaf<'a> {
    pub field: u32,
    pub value: Scalar<'a>,
    /// For a string, its [`value_hash`] (computed once, here, while the walk reads the event).
    pub hash: u64,
    pub membership: (u32, u32),
}

/// The flattened event.
#[derive(Debug)]
pub(crate) struct Flat<'a> {
    /// Sorted by field (stable: document order within a field).
    pub leaves: Vec<Leaf<'a>>,
    /// Where each field's leaves start in `leaves` (one more entry than there are fields).
    starts: Vec<u32>,
    /// `(array id, element index)` lists, referenced by leaves; each list ordered by array id.
    pub memberships: Vec<(u32, u32)>,
    /// The path node of each array id.
    pub arrays: Vec<u32>,
    /// No array was seen and no field has two leaves: every state is reached at most once.
    pub simple: bool,
}

/// Allocations reused from event to event (one set per thread): a flattening's field table,
/// memberships, arrays and element stack, and the machine walk's stacks.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    /// Allocations of [`Flat::leaves`] and of the value walk's work stack (kept empty; see
    /// [`reuse`]).
    leaves: Vec<Leaf<'static>>,
    work: Vec<Work<'static>>,
    starts: Vec<u32>,
    memberships: Vec<(u32, u32)>,
    arrays: Vec<u32>,
    /// For the machine walk: states to visit, targets of one lookup, rules found.
    pub states: Vec<u32>,
    pub targets: Vec<u32>,
    pub found: Vec<u32>,
}

impl<'a> Flat<'a> {
    /// An empty flattening on the buffers' allocations.
    fn new(buffers: &mut Buffers) -> Self {
        let mut memberships = std::mem::take(&mut buffers.memberships);
        memberships.clear();
        let mut arrays = std::mem::take(&mut buffers.arrays);
        arrays.clear();
        Self {
            leaves: reuse(std::mem::take(&mut buffers.leaves)),
            starts: std::mem::take(&mut buffers.starts),
            memberships,
            arrays,
            simple: false,
        }
    }

    /// Gives the allocations back for the next event.
    pub(crate) fn recycle(self, buffers: &mut Buffers) {
        buffers.leaves = reuse(self.leaves);
        buffers.starts = self.starts;
        buffers.memberships = self.memberships;
        buffers.arrays = self.arrays;
    }

    pub(crate) fn membership(&self, leaf: &Leaf<'_>) -> &[(u32, u32)] {
        &self.memberships
            [leaf.membership.0 as usize..(leaf.membership.0 + leaf.membership.1) as usize]
    }

    /// The leaves of `field`.
    pub(crate) fn field(&self, field: u32) -> &[Leaf<'a>] {
        let f = field as usize;
        match (self.starts.get(f), self.starts.get(f + 1)) {
            (Some(&start), Some(&end)) => &self.leaves[start as usize..end as usize],
            _ => &[],
        }
    }

    fn finish(mut self, fields: usize) -> Self {
        // Few leaves, nearly in order: the standard stable sort is an insertion sort here.
        self.leaves.sort_by_key(|l| l.field);
        self.starts.clear();
        self.starts.resize(fields + 1, 0);
        let mut repeated = false;
        let mut at = 0;
        for (field, start) in self.starts.iter_mut().enumerate() {
            *start = at as u32;
            while at < self.leaves.len() && self.leaves[at].field as usize <= field {
                at += 1;
            }
            repeated |= at - *start as usize > 1;
        }
        self.simple = self.arrays.is_empty() && !repeated;
        self
    }
}

/// A vector's allocation, emptied, for elements of another lifetime: the standard library's
/// in-place collect keeps the allocation when the elements' layouts agree, as they do here, so
/// the per-thread buffers can hold vectors whose elements borrow from one event at a time.
fn reuse<T, U>(v: Vec<T>) -> Vec<U> {
    v.into_iter().filter_map(|_| None).collect()
}

/// The field-path trie of a machine: which keys lead to a field some rule reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Paths {
    nodes: Vec<PathNode>,
    /// One more than the largest field id recorded.
    fields: usize,
}

#[derive(Debug, Clone, Default)]
struct PathNode {
    /// Bit `n` is set when some event key `n` bytes long (under 128) can step from here: a
    /// child's key, or a dotted chain of keys down to a deeper node. Other keys are passed over
    /// without reading their bytes, which are usually out of cache.
    lengths: u128,
    /// Some key that can step from here is 128 bytes or longer.
    long: bool,
    children: Vec<Child>,
    /// Open-addressing index of `children` by `hash` (entries are index + 1; 0 is empty), a
    /// power of two at least twice as long as `children`.
    table: Vec<u32>,
    field: Option<u32>,
    parent: u32,
}

impl PathNode {
    /// Whether a key `len` bytes long could step from here.
    fn may_step(&self, len: usize) -> bool {
        match 1u128.checked_shl(len as u32) {
            Some(bit) if len < 128 => self.lengths & bit != 0,
            _ => self.long,
        }
    }

    fn note_length(&mut self, len: usize) {
        if len < 128 {
            self.lengths |= 1 << len;
        } else {
            self.long = true;
        }
    }

    fn slot(&self, h: u64) -> usize {
        let bits = self.table.len().trailing_zeros();
        (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    fn rebuild(&mut self) {
        let size = (self.children.len() * 2).next_power_of_two().max(4);
        self.table = vec![0; size];
        for i in 0..self.children.len() {
            let mut at = self.slot(self.children[i].hash);
            while self.table[at] != 0 {
                at = (at + 1) & (size - 1);
            }
            self.table[at] = i as u32 + 1;
        }
    }

    /// The child named `key`, whose [`key_hash`] is `h`.
    fn get(&self, key: &[u8], h: u64) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let mut at = self.slot(h);
        loop {
            let entry = self.table[at];
            if entry == 0 {
                return None;
            }
            let c = &self.children[entry as usize - 1];
            if c.hash == h && bytes_eq(c.key.as_bytes(), key) {
                return Some(c.node);
            }
            at = (at + 1) & mask;
        }
    }
}

#[derive(Debug, Clone)]
struct Child {
    hash: u64,
    key: Box<str>,
    node: u32,
}

/// A key's hash (its length and its bytes, eight at a time), and whether it contains a dot: one
/// pass over the key for both.
fn key_hash(key: &[u8]) -> (u64, bool) {
    const DOTS: u64 = 0x2e2e_2e2e_2e2e_2e2e;
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut h = key.len() as u64;
    let mut dots = 0u64;
    // Zero padding adds no dots; an overlapping tail repeats bytes, which is harmless.
    for_each_word(key, |w| {
        // A zero byte in `w ^ DOTS` is a dot in `w` (the classic has-zero-byte test).
        let x = w ^ DOTS;
        dots |= x.wrapping_sub(LOW) & !x & HIGH;
        h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    });
    (h, dots != 0)
}

impl Paths {
    pub(crate) fn new() -> Self {
        Self {
            nodes: vec![PathNode::default()],
            fields: 0,
        }
    }

    /// The node of a dot-joined path, added if new; `field` is recorded on it.
    pub(crate) fn insert(&mut self, path: &str, field: u32) -> u32 {
        let mut node = 0u32;
        // The node before each segment, and the segment's length.
        let mut chain: Vec<(u32, usize)> = Vec::new();
        for segment in path.split('.') {
            chain.push((node, segment.len()));
            node = match self.child(node, segment) {
                Some(n) => n,
                None => {
                    let n = self.nodes.len() as u32;
                    self.nodes.push(PathNode {
                        parent: node,
                        ..PathNode::default()
                    });
                    let parent = &mut self.nodes[node as usize];
                    parent.children.push(Child {
                        hash: key_hash(segment.as_bytes()).0,
                        key: segment.into(),
                        node: n,
                    });
                    parent.rebuild();
                    n
                }
            };
        }
        // Segments `i..=j` joined by dots are a key that can step from the node before `i`.
        for (i, &(from, _)) in chain.iter().enumerate() {
            let mut len = 0;
            for (j, &(_, segment)) in chain.iter().enumerate().skip(i) {
                len += segment + usize::from(j > i);
                self.nodes[from as usize].note_length(len);
            }
        }
        self.nodes[node as usize].field = Some(field);
        self.fields = self.fields.max(field as usize + 1);
        node
    }

    /// A node and its ancestors (the root excluded).
    pub(crate) fn ancestors_of(&self, node: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut n = node;
        while n != 0 {
            out.push(n);
            n = self.nodes[n as usize].parent;
        }
        out
    }

    fn child(&self, node: u32, segment: &str) -> Option<u32> {
        let b = segment.as_bytes();
        self.nodes[node as usize].get(b, key_hash(b).0)
    }

    /// The node reached from `node` by an event key (a key may itself contain dots).
    fn step(&self, node: u32, key: &str) -> Option<u32> {
        let (h, dotted) = key_hash(key.as_bytes());
        if !dotted {
            return self.nodes[node as usize].get(key.as_bytes(), h);
        }
        let mut n = node;
        for segment in key.split('.') {
            n = self.child(n, segment)?;
        }
        Some(n)
    }

    fn field_of(&self, node: u32) -> Option<u32> {
        self.nodes[node as usize].field
    }

    /// Whether a key `len` bytes long could step from `node` (without reading the key).
    fn may_step(&self, node: u32, len: usize) -> bool {
        self.nodes[node as usize].may_step(len)
    }

    fn has_children(&self, node: u32) -> bool {
        !self.nodes[node as usize].children.is_empty()
    }
}

struct Builder<'p, 'a> {
    paths: &'p Paths,
    flat: Flat<'a>,
    /// The `(array, element)` pairs enclosing the current position.
    stack: Vec<(u32, u32)>,
    max_depth: usize,
}

impl<'a> Builder<'_, 'a> {
    fn leaf(&mut self, node: u32, value: Scalar<'a>) {
        if let Some(field) = self.paths.field_of(node) {
            let start = self.flat.memberships.len() as u32;
            self.flat.memberships.extend_from_slice(&self.stack);
            let hash = match &value {
                Scalar::Str(s) => value_hash(s.as_bytes()),
                _ => 0,
            };
            self.flat.leaves.push(Leaf {
                field,
                value,
                hash,
                membership: (start, self.stack.len() as u32),
            });
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), EventError> {
        if depth > self.max_depth {
            return Err(EventError::TooDeep {
                limit: self.max_depth,
            });
        }
        Ok(())
    }

    /// The leaf of a parsed scalar (not an object or array).
    fn scalar(&mut self, node: u32, value: &'a Value) {
        match value {
            Value::String(s) => self.leaf(node, Scalar::Str(Cow::Borrowed(s))),
            Value::Number(n) => {
                if self.paths.field_of(node).is_some() {
                    let text = n.to_string();
                    let key = number::comparable(&text);
                    self.leaf(node, Scalar::Num(Cow::Owned(text), key));
                }
            }
            Value::Bool(v) => self.leaf(node, Scalar::Bool(*v)),
            Value::Null => self.leaf(node, Scalar::Null),
            Value::Object(_) | Value::Array(_) => {}
        }
    }

    fn new_array(&mut self, node: u32) -> u32 {
        let id = self.flat.arrays.len() as u32;
        self.flat.arrays.push(node);
        id
    }
}

fn is_composite(v: &Value) -> bool {
    matches!(v, Value::Object(_) | Value::Array(_))
}

/// Work for the value walk, kept on an explicit stack (no recursion on the event's nesting).
#[derive(Debug)]
enum Work<'a> {
    Visit(u32, &'a Value, usize),
    /// Enter element `.1` of array `.0` (an element that is an object or an array).
    EnterElement(u32, u32),
    /// Leave it.
    LeaveElement,
}

/// Flattens a parsed event.
pub(crate) fn flatten_value<'a>(
    paths: &Paths,
    event: &'a Value,
    limits: &EventLimits,
    buffers: &mut Buffers,
) -> Result<Flat<'a>, EventError> {
    if !event.is_object() {
        return Err(EventError::NotAnObject);
    }
    let mut b = Builder {
        paths,
        flat: Flat::new(buffers),
        stack: Vec::new(),
        max_depth: limits.max_depth,
    };
    let mut work: Vec<Work<'a>> = reuse(std::mem::take(&mut buffers.work));
    work.push(Work::Visit(0, event, 0));
    while let Some(item) = work.pop() {
        let (node, value, depth) = match item {
            Work::EnterElement(array, index) => {
                b.stack.push((array, index));
                continue;
            }
            Work::LeaveElement => {
                b.stack.pop();
                continue;
            }
            Work::Visit(node, value, depth) => (node, value, depth),
        };
        b.check_depth(depth)?;
        match value {
            Value::Object(map) => {
                if b.paths.has_children(node) {
                    // The keys' bytes and string values are usually out of cache (events stream
                    // through): first a pass that only loads them, so their misses overlap
                    // instead of coming one after another in the walk below.
                    let mut touched = 0u8;
                    for (k, v) in map {
                        if b.paths.may_step(node, k.len()) {
                            touched ^= k.as_bytes().first().copied().unwrap_or(0);
                            if let Value::String(s) = v {
                                touched ^= s.as_bytes().first().copied().unwrap_or(0);
                            }
                        }
                    }
                    std::hint::black_box(touched);
                    // Forward, in memory order; scalars become leaves at once (leaf order within
                    // a field does not change what matches).
                    for (k, v) in map {
                        if !b.paths.may_step(node, k.len()) {
                            continue;
                        }
                        if let Some(child) = b.paths.step(node, k) {
                            if is_composite(v) {
                                work.push(Work::Visit(child, v, depth + 1));
                            } else {
                                b.check_depth(depth + 1)?;
                                b.scalar(child, v);
                            }
                        }
                    }
                }
            }
            Value::Array(items) => {
                let id = b.new_array(node);
                for (i, item) in items.iter().enumerate() {
                    if is_composite(item) {
                        work.push(Work::LeaveElement);
                        work.push(Work::Visit(node, item, depth + 1));
                        work.push(Work::EnterElement(id, i as u32));
                    } else {
                        b.check_depth(depth + 1)?;
                        b.scalar(node, item);
                    }
                }
            }
            scalar => b.scalar(node, scalar),
        }
    }
    buffers.work = reuse(work);
    Ok(b.flat.finish(paths.fields))
}

/// One open object or array of the text walk.
enum Frame {
    Object {
        node: u32,
        relevant: bool,
        element: bool,
    },
    Array {
        node: u32,
        id: u32,
        next: u32,
        element: bool,
    },
}

struct TextWalker<'p, 'a> {
    b: Builder<'p, 'a>,
    lx: Lexer<'a>,
    frames: Vec<Frame>,
}

impl<'a> TextWalker<'_, 'a> {
    fn syntax(&self, e: SyntaxError) -> EventError {
        if e.message.starts_with("Document nesting depth") {
            return EventError::TooDeep {
                limit: self.b.max_depth,
            };
        }
        let (line, column) = line_and_column(self.lx.source(), e.offset);
        EventError::Syntax {
            message: e.message,
            line,
            column,
        }
    }

    fn next(&mut self) -> Result<Token<'a>, EventError> {
        match self.lx.next_token() {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(EventError::Syntax {
                message: "Unexpected end-of-input".into(),
                line: 0,
                column: 0,
            }),
            Err(e) => Err(self.syntax(e)),
        }
    }

    /// Starts the value whose first token is `first`, at path node `node` (`None`: skip it);
    /// `element`: it is an object or array element of an array (its pair is already pushed).
    fn start(
        &mut self,
        node: Option<u32>,
        first: Token<'a>,
        element: bool,
    ) -> Result<(), EventError> {
        let Some(node) = node else {
            return self.lx.skip_value(&first).map_err(|e| self.syntax(e));
        };
        match first {
            Token::StartObject => self.frames.push(Frame::Object {
                node,
                relevant: self.b.paths.has_children(node),
                element,
            }),
            Token::StartArray => {
                let id = self.b.new_array(node);
                self.frames.push(Frame::Array {
                    node,
                    id,
                    next: 0,
                    element,
                });
            }
            Token::String => {
                let text = self.lx.string_text().map_err(|e| self.syntax(e))?;
                self.b.leaf(node, Scalar::Str(text));
            }
            Token::Number(n) => {
                if self.b.paths.field_of(node).is_some() {
                    self.b
                        .leaf(node, Scalar::Num(Cow::Borrowed(n), number::comparable(n)));
                }
            }
            Token::True => self.b.leaf(node, Scalar::Bool(true)),
            Token::False => self.b.leaf(node, Scalar::Bool(false)),
            Token::Null => self.b.leaf(node, Scalar::Null),
            Token::EndObject | Token::EndArray | Token::FieldName(_) => {
                return Err(EventError::Syntax {
                    message: "unexpected token".into(),
                    line: 0,
                    column: 0,
                });
            }
        }
        Ok(())
    }

    fn walk(&mut self) -> Result<(), EventError> {
        while let Some(frame) = self.frames.last_mut() {
            match frame {
                Frame::Object { node, relevant, .. } => {
                    let (node, relevant) = (*node, *relevant);
                    match self.next()? {
                        Token::EndObject => self.close(),
                        Token::FieldName(k) => {
                            let child = if relevant && self.b.paths.may_step(node, k.len()) {
                                self.b.paths.step(node, &k)
                            } else {
                                None
                            };
                            let v = self.next()?;
                            self.start(child, v, false)?;
                        }
                        _ => {
                            return Err(EventError::Syntax {
                                message: "unexpected token".into(),
                                line: 0,
                                column: 0,
                            });
                        }
                    }
                }
                Frame::Array { node, id, next, .. } => {
                    let (node, id, index) = (*node, *id, *next);
                    *next += 1;
                    let t = self.next()?;
                    if t == Token::EndArray {
                        self.close();
                        continue;
                    }
                    let nested = matches!(t, Token::StartObject | Token::StartArray);
                    if nested {
                        self.b.stack.push((id, index));
                    }
                    self.start(Some(node), t, nested)?;
                }
            }
        }
        Ok(())
    }

    fn close(&mut self) {
        if let Some(Frame::Object { element: true, .. } | Frame::Array { element: true, .. }) =
            self.frames.pop()
        {
            self.b.stack.pop();
        }
    }
}

/// Flattens an event given as JSON text.
pub(crate) fn flatten_text<'a>(
    paths: &Paths,
    text: &'a str,
    limits: &EventLimits,
    buffers: &mut Buffers,
) -> Result<Flat<'a>, EventError> {
    if text.len() > limits.max_bytes {
        return Err(EventError::TooLarge {
            bytes: text.len(),
            limit: limits.max_bytes,
        });
    }
    let mut w = TextWalker {
        b: Builder {
            paths,
            flat: Flat::new(buffers),
            stack: Vec::new(),
            max_depth: limits.max_depth,
        },
        lx: Lexer::new(text, limits.max_depth),
        frames: Vec::new(),
    };
    let first = w.next()?;
    if first != Token::StartObject {
        return Err(EventError::NotAnObject);
    }
    w.start(Some(0), first, false)?;
    w.walk()?;
    match w.lx.next_token() {
        Ok(None) => Ok(w.b.flat.finish(paths.fields)),
        Ok(Some(_)) => {
            let (line, column) = line_and_column(text, w.lx.location());
            Err(EventError::Syntax {
                message: "content after the event's closing brace".into(),
                line,
                column,
            })
        }
        Err(e) => Err(w.syntax(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_finds_a_dot_anywhere_and_only_a_dot() {
        for len in 1..24 {
            let plain = "k".repeat(len);
            assert!(!key_hash(plain.as_bytes()).1, "{plain}");
            // Bytes next to '.' (0x2e) must not count as dots.
            let near = "-/".repeat(len);
            assert!(!key_hash(&near.as_bytes()[..len]).1, "{near}");
            for at in 0..len {
                let mut k = plain.clone().into_bytes();
                k[at] = b'.';
                assert!(key_hash(&k).1, "dot at {at} of {len}");
            }
        }
        assert_eq!(key_hash(b"eventName").0, key_hash(b"eventName").0);
        assert_ne!(key_hash(b"eventName").0, key_hash(b"eventNamf").0);
    }

    #[test]
    fn paths_step_through_dotted_keys() {
        let mut paths = Paths::new();
        let node = paths.insert("detail.userIdentity.type", 0);
        let detail = paths.step(0, "detail").unwrap();
        assert_eq!(paths.step(detail, "userIdentity.type"), Some(node));
        assert_eq!(paths.step(0, "detail.userIdentity.type"), Some(node));
        assert_eq!(paths.step(0, "detail.userIdentity.arn"), None);
        assert_eq!(paths.step(0, "detail."), None);
    }

    #[test]
    fn key_lengths_admit_every_key_that_steps() {
        let mut paths = Paths::new();
        paths.insert("detail.userIdentity.type", 0);
        paths.insert("source", 1);
        let long = "k".repeat(130);
        paths.insert(&format!("detail.{long}"), 2);
        let detail = paths.step(0, "detail").unwrap();
        for (node, key) in [
            (0, "detail"),
            (0, "source"),
            (0, "detail.userIdentity"),
            (0, "detail.userIdentity.type"),
            (detail, "userIdentity"),
            (detail, "userIdentity.type"),
            (detail, long.as_str()),
        ] {
            assert!(paths.step(node, key).is_some(), "{key}");
            assert!(paths.may_step(node, key.len()), "{key}");
        }
        // Lengths no key from there has: passed over unread.
        assert!(!paths.may_step(0, "region".len() + 1));
        assert!(!paths.may_step(detail, "eventName".len()));
        // Any long key may step where a long chain starts (it is then read and looked up).
        assert!(paths.may_step(0, 200) && paths.may_step(detail, 200));
        let mut short = Paths::new();
        short.insert("source", 0);
        assert!(!short.may_step(0, 200) && !short.may_step(0, 127));
    }
}
