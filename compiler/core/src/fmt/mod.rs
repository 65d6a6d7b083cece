//! `dpuc fmt`: prints a module in canonical layout, comments kept.
//!
//! Layout: 4-space indentation, one statement per line, single spaces
//! around operators, at most one blank line kept where the source had
//! some. Comments stay where they were relative to the code: a comment on
//! its own line goes before the next statement at that statement's
//! indentation; a comment after code on the same line stays at the end of
//! that line. Parentheses are printed exactly where they were written.

mod print;

use crate::ast::{Comment, Item, Module};

/// Lines longer than this are broken after `=>` (rules) or one element per
/// line (sets).
pub const WIDTH: usize = 100;

/// Formats `module`, parsed from `text`, in canonical layout.
pub fn format(module: &Module, text: &str) -> String {
    let mut p = Printer {
        out: String::new(),
        text,
        comments: &module.comments,
        next_comment: 0,
        indent: 0,
        last_end: 0,
        trailing: false,
    };
    // (kind of the previous item, whether it was a block)
    let mut prev: Option<(std::mem::Discriminant<Item>, bool)> = None;
    for item in &module.items {
        let start = item.span().start as usize;
        let kind = std::mem::discriminant(item);
        let block = matches!(
            item,
            Item::Conntrack(_) | Item::Policy(_) | Item::Pipeline(_) | Item::Test(_)
        );
        // Items of one kind stay together; a new kind, a block, or a blank
        // line in the source separates groups.
        let sep = match prev {
            None => false,
            Some((k, was_block)) => k != kind || was_block || block || p.blank_before(start),
        };
        p.leading(start, sep);
        if !block {
            p.hoist(item.span().end as usize);
        }
        print::item(&mut p, item);
        p.last_end = item.span().end as usize;
        prev = Some((kind, block));
    }
    p.leading(text.len() + 1, false);
    while p.out.ends_with("\n\n") {
        p.out.pop();
    }
    if !p.out.ends_with('\n') {
        p.out.push('\n');
    }
    let out = p.out;
    out.trim_start_matches('\n').to_string()
}

/// Output under construction, with the comment cursor.
pub(crate) struct Printer<'a> {
    out: String,
    text: &'a str,
    comments: &'a [Comment],
    next_comment: usize,
    indent: usize,
    last_end: usize,
    /// Whether the last line printed already ends in a comment, so that a
    /// second comment must not be appended to it (it would become part of
    /// the first one's text).
    trailing: bool,
}

impl Printer<'_> {
    /// Whether the source has a blank line between the last printed node
    /// and `start` (or the first comment before it).
    fn blank_before(&self, start: usize) -> bool {
        let from = self.last_end.min(self.text.len());
        let to = self
            .comments
            .get(self.next_comment)
            .map_or(start, |c| (c.span.start as usize).min(start))
            .min(self.text.len())
            .max(from);
        self.text[from..to].matches('\n').count() >= 2
    }

    /// Emits comments before `start`: trailing ones on the last line, the
    /// others on their own lines. `sep` asks for a blank line first.
    pub(crate) fn leading(&mut self, start: usize, sep: bool) {
        let mut sep = sep;
        while let Some(c) = self.comments.get(self.next_comment) {
            let cs = c.span.start as usize;
            if cs >= start {
                break;
            }
            let from = self.last_end.min(cs);
            let same_line = !self.text[from..cs].contains('\n')
                && self.last_end > 0
                && !self.out.is_empty()
                && !self.trailing;
            if same_line {
                while self.out.ends_with('\n') {
                    self.out.pop();
                }
                self.out.push_str("  ");
                self.out.push_str(&c.text);
                self.out.push('\n');
                self.trailing = true;
            } else {
                if sep || self.text[from..cs].matches('\n').count() >= 2 && !self.out.is_empty() {
                    self.blank();
                    sep = false;
                }
                self.line(&c.text);
            }
            // A comment inside the previous node (e.g. between `policy p`
            // and `{`) must not move the cursor back into that node, or the
            // node's own line breaks would read as blank lines.
            self.last_end = self.last_end.max(c.span.end as usize);
            self.next_comment += 1;
        }
        let emitted_any = self.last_end > 0 && self.out.ends_with('\n');
        let gap_blank = {
            let from = self.last_end.min(self.text.len());
            let to = start.min(self.text.len()).max(from);
            self.text[from..to].matches('\n').count() >= 2
        };
        if sep
            || (emitted_any
                && gap_blank
                && self.next_comment > 0
                && self.comment_just_emitted(start))
        {
            self.blank();
        }
    }

    /// Emits the comments inside a one-line node (before `end`) on their
    /// own lines just above it: the node is printed on one line, so a
    /// comment in its middle cannot stay where it was without breaking it.
    pub(crate) fn hoist(&mut self, end: usize) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start as usize >= end {
                break;
            }
            self.line(&c.text);
            self.next_comment += 1;
        }
    }

    /// Whether the last thing printed is a comment that precedes `start`.
    fn comment_just_emitted(&self, start: usize) -> bool {
        self.next_comment > 0
            && self
                .comments
                .get(self.next_comment - 1)
                .is_some_and(|c| c.span.end as usize == self.last_end && self.last_end <= start)
    }

    fn blank(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// One line at the current indentation.
    pub(crate) fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
        self.trailing = false;
    }
}
