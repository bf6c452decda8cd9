//! A small, bounds-checked DER walker for the few X.509 fields rustls/webpki do not
//! hand us: the validity period (RFC 5280 §4.1.2.5) and the subjectAltName entries
//! (RFC 5280 §4.2.1.6).
//!
//! Certificates presented by a peer are wire data: nothing here indexes, unwraps or
//! truncates. Only single-byte tags and definite lengths of at most 4 bytes are
//! accepted (X.509 needs nothing else); anything else is an error, never a panic.

#![deny(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::net::IpAddr;

const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_SEQUENCE: u8 = 0x30;
/// `[0] EXPLICIT Version` in TBSCertificate.
const TAG_VERSION: u8 = 0xa0;
/// `[1] IMPLICIT issuerUniqueID`.
const TAG_ISSUER_UID: u8 = 0x81;
/// `[2] IMPLICIT subjectUniqueID`.
const TAG_SUBJECT_UID: u8 = 0x82;
/// `[3] EXPLICIT Extensions`.
const TAG_EXTENSIONS: u8 = 0xa3;
/// GeneralName `dNSName [2] IA5String`.
const TAG_SAN_DNS: u8 = 0x82;
/// GeneralName `iPAddress [7] OCTET STRING`.
const TAG_SAN_IP: u8 = 0x87;
/// id-ce-subjectAltName, 2.5.29.17.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// Why a DER structure could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DerError(pub(crate) &'static str);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Reads consecutive TLVs from a byte slice.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    fn byte(&mut self) -> Result<u8, DerError> {
        let (&b, rest) = self.data.split_first().ok_or(DerError("truncated DER"))?;
        self.data = rest;
        Ok(b)
    }

    /// Reads one TLV and returns (tag, contents).
    fn any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let tag = self.byte()?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("unsupported multi-byte DER tag"));
        }
        let first = self.byte()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = first & 0x7f;
            if n == 0 {
                return Err(DerError("indefinite DER length"));
            }
            if n > 4 {
                return Err(DerError("DER length too large"));
            }
            let mut len: u32 = 0;
            for _ in 0..n {
                len = (len << 8) | u32::from(self.byte()?);
            }
            usize::try_from(len).map_err(|_| DerError("DER length too large"))?
        };
        if len > self.data.len() {
            return Err(DerError("DER length runs past the end of the data"));
        }
        let (contents, rest) = self.data.split_at(len);
        self.data = rest;
        Ok((tag, contents))
    }

    fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], DerError> {
        match self.any()? {
            (t, contents) if t == tag => Ok(contents),
            _ => Err(DerError(what)),
        }
    }

    fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.any().map(|(_, c)| Some(c))
        } else {
            Ok(None)
        }
    }
}

/// The parts of an X.509 certificate this module looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertInfo {
    /// `notBefore`, seconds since the Unix epoch (negative before 1970).
    pub(crate) not_before: i64,
    /// `notAfter`, seconds since the Unix epoch.
    pub(crate) not_after: i64,
    /// The subjectAltName extension, if present.
    pub(crate) san: Option<SubjectAltNames>,
}

/// The subjectAltName entries we understand; other GeneralName kinds are counted only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SubjectAltNames {
    pub(crate) dns: Vec<String>,
    pub(crate) ip: Vec<IpAddr>,
    pub(crate) other: usize,
}

