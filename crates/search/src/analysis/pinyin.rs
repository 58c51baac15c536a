//! Pinyin: every reading of a character (长 → chang, zhang), without tones, and the splitting of
//! what someone typed in Latin letters into syllables (`zhongguo` → zhong guo; `xian` → xian or
//! xi an).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

use pinyin::ToPinyinMulti;

/// The most readings kept for one character (a handful have more; the rare ones come last).
const MAX_READINGS: usize = 4;
/// The most ways one typed string is split into syllables.
pub const MAX_SPLITS: usize = 6;

/// The characters whose readings are looked up once and kept: CJK Unified Ideographs and
/// Extension A, nearly every character in real titles.
const TABLE_FROM: u32 = 0x3400;
const TABLE_TO: u32 = 0x9FFF;

struct Readings {
    /// `readings[c − TABLE_FROM]`
    readings: Vec<Box<[String]>>,
    initials: Vec<Box<[char]>>,
}

fn table() -> &'static Readings {
    static TABLE: OnceLock<Readings> = OnceLock::new();
    TABLE.get_or_init(|| {
        let readings: Vec<Box<[String]>> =
            (TABLE_FROM..=TABLE_TO).map(|c| char::from_u32(c).map(compute_readings).unwrap_or_default().into()).collect();
        let initials = readings.iter().map(|r| initials_of(r).into()).collect();
        Readings { readings, initials }
    })
}

fn table_index(c: char) -> Option<usize> {
    let code = u32::from(c);
    (TABLE_FROM..=TABLE_TO).contains(&code).then(|| (code - TABLE_FROM) as usize)
}

/// The toneless readings of `c`, most common first; empty when `c` is not a Han character with
/// a reading. `ü` is written `v` (as pinyin keyboards do) and also `u` (as people often type
/// it): 绿 → lv, lu.
pub fn readings(c: char) -> Cow<'static, [String]> {
    match table_index(c) {
        Some(i) => Cow::Borrowed(&table().readings[i]),
        None => Cow::Owned(compute_readings(c)),
    }
}

fn compute_readings(c: char) -> Vec<String> {
    let Some(multi) = c.to_pinyin_multi() else { return Vec::new() };
    let mut out: Vec<String> = Vec::with_capacity(2);
    for reading in multi.into_iter().take(MAX_READINGS) {
        let plain = reading.plain();
        if plain.contains('ü') {
            push_unique(&mut out, plain.replace('ü', "v"));
            push_unique(&mut out, plain.replace('ü', "u"));
        } else if plain.contains('ê') {
            push_unique(&mut out, plain.replace('ê', "e"));
        } else {
            push_unique(&mut out, plain.to_owned());
        }
    }
    out
}

fn push_unique(out: &mut Vec<String>, s: String) {
    if !s.is_empty() && !out.contains(&s) {
        out.push(s);
    }
}

/// The initial letters of `c`'s readings: 长 → c, z.
pub fn initials(c: char) -> Cow<'static, [char]> {
    match table_index(c) {
        Some(i) => Cow::Borrowed(&table().initials[i]),
        None => Cow::Owned(initials_of(&compute_readings(c))),
    }
}

fn initials_of(readings: &[String]) -> Vec<char> {
    let mut out = Vec::with_capacity(2);
    for reading in readings {
        if let Some(first) = reading.chars().next()
            && !out.contains(&first)
        {
            out.push(first);
        }
    }
    out
}

struct Syllables {
    all: HashSet<String>,
    /// Every non-empty prefix of a syllable (`zh`, `zho`, …), for what is still being typed.
    prefixes: HashSet<String>,
}

/// Every syllable the readings table has, gathered once from the characters themselves so the
/// two never disagree.
fn syllables() -> &'static Syllables {
    static SYLLABLES: OnceLock<Syllables> = OnceLock::new();
    SYLLABLES.get_or_init(|| {
        let all: HashSet<String> = table().readings.iter().flat_map(|r| r.iter().cloned()).collect();
        let prefixes = all
            .iter()
            .flat_map(|s: &String| (1..=s.len()).map(move |n| s[..n].to_owned()))
            .collect();
        Syllables { all, prefixes }
    })
}

