//! The DPL grammar (pest, in `dpl.pest`) and the parser that builds
//! [`crate::ast::Module`], checking literals as it goes.

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::span::{FileId, Span};
use pest::iterators::Pair;
use pest::Parser as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The generated parser lives in a private module so its `Rule` enum stays
/// an implementation detail.
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "syntax/dpl.pest"]
    pub(super) struct DplParser;
}

use grammar::{DplParser, Rule};

/// The result of parsing one file.
#[derive(Debug)]
pub struct Parsed {
    /// The items that parsed (all of them when there are no errors).
    pub module: Module,
    /// Syntax and literal errors, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// Parses `text` (the contents of `file`). Never panics.
pub fn parse(file: FileId, text: &str) -> Parsed {
    let mut diagnostics = Vec::new();
    let comments = comments(file, text);
    if let Some(pos) = too_deep(text) {
        diagnostics.push(
            Diagnostic::new(
                "E0001",
                Span::new(file, pos, pos + 1),
                "nesting is too deep",
            )
            .label(format!(
                "more than {MAX_DEPTH} levels of parentheses or braces"
            )),
        );
        return Parsed {
            module: Module {
                items: Vec::new(),
                comments,
            },
            diagnostics,
        };
    }
    // Tracks the literal tokens expected at the furthest position, so errors
    // can say "expected `;`" rather than naming grammar rules.
    pest::set_error_detail(true);
    let mut items = Vec::new();
    match DplParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let mut b = Builder {
                file,
                offset: 0,
                diags: &mut diagnostics,
            };
            if let Some(f) = pairs.next() {
                for p in f.into_inner() {
                    if let Some(item) = b.item(p) {
                        items.push(item);
                    }
                }
            }
        }
        Err(_) => {
            // Parse each top-level chunk on its own so that every broken item
            // is reported, not only the first.
            for (start, end) in chunks(text) {
                let chunk = &text[start..end];
                match DplParser::parse(Rule::file, chunk) {
                    Ok(mut pairs) => {
                        let mut b = Builder {
                            file,
                            offset: start,
                            diags: &mut diagnostics,
                        };
                        if let Some(f) = pairs.next() {
                            for p in f.into_inner() {
                                if let Some(item) = b.item(p) {
                                    items.push(item);
                                }
                            }
                        }
                    }
                    Err(e) => diagnostics.push(syntax_error(file, start, chunk, &e)),
                }
            }
        }
    }
    diagnostics.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    Parsed {
        module: Module { items, comments },
        diagnostics,
    }
}

const ITEM_KEYWORDS: [&str; 10] = [
    "use",
    "port",
    "const",
    "set",
    "counter",
    "meter",
    "conntrack",
    "policy",
    "pipeline",
    "test",
];

/// Byte ranges of top-level chunks: each starts at a line beginning (column
/// 0) with an item keyword.
fn chunks(text: &str) -> Vec<(usize, usize)> {
    let mut starts = vec![0];
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let is_item = ITEM_KEYWORDS.iter().any(|k| {
            line.starts_with(k)
                && !line[k.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        });
        if is_item && pos > 0 {
            starts.push(pos);
        }
        pos += line.len();
    }
    let mut out = Vec::new();
    for (i, &s) in starts.iter().enumerate() {
        let e = starts.get(i + 1).copied().unwrap_or(text.len());
        out.push((s, e));
    }
    out
}

/// The offset of the first bracket nested deeper than [`MAX_DEPTH`].
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut in_comment = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '#' => in_comment = true,
            '"' => in_str = true,
            '(' | '{' | '[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            ')' | '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Every `#` comment outside string literals.
fn comments(file: FileId, text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut in_str = false;
    let mut escaped = false;
    let mut iter = text.char_indices();
    while let Some((i, c)) = iter.next() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                (false, '\n') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '#' => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let body = text[i..end].trim_end_matches('\r');
                out.push(Comment {
                    text: body.to_string(),
                    span: Span::new(file, i, i + body.len()),
                });
                for _ in text[i..end].chars().skip(1) {
                    iter.next();
                }
            }
            _ => {}
        }
    }
    out
}

/// The words the grammar reserves (`kw` in `dpl.pest`).
const KEYWORDS: [&str; 31] = [
    "use",
    "port",
    "const",
    "set",
    "counter",
    "meter",
    "conntrack",
    "policy",
    "pipeline",
    "test",
    "rule",
    "default",
    "and",
    "or",
    "not",
    "in",
    "via",
    "send",
    "after",
    "expect",
    "accept",
    "drop",
    "reject",
    "forward",
    "jump",
    "count",
    "mirror",
    "log",
    "notrack",
    "continue",
    "has",
];

/// E0001 on a keyword used as a name, when one sits at or just before `pos`.
fn keyword_as_name(file: FileId, offset: usize, chunk: &str, pos: usize) -> Option<Diagnostic> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let end = pos + chunk[pos..].chars().take_while(|c| is_word(*c)).count();
    let (start, end) = if end > pos {
        (pos, end)
    } else {
        let before = chunk[..pos].trim_end_matches([' ', '\t']);
        let start = before.len() - before.chars().rev().take_while(|c| is_word(*c)).count();
        (start, before.len())
    };
    let word = &chunk[start..end];
    KEYWORDS.contains(&word).then(|| {
        Diagnostic::new(
            "E0001",
            Span::new(file, offset + start, offset + end),
            format!("`{word}` is a keyword, not a name"),
        )
        .label("keywords cannot name rules, ports or other items")
        .help(format!("rename it, for example `{word}_`"))
    })
}

