//! Live updates from the server's event streams (Server-Sent Events). The browser's
//! `EventSource` reconnects by itself and sends `Last-Event-ID`, so no event is lost or repeated.

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

/// Follows the stream at `url` while the calling component lives: each `(kind, changed)` bumps
/// `changed` at most once per `every_ms` while events of `kind` arrive, so a page refetches what
/// changed without a request per training step.
pub fn follow(url: String, every_ms: u32, kinds: Vec<(&'static str, WriteSignal<u64>)>) {
    let Ok(source) = EventSource::new(&url) else { return };
    let mut listeners = Vec::new();
    let mut flags = Vec::new();
    for (kind, changed) in kinds {
        let dirty = Rc::new(Cell::new(false));
        let flag = dirty.clone();
        let listener =
            Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| flag.set(true));
        let _ = source.add_event_listener_with_callback(kind, listener.as_ref().unchecked_ref());
        listeners.push(listener);
        flags.push((dirty, changed));
    }
    let interval = gloo::timers::callback::Interval::new(every_ms, move || {
        for (dirty, changed) in &flags {
            if dirty.replace(false) {
                changed.update(|n| *n += 1);
            }
        }
    });
    let held = send_wrapper::SendWrapper::new((source, listeners, interval));
    on_cleanup(move || {
        let (source, listeners, interval) = held.take();
        source.close();
        drop((listeners, interval));
    });
}
