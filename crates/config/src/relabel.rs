//! Relabeling: the rules of `relabel_configs` (and `metric_relabel_configs`) in
//! `prometheus.yml`, and [`process`], which rewrites a label set by them, as Prometheus's
//! `model/relabel` package does.
//!
//! A [`RelabelConfig`] is checked while it is read, with Prometheus's own error messages, and the
//! error names the line of the rule. A rule that loaded can always be applied: [`process`] never
//! fails, it only keeps, changes or drops the label set. It follows Prometheus's `relabel()` step
//! by step, corner cases included: a `replace` whose expanded target is no valid label name does
//! nothing, an empty result removes the label, `labelmap` reads the labels as they were when the
//! rule started, and when two labels map to one name the one Prometheus visits last wins.
//!
//! Label names are the classic `[a-zA-Z_][a-zA-Z0-9_]*` ([`LabelName`]), so rules are checked
//! as under Prometheus's legacy name validation; Prometheus 3's default UTF-8 validation would
//! accept more target labels (`foo.bar`).
//!
//! Regexes are RE2 in Prometheus; they are compiled with RE2's meaning (`narthex_model::re2`),
//! anchored as Prometheus 3 anchors them: `^(?s:RE)$`, so `.` also matches a newline.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use md5::{Digest, Md5};
use narthex_model::{ArcStr, Label, Labels, LabelsBuilder};
use serde::de::{self, value::MapAccessDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::LabelName;

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// The regex of a rule that names none.
static DEFAULT_COMPILED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(DEFAULT_REGEX).expect("the default regex compiles"));

/// Prometheus's `relabelTargetLegacy`: a label name in which `$1`, `${1}` or `$name` may stand
/// for parts that the match fills in. `\w` is written out because it is ASCII in RE2.
static TARGET_WITH_VARIABLES: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$")
        .expect("static regex")
});

/// The characters Go's `Regexp.Expand` takes into a `$name`: Unicode letters and decimal digits
/// (Go's `unicode.IsLetter` and `unicode.IsDigit`) and `_`.
static TEMPLATE_NAME: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[\p{L}\p{Nd}_]+").expect("static regex"));

/// Why a relabeling rule was refused. The texts are Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    #[error("relabel action cannot be empty")]
    EmptyAction,
    #[error("unknown relabel action {0:?}")]
    UnknownAction(String),
    /// As Go's regexp package words it, on the anchored pattern Prometheus compiles.
    #[error("error parsing regexp: {message}")]
    InvalidRegex { regex: String, message: String },
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    MissingTargetLabel(Action),
    #[error("{target_label:?} is invalid 'target_label' for {action} action")]
    InvalidTargetLabel {
        target_label: String,
        action: Action,
    },
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    #[error("{replacement:?} is invalid 'replacement' for {action} action")]
    InvalidReplacement { replacement: String, action: Action },
    #[error("{0} action requires only 'source_labels' and `target_label`, and no other fields")]
    OnlySourceAndTargetLabels(Action),
    #[error("{0} action requires only 'regex', and no other fields")]
    OnlyRegex(Action),
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Writes the expanded `replacement` to the expanded `target_label` when `regex` matches.
    Replace,
    /// Drops the label set unless `regex` matches the source value.
    Keep,
    /// Drops the label set when `regex` matches the source value.
    Drop,
    /// Drops the label set unless the source value equals `target_label`'s value.
    KeepEqual,
    /// Drops the label set when the source value equals `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to the md5 of the source value modulo `modulus`.
    HashMod,
    /// Copies every label whose name `regex` matches to the name `replacement` expands to.
    LabelMap,
    /// Removes every label whose name `regex` matches.
    LabelDrop,
    /// Removes every label whose name `regex` does not match.
    LabelKeep,
    /// Sets `target_label` to the source value in lower case.
    Lowercase,
    /// Sets `target_label` to the source value in upper case.
    Uppercase,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The name as `prometheus.yml` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Case-insensitive, as Prometheus reads it (`Keep`, `LABELMAP`).
impl FromStr for Action {
    type Err = RelabelError;

    fn from_str(text: &str) -> Result<Action, RelabelError> {
        let lower = go_to_lower(text);
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == lower)
            .ok_or_else(|| RelabelError::UnknownAction(text.to_string()))
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(CheckedStr("a relabel action", |text: &str| text.parse()))
    }
}

