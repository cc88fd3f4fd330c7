//! YAML documents as JSON values, every scalar kept as the text it was written as.
//!
//! Hand-written on yaml-rust2's event stream (about sixty lines) rather than through its `Yaml`
//! type: that type resolves plain scalars, so `fixed: 2.0` would come back as the float `2` and
//! `fixed: 1.10` as `1.1`, silently changing a version bound. OSV fields are strings, so a scalar
//! stays a string unless it is YAML's null.

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Why a YAML document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// The text is not well-formed YAML.
    #[error(transparent)]
    Scan(#[from] yaml_rust2::ScanError),
    /// An alias (`*name`): OSV records never need one, and refusing them rules out alias bombs.
    #[error("YAML aliases are not allowed in an OSV record (line {line})")]
    Alias {
        /// The alias's line, from 1.
        line: usize,
    },
    /// A mapping key that is itself a mapping or a sequence.
    #[error("a mapping key at line {line} is not a scalar")]
    ComplexKey {
        /// The key's line, from 1.
        line: usize,
    },
    /// The text holds no document, or more than one.
    #[error("expected exactly one YAML document, found {count}")]
    DocumentCount {
        /// How many documents the text holds.
        count: usize,
    },
}

enum Frame {
    Sequence(Vec<Value>),
    /// A mapping and, once read, the key whose value comes next.
    Mapping(Map<String, Value>, Option<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    documents: Vec<Value>,
    error: Option<YamlError>,
}

impl Builder {
    fn awaits_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping(_, None)))
    }

    fn push(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.documents.push(value),
            Some(Frame::Sequence(items)) => items.push(value),
            Some(Frame::Mapping(map, key)) => {
                if let Some(key) = key.take() {
                    map.insert(key, value);
                }
            }
        }
    }

    fn start(&mut self, frame: Frame, mark: Marker) {
        if self.awaits_key() {
            self.error = Some(YamlError::ComplexKey { line: mark.line() });
        }
        self.stack.push(frame);
    }

    fn end(&mut self) {
        match self.stack.pop() {
            Some(Frame::Sequence(items)) => self.push(Value::Array(items)),
            Some(Frame::Mapping(map, _)) => self.push(Value::Object(map)),
            None => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::Scalar(text, style, ..) => {
                if let Some(Frame::Mapping(_, key @ None)) = self.stack.last_mut() {
                    *key = Some(text);
                } else {
                    let is_null = style == TScalarStyle::Plain
                        && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL");
                    self.push(if is_null {
                        Value::Null
                    } else {
                        Value::String(text)
                    });
                }
            }
            Event::SequenceStart(..) => self.start(Frame::Sequence(Vec::new()), mark),
            Event::MappingStart(..) => self.start(Frame::Mapping(Map::new(), None), mark),
            Event::SequenceEnd | Event::MappingEnd => self.end(),
            Event::Alias(_) => self.error = Some(YamlError::Alias { line: mark.line() }),
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// The single YAML document in `text`, as a JSON value whose scalars are strings (or null).
pub(crate) fn to_json(text: &str) -> Result<Value, YamlError> {
    let mut builder = Builder::default();
    Parser::new_from_str(text).load(&mut builder, true)?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    let count = builder.documents.len();
    match <[Value; 1]>::try_from(builder.documents) {
        Ok([document]) => Ok(document),
        Err(_) => Err(YamlError::DocumentCount { count }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_keep_their_text() {
        let value = to_json("a: 2.0\nb: 1.10\nc: '0'\nd: ~\ne:\nf: [1, x]\ng: {h: 010}\n").unwrap();
        assert_eq!(
            value,
            json!({"a": "2.0", "b": "1.10", "c": "0", "d": null, "e": null, "f": ["1", "x"], "g": {"h": "010"}})
        );
    }

    #[test]
    fn refuses_aliases_complex_keys_and_many_documents() {
        assert!(matches!(
            to_json("a: &x [1]\nb: *x\n"),
            Err(YamlError::Alias { .. })
        ));
        assert!(matches!(
            to_json("? [a]\n: b\n"),
            Err(YamlError::ComplexKey { .. })
        ));
        assert!(matches!(
            to_json("a: 1\n---\nb: 2\n"),
            Err(YamlError::DocumentCount { count: 2 })
        ));
        assert!(matches!(to_json("a: [1\n"), Err(YamlError::Scan(_))));
    }
}
