//! A partial update merged into the current rule, as `updateRule(id, patch)` in
//! js/sdn-controller.js does it: the patch's keys replace the rule's, a key set to
//! `null` is removed, and a patch that names a target (`vif`, `vm`, `network`,
//! `pool`) replaces the rule's target (the old one is dropped, so the merged rule
//! never has two). The engine merges into the rule as it is when the command is
//! applied, so two patches in a row both take effect.

use serde_json::Value;

use super::error::EngineError;
use crate::rules::rule::{parse_rule, Rule, ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE};

const TARGETS: [&str; 4] = ["vif", "vm", "network", "pool"];

/// `current` (the rule of `id`) with `patch` merged in, validated.
pub fn merge_patch(id: &str, current: &Rule, patch: &Value) -> Result<Rule, EngineError> {
    let Some(patch) = patch.as_object() else {
        return Err(EngineError::InvalidPatch { code: ERR_INVALID_ARG_TYPE, reason: "patch must be an object".into() });
    };
    if let Some(given) = patch.get("id") {
        if given.as_str() != Some(id) {
            return Err(EngineError::InvalidPatch {
                code: ERR_INVALID_ARG_VALUE,
                reason: "patch.id cannot change a rule id".into(),
            });
        }
    }
    let mut merged = match current.to_json() {
        Value::Object(o) => o,
        // `to_json` always makes an object.
        other => {
            return Err(EngineError::InvalidPatch {
                code: ERR_INVALID_ARG_TYPE,
                reason: format!("the rule to patch is not an object: {other}"),
            })
        }
    };
    if TARGETS.iter().any(|t| patch.get(*t).is_some_and(|v| !v.is_null())) {
        for t in TARGETS {
            merged.remove(t);
        }
    }
    for (k, v) in patch {
        if v.is_null() {
            merged.remove(k);
        } else {
            merged.insert(k.clone(), v.clone());
        }
    }
    merged.remove("id");
    Ok(parse_rule(&Value::Object(merged))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VIF: &str = "00000000-0000-0000-0000-000000000001";
    const NET: &str = "00000000-0000-0000-0000-000000000002";

    fn seed() -> Rule {
        parse_rule(&json!({ "vif": { "uuid": VIF, "mac": "ae:f7:4b:84:6c:8b" }, "allow": false, "protocol": "tcp",
                             "port": 5060, "ipRange": "192.168.5.55", "direction": "from" }))
        .unwrap()
    }

    #[test]
    fn keys_replace_nulls_remove_and_a_target_replaces_the_target() {
        let r = merge_patch("sip", &seed(), &json!({ "port": 5061 })).unwrap();
        assert_eq!(r.port.map(|p| p.lo), Some(5061));
        assert_eq!(r.ip_range, seed().ip_range, "other keys kept");

        let r = merge_patch("sip", &seed(), &json!({ "ipRange": null, "port": null, "protocol": "udp" })).unwrap();
        assert_eq!((r.ip_range, r.port), (None, None));

        let r = merge_patch("sip", &seed(), &json!({ "network": { "uuid": NET } })).unwrap();
        assert_eq!(r.to_json()["network"]["uuid"], json!(NET));
        assert!(r.to_json().get("vif").is_none(), "the old target went");

        // id: the rule's own is accepted and dropped; another is refused.
        assert_eq!(merge_patch("sip", &seed(), &json!({ "id": "sip" })).unwrap(), seed());
        assert_eq!(merge_patch("sip", &seed(), &json!({ "id": "x" })).unwrap_err().code(), "ERR_INVALID_ARG_VALUE");
        assert_eq!(merge_patch("sip", &seed(), &json!({ "id": null })).unwrap_err().code(), "ERR_INVALID_ARG_VALUE");
        assert_eq!(merge_patch("sip", &seed(), &json!([1])).unwrap_err().code(), "ERR_INVALID_ARG_TYPE");
        // The merged rule is validated as a whole: a port without tcp/udp is refused.
        let e = merge_patch("sip", &seed(), &json!({ "protocol": "icmp" })).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_ARG_VALUE");
        assert!(e.to_string().starts_with("rule.port"), "{e}");
    }
}