/// Reads a string and checks it inside `visit_str`, so that serde_yaml places an error at the
/// value's own line rather than at the start of the mapping that holds it.
struct CheckedStr<F>(&'static str, F);

impl<'de, T, F> Visitor<'de> for CheckedStr<F>
where
    F: FnOnce(&str) -> Result<T, RelabelError>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.1)(text).map_err(E::custom)
    }
}

/// A relabeling regex: anchored at both ends, and shown as it was written.
#[derive(Clone)]
pub struct Regex {
    source: String,
    compiled: regex::Regex,
}

impl Regex {
    /// Compiles `source` as Prometheus does, `^(?s:source)$`, with RE2's meaning (see the
    /// module documentation).
    pub fn new(source: &str) -> Result<Regex, RelabelError> {
        // Wrapped before parsing, as Prometheus does: what it accepts is what the wrapped
        // text accepts (`a)|(b` is a valid, if odd, regex to it).
        let anchored = format!("^(?s:{source})$");
        let compiled = narthex_model::re2::compile(&anchored).map_err(|message| {
            RelabelError::InvalidRegex {
                regex: source.to_string(),
                message: message.to_string(),
            }
        })?;
        Ok(Regex {
            source: source.to_string(),
            compiled,
        })
    }

    /// The regex as written, without the anchors.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the regex matches all of `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled.is_match(text)
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.source == other.source
    }
}

impl Eq for Regex {}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Regex").field(&self.source).finish()
    }
}

impl fmt::Display for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for Regex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(CheckedStr("a regular expression", Regex::new))
    }
}

/// A `replacement` or `target_label` with `$1`, `${1}`, `$name` in it, parsed once against its
/// rule's regex with the rules of Go's `Regexp.Expand`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
}

impl Template {
    fn parse(mut rest: &str, regex: &regex::Regex) -> Template {
        let mut pieces = Vec::new();
        let mut text = String::new();
        while let Some(dollar) = rest.find('$') {
            text.push_str(&rest[..dollar]);
            rest = &rest[dollar + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                text.push('$');
                rest = after;
                continue;
            }
            let Some((name, after)) = split_reference(rest) else {
                // Go keeps a `$` that starts no reference as it is.
                text.push('$');
                continue;
            };
            rest = after;
            // A reference to no group expands to nothing, as in Go.
            if let Some(group) = resolve_group(name, regex) {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Group(group));
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Template { pieces }
    }

    fn expand<'t>(&'t self, captures: &regex::Captures<'_>) -> Cow<'t, str> {
        match self.pieces.as_slice() {
            [] => Cow::Borrowed(""),
            [Piece::Text(text)] => Cow::Borrowed(text),
            pieces => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => out.push_str(text),
                        Piece::Group(group) => {
                            if let Some(m) = captures.get(*group) {
                                out.push_str(m.as_str());
                            }
                        }
                    }
                }
                Cow::Owned(out)
            }
        }
    }
}

/// Go's `extract`: the name after a `$`, bare (as long as it goes: `$1x` names `1x`) or in
/// braces, and the text after it.
fn split_reference(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let length = TEMPLATE_NAME.find(body)?.end();
    let (name, after) = body.split_at(length);
    if braced {
        Some((name, after.strip_prefix('}')?))
    } else {
        Some((name, after))
    }
}

/// The group a name refers to: a number (Go's: no leading zero, below 10^9), else a group name.
fn resolve_group(name: &str, regex: &regex::Regex) -> Option<usize> {
    let mut number: Option<usize> = Some(0);
    for byte in name.bytes() {
        number = match number {
            Some(n) if byte.is_ascii_digit() && n < 100_000_000 => {
                Some(n * 10 + usize::from(byte - b'0'))
            }
            _ => None,
        };
    }
    if name.len() > 1 && name.starts_with('0') {
        number = None;
    }
    match number {
        Some(group) => (group < regex.captures_len()).then_some(group),
        None => regex.capture_names().position(|n| n == Some(name)),
    }
}

