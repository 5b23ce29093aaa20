//! The live event stream's messages: a `text/event-stream` response body
//! parsed by the `eventsource-stream` crate, with what a follow that lasts
//! hours needs from the bytes underneath.
//!
//! - **Silence is judged on bytes, not messages.** The server's keep-alives
//!   are comments, which the parser swallows, so a timeout around the next
//!   *message* would drop a healthy stream that is only waiting (on an
//!   approval, for minutes). The timeout is on the next chunk instead.
//! - **Text is decoded here, lossily.** A character split across chunks
//!   waits for its last bytes; bytes that are not UTF-8 become U+FFFD. The
//!   crate's own decoding keeps an invalid byte in its buffer and never
//!   yields past it, which would stall the stream while keep-alives still
//!   arrive.
//!
//! The parser follows the WHATWG rules: `\n`, `\r\n` and `\r` line ends,
//! multi-line `data` joined with `\n`, comments and unknown fields ignored
//! (`retry` is parsed and not used: the client keeps its own backoff), and a
//! message without data never dispatched. Two things to know: a message's
//! `id` is the stream's *last* event id, kept across messages as the standard
//! says (the client resumes from the `seq` inside each event, never from the
//! `id` field); and a line ended by a lone `\r` at the very end of what has
//! arrived waits for the next byte, which may be the `\n` of a `\r\n`.

use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource as _};
use futures::{Stream, StreamExt as _};
use reqwest::Response;

pub use eventsource_stream::Event;

/// Why a stream stopped yielding messages (besides the server closing it).
#[derive(Debug)]
pub enum Dropped {
    /// Nothing arrived, not even a keep-alive, for the silence limit.
    Silent,
    /// Reading the body failed.
    Transport(reqwest::Error),
    /// The body is not an event stream.
    Malformed(String),
}

/// The messages of an event-stream `response`, ending after the first
/// [`Dropped`] or when the server closes the stream. A stream that sends no
/// byte for `silence` yields [`Dropped::Silent`].
pub fn messages(
    response: Response,
    silence: Duration,
) -> impl Stream<Item = Result<Event, Dropped>> {
    let chunks = futures::stream::unfold(Some(response), |response| async move {
        let mut response = response?;
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
            Ok(None) => None,
            Err(e) => Some((Err(Dropped::Transport(e)), None)),
        }
    });
    parse(chunks, silence)
}

/// The messages in `chunks` (see [`messages`]).
fn parse<S, B>(chunks: S, silence: Duration) -> impl Stream<Item = Result<Event, Dropped>>
where
    S: Stream<Item = Result<B, Dropped>>,
    B: AsRef<[u8]>,
{
    let text = futures::stream::unfold(
        Some((Box::pin(chunks), Utf8::default())),
        move |state| async move {
            let (mut chunks, mut utf8) = state?;
            match tokio::time::timeout(silence, chunks.next()).await {
                Err(_) => Some((Err(Dropped::Silent), None)),
                Ok(None) => None,
                Ok(Some(Err(dropped))) => Some((Err(dropped), None)),
                Ok(Some(Ok(chunk))) => {
                    let text = utf8.decode(chunk.as_ref());
                    Some((Ok(text), Some((chunks, utf8))))
                }
            }
        },
    );
    let mut ended = false;
    text.eventsource()
        .map(|item| {
            item.map_err(|e| match e {
                EventStreamError::Transport(dropped) => dropped,
                EventStreamError::Utf8(e) => Dropped::Malformed(e.to_string()),
                EventStreamError::Parser(e) => Dropped::Malformed(e.to_string()),
            })
        })
        // Nothing after the first failure: the caller reconnects.
        .take_while(move |item| {
            let go = !ended;
            ended |= item.is_err();
            std::future::ready(go)
        })
}

/// Incremental, lossy UTF-8 decoding of a byte stream.
#[derive(Debug, Default)]
struct Utf8 {
    /// The first bytes of a character whose last bytes have not arrived.
    carry: Vec<u8>,
}

impl Utf8 {
    /// The text of `chunk` after what was carried over: a character cut
    /// off at the end waits for the next chunk, and bytes that are not
    /// UTF-8 become U+FFFD.
    fn decode(&mut self, chunk: &[u8]) -> String {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        let mut text = String::with_capacity(bytes.len());
        let mut rest = bytes.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    text.push_str(&String::from_utf8_lossy(valid));
                    match e.error_len() {
                        Some(invalid) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[invalid..];
                        }
                        None => {
                            self.carry = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    fn message(event: &str, id: &str, data: &str) -> Event {
        Event {
            event: event.into(),
            id: id.into(),
            data: data.into(),
            retry: None,
        }
    }

    /// The messages of `chunks`, delivered at once.
    async fn collect(chunks: Vec<Vec<u8>>) -> Vec<Event> {
        let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, Dropped>));
        parse(stream, LONG)
            .map(|item| item.expect("no drop"))
            .collect()
            .await
    }

