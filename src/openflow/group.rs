//! GROUP_MOD (OpenFlow 1.1.0 §A.3.4.2) and its buckets (`struct ofp_bucket`),
//! shared with the GROUP_DESC stats reply.

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use super::action::Action;
use super::codec::{patch_len16, DecodeError, DecodeResult, Reader};
use super::types::{open_enum, GroupNo, PortNo};

/// Size of `struct ofp_bucket` without actions.
pub const BUCKET_LEN: usize = 16;

open_enum! {
    /// `enum ofp_group_mod_command`.
    pub struct GroupModCommand(u16) {
        ADD = 0 => "add",
        MODIFY = 1 => "modify",
        DELETE = 2 => "delete",
    }
}

open_enum! {
    /// `enum ofp_group_type`.
    pub struct GroupType(u8) {
        ALL = 0 => "all",
        SELECT = 1 => "select",
        INDIRECT = 2 => "indirect",
        FAST_FAILOVER = 3 => "fast_failover",
    }
}

/// A bucket of actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bucket {
    /// Weight (select groups).
    #[serde(default)]
    pub weight: u16,
    /// Port watched for liveness (fast-failover groups).
    #[serde(default = "any_port")]
    pub watch_port: PortNo,
    /// Group watched for liveness (fast-failover groups).
    #[serde(default = "any_group")]
    pub watch_group: GroupNo,
    /// Actions.
    #[serde(default)]
    pub actions: Vec<Action>,
}

fn any_port() -> PortNo {
    PortNo::ANY
}
fn any_group() -> GroupNo {
    GroupNo::ANY
}

impl Bucket {
    /// Decodes buckets filling `r`.
    pub fn decode_list(r: &mut Reader<'_>) -> DecodeResult<Vec<Bucket>> {
        let mut out = Vec::new();
        while !r.is_empty() {
            let len = Reader::new(r.rest(), "ofp_bucket").u16()?;
            let body_len = r.checked_len(len, 0, 8, "ofp_bucket")?;
            if body_len < BUCKET_LEN {
                return Err(DecodeError::bad_len("ofp_bucket", format!("bucket length {len} is under 16")));
            }
            let mut b = r.sub(body_len, "ofp_bucket")?;
            b.skip(2)?;
            let weight = b.u16()?;
            let watch_port = PortNo(b.u32()?);
            let watch_group = GroupNo(b.u32()?);
            b.skip(4)?;
            out.push(Bucket { weight, watch_port, watch_group, actions: Action::decode_list(&mut b)? });
        }
        Ok(out)
    }

    /// Encodes one bucket.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u16(0);
        out.put_u16(self.weight);
        out.put_u32(self.watch_port.0);
        out.put_u32(self.watch_group.0);
        out.put_u32(0);
        Action::encode_list(&self.actions, out);
        patch_len16(out, start, start);
    }
}

/// Adds, changes or deletes a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupMod {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Command.
    #[serde(default)]
    pub command: GroupModCommand,
    /// Group type.
    #[serde(default)]
    pub group_type: GroupType,
    /// Group id.
    pub group_id: GroupNo,
    /// Buckets.
    #[serde(default)]
    pub buckets: Vec<Bucket>,
}

impl GroupMod {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let command = GroupModCommand(r.u16()?);
        let group_type = GroupType(r.u8()?);
        r.skip(1)?;
        let group_id = GroupNo(r.u32()?);
        Ok(GroupMod { xid, command, group_type, group_id, buckets: Bucket::decode_list(r)? })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.command.0);
        out.put_u8(self.group_type.0);
        out.put_u8(0);
        out.put_u32(self.group_id.0);
        for b in &self.buckets {
            b.encode(out);
        }
    }
}
