//! Blocked keywords (屏蔽词) of a channel's live comments: folded so the obvious disguises still
//! match, and matched in one pass whatever the number of keywords.
//!
//! Folding is NFKC (full-width `ＶＸ` is `VX`, compatibility forms become plain ones), lower
//! case, and nothing but letters and digits: `加 微-信` and `V.X` read as `加微信` and `vx`.

use aho_corasick::AhoCorasick;
use kanjian_kernel::{UserError, UserErrorCode};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// Most keywords a channel may block.
pub const MAX_KEYWORDS: usize = 200;
/// Most characters in one keyword, once folded.
pub const MAX_KEYWORD_CHARS: usize = 20;
pub const FIELD: &str = "keywords";

/// The text as keywords are matched against it (see the module docs).
pub fn fold(text: &str) -> String {
    text.nfkc().flat_map(char::to_lowercase).filter(|c| c.is_alphanumeric()).collect()
}

/// Checks and folds a list of keywords: each non-empty once folded and at most
/// [`MAX_KEYWORD_CHARS`], at most [`MAX_KEYWORDS`] different ones. Sorted, without repeats.
pub fn parse_keywords(raw: &[String]) -> Result<Vec<String>, UserError> {
    let mut keywords = Vec::with_capacity(raw.len());
    for (i, keyword) in raw.iter().enumerate() {
        let folded = fold(keyword);
        if folded.is_empty() {
            return Err(UserError::new(
                &format!("{FIELD}.{i}"),
                UserErrorCode::Invalid,
                "A keyword needs at least one letter or digit (spaces, punctuation and emoji are ignored when matching).",
            ));
        }
        if folded.graphemes(true).count() > MAX_KEYWORD_CHARS {
            return Err(UserError::new(
                &format!("{FIELD}.{i}"),
                UserErrorCode::TooLong,
                format!("A keyword is at most {MAX_KEYWORD_CHARS} characters."),
            ));
        }
        keywords.push(folded);
    }
    keywords.sort();
    keywords.dedup();
    if keywords.len() > MAX_KEYWORDS {
        return Err(UserError::new(FIELD, UserErrorCode::TooLong, format!("At most {MAX_KEYWORDS} keywords.")));
    }
    Ok(keywords)
}

/// A channel's keywords, ready to match comments.
#[derive(Debug, Clone)]
pub struct KeywordFilter {
    matcher: Option<AhoCorasick>,
}

impl KeywordFilter {
    /// `keywords` are folded already (as stored).
    pub fn new(keywords: &[String]) -> anyhow::Result<Self> {
        let keywords: Vec<&String> = keywords.iter().filter(|k| !k.is_empty()).collect();
        let matcher = if keywords.is_empty() { None } else { Some(AhoCorasick::new(keywords)?) };
        Ok(Self { matcher })
    }

    /// Whether the text contains a blocked keyword, once folded.
    pub fn blocks(&self, text: &str) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(&fold(text)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn filter(words: &[&str]) -> KeywordFilter {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        KeywordFilter::new(&parse_keywords(&words).unwrap()).unwrap()
    }

    #[test]
    fn disguises_still_match() {
        let f = filter(&["加微信", "VX"]);
        for text in ["快来加微信", "加 微 信 领红包", "加-微·信", "私我 ＶＸ", "v.x 123", "Vx"] {
            assert!(f.blocks(text), "{text}");
        }
        for text in ["微信支付", "加油", "vivo x9", "", "👍👍"] {
            assert!(!f.blocks(text), "{text}");
        }
    }

    #[test]
    fn no_keywords_block_nothing() {
        assert!(!filter(&[]).blocks("anything at all"));
    }

    #[test]
    fn keywords_are_folded_sorted_and_unique() {
        let raw: Vec<String> = ["ＶＸ", "vx", " 加 微信 ", "B"].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(parse_keywords(&raw).unwrap(), ["b", "vx", "加微信"]);
    }

    #[test]
    fn bad_keywords_are_refused_with_their_position() {
        let raw: Vec<String> = vec!["ok".into(), " !! ".into()];
        let e = parse_keywords(&raw).unwrap_err();
        assert_eq!((e.field.join("."), e.code), ("input.keywords.1".to_owned(), UserErrorCode::Invalid));
        let long = vec!["字".repeat(MAX_KEYWORD_CHARS + 1)];
        assert_eq!(parse_keywords(&long).unwrap_err().code, UserErrorCode::TooLong);
        let many: Vec<String> = (0..=MAX_KEYWORDS).map(|i| format!("k{i}")).collect();
        assert_eq!(parse_keywords(&many).unwrap_err().code, UserErrorCode::TooLong);
    }
}
