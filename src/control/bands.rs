//! Who owns which OpenFlow priorities in table 0, in one table.
//!
//! Priorities decide between flows that match the same packet, so every writer
//! of table 0 gets its own band and the bands never overlap: a flow of one
//! writer can then never replace (same match, same priority) or shadow by
//! accident a flow of another. From the highest:
//!
//! ```text
//!  65000 ┐ XO's own bands (taken instead of the default with `priorities: 'xo'`)
//!  35001 ┘
//!  34999 ┐ ordered traffic rules (SdnController's default band), two priorities per
//!  10000 ┘ rule: its own P and P + 1 above it for its exceptions (src/control/list.rs)
//!   9990   elastic IPs: ARP for the public address -> controller   (js/elastic-ips.js)
//!   9985   elastic IPs: internal ranges, unchanged
//!   9980   elastic IPs: NAT rewrites
//!   9900 ┐ security groups: the permissions of the group in slot s, at 9900 - s
//!   9885 ┘ (a VIF is in at most 16 groups)              (src/policy/security_groups.rs)
//!   9800   security groups: ARP and the DHCP client
//!   9700   stateful groups: established and related connections, new ones of open egress
//!   9200   stateful groups: the rest of what was tracked in the VIF's zone: drop
//!   9150   stateful groups: IPv4 of the VIF -> connection tracking in its zone
//!   9100   security groups: default deny of what a restricted VIF sends
//!   9050   security groups: delivered to a VIF in a group -> its ingress verdict
//!   8000 ┐ XAPI's VIF locking (cookie 0x1): drops what a locked VIF may not send
//!   4000 ┘
//! ```
//!
//! Security groups judge a packet in two stages, so that a packet between two
//! VIFs of one bridge meets both the sender's egress and the receiver's ingress:
//! table 0 holds the egress verdict (what a VIF with restricted egress may send
//! goes on with `goto_table`, the rest is dropped) and sends what is delivered to
//! a VIF in a group to the next table, which holds the ingress verdicts at the
//! same priorities (permissions 9900 - s, ARP and DHCP 9800, deny 9100) and a
//! priority-0 flow that delivers everything else (OpenFlow 1.1 would send a table
//! miss to the controller).
//!
//! Rules sit above the security groups and elastic IPs (an explicit rule wins) and
//! above XAPI's locking (so an *allow* rule must carry the VIF's addresses to keep
//! locking in force, see `rules::compile`).

use std::ops::RangeInclusive;

use super::error::EngineError;

/// A contiguous range of priorities, `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PriorityBand {
    min: u16,
    max: u16,
}

/// One owner's band in the table of [`BANDS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedBand {
    /// Who writes flows there.
    pub owner: &'static str,
    /// The priorities.
    pub band: PriorityBand,
}

impl PriorityBand {
    /// The band the ordered traffic rules take by default: above the security
    /// groups and elastic IPs, below XO's bands.
    pub const RULES_DEFAULT: PriorityBand = PriorityBand { min: 10000, max: 34999 };
    /// XO's own bands, for a controller that takes over XO-managed priorities.
    pub const XO: PriorityBand = PriorityBand { min: 35001, max: 65000 };
    /// XAPI's VIF-locking flows (cookie 0x1).
    pub const XAPI_VIF_LOCKING: PriorityBand = PriorityBand { min: 4000, max: 8000 };
    /// Elastic IPs (9980 NAT, 9985 internal ranges, 9990 ARP to the controller).
    pub const ELASTIC_IPS: PriorityBand = PriorityBand { min: 9980, max: 9990 };
    /// Security groups: the permissions of the group in slot `s` (0..16) at `9900 - s`.
    pub const SECURITY_GROUP_PERMISSIONS: PriorityBand = PriorityBand { min: 9885, max: 9900 };
    /// Security groups: ARP and the DHCP client, both ways.
    pub const SECURITY_GROUP_BASICS: PriorityBand = PriorityBand { min: 9800, max: 9800 };
    /// Stateful groups: established and related connections; new connections
    /// when egress is open.
    pub const SECURITY_GROUP_TRACKED: PriorityBand = PriorityBand { min: 9700, max: 9700 };
    /// Stateful groups: whatever was tracked in a VIF's zone and nothing above took.
    pub const SECURITY_GROUP_ZONE_DENY: PriorityBand = PriorityBand { min: 9200, max: 9200 };
    /// Stateful groups: a VIF's IPv4 traffic to the tracker, in its zone.
    pub const SECURITY_GROUP_TRACK: PriorityBand = PriorityBand { min: 9150, max: 9150 };
    /// Security groups: the default deny.
    pub const SECURITY_GROUP_DENY: PriorityBand = PriorityBand { min: 9100, max: 9100 };
    /// Security groups: what is delivered to a VIF in a group goes to its ingress
    /// verdict in the next table, unless the sender's egress verdict took it first.
    pub const SECURITY_GROUP_INGRESS: PriorityBand = PriorityBand { min: 9050, max: 9050 };

    /// A band for the ordered rules, as `options.priorities: { min, max }` allows
    /// it: `1 <= min <= max <= 65535`, at least 2 priorities (a rule takes two)
    /// and above XAPI's VIF locking, which must stay below every rule
    /// (`ERR_OUT_OF_RANGE` otherwise).
    pub fn for_rules(min: u16, max: u16) -> Result<Self, EngineError> {
        if min < 1 || min > max {
            return Err(EngineError::InvalidBand {
                reason: format!("priorities must satisfy 1 <= min <= max <= 65535, got {min}-{max}"),
            });
        }
        if min == max {
            return Err(EngineError::InvalidBand {
                reason: format!(
                    "priorities must hold at least 2 priorities (a rule takes its own and the one above it), got {min}-{max}"
                ),
            });
        }
        if min <= Self::XAPI_VIF_LOCKING.max {
            return Err(EngineError::InvalidBand {
                reason: format!(
                    "priorities.min must be above {}: XAPI VIF-locking flows use {}-{} and must stay below our rules",
                    Self::XAPI_VIF_LOCKING.max,
                    Self::XAPI_VIF_LOCKING.min,
                    Self::XAPI_VIF_LOCKING.max
                ),
            });
        }
        Ok(PriorityBand { min, max })
    }

