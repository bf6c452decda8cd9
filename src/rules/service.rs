//! Named services a rule may give instead of a protocol and port: `protocol: 'ssh'`
//! is `tcp` port 22. A service fixes its own ports, so a rule naming one takes no
//! `port`. Several clauses (DNS is UDP and TCP 53) compile to one flow each.

/// A transport protocol a service clause runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
}

impl Transport {
    /// `tcp` or `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }

    /// The IPv4 protocol number (`nw_proto`).
    pub fn ip_proto(self) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Udp => 17,
        }
    }
}

/// A well-known service: a lower-case name and the (protocol, destination port)
/// pairs it uses.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Service {
    /// Lower-case name, as a rule's `protocol` gives it (case-insensitive).
    pub name: &'static str,
    /// Its (transport, destination port) clauses.
    pub clauses: &'static [(Transport, u16)],
}

use Transport::{Tcp, Udp};

/// Every service a rule may name. Ports are the IANA assignments; DHCP lists both
/// the server (67) and client (68) ports because a VIF may be either.
pub const SERVICES: &[Service] = &[
    Service { name: "ssh", clauses: &[(Tcp, 22)] },
    Service { name: "telnet", clauses: &[(Tcp, 23)] },
    Service { name: "smtp", clauses: &[(Tcp, 25)] },
    Service { name: "dns", clauses: &[(Udp, 53), (Tcp, 53)] },
    Service { name: "dhcp", clauses: &[(Udp, 67), (Udp, 68)] },
    Service { name: "http", clauses: &[(Tcp, 80)] },
    Service { name: "pop3", clauses: &[(Tcp, 110)] },
    Service { name: "ntp", clauses: &[(Udp, 123)] },
    Service { name: "imap", clauses: &[(Tcp, 143)] },
    Service { name: "snmp", clauses: &[(Udp, 161)] },
    Service { name: "ldap", clauses: &[(Tcp, 389)] },
    Service { name: "https", clauses: &[(Tcp, 443)] },
    Service { name: "smb", clauses: &[(Tcp, 445)] },
    Service { name: "smtps", clauses: &[(Tcp, 465)] },
    Service { name: "submission", clauses: &[(Tcp, 587)] },
    Service { name: "ldaps", clauses: &[(Tcp, 636)] },
    Service { name: "imaps", clauses: &[(Tcp, 993)] },
    Service { name: "pop3s", clauses: &[(Tcp, 995)] },
    Service { name: "mysql", clauses: &[(Tcp, 3306)] },
    Service { name: "rdp", clauses: &[(Tcp, 3389)] },
    Service { name: "postgresql", clauses: &[(Tcp, 5432)] },
    Service { name: "sip", clauses: &[(Tcp, 5060)] },
    Service { name: "sip-tls", clauses: &[(Tcp, 5061)] },
    Service { name: "vnc", clauses: &[(Tcp, 5900)] },
    Service { name: "http-alt", clauses: &[(Tcp, 8080)] },
];

/// Every service, in table order (for documentation and the JS listing).
pub fn services() -> &'static [Service] {
    SERVICES
}

/// The service called `name` (case-insensitive).
pub fn lookup(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// The services as JSON: `[{ name, clauses: [{ protocol, port }] }]`.
pub fn services_json() -> serde_json::Value {
    SERVICES
        .iter()
        .map(|s| {
            let clauses: Vec<_> =
                s.clauses.iter().map(|(t, p)| serde_json::json!({ "protocol": t.name(), "port": p })).collect();
            serde_json::json!({ "name": s.name, "clauses": clauses })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup("SIP").map(|s| s.clauses), Some(&[(Tcp, 5060)][..]));
        assert_eq!(lookup("Sip-TLS").map(|s| s.name), Some("sip-tls"));
        assert_eq!(lookup("dns").map(|s| s.clauses.len()), Some(2));
        assert!(lookup("gopher").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn names_are_unique_lower_case_and_not_base_protocols() {
        let mut seen = std::collections::HashSet::new();
        for s in services() {
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            assert!(seen.insert(s.name), "{} twice", s.name);
            assert!(!["ip", "arp", "icmp", "tcp", "udp", "any", "all"].contains(&s.name));
            assert!(!s.clauses.is_empty());
            assert!(s.clauses.iter().all(|(_, p)| *p != 0));
        }
        assert_eq!(services().len(), 25);
    }

    #[test]
    fn json_listing() {
        let v = services_json();
        assert_eq!(
            v[3],
            serde_json::json!({ "name": "dns", "clauses": [
            { "protocol": "udp", "port": 53 }, { "protocol": "tcp", "port": 53 } ] })
        );
    }
}
