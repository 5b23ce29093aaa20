//! A small Server-Sent Events decoder (the `text/event-stream` format of the
//! WHATWG HTML standard): bytes in, whole messages out.
//!
//! It keeps partial lines across chunks, accepts `\n`, `\r\n` and `\r` line
//! ends, joins multi-line `data`, and ignores comments (the server's
//! keep-alives) and unknown fields. A message is dispatched at the blank
//! line that ends it; a message without data is dropped, as the standard
//! says.

/// One message of an event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The `event` field (`message` when absent).
    pub event: String,
    /// The `id` field of this message, if it had one.
    pub id: Option<String>,
    /// The `data` lines, joined with `\n`.
    pub data: String,
}

/// An incremental decoder: feed it chunks as they arrive.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Bytes after the last complete line.
    pending: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting this one belongs to it.
    after_cr: bool,
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
}

impl Decoder {
    /// Decodes `chunk`, returning the messages it completes, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        let mut bytes = chunk;
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' | b'\r' => {
                    self.pending.extend_from_slice(&bytes[start..i]);
                    let line = std::mem::take(&mut self.pending);
                    if let Some(message) = self.line(&String::from_utf8_lossy(&line)) {
                        out.push(message);
                    }
                    if bytes[i] == b'\r' {
                        if i + 1 == bytes.len() {
                            self.after_cr = true;
                        } else if bytes[i + 1] == b'\n' {
                            i += 1;
                        }
                    }
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        self.pending.extend_from_slice(&bytes[start..]);
        out
    }

    /// Handles one complete line; a blank line ends the message.
    fn line(&mut self, line: &str) -> Option<Message> {
        if line.is_empty() {
            let data = self.data.take();
            let event = self.event.take();
            let id = self.id.take();
            return data.map(|data| Message {
                event: event.unwrap_or_else(|| "message".to_owned()),
                id,
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(event: &str, id: Option<&str>, data: &str) -> Message {
        Message {
            event: event.into(),
            id: id.map(Into::into),
            data: data.into(),
        }
    }

    #[test]
    fn decodes_messages_split_anywhere_across_chunks() {
        let stream = b": keep-alive\n\nevent: claimed\nid: 2\ndata: {\"seq\":2}\n\nevent: model_turn\r\nid: 3\r\ndata: a\r\ndata: b\r\n\r\ndata: plain\r\r";
        let whole = Decoder::default().feed(stream);
        let expected = vec![
            message("claimed", Some("2"), "{\"seq\":2}"),
            message("model_turn", Some("3"), "a\nb"),
            message("message", None, "plain"),
        ];
        assert_eq!(whole, expected);
        for split in 0..stream.len() {
            let mut decoder = Decoder::default();
            let mut got = decoder.feed(&stream[..split]);
            got.extend(decoder.feed(&stream[split..]));
            assert_eq!(got, expected, "split at {split}");
        }
        let mut one_by_one = Decoder::default();
        let got: Vec<Message> = stream.iter().flat_map(|b| one_by_one.feed(&[*b])).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn ignores_comments_unknown_fields_and_messages_without_data() {
        let got = Decoder::default().feed(b"retry: 10\n:comment\nevent: lonely\n\nfield\ndata\n\n");
        assert_eq!(got, vec![message("message", None, "")]);
    }

    #[test]
    fn an_unfinished_message_is_not_dispatched() {
        let mut decoder = Decoder::default();
        assert!(decoder.feed(b"event: problem\ndata: {}\n").is_empty());
        assert_eq!(decoder.feed(b"\n"), vec![message("problem", None, "{}")]);
    }
}