    /// Lowest priority.
    pub fn min(self) -> u16 {
        self.min
    }

    /// Highest priority.
    pub fn max(self) -> u16 {
        self.max
    }

    /// How many distinct priorities it holds.
    pub fn capacity(self) -> usize {
        usize::from(self.max - self.min) + 1
    }

    /// How many ordered rules it holds: half its priorities, as each rule takes
    /// its own priority and the one above it (src/control/list.rs).
    pub fn rule_capacity(self) -> usize {
        self.capacity() / 2
    }

    /// `min..=max`.
    pub fn range(self) -> RangeInclusive<u16> {
        self.min..=self.max
    }

    /// True when the two bands share a priority.
    pub fn overlaps(self, other: PriorityBand) -> bool {
        self.min <= other.max && other.min <= self.max
    }
}

/// Every band of table 0, highest first. The rules take [`PriorityBand::RULES_DEFAULT`]
/// or, with `priorities: 'xo'`, [`PriorityBand::XO`].
pub const BANDS: &[NamedBand] = &[
    NamedBand { owner: "XO (priorities: 'xo')", band: PriorityBand::XO },
    NamedBand { owner: "ordered traffic rules", band: PriorityBand::RULES_DEFAULT },
    NamedBand { owner: "elastic IPs", band: PriorityBand::ELASTIC_IPS },
    NamedBand { owner: "security groups: permissions", band: PriorityBand::SECURITY_GROUP_PERMISSIONS },
    NamedBand { owner: "security groups: ARP and DHCP", band: PriorityBand::SECURITY_GROUP_BASICS },
    NamedBand { owner: "stateful groups: tracked connections", band: PriorityBand::SECURITY_GROUP_TRACKED },
    NamedBand { owner: "stateful groups: rest of a zone", band: PriorityBand::SECURITY_GROUP_ZONE_DENY },
    NamedBand { owner: "stateful groups: to the tracker", band: PriorityBand::SECURITY_GROUP_TRACK },
    NamedBand { owner: "security groups: default deny", band: PriorityBand::SECURITY_GROUP_DENY },
    NamedBand { owner: "security groups: to the ingress verdict", band: PriorityBand::SECURITY_GROUP_INGRESS },
    NamedBand { owner: "XAPI VIF locking", band: PriorityBand::XAPI_VIF_LOCKING },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_never_overlap_and_are_listed_highest_first() {
        for (i, a) in BANDS.iter().enumerate() {
            for b in &BANDS[i + 1..] {
                assert!(!a.band.overlaps(b.band), "{} and {} overlap", a.owner, b.owner);
                assert!(a.band.min() > b.band.max(), "{} is not above {}", a.owner, b.owner);
            }
        }
    }

    #[test]
    fn bands_match_the_numbers_of_the_js_modules() {
        // js/sdn-controller.js DEFAULT_PRIORITIES and XO_PRIORITIES.
        assert_eq!(PriorityBand::RULES_DEFAULT.range(), 10000..=34999);
        assert_eq!(PriorityBand::XO.range(), 35001..=65000);
        assert_eq!(PriorityBand::RULES_DEFAULT.capacity(), 25000);
        assert_eq!(PriorityBand::RULES_DEFAULT.rule_capacity(), 12500);
        // policy::security_groups: permissions at 9900 - slot, basics 9800, deny 9100,
        // at most max_groups_per_vif() = 16 slots.
        let slots = (0..16u16).map(|s| 9900 - s);
        assert!(slots.clone().all(|p| PriorityBand::SECURITY_GROUP_PERMISSIONS.range().contains(&p)));
        assert_eq!(PriorityBand::SECURITY_GROUP_PERMISSIONS.capacity(), slots.count());
        assert_eq!(PriorityBand::SECURITY_GROUP_BASICS.range(), 9800..=9800);
        assert_eq!(PriorityBand::SECURITY_GROUP_DENY.range(), 9100..=9100);
        assert_eq!(PriorityBand::SECURITY_GROUP_INGRESS.range(), 9050..=9050);
        // js/elastic-ips.js: PRIORITY = { arp: 9990, internal: 9985, nat: 9980 }.
        for p in [9990, 9985, 9980] {
            assert!(PriorityBand::ELASTIC_IPS.range().contains(&p));
        }
    }

    #[test]
    fn a_rule_band_must_stay_above_xapi_locking() {
        assert_eq!(PriorityBand::for_rules(10000, 34999), Ok(PriorityBand::RULES_DEFAULT));
        assert_eq!(PriorityBand::for_rules(8001, 8002).map(PriorityBand::rule_capacity), Ok(1));
        assert_eq!(PriorityBand::for_rules(8001, 8003).map(PriorityBand::rule_capacity), Ok(1));
        // One priority holds no rule: a rule takes its own and the one above it.
        for (min, max) in [(8000, 9000), (0, 10), (20000, 10000), (8001, 8001), (65535, 65535)] {
            let e = PriorityBand::for_rules(min, max).unwrap_err();
            assert_eq!(e.code(), "ERR_OUT_OF_RANGE", "{min}-{max}: {e}");
        }
    }
}