/// Keywords and structural punctuation; lexical fragments (`0x`, `_`, `#`)
/// would only confuse.
fn is_user_token(t: &str) -> bool {
    const PUNCT: [&str; 16] = [
        ";", ",", "{", "}", "(", ")", "[", "]", "=>", "->", "=", "::", "==", "/", "|", "*",
    ];
    PUNCT.contains(&t) || (t.len() > 1 && t.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
}

/// Plain-words names for grammar rules in "expected ..." messages.
fn describe(r: &Rule) -> &'static str {
    match r {
        Rule::EOI => "end of file",
        Rule::ident => "a name",
        Rule::word | Rule::name => "a word",
        Rule::field_path => "a field",
        Rule::value | Rule::meter_value => "a value",
        Rule::int_lit | Rule::dec => "a number",
        Rule::string => "a string",
        Rule::duration => "a duration like `30s`",
        Rule::prefix_len => "a prefix length",
        Rule::use_decl
        | Rule::port_decl
        | Rule::const_decl
        | Rule::const_set_decl
        | Rule::set_decl
        | Rule::counter_decl
        | Rule::meter_decl
        | Rule::conntrack_decl
        | Rule::policy_decl
        | Rule::pipeline_decl
        | Rule::test_decl => "an item (`use`, `port`, `const`, `set`, `counter`, `meter`, `conntrack`, `policy`, `pipeline`, `test`)",
        Rule::rule => "`rule`",
        Rule::default_stmt => "`default`",
        Rule::verdict => "`accept` or `drop`",
        Rule::pred | Rule::conj | Rule::neg | Rule::test | Rule::paren => "a predicate",
        Rule::not_kw => "`not`",
        Rule::op_in | Rule::op_not_in | Rule::op_has | Rule::op_mask | Rule::op_cmp | Rule::cmp => {
            "a comparison (`==`, `!=`, `<`, `in`, `has`...)"
        }
        Rule::set_expr | Rule::set_lit => "a set",
        Rule::action
        | Rule::a_accept
        | Rule::a_drop
        | Rule::a_reject
        | Rule::a_forward
        | Rule::a_jump
        | Rule::a_continue
        | Rule::a_count
        | Rule::a_meter
        | Rule::a_set
        | Rule::a_mirror
        | Rule::a_log
        | Rule::a_notrack => "an action",
        Rule::arms | Rule::arm | Rule::arm_list => "a colour arm",
        Rule::ct_setting => "a conntrack setting (`max_entries`, `timeout`, `on_full`, `zone`)",
        Rule::meter_arg => "a meter parameter",
        Rule::meter_per => "`per`",
        Rule::meter_max => "`max`",
        Rule::tuple => "a tuple of fields",
        Rule::pipe_line => "a pipeline line `FROM -> TO [via POLICY];`",
        Rule::send | Rule::after | Rule::expect_counter | Rule::expect_rule | Rule::expect_ct => {
            "a test statement (`send`, `after`, `expect`)"
        }
        Rule::packet | Rule::p_tcp | Rule::p_udp | Rule::p_icmp | Rule::p_ip | Rule::p_raw => {
            "a packet (`tcp`, `udp`, `icmp`, `ip`, `raw`)"
        }
        Rule::popt => "a packet option",
        Rule::endpoint => "an `ADDRESS:PORT`",
        Rule::addr | Rule::ipv4 | Rule::hexcolon => "an address",
        Rule::tcp_flags => "TCP flags `[syn, ack]`",
        Rule::icmp_tc => "an ICMP type",
        Rule::on => "`on`",
        Rule::at => "`at`",
        Rule::expect | Rule::e_verdict => "`accept`, `drop` or `forward PORT`",
        Rule::eclause => "`by`, `color` or `with`",
        Rule::count_unit => "`packets` or `bytes`",
        Rule::sample => "`sample N/M`",
        Rule::use_source | Rule::use_names | Rule::star => "a module path",
        _ => "something else",
    }
}

