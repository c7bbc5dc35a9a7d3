//! The flow interpreter: one [`FlowRun`] per call in the IVR, driven by
//! the caller's digits, the media layer's "prompt finished", the HTTP
//! client's answers and timers, and emitting [`FlowCommand`]s.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::flow::command::{FlowCommand, FlowEvent, FlowEventKind, HttpFailure, RequestId};
use crate::flow::load::{is_dtmf, MAX_NAME};
use crate::flow::model::{Flow, NodeIndex, NodeKind};
use crate::ids::{Priority, PromptId};
use crate::interaction::CallAttributes;

/// The most attributes one lookup result sets.
const MAX_LOOKUP_ATTRIBUTES: usize = 64;
/// Longer lookup values are cut (at a character boundary).
const MAX_VALUE_BYTES: usize = 1024;
/// Events kept for [`FlowRun::poll_event`]; older ones are dropped when
/// nobody drains them (a caller who loops in menus for hours).
const MAX_PENDING_EVENTS: usize = 256;

/// Where a run stands. Every state but `Finished` has a deadline, so a
/// run never waits forever for a report that was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RunState {
    /// A `play` node's prompts are playing.
    Playing {
        node: NodeIndex,
        id: RequestId,
        until: Instant,
    },
    /// A menu's or collection's prompts are playing (attempt 0 first).
    Prompting {
        node: NodeIndex,
        attempt: u32,
        id: RequestId,
        until: Instant,
    },
    /// Waiting for keys (a collection keeps the digits so far).
    Listening {
        node: NodeIndex,
        attempt: u32,
        digits: String,
        until: Instant,
    },
    /// The invalid-input or no-input message, before attempt `attempt`.
    Notice {
        node: NodeIndex,
        attempt: u32,
        id: RequestId,
        until: Instant,
    },
    /// Waiting for the answer of an HTTP lookup.
    LookingUp {
        node: NodeIndex,
        id: RequestId,
        until: Instant,
    },
    /// The call left the flow (a final command, or the caller hung up).
    Finished,
}

impl RunState {
    fn until(&self) -> Option<Instant> {
        match self {
            RunState::Playing { until, .. }
            | RunState::Prompting { until, .. }
            | RunState::Listening { until, .. }
            | RunState::Notice { until, .. }
            | RunState::LookingUp { until, .. } => Some(*until),
            RunState::Finished => None,
        }
    }

    fn node(&self) -> Option<NodeIndex> {
        match self {
            RunState::Playing { node, .. }
            | RunState::Prompting { node, .. }
            | RunState::Listening { node, .. }
            | RunState::Notice { node, .. }
            | RunState::LookingUp { node, .. } => Some(*node),
            RunState::Finished => None,
        }
    }
}

