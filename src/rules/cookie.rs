//! The cookie namespace of the flows we install.
//!
//! ```text
//!  63            48 47      40 39                                0
//! +----------------+----------+-----------------------------------+
//! |  0x5D4E (tag)  |generation|      rule number (1..2^40-1)      |
//! +----------------+----------+-----------------------------------+
//! ```
//!
//! Every flow carries `NAMESPACE | generation << 40 | rule_number`. The tag keeps
//! us clear of cookie 0 (OVS's and `ovs-ofctl`'s default, used by XO's legacy
//! flows) and 1 (XAPI's VIF-locking flows), and lets one flow stats request filtered
//! by `cookie = NAMESPACE, cookie_mask = NAMESPACE_MASK` (OpenFlow 1.1.0 §A.3.5.2)
//! return only our flows, so reconciliation never touches anyone else's. The
//! generation changes when a rule is re-installed in a different form, so a
//! non-strict delete by exact cookie removes one form without touching the other.

/// The tag in the top 16 bits.
pub const NAMESPACE: u64 = 0x5D4E << 48;
/// Selects the tag: `cookie & NAMESPACE_MASK == NAMESPACE` for our flows.
pub const NAMESPACE_MASK: u64 = 0xFFFF << 48;
/// Selects a rule across generations (tag and rule number, not the generation).
pub const RULE_MASK: u64 = 0xFFFF_00FF_FFFF_FFFF;
/// Bits of the rule number.
pub const RULE_NUMBER_BITS: u32 = 40;
/// The largest rule number.
pub const MAX_RULE_NUMBER: u64 = (1 << RULE_NUMBER_BITS) - 1;

/// The cookie of rule `rule_number` (1..=2^40-1) in `generation`; `None` when the
/// number does not fit (0 is refused so no cookie of ours has an all-zero low part).
pub fn rule_cookie(rule_number: u64, generation: u8) -> Option<u64> {
    (1..=MAX_RULE_NUMBER)
        .contains(&rule_number)
        .then(|| NAMESPACE | (u64::from(generation) << RULE_NUMBER_BITS) | rule_number)
}

/// True when `cookie` carries our tag.
pub fn is_ours(cookie: u64) -> bool {
    cookie & NAMESPACE_MASK == NAMESPACE
}

/// `(rule_number, generation)` of one of our cookies; `None` for anyone else's.
pub fn parse(cookie: u64) -> Option<(u64, u8)> {
    let rule_number = cookie & MAX_RULE_NUMBER;
    (is_ours(cookie) && rule_number != 0).then_some((rule_number, (cookie >> RULE_NUMBER_BITS) as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(rule_cookie(1, 0), Some(0x5D4E_0000_0000_0001));
        assert_eq!(rule_cookie(0x12_3456_789a, 0xbc), Some(0x5D4E_BC12_3456_789A));
        assert_eq!(rule_cookie(MAX_RULE_NUMBER, 255), Some(0x5D4E_FFFF_FFFF_FFFF));
        assert_eq!(rule_cookie(0, 0), None);
        assert_eq!(rule_cookie(1 << 40, 0), None);
        assert_eq!(RULE_MASK, !(0xFFu64 << 40));
    }

    #[test]
    fn parse_round_trips_and_refuses_foreign_cookies() {
        for (n, g) in [(1, 0), (42, 7), (MAX_RULE_NUMBER, 255)] {
            assert_eq!(parse(rule_cookie(n, g).unwrap()), Some((n, g)));
        }
        assert_eq!(parse(0), None);
        assert_eq!(parse(1), None);
        assert_eq!(parse(0x1234), None);
        assert_eq!(parse(NAMESPACE), None, "rule number 0 is not a cookie of ours");
        assert_eq!(parse(0x5D4F << 48 | 1), None);
    }

    #[test]
    fn masks_select_as_documented() {
        let a = rule_cookie(9, 1).unwrap();
        let b = rule_cookie(9, 2).unwrap();
        assert_ne!(a, b);
        assert_eq!(a & RULE_MASK, b & RULE_MASK);
        assert!(is_ours(a) && !is_ours(0) && !is_ours(1));
        assert_eq!(a & NAMESPACE_MASK, NAMESPACE);
    }
}
