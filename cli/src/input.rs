//! Reading `-f` arguments (files, directories, stdin) and splitting them into documents.
//!
//! Every document keeps its [`Location`] so that later errors can name the file, the
//! document's position in it and, for `kind: List`, the item.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The `-f` value that means standard input.
pub const STDIN: &str = "-";

/// How standard input is named in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// Where one document (or one item of a `List` document) came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file name as given (or found in a directory); `<stdin>` for standard input.
    pub file: String,
    /// One-based position of the document in the file, counting empty documents.
    pub document: usize,
    /// Zero-based index in the document's `items`, when the document is a `List`.
    pub item: Option<usize>,
}

impl Location {
    /// The location of item `index` of this (List) document.
    pub fn item(&self, index: usize) -> Location {
        Location {
            item: Some(index),
            ..self.clone()
        }
    }
}

impl fmt::Display for Location {
    /// `file: document N` or `file: document N, items[i]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)?;
        if let Some(item) = self.item {
            write!(f, ", items[{item}]")?;
        }
        Ok(())
    }
}

/// The syntax of one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One or more YAML documents separated by `---`.
    Yaml,
    /// One or more concatenated JSON values.
    Json,
}

/// The text of one input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Its name in messages.
    pub name: String,
    /// Its syntax.
    pub format: Format,
    /// Its contents.
    pub text: String,
}

/// One parsed document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// Where it came from.
    pub location: Location,
    /// Its contents, whatever the source syntax was.
    pub value: Value,
}

/// Reads every `-f` argument in order. Directories are walked recursively for `*.yaml`,
/// `*.yml` and `*.json` in sorted order; `-` reads `stdin` (at most once).
///
/// # Errors
/// [`Error::Read`] for a missing or unreadable path, [`Error::EmptyDirectory`] for a directory
/// without manifests, [`Error::Usage`] when `-` is given twice.
pub fn read_sources(args: &[String], stdin: &mut dyn Read) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    let mut stdin_used = false;
    for arg in args {
        if arg == STDIN {
            if stdin_used {
                return Err(Error::Usage(
                    "-f - (standard input) given more than once".into(),
                ));
            }
            stdin_used = true;
            let mut text = String::new();
            stdin.read_to_string(&mut text).map_err(Error::ReadStdin)?;
            let format = sniff_format(&text);
            sources.push(Source {
                name: STDIN_NAME.into(),
                format,
                text,
            });
            continue;
        }
        let path = PathBuf::from(arg);
        let metadata = fs::metadata(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let files = if metadata.is_dir() {
            let mut files = Vec::new();
            walk(&path, &mut files).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            if files.is_empty() {
                return Err(Error::EmptyDirectory { path });
            }
            files
        } else {
            vec![path]
        };
        for file in files {
            let text = fs::read_to_string(&file).map_err(|source| Error::Read {
                path: file.clone(),
                source,
            })?;
            let format = format_of(&file);
            sources.push(Source {
                name: file.display().to_string(),
                format,
                text,
            });
        }
    }
    Ok(sources)
}

/// Appends the manifests under `dir` to `out`, depth first, each directory's entries sorted.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_manifest(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn is_manifest(path: &Path) -> bool {
    matches!(extension(path).as_str(), "yaml" | "yml" | "json")
}

/// `.json` files are JSON; anything else named explicitly is read as YAML.
fn format_of(path: &Path) -> Format {
    if extension(path) == "json" {
        Format::Json
    } else {
        Format::Yaml
    }
}

/// Standard input has no name to go by: JSON starts with `{` or `[`, YAML never does in a
/// manifest.
fn sniff_format(text: &str) -> Format {
    match text.trim_start().chars().next() {
        Some('{' | '[') => Format::Json,
        _ => Format::Yaml,
    }
}