impl CertInfo {
    /// Parses a DER `Certificate` (RFC 5280 §4.1). The whole input must be one certificate.
    pub(crate) fn parse(der: &[u8]) -> Result<Self, DerError> {
        let mut outer = Reader::new(der);
        let cert = outer.expect(TAG_SEQUENCE, "not a DER certificate (expected a SEQUENCE)")?;
        if !outer.is_empty() {
            return Err(DerError("trailing data after the certificate"));
        }
        let mut cert = Reader::new(cert);
        let tbs = cert.expect(TAG_SEQUENCE, "missing tbsCertificate")?;
        cert.expect(TAG_SEQUENCE, "missing signatureAlgorithm")?;
        cert.expect(TAG_BIT_STRING, "missing signatureValue")?;
        if !cert.is_empty() {
            return Err(DerError("trailing data in the certificate"));
        }

        let mut tbs = Reader::new(tbs);
        tbs.optional(TAG_VERSION)?;
        tbs.expect(TAG_INTEGER, "missing serialNumber")?;
        tbs.expect(
            TAG_SEQUENCE,
            "missing signature algorithm in tbsCertificate",
        )?;
        tbs.expect(TAG_SEQUENCE, "missing issuer")?;
        let mut validity = Reader::new(tbs.expect(TAG_SEQUENCE, "missing validity")?);
        let not_before = read_time(&mut validity)?;
        let not_after = read_time(&mut validity)?;
        if !validity.is_empty() {
            return Err(DerError("trailing data in validity"));
        }
        tbs.expect(TAG_SEQUENCE, "missing subject")?;
        tbs.expect(TAG_SEQUENCE, "missing subjectPublicKeyInfo")?;
        tbs.optional(TAG_ISSUER_UID)?;
        tbs.optional(TAG_SUBJECT_UID)?;
        let mut san = None;
        if let Some(exts) = tbs.optional(TAG_EXTENSIONS)? {
            let mut exts = Reader::new(Reader::new(exts).expect(TAG_SEQUENCE, "bad extensions")?);
            while !exts.is_empty() {
                let mut ext = Reader::new(exts.expect(TAG_SEQUENCE, "bad extension")?);
                let oid = ext.expect(TAG_OID, "bad extension id")?;
                ext.optional(TAG_BOOLEAN)?;
                let value = ext.expect(TAG_OCTET_STRING, "bad extension value")?;
                if oid == OID_SUBJECT_ALT_NAME {
                    san = Some(parse_san(value)?);
                }
            }
        }
        if !tbs.is_empty() {
            return Err(DerError("trailing data in tbsCertificate"));
        }
        Ok(Self {
            not_before,
            not_after,
            san,
        })
    }

    /// True when the subjectAltName has at least one entry a standard name check can
    /// match: a syntactically valid DNS name (wildcards allowed) or an IPv4/IPv6 address.
    /// ovs-pki's `DNS:sc id:<uuid>` is not one; neither is a bare subject CN.
    pub(crate) fn has_usable_name(&self) -> bool {
        let Some(san) = &self.san else { return false };
        !san.ip.is_empty()
            || san.dns.iter().any(|name| {
                let name = name.strip_prefix("*.").unwrap_or(name);
                rustls::pki_types::DnsName::try_from(name).is_ok()
            })
    }
}

fn parse_san(value: &[u8]) -> Result<SubjectAltNames, DerError> {
    let mut names = Reader::new(Reader::new(value).expect(TAG_SEQUENCE, "bad subjectAltName")?);
    let mut san = SubjectAltNames::default();
    while !names.is_empty() {
        let (tag, contents) = names.any()?;
        match tag {
            TAG_SAN_DNS => san.dns.push(String::from_utf8_lossy(contents).into_owned()),
            TAG_SAN_IP => match contents.len() {
                4 => {
                    let octets: [u8; 4] = contents.try_into().map_err(|_| DerError("bad IP"))?;
                    san.ip.push(IpAddr::from(octets));
                }
                16 => {
                    let octets: [u8; 16] = contents.try_into().map_err(|_| DerError("bad IP"))?;
                    san.ip.push(IpAddr::from(octets));
                }
                _ => san.other += 1,
            },
            _ => san.other += 1,
        }
    }
    Ok(san)
}

