//! A `tracing` subscriber that records each event with the spans it
//! happened in, so a scenario can check what a handler's own log carries,
//! and what happened to each span (opened, given fields, entered and left
//! on which thread, closed) in order, so it can check where a span was
//! entered.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;

/// A span as recorded: its name and fields (values as `Display`/`Debug` text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRecord {
    /// The span's name.
    pub name: String,
    /// Its fields.
    pub fields: HashMap<String, String>,
}

/// An event as recorded: its fields and the spans it was inside, innermost first.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// The event's fields, `message` included.
    pub fields: HashMap<String, String>,
    /// The spans entered on its thread when it happened, innermost first.
    pub spans: Vec<SpanRecord>,
}

/// What happened to a span, in the order it happened across threads.
#[derive(Debug, Clone)]
pub enum SpanTrace {
    /// Opened, with the fields it had then.
    Opened {
        /// The span's id.
        id: u64,
        /// Its name and fields.
        span: SpanRecord,
    },
    /// Given more fields.
    Recorded {
        /// The span's id.
        id: u64,
        /// The fields given.
        fields: HashMap<String, String>,
    },
    /// Entered on a thread.
    Entered {
        /// The span's id.
        id: u64,
        /// The thread it was entered on.
        thread: ThreadId,
    },
    /// Left on a thread.
    Exited {
        /// The span's id.
        id: u64,
        /// The thread it was left on.
        thread: ThreadId,
    },
    /// Its last handle was dropped.
    Closed {
        /// The span's id.
        id: u64,
    },
}

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

thread_local! {
    /// Spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The recorder, installed process-wide once by [`recorded_events`].
#[derive(Default)]
struct Recorder {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, (SpanRecord, &'static Metadata<'static>)>>,
    /// Handles of each open span.
    handles: Mutex<HashMap<u64, usize>>,
    events: Arc<Mutex<Vec<EventRecord>>>,
    traces: Arc<Mutex<Vec<SpanTrace>>>,
}

impl Recorder {
    fn trace(&self, trace: SpanTrace) {
        self.traces.lock().unwrap().push(trace);
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = Fields::default();
        span.record(&mut fields);
        let record = SpanRecord {
            name: span.metadata().name().to_owned(),
            fields: fields.0,
        };
        let metadata = span.metadata();
        self.trace(SpanTrace::Opened {
            id,
            span: record.clone(),
        });
        self.spans.lock().unwrap().insert(id, (record, metadata));
        self.handles.lock().unwrap().insert(id, 1);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        self.trace(SpanTrace::Recorded {
            id: span.into_u64(),
            fields: fields.0.clone(),
        });
        if let Some((record, _)) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            record.fields.extend(fields.0);
        }
    }

    fn clone_span(&self, span: &Id) -> Id {
        if let Some(handles) = self.handles.lock().unwrap().get_mut(&span.into_u64()) {
            *handles += 1;
        }
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        let id = span.into_u64();
        let mut handles = self.handles.lock().unwrap();
        let Some(left) = handles.get_mut(&id) else {
            return false;
        };
        *left -= 1;
        if *left > 0 {
            return false;
        }
        handles.remove(&id);
        drop(handles);
        self.trace(SpanTrace::Closed { id });
        true
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let entered = ENTERED.with(|entered| entered.borrow().clone());
        let spans = self.spans.lock().unwrap();
        let spans = entered
            .iter()
            .rev()
            .filter_map(|id| spans.get(id).map(|(record, _)| record.clone()))
            .collect();
        let record = EventRecord {
            fields: fields.0,
            spans,
        };
        self.events.lock().unwrap().push(record);
    }

    /// What `Span::current` returns, so a handler can carry its span to
    /// another thread.
    fn current_span(&self) -> Current {
        let Some(id) = ENTERED.with(|entered| entered.borrow().last().copied()) else {
            return Current::none();
        };
        match self.spans.lock().unwrap().get(&id) {
            Some((_, metadata)) => Current::new(Id::from_u64(id), metadata),
            None => Current::none(),
        }
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().push(span.into_u64()));
        self.trace(SpanTrace::Entered {
            id: span.into_u64(),
            thread: std::thread::current().id(),
        });
    }

    fn exit(&self, span: &Id) {
        self.trace(SpanTrace::Exited {
            id: span.into_u64(),
            thread: std::thread::current().id(),
        });
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            if let Some(at) = entered.iter().rposition(|id| *id == span.into_u64()) {
                entered.remove(at);
            }
        });
    }
}

/// Every event recorded in this process so far. The first call installs
/// the recorder as the global subscriber (a test binary that installs
/// another one first gets an empty list).
pub fn recorded_events() -> Vec<EventRecord> {
    recorder().0.lock().unwrap().clone()
}

/// What happened to every span in this process so far, in order; installs
/// the recorder as [`recorded_events`] does.
pub fn span_traces() -> Vec<SpanTrace> {
    recorder().1.lock().unwrap().clone()
}

type Recorded = (Arc<Mutex<Vec<EventRecord>>>, Arc<Mutex<Vec<SpanTrace>>>);

fn recorder() -> &'static Recorded {
    static RECORDED: OnceLock<Recorded> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let recorder = Recorder::default();
        let recorded = (recorder.events.clone(), recorder.traces.clone());
        let _ = tracing::subscriber::set_global_default(recorder);
        recorded
    })
}
