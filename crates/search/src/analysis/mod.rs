//! Analysis: how titles and queries become terms, the same way for every engine. Pure: no I/O,
//! tested on its own.
//!
//! A title is folded (`fold`), then read five ways, each a field of the index:
//! - **words**: jieba's search mode (清华大学 → 清华 / 华大 / 大学 / 清华大学), for scoring;
//! - **unigrams** and **bigrams** of Chinese (and other CJK) characters, at their character
//!   positions, so any substring is found: a single character by its unigram, two by their
//!   bigram, more as a phrase of bigrams. A segmenter alone misses 农业 in 中国农业发展银行;
//! - **latin**: letters and digits, split where letters meet digits (`iPhone15` → iphone 15), so
//!   codes match however they are spaced or hyphenated;
//! - **pinyin**: every reading of each Han character at that character's position, so a phrase
//!   of syllables matches adjacent characters in any of their readings (长大: chang da, zhang da);
//!   `reading_pairs` gives each two adjacent characters' readings as one term, for an index to
//!   match such phrases by rarer terms;
//! - **initials**: the initials of every run of 2 to `MAX_INITIALS` adjacent Han characters as
//!   single terms (中国银行 → zg, zgy, zgyh, gy, …): one term lookup, not a phrase over letters.
//!
//! A query is folded the same way and split into runs (`query`).

pub mod fold;
pub mod highlight;
pub mod pinyin;
pub mod query;

use std::ops::Range;

use jieba_rs::{Jieba, TokenizeMode};

pub use fold::{Folded, Folder};
pub use query::{QueryError, QueryPlan, Run};

/// The longest run of Han characters whose initials are indexed as one term.
pub const MAX_INITIALS: usize = 8;
/// The most combinations of readings' initials kept for one run of characters (each
/// polyphone doubles them).
const MAX_INITIAL_COMBINATIONS: usize = 8;

/// A Han (Chinese) character: the ones with pinyin.
pub fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FA1F}' | '〇')
}

/// A character of a script written without spaces (Han, kana, Hangul): found by its unigrams
/// and bigrams rather than as words.
pub fn is_cjk(c: char) -> bool {
    is_han(c) || matches!(c, '\u{3040}'..='\u{30FF}' | '\u{AC00}'..='\u{D7AF}' | '\u{31F0}'..='\u{31FF}')
}

/// A letter or digit of a script written with spaces.
pub fn is_latin(c: char) -> bool {
    c.is_alphanumeric() && !is_cjk(c)
}

/// One term of a field: its text, its position (phrases match consecutive positions) and the
/// folded characters it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub text: String,
    pub position: usize,
    pub chars: Range<usize>,
}

/// A title read every way the index keeps it.
#[derive(Debug, Clone)]
pub struct AnalyzedText {
    pub folded: Folded,
    pub words: Vec<Term>,
    pub unigrams: Vec<Term>,
    pub bigrams: Vec<Term>,
    pub latin: Vec<Term>,
    pub pinyin: Vec<Term>,
    pub initials: Vec<Term>,
}

/// Folds and segments. Built once per process (dictionaries load in ~100 ms) and shared.
pub struct Analyzer {
    folder: Folder,
    jieba: Jieba,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer").finish_non_exhaustive()
    }
}

impl Analyzer {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self { folder: Folder::new()?, jieba: Jieba::new() })
    }

    pub fn fold(&self, text: &str) -> Folded {
        self.folder.fold(text)
    }

    /// jieba's words of folded text, as (character range, word). Without HMM: only dictionary
    /// words, the same for a title and a query.
    pub fn segment(&self, folded: &str, search_mode: bool) -> Vec<(Range<usize>, String)> {
        let mode = if search_mode { TokenizeMode::Search } else { TokenizeMode::Default };
        self.jieba
            .tokenize(folded, mode, false)
            .into_iter()
            .filter(|t| t.word.chars().any(char::is_alphanumeric))
            .map(|t| (t.start..t.end, t.word.to_owned()))
            .collect()
    }

    pub fn analyze(&self, text: &str) -> AnalyzedText {
        let folded = self.fold(text);
        let string = folded.as_string();
        let words = self
            .segment(&string, true)
            .into_iter()
            .enumerate()
            .map(|(position, (chars, text))| Term { text, position, chars })
            .collect();
        let (unigrams, bigrams) = grams(&folded.chars);
        AnalyzedText {
            latin: latin_terms(&folded.chars),
            pinyin: pinyin_terms(&folded.chars),
            initials: initial_terms(&folded.chars),
            words,
            unigrams,
            bigrams,
            folded,
        }
    }
}

