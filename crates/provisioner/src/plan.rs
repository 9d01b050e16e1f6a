//! A plan: per resource and setting, what exists, what is wanted, and what `apply` will do;
//! printed as text or JSON.

use serde::Serialize;

use crate::config::Subscription;

/// What happens to one setting of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Create,
    Update,
    Delete,
    NoChange,
}

impl Kind {
    fn mark(self) -> &'static str {
        match self {
            Self::Create => "+ create",
            Self::Update => "~ update",
            Self::Delete => "- delete",
            Self::NoChange => "  ok    ",
        }
    }
}

/// One line of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `s3 bucket NAME`, `kms key alias/…`, `events rule NAME`, …
    pub resource: String,
    /// `exists`, `versioning`, `object-lock`, …
    pub setting: String,
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<String>,
    #[serde(skip)]
    pub(crate) action: Option<Action>,
}

/// The call `apply` makes for a change (names and values come from the resolved config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    CreateKey,
    CreateAlias,
    EnableKeyRotation,
    CancelKeyDeletion,
    EnableKey,
    CreateBucket,
    TagBucket,
    Versioning,
    ObjectLock,
    Encryption,
    PublicAccessBlock,
    BucketPolicy,
    Lifecycle,
    CreateDeadLetterQueue,
    CreateQueue,
    QueueAttributes,
    CreateAlertsInbox,
    AlertsInboxPolicy,
    CreateTopic,
    Subscribe(Subscription),
    PutRule { pack: usize, rule: usize },
    PutTarget { pack: usize, rule: usize },
    DeleteRule(String),
    CreateRole,
    TrustPolicy,
    RolePolicy,
    CreateTrail,
    UpdateTrail,
    EventSelectors,
    TagTrail,
    StartLogging,
}

/// Every change, in the order `apply` makes them (dependencies first).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub prefix: String,
    pub account: String,
    pub region: String,
    pub changes: Vec<Change>,
}

impl Plan {
    pub(crate) fn push(
        &mut self,
        resource: &str,
        setting: &str,
        current: Option<String>,
        desired: Option<String>,
        action: Option<Action>,
    ) {
        let kind = match (&current, &action) {
            (_, None) => Kind::NoChange,
            (None, Some(_)) => Kind::Create,
            (Some(_), Some(Action::DeleteRule(_))) => Kind::Delete,
            (Some(_), Some(_)) => Kind::Update,
        };
        self.changes.push(Change {
            resource: resource.to_owned(),
            setting: setting.to_owned(),
            kind,
            current,
            desired,
            action,
        });
    }

    /// Adds a setting: unchanged when `current == desired`, else `action`.
    pub(crate) fn setting(
        &mut self,
        resource: &str,
        setting: &str,
        current: Option<String>,
        desired: String,
        action: Action,
    ) {
        let action = (current.as_deref() != Some(desired.as_str())).then_some(action);
        self.push(resource, setting, current, Some(desired), action);
    }

    /// The changes `apply` would make.
    pub fn pending(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.kind != Kind::NoChange)
    }

    /// Whether `apply` has anything to do.
    pub fn has_changes(&self) -> bool {
        self.pending().next().is_some()
    }

    /// The plan as text: one line per pending change, then a count of settings already so.
    pub fn render(&self) -> String {
        let mut out = format!(
            "plan for prefix {} in account {} region {}\n",
            self.prefix, self.account, self.region
        );
        for c in self.pending() {
            out.push_str(&render_change(c));
        }
        let ok = self.changes.len() - self.pending().count();
        if self.has_changes() {
            out.push_str(&format!(
                "{} to change, {ok} already as configured\n",
                self.pending().count()
            ));
        } else {
            out.push_str(&format!(
                "nothing to change: all {ok} settings as configured\n"
            ));
        }
        out
    }
}

/// One change as a line of text.
pub fn render_change(c: &Change) -> String {
    let mut line = format!("{} {} {}", c.kind.mark(), c.resource, c.setting);
    match (&c.current, &c.desired) {
        (Some(a), Some(b)) if c.kind == Kind::Update => {
            line.push_str(&format!(": {} -> {}", short(a), short(b)));
        }
        (_, Some(b)) if c.kind == Kind::Create => line.push_str(&format!(": {}", short(b))),
        _ => {}
    }
    line.push('\n');
    line
}

fn short(s: &str) -> String {
    if s.chars().count() > 120 {
        let cut: String = s.chars().take(117).collect();
        format!("{cut}...")
    } else {
        s.to_owned()
    }
}
