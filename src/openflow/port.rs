//! Ports: `struct ofp_port` (OpenFlow 1.1.0 §A.2.1, 64 bytes), OFPT_PORT_STATUS
//! (§A.4.3) and OFPT_PORT_MOD (§A.3.4.3).

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use super::codec::{put_fixed_str, DecodeError, DecodeResult, Reader};
use super::types::{flags, open_enum, MacAddr, PortNo};

/// Size of `struct ofp_port`.
pub const PORT_LEN: usize = 64;
/// `OFP_MAX_PORT_NAME_LEN`.
pub const PORT_NAME_LEN: usize = 16;

flags! {
    /// `enum ofp_port_config`.
    pub struct PortConfig(u32) {
        PORT_DOWN = 1 << 0 => "port_down",
        NO_RECV = 1 << 2 => "no_recv",
        NO_FWD = 1 << 5 => "no_fwd",
        NO_PACKET_IN = 1 << 6 => "no_packet_in",
    }
}

flags! {
    /// `enum ofp_port_state`.
    pub struct PortState(u32) {
        LINK_DOWN = 1 << 0 => "link_down",
        BLOCKED = 1 << 1 => "blocked",
        LIVE = 1 << 2 => "live",
    }
}

flags! {
    /// `enum ofp_port_features`.
    pub struct PortFeatures(u32) {
        F_10MB_HD = 1 << 0 => "10mb_hd",
        F_10MB_FD = 1 << 1 => "10mb_fd",
        F_100MB_HD = 1 << 2 => "100mb_hd",
        F_100MB_FD = 1 << 3 => "100mb_fd",
        F_1GB_HD = 1 << 4 => "1gb_hd",
        F_1GB_FD = 1 << 5 => "1gb_fd",
        F_10GB_FD = 1 << 6 => "10gb_fd",
        F_40GB_FD = 1 << 7 => "40gb_fd",
        F_100GB_FD = 1 << 8 => "100gb_fd",
        F_1TB_FD = 1 << 9 => "1tb_fd",
        OTHER = 1 << 10 => "other",
        COPPER = 1 << 11 => "copper",
        FIBER = 1 << 12 => "fiber",
        AUTONEG = 1 << 13 => "autoneg",
        PAUSE = 1 << 14 => "pause",
        PAUSE_ASYM = 1 << 15 => "pause_asym",
    }
}

/// A switch port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Port {
    /// Port number.
    pub port_no: PortNo,
    /// MAC address.
    pub hw_addr: MacAddr,
    /// Name (at most 15 bytes on the wire).
    pub name: String,
    /// Administrative settings.
    #[serde(default)]
    pub config: PortConfig,
    /// Current state.
    #[serde(default)]
    pub state: PortState,
    /// Current features.
    #[serde(default)]
    pub curr: PortFeatures,
    /// Advertised features.
    #[serde(default)]
    pub advertised: PortFeatures,
    /// Supported features.
    #[serde(default)]
    pub supported: PortFeatures,
    /// Features advertised by the peer.
    #[serde(default)]
    pub peer: PortFeatures,
    /// Current bitrate, kbps.
    #[serde(default)]
    pub curr_speed: u32,
    /// Maximum bitrate, kbps.
    #[serde(default)]
    pub max_speed: u32,
}

impl Port {
    /// Decodes one 64-byte port.
    pub fn decode(r: &mut Reader<'_>) -> DecodeResult<Port> {
        let mut r = r.sub(PORT_LEN, "ofp_port")?;
        let port_no = PortNo(r.u32()?);
        r.skip(4)?;
        let hw_addr = MacAddr(r.array()?);
        r.skip(2)?;
        Ok(Port {
            port_no,
            hw_addr,
            name: r.fixed_str(PORT_NAME_LEN)?,
            config: PortConfig(r.u32()?),
            state: PortState(r.u32()?),
            curr: PortFeatures(r.u32()?),
            advertised: PortFeatures(r.u32()?),
            supported: PortFeatures(r.u32()?),
            peer: PortFeatures(r.u32()?),
            curr_speed: r.u32()?,
            max_speed: r.u32()?,
        })
    }

    /// Decodes ports filling `r`.
    pub fn decode_list(r: &mut Reader<'_>) -> DecodeResult<Vec<Port>> {
        if r.remaining() % PORT_LEN != 0 {
            return Err(DecodeError::bad_len("ofp_port", format!("{} bytes is not a whole number of ports", r.remaining())));
        }
        let mut out = Vec::with_capacity(r.remaining() / PORT_LEN);
        while !r.is_empty() {
            out.push(Port::decode(r)?);
        }
        Ok(out)
    }

    /// Encodes one port.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.port_no.0);
        out.put_u32(0);
        out.put_slice(&self.hw_addr.0);
        out.put_u16(0);
        put_fixed_str(out, &self.name, PORT_NAME_LEN);
        for v in [
            self.config.0,
            self.state.0,
            self.curr.0,
            self.advertised.0,
            self.supported.0,
            self.peer.0,
            self.curr_speed,
            self.max_speed,
        ] {
            out.put_u32(v);
        }
    }
}

open_enum! {
    /// `enum ofp_port_reason`.
    pub struct PortReason(u8) {
        ADD = 0 => "add",
        DELETE = 1 => "delete",
        MODIFY = 2 => "modify",
    }
}

/// A port was added, removed or changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortStatus {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// What happened.
    pub reason: PortReason,
    /// The port.
    pub port: Port,
}

impl PortStatus {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let reason = PortReason(r.u8()?);
        r.skip(7)?;
        Ok(PortStatus { xid, reason, port: Port::decode(r)? })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.reason.0);
        out.put_bytes(0, 7);
        self.port.encode(out);
    }
}

/// Changes a port's administrative settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMod {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Port number.
    pub port_no: PortNo,
    /// The port's MAC, as a sanity check.
    pub hw_addr: MacAddr,
    /// New config bits.
    #[serde(default)]
    pub config: PortConfig,
    /// Which config bits to change.
    #[serde(default)]
    pub mask: PortConfig,
    /// Features to advertise (none = no change).
    #[serde(default)]
    pub advertise: PortFeatures,
}

impl PortMod {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let port_no = PortNo(r.u32()?);
        r.skip(4)?;
        let hw_addr = MacAddr(r.array()?);
        r.skip(2)?;
        let config = PortConfig(r.u32()?);
        let mask = PortConfig(r.u32()?);
        let advertise = PortFeatures(r.u32()?);
        r.skip(4)?;
        Ok(PortMod { xid, port_no, hw_addr, config, mask, advertise })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.port_no.0);
        out.put_u32(0);
        out.put_slice(&self.hw_addr.0);
        out.put_u16(0);
        out.put_u32(self.config.0);
        out.put_u32(self.mask.0);
        out.put_u32(self.advertise.0);
        out.put_u32(0);
    }
}
