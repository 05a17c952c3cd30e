//! The tokens of `$filter`: parentheses, commas, words (properties, functions, operators)
//! and literals, each with the character position it starts at.

use super::filter::{Literal, SyntaxError};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Open,
    Close,
    Comma,
    Word(String),
    Lit(Literal),
}

/// The tokens of `text` with their positions.
pub(super) fn lex(text: &str) -> Result<Vec<(usize, Token)>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |position: usize, message: &str| SyntaxError {
        position,
        message: message.to_owned(),
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' | ')' | ',' => {
                let token = match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                };
                out.push((start, token));
                i += 1;
            }
            '\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "a text value is not closed with '")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            value.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            value.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((start, Token::Lit(Literal::String(value))));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '.' | '-' | '+' | ':'))
                {
                    // A sign belongs to the number only right after an exponent mark or
                    // inside a date.
                    if chars[i] == '+' && !matches!(chars[i - 1], 'e' | 'E') {
                        break;
                    }
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                out.push((
                    start,
                    Token::Lit(number_or_date(&raw).ok_or_else(|| {
                        err(
                            start,
                            &format!("'{raw}' is neither a number nor a date (YYYY-MM-DD)"),
                        )
                    })?),
                ));
            }
            c if c.is_alphabetic() || c == '_' => {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let token = match word.as_str() {
                    "null" => Token::Lit(Literal::Null),
                    "true" => Token::Lit(Literal::Bool(true)),
                    "false" => Token::Lit(Literal::Bool(false)),
                    _ => Token::Word(word),
                };
                out.push((start, token));
            }
            other => return Err(err(start, &format!("unexpected character '{other}'"))),
        }
    }
    Ok(out)
}

fn number_or_date(raw: &str) -> Option<Literal> {
    let b = raw.as_bytes();
    let is_date = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if is_date {
        return Some(Literal::Date(raw.to_owned()));
    }
    // OData 4 numbers; the v3 suffixes m/M (decimal) and l/L (int64) are still common.
    let body = raw.strip_suffix(['m', 'M', 'l', 'L']).unwrap_or(raw);
    let digits = body.strip_prefix('-').unwrap_or(body);
    let (mantissa, exponent) = match digits.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (digits, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    (numeric(whole) && numeric(fraction) && exponent.is_none_or(numeric))
        .then(|| Literal::Number(body.to_owned()))
}
