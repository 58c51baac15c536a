//! What someone typed, as runs to find. Nothing in a query is syntax: quotes, minus signs and
//! parentheses separate runs like spaces do, so no input can change what the engine is asked.
//!
//! A document matches when every run matches (AND):
//! - a **CJK run** (中国农业) is cut by jieba into dictionary words; each word must occur in the
//!   title as a substring (no typo tolerance: 本田 never finds 本地);
//! - a **Latin run** (letters, digits and the `-_./+#` between them: `AB-1234`, `iphone15`)
//!   matches its terms as a phrase, a lone word of 5+ letters with one typo (9+: two); or, when
//!   it is only letters, as the full pinyin of adjacent Han characters in any reading, or as
//!   their initials. In a suggestion the run being typed may stop mid-word and mid-syllable.

use super::{Analyzer, MAX_INITIALS, is_cjk, is_latin, latin_terms, pinyin};

/// The longest query, in characters after folding.
pub const MAX_QUERY_CHARS: usize = 100;
/// The most runs one query is split into.
pub const MAX_RUNS: usize = 12;

/// Why a query cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// Nothing but spaces.
    Empty,
    TooLong { max: usize },
    /// Only punctuation or symbols: nothing a title could contain as a word.
    NothingToSearch,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("type something to search for"),
            Self::TooLong { max } => write!(f, "a search may be at most {max} characters (or {MAX_RUNS} separate words)"),
            Self::NothingToSearch => f.write_str("search for letters, digits or characters; punctuation alone finds nothing"),
        }
    }
}

/// A query, ready for any engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    pub runs: Vec<Run>,
    /// The folded query, for logs and cursors.
    pub folded: String,
    /// Typed so far (a suggestion): the last run may be unfinished.
    pub suggest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// Each word must occur as a substring.
    Cjk { text: String, words: Vec<String> },
    Latin(LatinRun),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatinRun {
    /// Split where letters meet digits, as titles are.
    pub terms: Vec<String>,
    /// The last term may be the start of a longer one (a suggestion still being typed).
    pub prefix_last: bool,
    /// Typos allowed on a lone all-letter term: 1 from 5 letters, 2 from 9.
    pub typos: u8,
    /// The ways the letters read as full pinyin of adjacent characters (the last syllable may
    /// be unfinished when `prefix_last`).
    pub pinyin: Vec<Vec<String>>,
    /// The letters as initials of adjacent characters (2 to `MAX_INITIALS` letters).
    pub initials: Option<String>,
}

const CONNECTORS: &[char] = &['-', '_', '.', '/', '+', '#', '\''];

impl Analyzer {
    /// Parses a query (`suggest`: the text of a search box still being typed).
    pub fn plan(&self, raw: &str, suggest: bool) -> Result<QueryPlan, QueryError> {
        if raw.trim().is_empty() {
            return Err(QueryError::Empty);
        }
        let folded = self.fold(raw);
        if folded.len() > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong { max: MAX_QUERY_CHARS });
        }
        let chars = &folded.chars;
        let ends_inside_a_run = chars.last().is_some_and(|&c| is_cjk(c) || is_latin(c));
        let mut runs = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if is_cjk(c) {
                let start = i;
                while i < chars.len() && is_cjk(chars[i]) {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let mut words: Vec<String> = self.segment(&text, false).into_iter().map(|(_, w)| w).collect();
                words.dedup();
                runs.push(Run::Cjk { text, words });
            } else if is_latin(c) {
                let start = i;
                while i < chars.len()
                    && (is_latin(chars[i])
                        || (CONNECTORS.contains(&chars[i]) && chars.get(i + 1).is_some_and(|&n| is_latin(n))))
                {
                    i += 1;
                }
                let last = i == chars.len();
                runs.push(Run::Latin(latin_run(&chars[start..i], suggest && last && ends_inside_a_run)));
            } else {
                i += 1;
            }
            if runs.len() > MAX_RUNS {
                return Err(QueryError::TooLong { max: MAX_QUERY_CHARS });
            }
        }
        if runs.is_empty() {
            return Err(QueryError::NothingToSearch);
        }
        Ok(QueryPlan { runs, folded: folded.as_string(), suggest })
    }
}

