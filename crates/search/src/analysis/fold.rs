//! Folding: the one form documents and queries are compared in. Full-width letters, digits and
//! punctuation become their ASCII forms (NFKC), letters lower case, traditional Chinese
//! characters simplified (OpenCC's t2s). Each folded character remembers which bytes of the
//! original it came from, so matches found in the folded text highlight the original.

use std::ops::Range;

use ferrous_opencc::OpenCC;
use ferrous_opencc::config::BuiltinConfig;
use unicode_normalization::UnicodeNormalization;

/// Text in its folded form, character by character, each with the byte range of the original
/// it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    pub chars: Vec<char>,
    /// `origin[i]`: the bytes of the original text `chars[i]` came from. Characters one original
    /// character folds into (`㍿` → `株式会社`) share its range.
    pub origin: Vec<Range<usize>>,
}

impl Folded {
    pub fn as_string(&self) -> String {
        self.chars.iter().collect()
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The original bytes behind folded characters `chars` (a range of character indices).
    pub fn original_range(&self, chars: Range<usize>) -> Range<usize> {
        match (self.origin.get(chars.start), chars.end.checked_sub(1).and_then(|last| self.origin.get(last))) {
            (Some(first), Some(last)) if chars.start < chars.end => first.start..last.end,
            _ => 0..0,
        }
    }
}

/// Folds text; built once (the t2s dictionaries are compiled in) and shared.
pub struct Folder {
    t2s: OpenCC,
}

impl std::fmt::Debug for Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Folder").finish_non_exhaustive()
    }
}

impl Folder {
    pub fn new() -> anyhow::Result<Self> {
        let t2s = OpenCC::from_config(BuiltinConfig::T2s)
            .map_err(|e| anyhow::anyhow!("loading the traditional → simplified dictionaries: {e}"))?;
        Ok(Self { t2s })
    }

    pub fn fold(&self, text: &str) -> Folded {
        let mut chars = Vec::with_capacity(text.len());
        let mut origin = Vec::with_capacity(text.len());
        let mut buf = [0u8; 4];
        for (at, ch) in text.char_indices() {
            let range = at..at + ch.len_utf8();
            if ch.is_ascii() {
                chars.push(ch.to_ascii_lowercase());
                origin.push(range);
                continue;
            }
            for normalized in ch.encode_utf8(&mut buf).nfkc() {
                for lower in normalized.to_lowercase() {
                    chars.push(lower);
                    origin.push(range.clone());
                }
            }
        }
        self.simplify(&mut chars);
        Folded { chars, origin }
    }

    /// Traditional → simplified in place. OpenCC converts phrases as well as characters
    /// (乾隆 stays, 乾燥 → 干燥); where a phrase would change the length, which would lose the
    /// character-to-original map, each character is converted on its own instead.
    fn simplify(&self, chars: &mut [char]) {
        if !chars.iter().any(|&c| super::is_han(c)) {
            return;
        }
        let text: String = chars.iter().collect();
        let converted: Vec<char> = self.t2s.convert(&text).chars().collect();
        if converted.len() == chars.len() {
            chars.copy_from_slice(&converted);
            return;
        }
        let mut buf = [0u8; 4];
        for c in chars.iter_mut().filter(|c| super::is_han(**c)) {
            let one: Vec<char> = self.t2s.convert(c.encode_utf8(&mut buf)).chars().collect();
            if let [single] = one.as_slice() {
                *c = *single;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> String {
        Folder::new().unwrap().fold(s).as_string()
    }

    #[test]
    fn full_width_letters_digits_and_space_become_ascii() {
        assert_eq!(fold("ＡＢＣ１２３　ｉＰｈｏｎｅ"), "abc123 iphone");
        assert_eq!(fold("（限量）"), "(限量)");
    }

    #[test]
    fn traditional_is_simplified() {
        assert_eq!(fold("臺灣銀行發展"), "台湾银行发展");
        assert_eq!(fold("中國農業"), "中国农业");
        // Already simplified text is left alone.
        assert_eq!(fold("中国农业发展银行"), "中国农业发展银行");
    }

    #[test]
    fn every_folded_character_points_at_its_original_bytes() {
        let folder = Folder::new().unwrap();
        let text = "買ＡＢ手機";
        let folded = folder.fold(text);
        assert_eq!(folded.as_string(), "买ab手机");
        assert_eq!(&text[folded.original_range(0..1)], "買");
        assert_eq!(&text[folded.original_range(1..3)], "ＡＢ");
        assert_eq!(&text[folded.original_range(3..5)], "手機");
        assert_eq!(folded.original_range(5..5), 0..0);
    }

    #[test]
    fn a_character_that_folds_into_several_keeps_one_origin() {
        let folder = Folder::new().unwrap();
        let folded = folder.fold("㍿");
        assert_eq!(folded.as_string(), "株式会社");
        assert!(folded.origin.iter().all(|r| *r == (0..3)));
    }
}
