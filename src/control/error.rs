//! Why the engine refused a command. Every refusal happens before anything
//! changes: a refused command leaves the rule list, the desired flows and every
//! switch's pending work exactly as they were.

use crate::rules::rule::{RuleError, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE};

/// A refused command. [`code`](EngineError::code) is the stable string the JS
/// layer puts in `error.code`, the same codes `js/sdn-controller.js` uses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No rule has this id.
    #[error("no rule {id}")]
    RuleNotFound {
        /// The id asked for.
        id: String,
    },
    /// A rule with this id exists already (or the id appears twice in one `add_many`).
    #[error("a rule with id {id} exists")]
    RuleExists {
        /// The id.
        id: String,
    },
    /// The id's rule number is held by someone else (another rule, or a
    /// provider's reservation): two owners can never share a cookie.
    #[error("{owner} maps to rule number {number}, which {holder} holds: choose another id")]
    RuleIdCollision {
        /// Who asked for the number (`rule:<id>`, or a provider's key).
        owner: String,
        /// The number.
        number: u64,
        /// Who holds it.
        holder: String,
    },
    /// The priority band cannot hold that many rules, two priorities each (a rule's
    /// own and the one above it, for its exceptions).
    #[error("the priority band {min}-{max} holds at most {capacity} rules, {wanted} asked for")]
    TooManyRules {
        /// Lowest priority of the band.
        min: u16,
        /// Highest priority of the band.
        max: u16,
        /// How many rules it holds.
        capacity: usize,
        /// How many rules there would be.
        wanted: usize,
    },
    /// `reorder` was not given a permutation of every rule id.
    #[error("ids must list every rule id exactly once: {reason}")]
    InvalidReorder {
        /// What is wrong with the list.
        reason: String,
    },
    /// An insertion position past the end of the list.
    #[error("position must be 0..={len}, got {position}")]
    PositionOutOfRange {
        /// The position asked for.
        position: usize,
        /// The list's length (the largest valid position).
        len: usize,
    },
    /// A rule id that is empty, too long, or disagrees with the rule's own `id`.
    #[error("{reason}")]
    InvalidId {
        /// What is wrong.
        reason: String,
    },
    /// A rule (or a patch merged into one) that does not validate.
    #[error("{0}")]
    InvalidRule(RuleError),
    /// A patch that is not an object, or tries to change the rule's id.
    #[error("{reason}")]
    InvalidPatch {
        /// The JS error code (`ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE`).
        code: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A priority band outside what the controller may use.
    #[error("{reason}")]
    InvalidBand {
        /// What is wrong.
        reason: String,
    },
    /// A number reservation outside `1..=cookie::MAX_RULE_NUMBER`.
    #[error("rule number {number} is outside 1..={max}")]
    InvalidNumber {
        /// The number.
        number: u64,
        /// The largest valid number.
        max: u64,
    },
    /// `batch_done` for a batch that is not in flight (already confirmed, or never sent).
    #[error("batch {id} is not in flight")]
    UnknownBatch {
        /// The batch id.
        id: u64,
    },
}

impl EngineError {
    /// The stable code (`SDN_RULE_NOT_FOUND`, `SDN_RULE_EXISTS`,
    /// `SDN_RULE_ID_COLLISION`, `SDN_TOO_MANY_RULES`, or Node's argument codes).
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::RuleNotFound { .. } => "SDN_RULE_NOT_FOUND",
            EngineError::RuleExists { .. } => "SDN_RULE_EXISTS",
            EngineError::RuleIdCollision { .. } => "SDN_RULE_ID_COLLISION",
            EngineError::TooManyRules { .. } => "SDN_TOO_MANY_RULES",
            EngineError::InvalidReorder { .. } | EngineError::InvalidId { .. } | EngineError::UnknownBatch { .. } => {
                ERR_INVALID_ARG_VALUE
            }
            EngineError::PositionOutOfRange { .. }
            | EngineError::InvalidBand { .. }
            | EngineError::InvalidNumber { .. } => ERR_OUT_OF_RANGE,
            EngineError::InvalidRule(e) => e.code,
            EngineError::InvalidPatch { code, .. } => code,
        }
    }
}

impl From<RuleError> for EngineError {
    fn from(e: RuleError) -> Self {
        EngineError::InvalidRule(e)
    }
}
