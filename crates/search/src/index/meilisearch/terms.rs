//! Kanjian's terms as plain ASCII tokens Meilisearch keeps whole.
//!
//! Meilisearch segments Chinese with jieba and only matches whole words or word prefixes, so it
//! misses substrings (农业 in 中国农业发展银行), and it folds neither traditional characters nor
//! pinyin. The shared analysis already reads a title every way Kanjian searches it; each of its
//! terms is written here as one token: a kind, its text, and a terminator.
//!
//! | kind | example | what |
//! | --- | --- | --- |
//! | `g1` | 农 → `g1x519cz` | a CJK unigram (hexadecimal code points) |
//! | `g2` | 农业 → `g2x519cx4e1az` | a CJK bigram |
//! | `l1` | iphone → `l1x69x70x68x6fx6ex65z` | a Latin term (letters or digits, any script) |
//! | `p1` | nong → `p1nong0` | one reading of a Han character |
//! | `p2` | chang + da → `p2chang1da0` | readings of two adjacent Han characters |
//! | `i1` | zgyh → `i1zgyh0` | initials of 2–8 adjacent Han characters |
//!
//! Why this shape: letters and digits only, so Meilisearch's tokenizer keeps a token whole (no
//! separator, no case change, nothing its language segmenters recognise); the terminator appears
//! nowhere else in a token of its kind (hex digits and `x` are never `z`; pinyin and initials
//! are letters `a`–`z`, never `0` or `1`), so no token is a prefix of another and a lookup is an
//! exact term lookup even where Meilisearch treats the last word of a query as a prefix. Leaving
//! the terminator off (`l1x69x70x68`, `p2guo1y`) asks for every token that starts that way: the
//! one prefix lookup a suggestion needs, placed last in the query. Pinyin and initials, the bulk
//! of a long text's tokens (a 2,000-character body has ~19,000 initials), are written as plain
//! letters to keep documents small.

use std::collections::BTreeSet;

use crate::analysis::{AnalyzedText, reading_pairs};

/// Tokens longer than this are neither indexed nor asked for: Meilisearch drops words over
/// 255 bytes (`milli::MAX_WORD_LENGTH`), and only absurd Latin "words" come near it.
pub const MAX_TOKEN_BYTES: usize = 200;

/// The terminator of hexadecimal tokens: the one character no such token has anywhere else.
const HEX_END: char = 'z';
/// The terminator of letter tokens (pinyin, initials), and the separator of a reading pair.
const LETTERS_END: char = '0';
const READING_SEPARATOR: char = '1';

/// What a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Unigram,
    Bigram,
    Latin,
    Reading,
    ReadingPair,
    Initials,
}

impl TokenKind {
    fn tag(self) -> &'static str {
        match self {
            Self::Unigram => "g1",
            Self::Bigram => "g2",
            Self::Latin => "l1",
            Self::Reading => "p1",
            Self::ReadingPair => "p2",
            Self::Initials => "i1",
        }
    }
}

impl TokenKind {
    /// Whether its text is written as letters (pinyin, initials) rather than code points.
    fn letters(self) -> bool {
        matches!(self, Self::Reading | Self::ReadingPair | Self::Initials)
    }
}

/// The token without its terminator; `None` when a letter token's text is not `a`–`z` only
/// (no reading or initial is; a query's syllables and initials never are either).
fn body(kind: TokenKind, parts: &[&str]) -> Option<String> {
    let mut out = String::from(kind.tag());
    for (i, part) in parts.iter().enumerate() {
        if kind.letters() {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_lowercase()) {
                return None;
            }
            if i > 0 {
                out.push(READING_SEPARATOR);
            }
            out.push_str(part);
        } else {
            for c in part.chars() {
                out.push('x');
                out.push_str(&format!("{:x}", u32::from(c)));
            }
        }
    }
    Some(out)
}

/// The token of a term (`parts` has two readings for a `ReadingPair`, one text otherwise);
/// `None` when it cannot be indexed (too long, or not letters where letters are expected).
pub fn token(kind: TokenKind, parts: &[&str]) -> Option<String> {
    let mut out = body(kind, parts)?;
    out.push(if kind.letters() { LETTERS_END } else { HEX_END });
    (out.len() <= MAX_TOKEN_BYTES).then_some(out)
}

/// What every token starting with these parts starts with (no terminator): the last, unfinished
/// word of a suggestion.
pub fn prefix_token(kind: TokenKind, parts: &[&str]) -> Option<String> {
    let out = body(kind, parts)?;
    (out.len() < MAX_TOKEN_BYTES).then_some(out)
}

/// Every term of an analysed text as tokens, each once, space-separated (Meilisearch matches
/// a word anywhere in the field; Kanjian never asks it for positions or phrases, the narrowing
/// checks those).
pub fn document_terms(text: &AnalyzedText) -> String {
    let mut all: BTreeSet<String> = BTreeSet::new();
    let mut add = |kind: TokenKind, parts: &[&str]| {
        if let Some(t) = token(kind, parts) {
            all.insert(t);
        }
    };
    for t in &text.unigrams {
        add(TokenKind::Unigram, &[&t.text]);
    }
    for t in &text.bigrams {
        add(TokenKind::Bigram, &[&t.text]);
    }
    for t in &text.latin {
        add(TokenKind::Latin, &[&t.text]);
    }
    for t in &text.initials {
        add(TokenKind::Initials, &[&t.text]);
    }
    // Single readings, then every combination for each pair of adjacent Han characters
    // (长大: changda, zhangda).
    for t in &text.pinyin {
        add(TokenKind::Reading, &[&t.text]);
    }
    for t in reading_pairs(&text.pinyin) {
        if let Some((a, b)) = t.text.split_once(' ') {
            add(TokenKind::ReadingPair, &[a, b]);
        }
    }
    let mut out = String::new();
    for t in all {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&t);
    }
    out
}
