#!/usr/bin/env bash
# Compares the BIF scanner of two versions in one process, for changes too
# small to see by timing the CLI on a shared, noisy machine.
#
#   scripts/ab.sh BASE NEW [FILE...]
#
# BASE and NEW are git revisions; NEW may be `.` for the working tree (its
# tracked and new files as they are now, edits included). Each goes into a
# temporary folder whose Cargo.toml renames the package and the lib
# (daffron-bridge-a / -b), and a scratch binary linking
# both runs `bif::scan::scan_chunk` over each FILE (cut into 8 MiB
# line-aligned pieces, in memory) with A, then B, in alternating order, for
# ROUNDS rounds (default 101), on one thread. It prints the best time of
# each and the median of the paired B/A ratios: below 1 means NEW is faster.
# On the development machine the median repeats within about 1.5% for one
# build, but where the two copies land in the binary moves it by a few
# percent from one build to another: trust differences larger than that.
#
# Without FILE, a 40 MB file from gen_bif (seed 1, as in scripts/bench.sh)
# is used.
# Both versions must have the same `scan_chunk` and `ScanRules`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ $# -lt 2 ]; then
  sed -n '2,21p' "$0" >&2
  exit 2
fi
base=$1 new=$2
shift 2
rounds=${ROUNDS:-101}

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  cargo build --release --quiet --example gen_bif
  mkdir -p bench-data
  f=bench-data/ab-40MB.BIF
  [ -f "$f" ] || target/release/examples/gen_bif --bytes 40000000 --seed 1 -o "$f"
  files=("$f")
fi
for i in "${!files[@]}"; do files[i]=$(realpath "${files[i]}"); done

work=$(mktemp -d)
cleanup() {
  git -C "$root" worktree remove --force "$work/a" 2>/dev/null || true
  git -C "$root" worktree remove --force "$work/b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

git worktree add --quiet --detach "$work/a" "$base"
if [ "$new" = . ]; then
  # Every file git would see (tracked or new, not ignored), as it is now:
  # the lib also embeds README.md, specs/ and samples/.
  mkdir "$work/b"
  git ls-files -z --cached --others --exclude-standard |
    tar -c --null --ignore-failed-read -T - 2>/dev/null | tar -x -C "$work/b"
else
  git worktree add --quiet --detach "$work/b" "$new"
fi

# A library under another name: the package and lib renamed, no binary.
for side in a b; do
  toml=$work/$side/Cargo.toml
  sed -i -e "s/^name = \"daffron-bridge\"$/name = \"daffron-bridge-$side\"/" \
    -e "s/^name = \"daffron_bridge\"$/name = \"daffron_bridge_$side\"/" \
    -e '/^default-run/d' "$toml"
  sed -i '/^\[\[bin\]\]$/,/^$/d' "$toml"
  grep -q "daffron_bridge_$side" "$toml" || {
    echo "ab: cannot rename the lib in $toml" >&2
    exit 1
  }
done

mkdir -p "$work/h/src"
cat >"$work/h/Cargo.toml" <<EOF
[package]
name = "ab"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
a = { package = "daffron-bridge-a", path = "$work/a" }
b = { package = "daffron-bridge-b", path = "$work/b" }

[profile.release]
debug = 1
codegen-units = 4
lto = "thin"
EOF
cat >"$work/h/src/main.rs" <<'EOF'
use std::time::Instant;

macro_rules! runner {
    ($krate:ident) => {{
        let layout = $krate::bif::Layout::embedded();
        move |pieces: &[&[u8]]| {
            let rules = $krate::bif::scan::ScanRules {
                layout: &layout,
                biller_guid: None,
                pdf_version: Default::default(),
                name_date: None,
                max_issues: 1000,
                portable: false,
            };
            let t0 = Instant::now();
            let mut rows = 0u64;
            for p in pieces {
                rows += $krate::bif::scan::scan_chunk(std::hint::black_box(p), false, &rules).rows;
            }
            (t0.elapsed().as_secs_f64(), rows)
        }
    }};
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(101);
    let ra = runner!(a);
    let rb = runner!(b);
    for f in std::env::args().skip(1) {
        let data = std::fs::read(&f).expect("read the file");
        let mut pieces = Vec::new();
        let mut s = 0;
        while s < data.len() {
            let mut e = (s + (8 << 20)).min(data.len());
            while e < data.len() && data[e - 1] != b'\n' {
                e += 1;
            }
            pieces.push(&data[s..e]);
            s = e;
        }
        // The first piece holds the FH row and the chunk-start states.
        let pieces = if pieces.len() > 1 { &pieces[1..] } else { &pieces[..] };
        let (mut ta, mut tb, mut ratio) = (f64::MAX, f64::MAX, Vec::new());
        for i in 0..rounds {
            let (x, y) = if i % 2 == 0 {
                let x = ra(pieces);
                (x, rb(pieces))
            } else {
                let y = rb(pieces);
                (ra(pieces), y)
            };
            assert_eq!(x.1, y.1, "the two versions count different rows");
            ta = ta.min(x.0);
            tb = tb.min(y.0);
            ratio.push(y.0 / x.0);
        }
        ratio.sort_by(f64::total_cmp);
        println!(
            "{f}: A best {:.2} ms, B best {:.2} ms; B/A: best {:.3}, paired median {:.3}",
            ta * 1e3,
            tb * 1e3,
            tb / ta,
            ratio[ratio.len() / 2]
        );
    }
}
EOF
echo "ab: building $base (A) and $new (B)" >&2
CARGO_TARGET_DIR="$root/target/ab" cargo build --release --quiet --manifest-path "$work/h/Cargo.toml"
ROUNDS=$rounds RAYON_NUM_THREADS=1 "$root/target/ab/release/ab" "${files[@]}"