/// Reads a `Time` (UTCTime or GeneralizedTime, RFC 5280 §4.1.2.5.1/§4.1.2.5.2: "MUST be
/// expressed in Greenwich Mean Time (Zulu) and MUST include seconds").
fn read_time(r: &mut Reader<'_>) -> Result<i64, DerError> {
    let (tag, s) = r.any()?;
    let (year, rest) = match (tag, s.len()) {
        (TAG_UTC_TIME, 13) => {
            let (yy, rest) = s.split_at(2);
            let yy = digits(yy)?;
            // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, YY < 50 is 20YY.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, rest)
        }
        (TAG_GENERALIZED_TIME, 15) => {
            let (yyyy, rest) = s.split_at(4);
            (digits(yyyy)?, rest)
        }
        (TAG_UTC_TIME | TAG_GENERALIZED_TIME, _) => {
            return Err(DerError("certificate time is not of the form ...HHMMSSZ"))
        }
        _ => return Err(DerError("expected a UTCTime or GeneralizedTime")),
    };
    // rest = MMDDHHMMSSZ
    let (mmddhhmmss, z) = rest.split_at(10);
    if z != b"Z" {
        return Err(DerError("certificate time is not in UTC (Z)"));
    }
    let field = |i: usize| {
        mmddhhmmss
            .get(i..i + 2)
            .ok_or(DerError("bad time"))
            .and_then(digits)
    };
    let (month, day) = (field(0)?, field(2)?);
    let (hour, min, sec) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || day < 1 || hour > 23 || min > 59 || sec > 59 {
        return Err(DerError("certificate time out of range"));
    }
    let days = days_from_civil(year, month, day);
    if civil_from_days(days) != (year, month, day) {
        return Err(DerError("certificate date does not exist"));
    }
    Ok(days * 86_400 + hour * 3600 + min * 60 + sec)
}

