//! XOR chunk codec throughput: encoding and decoding full 120-sample chunks. Criterion reports
//! elements per second; one element is one sample.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use narthex_model::Sample;
use narthex_tsdb::chunk::{decode, decode_range, XorChunk, MAX_SAMPLES_PER_CHUNK};

/// Deterministic xorshift so every run benchmarks the same data.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// A counter scraped every 15 s: the common case.
fn regular_counter() -> Vec<(i64, f64)> {
    let mut seed = 0x2545_f491_4f6c_dd1d;
    let mut v = 1_234_567.0;
    (0..MAX_SAMPLES_PER_CHUNK as i64)
        .map(|i| {
            v += (rng(&mut seed) % 8) as f64;
            (1_700_000_000_000 + i * 15_000, v)
        })
        .collect()
}

/// A gauge with jittered scrapes and fractional values: more bits per sample.
fn jittery_gauge() -> Vec<(i64, f64)> {
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let mut t = 1_700_000_000_000;
    (0..MAX_SAMPLES_PER_CHUNK)
        .map(|_| {
            t += 14_900 + (rng(&mut seed) % 200) as i64;
            (t, (rng(&mut seed) % 10_000) as f64 / 7.0)
        })
        .collect()
}

fn encode(samples: &[(i64, f64)]) -> XorChunk {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        c.append(t, v);
    }
    c
}

fn bench(c: &mut Criterion) {
    for (name, samples) in [
        ("regular_counter", regular_counter()),
        ("jittery_gauge", jittery_gauge()),
    ] {
        let chunk = encode(&samples);
        let bytes = chunk.bytes().to_vec();
        println!(
            "{name}: {} bytes for {} samples ({:.2} bytes/sample)",
            bytes.len(),
            samples.len(),
            bytes.len() as f64 / samples.len() as f64
        );
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(samples.len() as u64));
        g.bench_function("encode", |b| b.iter(|| encode(black_box(&samples))));
        let mut out: Vec<Sample> = Vec::with_capacity(MAX_SAMPLES_PER_CHUNK);
        g.bench_function("decode", |b| {
            b.iter(|| {
                out.clear();
                decode(black_box(&bytes), &mut out).unwrap();
                black_box(out.len())
            })
        });
        g.bench_function("iter", |b| {
            b.iter(|| black_box(&chunk).iter().map(|r| r.unwrap().1).sum::<f64>())
        });
        let (mint, maxt) = (samples[30].0, samples[89].0);
        g.bench_function("decode_range_middle_half", |b| {
            b.iter(|| {
                out.clear();
                decode_range(black_box(&bytes), mint, maxt, &mut out).unwrap();
                black_box(out.len())
            })
        });
        // A query of the present: the last five minutes at a 15 s interval.
        let last_20 = samples[samples.len() - 20].0;
        g.bench_function("decode_range_last_20", |b| {
            b.iter(|| {
                out.clear();
                decode_range(black_box(&bytes), last_20, i64::MAX, &mut out).unwrap();
                black_box(out.len())
            })
        });
        g.bench_function("decode_range_last_20_from_checkpoint", |b| {
            b.iter(|| {
                out.clear();
                black_box(&chunk)
                    .decode_range(last_20, i64::MAX, &mut out)
                    .unwrap();
                black_box(out.len())
            })
        });
        g.bench_function("from_bytes", |b| {
            b.iter(|| XorChunk::from_bytes(black_box(bytes.clone())).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
