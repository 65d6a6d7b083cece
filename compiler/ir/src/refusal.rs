//! A backend's "no" as data. Every backend's `Error` can describe itself as
//! a [`Refusal`]: which target, what in the program it is about, why, and a
//! likely fix. The compiler core turns it into a coded diagnostic on the
//! source span of that rule or declaration; backends never see sources.

/// What a refusal is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A rule, as `policy.rule`.
    Rule(String),
    /// The default verdict of a policy.
    Default(String),
    /// A declared item (meter, set, counter, port, policy) by name.
    Item(String),
    /// An IR table by name (shown at the policy or set it was made from).
    Table(String),
    /// The connection tracker (its `conntrack` block or `ct.*` fields).
    Conntrack,
    /// Nothing in particular: the program as a whole.
    Program,
}

/// Why a backend refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// The target cannot express the construct with the program's meaning.
    Unsupported,
    /// The construct fits the target's abilities but not its capacity.
    Capacity,
    /// The backend failed on a program it should accept (a compiler bug).
    Internal,
}

/// One refusal by one backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The target's name as the CLI spells it (`ebpf`, `doca`, `p4-pna`...).
    pub target: String,
    /// What it is about.
    pub subject: Subject,
    /// Kind of refusal.
    pub kind: RefusalKind,
    /// The construct and the reason, e.g. "`reject` (sending a TCP reset)".
    pub message: String,
    /// A likely fix.
    pub help: Option<String>,
}

impl Refusal {
    /// An [`RefusalKind::Unsupported`] refusal.
    pub fn unsupported(target: &str, subject: Subject, message: impl Into<String>) -> Self {
        Refusal {
            target: target.into(),
            subject,
            kind: RefusalKind::Unsupported,
            message: message.into(),
            help: None,
        }
    }

    /// The same refusal with another kind.
    pub fn kind(mut self, kind: RefusalKind) -> Self {
        self.kind = kind;
        self
    }

    /// The same refusal with a help line.
    pub fn help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Reads a rule reference as backends print it: `policy.rule`,
    /// `policy (default)`, `conntrack`, `meter NAME`, or any other text (the
    /// program as a whole).
    pub fn subject_of(rule: &str) -> Subject {
        if rule == "conntrack" {
            Subject::Conntrack
        } else if let Some(policy) = rule.strip_suffix(" (default)") {
            Subject::Default(policy.into())
        } else if let Some(item) = rule
            .strip_prefix("meter ")
            .or_else(|| rule.strip_prefix("set "))
            .or_else(|| rule.strip_prefix("counter "))
            .or_else(|| rule.strip_prefix("port "))
        {
            Subject::Item(item.into())
        } else if rule.contains('.') && !rule.contains(' ') {
            Subject::Rule(rule.into())
        } else {
            Subject::Program
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_references_as_backends_print_them() {
        assert_eq!(
            Refusal::subject_of("web.ssh"),
            Subject::Rule("web.ssh".into())
        );
        assert_eq!(
            Refusal::subject_of("web (default)"),
            Subject::Default("web".into())
        );
        assert_eq!(Refusal::subject_of("meter m"), Subject::Item("m".into()));
        assert_eq!(Refusal::subject_of("conntrack"), Subject::Conntrack);
        assert_eq!(Refusal::subject_of("the pipeline"), Subject::Program);
    }
}
