//! Following a sealed log live: an investigation's events or a case's
//! timeline, over Server-Sent Events, for as long as the caller wants.
//!
//! Both streams carry one entry per message with its `seq` inside the
//! data. A follow resumes after a dropped connection with `Last-Event-ID`
//! set to the last seq it handed on, so no entry is skipped or handed on
//! twice; it retries, with its own backoff, until the server is back. Only
//! the first connection must succeed. A `problem` message (the server
//! cannot read its database for now) is reported on stderr and the stream
//! waits; a `stream_end` message (the log takes no more entries) ends the
//! follow.

use std::time::Duration;

use futures::StreamExt as _;
use reqwest::Method;
use serde::de::DeserializeOwned;
use vigil_api::Problem;

use super::stream::{self, Dropped, Event as Message};
use super::{Client, Error, Exit};

/// A stream that sends nothing for this long (the server sends a
/// keep-alive every 15 s) is taken as dropped.
const SILENCE: Duration = Duration::from_secs(45);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// An entry of a followed log.
pub trait Entry: DeserializeOwned {
    /// Its position in the log, from 1.
    fn seq(&self) -> i64;
}

impl Entry for vigil_api::views::EventView {
    fn seq(&self) -> i64 {
        self.seq
    }
}

impl Entry for vigil_api::views::cases::CaseEventView {
    fn seq(&self) -> i64 {
        self.seq
    }
}

/// What the caller does after an entry was handed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep following.
    Continue,
    /// Stop now: the follow returns [`Ended::Stopped`].
    Stop,
}

/// Why a follow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The server sent `stream_end`: every entry was sent and no more come.
    StreamEnd,
    /// The caller asked to stop.
    Stopped,
}

/// Follows the stream at `segments` from after seq `after`, handing each
/// entry once, in seq order, to `each` with the message's raw data (what
/// `--json` prints). Entries at or before the last one handed on are
/// dropped, so a replay after a reconnection is never seen twice.
pub async fn follow<T: Entry>(
    client: &Client,
    segments: &[&str],
    after: i64,
    mut each: impl FnMut(&str, &T) -> anyhow::Result<Next>,
) -> anyhow::Result<Ended> {
    let mut last = after;
    let mut connected_once = false;
    let mut backoff = Duration::from_millis(250);
    loop {
        let mut request = client
            .request(Method::GET, segments)
            .header("accept", "text/event-stream");
        if last > 0 {
            request = request.header("last-event-id", last.to_string());
        }
        let response = match client.send(request, true).await {
            Ok(response) => response,
            // The first connection must work; later ones are retried
            // until the server is back, as `tail -F` would.
            Err(e) if connected_once && e.exit() == Exit::Unavailable => {
                tracing::debug!(error = %e, "reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if connected_once {
            eprintln!("vigil: reconnected; resuming after seq {last}");
        }
        connected_once = true;
        backoff = Duration::from_millis(250);
        let mut messages = std::pin::pin!(stream::messages(response, SILENCE));
        let dropped = loop {
            let message = match messages.next().await {
                None => break "the server closed the stream".to_owned(),
                Some(Err(Dropped::Silent)) => break "the stream went silent".to_owned(),
                Some(Err(Dropped::Transport(e))) => break client.transport(e).to_string(),
                Some(Err(Dropped::Malformed(e))) => {
                    break format!("the stream is not an event stream ({e})");
                }
                Some(Ok(message)) => message,
            };
            if message.event == "stream_end" {
                return Ok(Ended::StreamEnd);
            }
            let Some(entry) = decode::<T>(&message)? else {
                continue;
            };
            if entry.seq() <= last {
                continue;
            }
            last = entry.seq();
            if each(&message.data, &entry)? == Next::Stop {
                return Ok(Ended::Stopped);
            }
        };
        eprintln!("vigil: {dropped}; reconnecting");
    }
}

/// An entry from a stream message; `problem` messages are reported on
/// stderr and skipped.
fn decode<T: Entry>(message: &Message) -> Result<Option<T>, Error> {
    if message.event == "problem" {
        match serde_json::from_str::<Problem>(&message.data) {
            Ok(p) => eprintln!("vigil: the server reports {}: {}", p.code, p.detail),
            Err(_) => eprintln!("vigil: the server reports a problem: {}", message.data),
        }
        return Ok(None);
    }
    serde_json::from_str(&message.data)
        .map(Some)
        .map_err(|e| Error::Unexpected(format!("a stream message is not an entry: {e}")))
}