/// Unigrams and bigrams of CJK characters, at their character positions.
fn grams(chars: &[char]) -> (Vec<Term>, Vec<Term>) {
    let mut unigrams = Vec::new();
    let mut bigrams = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        if !is_cjk(c) {
            continue;
        }
        unigrams.push(Term { text: c.to_string(), position: i, chars: i..i + 1 });
        if let Some(&next) = chars.get(i + 1)
            && is_cjk(next)
        {
            bigrams.push(Term { text: [c, next].iter().collect(), position: i, chars: i..i + 2 });
        }
    }
    (unigrams, bigrams)
}

/// Letters and digits, split where letters meet digits. Consecutive terms get consecutive
/// positions across spaces and punctuation (`AB-1234`, `AB 1234` and `AB1234` read alike), but
/// not across CJK characters: `iPhone 手机 15` does not read as `iphone 15`.
pub fn latin_terms(chars: &[char]) -> Vec<Term> {
    let mut out = Vec::new();
    let mut position = 0;
    let mut i = 0;
    let mut cjk_since_last = false;
    while i < chars.len() {
        let c = chars[i];
        if !is_latin(c) {
            cjk_since_last |= is_cjk(c);
            i += 1;
            continue;
        }
        let digit = c.is_numeric();
        let start = i;
        while i < chars.len() && is_latin(chars[i]) && chars[i].is_numeric() == digit {
            i += 1;
        }
        if cjk_since_last && !out.is_empty() {
            position += 1;
        }
        cjk_since_last = false;
        out.push(Term { text: chars[start..i].iter().collect(), position, chars: start..i });
        position += 1;
    }
    out
}

/// Every reading of every Han character, at the character's position.
fn pinyin_terms(chars: &[char]) -> Vec<Term> {
    let mut out = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        if is_han(c) {
            for reading in pinyin::readings(c).iter() {
                out.push(Term { text: reading.clone(), position: i, chars: i..i + 1 });
            }
        }
    }
    out
}

/// Every combination of the readings of each two adjacent Han characters (长大: `chang da`,
/// `zhang da`), at the first one's position, from `pinyin` as `AnalyzedText::pinyin` holds it
/// (by position). A phrase of pairs matches what the phrase of their syllables matches, but its
/// terms are rare where single syllables (li, jian) are in most titles.
pub fn reading_pairs(pinyin: &[Term]) -> Vec<Term> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < pinyin.len() {
        let position = pinyin[at].position;
        let here_end = at + pinyin[at..].iter().take_while(|t| t.position == position).count();
        let next_end = here_end + pinyin[here_end..].iter().take_while(|t| t.position == position + 1).count();
        for a in &pinyin[at..here_end] {
            for b in &pinyin[here_end..next_end] {
                out.push(Term { text: pair(&a.text, &b.text), position, chars: position..position + 2 });
            }
        }
        at = here_end;
    }
    out
}

/// The text of a reading pair (the query side builds the same).
pub fn pair(first: &str, second: &str) -> String {
    format!("{first} {second}")
}