/// Splits a source into its non-empty documents.
///
/// # Errors
/// [`Error::Yaml`] or [`Error::Json`] naming the first document that does not parse.
pub fn documents(source: &Source) -> Result<Vec<Document>> {
    let location = |index: usize| Location {
        file: source.name.clone(),
        document: index + 1,
        item: None,
    };
    let mut docs = Vec::new();
    match source.format {
        Format::Yaml => {
            for (index, doc) in serde_norway::Deserializer::from_str(&source.text).enumerate() {
                let value = Value::deserialize(doc).map_err(|e| Error::Yaml {
                    location: location(index),
                    source: e,
                })?;
                docs.push(Document {
                    location: location(index),
                    value,
                });
            }
        }
        Format::Json => {
            let stream = serde_json::Deserializer::from_str(&source.text).into_iter::<Value>();
            for (index, value) in stream.enumerate() {
                let value = value.map_err(|e| Error::Json {
                    location: location(index),
                    source: e,
                })?;
                docs.push(Document {
                    location: location(index),
                    value,
                });
            }
        }
    }
    docs.retain(|doc| !doc.value.is_null());
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn yaml(text: &str) -> Source {
        Source {
            name: "in.yaml".into(),
            format: Format::Yaml,
            text: text.into(),
        }
    }

    #[test]
    fn documents_are_numbered_from_one_counting_empty_ones() {
        let docs = documents(&yaml("a: 1\n---\n---\nb: 2\n")).unwrap();
        let got: Vec<(usize, Value)> = docs
            .into_iter()
            .map(|d| (d.location.document, d.value))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, serde_json::json!({"a": 1})),
                (3, serde_json::json!({"b": 2}))
            ]
        );
    }

    #[test]
    fn json_streams_hold_several_values() {
        let source = Source {
            name: "in.json".into(),
            format: Format::Json,
            text: "{\"a\":1}\n{\"b\":2}".into(),
        };
        assert_eq!(documents(&source).unwrap().len(), 2);
    }

    #[test]
    fn parse_errors_name_file_and_document() {
        let cases = [
            (
                "yaml",
                yaml("a: 1\n---\nb: [1\n"),
                "in.yaml: document 2: invalid YAML",
            ),
            (
                "json",
                Source {
                    name: "in.json".into(),
                    format: Format::Json,
                    text: "{} {\"a\":".into(),
                },
                "in.json: document 2: invalid JSON",
            ),
        ];
        for (name, source, want) in cases {
            let error = documents(&source).unwrap_err();
            assert_eq!(error.to_string(), want, "{name}");
        }
    }

    #[test]
    fn stdin_format_is_sniffed() {
        let cases = [
            ("object", "  {\"kind\":1}", Format::Json),
            ("list", "[]", Format::Json),
            ("yaml", "kind: Pod", Format::Yaml),
        ];
        for (name, text, want) in cases {
            assert_eq!(sniff_format(text), want, "{name}");
        }
    }

    #[test]
    fn directories_are_walked_recursively_in_sorted_order() {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("b.yaml", "b: 1"),
            ("a/z.json", "{}"),
            ("a/y.yml", "y: 1"),
            ("notes.md", "#"),
        ] {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let arg = dir.path().display().to_string();
        let sources = read_sources(std::slice::from_ref(&arg), &mut io::empty()).unwrap();
        let names: Vec<String> = sources
            .iter()
            .map(|s| s.name.strip_prefix(&arg).unwrap().to_string())
            .collect();
        assert_eq!(names, vec!["/a/y.yml", "/a/z.json", "/b.yaml"]);
        assert_eq!(sources[1].format, Format::Json);
    }

    #[test]
    fn stdin_is_read_once() {
        let args = vec![STDIN.to_string(), STDIN.to_string()];
        let error = read_sources(&args, &mut "a: 1".as_bytes()).unwrap_err();
        assert!(matches!(error, Error::Usage(_)), "{error:?}");
    }

    #[test]
    fn missing_paths_and_empty_directories_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().display().to_string();
        let missing = dir.path().join("nope.yaml").display().to_string();
        assert!(matches!(
            read_sources(&[empty], &mut io::empty()),
            Err(Error::EmptyDirectory { .. })
        ));
        assert!(matches!(
            read_sources(&[missing], &mut io::empty()),
            Err(Error::Read { .. })
        ));
    }
}