fn syntax_error(
    file: FileId,
    offset: usize,
    chunk: &str,
    e: &pest::error::Error<Rule>,
) -> Diagnostic {
    let mut pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().map(|r| describe(r).to_string()).collect()
        }
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    if let Some(attempts) = e.parse_attempts() {
        let tokens: Vec<String> = attempts
            .expected_tokens()
            .into_iter()
            .map(|t| t.to_string())
            // Ranges (`a..z`) and built-ins are noise to a user; keywords
            // and punctuation are what they can type.
            .filter(|t| is_user_token(t))
            .map(|t| format!("`{t}`"))
            .collect();
        let rules: Vec<String> = attempts
            .call_stacks()
            .iter()
            .filter_map(|c| {
                c.deepest
                    .get_rule()
                    .or(c.parent.as_ref())
                    .map(|r| describe(r).to_string())
            })
            .filter(|d| d != "something else")
            .collect();
        if attempts.max_position >= pos && (!tokens.is_empty() || !rules.is_empty()) {
            pos = attempts.max_position.min(chunk.len());
            expected = tokens;
            expected.extend(rules);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    expected.retain(|x| seen.insert(x.clone()));
    expected.truncate(8);
    let what = match expected.len() {
        0 => "unexpected input".to_string(),
        1 => format!("expected {}", expected[0]),
        n => format!(
            "expected {} or {}",
            expected[..n - 1].join(", "),
            expected[n - 1]
        ),
    };
    // A keyword where a name belongs (`rule after: ...`) is the likeliest
    // cause when a name was expected right after one.
    if expected.iter().any(|e| e == "a name") {
        if let Some(d) = keyword_as_name(file, offset, chunk, pos) {
            return d;
        }
    }
    // A missing `;` is best shown where it belongs: right after the previous
    // token, not at the start of the next line.
    if expected.iter().any(|e| e == "`;`") {
        let before = chunk[..pos].trim_end();
        if before.len() < pos && chunk[before.len()..pos].contains('\n') {
            let at = offset + before.len();
            return Diagnostic::new(
                "E0001",
                Span::new(file, at.saturating_sub(1), at),
                format!("syntax error: {what}"),
            )
            .label("expected `;` after this")
            .help("end the statement with `;`");
        }
    }
    let found = chunk[pos..].chars().next();
    let (end, found_text) = match found {
        Some(c) => {
            let tok: String = chunk[pos..]
                .chars()
                .take_while(|ch| ch.is_alphanumeric() || *ch == '_' || *ch == '.')
                .collect();
            let tok = if tok.is_empty() { c.to_string() } else { tok };
            (pos + tok.len(), format!("found `{tok}`"))
        }
        None => (pos, "found the end of the file".to_string()),
    };
    Diagnostic::new(
        "E0001",
        Span::new(file, offset + pos, offset + end),
        format!("syntax error: {what}"),
    )
    .label(found_text)
}

struct Builder<'d> {
    file: FileId,
    offset: usize,
    diags: &'d mut Vec<Diagnostic>,
}