/// One call's way through a [`Flow`] (sans-IO).
///
/// Start it with [`FlowRun::start`]; feed it the call's events with
/// `handle_*` (each takes `now`; an earlier `now` than before counts as
/// the latest seen); after each, drain [`FlowRun::poll_command`] until
/// `None` and carry the commands out in order, then call
/// [`FlowRun::handle_timeout`] at [`FlowRun::poll_timeout`]. A final
/// command ([`FlowCommand::is_final`]) ends the run; inputs after that
/// are ignored.
///
/// Wall clock: schedules are judged at the wall-clock time given to
/// `start` plus the `Instant`s elapsed since (a run lasts minutes; the
/// crate owns no clock).
///
/// Digits: a digit during a prompt that allows barge-in stops it
/// ([`FlowCommand::StopPrompts`]) and counts as input; a digit at any
/// other time (a prompt without barge-in, a lookup) is dropped.
///
/// ```no_run
/// use std::collections::BTreeMap;
/// use std::path::Path;
/// use std::time::{Instant, SystemTime};
/// use acd::{FlowCatalog, FlowCommand, FlowId, FlowRun, FlowSet, TenantId};
///
/// # fn engine() -> acd::Engine { unimplemented!() }
/// # fn next_digit(_deadline: Option<Instant>) -> Option<char> { None }
/// let tenant = TenantId::new(1);
/// let (flows, errors) = FlowSet::load_dir(&FlowCatalog::new(tenant), Path::new("flows"));
/// for error in &errors {
///     eprintln!("{error}"); // "main.toml: node `menu`: the menu has no options"
/// }
/// let flow = flows.get(FlowId::new(tenant, 1)).cloned().ok_or("no flow 1")?;
/// let caller = BTreeMap::from([("caller".to_owned(), "+12065550100".to_owned())]);
/// let mut run = FlowRun::start(Instant::now(), SystemTime::now(), flow, caller);
/// let mut engine = engine();
/// while !run.is_finished() {
///     while let Some(command) = run.poll_command() {
///         match command {
///             FlowCommand::Enqueue { queue, priority, attributes } => {
///                 let now = Instant::now();
///                 engine.handle_call_arrived(now, queue.tenant(), queue, attributes, priority)?;
///             }
///             // Play; when done: run.handle_prompt_finished(Instant::now(), id).
///             FlowCommand::PlayPrompts { id, .. } => { let _ = id; }
///             _ => { /* carry out */ }
///         }
///     }
///     match next_digit(run.poll_timeout()) {
///         Some(digit) => run.handle_digit(Instant::now(), digit),
///         None => run.handle_timeout(Instant::now()),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FlowRun {
    flow: Arc<Flow>,
    state: RunState,
    attributes: BTreeMap<String, String>,
    commands: VecDeque<FlowCommand>,
    events: VecDeque<FlowEvent>,
    started: Instant,
    started_wall: SystemTime,
    clock: Instant,
    requests: u64,
}

impl FlowRun {
    /// Starts `flow` for a call at `now` (`wall`: the wall-clock time at
    /// `now`) with the attributes the call layer knows (e.g. `caller`,
    /// `called`). Commands are ready to poll.
    pub fn start(
        now: Instant,
        wall: SystemTime,
        flow: Arc<Flow>,
        attributes: BTreeMap<String, String>,
    ) -> Self {
        let entry = flow.entry;
        let mut run = Self {
            flow,
            state: RunState::Finished,
            attributes,
            commands: VecDeque::new(),
            events: VecDeque::new(),
            started: now,
            started_wall: wall,
            clock: now,
            requests: 0,
        };
        run.go(now, entry);
        run
    }

    // ----- outputs and queries -----

    /// The next command to carry out.
    pub fn poll_command(&mut self) -> Option<FlowCommand> {
        self.commands.pop_front()
    }

    /// The next entry for the event log: nodes entered, input missing or
    /// invalid, lookups, the end of the run. At most the latest 256 are
    /// kept between drains.
    pub fn poll_event(&mut self) -> Option<FlowEvent> {
        self.events.pop_front()
    }