/// One relabeling rule, checked. Built by reading YAML; the fields are read-only so that a rule
/// stays as it was checked.
#[derive(Clone, PartialEq)]
pub struct RelabelConfig {
    source_labels: Vec<LabelName>,
    separator: String,
    /// `None` when the file names no regex: Prometheus tells that apart from `(.*)` written out
    /// (`keepequal` refuses the latter) and does not show it.
    regex: Option<Regex>,
    modulus: u64,
    target_label: String,
    replacement: String,
    action: Action,
    target_template: Template,
    replacement_template: Template,
}

impl RelabelConfig {
    pub fn source_labels(&self) -> &[LabelName] {
        &self.source_labels
    }

    pub fn separator(&self) -> &str {
        &self.separator
    }

    /// The regex, `(.*)` when the file names none.
    pub fn regex(&self) -> &Regex {
        self.regex.as_ref().unwrap_or(&DEFAULT_COMPILED)
    }

    pub fn modulus(&self) -> u64 {
        self.modulus
    }

    pub fn target_label(&self) -> &str {
        &self.target_label
    }

    pub fn replacement(&self) -> &str {
        &self.replacement
    }

    pub fn action(&self) -> Action {
        self.action
    }

    fn from_raw(raw: RawRelabelConfig) -> Result<RelabelConfig, RelabelError> {
        raw.validate()?;
        let compiled = &raw.regex.as_ref().unwrap_or(&DEFAULT_COMPILED).compiled;
        let target_template = Template::parse(&raw.target_label, compiled);
        let replacement_template = Template::parse(&raw.replacement, compiled);
        Ok(RelabelConfig {
            source_labels: raw.source_labels.unwrap_or_default(),
            separator: raw.separator,
            regex: raw.regex,
            modulus: raw.modulus,
            target_label: raw.target_label,
            replacement: raw.replacement,
            action: raw.action,
            target_template,
            replacement_template,
        })
    }

    /// Prometheus's `relabel()`: false when the label set is to be dropped.
    fn apply(&self, labels: &mut Builder<'_>) -> bool {
        let value = self.source_value(labels);
        match self.action {
            Action::Drop => return !self.regex().is_match(&value),
            Action::Keep => return self.regex().is_match(&value),
            Action::DropEqual => return labels.get(&self.target_label) != value,
            Action::KeepEqual => return labels.get(&self.target_label) == value,
            Action::Replace => self.replace(labels, &value),
            Action::Lowercase => labels.set(&self.target_label, go_to_lower(&value)),
            Action::Uppercase => labels.set(&self.target_label, go_to_upper(&value)),
            Action::HashMod => {
                let bucket = hash_bucket(&value, self.modulus);
                labels.set(&self.target_label, bucket.to_string());
            }
            Action::LabelMap => {
                let regex = &self.regex().compiled;
                // Prometheus visits the labels as they were when the rule started, so all
                // copies can be worked out before any is made; their order decides collisions.
                let copies: Vec<(String, ArcStr)> = labels
                    .iter()
                    .filter(|label| regex.is_match(&label.name))
                    .map(|label| {
                        let name = regex.replace_all(&label.name, |captures: &regex::Captures| {
                            self.replacement_template.expand(captures)
                        });
                        (name.into_owned(), label.value.clone())
                    })
                    .collect();
                for (name, value) in copies {
                    labels.set(&name, value);
                }
            }
            Action::LabelDrop | Action::LabelKeep => {
                let drop_matching = self.action == Action::LabelDrop;
                let doomed: Vec<ArcStr> = labels
                    .iter()
                    .filter(|label| self.regex().is_match(&label.name) == drop_matching)
                    .map(|label| label.name.clone())
                    .collect();
                for name in doomed {
                    labels.del(&name);
                }
            }
        }
        true
    }

    /// The source labels' values joined by the separator; an absent label counts as empty.
    fn source_value(&self, labels: &Builder<'_>) -> String {
        let mut value = String::new();
        for (i, name) in self.source_labels.iter().enumerate() {
            if i > 0 {
                value.push_str(&self.separator);
            }
            value.push_str(labels.get(name.as_str()));
        }
        value
    }

