//! Target expansion and routing at the sizes dispatch meets: a /8 with an exclusion routed
//! into nested segments, and a /16 cut into chunks.

use std::hint::black_box;

use criterion::{Criterion, criterion_main};
use opsconductor_core::model::segment::Segment;
use opsconductor_core::targets::{
    FileSelector, NoGroups, SegmentRouter, Selector, TargetSpec, expand,
};

fn slash8_spec() -> TargetSpec {
    TargetSpec::range("10.0.0.0/8")
        .excluding("10.99.0.0/16")
        .allowing_large(true)
}

fn segments() -> Vec<Segment> {
    let segment = |name: &str, cidr: &str| {
        Segment::new(name, vec![cidr.parse().expect("bench CIDR")]).expect("bench segment")
    };
    vec![
        segment("west", "10.0.0.0/9"),
        segment("east", "10.128.0.0/10"),
        segment("lab", "10.20.0.0/16"),
    ]
}

fn slash8(c: &mut Criterion) {
    let spec = slash8_spec();
    let router = SegmentRouter::new(&segments(), "default");
    let expanded = expand(&spec, &NoGroups).expect("bench spec expands");
    assert_eq!(expanded.len(), (1 << 24) - 2 - (1 << 16));

    c.bench_function("expand /8 minus /16", |b| {
        b.iter(|| expand(black_box(&spec), &NoGroups).expect("expands"));
    });
    c.bench_function("route /8 minus /16 into 3 nested segments", |b| {
        b.iter(|| router.split(black_box(&expanded)));
    });
    c.bench_function("expand and route /8 minus /16", |b| {
        b.iter(|| {
            let expanded = expand(black_box(&spec), &NoGroups).expect("expands");
            let router = SegmentRouter::new(&segments(), "default");
            router.split(&expanded)
        });
    });
}

fn materialise(c: &mut Criterion) {
    let spec = TargetSpec::range("127.0.0.0/16");
    c.bench_function("materialise 127.0.0.0/16 into chunks of 250", |b| {
        b.iter(|| {
            let expanded = expand(black_box(&spec), &NoGroups).expect("expands");
            let mut targets = 0;
            for chunk in expanded.chunks(250) {
                targets += black_box(chunk).len();
            }
            assert_eq!(targets, 65_534);
        });
    });

    let mut group = c.benchmark_group("iterate");
    group.sample_size(10);
    let expanded = expand(&slash8_spec(), &NoGroups).expect("expands");
    group.bench_function("every target of /8 minus /16", |b| {
        b.iter(|| black_box(&expanded).iter().count());
    });
    group.finish();
}

fn files(c: &mut Criterion) {
    let content: String = (0..10_000u32)
        .map(|i| format!("10.{}.{}.{}\n", i >> 16 & 255, i >> 8 & 255, i & 255))
        .collect();
    let spec = TargetSpec::new(vec![Selector::File(FileSelector::lines(
        "10k.txt", content,
    ))]);
    c.bench_function("expand a file of 10k lines", |b| {
        b.iter(|| expand(black_box(&spec), &NoGroups).expect("expands"));
    });
}

// In a private module because `criterion_group!` makes an undocumented `pub fn`.
mod group {
    use super::{files, materialise, slash8};

    criterion::criterion_group!(benches, slash8, materialise, files);
}

criterion_main!(group::benches);
