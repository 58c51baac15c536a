//! Free text typed by people (names, titles, bios, descriptions), checked one way everywhere.
//!
//! A newtype describes its field once as a [`TextRules`] constant and calls [`parse`]:
//!
//! ```
//! use kanjian_kernel::text::{self, TextRules};
//!
//! const TITLE: TextRules = TextRules::required("title", "title", 100);
//! assert_eq!(text::parse("  My trip ", &TITLE).unwrap(), "My trip");
//! assert_eq!(text::parse(" ", &TITLE).unwrap_err().message, "The title is required.");
//! ```
//!
//! The rules, in the order they are checked:
//! 1. Surrounding whitespace (Unicode `White_Space`, line breaks included) is trimmed.
//! 2. Empty after trimming: `REQUIRED`, or `Ok("")` when the field is optional.
//! 3. Fewer than `min` characters: `TOO_SHORT`; more than `max`: `TOO_LONG`. Characters are
//!    counted as people count them, in extended grapheme clusters: "👍🏽" is one, "清华大学" four.
//! 4. Control characters (Unicode `Cc`: NUL, ESC, DEL, tab, …) are `INVALID`. A multi-line field
//!    allows line breaks: `\n`, `\r\n` and a lone `\r` are all accepted and stored as `\n`, so
//!    what is kept never depends on the client's platform. A single-line field allows none.

use unicode_segmentation::UnicodeSegmentation;

use crate::{UserError, UserErrorCode};

/// How one text field is checked. Build it as a constant with [`TextRules::required`] or
/// [`TextRules::optional`], then narrow it with [`TextRules::min`] and [`TextRules::multiline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRules {
    /// The GraphQL input field (camelCase), as given to [`UserError::new`].
    pub field: &'static str,
    /// What the field is called in messages, in lower case: "display name", "title".
    pub label: &'static str,
    /// Whether an empty value is an error (`REQUIRED`) or the empty string.
    pub required: bool,
    /// Fewest characters (grapheme clusters) of a non-empty value.
    pub min: usize,
    /// Most characters (grapheme clusters).
    pub max: usize,
    /// Whether line breaks are allowed (stored as `\n`).
    pub multiline: bool,
}

impl TextRules {
    /// A single-line value that may not be empty, at most `max` characters.
    pub const fn required(field: &'static str, label: &'static str, max: usize) -> Self {
        Self {
            field,
            label,
            required: true,
            min: 0,
            max,
            multiline: false,
        }
    }

    /// A single-line value that may be empty (parsed as `""`), at most `max` characters.
    pub const fn optional(field: &'static str, label: &'static str, max: usize) -> Self {
        Self {
            required: false,
            ..Self::required(field, label, max)
        }
    }

    /// A non-empty value has at least `min` characters.
    pub const fn min(self, min: usize) -> Self {
        Self { min, ..self }
    }

    /// Line breaks are allowed.
    pub const fn multiline(self) -> Self {
        Self {
            multiline: true,
            ..self
        }
    }

    fn error(&self, code: UserErrorCode, message: String) -> UserError {
        UserError::new(self.field, code, message)
    }
}

/// Checks `raw` against `rules` and returns the trimmed (and, for multi-line fields,
/// line-break-normalised) text. See the module documentation for the rules.
pub fn parse(raw: &str, rules: &TextRules) -> Result<String, UserError> {
    let label = rules.label;
    let text = raw.trim();
    if text.is_empty() {
        return if rules.required {
            Err(rules.error(UserErrorCode::Required, format!("The {label} is required.")))
        } else {
            Ok(String::new())
        };
    }
    let len = grapheme_count(text);
    if len < rules.min {
        return Err(rules.error(
            UserErrorCode::TooShort,
            format!("The {label} must have at least {}.", characters(rules.min)),
        ));
    }
    if len > rules.max {
        return Err(rules.error(
            UserErrorCode::TooLong,
            format!("The {label} may have at most {}.", characters(rules.max)),
        ));
    }
    let is_line_break = |c: char| rules.multiline && (c == '\n' || c == '\r');
    if text.chars().any(|c| c.is_control() && !is_line_break(c)) {
        let message = if rules.multiline {
            format!("The {label} may not contain control characters other than line breaks.")
        } else {
            format!("The {label} may not contain line breaks or other control characters.")
        };
        return Err(rules.error(UserErrorCode::Invalid, message));
    }
    if rules.multiline && text.contains('\r') {
        return Ok(text.replace("\r\n", "\n").replace('\r', "\n"));
    }
    Ok(text.to_owned())
}

/// How many characters a person sees in `s`: extended grapheme clusters, so an emoji with a
/// skin tone or a family of emoji counts once, and `\r\n` counts once.
pub fn grapheme_count(s: &str) -> usize {
    s.graphemes(true).count()
}