    fn replace(&self, labels: &mut Builder<'_>, value: &str) {
        // Prometheus's shortcut for a constant label: no regex to run. It gives what the
        // general path would.
        if value.is_empty()
            && self.regex.is_none()
            && !self.target_label.contains('$')
            && !self.replacement.contains('$')
        {
            labels.set(&self.target_label, self.replacement.clone());
            return;
        }
        let Some(captures) = self.regex().compiled.captures(value) else {
            return;
        };
        let target = self.target_template.expand(&captures);
        if !LabelName::is_valid(&target) {
            return;
        }
        let result = self.replacement_template.expand(&captures).into_owned();
        labels.set(&target, result);
    }
}

impl fmt::Debug for RelabelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelabelConfig")
            .field("source_labels", &self.source_labels)
            .field("separator", &self.separator)
            .field("regex", self.regex())
            .field("modulus", &self.modulus)
            .field("target_label", &self.target_label)
            .field("replacement", &self.replacement)
            .field("action", &self.action)
            .finish()
    }
}

/// A rule as written. A field set to null (`replacement:` with nothing after it) takes its
/// type's empty value rather than the default, as in Prometheus's YAML reader.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabelConfig {
    /// `Some` when written at all: `labeldrop` refuses even `source_labels: []`, as in Prometheus.
    #[serde(default)]
    source_labels: Option<Vec<LabelName>>,
    #[serde(default = "default_separator", deserialize_with = "string_or_null")]
    separator: String,
    #[serde(default, deserialize_with = "regex_or_null")]
    regex: Option<Regex>,
    #[serde(default, deserialize_with = "modulus_or_null")]
    modulus: u64,
    #[serde(default, deserialize_with = "string_or_null")]
    target_label: String,
    #[serde(default = "default_replacement", deserialize_with = "string_or_null")]
    replacement: String,
    #[serde(default = "default_action", deserialize_with = "action_not_null")]
    action: Action,
}

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_string()
}

fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.to_string()
}

fn default_action() -> Action {
    Action::Replace
}

fn string_or_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

fn modulus_or_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(deserializer)?.unwrap_or_default())
}

/// `regex:` with nothing is the empty regex, which matches only the empty value, as in
/// Prometheus.
fn regex_or_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Regex>, D::Error> {
    deserializer.deserialize_option(NullOr("a regular expression", || Regex::new("").map(Some)))
}

fn action_not_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Action, D::Error> {
    let action = deserializer.deserialize_option(NullOr("a relabel action", || {
        Err(RelabelError::EmptyAction)
    }))?;
    action.ok_or_else(|| de::Error::custom(RelabelError::EmptyAction))
}

/// A value that may be null, with what null stands for; like [`CheckedStr`], errors are raised
/// where serde_yaml places them at the value.
struct NullOr<F>(&'static str, F);

impl<'de, T, F> Visitor<'de> for NullOr<F>
where
    T: Deserialize<'de>,
    F: FnOnce() -> Result<Option<T>, RelabelError>,
{
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        (self.1)().map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        self.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        T::deserialize(deserializer).map(Some)
    }
}

impl RawRelabelConfig {
    /// Prometheus's `Config.Validate`, check for check and in its order.
    fn validate(&self) -> Result<(), RelabelError> {
        use Action::*;
        let action = self.action;
        let target = self.target_label.as_str();
        let invalid_target = || RelabelError::InvalidTargetLabel {
            target_label: target.to_string(),
            action,
        };
        if action == HashMod && self.modulus == 0 {
            return Err(RelabelError::ZeroModulus);
        }
        let sets_target = matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if sets_target && target.is_empty() {
            return Err(RelabelError::MissingTargetLabel(action));
        }
        if action == Replace {
            let valid = if target.contains('$') {
                TARGET_WITH_VARIABLES.is_match(target)
            } else {
                LabelName::is_valid(target)
            };
            if !valid {
                return Err(invalid_target());
            }
        }
        let plain_target = matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual);
        if plain_target && !LabelName::is_valid(target) {
            return Err(invalid_target());
        }
        if plain_target && self.replacement != DEFAULT_REPLACEMENT {
            return Err(RelabelError::ReplacementNotAllowed(action));
        }
        if action == LabelMap && !TARGET_WITH_VARIABLES.is_match(&self.replacement) {
            return Err(RelabelError::InvalidReplacement {
                replacement: self.replacement.clone(),
                action,
            });
        }
        if action == HashMod && !LabelName::is_valid(target) {
            return Err(invalid_target());
        }
        let defaults_kept = self.modulus == 0
            && self.separator == DEFAULT_SEPARATOR
            && self.replacement == DEFAULT_REPLACEMENT;
        if matches!(action, KeepEqual | DropEqual) && (self.regex.is_some() || !defaults_kept) {
            return Err(RelabelError::OnlySourceAndTargetLabels(action));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (self.source_labels.is_some() || !target.is_empty() || !defaults_kept)
        {
            return Err(RelabelError::OnlyRegex(action));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for RelabelConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RelabelConfigVisitor)
    }
}

