//! A small writer for TOML documents with a comment above every field.
//!
//! The `toml` serializer cannot write comments, and the generated files are meant to be
//! read and edited by operators, so they are written field by field. Every value goes
//! through `toml`'s own encoding (strings are quoted and escaped by it), and each file
//! format has a test that parses what it writes back with its `deny_unknown_fields`
//! reader, so the writer and the reader cannot drift apart.

use std::fmt::Write as _;

/// A TOML document being written.
#[derive(Debug, Default)]
pub struct Document {
    text: String,
}

impl Document {
    pub fn new() -> Document {
        Document::default()
    }

    /// A comment block; each line of `text` becomes a `# ` line.
    pub fn comment(&mut self, text: &str) -> &mut Document {
        for line in text.lines() {
            if line.is_empty() {
                self.text.push_str("#\n");
            } else {
                let _ = writeln!(self.text, "# {line}");
            }
        }
        self
    }

    pub fn blank(&mut self) -> &mut Document {
        self.text.push('\n');
        self
    }

    /// A `[name]` table header, with its description above it.
    pub fn table(&mut self, doc: &str, name: &str) -> &mut Document {
        self.blank().comment(doc);
        let _ = writeln!(self.text, "[{name}]");
        self
    }

    /// A `[[name]]` array-of-tables header.
    pub fn array_table(&mut self, doc: &str, name: &str) -> &mut Document {
        self.blank().comment(doc);
        let _ = writeln!(self.text, "[[{name}]]");
        self
    }

    pub fn string(&mut self, doc: &str, key: &str, value: &str) -> &mut Document {
        self.raw(doc, key, &quote(value))
    }

    pub fn integer(&mut self, doc: &str, key: &str, value: impl Into<i128>) -> &mut Document {
        self.raw(doc, key, &value.into().to_string())
    }

    pub fn boolean(&mut self, doc: &str, key: &str, value: bool) -> &mut Document {
        self.raw(doc, key, &value.to_string())
    }

    /// An array of strings, one per line, so that long keys stay readable.
    pub fn strings(&mut self, doc: &str, key: &str, values: &[String]) -> &mut Document {
        let mut array = String::from("[");
        for value in values {
            let _ = write!(array, "\n    {},", quote(value));
        }
        if !values.is_empty() {
            array.push('\n');
        }
        array.push(']');
        self.raw(doc, key, &array)
    }

    fn raw(&mut self, doc: &str, key: &str, value: &str) -> &mut Document {
        self.comment(doc);
        let _ = writeln!(self.text, "{key} = {value}");
        self
    }

    pub fn finish(&self) -> String {
        self.text.clone()
    }
}

/// A TOML basic string, quoted and escaped by the `toml` crate.
fn quote(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_documents_parse_back() {
        let mut document = Document::new();
        document
            .comment("A header.\n\nAfter a blank comment line.")
            .string("A string.", "name", "quote \" and \\ backslash")
            .integer("An integer.", "count", 7u32)
            .boolean("A flag.", "on", true)
            .strings("A list.", "units", &["a".to_string(), "b".to_string()])
            .strings("An empty list.", "none", &[])
            .table("A table.", "protocol")
            .integer("Inside it.", "window", 256u64)
            .array_table("An entry.", "replicas")
            .string("Its address.", "address", "127.0.0.1:7100");
        let text = document.finish();
        let table: toml::Table = toml::from_str(&text).expect("valid TOML");
        assert_eq!(table["name"].as_str(), Some("quote \" and \\ backslash"));
        assert_eq!(table["count"].as_integer(), Some(7));
        assert_eq!(table["on"].as_bool(), Some(true));
        assert_eq!(table["units"].as_array().map(Vec::len), Some(2));
        assert_eq!(table["none"].as_array().map(Vec::len), Some(0));
        assert_eq!(table["protocol"]["window"].as_integer(), Some(256));
        assert!(text.contains("# A header.\n#\n# After a blank comment line.\n"));
    }
}
