//! The TOML documents `rampart init` writes: a file's own serde form, laid out by
//! `toml_edit`, with a comment above every table and every field.
//!
//! The values, their quoting and escaping, the tables and the arrays all come from the
//! same `Serialize` the reader's `Deserialize` mirrors, so what is written parses back to
//! the same settings; each file format has a test that it does, and that every field it
//! writes carries its explanation (operators read and edit these files). Only the
//! comments are added here, as the decoration `toml_edit` keeps above a key or a table
//! header.

use serde::Serialize;
use toml_edit::{DocumentMut, Item, Table};

/// Why a file could not be written as TOML.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the {file} as TOML: {source}; TOML holds integers up to 2^63 - 1 and text in \
     UTF-8"
)]
pub struct RenderError {
    pub file: &'static str,
    pub source: toml_edit::ser::Error,
}

/// A TOML document being commented.
#[derive(Debug)]
pub struct Document {
    header: String,
    document: DocumentMut,
}

impl Document {
    /// The document of `value`, laid out as `toml_edit` lays out a pretty document: tables
    /// under `[headers]`, arrays of several values one value per line. `file` names the
    /// file in the error.
    pub fn of<T: Serialize>(value: &T, file: &'static str) -> Result<Document, RenderError> {
        let failed = |source| RenderError { file, source };
        let text = toml_edit::ser::to_string_pretty(value).map_err(failed)?;
        // What the serializer wrote parses back, or the serializer has a bug; the error
        // says so rather than panicking.
        let document = text.parse::<DocumentMut>().map_err(|error| {
            failed(toml_edit::ser::Error::Custom(format!(
                "the serializer wrote TOML that does not parse: {error}"
            )))
        })?;
        Ok(Document {
            header: String::new(),
            document,
        })
    }

    /// The comment block at the top of the file, followed by a blank line.
    pub fn header(&mut self, text: &str) -> &mut Document {
        self.header = comment_lines(text) + "\n";
        self
    }

    /// The fields at the top level of the document.
    pub fn root(&mut self) -> Fields<'_> {
        Fields {
            table: self.document.as_table_mut(),
        }
    }

    pub fn finish(&self) -> String {
        format!("{}{}", self.header, self.document)
    }
}

/// The fields of one table of a [`Document`].
#[derive(Debug)]
pub struct Fields<'a> {
    table: &'a mut Table,
}

impl Fields<'_> {
    /// Puts `doc` as comment lines above `key`, after any comment already there. A key the
    /// document does not hold (an optional field left out) is passed over.
    pub fn describe(&mut self, key: &str, doc: &str) -> &mut Self {
        if let Some(mut key) = self.table.key_mut(key) {
            let decor = key.leaf_decor_mut();
            let above = decor.prefix().and_then(|raw| raw.as_str()).unwrap_or("");
            let prefix = format!("{above}{}", comment_lines(doc));
            decor.set_prefix(prefix);
        }
        self
    }

    /// Puts `doc` above the header of the table `name`, after a blank line, and lets
    /// `describe` comment its fields. A table the document does not hold is passed over.
    pub fn table(
        &mut self,
        name: &str,
        doc: &str,
        describe: impl FnOnce(&mut Fields<'_>),
    ) -> &mut Self {
        if let Some(table) = self.table.get_mut(name).and_then(Item::as_table_mut) {
            table
                .decor_mut()
                .set_prefix(format!("\n{}", comment_lines(doc)));
            describe(&mut Fields { table });
        }
        self
    }

    /// Puts `doc(index)` above the header of each entry of the array of tables `name`,
    /// after a blank line, and lets `describe` comment each entry's fields.
    pub fn entries(
        &mut self,
        name: &str,
        doc: impl Fn(usize) -> String,
        describe: impl Fn(&mut Fields<'_>),
    ) -> &mut Self {
        if let Some(entries) = self
            .table
            .get_mut(name)
            .and_then(Item::as_array_of_tables_mut)
        {
            for (index, table) in entries.iter_mut().enumerate() {
                table
                    .decor_mut()
                    .set_prefix(format!("\n{}", comment_lines(&doc(index))));
                describe(&mut Fields { table });
            }
        }
        self
    }
}

/// `text` as TOML comment lines: `# ` before each line, a bare `#` for an empty one.
fn comment_lines(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                "#\n".to_string()
            } else {
                format!("# {line}\n")
            }
        })
        .collect()
}

/// Asserts that `text` is TOML with a comment right above every table header and every
/// field: the explanations `rampart init` promises operators.
#[cfg(test)]
pub(crate) fn assert_every_field_is_commented(text: &str) {
    let document: toml_edit::DocumentMut = text.parse().expect("valid TOML");
    assert_commented(document.as_table(), "", text);
}