/// Whether `s` is one whole syllable.
pub fn is_syllable(s: &str) -> bool {
    syllables().all.contains(s)
}

/// The ways `letters` (lower-case ASCII) splits into syllables, fewest syllables first, at most
/// `MAX_SPLITS`. With `last_may_be_prefix`, the last piece may be the start of a syllable
/// (`zhongg` → zhong + g…). Empty when no split exists.
pub fn splits(letters: &str, last_may_be_prefix: bool) -> Vec<Vec<String>> {
    if letters.is_empty() || letters.len() > 64 || !letters.bytes().all(|b| b.is_ascii_lowercase()) {
        return Vec::new();
    }
    let table = syllables();
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(letters, last_may_be_prefix, table, &mut path, &mut out);
    out.sort_by_key(|split: &Vec<String>| split.len());
    out.truncate(MAX_SPLITS);
    out
}

fn walk(rest: &str, prefix_ok: bool, table: &Syllables, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    // Enough alternatives are kept to cover the common ambiguities (xian, fangan); the search
    // stops long before the combinations of a long string explode.
    if out.len() >= MAX_SPLITS * 4 {
        return;
    }
    if rest.is_empty() {
        out.push(path.clone());
        return;
    }
    // Longest syllables first (no syllable is longer than six letters: zhuang).
    for len in (1..=rest.len().min(6)).rev() {
        let piece = &rest[..len];
        let whole = table.all.contains(piece);
        let last_prefix = prefix_ok && len == rest.len() && table.prefixes.contains(piece);
        if whole || last_prefix {
            path.push(piece.to_owned());
            walk(&rest[len..], prefix_ok, table, path, out);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_has_every_reading() {
        let chang = readings('长');
        assert!(chang.contains(&"chang".to_owned()) && chang.contains(&"zhang".to_owned()), "{chang:?}");
        assert!(initials('长').contains(&'c') && initials('长').contains(&'z'));
        assert!(readings('行').contains(&"xing".to_owned()) && readings('行').contains(&"hang".to_owned()));
        assert!(readings('a').is_empty());
    }

    #[test]
    fn u_umlaut_is_typed_v_or_u() {
        let lv = readings('绿');
        assert!(lv.contains(&"lv".to_owned()) && lv.contains(&"lu".to_owned()), "{lv:?}");
        assert!(is_syllable("lv") && is_syllable("nv"));
    }

    #[test]
    fn typed_letters_split_into_syllables() {
        let zhongguo = splits("zhongguo", false);
        assert_eq!(zhongguo[0], vec!["zhong".to_owned(), "guo".to_owned()]);
        assert!(zhongguo.contains(&vec!["zhong".to_owned(), "gu".to_owned(), "o".to_owned()]), "哦 is o");
        let xian = splits("xian", false);
        assert!(xian.contains(&vec!["xian".to_owned()]) && xian.contains(&vec!["xi".to_owned(), "an".to_owned()]));
        assert_eq!(xian[0], vec!["xian".to_owned()], "fewest syllables first");
        assert!(splits("iphone", false).is_empty(), "no syllable starts with i");
        assert!(splits("zhongg", false).is_empty());
    }

    #[test]
    fn the_last_syllable_may_be_unfinished() {
        let splits = splits("zhongg", true);
        assert!(splits.contains(&vec!["zhong".to_owned(), "g".to_owned()]), "{splits:?}");
    }

    #[test]
    fn hostile_input_splits_into_nothing() {
        assert!(splits("", true).is_empty());
        assert!(splits("ZHONG", false).is_empty());
        assert!(splits(&"a".repeat(200), true).is_empty());
        // Many ways to split: the count stays bounded.
        assert!(splits("xianxianxianxianxianxian", true).len() <= MAX_SPLITS);
    }
}