fn latin_run(chars: &[char], prefix_last: bool) -> LatinRun {
    let terms: Vec<String> = latin_terms(chars).into_iter().map(|t| t.text).collect();
    let letters: String = chars.iter().filter(|c| !CONNECTORS.contains(c)).collect();
    let only_ascii_letters = letters.bytes().all(|b| b.is_ascii_lowercase());
    let typos = match (terms.as_slice(), only_ascii_letters) {
        ([one], true) if one.len() >= 9 => 2,
        ([one], true) if one.len() >= 5 => 1,
        _ => 0,
    };
    let pinyin = if only_ascii_letters { pinyin::splits(&letters, prefix_last) } else { Vec::new() };
    let initials = (only_ascii_letters && (2..=MAX_INITIALS).contains(&letters.len())).then_some(letters);
    LatinRun { terms, prefix_last, typos, pinyin, initials }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(q: &str) -> Result<QueryPlan, QueryError> {
        Analyzer::new().unwrap().plan(q, false)
    }

    #[test]
    fn empty_and_blank_queries_are_refused() {
        assert_eq!(plan(""), Err(QueryError::Empty));
        assert_eq!(plan(" \t　"), Err(QueryError::Empty));
    }

    #[test]
    fn syntax_characters_are_not_syntax() {
        assert_eq!(plan("\"()-+!*:~^"), Err(QueryError::NothingToSearch));
        let quoted = plan("\"农业\" -(银行)").unwrap();
        assert_eq!(quoted.runs.len(), 2);
        assert!(matches!(&quoted.runs[0], Run::Cjk { text, .. } if text == "农业"));
        assert!(matches!(&quoted.runs[1], Run::Cjk { text, .. } if text == "银行"));
    }

    #[test]
    fn long_queries_are_refused() {
        assert_eq!(plan(&"长".repeat(MAX_QUERY_CHARS + 1)), Err(QueryError::TooLong { max: MAX_QUERY_CHARS }));
        assert!(plan(&"长".repeat(MAX_QUERY_CHARS)).is_ok());
        assert_eq!(plan(&"a ".repeat(MAX_RUNS + 1)), Err(QueryError::TooLong { max: MAX_QUERY_CHARS }));
    }

    #[test]
    fn cjk_runs_are_cut_into_words() {
        let p = plan("红色连衣裙").unwrap();
        let Run::Cjk { words, .. } = &p.runs[0] else { panic!() };
        assert_eq!(words, &["红色", "连衣裙"]);
    }

    #[test]
    fn mixed_text_splits_into_runs() {
        let p = plan("小米１４Ｐｒｏ手机壳").unwrap();
        assert_eq!(p.runs.len(), 3);
        let Run::Latin(latin) = &p.runs[1] else { panic!() };
        assert_eq!(latin.terms, ["14", "pro"]);
        assert!(latin.pinyin.is_empty() && latin.initials.is_none());
    }

    #[test]
    fn codes_keep_their_hyphens_inside_one_run() {
        let p = plan("AB-1234").unwrap();
        assert_eq!(p.runs.len(), 1);
        let Run::Latin(latin) = &p.runs[0] else { panic!() };
        assert_eq!(latin.terms, ["ab", "1234"]);
    }

    #[test]
    fn letters_may_be_pinyin_or_initials() {
        let p = plan("zgyh").unwrap();
        let Run::Latin(latin) = &p.runs[0] else { panic!() };
        assert_eq!(latin.initials.as_deref(), Some("zgyh"));
        let p = plan("nongye").unwrap();
        let Run::Latin(latin) = &p.runs[0] else { panic!() };
        assert!(latin.pinyin.contains(&vec!["nong".to_owned(), "ye".to_owned()]));
        assert_eq!(latin.typos, 1);
    }

    #[test]
    fn only_a_suggestion_ends_in_an_unfinished_syllable() {
        let analyzer = Analyzer::new().unwrap();
        let Run::Latin(typed) = &analyzer.plan("zhongguoy", true).unwrap().runs[0] else { panic!() };
        assert!(typed.prefix_last);
        assert!(typed.pinyin.contains(&vec!["zhong".to_owned(), "guo".to_owned(), "y".to_owned()]));
        let Run::Latin(searched) = &analyzer.plan("zhongguoy", false).unwrap().runs[0] else { panic!() };
        assert!(!searched.prefix_last);
        // A space after it: the word is finished.
        let Run::Latin(finished) = &analyzer.plan("zhongguo ", true).unwrap().runs[0] else { panic!() };
        assert!(!finished.prefix_last);
    }
}
