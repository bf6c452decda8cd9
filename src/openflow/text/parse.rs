//! [`parse_flow`]: the flow_mod keywords (`table`, `priority`, timeouts, `cookie`,
//! `out_port`, flags) around the match and the actions.

use super::actions::{check_items, encode_items, parse_actions, CheckCtx};
use super::error::{bad, not11, Result, TextError};
use super::lex::{c_u64, int_arg, next_kv_raw, parse_group, parse_port, parse_table};
use super::matching::{field_beyond_of11, field_by_name, protocol_by_name, MatchBuilder};
use crate::openflow::flow::{FlowMod, FlowModCommand, FlowModFlags};
use crate::openflow::types::{GroupNo, PortNo, NO_BUFFER};

/// Keywords each command accepts (`parse_ofp_str__`).
struct Allowed {
    actions: bool,
    timeouts: bool,
    priority: bool,
    flags: bool,
    out_port: bool,
}

/// Parses a flow in `ovs-ofctl` syntax for `command` (add, modify, modify_strict,
/// delete, delete_strict) into the FlowMod ovs-ofctl 3.1 sends with `-O OpenFlow11`.
///
/// `encode(parse_flow(text))` is byte-identical to what `ovs-ofctl -O OpenFlow11
/// add-flow` / `mod-flows [--strict]` / `del-flows [--strict]` puts on the wire
/// (xid aside). Never panics; every refusal names the offending token.
pub fn parse_flow(text: &str, command: FlowModCommand) -> Result<FlowMod> {
    let allowed = match command {
        FlowModCommand::ADD | FlowModCommand::MODIFY | FlowModCommand::MODIFY_STRICT => {
            Allowed { actions: true, timeouts: true, priority: true, flags: true, out_port: false }
        }
        FlowModCommand::DELETE => {
            Allowed { actions: false, timeouts: false, priority: false, flags: false, out_port: true }
        }
        FlowModCommand::DELETE_STRICT => {
            Allowed { actions: false, timeouts: false, priority: true, flags: false, out_port: true }
        }
        other => return Err(bad(format!("{other:?}"), "not a flow_mod command")),
    };
    let is_add = command == FlowModCommand::ADD;
    let is_modify = matches!(command, FlowModCommand::MODIFY | FlowModCommand::MODIFY_STRICT);

    // ofp_extract_actions: everything after the first "action...=" is actions.
    let (mut rest, actions_text) = if allowed.actions {
        let idx = text.find("action").ok_or(TextError::MissingActions)?;
        let after = &text[idx + "action".len()..];
        let eq = after.find('=').ok_or(TextError::MissingActions)?;
        (&text[..idx], Some(&after[eq + 1..]))
    } else {
        (text, None)
    };

    let mut fm = FlowMod { command, ..FlowMod::default() };
    let mut mb = MatchBuilder::default();
    let mut table: Option<u8> = None;
    let mut new_cookie: Option<u64> = None;
    let mut cookie_match: Option<(u64, u64)> = None;
    let mut seen: Vec<&str> = Vec::new();

    while let Some((key, value, raw)) = next_kv_raw(&mut rest) {
        let token = raw.to_owned();
        if protocol_by_name(key).is_some() {
            mb.protocol(key, value)?;
            continue;
        }
        if let Some(f) = field_by_name(key) {
            mb.field(f, key, value)?;
            continue;
        }
        let not_here = |reason: &str| TextError::NotAllowed { token: token.clone(), reason: reason.to_owned() };
        match key {
            "eth" => continue,
            "no_readonly_table" | "allow_hidden_fields" => continue,
            "send_flow_rem" | "check_overlap" => {
                if !allowed.flags {
                    return Err(not_here("flags apply to add-flow and mod-flows only"));
                }
                if !value.is_empty() {
                    return Err(bad(token, format!("'{key}' takes no value")));
                }
                let bit =
                    if key == "send_flow_rem" { FlowModFlags::SEND_FLOW_REM } else { FlowModFlags::CHECK_OVERLAP };
                fm.flags = FlowModFlags(fm.flags.0 | bit.0);
                continue;
            }
            "reset_counts" => return Err(not11(token, "reset_counts needs OpenFlow 1.2+")),
            "no_packet_counts" | "no_byte_counts" => return Err(not11(token, "needs OpenFlow 1.3+")),
            "importance" => return Err(not11(token, "flow importance needs OpenFlow 1.4+")),
            _ => {}
        }
        if let Some(why) = field_beyond_of11(key) {
            return Err(not11(token, why));
        }
        if key.contains('[') {
            return Err(not11(token, "subfield matches need NXM or OXM"));
        }
        let keyword = match key {
            "table" | "out_port" | "out_group" | "priority" | "idle_timeout" | "hard_timeout" | "cookie"
            | "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => key,
            "actions" | "action" if !allowed.actions => {
                return Err(TextError::NotAllowed { token: key.to_owned(), reason: "deletes take no actions".into() })
            }
            _ => return Err(TextError::UnknownField { token: key.to_owned() }),
        };
        if value.is_empty() {
            return Err(bad(token, format!("field {key} missing value")));
        }
        if seen.contains(&keyword) {
            return Err(TextError::Duplicate { token });
        }
        seen.push(keyword);
        match keyword {
            "table" => {
                let t = parse_table(value).ok_or_else(|| bad(&token, "unknown table (expected 0 to 255)"))?;
                table = Some(t);
            }
            "out_port" | "out_group" if !allowed.out_port => {
                return Err(not_here("out_port and out_group apply to del-flows only"))
            }
            "out_port" => {
                let p = parse_port(value).ok_or_else(|| bad(&token, "not a valid OpenFlow port"))?;
                fm.out_port = PortNo(p);
            }
            "out_group" => {
                let g = parse_group(value).ok_or_else(|| bad(&token, "not a valid OpenFlow group"))?;
                fm.out_group = GroupNo(g);
            }
            "priority" if !allowed.priority => return Err(not_here("a non-strict delete matches every priority")),
            "priority" => fm.priority = int_arg(&token, value, "priority", 65535)? as u16,
            "idle_timeout" | "hard_timeout" if !allowed.timeouts => {
                return Err(not_here("timeouts apply to add-flow and mod-flows only"))
            }
            "idle_timeout" => fm.idle_timeout = int_arg(&token, value, "idle_timeout", 65535)? as u16,
            "hard_timeout" => fm.hard_timeout = int_arg(&token, value, "hard_timeout", 65535)? as u16,
            "cookie" => match value.split_once('/') {
                Some((v, m)) => {
                    if is_add {
                        return Err(not_here("flow additions cannot use a cookie mask"));
                    }
                    let v = c_u64(v).ok_or_else(|| bad(&token, "invalid numeric format"))?;
                    let m = c_u64(m).ok_or_else(|| bad(&token, "invalid numeric format"))?;
                    cookie_match = Some((v, m));
                }
                None => {
                    if !(is_add || is_modify) {
                        return Err(not_here(&format!(
                            "cannot set a cookie on a delete (to match on a cookie, give a mask: cookie={value}/-1)"
                        )));
                    }
                    new_cookie = Some(c_u64(value).ok_or_else(|| bad(&token, "invalid numeric format"))?);
                }
            },
            // dump-flows output fed back in: ignored, as ovs-ofctl does.
            _ => {}
        }
    }
    mb.check_prerequisites()?;
    fm.flow_match = mb.to_match();

    // Cookie (ofputil_encode_flow_mod for OFPUTIL_P_OF11_STD).
    let (cookie, cookie_mask) = cookie_match.unwrap_or((0, 0));
    fm.cookie_mask = cookie_mask;
    fm.cookie = if is_add || (is_modify && cookie_mask == 0) {
        match new_cookie {
            // A modify without a mask "adds if absent": OVS turns an all-ones (=
            // "unchanged") new cookie into 0.
            Some(u64::MAX) if is_modify => 0,
            Some(c) => c,
            None => 0,
        }
    } else {
        cookie & cookie_mask
    };
    // OF1.1 has no "all tables": ovs-ofctl sends table 0 for 255 and for none.
    fm.table_id = match table {
        Some(t) if t != 0xff => t,
        _ => 0,
    };
    fm.buffer_id = NO_BUFFER;

    if let Some(actions_text) = actions_text {
        let items = parse_actions(actions_text, true, 0)?;
        let mut state = mb.flow_state();
        let ctx = CheckCtx { table: table.unwrap_or(0xff) };
        check_items(&items, &mut state, &ctx, true)?;
        fm.instructions = encode_items(&items, mb.flow_state())?;
    }
    Ok(fm)
}
