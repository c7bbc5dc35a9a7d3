//! A small reader over the spanned TOML tree that remembers, for every
//! value, its dotted key path and line, so each refusal can say where it
//! is. Tables refuse keys nobody asked for ([`Table::finish`]).

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::ConfigError;

/// The file being read: its name (for messages) and its text (for lines).
#[derive(Clone, Copy)]
pub(crate) struct Source<'t> {
    pub(crate) file: &'t str,
    pub(crate) text: &'t str,
}

impl Source<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, column)
    }

    /// An [`ConfigError::Invalid`] at `span` for `key`.
    pub(crate) fn invalid(
        &self,
        span: &Range<usize>,
        key: &str,
        reason: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line: self.line_column(span.start).0,
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// `parent.key`, quoting keys that are not bare TOML keys.
pub(crate) fn join(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let key = if bare {
        key.to_owned()
    } else {
        format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// One value with where it came from.
#[derive(Clone)]
pub(crate) struct Node<'a, 'i> {
    pub(crate) src: Source<'a>,
    pub(crate) path: String,
    pub(crate) span: Range<usize>,
    pub(crate) value: &'a DeValue<'i>,
}

impl<'a, 'i> Node<'a, 'i> {
    pub(crate) fn err(&self, reason: impl Into<String>) -> ConfigError {
        self.src.invalid(&self.span, &self.path, reason)
    }

    fn wrong_type(&self, expected: &str) -> ConfigError {
        self.err(format!(
            "expected {expected}, found {}",
            self.value.type_str()
        ))
    }

    pub(crate) fn str(&self) -> Result<&'a str, ConfigError> {
        self.value
            .as_str()
            .ok_or_else(|| self.wrong_type("a string"))
    }

    /// A non-empty string.
    pub(crate) fn text(&self) -> Result<&'a str, ConfigError> {
        let s = self.str()?;
        if s.trim().is_empty() {
            return Err(self.err("must not be empty"));
        }
        Ok(s)
    }

    /// An integer in `min..=max`.
    pub(crate) fn int(&self, min: u64, max: u64) -> Result<u64, ConfigError> {
        let int = self
            .value
            .as_integer()
            .ok_or_else(|| self.wrong_type("an integer"))?;
        let n = i128::from_str_radix(int.as_str(), int.radix())
            .map_err(|_| self.err("integer out of range"))?;
        if n < i128::from(min) || n > i128::from(max) {
            return Err(self.err(format!("must be between {min} and {max}, found {n}")));
        }
        u64::try_from(n).map_err(|_| self.err("integer out of range"))
    }

    pub(crate) fn u32(&self, min: u32) -> Result<u32, ConfigError> {
        let n = self.int(u64::from(min), u64::from(u32::MAX))?;
        u32::try_from(n).map_err(|_| self.err("integer out of range"))
    }

    pub(crate) fn u16(&self, min: u16) -> Result<u16, ConfigError> {
        let n = self.int(u64::from(min), u64::from(u16::MAX))?;
        u16::try_from(n).map_err(|_| self.err("integer out of range"))
    }

    pub(crate) fn usize(&self, min: usize, max: usize) -> Result<usize, ConfigError> {
        let n = self.int(min as u64, max as u64)?;
        usize::try_from(n).map_err(|_| self.err("integer out of range"))
    }

    /// The elements of an array, each with its `path[i]`.
    pub(crate) fn array(&self) -> Result<Vec<Node<'a, 'i>>, ConfigError> {
        let array = self
            .value
            .as_array()
            .ok_or_else(|| self.wrong_type("an array"))?;
        Ok(array
            .iter()
            .enumerate()
            .map(|(i, v)| Node {
                src: self.src,
                path: format!("{}[{i}]", self.path),
                span: v.span(),
                value: v.get_ref(),
            })
            .collect())
    }

    /// Every element of an array parsed by `f`.
    pub(crate) fn list<T>(
        &self,
        mut f: impl FnMut(&Node<'a, 'i>) -> Result<T, ConfigError>,
    ) -> Result<Vec<T>, ConfigError> {
        self.array()?.iter().map(&mut f).collect()
    }

    pub(crate) fn table(&self) -> Result<Table<'a, 'i>, ConfigError> {
        let table = self
            .value
            .as_table()
            .ok_or_else(|| self.wrong_type("a table"))?;
        Ok(Table::new(
            self.src,
            self.path.clone(),
            self.span.clone(),
            table,
        ))
    }
}

/// A table whose keys are taken one by one; [`Table::finish`] refuses the
/// rest.
pub(crate) struct Table<'a, 'i> {
    src: Source<'a>,
    pub(crate) path: String,
    pub(crate) span: Range<usize>,
    entries: Vec<(
        &'a Spanned<std::borrow::Cow<'i, str>>,
        &'a Spanned<DeValue<'i>>,
    )>,
    used: Vec<bool>,
    /// Keys asked for so far: the known keys named when refusing another.
    asked: Vec<&'static str>,
}

impl<'a, 'i> Table<'a, 'i> {
    pub(crate) fn new(
        src: Source<'a>,
        path: String,
        span: Range<usize>,
        table: &'a DeTable<'i>,
    ) -> Table<'a, 'i> {
        let entries: Vec<_> = table.iter().collect();
        let used = vec![false; entries.len()];
        Table {
            src,
            path,
            span,
            entries,
            used,
            asked: Vec::new(),
        }
    }

    pub(crate) fn err(&self, reason: impl Into<String>) -> ConfigError {
        self.src.invalid(&self.span, &self.path, reason)
    }

    fn node(&self, index: usize) -> Option<Node<'a, 'i>> {
        let (key, value) = self.entries.get(index)?;
        Some(Node {
            src: self.src,
            path: join(&self.path, key.get_ref()),
            span: value.span(),
            value: value.get_ref(),
        })
    }

    /// The value of `key`, if present.
    pub(crate) fn opt(&mut self, key: &'static str) -> Option<Node<'a, 'i>> {
        self.asked.push(key);
        let index = self
            .entries
            .iter()
            .position(|(k, _)| k.get_ref().as_ref() == key)?;
        if let Some(used) = self.used.get_mut(index) {
            *used = true;
        }
        self.node(index)
    }

    /// The value of `key`, or an error naming the missing key.
    pub(crate) fn req(&mut self, key: &'static str) -> Result<Node<'a, 'i>, ConfigError> {
        match self.opt(key) {
            Some(node) => Ok(node),
            None => {
                Err(self
                    .src
                    .invalid(&self.span, &join(&self.path, key), "missing required key"))
            }
        }
    }

    /// `f` applied to the value of `key`, if present.
    pub(crate) fn map<T>(
        &mut self,
        key: &'static str,
        f: impl FnOnce(&Node<'a, 'i>) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        self.opt(key).map(|node| f(&node)).transpose()
    }

    /// The table under `key`, or an empty one (for optional sections whose
    /// keys all have defaults).
    pub(crate) fn table_or_empty(
        &mut self,
        key: &'static str,
        empty: &'a DeTable<'i>,
    ) -> Result<Table<'a, 'i>, ConfigError> {
        match self.opt(key) {
            Some(node) => node.table(),
            None => Ok(Table::new(
                self.src,
                join(&self.path, key),
                self.span.clone(),
                empty,
            )),
        }
    }

    /// Every entry, for tables whose keys are names chosen by the user.
    pub(crate) fn all(&mut self) -> Vec<(&'a str, Node<'a, 'i>)> {
        self.used.iter_mut().for_each(|u| *u = true);
        (0..self.entries.len())
            .filter_map(|i| {
                let (key, _) = self.entries.get(i)?;
                Some((key.get_ref().as_ref(), self.node(i)?))
            })
            .collect()
    }

    /// Refuses the first key that was never asked for.
    pub(crate) fn finish(self) -> Result<(), ConfigError> {
        let unused = self
            .entries
            .iter()
            .zip(&self.used)
            .find(|(_, used)| !**used);
        match unused {
            None => Ok(()),
            Some(((key, _), _)) => Err(self.src.invalid(
                &key.span(),
                &join(&self.path, key.get_ref()),
                if self.asked.is_empty() {
                    "unknown key".to_owned()
                } else {
                    format!("unknown key (expected one of: {})", self.asked.join(", "))
                },
            )),
        }
    }
}