impl Builder<'_> {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, self.offset + s.start(), self.offset + s.end())
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn item(&mut self, p: Pair<Rule>) -> Option<Item> {
        let span = self.span(&p);
        let kind_ = p.as_rule();
        let mut it = p.into_inner();
        Some(match kind_ {
            Rule::use_decl => {
                let src = it.next()?;
                let source = match src.clone().into_inner().next() {
                    Some(s) if s.as_rule() == Rule::string => UseSource::File(self.string(s)),
                    _ => UseSource::Std(src.into_inner().map(|w| self.ident(w)).collect()),
                };
                let names = it.next()?;
                let mut inner = names.into_inner().peekable();
                let names = match inner.peek().map(|p| p.as_rule()) {
                    Some(Rule::star) => UseNames::All(self.span(inner.peek()?)),
                    _ => UseNames::List(inner.map(|i| self.ident(i)).collect()),
                };
                Item::Use(UseDecl {
                    source,
                    names,
                    span,
                })
            }
            Rule::port_decl => Item::Port(PortDecl {
                name: self.ident(it.next()?),
                number: self.value(it.next()?),
                span,
            }),
            Rule::const_decl => Item::Const(ConstDecl {
                name: self.ident(it.next()?),
                value: self.value(it.next()?),
                span,
            }),
            Rule::const_set_decl => match self.item(it.next()?)? {
                Item::Set(mut s) => {
                    s.is_const = true;
                    s.span = span;
                    Item::Set(s)
                }
                other => other,
            },
            Rule::set_decl => {
                let name = self.ident(it.next()?);
                let ty = self.ident(it.next()?);
                let elems = it.next()?.into_inner().map(|v| self.value(v)).collect();
                Item::Set(SetDecl {
                    is_const: false,
                    name,
                    ty,
                    elems,
                    span,
                })
            }
            Rule::counter_decl => Item::Counter(CounterDecl {
                name: self.ident(it.next()?),
                span,
            }),
            Rule::meter_decl => {
                let name = self.ident(it.next()?);
                let mut args = Vec::new();
                let mut per = None;
                let mut max = None;
                for a in it {
                    match a.as_rule() {
                        Rule::meter_arg => {
                            let mut ai = a.into_inner();
                            let key = self.ident(ai.next()?);
                            let value = ai
                                .next()
                                .and_then(|v| v.into_inner().next())
                                .map(|v| self.scalar(v));
                            args.push(MeterArg { key, value });
                        }
                        Rule::meter_per => {
                            let kspan = self.span(&a);
                            let k = a.into_inner().next()?;
                            per = Some(match k.as_rule() {
                                Rule::tuple => MeterKey {
                                    fields: k.into_inner().map(|f| self.field(f)).collect(),
                                    tuple: true,
                                    span: kspan,
                                },
                                _ => MeterKey {
                                    fields: vec![self.field(k)],
                                    tuple: false,
                                    span: kspan,
                                },
                            });
                        }
                        Rule::meter_max => max = Some(self.value(a.into_inner().next()?)),
                        _ => {}
                    }
                }
                Item::Meter(MeterDecl {
                    name,
                    args,
                    per,
                    max,
                    span,
                })
            }
            Rule::conntrack_decl => {
                let mut settings = Vec::new();
                for s in it {
                    let sspan = self.span(&s);
                    let text = s.as_str();
                    let mut si = s.into_inner();
                    let kind = if text.starts_with("max_entries") {
                        CtSettingKind::MaxEntries(self.value(si.next()?))
                    } else if text.starts_with("timeout") {
                        CtSettingKind::Timeout(self.ident(si.next()?), self.value(si.next()?))
                    } else if text.starts_with("on_full") {
                        CtSettingKind::OnFull(self.ident(si.next()?))
                    } else {
                        CtSettingKind::Zone(self.field(si.next()?))
                    };
                    settings.push(CtSetting { kind, span: sspan });
                }
                Item::Conntrack(ConntrackDecl { settings, span })
            }
            Rule::policy_decl => {
                let name = self.ident(it.next()?);
                let mut rules = Vec::new();
                let mut default = None;
                for r in it {
                    match r.as_rule() {
                        Rule::rule => {
                            if let Some(rule) = self.rule(r) {
                                rules.push(rule);
                            }
                        }
                        _ => {
                            let dspan = self.span(&r);
                            let v = r.into_inner().next()?;
                            let verdict = if v.as_str() == "accept" {
                                Verdict::Accept
                            } else {
                                Verdict::Drop
                            };
                            default = Some(Default {
                                verdict,
                                span: dspan,
                            });
                        }
                    }
                }
                Item::Policy(PolicyDecl {
                    name,
                    rules,
                    default,
                    span,
                })
            }
            Rule::pipeline_decl => {
                let mut lines = Vec::new();
                for l in it {
                    let lspan = self.span(&l);
                    let mut li = l.into_inner();
                    let from = self.ident(li.next()?);
                    let to = self.ident(li.next()?);
                    let via = li.next().map(|v| self.ident(v));
                    lines.push(PipelineLine {
                        from,
                        to,
                        via,
                        span: lspan,
                    });
                }
                Item::Pipeline(PipelineDecl { lines, span })
            }
            Rule::test_decl => {
                let name = self.string(it.next()?);
                let stmts = it.filter_map(|s| self.test_stmt(s)).collect();
                Item::Test(TestDecl { name, stmts, span })
            }
            _ => return None,
        })
    }

    fn rule(&mut self, r: Pair<Rule>) -> Option<Rule_> {
        let span = self.span(&r);
        let mut it = r.into_inner().peekable();
        let name = self.ident(it.next()?);
        let pred = match it.peek().map(|p| p.as_rule()) {
            Some(Rule::pred) => Some(self.pred(it.next()?)?),
            _ => None,
        };
        let actions = it.filter_map(|a| self.action(a)).collect();
        Some(Rule_ {
            name,
            pred,
            actions,
            span,
        })
    }

    fn pred(&mut self, p: Pair<Rule>) -> Option<Pred> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::pred | Rule::conj => {
                let is_or = p.as_rule() == Rule::pred;
                let mut parts = p.into_inner();
                let mut acc = self.pred(parts.next()?)?;
                for next in parts {
                    let rhs = self.pred(next)?;
                    let s = acc.span().to(rhs.span());
                    acc = if is_or {
                        Pred::Or(Box::new(acc), Box::new(rhs), s)
                    } else {
                        Pred::And(Box::new(acc), Box::new(rhs), s)
                    };
                }
                let _ = span;
                Some(acc)
            }
            Rule::neg => {
                let mut inner = p.into_inner();
                let first = inner.next()?;
                if first.as_rule() == Rule::not_kw {
                    let rest = self.pred(inner.next()?)?;
                    Some(Pred::Not(Box::new(rest), span))
                } else {
                    self.pred(first)
                }
            }
            Rule::paren => Some(Pred::Paren(
                Box::new(self.pred(p.into_inner().next()?)?),
                span,
            )),
            Rule::test => {
                let mut it = p.into_inner();
                let field = self.field(it.next()?);
                let op = match it.next() {
                    None => TestOp::Bare,
                    Some(o) => self.test_op(o)?,
                };
                Some(Pred::Test(Test { field, op, span }))
            }
            _ => None,
        }
    }

    fn test_op(&mut self, o: Pair<Rule>) -> Option<TestOp> {
        let kind_ = o.as_rule();
        let mut it = o.into_inner();
        Some(match kind_ {
            Rule::op_in => TestOp::In(self.set_expr(it.next()?)),
            Rule::op_not_in => TestOp::NotIn(self.set_expr(it.next()?)),
            Rule::op_has => TestOp::Has(self.value(it.next()?)),
            Rule::op_mask => TestOp::MaskEq {
                mask: self.value(it.next()?),
                value: self.value(it.next()?),
            },
            Rule::op_cmp => {
                let cmp = it.next()?.as_str().to_string();
                let v = self.value(it.next()?);
                match cmp.as_str() {
                    "==" => TestOp::Eq(v),
                    "!=" => TestOp::Ne(v),
                    "<" => TestOp::Lt(v),
                    "<=" => TestOp::Le(v),
                    ">" => TestOp::Gt(v),
                    _ => TestOp::Ge(v),
                }
            }
            _ => return None,
        })
    }

    fn set_expr(&mut self, s: Pair<Rule>) -> SetExpr {
        let span = self.span(&s);
        match s.into_inner().next() {
            Some(i) if i.as_rule() == Rule::ident => SetExpr::Name(self.ident(i)),
            Some(l) => SetExpr::Literal(l.into_inner().map(|v| self.value(v)).collect(), span),
            None => SetExpr::Literal(Vec::new(), span),
        }
    }

    fn field(&self, p: Pair<Rule>) -> FieldPath {
        let span = self.span(&p);
        FieldPath {
            segments: p.into_inner().map(|w| self.ident(w)).collect(),
            span,
        }
    }

    fn action(&mut self, a: Pair<Rule>) -> Option<Action> {
        let a = if a.as_rule() == Rule::action {
            a.into_inner().next()?
        } else {
            a
        };
        let span = self.span(&a);
        let kind_ = a.as_rule();
        let mut it = a.into_inner();
        let kind = match kind_ {
            Rule::a_accept => ActionKind::Accept,
            Rule::a_drop => ActionKind::Drop,
            Rule::a_reject => ActionKind::Reject,
            Rule::a_continue => ActionKind::Continue,
            Rule::a_notrack => ActionKind::NoTrack,
            Rule::a_forward => ActionKind::Forward(self.ident(it.next()?)),
            Rule::a_jump => ActionKind::Jump(self.ident(it.next()?)),
            Rule::a_mirror => ActionKind::Mirror(self.ident(it.next()?)),
            Rule::a_count => ActionKind::Count(it.next().map(|i| self.ident(i))),
            Rule::a_set => ActionKind::Set {
                field: self.field(it.next()?),
                value: self.value(it.next()?),
            },
            Rule::a_log => {
                let mut prefix = None;
                let mut sample = None;
                for p in it {
                    match p.as_rule() {
                        Rule::string => prefix = Some(self.string(p)),
                        _ => {
                            let mut si = p.into_inner();
                            let n = si.next()?;
                            let m = si.next()?;
                            sample = Some((self.int(n), self.int(m)));
                        }
                    }
                }
                ActionKind::Log { prefix, sample }
            }
            Rule::a_meter => {
                let name = self.ident(it.next()?);
                let arms = it.next().map(|arms| {
                    arms.into_inner()
                        .filter_map(|arm| {
                            let aspan = self.span(&arm);
                            let mut ai = arm.into_inner();
                            let color = self.ident(ai.next()?);
                            let body = ai.next()?;
                            let parenthesized = body.as_rule() == Rule::arm_list;
                            let actions = if parenthesized {
                                body.into_inner().filter_map(|x| self.action(x)).collect()
                            } else {
                                vec![self.action(body)?]
                            };
                            Some(ColorArm {
                                color,
                                actions,
                                parenthesized,
                                span: aspan,
                            })
                        })
                        .collect()
                });
                ActionKind::Meter { name, arms }
            }
            _ => return None,
        };
        Some(Action { kind, span })
    }

    fn test_stmt(&mut self, s: Pair<Rule>) -> Option<TestStmt> {
        let span = self.span(&s);
        let kind_ = s.as_rule();
        let text = s.as_str().to_string();
        let mut it = s.into_inner();
        Some(match kind_ {
            Rule::send => {
                let packet = self.packet(it.next()?)?;
                let mut on = None;
                let mut at = None;
                let mut expect = None;
                for p in it {
                    match p.as_rule() {
                        Rule::on => on = Some(self.ident(p.into_inner().next()?)),
                        Rule::at => at = Some(self.value(p.into_inner().next()?)),
                        _ => expect = Some(self.expect(p)?),
                    }
                }
                TestStmt::Send(Box::new(Send {
                    packet,
                    on,
                    at,
                    expect: expect?,
                    span,
                }))
            }
            Rule::after => TestStmt::After(self.value(it.next()?), span),
            Rule::expect_counter => {
                let name = self.ident(it.next()?);
                let (value, packets_written) = self.count_value(it.next()?);
                let bytes = it.next().is_some_and(|u| u.as_str() == "bytes");
                let _ = packets_written;
                TestStmt::ExpectCounter {
                    name,
                    value,
                    bytes,
                    span,
                }
            }
            Rule::expect_rule => {
                let parts: Vec<Pair<Rule>> = it.collect();
                let (policy, rule, value) = match parts.len() {
                    3 => (
                        Some(self.ident(parts[0].clone())),
                        self.ident(parts[1].clone()),
                        self.value(parts[2].clone()),
                    ),
                    _ => (
                        None,
                        self.ident(parts.first()?.clone()),
                        self.value(parts.get(1)?.clone()),
                    ),
                };
                TestStmt::ExpectRuleHits {
                    policy,
                    rule,
                    value,
                    span,
                }
            }
            Rule::expect_ct => TestStmt::ExpectConntrack {
                value: self.value(it.next()?),
                span,
            },
            _ => {
                let _ = text;
                return None;
            }
        })
    }

    /// `== 2 packets` lexes as a size; it is a count.
    fn count_value(&mut self, v: Pair<Rule>) -> (Value, bool) {
        let value = self.value(v);
        match value.kind {
            ValueKind::Size(n, ref u) if u == "packets" => (
                Value {
                    kind: ValueKind::Int(u128::from(n), 10),
                    span: value.span,
                },
                true,
            ),
            _ => (value, false),
        }
    }

    fn expect(&mut self, e: Pair<Rule>) -> Option<Expect> {
        let span = self.span(&e);
        let mut it = e.into_inner();
        let v = it.next()?;
        let verdict = match v.as_str() {
            "accept" => ExpectVerdict::Accept,
            "drop" => ExpectVerdict::Drop,
            _ => ExpectVerdict::Forward(self.ident(v.into_inner().next()?)),
        };
        let mut ex = Expect {
            verdict,
            by: None,
            color: None,
            with_dscp: None,
            with_mark: None,
            span,
        };
        for c in it {
            let text = c.as_str().to_string();
            let parts: Vec<Pair<Rule>> = c.into_inner().collect();
            if text.starts_with("by") {
                ex.by = match parts.len() {
                    2 => Some((
                        Some(self.ident(parts[0].clone())),
                        self.ident(parts[1].clone()),
                    )),
                    _ => Some((None, self.ident(parts.first()?.clone()))),
                };
            } else if text.starts_with("color") {
                ex.color = Some(self.ident(parts.first()?.clone()));
            } else if text.contains("dscp") {
                ex.with_dscp = Some(self.value(parts.last()?.clone()));
            } else {
                ex.with_mark = Some(self.value(parts.last()?.clone()));
            }
        }
        Some(ex)
    }

    fn addr(&mut self, a: Pair<Rule>) -> Value {
        let a = if a.as_rule() == Rule::addr {
            a.into_inner().next()
        } else {
            Some(a)
        };
        match a {
            Some(p) => self.scalar(p),
            None => Value {
                kind: ValueKind::Int(0, 10),
                span: Span::new(self.file, self.offset, self.offset),
            },
        }
    }

    fn endpoint(&mut self, e: Pair<Rule>) -> Option<Endpoint> {
        let mut it = e.into_inner();
        let addr = self.addr(it.next()?);
        let port = self.value(it.next()?);
        Some(Endpoint { addr, port })
    }

    fn packet(&mut self, p: Pair<Rule>) -> Option<Packet> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let form = it.next()?;
        let kind_ = form.as_rule();
        let mut fi = form.into_inner();
        let kind = match kind_ {
            Rule::p_tcp => {
                let src = self.endpoint(fi.next()?)?;
                let dst = self.endpoint(fi.next()?)?;
                let flags = fi
                    .next()
                    .map(|f| f.into_inner().map(|w| self.ident(w)).collect())
                    .unwrap_or_default();
                PacketKind::Tcp { src, dst, flags }
            }
            Rule::p_udp => {
                let src = self.endpoint(fi.next()?)?;
                let dst = self.endpoint(fi.next()?)?;
                PacketKind::Udp { src, dst }
            }
            Rule::p_icmp => {
                let src = self.addr(fi.next()?);
                let dst = self.addr(fi.next()?);
                let w = fi.next()?;
                let what = if w.as_rule() == Rule::icmp_tc {
                    let mut ti = w.into_inner();
                    IcmpWhat::TypeCode(self.value(ti.next()?), self.value(ti.next()?))
                } else {
                    IcmpWhat::Name(self.ident(w))
                };
                PacketKind::Icmp { src, dst, what }
            }
            Rule::p_ip => {
                let src = self.addr(fi.next()?);
                let dst = self.addr(fi.next()?);
                PacketKind::Ip {
                    src,
                    dst,
                    proto: self.value(fi.next()?),
                }
            }
            _ => PacketKind::Raw(self.string(fi.next()?)),
        };
        let mut options = Vec::new();
        for o in it {
            let text = o.as_str().to_string();
            let mut oi = o.into_inner();
            let word: String = text
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let opt = match word.as_str() {
                "vlan" => PacketOpt::Vlan(self.value(oi.next()?)),
                "dscp" => PacketOpt::Dscp(self.value(oi.next()?)),
                "ecn" => PacketOpt::Ecn(self.value(oi.next()?)),
                "ttl" => PacketOpt::Ttl(self.value(oi.next()?)),
                "len" => PacketOpt::Len(self.value(oi.next()?)),
                "id" => PacketOpt::Id(self.value(oi.next()?)),
                "seq" => PacketOpt::Seq(self.value(oi.next()?)),
                "frag" => PacketOpt::Frag(self.ident(oi.next()?)),
                "eth" => PacketOpt::Eth(self.scalar(oi.next()?), self.scalar(oi.next()?)),
                "vxlan" => {
                    PacketOpt::Vxlan(self.value(oi.next()?), Box::new(self.packet(oi.next()?)?))
                }
                _ => PacketOpt::Geneve(self.value(oi.next()?), Box::new(self.packet(oi.next()?)?)),
            };
            options.push(opt);
        }
        Some(Packet {
            kind,
            options,
            span,
        })
    }

    fn string(&mut self, p: Pair<Rule>) -> StrLit {
        let span = self.span(&p);
        let raw = p.as_str();
        let body = &raw[1..raw.len().saturating_sub(1).max(1)];
        let mut value = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('"') => value.push('"'),
                    Some('\\') => value.push('\\'),
                    other => {
                        let shown = other.map(|c| c.to_string()).unwrap_or_default();
                        self.err(
                            Diagnostic::new(
                                "E0002",
                                span,
                                format!("invalid escape `\\{shown}` in a string"),
                            )
                            .label("only `\\\"` and `\\\\` are escapes")
                            .help("write `\\\\` for a backslash"),
                        );
                    }
                }
            } else {
                value.push(c);
            }
        }
        StrLit { value, span }
    }

    fn int(&mut self, p: Pair<Rule>) -> Value {
        let span = self.span(&p);
        let text: String = p.as_str().chars().filter(|c| *c != '_').collect();
        let (digits, radix) = if let Some(h) = text.strip_prefix("0x") {
            (h, 16)
        } else if let Some(b) = text.strip_prefix("0b") {
            (b, 2)
        } else {
            (text.as_str(), 10)
        };
        match u128::from_str_radix(digits, radix) {
            Ok(v) => Value {
                kind: ValueKind::Int(v, radix),
                span,
            },
            Err(_) => {
                self.err(
                    Diagnostic::new("E0002", span, "invalid integer")
                        .label("too large or malformed"),
                );
                Value {
                    kind: ValueKind::Int(0, radix),
                    span,
                }
            }
        }
    }

    fn value(&mut self, p: Pair<Rule>) -> Value {
        let p = if p.as_rule() == Rule::value {
            match p.into_inner().next() {
                Some(i) => i,
                None => {
                    return Value {
                        kind: ValueKind::Int(0, 10),
                        span: Span::new(self.file, 0, 0),
                    }
                }
            }
        } else {
            p
        };
        self.scalar(p)
    }

    fn scalar(&mut self, p: Pair<Rule>) -> Value {
        let span = self.span(&p);
        let text = p.as_str().to_string();
        let kind = match p.as_rule() {
            Rule::int_lit | Rule::dec => return self.int(p),
            Rule::string => ValueKind::Str(self.string(p).value),
            Rule::name | Rule::word | Rule::ident => ValueKind::Name(text),
            Rule::ipv4 => match self.ipv4(&text, span) {
                Some(a) => ValueKind::Ipv4(a),
                None => ValueKind::Ipv4(Ipv4Addr::UNSPECIFIED),
            },
            Rule::hexcolon => self.hexcolon(&text, span),
            Rule::ipv4_prefix | Rule::v6_prefix => self.prefix(&text, span),
            Rule::duration => {
                let digits: String = text.chars().take_while(|c| c.is_ascii_digit()).collect();
                let unit = text[digits.len()..].to_string();
                let mult: u64 = match unit.as_str() {
                    "ms" => 1_000_000,
                    "s" => 1_000_000_000,
                    "m" => 60_000_000_000,
                    "h" => 3_600_000_000_000,
                    _ => 86_400_000_000_000,
                };
                match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)) {
                    Some(ns) => ValueKind::Duration(ns, unit),
                    None => {
                        self.err(
                            Diagnostic::new("E0002", span, "duration is too long")
                                .label("does not fit in 64-bit nanoseconds"),
                        );
                        ValueKind::Duration(0, unit)
                    }
                }
            }
            Rule::rate | Rule::size => {
                let is_rate = p.as_rule() == Rule::rate;
                let mut it = p.into_inner();
                let n = it
                    .next()
                    .map(|d| d.as_str().to_string())
                    .unwrap_or_default();
                let unit = it
                    .next()
                    .map(|u| u.as_str().to_string())
                    .unwrap_or_default();
                let n = match n.parse::<u64>() {
                    Ok(n) => n,
                    Err(_) => {
                        self.err(
                            Diagnostic::new("E0002", span, "number is too large")
                                .label("does not fit in 64 bits"),
                        );
                        0
                    }
                };
                if is_rate {
                    ValueKind::Rate(n, unit)
                } else {
                    ValueKind::Size(n, unit)
                }
            }
            Rule::range => {
                let mut it = p.into_inner();
                let (Some(a), Some(b)) = (it.next(), it.next()) else {
                    return Value {
                        kind: ValueKind::Int(0, 10),
                        span,
                    };
                };
                let lo = self.scalar(a);
                let hi = self.scalar(b);
                if inverted(&lo.kind, &hi.kind) {
                    self.err(
                        Diagnostic::new("E0004", span, "range bounds are inverted")
                            .label("the low bound is greater than the high bound")
                            .help(format!("write `{}-{}`", self_text(&hi), self_text(&lo))),
                    );
                }
                ValueKind::Range(Box::new(lo), Box::new(hi))
            }
            Rule::flags => ValueKind::Flags(p.into_inner().map(|n| self.scalar(n)).collect()),
            Rule::value | Rule::meter_value => return self.value_inner(p),
            _ => ValueKind::Name(text),
        };
        Value { kind, span }
    }

    fn value_inner(&mut self, p: Pair<Rule>) -> Value {
        let span = self.span(&p);
        match p.into_inner().next() {
            Some(i) => self.scalar(i),
            None => Value {
                kind: ValueKind::Int(0, 10),
                span,
            },
        }
    }

    fn ipv4(&mut self, text: &str, span: Span) -> Option<Ipv4Addr> {
        match text.parse::<Ipv4Addr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    Diagnostic::new("E0002", span, format!("invalid IPv4 address `{text}`"))
                        .label("each of the four parts must be 0 to 255"),
                );
                None
            }
        }
    }

    fn hexcolon(&mut self, text: &str, span: Span) -> ValueKind {
        let groups: Vec<&str> = text.split(':').collect();
        if groups.len() == 6
            && groups
                .iter()
                .all(|g| g.len() == 2 && g.chars().all(|c| c.is_ascii_hexdigit()))
        {
            let mut mac = [0u8; 6];
            for (i, g) in groups.iter().enumerate() {
                mac[i] = u8::from_str_radix(g, 16).unwrap_or(0);
            }
            return ValueKind::Mac(mac);
        }
        match text.parse::<Ipv6Addr>() {
            Ok(a) => ValueKind::Ipv6(a),
            Err(_) => {
                self.err(
                    Diagnostic::new(
                        "E0002",
                        span,
                        format!("invalid IPv6 or MAC address `{text}`"),
                    )
                    .label("not an RFC 4291 address, nor six two-digit hex groups"),
                );
                ValueKind::Ipv6(Ipv6Addr::UNSPECIFIED)
            }
        }
    }

    fn prefix(&mut self, text: &str, span: Span) -> ValueKind {
        let (addr, len) = text.split_once('/').unwrap_or((text, "0"));
        let Ok(len) = len.parse::<u8>() else {
            self.err(Diagnostic::new("E0002", span, "invalid prefix length").label("too large"));
            return ValueKind::Ipv4Prefix(Ipv4Addr::UNSPECIFIED, 0);
        };
        if addr.contains(':') {
            let a = match self.hexcolon(addr, span) {
                ValueKind::Ipv6(a) => a,
                _ => {
                    self.err(Diagnostic::new(
                        "E0002",
                        span,
                        "a MAC address cannot have a prefix length",
                    ));
                    Ipv6Addr::UNSPECIFIED
                }
            };
            if len > 128 {
                self.err(
                    Diagnostic::new("E0002", span, "IPv6 prefix length over 128")
                        .label(format!("/{len}")),
                );
                return ValueKind::Ipv6Prefix(a, 128);
            }
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            let bits = u128::from(a);
            if bits & !mask != 0 {
                let fixed = Ipv6Addr::from(bits & mask);
                self.err(
                    Diagnostic::new("E0003", span, format!("prefix `{text}` has host bits set"))
                        .label(format!("the bits after the first {len} must be zero"))
                        .help(format!("did you mean `{fixed}/{len}`?")),
                );
            }
            ValueKind::Ipv6Prefix(Ipv6Addr::from(bits & mask), len)
        } else {
            let a = self.ipv4(addr, span).unwrap_or(Ipv4Addr::UNSPECIFIED);
            if len > 32 {
                self.err(
                    Diagnostic::new("E0002", span, "IPv4 prefix length over 32")
                        .label(format!("/{len}")),
                );
                return ValueKind::Ipv4Prefix(a, 32);
            }
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            let bits = u32::from(a);
            if bits & !mask != 0 {
                let fixed = Ipv4Addr::from(bits & mask);
                self.err(
                    Diagnostic::new("E0003", span, format!("prefix `{text}` has host bits set"))
                        .label(format!("the bits after the first {len} must be zero"))
                        .help(format!("did you mean `{fixed}/{len}`?")),
                );
            }
            ValueKind::Ipv4Prefix(Ipv4Addr::from(bits & mask), len)
        }
    }
}

/// The rule type is named `Rule` by pest; the AST's is reached through this alias.
type Rule_ = crate::ast::Rule;

fn inverted(lo: &ValueKind, hi: &ValueKind) -> bool {
    match (lo, hi) {
        (ValueKind::Int(a, _), ValueKind::Int(b, _)) => a > b,
        (ValueKind::Ipv4(a), ValueKind::Ipv4(b)) => a > b,
        (ValueKind::Ipv6(a), ValueKind::Ipv6(b)) => a > b,
        (ValueKind::Mac(a), ValueKind::Mac(b)) => a > b,
        _ => false,
    }
}

fn self_text(v: &Value) -> String {
    match &v.kind {
        ValueKind::Int(n, 16) => format!("{n:#x}"),
        ValueKind::Int(n, 2) => format!("{n:#b}"),
        ValueKind::Int(n, _) => n.to_string(),
        ValueKind::Ipv4(a) => a.to_string(),
        ValueKind::Ipv6(a) => a.to_string(),
        ValueKind::Mac(m) => m
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        _ => "…".into(),
    }
}
