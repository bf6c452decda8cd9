use super::*;
use crate::rules::rule::parse_rule;
use serde_json::json;

const BASE: u64 = 7;
const V1: &str = "00000000-0000-0000-0000-000000000001";
const V2: &str = "00000000-0000-0000-0000-000000000002";
const V3: &str = "00000000-0000-0000-0000-000000000003";

fn sg() -> SecurityGroups {
    SecurityGroups::new(BASE, DEFAULT_FLOW_BUDGET).unwrap()
}

fn vif(uuid: &str, n: u8, ips: &[&str]) -> Value {
    json!({ "uuid": uuid, "mac": format!("02:00:00:00:00:{n:02x}"), "ips": ips })
}

fn cookie(n: u64) -> u64 {
    cookie::rule_cookie(n, 0).unwrap()
}

fn perm(v: Value) -> Permission {
    Permission::parse(&v, "p").unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// A rule as ovs-ofctl-ish text, for readable expectations:
/// `prio allow|deny protocol [port] [sport] [ip] direction`.
fn show(d: &DerivedRule) -> String {
    let r = &d.rule;
    let mut s = format!("{} {} {}", d.priority, if r.allow { "allow" } else { "deny" }, r.protocol.name());
    let range = |p: PortRange| if p.lo == p.hi { p.lo.to_string() } else { format!("{}-{}", p.lo, p.hi) };
    if let Some(p) = r.port {
        s += &format!(" port={}", range(p));
    }
    if let Some(p) = r.source_port {
        s += &format!(" sport={}", range(p));
    }
    if let Some(t) = r.icmp_type {
        s += &format!(" type={t}");
    }
    if let Some(c) = r.icmp_code {
        s += &format!(" code={c}");
    }
    if let Some(ip) = r.ip_range {
        s += &format!(" ip={ip}");
    }
    s += &format!(" {}", r.direction.name());
    match d.sender {
        Sender::Ips => {}
        Sender::Any => s += " unlocked",
        Sender::Ipv6(from, prefix) => s += &format!(" src={from}/{prefix}"),
    }
    s
}

fn shown(sg: &SecurityGroups, uuid: &str) -> Vec<String> {
    sg.rules_of(uuid).unwrap().rules.iter().map(show).collect()
}

// ---- permissions ----

#[test]
fn permissions_normalize_as_the_api_always_has() {
    let cases = [
        (
            json!({ "protocol": "TCP", "fromPort": 22, "toPort": 22, "cidr": " 10.10.1.0/24 " }),
            r#"{"protocol":"tcp","fromPort":22,"toPort":22,"cidr":"10.10.1.0/24"}"#,
        ),
        (json!({ "protocol": -1, "cidr": "0.0.0.0" }), r#"{"protocol":"all","cidr":"0.0.0.0/0"}"#),
        (json!({ "protocol": "-1", "cidr": "10.0.0.1" }), r#"{"protocol":"all","cidr":"10.0.0.1/32"}"#),
        (
            json!({ "protocol": "icmp", "fromPort": 8, "toPort": -1, "cidr": "0.0.0.0/0" }),
            r#"{"protocol":"icmp","fromPort":8,"cidr":"0.0.0.0/0"}"#,
        ),
        (
            json!({ "protocol": "icmp", "fromPort": null, "cidr": "0.0.0.0/0" }),
            r#"{"protocol":"icmp","cidr":"0.0.0.0/0"}"#,
        ),
        (
            json!({ "protocol": "udp", "fromPort": 0, "toPort": 65535, "sourceGroup": "web" }),
            r#"{"protocol":"udp","fromPort":0,"toPort":65535,"sourceGroup":"web"}"#,
        ),
        (
            json!({ "protocol": "tcp", "fromPort": 1e3, "toPort": 1000, "cidr": "0.0.0.0/8" }),
            r#"{"protocol":"tcp","fromPort":1000,"toPort":1000,"cidr":"0.0.0.0/8"}"#,
        ),
    ];
    for (given, want) in cases {
        let p = perm(given.clone());
        assert_eq!(p.json(), want, "{given}");
        let back: Value = serde_json::from_str(want).unwrap();
        assert_eq!(Permission::parse(&back, "p"), Ok(p), "{want} reads back the same");
    }
    assert!(perm(json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).is_all_traffic());
    assert!(!perm(json!({ "protocol": "all", "cidr": "10.0.0.0/8" })).is_all_traffic());
}

#[test]
fn bad_permissions_are_refused_with_their_code_and_field() {
    #[rustfmt::skip]
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!(7), ERR_INVALID_ARG_TYPE, "ingress[2] must be an object"),
        (json!(null), ERR_INVALID_ARG_TYPE, "ingress[2] must be an object"),
        (json!([]), ERR_INVALID_ARG_TYPE, "ingress[2] must be an object"),
        (json!({ "protocol": "tcp", "fromPort": 1, "toPort": 2, "cidr": "0.0.0.0/0", "color": "red" }), ERR_INVALID_ARG_VALUE, "ingress[2].color is not a permission field"),
        (json!({ "cidr": "0.0.0.0/0" }), ERR_INVALID_ARG_TYPE, "ingress[2].protocol must be tcp, udp, icmp, icmpv6 or all (-1)"),
        (json!({ "protocol": 6, "cidr": "0.0.0.0/0" }), ERR_INVALID_ARG_TYPE, "ingress[2].protocol must be"),
        (json!({ "protocol": "gre", "cidr": "0.0.0.0/0" }), ERR_INVALID_ARG_VALUE, "ingress[2].protocol must be tcp, udp, icmp, icmpv6 or all (-1), got \"gre\""),
        (json!({ "protocol": "tcp", "fromPort": 22, "cidr": "0.0.0.0/0" }), ERR_INVALID_ARG_TYPE, "ingress[2].toPort must be an integer port for tcp"),
        (json!({ "protocol": "tcp", "fromPort": "22", "toPort": 22, "cidr": "0.0.0.0/0" }), ERR_INVALID_ARG_TYPE, "ingress[2].fromPort must be an integer port"),
        (json!({ "protocol": "udp", "fromPort": 1.5, "toPort": 22, "cidr": "0.0.0.0/0" }), ERR_INVALID_ARG_TYPE, "ingress[2].fromPort must be an integer port for udp"),
        (json!({ "protocol": "tcp", "fromPort": 22, "toPort": 70000, "cidr": "0.0.0.0/0" }), ERR_OUT_OF_RANGE, "ingress[2].toPort must be 0..65535, got 70000"),
        (json!({ "protocol": "tcp", "fromPort": -1, "toPort": 1, "cidr": "0.0.0.0/0" }), ERR_OUT_OF_RANGE, "ingress[2].fromPort must be 0..65535, got -1"),
        (json!({ "protocol": "tcp", "fromPort": 30, "toPort": 20, "cidr": "0.0.0.0/0" }), ERR_INVALID_ARG_VALUE, "ingress[2]: fromPort 30 is above toPort 20"),
        (json!({ "protocol": "icmp", "fromPort": 300, "cidr": "0.0.0.0/0" }), ERR_OUT_OF_RANGE, "ingress[2].fromPort is the ICMP type: -1..255"),
        (json!({ "protocol": "icmp", "toPort": "NaN", "cidr": "0.0.0.0/0" }), ERR_OUT_OF_RANGE, "ingress[2].toPort is the ICMP code: -1..255"),
        (json!({ "protocol": "all", "fromPort": 1, "toPort": 2, "cidr": "0.0.0.0/0" }), ERR_INVALID_ARG_VALUE, "ingress[2]: ports need protocol tcp or udp"),
        (json!({ "protocol": "all", "toPort": null, "cidr": "0.0.0.0/0" }), ERR_INVALID_ARG_VALUE, "ingress[2]: ports need protocol tcp or udp"),
        (json!({ "protocol": "tcp", "fromPort": 22, "toPort": 22 }), ERR_INVALID_ARG_VALUE, "ingress[2] needs exactly one of cidr and sourceGroup"),
        (json!({ "protocol": "all", "cidr": "0.0.0.0/0", "sourceGroup": "web" }), ERR_INVALID_ARG_VALUE, "ingress[2] needs exactly one of cidr and sourceGroup"),
        (json!({ "protocol": "all", "cidr": 10 }), ERR_INVALID_ARG_TYPE, "ingress[2].cidr must be an IPv4 or IPv6 CIDR string"),
        (json!({ "protocol": "all", "cidr": "10.0.0.1/8" }), ERR_INVALID_ARG_VALUE, "ingress[2].cidr: '10.0.0.1/8' has host bits set: the network is 10.0.0.0/8"),
        (json!({ "protocol": "all", "cidr": "fe80::1/10" }), ERR_INVALID_ARG_VALUE, "ingress[2].cidr: 'fe80::1/10' has host bits set: the network is fe80::/10"),
        (json!({ "protocol": "all", "cidr": "2001:db8::/129" }), ERR_OUT_OF_RANGE, "ingress[2].cidr: '2001:db8::/129': the prefix length must be 0 to 128"),
        (json!({ "protocol": "all", "cidr": "2001:db8::g" }), ERR_INVALID_ARG_VALUE, "ingress[2].cidr: '2001:db8::g' is not an IPv6 address or CIDR"),
        (json!({ "protocol": "icmp", "cidr": "::/0" }), ERR_INVALID_ARG_VALUE, "ingress[2]: protocol icmp is IPv4's; use icmpv6"),
        (json!({ "protocol": "icmpv6", "cidr": "10.0.0.0/8" }), ERR_INVALID_ARG_VALUE, "ingress[2]: protocol icmpv6 needs an IPv6 cidr"),
        (json!({ "protocol": "all", "cidr": "10.0.0.0/33" }), ERR_OUT_OF_RANGE, "ingress[2].cidr: '10.0.0.0/33': the prefix length must be 0 to 32"),
        (json!({ "protocol": "all", "cidr": "10.0.0.0/255.0.0.0" }), ERR_INVALID_ARG_VALUE, "ingress[2].cidr: '10.0.0.0/255.0.0.0' is not an IPv4 address or CIDR"),
        (json!({ "protocol": "all", "cidr": "010.0.0.0/8" }), ERR_INVALID_ARG_VALUE, "ingress[2].cidr: '010.0.0.0/8' is not an IPv4 address or CIDR"),
        (json!({ "protocol": "all", "sourceGroup": "" }), ERR_INVALID_ARG_TYPE, "ingress[2].sourceGroup must be a group name or id"),
        (json!({ "protocol": "all", "sourceGroup": 3 }), ERR_INVALID_ARG_TYPE, "ingress[2].sourceGroup must be a group name or id"),
    ];
    for (given, code, message) in cases {
        let e = Permission::parse(&given, "ingress[2]").expect_err(&given.to_string());
        assert_eq!(e.code(), code, "{given}: {e}");
        assert!(e.to_string().starts_with(message), "{given}:\n  got  {e}\n  want {message}...");
    }
}

#[test]
fn a_port_range_is_one_rule_and_port_0_matches_nothing() {
    let ports = |from: u16, to: u16| {
        perm(json!({ "protocol": "tcp", "fromPort": from, "toPort": to, "cidr": "0.0.0.0/0" }))
            .matches()
            .iter()
            .map(|c| c.port.map(|p| (p.lo, p.hi)))
            .collect::<Vec<_>>()
    };
    assert_eq!(ports(0, 65535), vec![None], "every port: no port match");
    assert_eq!(ports(1, 65535), vec![None]);
    assert_eq!(ports(22, 22), vec![Some((22, 22))]);
    assert_eq!(ports(0, 5), vec![Some((1, 5))]);
    assert_eq!(ports(0, 0), vec![]);
    assert_eq!(ports(1000, 1300), vec![Some((1000, 1300))]);
    assert_eq!(ports(65280, 65535), vec![Some((65280, 65535))], "no overflow at the top");
    assert_eq!(ports(2, 65535), vec![Some((2, 65535))]);
}

// ---- the derivation ----

#[test]
fn the_blog_scenario_open_egress() {
    let mut sg = sg();
    sg.create_group("Test Group", "blog", 100).unwrap();
    sg.authorize(
        "Test Group",
        Side::Ingress,
        &json!({ "protocol": "tcp", "fromPort": 80, "toPort": 80, "cidr": "0.0.0.0" }),
    )
    .unwrap();
    sg.authorize(
        "Test Group",
        Side::Ingress,
        &json!([{ "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "10.10.1.0/24" }]),
    )
    .unwrap();
    sg.authorize(
        "sg-00000064",
        Side::Egress,
        &json!({ "protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "0.0.0.0/0" }),
    )
    .unwrap();
    sg.attach(&vif(V1, 1, &["10.0.0.1"]), &json!(["Test Group"])).unwrap();
    let r = sg.rules_of(V1).unwrap();
    assert!(!r.egress_restricted);
    assert_eq!(
        r.rules.iter().map(show).collect::<Vec<_>>(),
        [
            "9900 allow tcp port=80 ip=0.0.0.0/0 to",
            "9900 allow tcp port=22 ip=10.10.1.0/24 to",
            "9900 allow tcp sport=443 ip=0.0.0.0/0 to",
            "9800 allow arp to",
            "9800 allow udp port=68 sport=67 ip=0.0.0.0/0 to",
            "9100 deny any to",
        ]
    );
    assert!(r.rules[..3].iter().all(|d| d.cookie == cookie(100)));
    assert!(r.rules[3..].iter().all(|d| d.cookie == cookie(BASE)));
    assert_eq!(sg.rules_of(V2), None, "in no group");
}

#[test]
fn restricted_egress_adds_replies_of_inbound_permissions_and_the_dhcp_client() {
    let mut sg = sg();
    sg.create_group("locked", "", 100).unwrap();
    sg.authorize(
        "locked",
        Side::Ingress,
        &json!({ "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "10.10.1.0/24" }),
    )
    .unwrap();
    sg.authorize(
        "locked",
        Side::Egress,
        &json!({ "protocol": "udp", "fromPort": 53, "toPort": 53, "cidr": "10.0.0.53/32" }),
    )
    .unwrap();
    sg.authorize("locked", Side::Ingress, &json!({ "protocol": "icmp", "fromPort": 8, "cidr": "0.0.0.0/0" })).unwrap();
    sg.revoke("locked", Side::Egress, &json!({ "protocol": -1, "cidr": "0.0.0.0/0" })).unwrap();
    sg.attach(&vif(V1, 1, &["10.0.0.2"]), &json!(["locked"])).unwrap();
    assert!(sg.rules_of(V1).unwrap().egress_restricted);
    assert_eq!(
        shown(&sg, V1),
        [
            "9900 allow tcp port=22 ip=10.10.1.0/24 to",
            "9900 allow tcp sport=22 ip=10.10.1.0/24 from",
            "9900 allow icmp type=8 to",
            "9900 allow icmp from",
            "9900 allow udp port=53 ip=10.0.0.53/32 from",
            "9900 allow udp sport=53 ip=10.0.0.53/32 to",
            "9800 allow arp both",
            "9800 allow udp port=68 sport=67 ip=0.0.0.0/0 to",
            "9800 allow udp port=67 sport=68 ip=0.0.0.0/0 from unlocked",
            "9100 deny any both",
        ]
    );
}

#[test]
fn slots_give_priorities_and_one_open_group_opens_egress() {
    let mut sg = sg();
    sg.create_group("a", "", 100).unwrap();
    sg.create_group("b", "", 101).unwrap();
    sg.revoke("a", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
    for g in ["a", "b"] {
        sg.authorize(g, Side::Ingress, &json!({ "protocol": "udp", "fromPort": 9, "toPort": 9, "cidr": "0.0.0.0/0" }))
            .unwrap();
    }
    sg.attach(&vif(V1, 1, &[]), &json!(["b", "a", "sg-00000065"])).unwrap();
    assert_eq!(sg.attachments()[0].groups, ["sg-00000065", "sg-00000064"], "repeats dropped, order kept");
    // 0.0.0.0/0: a permission's rules stay IPv4's (without a range they would cover IPv6 too).
    let want = ["9900 allow udp port=9 ip=0.0.0.0/0 to", "9899 allow udp port=9 ip=0.0.0.0/0 to"];
    assert_eq!(&shown(&sg, V1)[..2], want);
    assert!(!sg.rules_of(V1).unwrap().egress_restricted, "b keeps egress open");
    sg.attach(&vif(V1, 1, &[]), &json!(["a"])).unwrap();
    assert!(sg.rules_of(V1).unwrap().egress_restricted);
}

#[test]
fn source_groups_expand_to_member_addresses_and_follow_membership() {
    let mut sg = sg();
    sg.create_group("web", "", 100).unwrap();
    sg.create_group("db", "", 101).unwrap();
    sg.authorize(
        "db",
        Side::Ingress,
        &json!({ "protocol": "tcp", "fromPort": 5432, "toPort": 5432, "sourceGroup": "web" }),
    )
    .unwrap();
    assert_eq!(sg.groups()[1].ingress[0].source, Source::Group("sg-00000064".into()), "stored by id");
    sg.attach(&vif(V1, 1, &["10.0.0.1"]), &json!(["db"])).unwrap();
    assert_eq!(shown(&sg, V1).iter().filter(|r| r.contains("5432")).count(), 0, "web has no member yet");
    sg.attach(&json!([vif(V2, 2, &["10.0.0.2", "10.0.0.22"]), vif(V3, 3, &["10.0.0.2"])]), &json!(["web"])).unwrap();
    let rules: Vec<String> = shown(&sg, V1).into_iter().filter(|r| r.contains("5432")).collect();
    assert_eq!(rules, ["9900 allow tcp port=5432 ip=10.0.0.2/32 to", "9900 allow tcp port=5432 ip=10.0.0.22/32 to"]);
    sg.detach(V2, None).unwrap();
    assert_eq!(shown(&sg, V1).iter().filter(|r| r.contains("5432")).count(), 1);
}

/// Every derived rule is a rule the validator accepts as it is: what the
/// controller, elastic IPs or a switch dump see is an ordinary rule.
#[test]
fn derived_rules_are_valid_rules() {
    let mut sg = sg();
    sg.create_group("g", "", 100).unwrap();
    sg.authorize(
        "g",
        Side::Ingress,
        &json!([
            { "protocol": "tcp", "fromPort": 1000, "toPort": 1300, "cidr": "10.0.0.0/8" },
            { "protocol": "icmp", "fromPort": 3, "toPort": 4, "cidr": "0.0.0.0/0" },
            { "protocol": "all", "sourceGroup": "g" },
        ]),
    )
    .unwrap();
    sg.revoke("g", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
    sg.attach(&vif(V1, 1, &["10.0.0.1"]), &json!(["g"])).unwrap();
    let rules = sg.rules_of(V1).unwrap().rules;
    // Each permission and its replies (the range is one rule), then ARP, DHCP both ways, deny.
    assert_eq!(rules.len(), 3 * 2 + 4);
    for d in rules {
        assert_eq!(parse_rule(&d.rule.to_json()).as_ref(), Ok(&d.rule), "{}", d.rule.to_json());
    }
}

// ---- flows and the budget: one derivation ----

fn bridges(list: &[(&str, &[(&str, i64)])]) -> Vec<BridgeInterfaces> {
    list.iter().map(|(b, l)| (b.to_string(), l.iter().map(|(u, p)| (u.to_string(), *p)).collect())).collect()
}

#[test]
fn flows_are_the_derived_rules_compiled_per_bridge_and_cookie() {
    let mut sg = sg();
    sg.create_group("web", "", 100).unwrap();
    sg.authorize(
        "web",
        Side::Ingress,
        &json!({ "protocol": "tcp", "fromPort": 80, "toPort": 81, "cidr": "0.0.0.0/0" }),
    )
    .unwrap();
    sg.attach(&json!([vif(V1, 1, &["10.0.0.1"]), vif(V2, 2, &[])]), &json!(["web"])).unwrap();
    let out = sg.flows(&bridges(&[("xenbr0", &[(V1, 3), (V3, 4)]), ("xenbr1", &[(V2, 5)])]), 7).unwrap();
    let summary: Vec<(&str, u64, usize)> = out.iter().map(|b| (b.bridge.as_str(), b.cookie, b.flows.len())).collect();
    // web: ports 80-81 in, one masked block; base: the ingress stage's default
    // first (before any goto_table to it), arp, dhcp in, deny in, and the VIF's
    // way to its verdict.
    assert_eq!(
        summary,
        [
            ("xenbr0", cookie(BASE), 5),
            ("xenbr0", cookie(100), 1),
            ("xenbr1", cookie(BASE), 5),
            ("xenbr1", cookie(100), 1)
        ]
    );
    assert_eq!((out[0].flows[0].table_id, out[0].flows[0].priority), (8, 0));
    for b in &out {
        for f in &b.flows {
            // Egress unrestricted: only the way to the ingress verdict is in table 7.
            let table = if f.priority == PriorityBand::SECURITY_GROUP_INGRESS.min() { 7 } else { 8 };
            assert_eq!((f.cookie, f.table_id), (b.cookie, table));
        }
    }
    // The same rules compiled one by one, as the controller did from rule items.
    let want: Vec<FlowMod> = sg
        .rules_of(V1)
        .unwrap()
        .rules
        .iter()
        .filter(|d| d.cookie == cookie(100))
        .flat_map(|d| {
            compile(
                &d.rule,
                &[Endpoint {
                    ofport: 3,
                    mac: "02:00:00:00:00:01".parse().unwrap(),
                    ips: vec![Ipv4Addr::new(10, 0, 0, 1)],
                    ipv6: vec![],
                }],
                d.priority,
                d.cookie,
                8,
            )
        })
        .collect();
    assert_eq!(out[1].flows, want);
    assert_eq!(sg.flows(&bridges(&[("xenbr0", &[(V3, 4)])]), 0).unwrap(), vec![], "no attached VIF there");
    let e = sg.flows(&bridges(&[("xenbr0", &[(V1, 0)])]), 0).unwrap_err();
    assert_eq!(e.code(), ERR_OUT_OF_RANGE, "{e}");
}

/// Two VIFs of one bridge: what one sends meets its egress verdict in the first
/// table and the other's ingress verdict in the next one, never just one of them.
#[test]
fn egress_verdicts_go_on_to_the_receivers_ingress_verdict() {
    let mut sg = sg();
    sg.create_group("client", "", 100).unwrap();
    sg.revoke("client", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
    sg.authorize("client", Side::Egress, &json!({ "protocol": "tcp", "fromPort": 3306, "toPort": 3306, "cidr": "0.0.0.0/0" }))
        .unwrap();
    sg.create_group("closed", "", 101).unwrap();
    sg.attach(&vif(V1, 1, &["10.0.0.1"]), &json!(["client"])).unwrap();
    sg.attach(&vif(V2, 2, &["10.0.0.2"]), &json!(["closed"])).unwrap();
    let out = sg.flows(&bridges(&[("br", &[(V1, 1), (V2, 2)])]), 0).unwrap();
    let all: Vec<&FlowMod> = out.iter().flat_map(|b| &b.flows).collect();
    let goto = vec![Instruction::GotoTable { table_id: 1 }];
    // V1's allowed egress (tcp 3306, ARP, DHCP discover) goes on; its default deny stays.
    let sent: Vec<&FlowMod> = all.iter().copied().filter(|f| f.flow_match.in_port == Some(PortNo(1))).collect();
    assert!(sent.iter().all(|f| f.table_id == 0), "egress verdicts are in the first table");
    let (allowed, denied): (Vec<&FlowMod>, Vec<&FlowMod>) = sent.into_iter().partition(|f| !f.instructions.is_empty());
    assert!(allowed.iter().all(|f| f.instructions == goto), "{allowed:?}");
    assert!(allowed.iter().any(|f| f.flow_match.tp_dst == Some(3306)));
    assert_eq!(denied.iter().map(|f| f.priority).collect::<Vec<_>>(), vec![PriorityBand::SECURITY_GROUP_DENY.min()]);
    // Delivered to either VIF: on to the next table, where its ingress verdict is.
    for mac in ["02:00:00:00:00:01", "02:00:00:00:00:02"] {
        let mac = Some(Masked::exact(mac.parse().unwrap()));
        let way_in: Vec<_> = all.iter().filter(|f| f.table_id == 0 && f.flow_match.dl_dst == mac).collect();
        assert_eq!(way_in.len(), 1);
        assert_eq!((way_in[0].priority, &way_in[0].instructions), (PriorityBand::SECURITY_GROUP_INGRESS.min(), &goto));
        let verdict = all.iter().filter(|f| f.table_id == 1 && f.flow_match.dl_dst == mac);
        assert!(verdict.clone().any(|f| f.priority == PriorityBand::SECURITY_GROUP_DENY.min() && f.instructions.is_empty()));
        assert!(verdict.clone().all(|f| f.flow_match.in_port.is_none()));
    }
    // The ingress stage delivers what no verdict there is about, once per bridge.
    let defaults: Vec<_> = all.iter().filter(|f| f.table_id == 1 && f.priority == 0).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0].flow_match, Match::default());
    // Nothing reaches past the ingress stage.
    assert!(all.iter().all(|f| f.table_id <= 1));
}

/// The budget of a group is its flows on a restricted VIF, and it is exactly the
/// number of flows that land under its cookie there, with or without addresses
/// and source groups.
#[test]
fn the_budget_counts_the_flows_that_land() {
    let mut sg = SecurityGroups::new(BASE, 10_000).unwrap();
    sg.create_group("web", "", 100).unwrap();
    sg.create_group("app", "", 101).unwrap();
    sg.authorize(
        "app",
        Side::Ingress,
        &json!([
            { "protocol": "tcp", "fromPort": 8000, "toPort": 8299, "cidr": "0.0.0.0/0" },
            { "protocol": "udp", "fromPort": 53, "toPort": 53, "cidr": "10.1.0.0/16" },
            { "protocol": "icmp", "fromPort": 8, "cidr": "0.0.0.0/0" },
            { "protocol": "all", "sourceGroup": "web" },
        ]),
    )
    .unwrap();
    sg.authorize(
        "app",
        Side::Egress,
        &json!({ "protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "0.0.0.0/0" }),
    )
    .unwrap();
    sg.revoke("app", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
    sg.attach(&json!([vif(V2, 2, &["10.0.0.2"]), vif(V3, 3, &["10.0.0.3"])]), &json!(["web"])).unwrap();
    for (ips, ofport) in [(vec![], 4), (vec!["10.0.0.1"], 5), (vec!["10.0.0.1", "10.0.0.11", "10.0.0.12"], 6)] {
        sg.attach(&vif(V1, 1, &ips), &json!(["app"])).unwrap();
        assert!(sg.rules_of(V1).unwrap().egress_restricted);
        let out = sg.flows(&bridges(&[("br", &[(V1, ofport)])]), 0).unwrap();
        let landed = out.iter().find(|b| b.cookie == cookie(101)).map_or(0, |b| b.flows.len());
        let app = &sg.groups()[1];
        assert_eq!(sg.group_cost(app, ips.len(), 0), landed, "{ips:?}");
        // In: 8000-8299 as 6 blocks, udp 53, icmp, web's 2 members, and 443's replies: 11 flows;
        // out: the same 11 replies and the 443 permission, once per address (at least once).
        assert_eq!(landed, 11 + 11 * ips.len().max(1), "{ips:?}");
    }
    // The JS module's old figure for the bench group: 20 permissions, 48 flows per restricted VIF without addresses.
    let mut bench = SecurityGroups::new(BASE, DEFAULT_FLOW_BUDGET).unwrap();
    bench.create_group("web", "", 100).unwrap();
    let mut list: Vec<Value> = (0..16)
        .map(|i| json!({ "protocol": "tcp", "fromPort": 8000 + i, "toPort": 8000 + i, "cidr": "0.0.0.0/0" }))
        .collect();
    list.push(json!({ "protocol": "udp", "fromPort": 53, "toPort": 53, "cidr": "10.1.0.0/16" }));
    list.push(json!({ "protocol": "udp", "fromPort": 123, "toPort": 123, "cidr": "10.1.0.0/16" }));
    list.push(json!({ "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "10.10.1.0/24" }));
    list.push(json!({ "protocol": "icmp", "fromPort": 8, "toPort": -1, "cidr": "0.0.0.0/0" }));
    list.push(json!({ "protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "0.0.0.0/0" }));
    bench.authorize("web", Side::Ingress, &Value::Array(list)).unwrap();
    assert_eq!(bench.group_cost(&bench.groups()[0], 0, 0), 42, "21 permissions and their replies");
    bench.revoke("web", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
    bench.attach(&vif(V1, 1, &[]), &json!(["web"])).unwrap();
    let out = bench.flows(&bridges(&[("br", &[(V1, 1)])]), 0).unwrap();
    let total = out.iter().map(|b| b.flows.len()).sum::<usize>();
    assert_eq!(total, 50, "42 + arp both ways + dhcp in and out + deny + the ingress stage's default and way in");
}

#[test]
fn over_budget_is_refused_and_changes_nothing() {
    let mut sg = SecurityGroups::new(BASE, 20).unwrap();
    sg.create_group("range", "", 100).unwrap();
    // 5000-5009: the blocks 5000-5007 and 5008-5009, in and their replies out: 4.
    sg.authorize(
        "range",
        Side::Ingress,
        &json!({ "protocol": "udp", "fromPort": 5000, "toPort": 5009, "cidr": "0.0.0.0/0" }),
    )
    .unwrap();
    assert_eq!(sg.group_cost(&sg.groups()[0], 0, 0), 4);
    let before = sg.export_state_json();
    // 1-65534 is the worst range, 30 blocks: 60 flows and the 4 already.
    let e = sg
        .authorize(
            "range",
            Side::Ingress,
            &json!({ "protocol": "tcp", "fromPort": 1, "toPort": 65534, "cidr": "0.0.0.0/0" }),
        )
        .unwrap_err();
    assert_eq!(e.code(), "SDN_FLOW_BUDGET");
    let message = "security group range would cost 64 flows per VIF, over the budget of 20: a port range costs one \
                   flow per masked block of ports (1000-2000: 8)";
    assert!(e.to_string().starts_with(message), "{e}");
    assert_eq!(sg.export_state_json(), before);
    // Exactly the budget is fine: 1000-2000 is 8 blocks, 16 flows, 20 in all.
    sg.authorize(
        "range",
        Side::Ingress,
        &json!({ "protocol": "tcp", "fromPort": 1000, "toPort": 2000, "cidr": "0.0.0.0/0" }),
    )
    .unwrap();
    assert_eq!(sg.group_cost(&sg.groups()[0], 0, 0), 20);
    // Every port is one flow each way.
    let mut wide = SecurityGroups::new(BASE, 2).unwrap();
    wide.create_group("wide", "", 100).unwrap();
    wide.authorize(
        "wide",
        Side::Ingress,
        &json!({ "protocol": "tcp", "fromPort": 0, "toPort": 65535, "cidr": "10.1.0.0/16" }),
    )
    .unwrap();
}

#[test]
fn attach_checks_the_budget_of_addresses_and_of_source_groups() {
    let mut sg = SecurityGroups::new(BASE, 10).unwrap();
    sg.create_group("web", "", 100).unwrap();
    sg.create_group("db", "", 101).unwrap();
    // 81-86 is 4 blocks (81, 82-83, 84-85, 86): 4 in, 4 replies out: 8 on a VIF with at most one address.
    sg.authorize(
        "web",
        Side::Ingress,
        &json!({ "protocol": "tcp", "fromPort": 81, "toPort": 86, "cidr": "0.0.0.0/0" }),
    )
    .unwrap();
    sg.attach(&vif(V1, 1, &["10.0.0.1"]), &json!(["web"])).unwrap();
    let before = sg.export_state_json();
    // Two addresses: each reply the VIF sends is allowed from each: 4 + 8 = 12.
    let e = sg
        .attach(&json!([vif(V2, 2, &["10.0.0.2"]), vif(V3, 3, &["10.0.0.3", "10.0.0.33"])]), &json!(["web"]))
        .unwrap_err();
    assert_eq!(e.code(), "SDN_FLOW_BUDGET", "{e}");
    assert!(
        e.to_string().contains("would cost 12 flows per VIF")
            && e.to_string().contains("2 on its member with the most"),
        "{e}"
    );
    assert_eq!(sg.export_state_json(), before, "no VIF of the call attached");
    // A source group grows with its members: db allows web's members, 2 flows each.
    sg.authorize("db", Side::Ingress, &json!({ "protocol": "all", "sourceGroup": "web" })).unwrap();
    for (i, uuid) in [V2, V3].iter().enumerate() {
        sg.attach(&vif(uuid, 2 + i as u8, &[&format!("10.0.0.{}", 2 + i)]), &json!(["web"])).unwrap();
    }
    assert_eq!(sg.group_cost(&sg.groups()[1], 0, 0), 6);
    let v = |n: u8| format!("00000000-0000-0000-0000-00000000000{n}");
    for n in [4, 5] {
        sg.attach(&vif(&v(n), n, &[&format!("10.0.0.{n}")]), &json!(["web"])).unwrap();
    }
    assert_eq!(sg.group_cost(&sg.groups()[1], 0, 0), 10, "the budget is reached, not passed");
    let e = sg.attach(&vif(&v(6), 6, &["10.0.0.6"]), &json!(["web"])).unwrap_err();
    assert!(e.to_string().starts_with("security group db would cost 12 flows"), "a 6th member of web: {e}");
    // A saved state loads whatever the budget; a group over it already does not
    // block what does not make it costlier.
    let mut tight = SecurityGroups::new(BASE, 9).unwrap();
    tight.import_state(&serde_json::from_str(&sg.export_state_json()).unwrap()).unwrap();
    tight.create_group("other", "", 102).unwrap();
    tight.attach(&vif(&v(6), 6, &["10.0.0.6"]), &json!(["other"])).unwrap();
    tight.detach(&v(4), None).unwrap();
    let e = tight.attach(&vif(&v(4), 4, &["10.0.0.4"]), &json!(["web"])).unwrap_err();
    assert_eq!(e.code(), "SDN_FLOW_BUDGET", "back to 10, above 9: {e}");
}

// ---- refusals ----

#[test]
fn every_refusal_has_its_code_and_changes_nothing() {
    let mut sg = sg();
    sg.create_group("web", "", 100).unwrap();
    sg.create_group("db", "", 101).unwrap();
    sg.authorize(
        "db",
        Side::Ingress,
        &json!({ "protocol": "tcp", "fromPort": 5432, "toPort": 5432, "sourceGroup": "web" }),
    )
    .unwrap();
    sg.attach(&vif(V1, 1, &["10.0.0.1"]), &json!(["db"])).unwrap();
    let tcp22 = json!({ "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "0.0.0.0/0" });
    let before = sg.export_state_json();
    let cases: Vec<(SgError, &str, &str)> = vec![
        (sg.clone().create_group("web", "", 103).unwrap_err(), "SDN_SG_EXISTS", "a security group named \"web\" exists"),
        (sg.clone().create_group("x", "", 1 << 40).unwrap_err(), ERR_OUT_OF_RANGE, "number must be 1 to"),
        (sg.clone().delete_group("nope").unwrap_err(), "SDN_SG_NOT_FOUND", "no security group \"nope\""),
        (sg.clone().delete_group("db").unwrap_err(), "SDN_SG_IN_USE", "security group db is attached to 1 VIF(s)"),
        (sg.clone().delete_group("web").unwrap_err(), "SDN_SG_IN_USE", "security group db refers to web as sourceGroup"),
        (sg.clone().authorize("nope", Side::Ingress, &tcp22).unwrap_err(), "SDN_SG_NOT_FOUND", "no security group"),
        (sg.clone().authorize("web", Side::Ingress, &json!([])).unwrap_err(), ERR_INVALID_ARG_VALUE, "give at least one permission"),
        (sg.clone().authorize("web", Side::Ingress, &json!([tcp22, { "protocol": "x" }])).unwrap_err(), ERR_INVALID_ARG_VALUE, "ingress[1].protocol"),
        (sg.clone().authorize("web", Side::Egress, &json!({ "protocol": "gre" })).unwrap_err(), ERR_INVALID_ARG_VALUE, "egress.protocol must be"),
        (sg.clone().authorize("web", Side::Ingress, &json!({ "protocol": "all", "sourceGroup": "nope" })).unwrap_err(), "SDN_SG_NOT_FOUND", "no security group \"nope\""),
        (sg.clone().authorize("web", Side::Ingress, &json!([tcp22, tcp22])).unwrap_err(), "SDN_SG_DUPLICATE", "security group web already has this ingress permission: {\"protocol\":\"tcp\",\"fromPort\":22,\"toPort\":22,\"cidr\":\"0.0.0.0/0\"}"),
        (sg.clone().authorize("web", Side::Egress, &json!({ "protocol": -1, "cidr": "0.0.0.0" })).unwrap_err(), "SDN_SG_DUPLICATE", "security group web already has this egress permission"),
        (sg.clone().revoke("web", Side::Ingress, &tcp22).unwrap_err(), "SDN_SG_PERMISSION_NOT_FOUND", "security group web has no such ingress permission"),
        (sg.clone().attach(&json!({ "uuid": "x", "mac": "02:00:00:00:00:01" }), &json!(["web"])).unwrap_err(), ERR_INVALID_ARG_VALUE, "vif.uuid must be a UUID"),
        (sg.clone().attach(&json!([vif(V2, 2, &[]), { "uuid": V3 }]), &json!(["web"])).unwrap_err(), ERR_INVALID_ARG_TYPE, "vifs[1].mac is required"),
        (sg.clone().attach(&json!([vif(V2, 2, &[]), null]), &json!(["web"])).unwrap_err(), ERR_INVALID_ARG_TYPE, "vifs[1] must be an object"),
        (sg.clone().attach(&json!({ "uuid": V2, "mac": "01:00:00:00:00:01" }), &json!(["web"])).unwrap_err(), ERR_INVALID_ARG_VALUE, "vif.mac 01:00:00:00:00:01 is a multicast address"),
        (sg.clone().attach(&vif(V2, 2, &["10.0.0.1/24"]), &json!(["web"])).unwrap_err(), ERR_INVALID_ARG_VALUE, "vif.ips[0] must be a single IPv4 address"),
        (sg.clone().attach(&json!({ "uuid": V2, "mac": "02:00:00:00:00:01", "ips": "10.0.0.1" }), &json!(["web"])).unwrap_err(), ERR_INVALID_ARG_TYPE, "vif.ips must be an array"),
        (sg.clone().attach(&vif(V2, 2, &[]), &json!([])).unwrap_err(), ERR_INVALID_ARG_TYPE, "groups must be a non-empty array"),
        (sg.clone().attach(&vif(V2, 2, &[]), &json!("web")).unwrap_err(), ERR_INVALID_ARG_TYPE, "groups must be a non-empty array"),
        (sg.clone().attach(&vif(V2, 2, &[]), &json!(vec!["web"; 17])).unwrap_err(), ERR_OUT_OF_RANGE, "a VIF may be in at most 16 groups"),
        (sg.clone().attach(&vif(V2, 2, &[]), &json!(["web", 3])).unwrap_err(), ERR_INVALID_ARG_TYPE, "a security group is given by its name or id"),
        (sg.clone().attach(&vif(V2, 2, &[]), &json!(["web", "nope"])).unwrap_err(), "SDN_SG_NOT_FOUND", "no security group \"nope\""),
        (sg.clone().detach(V2, None).unwrap_err(), "SDN_SG_NOT_ATTACHED", "VIF 00000000-0000-0000-0000-000000000002 is in no security group"),
        (sg.clone().detach(V1, Some(&json!(["nope"]))).unwrap_err(), "SDN_SG_NOT_FOUND", "no security group"),
        (sg.clone().detach(V1, Some(&json!("db"))).unwrap_err(), ERR_INVALID_ARG_TYPE, "groups must be an array"),
        (SecurityGroups::new(BASE, 0).unwrap_err(), ERR_OUT_OF_RANGE, "options.flowBudget must be a positive integer"),
        (SecurityGroups::new(0, 1).unwrap_err(), ERR_OUT_OF_RANGE, "baseNumber must be 1 to"),
    ];
    for (e, code, message) in &cases {
        assert_eq!(e.code(), *code, "{e}");
        assert!(e.to_string().starts_with(message), "\n  got  {e}\n  want {message}...");
    }
    // The refusals ran on clones; and a refused call on the state itself leaves it as it was.
    assert!(sg.attach(&json!([vif(V2, 2, &[]), null]), &json!(["web"])).is_err());
    assert!(sg.detach(V1, Some(&json!(["db", "nope"]))).is_err());
    assert!(sg.authorize("web", Side::Ingress, &json!([tcp22, tcp22])).is_err());
    assert_eq!(sg.export_state_json(), before);
}

#[test]
fn detach_some_groups_or_all() {
    let mut sg = sg();
    sg.create_group("a", "", 100).unwrap();
    sg.create_group("b", "", 101).unwrap();
    sg.attach(&json!([vif(V1, 1, &[]), vif(V2, 2, &[])]), &json!(["a", "b"])).unwrap();
    sg.detach(V1, Some(&json!(["a"]))).unwrap();
    assert_eq!(sg.attachments()[0].groups, ["sg-00000065"]);
    sg.detach(V1, Some(&json!(["b"]))).unwrap();
    assert_eq!(sg.rules_of(V1), None, "no group left: not filtered");
    assert!(sg.rules_of(V2).is_some(), "the index follows the removal");
    sg.detach(V2, None).unwrap();
    assert!(sg.attachments().is_empty());
    sg.delete_group("a").unwrap();
    assert_eq!(sg.groups().len(), 1);
}

// ---- views and state ----

/// A state file written by the JavaScript implementation (0.1.0): it must load.
const JS_STATE: &str = r#"{"version":1,"baseNumber":2634,"groups":[{"id":"sg-00000b27","name":"web","description":"web servers","number":2855,"ingress":[{"protocol":"tcp","fromPort":80,"toPort":80,"cidr":"0.0.0.0/0"},{"protocol":"icmp","fromPort":8,"cidr":"0.0.0.0/0"},{"protocol":"udp","fromPort":0,"toPort":65535,"cidr":"10.2.0.0/16"}],"egress":[{"protocol":"all","cidr":"0.0.0.0/0"}]},{"id":"sg-00000c00","name":"db","description":"","number":3072,"ingress":[{"protocol":"tcp","fromPort":5432,"toPort":5432,"sourceGroup":"sg-00000b27"}],"egress":[]}],"attachments":[{"vif":{"uuid":"00000000-0000-0000-0000-000000000002","mac":"02:00:00:00:00:02","ips":["10.0.0.2"]},"groups":["sg-00000b27"]},{"vif":{"uuid":"00000000-0000-0000-0000-000000000003","mac":"02:00:00:00:00:03","ips":[]},"groups":["sg-00000c00","sg-00000b27"]}]}"#;

#[test]
fn a_state_of_the_js_implementation_loads_and_exports_the_same() {
    let mut sg = sg();
    let numbers = sg.import_state(&serde_json::from_str(JS_STATE).unwrap()).unwrap();
    assert_eq!(numbers, [2855, 3072, 2634]);
    // The same, with the conntrack zones it had none of: the lowest free ones.
    let with_zones = JS_STATE
        .replace(r#""ips":["10.0.0.2"]},"groups""#, r#""ips":["10.0.0.2"]},"zone":1,"groups""#)
        .replace(r#""ips":[]},"groups""#, r#""ips":[]},"zone":2,"groups""#)
        .replace(r#""version":1,"#, r#""version":1,"stateful":false,"#);
    assert_eq!(sg.export_state_json(), with_zones);
    assert_eq!(sg.base_number(), 2634);
    assert_eq!(shown(&sg, V3)[0], "9900 allow tcp port=5432 ip=10.0.0.2/32 to");
    assert_eq!(sg.rules_of(V3).unwrap().rules[0].cookie, cookie(3072));
    let described: Value = serde_json::from_str(&sg.describe_json()).unwrap();
    assert_eq!(described[0]["members"], json!([V2, V3]));
    assert_eq!(described[1]["members"], json!([V3]));
    assert!(described[0].get("number").is_none());
    let view: Value = serde_json::from_str(&sg.view_json(&sg.groups()[1])).unwrap();
    assert_eq!(
        view,
        json!({ "id": "sg-00000c00", "name": "db", "description": "", "egress": [],
        "ingress": [{ "protocol": "tcp", "fromPort": 5432, "toPort": 5432, "sourceGroup": "sg-00000b27" }] })
    );
}

#[test]
fn zones_are_the_lowest_free_ones_kept_while_attached_and_restored_as_saved() {
    let mut sg = sg();
    sg.create_group("g", "", 100).unwrap();
    sg.attach(&json!([vif(V1, 1, &[]), vif(V2, 2, &[])]), &json!(["g"])).unwrap();
    let zones = |sg: &SecurityGroups| sg.attachments().iter().map(|a| (a.vif.uuid.clone(), a.zone)).collect::<Vec<_>>();
    assert_eq!(zones(&sg), [(V1.to_owned(), 1), (V2.to_owned(), 2)]);
    sg.attach(&vif(V1, 1, &["10.0.0.1"]), &json!(["g"])).unwrap(); // attached again: same zone
    sg.detach(V2, None).unwrap();
    sg.attach(&vif(V3, 3, &[]), &json!(["g"])).unwrap();
    assert_eq!(zones(&sg), [(V1.to_owned(), 1), (V3.to_owned(), 2)]);
    let saved: Value = serde_json::from_str(&sg.export_state_json()).unwrap();
    let mut copy = SecurityGroups::new(1, 5).unwrap();
    copy.import_state(&saved).unwrap();
    assert_eq!(zones(&copy), zones(&sg));
    // A zone given twice, or none, gets the lowest free one after the others.
    let mut twice = saved.clone();
    twice["attachments"][1]["zone"] = json!(1);
    copy.import_state(&twice).unwrap();
    assert_eq!(zones(&copy), [(V1.to_owned(), 1), (V3.to_owned(), 2)]);
    twice["attachments"][0]["zone"] = json!(9);
    copy.import_state(&twice).unwrap();
    assert_eq!(zones(&copy), [(V1.to_owned(), 9), (V3.to_owned(), 1)]);
}

/// Stateful groups: no reply rules; every permission flow takes new connections
/// tracked in the VIF's zone and commits them; the budget is still what lands.
#[test]
fn stateful_permissions_commit_in_the_vifs_zone_and_cost_what_lands() {
    let mut sg = sg().with_stateful(true);
    sg.create_group("app", "", 100).unwrap();
    sg.authorize("app", Side::Ingress, &json!({ "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "10.10.1.0/24" }))
        .unwrap();
    sg.authorize("app", Side::Ingress, &json!({ "protocol": "all", "cidr": "10.20.0.0/16" })).unwrap();
    sg.revoke("app", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
    sg.authorize("app", Side::Egress, &json!({ "protocol": "tcp", "fromPort": 1000, "toPort": 2000, "cidr": "0.0.0.0/0" }))
        .unwrap();
    sg.attach(&json!([vif(V2, 2, &[]), vif(V1, 1, &["10.0.0.1"])]), &json!(["app"])).unwrap();
    let permissions: Vec<String> = shown(&sg, V1).into_iter().filter(|r| r.starts_with("9900")).collect();
    assert_eq!(permissions, [
        "9900 allow tcp port=22 ip=10.10.1.0/24 to",
        "9900 allow ip ip=10.20.0.0/16 to",
        "9900 allow tcp port=1000-2000 ip=0.0.0.0/0 from"
    ], "no reply rules");
    let out = sg.flows(&bridges(&[("br", &[(V1, 4)])]), 0).unwrap();
    let group = out.iter().find(|b| b.cookie == cookie(100)).unwrap();
    assert_eq!(group.flows.len(), sg.group_cost(&sg.groups()[0], 1, 0));
    for f in &group.flows {
        let nxm = f.flow_match.nxm().expect("an OXM match").unwrap();
        assert_eq!(nxm.find(crate::openflow::nxm::Field::CtZone).map(|(v, _)| v.as_u64()), Some(2), "V1 has zone 2");
        let (state, mask) = nxm.find(crate::openflow::nxm::Field::CtState).unwrap();
        assert_eq!((state.as_u64(), mask.map(|m| m.as_u64())), (0x21, Some(0x31)), "+new-inv+trk");
        assert_eq!(f.flow_match.dl_type, Some(crate::rules::compile::ETH_TYPE_IP), "these permissions are IPv4");
        let Instruction::ApplyActions { actions } = &f.instructions[0] else { panic!("{f:?}") };
        let ct = actions[0].nicira().unwrap().unwrap();
        assert!(matches!(ct, crate::openflow::nx_action::NxAction::Ct(c) if c.flags == 1 && c.zone == crate::openflow::nx_action::CtZone::Immediate(2)));
    }
    // The VIF's own: tracking in both stages (8 flows), egress restricted so no blanket commit.
    let base = out.iter().find(|b| b.cookie == cookie(BASE)).unwrap();
    let tracked = base.flows.iter().filter(|f| f.flow_match.nxm().is_some_and(|n| n.is_ok_and(|n| n.find(crate::openflow::nxm::Field::CtZone).is_some())));
    assert_eq!(tracked.count(), 6, "est, rel and the rest of the zone, in each stage");
    // An IPv6 permission keeps its family; it is tracked like the others.
    sg.authorize("app", Side::Ingress, &json!({ "protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "2001:db8::/32" }))
        .unwrap();
    let out = sg.flows(&bridges(&[("br", &[(V1, 4)])]), 0).unwrap();
    let group = out.iter().find(|b| b.cookie == cookie(100)).unwrap();
    let v6: Vec<&FlowMod> = group.flows.iter().filter(|f| f.flow_match.dl_type == Some(crate::rules::compile::ETH_TYPE_IPV6)).collect();
    assert_eq!(v6.len(), 1);
    let nxm = v6[0].flow_match.nxm().unwrap().unwrap();
    assert!(nxm.find(crate::openflow::nxm::Field::CtZone).is_some() && nxm.find(crate::openflow::nxm::Field::Ipv6Src).is_some());
}

#[test]
fn names_with_quotes_survive_the_json() {
    let mut sg = sg();
    sg.create_group("a \"quoted\" \\ name\n", "é ✓", 100).unwrap();
    let state: Value = serde_json::from_str(&sg.export_state_json()).unwrap();
    assert_eq!(state["groups"][0]["name"], "a \"quoted\" \\ name\n");
    let mut copy = SecurityGroups::new(1, 5).unwrap();
    copy.import_state(&state).unwrap();
    assert_eq!(copy.export_state_json(), sg.export_state_json());
}

#[test]
fn bad_states_are_refused_and_change_nothing() {
    let mut sg = sg();
    sg.import_state(&serde_json::from_str(JS_STATE).unwrap()).unwrap();
    let before = sg.export_state_json();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut s: Value = serde_json::from_str(JS_STATE).unwrap();
        f(&mut s);
        s
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!(null), ERR_INVALID_ARG_VALUE, "state must come from exportState() (version 1)"),
        (with(&|s| s["version"] = json!(2)), ERR_INVALID_ARG_VALUE, "state must come from exportState() (version 1)"),
        (
            with(&|s| s["groups"] = json!({})),
            ERR_INVALID_ARG_VALUE,
            "state must come from exportState(): groups and attachments must be arrays",
        ),
        (
            with(&|s| s["groups"][1]["number"] = json!(0)),
            ERR_INVALID_ARG_VALUE,
            "state must come from exportState(): groups[1] is not a group",
        ),
        (
            with(&|s| s["groups"][1]["number"] = json!(1u64 << 41)),
            ERR_OUT_OF_RANGE,
            "state: groups[1].number must be 1 to",
        ),
        (
            with(&|s| s["groups"][0]["name"] = json!(null)),
            ERR_INVALID_ARG_VALUE,
            "state must come from exportState(): groups[0] is not a group",
        ),
        (
            with(&|s| s["groups"][0]["ingress"][1]["fromPort"] = json!(999)),
            ERR_OUT_OF_RANGE,
            "web.ingress[1].fromPort is the ICMP type",
        ),
        (
            with(&|s| s["attachments"][1]["vif"] = json!("x")),
            ERR_INVALID_ARG_VALUE,
            "state must come from exportState(): attachments[1] is not an attachment",
        ),
        (
            with(&|s| s["attachments"][1]["groups"] = json!(["sg-nope"])),
            ERR_INVALID_ARG_VALUE,
            "state attaches VIF \"00000000-0000-0000-0000-000000000003\" to an unknown group",
        ),
        (
            with(&|s| s["attachments"][0]["vif"]["mac"] = json!("x")),
            ERR_INVALID_ARG_VALUE,
            "state.attachments[0].vif.mac must be a MAC address",
        ),
        (with(&|s| s["baseNumber"] = json!(null)), ERR_INVALID_ARG_VALUE, "state.baseNumber is missing"),
    ];
    for (state, code, message) in &cases {
        let e = sg.import_state(state).expect_err(&state.to_string());
        assert_eq!(e.code(), *code, "{e}");
        assert!(e.to_string().starts_with(message), "\n  got  {e}\n  want {message}...");
        assert_eq!(sg.export_state_json(), before);
    }
}

/// Seeded random states: every derived rule is a valid rule, and for a VIF whose
/// only group is `g` with egress revoked (the worst case), the flows that land
/// under `g`'s cookie are exactly `group_cost(g, addresses)`.
#[test]
fn random_groups_cost_what_lands() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    const CIDRS: [&str; 5] = ["0.0.0.0/0", "10.0.0.0/8", "192.168.1.7", "::/0", "2001:db8::/32"];
    for round in 0..200 {
        let mut sg = SecurityGroups::new(BASE, usize::MAX).unwrap();
        sg.create_group("src", "", 100).unwrap();
        sg.create_group("g", "", 101).unwrap();
        let members = next(4);
        for m in 0..members {
            let uuid = format!("00000000-0000-0000-0000-0000000001{m:02}");
            let v6 = format!("2001:db8:9::{m}");
            let ips: &[&str] = match next(3) {
                0 => &[&format!("10.9.0.{m}"), "10.9.1.1"],
                1 => &[&format!("10.9.0.{m}"), &v6],
                _ => &[&v6],
            };
            sg.attach(&vif(&uuid, 0x10 + m as u8, ips), &json!(["src"])).unwrap();
        }
        let mut perms = Vec::new();
        for _ in 0..1 + next(6) {
            let from = next(70_000).min(65535);
            let to = (from + next(600)).min(65535);
            let source =
                if next(4) == 0 { json!({ "sourceGroup": "src" }) } else { json!({ "cidr": CIDRS[next(5) as usize] }) };
            let ipv6 = source["cidr"].as_str().map(|c| c.contains(':'));
            let icmp = match ipv6 {
                Some(true) => "icmpv6",
                Some(false) => "icmp",
                None if next(2) == 0 => "icmpv6",
                None => "icmp",
            };
            let mut p = match next(4) {
                0 => json!({ "protocol": "tcp", "fromPort": from, "toPort": to }),
                1 => json!({ "protocol": "udp", "fromPort": from, "toPort": to }),
                2 => json!({ "protocol": icmp, "fromPort": next(257) as i64 - 1, "toPort": next(257) as i64 - 1 }),
                _ => json!({ "protocol": "all" }),
            };
            p.as_object_mut().unwrap().extend(source.as_object().unwrap().clone());
            perms.push((if next(2) == 0 { Side::Ingress } else { Side::Egress }, p));
        }
        for (side, p) in &perms {
            let _ = sg.authorize("g", *side, p); // duplicates are refused, the rest kept
        }
        let _ = sg.revoke("g", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" }));
        let (n4, n6) = (next(4) as usize, next(3) as usize);
        let mut ips: Vec<String> = (0..n4).map(|i| format!("10.8.0.{i}")).collect();
        ips.extend((0..n6).map(|i| format!("2001:db8:8::{i}")));
        let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
        sg.attach(&vif(V1, 1, &ips), &json!(["g"])).unwrap();
        let g = sg.groups()[1].clone();
        for stateful in [false, true] {
            sg.stateful = stateful;
            let out = sg.flows(&bridges(&[("br", &[(V1, 9)])]), 0).unwrap();
            let landed = out.iter().find(|b| b.cookie == g.cookie).map_or(0, |b| b.flows.len());
            let cost = sg.group_cost(&g, n4, n6);
            assert_eq!(cost, landed, "round {round} stateful {stateful}: {}", sg.export_state_json());
        }
        sg.stateful = false;
        for d in sg.rules_of(V1).unwrap().rules {
            assert_eq!(parse_rule(&d.rule.to_json()).as_ref(), Ok(&d.rule), "round {round}");
        }
    }
}

/// An IPv6 CIDR makes a permission's rules IPv6's (the address on the remote side,
/// ports masked as for IPv4) and gives the VIF neighbour discovery among its basics;
/// flows and budget still agree.
#[test]
fn ipv6_permissions_and_neighbour_discovery() {
    let mut sg = sg();
    sg.create_group("v6", "", 100).unwrap();
    sg.authorize(
        "v6",
        Side::Ingress,
        &json!([
            { "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": " 2001:db8::/32 " },
            { "protocol": "icmpv6", "fromPort": 128, "cidr": "::/0" },
        ]),
    )
    .unwrap();
    let g = sg.view_json(&sg.groups()[0]);
    assert!(g.contains(r#"{"protocol":"tcp","fromPort":22,"toPort":22,"cidr":"2001:db8::/32"}"#), "{g}");
    assert!(g.contains(r#"{"protocol":"icmpv6","fromPort":128,"cidr":"::/0"}"#), "{g}");
    sg.attach(&vif(V1, 1, &[]), &json!(["v6"])).unwrap();
    assert_eq!(
        shown(&sg, V1),
        [
            "9900 allow tcp port=22 ip=2001:db8::/32 to",
            "9900 allow icmpv6 type=128 ip=::/0 to",
            "9800 allow arp to",
            "9800 allow udp port=68 sport=67 ip=0.0.0.0/0 to",
            "9800 allow icmpv6 type=133 to",
            "9800 allow icmpv6 type=134 to",
            "9800 allow icmpv6 type=135 to",
            "9800 allow icmpv6 type=136 to",
            "9800 allow udp port=546 sport=547 ip=fe80::/10 to",
            "9100 deny any to",
        ]
    );
    let out = sg.flows(&bridges(&[("br", &[(V1, 7)])]), 0).unwrap();
    let group: Vec<&FlowMod> = out.iter().filter(|b| b.cookie == cookie(100)).flat_map(|b| &b.flows).collect();
    assert_eq!(group.len(), 2);
    assert!(group.iter().all(|f| f.flow_match.dl_type == Some(0x86dd)), "IPv6 flows only");
    assert_eq!(sg.group_cost(&sg.groups()[0], 0, 0), 2 + 2, "with their replies when egress is restricted");
    // A group without IPv6 permissions: no ND rules, as before.
    let mut v4 = SecurityGroups::new(BASE, DEFAULT_FLOW_BUDGET).unwrap();
    v4.create_group("v4", "", 100).unwrap();
    v4.attach(&vif(V1, 1, &[]), &json!(["v4"])).unwrap();
    assert!(shown(&v4, V1).iter().all(|r| !r.contains("icmpv6")));
}

/// IPv6 permissions cost most on a member without addresses (a lock to IPv4
/// addresses leaves their replies out): the budget is checked there too.
#[test]
fn the_budget_of_ipv6_permissions_is_counted_on_the_member_without_addresses() {
    let mut sg = SecurityGroups::new(BASE, 1).unwrap();
    sg.create_group("v6", "", 100).unwrap();
    sg.revoke("v6", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
    sg.attach(&vif(V1, 1, &["10.0.0.1"]), &json!(["v6"])).unwrap();
    // On V1 (locked): tcp 22 in, no IPv6 reply out: 1 flow.
    sg.authorize("v6", Side::Ingress, &json!({ "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "::/0" }))
        .unwrap();
    assert_eq!(sg.group_cost(&sg.groups()[0], 1, 0), 1);
    let e = sg.attach(&vif(V2, 2, &[]), &json!(["v6"])).unwrap_err();
    assert!(e.to_string().starts_with("security group v6 would cost 2 flows per VIF"), "{e}");
    let out = sg.flows(&bridges(&[("br", &[(V1, 3)])]), 0).unwrap();
    assert_eq!(out.iter().find(|b| b.cookie == cookie(100)).map(|b| b.flows.len()), Some(1));
}

/// A VIF's `ips` may hold IPv6 addresses (std's grammar, unicast); junk is refused
/// naming the field.
#[test]
fn vif_addresses_are_ipv4_or_ipv6() {
    let v = Vif::parse(&vif(V1, 1, &["10.0.0.1", "2001:DB8::1", "2001:db8::1", "fe80::1"]), "vif").unwrap();
    let shown: Vec<String> = v.ips.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.1", "2001:db8::1", "fe80::1"], "without repeats, in order");
    #[rustfmt::skip]
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!(["10.0.0.1", "2001:db8::g"]), ERR_INVALID_ARG_VALUE, "vif.ips[1] must be an IPv4 or IPv6 address like 2001:db8::5, got \"2001:db8::g\""),
        (json!(["2001:db8::/64"]), ERR_INVALID_ARG_VALUE, "vif.ips[0] must be an IPv4 or IPv6 address"),
        (json!(["fe80::1%eth0"]), ERR_INVALID_ARG_VALUE, "vif.ips[0] must be an IPv4 or IPv6 address"),
        (json!([" 2001:db8::1"]), ERR_INVALID_ARG_VALUE, "vif.ips[0] must be an IPv4 or IPv6 address"),
        (json!(["::"]), ERR_INVALID_ARG_VALUE, "vif.ips[0] must be a unicast address a VIF sends from, got \"::\""),
        (json!(["ff02::1:2"]), ERR_INVALID_ARG_VALUE, "vif.ips[0] must be a unicast address a VIF sends from"),
        (json!(["10.0.0.256"]), ERR_INVALID_ARG_VALUE, "vif.ips[0] must be an IPv4 address like 192.168.1.10"),
        (json!([6]), ERR_INVALID_ARG_TYPE, "vif.ips[0] must be a string, got a number"),
        (json!("2001:db8::1"), ERR_INVALID_ARG_TYPE, "vif.ips must be an array of IP addresses, got a string"),
    ];
    for (ips, code, message) in cases {
        let given = json!({ "uuid": V1, "mac": "02:00:00:00:00:01", "ips": ips });
        let e = Vif::parse(&given, "vif").expect_err(&given.to_string());
        assert_eq!(e.code(), code, "{given}: {e}");
        assert!(e.to_string().starts_with(message), "{given}:\n  got  {e}\n  want {message}...");
    }
}

/// A sourceGroup covers its members' IPv4 and IPv6 addresses (/128 sources, the
/// IPv6 rule form); what a VIF with IPv6 addresses sends over IPv6 is allowed from
/// each of them; the DHCPv6 client works; flows, formula and budget agree.
#[test]
fn ipv6_members_of_source_groups_and_the_ipv6_lock() {
    let mut sg = sg();
    sg.create_group("web", "", 100).unwrap();
    sg.create_group("db", "", 101).unwrap();
    sg.authorize(
        "db",
        Side::Ingress,
        &json!([
            { "protocol": "tcp", "fromPort": 22, "toPort": 22, "sourceGroup": "web" },
            { "protocol": "icmpv6", "fromPort": 128, "sourceGroup": "web" },
            { "protocol": "icmp", "fromPort": 8, "sourceGroup": "web" },
        ]),
    )
    .unwrap();
    sg.revoke("db", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
    sg.attach(&json!([vif(V2, 2, &["10.0.0.2", "2001:db8::2"]), vif(V3, 3, &["2001:db8::3"])]), &json!(["web"]))
        .unwrap();
    sg.attach(&vif(V1, 1, &["10.0.0.1", "2001:db8::1"]), &json!(["db"])).unwrap();
    assert_eq!(
        shown(&sg, V1),
        [
            "9900 allow tcp port=22 ip=10.0.0.2/32 to",
            "9900 allow tcp sport=22 ip=10.0.0.2/32 from",
            "9900 allow tcp port=22 ip=2001:db8::2/128 to",
            "9900 allow tcp sport=22 ip=2001:db8::2/128 from",
            "9900 allow tcp port=22 ip=2001:db8::3/128 to",
            "9900 allow tcp sport=22 ip=2001:db8::3/128 from",
            "9900 allow icmpv6 type=128 ip=2001:db8::2/128 to",
            "9900 allow icmpv6 ip=2001:db8::2/128 from",
            "9900 allow icmpv6 type=128 ip=2001:db8::3/128 to",
            "9900 allow icmpv6 ip=2001:db8::3/128 from",
            "9900 allow icmp type=8 ip=10.0.0.2/32 to",
            "9900 allow icmp ip=10.0.0.2/32 from",
            "9800 allow arp both",
            "9800 allow udp port=68 sport=67 ip=0.0.0.0/0 to",
            "9800 allow udp port=67 sport=68 ip=0.0.0.0/0 from unlocked",
            "9800 allow icmpv6 type=133 both",
            "9800 allow icmpv6 type=134 both",
            "9800 allow icmpv6 type=135 both",
            "9800 allow icmpv6 type=136 both",
            "9800 allow icmpv6 type=133 from src=::/128",
            "9800 allow icmpv6 type=135 from src=::/128",
            "9800 allow icmpv6 type=133 from src=fe80::ff:fe00:1/128",
            "9800 allow icmpv6 type=135 from src=fe80::ff:fe00:1/128",
            "9800 allow icmpv6 type=136 from src=fe80::ff:fe00:1/128",
            "9800 allow udp port=546 sport=547 ip=fe80::/10 to",
            "9800 allow udp port=547 sport=546 ip=ff02::1:2/128 from src=fe80::/10",
            "9100 deny any both",
        ],
        "icmp from the IPv4 members only, icmpv6 from the IPv6 ones"
    );
    let out = sg.flows(&bridges(&[("br", &[(V1, 5)])]), 0).unwrap();
    let texts = |cookie: u64| -> Vec<String> {
        let flows = out.iter().filter(|b| b.cookie == cookie).flat_map(|b| &b.flows);
        flows.map(|f| crate::openflow::text::format_flow_mod(&FlowMod { cookie: 0, ..f.clone() })).collect()
    };
    let db = texts(cookie(101));
    // Each rule once per address of the VIF of its family: 4 IPv4 flows (2 in, 2 out from
    // 10.0.0.1) and 8 IPv6 ones (4 in, 4 out from 2001:db8::1).
    assert_eq!(db.len(), 12);
    assert_eq!(db.len(), sg.group_cost(&sg.groups()[1], 1, 1));
    let ssh: Vec<&String> = db.iter().filter(|t| t.contains("2001:db8::2") && t.contains("tcp6")).collect();
    assert_eq!(ssh, [
        "table=1, priority=9900,tcp6,dl_dst=02:00:00:00:00:01,ipv6_src=2001:db8::2,tp_dst=22 actions=NORMAL",
        "priority=9900,tcp6,in_port=5,dl_src=02:00:00:00:00:01,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,tp_src=22 actions=goto_table:1",
    ]);
    let base = texts(cookie(BASE));
    let dhcpv6: Vec<&String> = base.iter().filter(|t| t.contains("udp6")).collect();
    assert_eq!(dhcpv6, [
        "table=1, priority=9800,udp6,dl_dst=02:00:00:00:00:01,ipv6_src=fe80::/10,tp_src=547,tp_dst=546 actions=NORMAL",
        "priority=9800,udp6,in_port=5,dl_src=02:00:00:00:00:01,ipv6_src=fe80::/10,ipv6_dst=ff02::1:2,tp_src=546,tp_dst=547 actions=goto_table:1",
    ]);
    // ND out once per IPv6 address (A6 = 1), from that address, and 5 from `::` and the
    // VIF's link-local address (L = 1).
    let nd_out: Vec<&String> = base.iter().filter(|t| t.contains("icmp6") && t.contains("in_port=5")).collect();
    assert_eq!(nd_out.len(), 4 + 5);
    assert!(nd_out.iter().filter(|t| t.contains("ipv6_src=2001:db8::1")).count() == 4, "{nd_out:?}");
    // The README's formula: groups + 4 + R(2 + A4) + V(4 + 4 R A6 + 5 R L) + V(1 + R), and
    // the stage default.
    let (r, a4, a6, v, l) = (1, 1, 1, 1, 1);
    assert_eq!(base.len(), 1 + 4 + r * (2 + a4) + v * (4 + 4 * r * a6 + 5 * r * l) + v * (1 + r));
    // A VIF locked to IPv4 addresses only sends no IPv6; one locked to IPv6 ones only, no IPv4.
    for (ips, ipv4, ipv6) in [(vec!["10.0.0.1"], 2, 0), (vec!["2001:db8::1", "2001:db8::11"], 0, 8)] {
        sg.attach(&vif(V1, 1, &ips), &json!(["db"])).unwrap();
        let out = sg.flows(&bridges(&[("br", &[(V1, 5)])]), 0).unwrap();
        let group = out.iter().filter(|b| b.cookie == cookie(101)).flat_map(|b| &b.flows);
        let sent: Vec<&FlowMod> = group.filter(|f| f.table_id == 0).collect();
        let family = |t: u16| sent.iter().filter(|f| f.flow_match.dl_type == Some(t)).count();
        assert_eq!((family(0x0800), family(0x86dd)), (ipv4, ipv6), "{ips:?}");
        let landed = out.iter().filter(|b| b.cookie == cookie(101)).map(|b| b.flows.len()).sum::<usize>();
        let n6 = ips.iter().filter(|s| s.contains(':')).count();
        let (n4, n6) = (ips.len() - n6, n6);
        assert_eq!(landed, sg.group_cost(&sg.groups()[1], n4, n6), "{ips:?}");
    }
    // Stateful: the open-egress commits come from each address, of either family.
    let mut st = SecurityGroups::new(BASE, DEFAULT_FLOW_BUDGET).unwrap().with_stateful(true);
    st.create_group("open", "", 100).unwrap();
    st.attach(&vif(V1, 1, &["10.0.0.1", "2001:db8::1"]), &json!(["open"])).unwrap();
    let out = st.flows(&bridges(&[("br", &[(V1, 5)])]), 0).unwrap();
    let base = out.iter().filter(|b| b.cookie == cookie(BASE)).flat_map(|b| &b.flows);
    let base: Vec<String> = base.map(crate::openflow::text::format_flow_mod).collect();
    let commits: Vec<&String> = base.iter().filter(|t| t.contains("commit")).collect();
    assert_eq!(commits.len(), 2);
    assert!(commits[0].contains("nw_src=10.0.0.1") && commits[1].contains("ipv6_src=2001:db8::1"), "{commits:?}");
    // Open egress, but tracked: the DHCP discover (from 0.0.0.0, no connection of its ips)
    // has its flow above the tracking, as with restricted egress.
    let discover: Vec<&String> = base.iter().filter(|t| t.contains("tp_src=68,tp_dst=67")).collect();
    assert_eq!(discover, [&format!("cookie={:#x}, priority=9800,udp,in_port=5,dl_src=02:00:00:00:00:01,tp_src=68,tp_dst=67 actions=goto_table:1", cookie(BASE))]);
}

/// A VIF locked to an IPv6 address may send neighbour discovery from `::` and from
/// its own EUI-64 link-local address too (a host resolves its router from its
/// link-local address, and checks a new address from `::`), where its ND is
/// limited to its `ips`: restricted egress, or stateful groups. Not from another
/// link-local address; nothing new for a VIF that sends no IPv6 or is not locked.
#[test]
fn a_locked_ipv6_vif_sends_nd_from_unspecified_and_its_own_link_local() {
    let mac = "02:00:00:00:00:01".parse::<MacAddr>().unwrap();
    let link_local = mac.eui64_link_local();
    assert_eq!(link_local.to_string(), "fe80::ff:fe00:1");
    let new_nd = |t: &String| t.contains("icmp6") && (t.contains("ipv6_src=::,") || t.contains("ipv6_src=fe80:"));
    // (stateful, egress open, ips) => the flows of what the VIF sends from `::` and fe80::ff:fe00:1.
    let base_flows = |stateful: bool, open: bool, ips: &[&str]| -> (Vec<String>, usize) {
        let mut sg = sg().with_stateful(stateful);
        sg.create_group("g", "", 100).unwrap();
        sg.authorize("g", Side::Ingress, &json!({ "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "::/0" }))
            .unwrap();
        if !open {
            sg.revoke("g", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
        }
        sg.attach(&vif(V1, 1, ips), &json!(["g"])).unwrap();
        let out = sg.flows(&bridges(&[("br", &[(V1, 5)])]), 0).unwrap();
        let base = out.iter().filter(|b| b.cookie == cookie(BASE)).flat_map(|b| &b.flows);
        let texts: Vec<String> =
            base.map(|f| crate::openflow::text::format_flow_mod(&FlowMod { cookie: 0, ..f.clone() })).collect();
        let rules = sg.rules_of(V1).unwrap().rules;
        let derived = rules.iter().filter(|d| matches!(d.sender, Sender::Ipv6(_, 128))).count();
        (texts.iter().filter(|t| new_nd(t)).cloned().collect(), derived)
    };
    let from = |src: &str, t: u8| {
        let m = format!("icmp6,in_port=5,dl_src=02:00:00:00:00:01,ipv6_src={src},icmp_type={t}");
        format!("priority=9800,{m} actions=goto_table:1")
    };
    let own = "fe80::ff:fe00:1";
    let want = [from("::", 133), from("::", 135), from(own, 133), from(own, 135), from(own, 136)];
    for (stateful, open) in [(false, false), (true, false), (true, true)] {
        // Stateless, above the tracking: no ct() in them, and one flow per derived rule.
        assert_eq!(base_flows(stateful, open, &["10.0.0.1", "2001:db8::1"]), (want.to_vec(), 5), "{stateful} {open}");
        assert_eq!(base_flows(stateful, open, &["2001:db8::1", "2001:db8::2"]).0, want, "{stateful} {open}");
        // Locked to IPv4 only: no IPv6 out at all. Not locked: ND from any address already.
        assert_eq!(base_flows(stateful, open, &["10.0.0.1"]), (vec![], 0), "{stateful} {open}");
        assert_eq!(base_flows(stateful, open, &[]).1, 0, "{stateful} {open}");
    }
    // Stateless with egress open: what the VIF sends is not judged, so nothing to add.
    assert_eq!(base_flows(false, true, &["10.0.0.1", "2001:db8::1"]), (vec![], 0));
}

/// The budget takes the costliest member when members differ by family: more
/// IPv4 addresses on one, more IPv6 ones on another.
#[test]
fn the_budget_is_the_costliest_member_whatever_its_family() {
    let mut sg = SecurityGroups::new(BASE, 4).unwrap();
    sg.create_group("g", "", 100).unwrap();
    sg.revoke("g", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
    sg.authorize(
        "g",
        Side::Ingress,
        &json!([
            { "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "0.0.0.0/0" },
            { "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "::/0" },
        ]),
    )
    .unwrap();
    // Per VIF: 2 in, and the replies once per address of their family (once each without ips).
    sg.attach(&vif(V1, 1, &["10.0.0.1", "10.0.0.2"]), &json!(["g"])).unwrap();
    sg.attach(&vif(V2, 2, &[]), &json!(["g"])).unwrap();
    // Not the sum of the most of each family (2 + 2 + 2 = 6): no member has both.
    sg.attach(&vif(V3, 3, &["2001:db8::1", "2001:db8::2"]), &json!(["g"])).unwrap();
    assert_eq!([(2, 0), (0, 0), (0, 2), (2, 2)].map(|(a, b)| sg.group_cost(&sg.groups()[0], a, b)), [4, 4, 4, 6]);
    let e = sg.attach(&vif(V3, 3, &["10.0.0.3", "2001:db8::1", "2001:db8::2"]), &json!(["g"])).unwrap_err();
    assert!(e.to_string().starts_with("security group g would cost 5 flows per VIF, over the budget of 4"), "{e}");
}

/// Elastic IPs stay IPv4: with IPv6 addresses in the groups' `ips` (and IPv6
/// sourceGroup members, DHCPv6...), the rules a VIF's groups give the elastic IPs
/// read back as rules (as `rulesOf` hands them over), their IPv4 flows get twins
/// and no IPv6 flow is translated.
#[test]
fn elastic_ips_take_the_rules_of_a_dual_stack_vif() {
    use crate::policy::elastic_ips::{ElasticIps, Groups, NatVif};
    let mut sg = sg();
    sg.create_group("web", "", 100).unwrap();
    sg.create_group("db", "", 101).unwrap();
    sg.authorize("db", Side::Ingress, &json!({ "protocol": "tcp", "fromPort": 22, "toPort": 22, "sourceGroup": "web" }))
        .unwrap();
    sg.revoke("db", Side::Egress, &json!({ "protocol": "all", "cidr": "0.0.0.0/0" })).unwrap();
    sg.attach(&vif(V2, 2, &["10.0.0.2", "2001:db8::2"]), &json!(["web"])).unwrap();
    sg.attach(&vif(V1, 1, &["10.0.0.1", "2001:db8::1"]), &json!(["db"])).unwrap();
    let r = sg.rules_of(V1).unwrap();
    let rules: Vec<(u16, Rule)> =
        r.rules.iter().map(|d| (d.priority, parse_rule(&d.rule.to_json()).unwrap_or_else(|e| panic!("{e}")))).collect();
    let groups = Groups { egress_restricted: r.egress_restricted, rules, stateful: false };
    let eip = ElasticIps::new(&["203.0.113.0/28"], &[] as &[&str]).unwrap();
    let nat = NatVif { mac: "02:00:00:00:00:01".parse().unwrap(), ip: "10.0.0.1".parse().unwrap(), ofport: 4 };
    let flows = eip.flows("203.0.113.1".parse().unwrap(), &nat, Some(&groups), 9, 0);
    assert!(flows.iter().all(|f| f.flow_match.dl_type != Some(0x86dd)), "IPv6 is not translated");
    let texts: Vec<String> = flows.iter().map(crate::openflow::text::format_flow_mod).collect();
    // ssh in from 10.0.0.2 at the public address, its reply out translated; the DHCP client's.
    assert!(texts.iter().any(|t| t.contains("nw_src=10.0.0.2,nw_dst=203.0.113.1,tp_dst=22")), "{texts:#?}");
    assert!(texts.iter().any(|t| t.contains("nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=22") && t.contains("mod_nw_src:203.0.113.1")), "{texts:#?}");
}