/// Checks the rule inside `visit_map`: an error raised there is placed by serde_yaml at the
/// rule's own line, where one raised after reading (`#[serde(try_from)]`) would get the line of
/// the enclosing list.
struct RelabelConfigVisitor;

impl<'de> Visitor<'de> for RelabelConfigVisitor {
    type Value = RelabelConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a relabeling rule")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RelabelConfig, A::Error> {
        let raw = RawRelabelConfig::deserialize(MapAccessDeserializer::new(map))?;
        RelabelConfig::from_raw(raw).map_err(de::Error::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<RelabelConfig, E> {
        Err(E::custom("empty or null relabeling rule"))
    }

    fn visit_none<E: de::Error>(self) -> Result<RelabelConfig, E> {
        self.visit_unit()
    }
}

/// Written as Prometheus writes it back: fields left at their empty value are left out, and so
/// is a regex the file did not name. Unlike Prometheus an empty separator or replacement is kept,
/// since leaving it out would read back as the default.
impl Serialize for RelabelConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            #[serde(skip_serializing_if = "<[LabelName]>::is_empty")]
            source_labels: &'a [LabelName],
            separator: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            regex: Option<&'a Regex>,
            #[serde(skip_serializing_if = "is_zero")]
            modulus: u64,
            #[serde(skip_serializing_if = "str::is_empty")]
            target_label: &'a str,
            replacement: &'a str,
            action: Action,
        }
        Shown {
            source_labels: &self.source_labels,
            separator: &self.separator,
            regex: self.regex.as_ref(),
            modulus: self.modulus,
            target_label: &self.target_label,
            replacement: &self.replacement,
            action: self.action,
        }
        .serialize(serializer)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Applies the rules in order. `None` when a rule drops the label set. When no rule changes
/// anything the result is `labels` itself (a reference-count bump).
pub fn process(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut builder = Builder::new(labels);
    for config in configs {
        if !config.apply(&mut builder) {
            return None;
        }
    }
    Some(builder.build())
}

/// The bucket `hashmod` assigns: md5 of the value, its last 8 bytes read big-endian, modulo
/// `modulus` (Prometheus's `binary.BigEndian.Uint64(hash[8:]) % modulus`).
fn hash_bucket(value: &str, modulus: u64) -> u64 {
    let hash = Md5::digest(value.as_bytes());
    let mut low = [0u8; 8];
    low.copy_from_slice(&hash[8..]);
    // Never zero: a hashmod rule with modulus 0 is refused when read.
    u64::from_be_bytes(low) % modulus
}

/// Prometheus's `labels.Builder`: changes kept beside the untouched base set. Its visiting order
/// (untouched labels in order, then added ones in the order they were added) is what decides
/// which of two labels `labelmap` maps to one name wins, so it is kept here.
struct Builder<'a> {
    base: &'a Labels,
    add: Vec<Label>,
    del: Vec<String>,
}

