//! OpenFlow 1.1 instructions (OpenFlow 1.1.0 §A.2.4, `enum ofp_instruction_type`).

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::action::Action;
use super::codec::{pad_to_8, patch_len16, DecodeError, DecodeResult, Reader};
use super::error_msg::ErrorType;
use super::types::{u64_field, Bytes};

/// One instruction. In JS: `{ type: 'apply_actions', actions: [...] }`,
/// `{ type: 'goto_table', tableId: 1 }`, `{ type: 'write_metadata', metadata: 0x12n,
/// metadataMask: 0xffn }`, `{ type: 'clear_actions' }`.
///
/// `Deserialize` is below ([`tagged_enum!`](crate::openflow::tagged)): it reads `type`
/// first instead of buffering the object as `#[serde(tag)]` does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Instruction {
    /// `OFPIT_GOTO_TABLE` (1).
    GotoTable {
        /// Next table.
        table_id: u8,
    },
    /// `OFPIT_WRITE_METADATA` (2).
    WriteMetadata {
        /// Value to write.
        #[serde(with = "u64_field")]
        metadata: u64,
        /// Bits to write.
        #[serde(with = "u64_field", default = "all_ones")]
        metadata_mask: u64,
    },
    /// `OFPIT_WRITE_ACTIONS` (3): merge into the action set.
    WriteActions {
        /// Actions.
        #[serde(default)]
        actions: Vec<Action>,
    },
    /// `OFPIT_APPLY_ACTIONS` (4): apply now. An empty list drops.
    ApplyActions {
        /// Actions.
        #[serde(default)]
        actions: Vec<Action>,
    },
    /// `OFPIT_CLEAR_ACTIONS` (5).
    ClearActions,
    /// `OFPIT_EXPERIMENTER` (0xffff).
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Body after the experimenter id.
        #[serde(default)]
        data: Bytes,
    },
    /// An instruction type this codec does not know, kept as is.
    Unknown {
        /// Wire type.
        instruction_type: u16,
        /// Body after the 4-byte type/length.
        #[serde(default)]
        data: Bytes,
    },
}

crate::openflow::tagged::tagged_enum! {
    Instruction {
        "goto_table" => fields GotoTable { table_id: u8 },
        "write_metadata" => fields WriteMetadata {
            #[serde(with = "u64_field")]
            metadata: u64,
            #[serde(with = "u64_field", default = "all_ones")]
            metadata_mask: u64,
        },
        "write_actions" => fields WriteActions {
            #[serde(default)]
            actions: Vec<Action>,
        },
        "apply_actions" => fields ApplyActions {
            #[serde(default)]
            actions: Vec<Action>,
        },
        "clear_actions" => unit ClearActions (),
        "experimenter" => fields Experimenter {
            experimenter: u32,
            #[serde(default)]
            data: Bytes,
        },
        "unknown" => fields Unknown {
            instruction_type: u16,
            #[serde(default)]
            data: Bytes,
        },
    }
}

fn all_ones() -> u64 {
    u64::MAX
}

fn bad_instruction(code: u16, detail: impl Into<String>) -> DecodeError {
    DecodeError::new(ErrorType::BAD_INSTRUCTION, code, "ofp_instruction", detail)
}

impl Instruction {
    /// Decodes instructions filling `r`.
    pub fn decode_list(r: &mut Reader<'_>) -> DecodeResult<Vec<Instruction>> {
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(Instruction::decode(r)?);
        }
        Ok(out)
    }

    /// Decodes one instruction.
    pub fn decode(r: &mut Reader<'_>) -> DecodeResult<Instruction> {
        let mut hdr = *r;
        let t = hdr.u16()?;
        let len = hdr.u16()?;
        if usize::from(len) < 8 || len % 8 != 0 || usize::from(len) > r.remaining() {
            return Err(DecodeError::bad_len(
                "ofp_instruction",
                format!("instruction type {t} has bad length {len} ({} bytes left)", r.remaining()),
            ));
        }
        let mut b = r.sub(usize::from(len), "ofp_instruction")?;
        b.skip(4)?;
        let fixed = |want: u16| {
            if len == want {
                Ok(())
            } else {
                Err(DecodeError::bad_len("ofp_instruction", format!("instruction type {t} must be {want} bytes, not {len}")))
            }
        };
        Ok(match t {
            1 => {
                fixed(8)?;
                Instruction::GotoTable { table_id: b.u8()? }
            }
            2 => {
                fixed(24)?;
                b.skip(4)?;
                Instruction::WriteMetadata { metadata: b.u64()?, metadata_mask: b.u64()? }
            }
            3 | 4 => {
                b.skip(4)?;
                let actions = Action::decode_list(&mut b)?;
                if t == 3 {
                    Instruction::WriteActions { actions }
                } else {
                    Instruction::ApplyActions { actions }
                }
            }
            5 => {
                fixed(8)?;
                Instruction::ClearActions
            }
            0xffff => {
                let experimenter = b.u32()?;
                Instruction::Experimenter { experimenter, data: Bytes(b.take_rest().to_vec()) }
            }
            0 => return Err(bad_instruction(0, "instruction type 0 is not defined")),
            other => {
                let data = Reader::new(hdr.rest(), "ofp_instruction").take(usize::from(len) - 4)?;
                Instruction::Unknown { instruction_type: other, data: Bytes(data.to_vec()) }
            }
        })
    }

    /// Wire type number.
    pub fn wire_type(&self) -> u16 {
        match self {
            Instruction::GotoTable { .. } => 1,
            Instruction::WriteMetadata { .. } => 2,
            Instruction::WriteActions { .. } => 3,
            Instruction::ApplyActions { .. } => 4,
            Instruction::ClearActions => 5,
            Instruction::Experimenter { .. } => 0xffff,
            Instruction::Unknown { instruction_type, .. } => *instruction_type,
        }
    }

    /// Encodes a list.
    pub fn encode_list(list: &[Instruction], out: &mut BytesMut) {
        for i in list {
            i.encode(out);
        }
    }

    /// Encodes one instruction.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u16(self.wire_type());
        out.put_u16(0);
        match self {
            Instruction::GotoTable { table_id } => {
                out.put_u8(*table_id);
                out.put_bytes(0, 3);
            }
            Instruction::WriteMetadata { metadata, metadata_mask } => {
                out.put_u32(0);
                out.put_u64(*metadata);
                out.put_u64(*metadata_mask);
            }
            Instruction::WriteActions { actions } | Instruction::ApplyActions { actions } => {
                out.put_u32(0);
                Action::encode_list(actions, out);
            }
            Instruction::ClearActions => out.put_u32(0),
            Instruction::Experimenter { experimenter, data } => {
                out.put_u32(*experimenter);
                out.put_slice(&data.0);
            }
            Instruction::Unknown { data, .. } => out.put_slice(&data.0),
        }
        pad_to_8(out, start);
        patch_len16(out, start, start + 2);
    }
}