fn digits(s: &[u8]) -> Result<i64, DerError> {
    s.iter().try_fold(0i64, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + i64::from(c - b'0'))
        } else {
            Err(DerError("non-digit in certificate time"))
        }
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Shift the year so it starts in March: the leap day is then the last day of the year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let month_from_march = (month + 9) % 12; // March = 0 ... February = 11
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats seconds since the epoch as RFC 3339 UTC, e.g. `2021-01-01T00:00:00Z`.
pub(crate) fn format_time(secs: i64) -> String {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation
    )]
    use super::*;

    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = contents.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(contents);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(TAG_SEQUENCE, &parts.concat())
    }

    /// A structurally valid certificate (garbage algorithms/keys; only structure matters here).
    fn cert(not_before: Vec<u8>, not_after: Vec<u8>, extensions: Option<Vec<u8>>) -> Vec<u8> {
        let mut tbs = vec![
            tlv(TAG_VERSION, &tlv(TAG_INTEGER, &[2])),
            tlv(TAG_INTEGER, &[1]),
            seq(&[tlv(TAG_OID, &[1, 2, 3])]),
            seq(&[]),
            seq(&[not_before, not_after]),
            seq(&[]),
            seq(&[
                seq(&[tlv(TAG_OID, &[1, 2, 3])]),
                tlv(TAG_BIT_STRING, &[0, 1, 2]),
            ]),
        ];
        if let Some(exts) = extensions {
            tbs.push(tlv(TAG_EXTENSIONS, &seq(&[exts])));
        }
        seq(&[
            seq(&tbs),
            seq(&[tlv(TAG_OID, &[1, 2, 3])]),
            tlv(TAG_BIT_STRING, &[0, 9]),
        ])
    }

    fn utc(s: &str) -> Vec<u8> {
        tlv(TAG_UTC_TIME, s.as_bytes())
    }

    fn gen(s: &str) -> Vec<u8> {
        tlv(TAG_GENERALIZED_TIME, s.as_bytes())
    }

    fn san_ext(names: &[Vec<u8>], critical: bool) -> Vec<u8> {
        let mut parts = vec![tlv(TAG_OID, OID_SUBJECT_ALT_NAME)];
        if critical {
            parts.push(tlv(TAG_BOOLEAN, &[0xff]));
        }
        parts.push(tlv(TAG_OCTET_STRING, &seq(names)));
        seq(&parts)
    }

    #[test]
    fn parses_validity_both_time_forms() {
        let der = cert(utc("200101000000Z"), gen("21001231235959Z"), None);
        let info = CertInfo::parse(&der).unwrap();
        assert_eq!(info.not_before, 1_577_836_800);
        assert_eq!(format_time(info.not_before), "2020-01-01T00:00:00Z");
        assert_eq!(format_time(info.not_after), "2100-12-31T23:59:59Z");
        assert_eq!(info.san, None);
        assert!(!info.has_usable_name());
    }

    #[test]
    fn utc_time_century_rule() {
        let info =
            CertInfo::parse(&cert(utc("500101000000Z"), utc("491231235959Z"), None)).unwrap();
        assert_eq!(format_time(info.not_before), "1950-01-01T00:00:00Z");
        assert_eq!(format_time(info.not_after), "2049-12-31T23:59:59Z");
    }

    #[test]
    fn rejects_bad_times() {
        for bad in [
            utc("200230000000Z"), // Feb 30
            utc("201301000000Z"), // month 13
            utc("200101240000Z"), // hour 24
            utc("2001010000Z"),   // no seconds
            utc("200101000000+"), // not Zulu
            utc("20010100000aZ"), // non-digit
            gen("2020010100000Z"),
            tlv(TAG_INTEGER, b"200101000000Z"),
        ] {
            let der = cert(bad.clone(), utc("300101000000Z"), None);
            assert!(CertInfo::parse(&der).is_err(), "{bad:?}");
        }
        let leap = cert(utc("240229000000Z"), utc("300101000000Z"), None);
        assert!(CertInfo::parse(&leap).is_ok());
        let not_leap = cert(gen("21000229000000Z"), utc("300101000000Z"), None);
        assert!(CertInfo::parse(&not_leap).is_err());
    }

    #[test]
    fn parses_san_and_usable_names() {
        let ovs_pki = san_ext(
            &[tlv(
                TAG_SAN_DNS,
                b"sc id:0a1b2c3d-0000-4000-8000-000000000000",
            )],
            false,
        );
        let info = CertInfo::parse(&cert(
            utc("200101000000Z"),
            utc("300101000000Z"),
            Some(ovs_pki),
        ))
        .unwrap();
        assert_eq!(info.san.as_ref().unwrap().dns.len(), 1);
        assert!(!info.has_usable_name());

        let host = san_ext(
            &[
                tlv(TAG_SAN_DNS, b"xcp-host-1"),
                tlv(TAG_SAN_IP, &[127, 0, 0, 1]),
            ],
            true,
        );
        let info = CertInfo::parse(&cert(
            utc("200101000000Z"),
            utc("300101000000Z"),
            Some(host),
        ))
        .unwrap();
        let san = info.san.clone().unwrap();
        assert_eq!(san.dns, vec!["xcp-host-1".to_string()]);
        assert_eq!(san.ip, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert!(info.has_usable_name());

        let wildcard = san_ext(
            &[tlv(TAG_SAN_DNS, b"*.pool.example"), tlv(0x81, b"a@b")],
            false,
        );
        let info = CertInfo::parse(&cert(
            utc("200101000000Z"),
            utc("300101000000Z"),
            Some(wildcard),
        ))
        .unwrap();
        assert!(info.has_usable_name());
        assert_eq!(info.san.unwrap().other, 1);

        let ip6 = san_ext(
            &[tlv(TAG_SAN_IP, &[0; 16]), tlv(TAG_SAN_IP, &[1, 2, 3])],
            false,
        );
        let info =
            CertInfo::parse(&cert(utc("200101000000Z"), utc("300101000000Z"), Some(ip6))).unwrap();
        assert_eq!(info.san.as_ref().unwrap().ip.len(), 1);
        assert_eq!(info.san.unwrap().other, 1);
    }

    #[test]
    fn never_panics_on_truncation_or_corruption() {
        let host = san_ext(
            &[
                tlv(TAG_SAN_DNS, b"xcp-host-1"),
                tlv(TAG_SAN_IP, &[127, 0, 0, 1]),
            ],
            false,
        );
        let der = cert(utc("200101000000Z"), gen("21000101000000Z"), Some(host));
        assert!(CertInfo::parse(&der).is_ok());
        for len in 0..der.len() {
            assert!(CertInfo::parse(&der[..len]).is_err(), "prefix {len}");
        }
        for i in 0..der.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = der.clone();
                bad[i] ^= flip;
                let _ = CertInfo::parse(&bad);
            }
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(CertInfo::parse(&trailing).is_err());
        for weird in [
            &[0x30, 0x80][..],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x3f, 0x01, 0x00],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(CertInfo::parse(weird).is_err());
        }
    }

    #[test]
    fn calendar_round_trips() {
        for days in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59Z");
    }
}