impl<'a> Builder<'a> {
    fn new(base: &'a Labels) -> Builder<'a> {
        Builder {
            base,
            add: Vec::new(),
            del: Vec::new(),
        }
    }

    /// The value of `name`, empty when absent.
    fn get(&self, name: &str) -> &str {
        if let Some(label) = self.add.iter().find(|l| l.name == name) {
            return &label.value;
        }
        if self.del.iter().any(|d| d == name) {
            return "";
        }
        self.base.get(name).unwrap_or("")
    }

    /// Sets `name`; an empty value removes it, as an empty label is an absent one.
    fn set(&mut self, name: &str, value: impl Into<ArcStr>) {
        let value = value.into();
        if value.is_empty() {
            return self.del(name);
        }
        if let Some(label) = self.add.iter_mut().find(|l| l.name == name) {
            label.value = value;
            return;
        }
        self.add.push(Label::new(name, value));
    }

    fn del(&mut self, name: &str) {
        self.add.retain(|l| l.name != name);
        if !self.del.iter().any(|d| d == name) {
            self.del.push(name.to_string());
        }
    }

    fn is_untouched(&self, label: &Label) -> bool {
        !self.del.iter().any(|d| *d == label.name.as_str())
            && !self.add.iter().any(|a| a.name == label.name)
    }

    /// The current labels in Prometheus's `Builder.Range` order.
    fn iter(&self) -> impl Iterator<Item = &Label> {
        self.base
            .iter()
            .filter(|label| self.is_untouched(label))
            .chain(self.add.iter())
    }

    fn build(self) -> Labels {
        if self.add.is_empty() && self.del.is_empty() {
            return self.base.clone();
        }
        let mut builder = LabelsBuilder::with_capacity(self.base.len() + self.add.len());
        for label in self.base.iter().filter(|label| self.is_untouched(label)) {
            builder.set(label.name.clone(), label.value.clone());
        }
        for label in self.add {
            builder.set(label.name, label.value);
        }
        let built = builder.build();
        // Rules that changed nothing in the end still hand back the caller's allocation, so
        // that callers comparing by pointer see the same set.
        if built == *self.base {
            self.base.clone()
        } else {
            built
        }
    }
}

/// Go's `strings.ToLower`: each character's simple lower-case mapping. Rust's `to_lowercase`
/// applies the full mapping instead, which differs for `İ` and for a word-final `Σ`.
fn go_to_lower(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(single), None) => single,
                // U+0130 is the only character whose full lower case is longer.
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.ToUpper`: each character's simple upper-case mapping, where Rust's
/// `to_uppercase` would turn `ß` into `SS`.
fn go_to_upper(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(single), None) => single,
                // Greek letters with ypogegrammeni: the simple mapping is the title-case
                // letter (8 code points on, or the ...C form), the full one spells out the iota.
                _ => match c {
                    '\u{1F80}'..='\u{1F87}' | '\u{1F90}'..='\u{1F97}' | '\u{1FA0}'..='\u{1FA7}' => {
                        char::from_u32(u32::from(c) + 8).unwrap_or(c)
                    }
                    '\u{1FB3}' => '\u{1FBC}',
                    '\u{1FC3}' => '\u{1FCC}',
                    '\u{1FF3}' => '\u{1FFC}',
                    _ => c,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str, regex: &str) -> Template {
        Template::parse(text, &Regex::new(regex).unwrap().compiled)
    }

    fn expand(text: &str, regex: &str, value: &str) -> String {
        let compiled = Regex::new(regex).unwrap().compiled;
        let captures = compiled.captures(value).unwrap();
        Template::parse(text, &compiled)
            .expand(&captures)
            .into_owned()
    }

    #[test]
    fn templates_follow_go_expand() {
        let re = "(?P<first>a)(b)(c)?";
        let cases = [
            ("$1", "a"),
            ("${1}", "a"),
            ("$2$1", "ba"),
            ("$1x", ""),            // the group named `1x`, which does not exist
            ("${1}x", "ax"),        //
            ("$first-$2", "a-b"),   // `-` ends a bare name
            ("${first}_$2", "a_b"), //
            ("$first_$2", "b"),     // `first_` is no group
            ("$3", ""),             // a group that did not take part
            ("$4", ""),             // a group that does not exist
            ("$0", "ab"),
            ("$01", ""), // a leading zero makes it a name
            ("$$1", "$1"),
            ("$", "$"),
            ("a$", "a$"),
            ("${", "${"),
            ("${1", "${1"),
            ("${}", "${}"),
            ("${+1}", "${+1}"),
            ("$-1", "$-1"),
            ("$é", ""), // Go's names take Unicode letters
            ("${é}x", "x"),
            ("$1é", ""),
            ("$1\u{0301}", "a\u{0301}"), // but not combining marks
            ("$100000000", ""),
            ("$1000000000", ""),
            ("plain", "plain"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(expand(text, re, "ab"), want, "{text:?}");
        }
    }

    #[test]
    fn constant_templates_are_one_piece() {
        assert_eq!(template("foo", "(.*)").pieces, [Piece::Text("foo".into())]);
        assert_eq!(template("$9", "(.*)").pieces, []);
        assert_eq!(
            template("a${1}b", "(.*)").pieces,
            [
                Piece::Text("a".into()),
                Piece::Group(1),
                Piece::Text("b".into())
            ]
        );
    }

    #[test]
    fn builder_visits_like_prometheus() {
        let base = Labels::from_pairs([("a", "1"), ("b", "2"), ("c", "3")]);
        let mut builder = Builder::new(&base);
        builder.set("b", "20");
        builder.set("0", "0");
        builder.del("c");
        builder.set("c", "30");
        let order: Vec<_> = builder
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(order, [("a", "1"), ("b", "20"), ("0", "0"), ("c", "30")]);
        assert_eq!(builder.get("c"), "30");
        builder.set("a", String::new());
        assert_eq!(builder.get("a"), "");
        assert_eq!(builder.get("missing"), "");
        let built = builder.build();
        assert_eq!(
            built,
            Labels::from_pairs([("0", "0"), ("b", "20"), ("c", "30")])
        );
    }

    #[test]
    fn unchanged_sets_come_back_shared() {
        let base = Labels::from_pairs([("a", "1")]);
        assert!(Builder::new(&base).build().ptr_eq(&base));
        let mut builder = Builder::new(&base);
        builder.set("a", "1");
        assert!(builder.build().ptr_eq(&base));
    }

    #[test]
    fn case_mapping_is_go_simple_mapping() {
        assert_eq!(go_to_upper("bAr123Foo"), "BAR123FOO");
        assert_eq!(go_to_lower("bAr123Foo"), "bar123foo");
        assert_eq!(go_to_upper("straße"), "STRAßE");
        assert_eq!(go_to_lower("İSTANBUL"), "istanbul");
        assert_eq!(go_to_lower("ΟΔΟΣ"), "οδοσ");
        assert_eq!(go_to_upper("ᾳ ᾀ ῳ ŉ"), "ᾼ ᾈ ῼ ŉ");
        assert_eq!(go_to_lower("\u{212A}"), "k");
    }

    #[test]
    fn hash_bucket_uses_the_low_half_big_endian() {
        // md5("baz") = 73feffa4b7f6bb68e44cf984c85f6e88; 0xe44cf984c85f6e88 % 1000 = 976.
        assert_eq!(hash_bucket("baz", 1000), 976);
        assert_eq!(hash_bucket("baz", u64::MAX), 0xe44c_f984_c85f_6e88);
    }

    #[test]
    fn perl_classes_are_ascii_as_in_re2() {
        let digits = Regex::new(r"\d+").unwrap();
        assert!(digits.is_match("0123456789"));
        assert!(!digits.is_match("٣")); // ARABIC-INDIC DIGIT THREE
        let not_digits = Regex::new(r"\D").unwrap();
        assert!(not_digits.is_match("٣"));
        let word = Regex::new(r"[\w.]+").unwrap();
        assert!(word.is_match("a_b.c9"));
        assert!(!word.is_match("é"));
        let negated = Regex::new(r"[^\w]").unwrap();
        assert!(negated.is_match("é"));
        let space = Regex::new(r"a\sb").unwrap();
        assert!(space.is_match("a\tb"));
        assert!(!space.is_match("a\u{0B}b")); // RE2's \s has no vertical tab
        assert!(!space.is_match("a\u{A0}b"));
        let boundary = Regex::new(r".*\bx").unwrap();
        assert!(boundary.is_match("é x"));
        assert!(boundary.is_match("éx")); // é is no word character to RE2
        assert!(Regex::new(r"\<a\>").unwrap().is_match("<a>"));
        assert!(Regex::new(r"a\b{start}").unwrap().is_match("a{start}"));
        // Escapes stay escapes.
        assert!(Regex::new(r"\\d").unwrap().is_match(r"\d"));
        assert!(Regex::new(r"\pL+").unwrap().is_match("é"));
    }
}
