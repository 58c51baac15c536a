//! Fields analyzed before they reach tantivy, in a compact text form its indexing threads read
//! back with a trivial tokenizer.
//!
//! Why not tantivy's `PreTokenizedString`: a document keeps it as JSON, so every token was
//! serialized by the caller and parsed again by the indexing thread — measured at a quarter of
//! all indexing CPU. Here each term is one line, `<position>\t<text>`, parsed without allocating.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use crate::analysis::Term;

/// The name the tokenizer is registered under on every index.
pub(super) const TOKENIZER: &str = "kanjian_pre_analyzed";

/// Encodes `terms`, their positions moved by `shift`, after what `out` holds.
pub(super) fn encode(out: &mut String, terms: &[Term], shift: usize) {
    let mut number = itoa::Buffer::new();
    for term in terms {
        // A term with a line break or tab in it could not be read back; such a term is never
        // searched for either (queries are split on them).
        if term.text.contains(['\t', '\n']) {
            continue;
        }
        out.push_str(number.format(term.position + shift));
        out.push('\t');
        out.push_str(&term.text);
        out.push('\n');
    }
}

/// Reads back what `encode` wrote.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PreAnalyzed;

impl Tokenizer for PreAnalyzed {
    type TokenStream<'a> = Lines<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Lines<'a> {
        Lines { rest: text, token: Token::default() }
    }
}

pub(super) struct Lines<'a> {
    rest: &'a str,
    token: Token,
}

impl TokenStream for Lines<'_> {
    fn advance(&mut self) -> bool {
        while !self.rest.is_empty() {
            let (line, rest) = self.rest.split_once('\n').unwrap_or((self.rest, ""));
            self.rest = rest;
            let Some((position, text)) = line.split_once('\t') else { continue };
            let Ok(position) = position.parse() else { continue };
            self.token.position = position;
            self.token.position_length = 1;
            self.token.text.clear();
            self.token.text.push_str(text);
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_read_back_as_written() {
        let term = |text: &str, position| Term { text: text.to_owned(), position, chars: 0..0 };
        let mut encoded = String::new();
        encode(&mut encoded, &[term("中国", 0), term("zhong", 0), term("a\tb", 1)], 0);
        encode(&mut encoded, &[term("银行", 2)], 10);
        let mut tokenizer = PreAnalyzed;
        let mut stream = tokenizer.token_stream(&encoded);
        let mut read = Vec::new();
        while let Some(token) = stream.next() {
            read.push((token.text.clone(), token.position));
        }
        assert_eq!(read, [("中国".to_owned(), 0), ("zhong".to_owned(), 0), ("银行".to_owned(), 12)]);
    }
}
