//! Open vSwitch's `ovs-ofctl` flow syntax for OpenFlow 1.1: parsing into a
//! [`FlowMod`](super::FlowMod) and printing the way `dump-flows` does.
