//! Rule numbers: the 40-bit part of a cookie that names its owner.
//!
//! A number derives from a stable identity (`rule:<id>` for a rule), the same in
//! every process: after a restart of xo-server a rule gets back the number its
//! flows carry on the switches, and a number is never handed to another owner
//! because a counter started again at 1. Two identities mapping to one number
//! (a SHA-256 prefix collision, or a provider's reservation) are refused, never
//! shared: a delete by cookie would take both.

use std::collections::HashMap;

use ring::digest::{digest, Context, SHA256};

use super::error::EngineError;
use crate::rules::cookie::MAX_RULE_NUMBER;

/// The number of `identity`: the first 5 bytes of SHA-256 of its UTF-8 bytes,
/// big-endian (40 bits, the cookie's rule-number width); 0, which no cookie of
/// ours may carry, becomes 1. The same as `stableNumber` in js/sdn-controller.js.
pub fn stable_number(identity: &str) -> u64 {
    number_of_digest(digest(&SHA256, identity.as_bytes()).as_ref())
}

fn number_of_digest(hash: &[u8]) -> u64 {
    let n = hash.iter().take(5).fold(0u64, |n, &b| n << 8 | u64::from(b));
    n.max(1)
}

/// [`stable_number`] of [`rule_owner`]`(id)`, without writing the owner.
fn rule_number(id: &str) -> u64 {
    let mut hash = Context::new(&SHA256);
    hash.update(b"rule:");
    hash.update(id.as_bytes());
    number_of_digest(hash.finish().as_ref())
}

/// A new rule id for a rule given without one: a random (version 4) UUID, as
/// `crypto.randomUUID()` makes them on the JS side.
pub fn random_rule_id() -> String {
    random_rule_ids(1).pop().unwrap_or_default()
}

/// `n` new rule ids ([`random_rule_id`]), from one draw of the system's random
/// source (one per id cost more than checking the rules of a batch).
pub fn random_rule_ids(n: usize) -> Vec<String> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = vec![0u8; 16 * n];
    // The system's random source failing is not something a caller can act on; a
    // UUID from a zeroed buffer would collide, so it must not be used.
    SystemRandom::new().fill(&mut bytes).expect("the system random source is available");
    bytes
        .chunks_exact_mut(16)
        .map(|b| {
            b[6] = (b[6] & 0x0f) | 0x40; // version 4
            b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut id = String::with_capacity(36);
            for (i, x) in b.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    id.push('-');
                }
                id.push(char::from(HEX[usize::from(x >> 4)]));
                id.push(char::from(HEX[usize::from(x & 0xf)]));
            }
            id
        })
        .collect()
}

/// The identity a rule's number derives from: `rule:<id>`.
pub fn rule_owner(id: &str) -> String {
    // Not format!: a batch writes 10,000 of them.
    let mut owner = String::with_capacity(5 + id.len());
    owner.push_str("rule:");
    owner.push_str(id);
    owner
}

/// Is `holder` the identity of rule `id` ([`rule_owner`]), without writing it?
pub(crate) fn is_rule_owner(holder: &str, id: &str) -> bool {
    holder.strip_prefix("rule:") == Some(id)
}

/// A new rule's id with the number it derives ([`stable_number`] of
/// [`rule_owner`]), hashed once: a batch is checked before it is appended, and
/// 10,000 SHA-256s are worth not doing twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleId {
    id: String,
    number: u64,
}

impl RuleId {
    /// `id` and its number.
    pub fn new(id: String) -> Self {
        let number = rule_number(&id);
        RuleId { id, number }
    }