fn characters(n: usize) -> String {
    if n == 1 {
        "1 character".to_owned()
    } else {
        format!("{n} characters")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: TextRules = TextRules::required("profile.name", "name", 5).min(2);
    const NOTE: TextRules = TextRules::optional("note", "note", 5).multiline();

    fn err(raw: &str, rules: &TextRules) -> UserError {
        parse(raw, rules).unwrap_err()
    }

    #[test]
    fn text_is_trimmed() {
        assert_eq!(parse(" \t Ann \n", &NAME).unwrap(), "Ann");
        assert_eq!(parse("\u{3000}看见\u{3000}", &NAME).unwrap(), "看见");
        assert_eq!(parse("\n a\nb \n", &NOTE).unwrap(), "a\nb");
    }

    #[test]
    fn an_empty_required_value_is_required() {
        for raw in ["", "   ", "\t\n"] {
            let e = err(raw, &NAME);
            assert_eq!(e.code, UserErrorCode::Required, "{raw:?}");
            assert_eq!(e.field, ["input", "profile", "name"]);
            assert_eq!(e.message, "The name is required.");
        }
    }

    #[test]
    fn an_empty_optional_value_is_the_empty_string() {
        assert_eq!(parse("", &NOTE).unwrap(), "");
        assert_eq!(parse(" \r\n ", &NOTE).unwrap(), "");
    }

    #[test]
    fn below_the_minimum_is_too_short() {
        let e = err(" A ", &NAME);
        assert_eq!(e.code, UserErrorCode::TooShort);
        assert_eq!(e.message, "The name must have at least 2 characters.");
        assert_eq!(parse("Al", &NAME).unwrap(), "Al");
        // The minimum does not make an optional field required.
        let optional = TextRules::optional("x", "x", 5).min(2);
        assert_eq!(parse("", &optional).unwrap(), "");
        assert_eq!(err("x", &optional).code, UserErrorCode::TooShort);
    }

    #[test]
    fn above_the_maximum_is_too_long() {
        assert_eq!(parse("Alice", &NAME).unwrap(), "Alice");
        let e = err("Alicia", &NAME);
        assert_eq!(e.code, UserErrorCode::TooLong);
        assert_eq!(e.field, ["input", "profile", "name"]);
        assert_eq!(e.message, "The name may have at most 5 characters.");
        let one = TextRules::required("x", "initial", 1);
        assert_eq!(
            err("ab", &one).message,
            "The initial may have at most 1 character."
        );
    }

    #[test]
    fn length_counts_grapheme_clusters() {
        assert_eq!(grapheme_count("👍🏽"), 1);
        assert_eq!(grapheme_count("👨‍👩‍👧‍👦"), 1);
        assert_eq!(grapheme_count("清华大学"), 4);
        assert_eq!(grapheme_count("e\u{301}"), 1);
        assert_eq!(grapheme_count("\r\n"), 1);
        // Five thumbs with skin tones are ten chars but five characters to a person.
        assert!(parse(&"👍🏽".repeat(5), &NAME).is_ok());
        assert_eq!(err(&"👍🏽".repeat(6), &NAME).code, UserErrorCode::TooLong);
        assert!(parse("清华大学", &NAME).is_ok());
        assert_eq!(err("清华大学看见", &NAME).code, UserErrorCode::TooLong);
    }

    #[test]
    fn control_characters_are_invalid() {
        for raw in ["A\u{0}b", "A\u{1b}[1m", "A\u{7f}b", "A\tb", "A\u{85}b"] {
            let e = err(raw, &NAME);
            assert_eq!(e.code, UserErrorCode::Invalid, "{raw:?}");
            assert_eq!(e.field, ["input", "profile", "name"]);
            assert_eq!(
                e.message,
                "The name may not contain line breaks or other control characters."
            );
            assert_eq!(err(raw, &NOTE).code, UserErrorCode::Invalid, "{raw:?}");
        }
        assert_eq!(
            err("a\u{7}", &NOTE).message,
            "The note may not contain control characters other than line breaks."
        );
    }

    #[test]
    fn a_single_line_value_has_no_line_breaks() {
        for raw in ["a\nb", "a\r\nb", "a\rb"] {
            assert_eq!(err(raw, &NAME).code, UserErrorCode::Invalid, "{raw:?}");
        }
    }

    #[test]
    fn a_multiline_value_keeps_line_breaks_as_newlines() {
        assert_eq!(parse("a\nb", &NOTE).unwrap(), "a\nb");
        assert_eq!(parse("a\r\nb", &NOTE).unwrap(), "a\nb");
        assert_eq!(parse("a\rb", &NOTE).unwrap(), "a\nb");
        assert_eq!(parse("a\r\n\r\nb", &NOTE).unwrap(), "a\n\nb");
        // `\r\n` is one character, before and after normalising.
        assert_eq!(parse("ab\r\ncd", &NOTE).unwrap(), "ab\ncd");
        assert_eq!(err("ab\r\ncde", &NOTE).code, UserErrorCode::TooLong);
    }
}
