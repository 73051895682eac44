//! A server-sent events parser (the WHATWG `text/event-stream` format), fed one line at a
//! time. Pure: `kubectl verdict tail` and the dashboard's tests read the stream's lines and
//! hand them here.

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:`; `message` when the server gave none.
    pub event: String,
    /// The `data:` lines, joined with newlines.
    pub data: String,
    /// The last `id:` seen so far on the stream (the `Last-Event-ID` to resume from).
    pub id: Option<String>,
}

/// Collects lines into events.
#[derive(Clone, Debug, Default)]
pub struct Parser {
    event: Option<String>,
    data: Vec<String>,
    last_id: Option<String>,
}

impl Parser {
    /// A parser that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id to send as `Last-Event-ID` when reconnecting.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Feeds one line (with or without its line ending). Returns the event a blank line
    /// completes, if any data was given for it.
    pub fn line(&mut self, line: &str) -> Option<SseEvent> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            let event = self.event.take();
            if self.data.is_empty() {
                return None;
            }
            return Some(SseEvent {
                event: event.unwrap_or_else(|| "message".into()),
                data: std::mem::take(&mut self.data).join("\n"),
                id: self.last_id.clone(),
            });
        }
        if line.starts_with(':') {
            return None; // a comment: keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.into()),
            "data" => self.data.push(value.into()),
            "id" if !value.contains('\0') => self.last_id = Some(value.into()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_dashboards_events() {
        let cases: &[(&str, &str, Vec<SseEvent>)] = &[
            (
                "named event with id",
                "event: decision\nid: 7\ndata: {\"a\":1}\n\n",
                vec![SseEvent {
                    event: "decision".into(),
                    data: "{\"a\":1}".into(),
                    id: Some("7".into()),
                }],
            ),
            (
                "keep-alive comments and CRLF",
                ":\r\n\r\nevent: dropped\r\ndata: {\"count\":3}\r\n\r\n",
                vec![SseEvent {
                    event: "dropped".into(),
                    data: "{\"count\":3}".into(),
                    id: None,
                }],
            ),
            (
                "multi-line data, default name, id carried over",
                "id: 1\ndata: a\n\ndata: b\ndata:c\n\n",
                vec![
                    SseEvent {
                        event: "message".into(),
                        data: "a".into(),
                        id: Some("1".into()),
                    },
                    SseEvent {
                        event: "message".into(),
                        data: "b\nc".into(),
                        id: Some("1".into()),
                    },
                ],
            ),
            ("no data, no event", "event: x\n\n", vec![]),
        ];
        for (name, text, want) in cases {
            let mut p = Parser::new();
            let got: Vec<SseEvent> = text
                .split_inclusive('\n')
                .filter_map(|l| p.line(l))
                .collect();
            assert_eq!(&got, want, "{name}");
        }
    }
}