    /// Each of `ids` with its number, hashed on a few threads for a large batch.
    pub fn many(ids: Vec<String>) -> Vec<RuleId> {
        let threads = crate::parallel::threads_for(ids.len());
        let numbers = crate::parallel::map_in_parallel(&ids, threads, |_, id| Some(rule_number(id)));
        match numbers {
            Some(numbers) => ids.into_iter().zip(numbers).map(|(id, number)| RuleId { id, number }).collect(),
            None => ids.into_iter().map(RuleId::new).collect(), // (no part can fail)
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The number it derives.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The id, given back.
    pub fn into_string(self) -> String {
        self.id
    }
}

impl From<String> for RuleId {
    fn from(id: String) -> Self {
        RuleId::new(id)
    }
}

impl From<&str> for RuleId {
    fn from(id: &str) -> Self {
        RuleId::new(id.to_owned())
    }
}

/// Who holds which number: rules (`rule:<id>`) and providers' reservations.
#[derive(Clone, Debug, Default)]
pub struct NumberRegistry {
    holders: HashMap<u64, String>,
}

impl NumberRegistry {
    /// The holder of `number`, if any.
    pub fn holder(&self, number: u64) -> Option<&str> {
        self.holders.get(&number).map(String::as_str)
    }

    /// Checks that `owner` may take `number` (free, or already its own).
    pub fn check(&self, owner: &str, number: u64) -> Result<(), EngineError> {
        match self.holder(number) {
            Some(holder) if holder != owner => {
                Err(EngineError::RuleIdCollision { owner: owner.to_owned(), number, holder: holder.to_owned() })
            }
            _ => Ok(()),
        }
    }

    /// Takes `number` for `owner` (after [`check`](Self::check)).
    pub(crate) fn take(&mut self, owner: String, number: u64) {
        self.holders.insert(number, owner);
    }

    /// Room for `more` numbers taken at once (a batch).
    pub(crate) fn make_room(&mut self, more: usize) {
        self.holders.reserve(more);
    }

    /// Gives `number` back.
    pub(crate) fn release(&mut self, number: u64) {
        self.holders.remove(&number);
    }

    /// Keeps only the numbers whose holder `keep` accepts.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.holders.retain(|_, owner| keep(owner));
    }

    /// Reserves `number` for `owner` (a provider: security groups, elastic IPs), so
    /// no rule id can map to it; refuses one held by someone else.
    pub fn reserve(&mut self, owner: &str, number: u64) -> Result<(), EngineError> {
        if !(1..=MAX_RULE_NUMBER).contains(&number) {
            return Err(EngineError::InvalidNumber { number, max: MAX_RULE_NUMBER });
        }
        self.check(owner, number)?;
        self.take(owner.to_owned(), number);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_of_sip_is_the_first_five_bytes_of_its_sha256() {
        // Independently: ring's digest read as a u64 with three leading zero bytes,
        // and the digest `printf 'rule:sip' | sha256sum` prints (97a397949f4e...).
        let d = digest(&SHA256, b"rule:sip");
        let mut wide = [0u8; 8];
        wide[3..].copy_from_slice(&d.as_ref()[..5]);
        let expected = u64::from_be_bytes(wide);
        assert_eq!(expected, 0x97_a397_949f);
        assert_eq!(stable_number(&rule_owner("sip")), expected);
        assert_eq!(RuleId::from("sip").number(), expected);
        let ids: Vec<String> = (0..3000).map(|i| format!("r{i}")).collect();
        let many = RuleId::many(ids.clone());
        assert!(many.iter().zip(&ids).all(|(r, id)| r.as_str() == id && r.number() == stable_number(&rule_owner(id))));
        assert!(is_rule_owner("rule:sip", "sip") && !is_rule_owner("sip", "sip") && !is_rule_owner("rule:sipx", "sip"));
        assert!(stable_number("anything") <= MAX_RULE_NUMBER);
    }

    #[test]
    fn random_rule_ids_are_version_4_uuids() {
        let a = random_rule_id();
        assert_eq!(a.len(), 36);
        assert_eq!((&a[14..15], a.as_bytes()[8], a.as_bytes()[23]), ("4", b'-', b'-'));
        assert!("89ab".contains(&a[19..20]), "{a}");
        assert_ne!(a, random_rule_id());
        let many = random_rule_ids(1000);
        assert_eq!(many.iter().collect::<std::collections::HashSet<_>>().len(), 1000);
        assert!(many.iter().all(|id| id.len() == 36 && &id[14..15] == "4"));
    }

    #[test]
    fn a_number_held_by_another_owner_is_refused() {
        let mut r = NumberRegistry::default();
        let n = stable_number("rule:sip");
        r.reserve("provider:sg", n).unwrap();
        let e = r.check("rule:sip", n).unwrap_err();
        assert_eq!(e.code(), "SDN_RULE_ID_COLLISION");
        assert!(e.to_string().contains("provider:sg"), "{e}");
        assert_eq!(r.check("provider:sg", n), Ok(()), "its own number again is fine");
        assert_eq!(r.reserve("x", 0).unwrap_err().code(), "ERR_OUT_OF_RANGE");
        assert_eq!(r.reserve("x", MAX_RULE_NUMBER + 1).unwrap_err().code(), "ERR_OUT_OF_RANGE");
        r.release(n);
        assert_eq!(r.check("rule:sip", n), Ok(()));
    }
}
