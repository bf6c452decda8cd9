//! [`TextError`]: why a flow in `ovs-ofctl` syntax was refused, and the helpers the
//! parser builds errors with.

/// Why a flow in `ovs-ofctl` syntax was refused. Every variant names the offending
/// token (see [`TextError::token`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A match field or keyword that ovs-ofctl does not know either.
    #[error("unknown field or keyword '{token}'")]
    UnknownField {
        /// The keyword.
        token: String,
    },
    /// An action that ovs-ofctl does not know either.
    #[error("unknown action '{token}'")]
    UnknownAction {
        /// The action name.
        token: String,
    },
    /// A value that does not parse or does not fit its field.
    #[error("'{token}': {reason}")]
    BadValue {
        /// The `key=value` or `action:arg` text.
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A match field given without the match that makes it meaningful
    /// (`tp_dst` without `tcp`/`udp`/`sctp`, `nw_src` without `ip`/`arp`, ...).
    #[error("'{token}' requires a match on {requires}")]
    MissingPrerequisite {
        /// The field.
        token: String,
        /// The shorthand or field it needs.
        requires: String,
    },
    /// An action that needs a match the flow does not have (`mod_nw_src` without
    /// `ip`, `pop_vlan` without `dl_vlan`, ...): OF1.1 cannot carry it, ovs-ofctl says
    /// "none of the usable flow formats (OpenFlow10,NXM)".
    #[error("action '{token}' requires {requires}")]
    InconsistentAction {
        /// The action.
        token: String,
        /// What the match (or the actions before it) must establish.
        requires: String,
    },
    /// Valid ovs-ofctl syntax that the OpenFlow 1.1 standard match or actions cannot
    /// express (IPv6 fields, port ranges, registers, meters, ...).
    #[error("'{token}' cannot be expressed in OpenFlow 1.1: {reason}")]
    NotInOpenFlow11 {
        /// The field, keyword or action.
        token: String,
        /// Why.
        reason: String,
    },
    /// Valid ovs-ofctl syntax this parser does not implement (Nicira extensions such
    /// as `learn`, `ct`, `output_reg`, ...).
    #[error("'{token}' is not supported: {reason}")]
    Unsupported {
        /// The field, keyword or action.
        token: String,
        /// Why, or what to use instead.
        reason: String,
    },
    /// A field given twice (directly or through an alias: `dl_src` and `eth_src`).
    #[error("'{token}' is given more than once")]
    Duplicate {
        /// The second occurrence.
        token: String,
    },
    /// Two tokens that set the same field to different values (`tcp,udp`).
    #[error("'{token}' contradicts '{other}'")]
    Conflict {
        /// The later token.
        token: String,
        /// The earlier one.
        other: String,
    },
    /// A keyword that exists but not for this command (`out_port` on add-flow,
    /// `priority` on a non-strict delete, `actions` on a delete, a cookie value to set
    /// on a delete, a cookie mask on add-flow, ...).
    #[error("'{token}' is not allowed here: {reason}")]
    NotAllowed {
        /// The keyword.
        token: String,
        /// Why.
        reason: String,
    },
    /// add-flow and mod-flows need `actions=`.
    #[error("'actions=' is missing: add-flow and mod-flows need actions (use actions=drop to drop)")]
    MissingActions,
    /// Instructions out of the order OpenFlow 1.1 and OVS require, repeated, nested
    /// where they cannot be, or `drop` mixed with other actions.
    #[error("'{token}': {reason}")]
    BadInstructions {
        /// The instruction or action.
        token: String,
        /// What is wrong.
        reason: String,
    },
}

impl TextError {
    /// A stable SCREAMING_SNAKE code for the JS layer (`err.code`).
    pub fn code(&self) -> &'static str {
        match self {
            TextError::UnknownField { .. } => "FLOW_UNKNOWN_FIELD",
            TextError::UnknownAction { .. } => "FLOW_UNKNOWN_ACTION",
            TextError::BadValue { .. } => "FLOW_BAD_VALUE",
            TextError::MissingPrerequisite { .. } => "FLOW_MISSING_PREREQUISITE",
            TextError::InconsistentAction { .. } => "FLOW_INCONSISTENT_ACTION",
            TextError::NotInOpenFlow11 { .. } => "FLOW_NOT_IN_OF11",
            TextError::Unsupported { .. } => "FLOW_UNSUPPORTED",
            TextError::Duplicate { .. } => "FLOW_DUPLICATE_FIELD",
            TextError::Conflict { .. } => "FLOW_CONFLICT",
            TextError::NotAllowed { .. } => "FLOW_NOT_ALLOWED",
            TextError::MissingActions => "FLOW_MISSING_ACTIONS",
            TextError::BadInstructions { .. } => "FLOW_BAD_INSTRUCTIONS",
        }
    }

    /// The offending token (`None` only for [`TextError::MissingActions`]).
    pub fn token(&self) -> Option<&str> {
        match self {
            TextError::UnknownField { token }
            | TextError::UnknownAction { token }
            | TextError::BadValue { token, .. }
            | TextError::MissingPrerequisite { token, .. }
            | TextError::InconsistentAction { token, .. }
            | TextError::NotInOpenFlow11 { token, .. }
            | TextError::Unsupported { token, .. }
            | TextError::Duplicate { token }
            | TextError::Conflict { token, .. }
            | TextError::NotAllowed { token, .. }
            | TextError::BadInstructions { token, .. } => Some(token),
            TextError::MissingActions => None,
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, TextError>;

pub(super) fn bad(token: impl Into<String>, reason: impl Into<String>) -> TextError {
    TextError::BadValue { token: token.into(), reason: reason.into() }
}

pub(super) fn not11(token: impl Into<String>, reason: impl Into<String>) -> TextError {
    TextError::NotInOpenFlow11 { token: token.into(), reason: reason.into() }
}
