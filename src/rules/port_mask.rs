//! A range of transport ports as the fewest (value, mask) pairs that cover it
//! exactly: what OVS's masked `tp_src`/`tp_dst` (NXM/OXM, OpenFlow 1.2+ and the
//! Nicira extensions on 1.1) match, one flow per pair instead of one per port.
//!
//! The classic decomposition into aligned power-of-two blocks: at most
//! 2 × 16 − 2 = 30 pairs for any range of 16-bit ports, usually far fewer
//! (1000–2000 is 8). Rules and security-group permissions compile a range with it:
//! an exact block keeps OF1.1's standard match, the others go in an OXM match.

use super::rule::PortRange;

/// One block of ports: those `p` with `p & mask == value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskedPort {
    /// The block's first port (its bits outside `mask` are 0).
    pub value: u16,
    /// Leading ones: the bits every port of the block shares.
    pub mask: u16,
}

impl MaskedPort {
    /// Exactly `port`.
    pub const fn exact(port: u16) -> Self {
        MaskedPort { value: port, mask: u16::MAX }
    }

    /// True when the block is one port (OF1.1's standard match can say it).
    pub fn is_exact(self) -> bool {
        self.mask == u16::MAX
    }

    /// Does the block hold `port`?
    pub fn contains(self, port: u16) -> bool {
        port & self.mask == self.value
    }

    /// `0x3e8/0xfff8` as ovs-ofctl writes a masked port (`1000` when exact).
    pub fn to_ofctl(self) -> String {
        if self.is_exact() {
            self.value.to_string()
        } else {
            format!("0x{:x}/0x{:x}", self.value, self.mask)
        }
    }
}

impl PortRange {
    /// The fewest aligned blocks whose union is exactly this range, in port order.
    pub fn masked(self) -> Vec<MaskedPort> {
        let mut out = Vec::new();
        let mut lo = u32::from(self.lo);
        let hi = u32::from(self.hi);
        while lo <= hi {
            // The largest block that starts at `lo` (aligned to its size) and ends by `hi`.
            let mut size = if lo == 0 { 1 << 16 } else { 1u32 << lo.trailing_zeros() };
            while lo + size - 1 > hi {
                size >>= 1;
            }
            out.push(MaskedPort { value: lo as u16, mask: !((size - 1) as u16) });
            lo += size;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(lo: u16, hi: u16) -> PortRange {
        PortRange { lo, hi }
    }

    /// Exactly the ports of the range, each in one block, blocks in order.
    fn check(r: PortRange) -> usize {
        let blocks = r.masked();
        assert!(blocks.len() <= 30, "{r:?}: {} blocks", blocks.len());
        let mut next = u32::from(r.lo);
        for b in &blocks {
            assert_eq!(b.value & !b.mask, 0, "{r:?}: {b:?} is not aligned");
            assert_eq!(u32::from(b.value), next, "{r:?}: {b:?} leaves a gap or overlaps");
            next += u32::from(!b.mask) + 1;
        }
        assert_eq!(next, u32::from(r.hi) + 1, "{r:?}: blocks end at {next}");
        blocks.len()
    }

    #[test]
    fn the_issue_range_takes_eight_flows_not_one_thousand_and_one() {
        let blocks = range(1000, 2000).masked();
        let text: Vec<String> = blocks.iter().map(|b| b.to_ofctl()).collect();
        assert_eq!(
            text,
            [
                "0x3e8/0xfff8",
                "0x3f0/0xfff0",
                "0x400/0xfe00",
                "0x600/0xff00",
                "0x700/0xff80",
                "0x780/0xffc0",
                "0x7c0/0xfff0",
                "2000"
            ]
        );
        for p in 0..=u16::MAX {
            assert_eq!(blocks.iter().any(|b| b.contains(p)), (1000..=2000).contains(&p), "port {p}");
        }
    }

    #[test]
    fn one_port_is_one_exact_block_and_everything_is_one_wildcard() {
        assert_eq!(range(22, 22).masked(), [MaskedPort { value: 22, mask: 0xffff }]);
        assert_eq!(range(0, 65535).masked(), [MaskedPort { value: 0, mask: 0 }]);
        assert_eq!(range(1024, 65535).masked().len(), 6);
        assert_eq!(range(1, 65534).masked().len(), 30); // the worst case
    }

    #[test]
    fn every_range_of_a_dense_sample_is_covered_exactly() {
        let edges: Vec<u16> = (0..=16)
            .flat_map(|b| {
                let p = (1u32 << b).min(65535) as u16;
                [p.saturating_sub(1), p, p.saturating_add(1)]
            })
            .chain([1000, 2000, 5060, 8080, 32767, 49151, 65534, 65535])
            .collect();
        let mut most = 0;
        for &lo in &edges {
            for &hi in &edges {
                if lo <= hi {
                    most = most.max(check(range(lo, hi)));
                }
            }
        }
        assert_eq!(most, 30);
        // And a pseudo-random sweep (fixed seed: the same ranges every run).
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let (a, b) = ((x & 0xffff) as u16, (x >> 16) as u16);
            check(range(a.min(b), a.max(b)));
        }
    }
}