/// The initials of every run of 2..=`MAX_INITIALS` adjacent Han characters, each combination of
/// the characters' readings (up to `MAX_INITIAL_COMBINATIONS`), as single terms.
fn initial_terms(chars: &[char]) -> Vec<Term> {
    let per_char: Vec<std::borrow::Cow<'static, [char]>> =
        chars.iter().map(|&c| if is_han(c) { pinyin::initials(c) } else { std::borrow::Cow::Borrowed(&[][..]) }).collect();
    let mut out = Vec::new();
    let mut combos: Vec<String> = Vec::with_capacity(MAX_INITIAL_COMBINATIONS);
    let mut longer: Vec<String> = Vec::with_capacity(MAX_INITIAL_COMBINATIONS);
    for start in 0..chars.len() {
        combos.clear();
        combos.push(String::new());
        for (end, letters) in per_char.iter().enumerate().skip(start).take(MAX_INITIALS) {
            if letters.is_empty() {
                break;
            }
            longer.clear();
            'grow: for prefix in &combos {
                for &letter in letters.iter() {
                    if longer.len() == MAX_INITIAL_COMBINATIONS {
                        break 'grow;
                    }
                    let mut text = String::with_capacity(MAX_INITIALS);
                    text.push_str(prefix);
                    text.push(letter);
                    longer.push(text);
                }
            }
            std::mem::swap(&mut combos, &mut longer);
            if end > start {
                for text in &combos {
                    out.push(Term { text: text.clone(), position: start, chars: start..end + 1 });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(terms: &[Term]) -> Vec<&str> {
        terms.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn grams_cover_every_substring() {
        let a = Analyzer::new().unwrap().analyze("中国农业发展银行");
        assert_eq!(texts(&a.unigrams), ["中", "国", "农", "业", "发", "展", "银", "行"]);
        assert_eq!(texts(&a.bigrams), ["中国", "国农", "农业", "业发", "发展", "展银", "银行"]);
        assert_eq!(a.bigrams[2].position, 2);
    }

    #[test]
    fn bigrams_do_not_cross_latin_or_spaces() {
        let a = Analyzer::new().unwrap().analyze("小米14 Pro手机 壳");
        assert_eq!(texts(&a.bigrams), ["小米", "手机"]);
        assert_eq!(texts(&a.latin), ["14", "pro"]);
    }

    #[test]
    fn latin_splits_letters_from_digits_and_reads_codes_alike() {
        let glued = latin_terms(&"iphone15".chars().collect::<Vec<_>>());
        let spaced = latin_terms(&"iphone 15".chars().collect::<Vec<_>>());
        assert_eq!(texts(&glued), ["iphone", "15"]);
        let same = |a: &[Term], b: &[Term]| {
            a.iter().map(|t| (&t.text, t.position)).eq(b.iter().map(|t| (&t.text, t.position)))
        };
        assert!(same(&glued, &spaced));
        let hyphen = latin_terms(&"ab-1234".chars().collect::<Vec<_>>());
        let plain = latin_terms(&"ab1234".chars().collect::<Vec<_>>());
        assert!(same(&hyphen, &plain));
        // A Chinese word between two Latin terms keeps them apart.
        let apart = latin_terms(&"iphone手机15".chars().collect::<Vec<_>>());
        assert_eq!(apart[1].position, apart[0].position + 2);
    }

    #[test]
    fn reading_pairs_combine_adjacent_characters_only() {
        let a = Analyzer::new().unwrap();
        let pairs: Vec<(usize, String)> =
            reading_pairs(&a.analyze("长大 了x好").pinyin).into_iter().map(|t| (t.position, t.text)).collect();
        assert!(pairs.contains(&(0, "chang da".into())) && pairs.contains(&(0, "zhang da".into())), "{pairs:?}");
        // 大 and 了 are apart (a space between), 了 and 好 too (a letter).
        assert!(pairs.iter().all(|(p, _)| *p == 0), "{pairs:?}");
    }

    #[test]
    fn pinyin_keeps_every_reading_at_the_same_position() {
        let a = Analyzer::new().unwrap().analyze("长大");
        let at0: Vec<&str> = a.pinyin.iter().filter(|t| t.position == 0).map(|t| t.text.as_str()).collect();
        assert!(at0.contains(&"chang") && at0.contains(&"zhang"), "{at0:?}");
        assert!(a.pinyin.iter().any(|t| t.position == 1 && t.text == "da"));
    }

    #[test]
    fn initials_are_terms_for_every_run() {
        let a = Analyzer::new().unwrap().analyze("中国银行");
        let all = texts(&a.initials);
        for expected in ["zg", "zgy", "zgyh", "gy", "gyh", "yh", "yx"] {
            assert!(all.contains(&expected), "{expected} missing from {all:?}");
        }
        assert!(!all.contains(&"z"), "single initials are not terms");
    }

    #[test]
    fn words_come_from_jieba_search_mode_on_folded_text() {
        let a = Analyzer::new().unwrap().analyze("清華大學");
        let words = texts(&a.words);
        for w in ["清华", "大学", "清华大学"] {
            assert!(words.contains(&w), "{w} missing from {words:?}");
        }
    }
}
