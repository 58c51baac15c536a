//! Where a query's runs are in a title: the ranges to highlight, and whether the title matches
//! at all. It reads the title the way the index does (same folding, same terms), so it is also
//! the reference the engines are checked against, and what an engine with wider recall
//! (Meilisearch) is narrowed by.

use std::ops::Range;

use super::query::LatinRun;
use super::{Folded, QueryPlan, Run, is_han, latin_terms, pinyin};

/// The folded character ranges where the query's runs are, merged and in order; `None` when
/// some run is not in the title.
pub fn find(plan: &QueryPlan, title: &Folded) -> Option<Vec<Range<usize>>> {
    let chars = &title.chars;
    let mut ranges = Vec::new();
    for run in &plan.runs {
        let before = ranges.len();
        match run {
            Run::Cjk { words, .. } => {
                for word in words {
                    let word: Vec<char> = word.chars().collect();
                    let at = occurrences(chars, &word);
                    if at.is_empty() {
                        return None;
                    }
                    ranges.extend(at.into_iter().map(|i| i..i + word.len()));
                }
            }
            Run::Latin(latin) => {
                ranges.extend(latin_matches(latin, chars));
                ranges.extend(pinyin_matches(latin, chars));
            }
        }
        if ranges.len() == before {
            return None;
        }
    }
    Some(merge(ranges))
}

/// The original bytes of each folded range (adjacent ones joined).
pub fn original_ranges(title: &Folded, ranges: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for r in ranges {
        let bytes = title.original_range(r.clone());
        match out.last_mut() {
            Some(last) if last.end >= bytes.start => last.end = last.end.max(bytes.end),
            _ => out.push(bytes),
        }
    }
    out
}

fn occurrences(haystack: &[char], needle: &[char]) -> Vec<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return Vec::new();
    }
    (0..=haystack.len() - needle.len()).filter(|&i| haystack[i..i + needle.len()] == *needle).collect()
}

fn latin_matches(run: &LatinRun, chars: &[char]) -> Vec<Range<usize>> {
    let terms = latin_terms(chars);
    let n = run.terms.len();
    let mut out = Vec::new();
    if n == 0 || terms.len() < n {
        return out;
    }
    for start in 0..=terms.len() - n {
        let window = &terms[start..start + n];
        let consecutive = window.windows(2).all(|w| w[1].position == w[0].position + 1);
        let equal = window.iter().zip(&run.terms).enumerate().all(|(k, (have, want))| {
            if run.prefix_last && k == n - 1 {
                have.text.starts_with(want.as_str())
            } else if run.typos > 0 {
                levenshtein(&have.text, want) <= usize::from(run.typos)
            } else {
                have.text == *want
            }
        });
        if consecutive && equal {
            out.push(window[0].chars.start..window[n - 1].chars.end);
        }
    }
    out
}

fn pinyin_matches(run: &LatinRun, chars: &[char]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let readings: Vec<std::borrow::Cow<'static, [String]>> =
        chars.iter().map(|&c| if is_han(c) { pinyin::readings(c) } else { std::borrow::Cow::Borrowed(&[][..]) }).collect();
    for split in &run.pinyin {
        let n = split.len();
        if n == 0 || n > chars.len() {
            continue;
        }
        for start in 0..=chars.len() - n {
            let fits = split.iter().enumerate().all(|(k, syllable)| {
                let last_unfinished = run.prefix_last && k == n - 1;
                readings[start + k].iter().any(|r| if last_unfinished { r.starts_with(syllable.as_str()) } else { r == syllable })
            });
            if fits {
                out.push(start..start + n);
            }
        }
    }
    if let Some(letters) = &run.initials {
        let letters: Vec<char> = letters.chars().collect();
        let n = letters.len();
        if n <= chars.len() {
            for start in 0..=chars.len() - n {
                let fits = letters.iter().enumerate().all(|(k, l)| readings[start + k].iter().any(|r| r.starts_with(*l)));
                if fits {
                    out.push(start..start + n);
                }
            }
        }
    }
    out
}

fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Edit distance between two short strings (terms of a title and a query).
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Analyzer;

    fn highlight(query: &str, title: &str, suggest: bool) -> Option<Vec<String>> {
        let analyzer = Analyzer::new().unwrap();
        let plan = analyzer.plan(query, suggest).unwrap();
        let folded = analyzer.fold(title);
        let ranges = find(&plan, &folded)?;
        Some(original_ranges(&folded, &ranges).into_iter().map(|r| title[r].to_owned()).collect())
    }

    #[test]
    fn a_word_inside_a_longer_word_is_found() {
        assert_eq!(highlight("农业", "中国农业发展银行", false), Some(vec!["农业".to_owned()]));
        assert_eq!(highlight("农", "中国农业发展银行", false), Some(vec!["农".to_owned()]));
    }

    #[test]
    fn no_typos_on_chinese() {
        assert_eq!(highlight("本田", "本地美食推荐", false), None);
    }

    #[test]
    fn traditional_and_full_width_highlight_the_original() {
        assert_eq!(highlight("发展", "中國農業發展銀行", false), Some(vec!["發展".to_owned()]));
        assert_eq!(highlight("abc123", "型号ＡＢＣ１２３", false), Some(vec!["ＡＢＣ１２３".to_owned()]));
    }

    #[test]
    fn pinyin_initials_and_prefixes() {
        assert_eq!(highlight("nongye", "中国农业发展银行", false), Some(vec!["农业".to_owned()]));
        assert_eq!(highlight("zgyh", "中国银行股份", false), Some(vec!["中国银行".to_owned()]));
        assert_eq!(highlight("zhongguoy", "中国银行股份", true), Some(vec!["中国银".to_owned()]));
        assert_eq!(highlight("zhongguoy", "中国银行股份", false), None);
        assert_eq!(highlight("zhangda", "孩子长大了", false), Some(vec!["长大".to_owned()]));
        assert_eq!(highlight("changda", "孩子长大了", false), Some(vec!["长大".to_owned()]));
    }

    #[test]
    fn every_run_must_be_there() {
        assert!(highlight("iphone15 手机壳", "iPhone 15 手机壳 透明", false).is_some());
        assert_eq!(highlight("iphone15 钢化膜", "iPhone 15 手机壳 透明", false), None);
        assert_eq!(highlight("iphone 15", "iPhone 手机壳 15", false).map(|v| v.len()), Some(2));
        assert_eq!(highlight("iphone15", "iPhone 手机壳 15", false), None);
    }

    #[test]
    fn a_typo_in_a_long_latin_word() {
        assert!(highlight("samsang", "Samsung Galaxy", false).is_some());
        assert_eq!(highlight("samsang", "Samsonite", false), None);
        assert!(highlight("sams", "Samsung Galaxy", false).is_none());
        assert!(highlight("sams", "Samsung Galaxy", true).is_some());
    }
}
