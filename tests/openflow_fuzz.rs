//! A short, deterministic mutation fuzz run over the decoder, the framer and the
//! JS-to-Rust tape reader, seeded with the golden vectors: no input may panic, and
//! whatever decodes must re-encode to something that decodes to the same value.
//! `fuzz/` holds the cargo-fuzz targets for long coverage-guided runs.

mod common;

use common::Rng;
use std::path::PathBuf;
use xo_sdn_native::openflow::types::hex_decode;
use xo_sdn_native::openflow::{Framer, Message};


fn seeds() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/openflow");
    let mut out = Vec::new();
    for (file, col) in [("flow_mods.tsv", 2), ("switch_msgs.tsv", 1)] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for line in text.lines().skip(1).filter(|l| !l.starts_with('#') && !l.is_empty()) {
            if let Some(bytes) = line.split('\t').nth(col).and_then(hex_decode) {
                out.push(bytes);
            }
        }
    }
    assert!(out.len() > 200);
    out
}

fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = [0, 0xff, 0x7f, 0x80, 1, 8][rng.below(6)];
            }
            2 => b.truncate(rng.below(b.len() + 1)),
            3 => {
                // Keep the header length consistent so the body parsers get exercised.
                if b.len() >= 4 {
                    let n = b.len().min(0xffff) as u16;
                    b[2..4].copy_from_slice(&n.to_be_bytes());
                }
            }
            4 if b.len() >= 16 => {
                // Rewrite an inner length-looking u16 (TLV lengths).
                let i = 8 + rng.below(b.len() - 9);
                let v = [0u16, 4, 7, 8, 16, 0xffff][rng.below(6)];
                b[i..i + 2].copy_from_slice(&v.to_be_bytes());
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let at = rng.below(b.len() + 1);
                let from = rng.below(other.len() + 1);
                b.splice(at.., other[from..].iter().copied());
            }
            _ => {
                let n = rng.below(16);
                for _ in 0..n {
                    b.push(rng.next() as u8);
                }
            }
        }
    }
    b
}

fn check(input: &[u8]) {
    if let Ok(m) = Message::decode(input) {
        // Wire values that the model does not keep (pad bytes, values under
        // wildcard bits) may change, but one round trip must be a fixed point.
        if let Ok(bytes) = m.to_bytes() {
            let again = Message::decode(&bytes).unwrap_or_else(|e| panic!("re-decode failed: {e}\n{m:?}"));
            assert_eq!(again.to_bytes().unwrap(), bytes, "not idempotent: {m:?}");
        }
    }
}

#[test]
fn mutated_messages_never_panic_and_round_trip_idempotently() {
    let seeds = seeds();
    let mut rng = Rng(0x5eed_0f_0f11);
    let mut decoded = 0;
    for i in 0..200_000 {
        let input = mutate(&mut rng, &seeds[i % seeds.len()], &seeds);
        if Message::decode(&input).is_ok() {
            decoded += 1;
        }
        check(&input);
    }
    // The mutations must not all be rejected at the header: the bodies get exercised.
    assert!(decoded > 20_000, "only {decoded} mutated inputs decoded");
}

#[test]
fn random_streams_through_the_framer_never_panic() {
    let seeds = seeds();
    let mut rng = Rng(0xf4a3e);
    for _ in 0..2_000 {
        let mut stream = Vec::new();
        for _ in 0..rng.below(20) {
            let seed = &seeds[rng.below(seeds.len())];
            stream.extend(mutate(&mut rng, seed, &seeds));
        }
        let mut f = Framer::new();
        let mut pos = 0;
        'chunks: while pos < stream.len() {
            let n = 1 + rng.below(300);
            let end = (pos + n).min(stream.len());
            f.push(&stream[pos..end]);
            pos = end;
            loop {
                match f.next_frame() {
                    Ok(Some(frame)) => check(&frame),
                    Ok(None) => break,
                    Err(_) => break 'chunks,
                }
            }
        }
    }
}

#[test]
fn random_tapes_from_js_never_panic() {
    let mut rng = Rng(0x7a9e);
    // Valid-looking prefixes: an object whose first key is `type`.
    let prefix: &[u8] = &[9, 3, 0, 4, b't', b'y', b'p', b'e', 6, 8, 0, b'f', b'l', b'o', b'w', b'_', b'm', b'o', b'd'];
    for _ in 0..100_000 {
        let mut tape = if rng.below(2) == 0 { prefix.to_vec() } else { Vec::new() };
        for _ in 0..rng.below(64) {
            tape.push(match rng.below(4) {
                0 => rng.below(10) as u8,
                1 => rng.below(4) as u8,
                _ => rng.next() as u8,
            });
        }
        let _ = xo_sdn_native::tape::from_tape::<Message>(&tape);
    }
}