    /// Keep-alive comments, `\n`, `\r\n` and `\r` line ends, multi-line
    /// data, a character of several bytes: the same messages wherever the
    /// chunks are cut, even one byte at a time.
    #[tokio::test]
    async fn decodes_messages_split_anywhere_across_chunks() {
        let stream: &[u8] = ": keep-alive\n\nevent: claimed\nid: 2\ndata: {\"seq\":2}\n\n\
              event: model_turn\r\nid: 3\r\ndata: a\r\ndata: b \u{2014} c\r\n\r\n\
              data: plain\r\r:\n"
            .as_bytes();
        let expected = vec![
            message("claimed", "2", "{\"seq\":2}"),
            message("model_turn", "3", "a\nb \u{2014} c"),
            // The last id stays the stream's until another is sent.
            message("message", "3", "plain"),
        ];
        assert_eq!(collect(vec![stream.to_vec()]).await, expected);
        for split in 0..stream.len() {
            let chunks = vec![stream[..split].to_vec(), stream[split..].to_vec()];
            assert_eq!(collect(chunks).await, expected, "split at {split}");
        }
        let bytes = stream.iter().map(|b| vec![*b]).collect();
        assert_eq!(collect(bytes).await, expected);
    }

    #[tokio::test]
    async fn ignores_comments_retry_unknown_fields_and_messages_without_data() {
        let got = collect(vec![
            b"retry: 10\n:comment\nevent: lonely\n\nfield\ndata\n\n".to_vec(),
        ])
        .await;
        assert_eq!(got, vec![message("message", "", "")]);
    }

    #[tokio::test]
    async fn an_unfinished_message_is_not_dispatched() {
        let got = collect(vec![b"event: problem\ndata: {}\n".to_vec()]).await;
        assert!(got.is_empty(), "{got:?}");
        let got = collect(vec![b"event: problem\ndata: {}\n".to_vec(), b"\n".to_vec()]).await;
        assert_eq!(got, vec![message("problem", "", "{}")]);
    }

    /// Bytes that are not UTF-8 are replaced, and the messages after them
    /// still arrive.
    #[tokio::test]
    async fn invalid_utf8_does_not_stall_the_stream() {
        let got = collect(vec![
            b"data: a\xffb\n\n".to_vec(),
            b"data: \xe2\x80".to_vec(),
            b"\n\ndata: next\n\n".to_vec(),
        ])
        .await;
        assert_eq!(
            got,
            vec![
                message("message", "", "a\u{fffd}b"),
                message("message", "", "\u{fffd}"),
                message("message", "", "next"),
            ]
        );
    }

    /// The silence limit counts any byte, keep-alive comments included; a
    /// stream with none for that long ends with `Silent`. Virtual time.
    #[tokio::test(start_paused = true)]
    async fn keep_alives_keep_a_quiet_stream_open_and_silence_drops_it() {
        let silence = Duration::from_secs(45);
        // Keep-alives every 15 s for ten minutes, then a message, then 46 s
        // of nothing.
        let mut script: Vec<(Duration, &[u8])> = vec![(Duration::from_secs(15), &b":\n\n"[..]); 40];
        script.push((Duration::from_secs(15), &b"data: 1\n\n"[..]));
        script.push((Duration::from_secs(46), &b"data: 2\n\n"[..]));
        let chunks = futures::stream::iter(script).then(|(wait, bytes)| async move {
            tokio::time::sleep(wait).await;
            Ok::<_, Dropped>(bytes)
        });
        let got: Vec<Result<Event, Dropped>> = parse(chunks, silence).collect().await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap(), &message("message", "", "1"));
        assert!(matches!(got[1], Err(Dropped::Silent)), "{got:?}");
    }

    #[tokio::test]
    async fn a_transport_failure_ends_the_stream_after_what_came_before() {
        let chunks = futures::stream::iter(vec![
            Ok(b"data: 1\n\n".to_vec()),
            Err(Dropped::Malformed("cut".into())),
            Ok(b"data: 2\n\n".to_vec()),
        ]);
        let got: Vec<Result<Event, Dropped>> = parse(chunks, LONG).collect().await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap(), &message("message", "", "1"));
        assert!(matches!(&got[1], Err(Dropped::Malformed(m)) if m == "cut"));
    }
}
