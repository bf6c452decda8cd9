//! Codec micro-benchmark without the N-API layer: `Message::decode` and `Message::encode`
//! (into a reused `BytesMut`) of the 160-byte FLOW_MOD that `bench/codec.bench.js` uses
//! (priority 65527, tcp, in_port, dl_src, nw_src, nw_dst, tp_dst, apply_actions output NORMAL).
//!
//! Plain `harness = false` bench, no criterion: warm up, then ROUNDS rounds of a fixed
//! iteration count each lasting ~ROUND_MS; the median round gives ns/op.
//!
//! Run: `cargo bench --no-default-features --bench codec` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use xo_sdn_native::openflow::Message;

/// The FLOW_MOD, as @xen-orchestra/openflow and xo-sdn-native both encode it.
const FLOW_MOD_HEX: &str = concat!(
    "020e00a0000000010000000000000000ffffffffffffffff000000000000fff7ffffffffffffffffffffffff",
    "00000000000000580000000400000356aef74b846c8b000000000000000000000000ffffffffffff00000000",
    "08000006c0a805f200000000c0a8053700000000000013c400000000000000000000000000000000ffffffff",
    "ffffffff000400180000000000000010fffffffa0000000000000000",
);

const ENCODE_TARGET_NS: f64 = 60.0;
const DECODE_TARGET_NS: f64 = 100.0;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
    iterations: u64,
}

fn time_loop(iterations: u64, f: &mut impl FnMut()) -> Duration {
    let t0 = Instant::now();
    for _ in 0..iterations {
        f();
    }
    t0.elapsed()
}

fn measure(rounds: usize, round: Duration, warmup: Duration, mut f: impl FnMut()) -> Stats {
    // Warm up, sizing a round from the warm-up speed.
    let mut iterations = 1u64;
    let mut spent = Duration::ZERO;
    let mut done = 0u64;
    while spent < warmup {
        let t = time_loop(iterations, &mut f);
        spent += t;
        done += iterations;
        if t < Duration::from_millis(10) {
            iterations *= 2;
        }
    }
    let per_op = spent.as_secs_f64() / done as f64;
    let n = ((round.as_secs_f64() / per_op) as u64).max(1);
    let mut samples: Vec<f64> =
        (0..rounds).map(|_| time_loop(n, &mut f).as_secs_f64() * 1e9 / n as f64).collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    Stats { median: samples[samples.len() / 2], min: samples[0], max: samples[samples.len() - 1], iterations: n }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, round, warmup) = if quick {
        (5, Duration::from_millis(20), Duration::from_millis(100))
    } else {
        (21, Duration::from_millis(50), Duration::from_millis(500))
    };

    let bytes = hex(FLOW_MOD_HEX);
    assert_eq!(bytes.len(), 160, "the benchmark FLOW_MOD must be 160 bytes");
    let message = Message::decode(&bytes).expect("the FLOW_MOD decodes");
    let mut out = BytesMut::with_capacity(4096);
    message.encode(&mut out).expect("the FLOW_MOD encodes");
    assert_eq!(&out[..], &bytes[..], "encoding gives the same bytes back");

    let decode = measure(rounds, round, warmup, || {
        let m = Message::decode(black_box(&bytes)).expect("decode");
        black_box(m);
    });
    let encode = measure(rounds, round, warmup, || {
        out.clear();
        black_box(&message).encode(&mut out).expect("encode");
        black_box(&out);
    });

    println!("xo-sdn-native codec, 160-byte FLOW_MOD, median of {rounds} rounds");
    println!("{:<28} {:>9} {:>9} {:>9} {:>12}  target", "case", "median", "min", "max", "iter/round");
    let mut all_met = true;
    for (name, s, target) in
        [("Message::encode (ns/op)", &encode, ENCODE_TARGET_NS), ("Message::decode (ns/op)", &decode, DECODE_TARGET_NS)]
    {
        let met = s.median <= target;
        all_met &= met;
        println!(
            "{:<28} {:>9.1} {:>9.1} {:>9.1} {:>12}  <= {target} ns {}",
            name,
            s.median,
            s.min,
            s.max,
            s.iterations,
            if met { "met" } else { "MISSED" }
        );
    }
    println!("{}", if all_met { "all targets met" } else { "some targets MISSED" });
}