#[cfg(test)]
fn assert_commented(table: &toml_edit::Table, path: &str, text: &str) {
    use toml_edit::Item;

    /// Whether the last line of a decoration, just above what it decorates, is a comment.
    fn ends_in_comment(prefix: Option<&toml_edit::RawString>) -> bool {
        prefix
            .and_then(toml_edit::RawString::as_str)
            .and_then(|prefix| prefix.trim_end_matches([' ', '\t']).lines().last())
            .is_some_and(|line| line.trim_start().starts_with('#'))
    }

    for (key, item) in table.iter() {
        let path = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        match item {
            Item::Table(inner) => {
                assert!(
                    ends_in_comment(inner.decor().prefix()),
                    "[{path}] has no comment:\n{text}"
                );
                assert_commented(inner, &path, text);
            }
            Item::ArrayOfTables(entries) => {
                for (index, entry) in entries.iter().enumerate() {
                    assert!(
                        ends_in_comment(entry.decor().prefix()),
                        "[[{path}]] entry {index} has no comment:\n{text}"
                    );
                    assert_commented(entry, &format!("{path}[{index}]"), text);
                }
            }
            _ => {
                let decor = table.key(key).map(toml_edit::Key::leaf_decor);
                assert!(
                    decor.is_some_and(|decor| ends_in_comment(decor.prefix())),
                    "{path} has no comment:\n{text}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Sample {
        name: String,
        count: u32,
        on: bool,
        units: Vec<String>,
        none: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        absent: Option<u32>,
        protocol: Window,
        replicas: Vec<Address>,
    }

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Window {
        window: u64,
    }

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Address {
        address: String,
    }

    fn sample() -> Sample {
        Sample {
            name: "quote \" and \\ backslash".to_string(),
            count: 7,
            on: true,
            units: vec!["a".to_string(), "b".to_string()],
            none: Vec::new(),
            absent: None,
            protocol: Window { window: 256 },
            replicas: vec![
                Address {
                    address: "127.0.0.1:7100".to_string(),
                },
                Address {
                    address: "127.0.0.1:7101".to_string(),
                },
            ],
        }
    }

    #[test]
    fn written_documents_parse_back_with_their_comments() {
        let mut document = Document::of(&sample(), "sample file").expect("serializes");
        document
            .header("A header.\n\nAfter a blank comment line.")
            .root()
            .describe("name", "A string.")
            .describe("count", "An integer.")
            .describe("on", "A flag.")
            .describe("units", "A list.")
            .describe("none", "An empty list.")
            .describe("absent", "Left out, so not written.")
            .table("protocol", "A table.", |protocol| {
                protocol.describe("window", "Inside it.");
            })
            .entries(
                "replicas",
                |index| format!("Entry {index}."),
                |entry| {
                    entry.describe("address", "Its address.");
                },
            );
        let text = document.finish();
        assert_eq!(toml::from_str::<Sample>(&text), Ok(sample()), "{text}");
        assert_every_field_is_commented(&text);
        assert!(
            text.starts_with(
                "# A header.\n#\n# After a blank comment line.\n\n# A string.\nname = "
            ),
            "{text}"
        );
        assert!(
            text.contains("\n\n# A table.\n[protocol]\n# Inside it.\nwindow = 256\n"),
            "{text}"
        );
        assert!(
            text.contains("\n\n# Entry 1.\n[[replicas]]\n# Its address.\n"),
            "{text}"
        );
        assert!(
            text.contains("units = [\n    \"a\",\n    \"b\",\n]\n"),
            "one value a line: {text}"
        );
        assert!(
            !text.contains("absent") && !text.contains("Left out"),
            "{text}"
        );
    }

    #[test]
    fn comments_above_one_field_add_up() {
        let mut document = Document::of(&Window { window: 3 }, "sample file").expect("serializes");
        document
            .root()
            .describe("window", "An example:\nwindow = 4")
            .describe("window", "The window.");
        assert_eq!(
            document.finish(),
            "# An example:\n# window = 4\n# The window.\nwindow = 3\n"
        );
    }

    #[test]
    fn values_toml_cannot_hold_are_refused_naming_the_file() {
        #[derive(Serialize)]
        struct Huge {
            bytes: u64,
        }
        let error = Document::of(&Huge { bytes: u64::MAX }, "replica file").expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("cannot write the replica file as TOML"),
            "{error}"
        );
    }

    #[test]
    fn a_field_or_a_table_without_its_comment_is_found() {
        for text in [
            "# The count.\ncount = 1\nwindow = 2\n",
            "# The count.\ncount = 1\n\n[protocol]\n# The window.\nwindow = 2\n",
            "# A header.\n\ncount = 1\n",
            "# Replica 0.\n[[replicas]]\n# Its key.\nkey = \"a\"\n\n[[replicas]]\n# Its key.\nkey = \"b\"\n",
        ] {
            let found = std::panic::catch_unwind(|| assert_every_field_is_commented(text));
            assert!(found.is_err(), "{text}");
        }
        assert_every_field_is_commented("# A header.\n\n# The count.\ncount = 1\n");
    }
}