    /// When [`FlowRun::handle_timeout`] is due; `None` once finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.state.until()
    }

    /// Whether the call left the flow.
    pub fn is_finished(&self) -> bool {
        self.state == RunState::Finished
    }

    /// The node the run waits in; `None` once finished.
    pub fn current_node(&self) -> Option<&str> {
        let node = self.state.node()?;
        self.flow.nodes.get(node).map(|n| n.id.as_str())
    }

    /// The call's attributes so far.
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attributes
    }

    /// The flow (the version this run started with).
    pub fn flow(&self) -> &Arc<Flow> {
        &self.flow
    }

    // ----- inputs -----

    /// The caller pressed `digit` (`0`-`9`, `*`, `#`; anything else is
    /// ignored).
    pub fn handle_digit(&mut self, now: Instant, digit: char) {
        let now = self.tick(now);
        if !is_dtmf(digit) {
            return;
        }
        let flow = Arc::clone(&self.flow);
        match self.state.clone() {
            RunState::Playing { node, id, .. } => {
                if let Some(NodeKind::Play {
                    barge_in: true,
                    next,
                    ..
                }) = flow.nodes.get(node).map(|n| &n.kind)
                {
                    self.commands.push_back(FlowCommand::StopPrompts { id });
                    self.go(now, *next);
                }
            }
            RunState::Prompting {
                node, attempt, id, ..
            } => match flow.nodes.get(node).map(|n| &n.kind) {
                Some(NodeKind::Menu(menu)) if menu.barge_in => {
                    self.commands.push_back(FlowCommand::StopPrompts { id });
                    self.menu_key(now, node, attempt, digit);
                }
                Some(NodeKind::Collect(collect)) if collect.barge_in => {
                    self.commands.push_back(FlowCommand::StopPrompts { id });
                    self.collect_key(now, node, attempt, String::new(), digit);
                }
                _ => {}
            },
            RunState::Listening {
                node,
                attempt,
                digits,
                ..
            } => match flow.nodes.get(node).map(|n| &n.kind) {
                Some(NodeKind::Menu(_)) => self.menu_key(now, node, attempt, digit),
                Some(NodeKind::Collect(_)) => self.collect_key(now, node, attempt, digits, digit),
                _ => self.broken(),
            },
            RunState::Notice { .. } | RunState::LookingUp { .. } | RunState::Finished => {}
        }
    }

    /// The playback `id` ended (all its prompts played). Reports of
    /// playbacks that were stopped or superseded are ignored.
    pub fn handle_prompt_finished(&mut self, now: Instant, id: RequestId) {
        let now = self.tick(now);
        match self.state.clone() {
            RunState::Playing {
                node, id: playing, ..
            } if playing == id => self.after_play(now, node),
            RunState::Prompting {
                node,
                attempt,
                id: playing,
                ..
            } if playing == id => self.listen_first(now, node, attempt),
            RunState::Notice {
                node,
                attempt,
                id: playing,
                ..
            } if playing == id => self.ask(now, node, attempt),
            _ => {}
        }
    }

    /// The answer to the lookup `id`: the webhook's JSON object, or why
    /// there is none. Top-level strings, numbers and booleans become
    /// attributes (named with the node's prefix; at most 64, values cut
    /// at 1 KiB); nested values and nulls are skipped. A late answer
    /// (after the node's timeout) is ignored.
    pub fn handle_http_result(
        &mut self,
        now: Instant,
        id: RequestId,
        result: Result<serde_json::Map<String, serde_json::Value>, HttpFailure>,
    ) {
        let now = self.tick(now);
        let RunState::LookingUp {
            node, id: waiting, ..
        } = self.state
        else {
            return;
        };
        if waiting != id {
            return;
        }
        let flow = Arc::clone(&self.flow);
        let Some(NodeKind::HttpLookup(lookup)) = flow.nodes.get(node).map(|n| &n.kind) else {
            return self.broken();
        };
        let answered = result.is_ok();
        self.log(
            now,
            |node| FlowEventKind::LookupEnded { node, answered },
            Some(node),
        );
        let Ok(fields) = result else {
            return self.go(now, lookup.failure);
        };
        let mut set = 0;
        for (key, value) in fields {
            if set == MAX_LOOKUP_ATTRIBUTES {
                break;
            }
            let text = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Number(number) => number.to_string(),
                serde_json::Value::Bool(flag) => flag.to_string(),
                _ => continue,
            };
            let name = format!("{}{key}", lookup.prefix);
            if key.is_empty() || name.len() > MAX_NAME {
                continue;
            }
            self.set(name, cut(text, MAX_VALUE_BYTES));
            set += 1;
        }
        self.go(now, lookup.next)
    }

    /// Time passed: a wait may have ended (no key pressed, a lookup
    /// unanswered, a playback never reported within the flow's
    /// `max_prompt_time`).
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.tick(now);
        if self.state.until().is_none_or(|until| until > now) {
            return;
        }
        let flow = Arc::clone(&self.flow);
        match self.state.clone() {
            RunState::Playing { node, id, .. } => {
                self.commands.push_back(FlowCommand::StopPrompts { id });
                self.after_play(now, node);
            }
            RunState::Prompting {
                node, attempt, id, ..
            } => {
                self.commands.push_back(FlowCommand::StopPrompts { id });
                self.listen_first(now, node, attempt);
            }
            RunState::Notice {
                node, attempt, id, ..
            } => {
                self.commands.push_back(FlowCommand::StopPrompts { id });
                self.ask(now, node, attempt);
            }
            RunState::Listening {
                node,
                attempt,
                digits,
                ..
            } => match flow.nodes.get(node).map(|n| &n.kind) {
                Some(NodeKind::Collect(_)) if !digits.is_empty() => {
                    self.complete(now, node, attempt, digits)
                }
                Some(NodeKind::Menu(_) | NodeKind::Collect(_)) => {
                    self.retry(now, node, attempt, false)
                }
                _ => self.broken(),
            },
            RunState::LookingUp { node, .. } => match flow.nodes.get(node).map(|n| &n.kind) {
                Some(NodeKind::HttpLookup(lookup)) => {
                    let answered = false;
                    self.log(
                        now,
                        |node| FlowEventKind::LookupEnded { node, answered },
                        Some(node),
                    );
                    self.go(now, lookup.failure)
                }
                _ => self.broken(),
            },
            RunState::Finished => {}
        }
    }

    /// The caller hung up: the run ends without a command.
    pub fn handle_hangup(&mut self, now: Instant) {
        let now = self.tick(now);
        if self.state == RunState::Finished {
            return;
        }
        let node = self.state.node();
        self.log(
            now,
            |node| FlowEventKind::Ended {
                node: Some(node),
                caller_hung_up: true,
            },
            node,
        );
        self.state = RunState::Finished;
    }

    // ----- the interpreter -----

    fn tick(&mut self, now: Instant) -> Instant {
        self.clock = self.clock.max(now);
        self.clock
    }

    fn wall(&self, now: Instant) -> SystemTime {
        self.started_wall
            .checked_add(now.saturating_duration_since(self.started))
            .unwrap_or(self.started_wall)
    }

    /// Logs the event `kind` makes of the id of `node`.
    fn log(
        &mut self,
        now: Instant,
        kind: impl FnOnce(String) -> FlowEventKind,
        node: Option<NodeIndex>,
    ) {
        if let Some(node) = node.and_then(|at| self.flow.nodes.get(at)) {
            let kind = kind(node.id.clone());
            self.push_event(now, kind);
        }
    }

    fn push_event(&mut self, at: Instant, kind: FlowEventKind) {
        if self.events.len() == MAX_PENDING_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(FlowEvent { at, kind });
    }

    fn request(&mut self) -> RequestId {
        self.requests += 1;
        RequestId(self.requests)
    }

    fn play(&mut self, prompts: &[PromptId], barge_in: bool) -> RequestId {
        let id = self.request();
        self.commands.push_back(FlowCommand::PlayPrompts {
            id,
            prompts: prompts.to_vec(),
            barge_in,
        });
        id
    }

    fn deadline(&self, now: Instant, wait: std::time::Duration) -> Instant {
        now.checked_add(wait).unwrap_or(now)
    }

    fn set(&mut self, name: String, value: String) {
        self.attributes.insert(name.clone(), value.clone());
        self.commands
            .push_back(FlowCommand::SetAttribute { name, value });
    }

    /// The run ends with `command` at `node`.
    fn finish(&mut self, now: Instant, node: Option<NodeIndex>, command: FlowCommand) {
        self.commands.push_back(command);
        self.state = RunState::Finished;
        let node_id = node
            .and_then(|at| self.flow.nodes.get(at))
            .map(|n| n.id.clone());
        let kind = FlowEventKind::Ended {
            node: node_id,
            caller_hung_up: false,
        };
        self.push_event(now, kind);
    }

    /// A state that names a node of the wrong kind: impossible with a
    /// validated flow; the call ends rather than hang in the IVR.
    fn broken(&mut self) {
        let now = self.clock;
        self.finish(now, None, FlowCommand::Hangup { prompt: None });
    }

    /// Runs from node `index` until a node that waits or ends the call.
    fn go(&mut self, now: Instant, mut index: NodeIndex) {
        let flow = Arc::clone(&self.flow);
        // Only `set` and `branch` pass through without waiting, and the
        // loader refuses loops of those: a path visits each node once.
        for _ in 0..=flow.nodes.len() {
            let Some(node) = flow.nodes.get(index) else {
                break;
            };
            self.log(now, |node| FlowEventKind::NodeEntered { node }, Some(index));
            match &node.kind {
                NodeKind::Play {
                    prompts, barge_in, ..
                } => {
                    let id = self.play(prompts, *barge_in);
                    let until = self.deadline(now, flow.max_prompt_time);
                    self.state = RunState::Playing {
                        node: index,
                        id,
                        until,
                    };
                    return;
                }
                NodeKind::Menu(_) => {
                    self.commands.push_back(FlowCommand::CollectDigits {
                        max_digits: 1,
                        terminator: None,
                    });
                    return self.ask(now, index, 0);
                }
                NodeKind::Collect(collect) => {
                    self.commands.push_back(FlowCommand::CollectDigits {
                        max_digits: collect.max_length,
                        terminator: collect.terminator,
                    });
                    return self.ask(now, index, 0);
                }
                NodeKind::HttpLookup(lookup) => {
                    let body: serde_json::Map<String, serde_json::Value> = match &lookup.send {
                        Some(names) => names
                            .iter()
                            .filter_map(|name| {
                                let value = self.attributes.get(name)?;
                                Some((name.clone(), value.clone().into()))
                            })
                            .collect(),
                        None => self
                            .attributes
                            .iter()
                            .map(|(name, value)| (name.clone(), value.clone().into()))
                            .collect(),
                    };
                    let id = self.request();
                    self.commands.push_back(FlowCommand::HttpLookup {
                        id,
                        url: lookup.url.clone(),
                        body: serde_json::Value::Object(body),
                        timeout: lookup.timeout,
                    });
                    let until = self.deadline(now, lookup.timeout);
                    self.state = RunState::LookingUp {
                        node: index,
                        id,
                        until,
                    };
                    return;
                }
                NodeKind::Set {
                    attribute,
                    value,
                    next,
                } => {
                    self.set(attribute.clone(), value.clone());
                    index = *next;
                }
                NodeKind::Branch { cases, default } => {
                    let at = self.wall(now);
                    index = cases
                        .iter()
                        .find(|(condition, _)| {
                            condition.holds(&self.attributes, &flow.schedules, at)
                        })
                        .map_or(*default, |(_, target)| *target);
                }
                NodeKind::Enqueue(enqueue) => {
                    let priority = enqueue
                        .priority_attribute
                        .as_ref()
                        .and_then(|name| self.attributes.get(name))
                        .and_then(|value| value.trim().parse::<i64>().ok())
                        .map_or(enqueue.priority, |p| p.clamp(0, 255) as u8);
                    return self.finish(
                        now,
                        Some(index),
                        FlowCommand::Enqueue {
                            queue: enqueue.queue,
                            priority: Priority(priority),
                            attributes: CallAttributes {
                                skills: enqueue.skills.clone(),
                                values: self.attributes.clone(),
                            },
                        },
                    );
                }
                NodeKind::Transfer(target) => {
                    return self.finish(
                        now,
                        Some(index),
                        FlowCommand::Transfer {
                            target: target.clone(),
                        },
                    )
                }
                NodeKind::Voicemail { mailbox, prompts } => {
                    return self.finish(
                        now,
                        Some(index),
                        FlowCommand::Voicemail {
                            mailbox: mailbox.clone(),
                            prompts: prompts.clone(),
                        },
                    )
                }
                NodeKind::Hangup { prompt } => {
                    return self.finish(now, Some(index), FlowCommand::Hangup { prompt: *prompt })
                }
            }
        }
        self.broken()
    }

    /// A `play` node's prompts ended (or were cut short).
    fn after_play(&mut self, now: Instant, node: NodeIndex) {
        let flow = Arc::clone(&self.flow);
        match flow.nodes.get(node).map(|n| &n.kind) {
            Some(NodeKind::Play { next, .. }) => self.go(now, *next),
            _ => self.broken(),
        }
    }

    /// Plays a menu's or collection's prompts for `attempt`.
    fn ask(&mut self, now: Instant, node: NodeIndex, attempt: u32) {
        let flow = Arc::clone(&self.flow);
        let (prompts, barge_in) = match flow.nodes.get(node).map(|n| &n.kind) {
            Some(NodeKind::Menu(menu)) => (&menu.prompts, menu.barge_in),
            Some(NodeKind::Collect(collect)) => (&collect.prompts, collect.barge_in),
            _ => return self.broken(),
        };
        if prompts.is_empty() {
            return self.listen_first(now, node, attempt);
        }
        let id = self.play(prompts, barge_in);
        self.state = RunState::Prompting {
            node,
            attempt,
            id,
            until: self.deadline(now, flow.max_prompt_time),
        };
    }

    /// The prompts ended: wait for the first key.
    fn listen_first(&mut self, now: Instant, node: NodeIndex, attempt: u32) {
        let flow = Arc::clone(&self.flow);
        let wait = match flow.nodes.get(node).map(|n| &n.kind) {
            Some(NodeKind::Menu(menu)) => menu.timeout,
            Some(NodeKind::Collect(collect)) => collect.timeout,
            _ => return self.broken(),
        };
        self.state = RunState::Listening {
            node,
            attempt,
            digits: String::new(),
            until: self.deadline(now, wait),
        };
    }

    fn menu_key(&mut self, now: Instant, node: NodeIndex, attempt: u32, digit: char) {
        let flow = Arc::clone(&self.flow);
        let Some(NodeKind::Menu(menu)) = flow.nodes.get(node).map(|n| &n.kind) else {
            return self.broken();
        };
        match menu.options.get(&digit) {
            Some(&target) => self.go(now, target),
            None => self.retry(now, node, attempt, true),
        }
    }

    fn collect_key(
        &mut self,
        now: Instant,
        node: NodeIndex,
        attempt: u32,
        mut digits: String,
        digit: char,
    ) {
        let flow = Arc::clone(&self.flow);
        let Some(NodeKind::Collect(collect)) = flow.nodes.get(node).map(|n| &n.kind) else {
            return self.broken();
        };
        if collect.terminator == Some(digit) {
            return self.complete(now, node, attempt, digits);
        }
        digits.push(digit);
        if digits.len() >= collect.max_length {
            return self.complete(now, node, attempt, digits);
        }
        self.state = RunState::Listening {
            node,
            attempt,
            digits,
            until: self.deadline(now, collect.inter_digit_timeout),
        };
    }

    /// A collection's input ended: keep it if valid, else ask again.
    fn complete(&mut self, now: Instant, node: NodeIndex, attempt: u32, digits: String) {
        let flow = Arc::clone(&self.flow);
        let Some(NodeKind::Collect(collect)) = flow.nodes.get(node).map(|n| &n.kind) else {
            return self.broken();
        };
        let valid = (collect.min_length..=collect.max_length).contains(&digits.len())
            && collect
                .pattern
                .as_ref()
                .is_none_or(|pattern| pattern.is_match(&digits));
        if !valid {
            return self.retry(now, node, attempt, true);
        }
        self.set(collect.attribute.clone(), digits);
        self.go(now, collect.next)
    }

    /// Wrong input (`invalid`) or none: the message, then the next
    /// attempt; the fallback once the retries are used up.
    fn retry(&mut self, now: Instant, node: NodeIndex, attempt: u32, invalid: bool) {
        let flow = Arc::clone(&self.flow);
        let retry = match flow.nodes.get(node).map(|n| &n.kind) {
            Some(NodeKind::Menu(menu)) => &menu.retry,
            Some(NodeKind::Collect(collect)) => &collect.retry,
            _ => return self.broken(),
        };
        self.log(
            now,
            |node| {
                if invalid {
                    FlowEventKind::InvalidInput { node, attempt }
                } else {
                    FlowEventKind::NoInput { node, attempt }
                }
            },
            Some(node),
        );
        if attempt >= retry.retries {
            return self.go(now, retry.fallback);
        }
        let prompts = if invalid {
            &retry.invalid_prompts
        } else {
            &retry.timeout_prompts
        };
        if prompts.is_empty() {
            return self.ask(now, node, attempt + 1);
        }
        let id = self.play(prompts, false);
        self.state = RunState::Notice {
            node,
            attempt: attempt + 1,
            id,
            until: self.deadline(now, flow.max_prompt_time),
        };
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
#[cfg(test)]
mod tests;
