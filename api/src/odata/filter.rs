//! The `$filter` language of OData v4 as far as dap reads it: a recursive-descent parser
//! from text to a syntax tree ([`Node`]). What the tree may mean is decided later
//! ([`super::pushdown`]); here only the syntax is checked, and every error names the
//! position (a character offset) where it was found.
//!
//! Grammar (lowest precedence first):
//!
//! ```text
//! or     := and ('or' and)*
//! and    := unary ('and' unary)*
//! unary  := 'not' unary | '(' or ')' | test
//! test   := operand [cmp operand | 'in' '(' literal (',' literal)* ')']
//! cmp    := eq | ne | gt | ge | lt | le
//! operand:= property | function '(' operand (',' operand)* ')' | literal
//! literal:= 'text' ('' doubles a quote) | 12 | -1.5 | 2025-01-31 | true | false | null
//! ```

use std::fmt;

use super::lex::{Token, lex};

/// Longest `$filter` dap parses.
pub const MAX_FILTER_LEN: usize = 8 * 1024;
/// Deepest nesting of parentheses and `not`.
const MAX_NESTING: usize = 32;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    const ALL: [Self; 6] = [Self::Eq, Self::Ne, Self::Gt, Self::Ge, Self::Lt, Self::Le];

    /// The operator's OData name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// `a op b` ⇔ `b flipped() a`.
    pub fn flipped(self) -> Self {
        match self {
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            same => same,
        }
    }
}

/// A literal value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Null,
    Bool(bool),
    /// An integer or decimal as written (`-12`, `3.50`, `1e3`).
    Number(String),
    /// The text between the quotes, with doubled quotes made single.
    String(String),
    /// `YYYY-MM-DD`.
    Date(String),
}

/// A value in a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Property(String),
    Literal(Literal),
    Call(String, Vec<Operand>),
}

/// A `$filter` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Compare(Operand, CmpOp, Operand),
    In(Operand, Vec<Literal>),
    /// An operand standing alone: a boolean property or function.
    Test(Operand),
}

/// A syntax error at a character position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "$filter: {} at position {}", self.message, self.position)
    }
}

/// Parses a `$filter` value.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.len() > MAX_FILTER_LEN {
        return Err(SyntaxError {
            position: MAX_FILTER_LEN,
            message: format!("the filter is longer than {MAX_FILTER_LEN} bytes"),
        });
    }
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        next: 0,
        end: text.chars().count(),
        depth: 0,
    };
    let node = parser.or()?;
    match parser.peek() {
        None => Ok(node),
        Some(_) => Err(parser.error("expected 'and', 'or' or the end of the filter")),
    }
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(p, _)| *p)
    }

    fn error(&self, message: &str) -> SyntaxError {
        SyntaxError {
            position: self.position(),
            message: message.to_owned(),
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(w)) if w == word) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &Token, what: &str) -> Result<(), SyntaxError> {
        if self.peek() == Some(token) {
            self.next += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}")))
        }
    }

    fn nest(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error(&format!("nested deeper than {MAX_NESTING} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, SyntaxError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, SyntaxError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            left = Node::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, SyntaxError> {
        if self.keyword("not") {
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.next += 1;
            self.nest()?;
            let inner = self.or()?;
            self.depth -= 1;
            self.expect(&Token::Close, "')'")?;
            return Ok(inner);
        }
        self.test()
    }

    fn test(&mut self) -> Result<Node, SyntaxError> {
        let left = self.operand()?;
        if let Some(Token::Word(w)) = self.peek()
            && let Some(op) = CmpOp::ALL.into_iter().find(|o| o.name() == w)
        {
            self.next += 1;
            return Ok(Node::Compare(left, op, self.operand()?));
        }
        if self.keyword("in") {
            self.expect(&Token::Open, "'(' after in")?;
            let mut values = vec![self.literal()?];
            while self.peek() == Some(&Token::Comma) {
                self.next += 1;
                values.push(self.literal()?);
            }
            self.expect(&Token::Close, "')' or ',' in the list of in")?;
            return Ok(Node::In(left, values));
        }
        Ok(Node::Test(left))
    }

    fn literal(&mut self) -> Result<Literal, SyntaxError> {
        match self.peek() {
            Some(Token::Lit(l)) => {
                let l = l.clone();
                self.next += 1;
                Ok(l)
            }
            _ => Err(self.error("expected a value ('text', number, date, true, false or null)")),
        }
    }

    fn operand(&mut self) -> Result<Operand, SyntaxError> {
        match self.peek().cloned() {
            Some(Token::Lit(l)) => {
                self.next += 1;
                Ok(Operand::Literal(l))
            }
            Some(Token::Word(w)) if is_reserved(&w) => {
                Err(self.error(&format!("expected a property or value, found '{w}'")))
            }
            Some(Token::Word(w)) => {
                self.next += 1;
                if self.peek() != Some(&Token::Open) {
                    return Ok(Operand::Property(w));
                }
                self.next += 1;
                self.nest()?;
                let mut args = vec![self.operand()?];
                while self.peek() == Some(&Token::Comma) {
                    self.next += 1;
                    args.push(self.operand()?);
                }
                self.depth -= 1;
                self.expect(&Token::Close, "')' or ',' in the arguments")?;
                Ok(Operand::Call(w, args))
            }
            _ => Err(self.error("expected a property, function or value")),
        }
    }
}

fn is_reserved(word: &str) -> bool {
    matches!(word, "and" | "or" | "not" | "in") || CmpOp::ALL.iter().any(|o| o.name() == word)
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) | Self::Date(n) => f.write_str(n),
            Self::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Property(p) => f.write_str(p),
            Self::Literal(l) => write!(f, "{l}"),
            Self::Call(name, args) => {
                let args: Vec<String> = args.iter().map(ToString::to_string).collect();
                write!(f, "{name}({})", args.join(","))
            }
        }
    }
}

/// The canonical text of a filter, fully parenthesised: it parses back to the same tree.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::And(a, b) => write!(f, "({a} and {b})"),
            Self::Or(a, b) => write!(f, "({a} or {b})"),
            Self::Not(a) => write!(f, "not ({a})"),
            Self::Compare(l, op, r) => write!(f, "{l} {} {r}", op.name()),
            Self::In(l, values) => {
                let values: Vec<String> = values.iter().map(ToString::to_string).collect();
                write!(f, "{l} in ({})", values.join(","))
            }
            Self::Test(o) => write!(f, "{o}"),
        }
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
