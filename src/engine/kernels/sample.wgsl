// Next-token sampling on the GPU, one workgroup per row of logits; only the token id leaves the GPU.
// HF's order of logits processors: repetition penalty → temperature → top-k → top-p → draw.
//   1. work = logits / T, with HF's repetition penalty on the ids in `prev` (logit < 0 → × r, else ÷ r;
//      `prev` is [B, L], or one [L] list for every row when prevStride = 0);
//   2. max and argmax of work; greedy (T = 0) stops here with the argmax;
//   3. top-k: `threshold` finds the k-th largest value τk; the survivors are x ≥ τk (ties at τk kept,
//      as HF's `scores < topk(scores, k)[..., -1]` removes only what is below);
//   4. top-p: `threshold` weighted by exp(x − max) finds the lowest survivor whose strictly-higher
//      mass is < p·Z (HF keeps a token while the mass of the tokens above it is below top_p);
//   5. Gumbel-max over the survivors: argmax of x − max − log E, E ~ Exp(1) from a counter-based hash
//      of (seed, step, row, id) — exactly a draw from the softmax over the survivors, in one pass.

const WG = 256u;
const NONE = 0xffffffffu;

// Reductions in two stages (16 invocations sum 16 slots each, then every invocation sums the 16
// partials): two barriers each instead of a tree's nine. Workgroup memory is kept small on purpose:
// software adapters pay for every byte of it in every workgroup.
var<workgroup> red: array<vec4<f32>, 256>;
var<workgroup> part: array<vec4<f32>, 16>;

struct Best {
  v: f32,
  i: u32,
}

// u32 keys in the order of the f32 values (negatives reversed below the positives; −0 is +0).
fn order_key(x: f32) -> u32 {
  let b = select(bitcast<u32>(x), 0u, x == 0.0);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// PCG hash (Jarzynski & Olano 2020); nested, it turns (seed, step, row, id) into independent words.
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// An Exp(1) variate −log(1 − u), u uniform in (0, 1). The series for small u keeps the smallest E
// accurate (they give the largest Gumbel −log E, the likely winners), where log near 1 is coarse.
fn exp1(row: u32, id: u32) -> f32 {
  let h = pcg(id + pcg(row + pcg(params.step + pcg(params.seed))));
  let u = (f32(h >> 9u) + 0.5) * (1.0 / 8388608.0);
  if (u < 0.0625) {
    return u * (1.0 + u * (0.5 + u * (1.0 / 3.0 + u * (0.25 + u * (0.2 + u * (1.0 / 6.0 + u / 7.0))))));
  }
  return -log(1.0 - u);
}

// b beats a: a larger value, or the lower id among equals (torch.argmax's first maximum).
fn better(a: Best, b: Best) -> bool {
  return b.i != NONE && (a.i == NONE || b.v > a.v || (b.v == a.v && b.i < a.i));
}

// The best of every invocation's candidate, returned to all; ids travel as f32 (exact below 2^24).
// The partials are read after the second barrier and rewritten only after the next call's first,
// which every invocation must reach.
fn best_of_all(li: u32, b: Best) -> Best {
  red[li] = vec4<f32>(b.v, select(f32(b.i), -1.0, b.i == NONE), 0.0, 0.0);
  workgroupBarrier();
  if (li < 16u) {
    var r = b;
    for (var j = 0u; j < 16u; j++) {
      let o = unpack_best(red[li + 16u * j]);
      if (better(r, o)) {
        r = o;
      }
    }
    part[li] = vec4<f32>(r.v, select(f32(r.i), -1.0, r.i == NONE), 0.0, 0.0);
  }
  workgroupBarrier();
  var r = unpack_best(part[0]);
  for (var j = 1u; j < 16u; j++) {
    let o = unpack_best(part[j]);
    if (better(r, o)) {
      r = o;
    }
  }
  return r;
}

fn unpack_best(s: vec4<f32>) -> Best {
  return Best(s.x, select(u32(s.y), NONE, s.y < 0.0));
}

// The sum of every invocation's v, returned to all (in the same order everywhere, so with the same bits).
fn sum_of_all(li: u32, v: vec4<f32>) -> vec4<f32> {
  red[li] = v;
  workgroupBarrier();
  if (li < 16u) {
    var s = vec4<f32>(0.0);
    for (var j = 0u; j < 16u; j++) {
      s += red[li + 16u * j];
    }
    part[li] = s;
  }
  workgroupBarrier();
  var r = vec4<f32>(0.0);
  for (var j = 0u; j < 16u; j++) {
    r += part[j];
  }
  return r;
}

fn count_at_least(a: vec4<f32>, goal_w: f32) -> u32 {
  return dot(select(vec4<u32>(0u), vec4<u32>(1u), a >= vec4<f32>(goal_w)), vec4<u32>(1u));
}

// The smallest key K with W(K) < goal_w, where W(K) sums w over the survivors (key ≥ low) whose key is
// > K: with w = 1 and goal_w = goal, K is the goal-th largest key; with w = exp(x − mx), goal_w is
// goal · W(0), a share of the survivors' mass Z. The next survivors are the keys ≥ K.
// `lo` holds the largest key known with W(lo) ≥ goal_w (W(0) ≥ goal_w in both uses); each round
// weighs 16 candidates lo | c << s at once and keeps the largest that still has W ≥ goal_w (W falls
// as c grows), fixing 4 more bits.
fn threshold(base: u32, n: u32, li: u32, low: u32, mx: f32, mass: bool, goal: f32) -> u32 {
  var lo = 0u;
  var goal_w = goal;
  for (var round = 0u; round < 8u; round++) {
    let s = vec4<u32>(28u - 4u * round);
    let t0 = vec4<u32>(lo) | (vec4<u32>(0u, 1u, 2u, 3u) << s);
    let t1 = vec4<u32>(lo) | (vec4<u32>(4u, 5u, 6u, 7u) << s);
    let t2 = vec4<u32>(lo) | (vec4<u32>(8u, 9u, 10u, 11u) << s);
    let t3 = vec4<u32>(lo) | (vec4<u32>(12u, 13u, 14u, 15u) << s);
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    for (var i = li; i < n; i += WG) {
      let x = work[base + i];
      let k = order_key(x);
      if (k >= low) {
        let w = vec4<f32>(select(1.0, exp(x - mx), mass));
        let kv = vec4<u32>(k);
        a0 += select(vec4<f32>(0.0), w, kv > t0);
        a1 += select(vec4<f32>(0.0), w, kv > t1);
        a2 += select(vec4<f32>(0.0), w, kv > t2);
        a3 += select(vec4<f32>(0.0), w, kv > t3);
      }
    }
    a0 = sum_of_all(li, a0);
    a1 = sum_of_all(li, a1);
    a2 = sum_of_all(li, a2);
    a3 = sum_of_all(li, a3);
    if (mass && round == 0u) {
      goal_w = goal * a0.x; // W(0) = Z
    }
    // candidate 0 is lo itself (W ≥ goal_w): count the others that still reach the goal_w
    let c = count_at_least(vec4<f32>(-1.0, a0.yzw), goal_w) + count_at_least(a1, goal_w) +
            count_at_least(a2, goal_w) + count_at_least(a3, goal_w);
    lo |= c << (28u - 4u * round);
  }
  return lo + 1u;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wg.x;
  let base = row * params.V;
  let n = params.n;

  for (var i = li; i < n; i += WG) {
    work[base + i] = logits[base + i] / params.temperature;
  }
  storageBarrier();
  if (params.penalty != 1.0) {
    // An id listed twice is written twice with the same value: the penalty applies once, as HF's scatter.
    for (var j = li; j < params.L; j += WG) {
      let id = prev[row * params.prevStride + j];
      if (id >= 0 && u32(id) < n) {
        let x = logits[base + u32(id)];
        work[base + u32(id)] = select(x / params.penalty, x * params.penalty, x < 0.0) / params.temperature;
      }
    }
    storageBarrier();
  }

  var best = Best(0.0, NONE);
  for (var i = li; i < n; i += WG) {
    let c = Best(work[base + i], i);
    if (better(best, c)) {
      best = c;
    }
  }
  best = best_of_all(li, best);
  if (params.greedy != 0u) {
    if (li == 0u) {
      out[row] = i32(best.i);
    }
    return;
  }
  let mx = best.v;

  var low = 0u;
  if (params.topK > 0u && params.topK < n) {
    low = threshold(base, n, li, low, mx, false, f32(params.topK));
  }
  if (params.topP < 1.0) {
    low = threshold(base, n, li, low, mx, true, params.topP);
  }

  var pick = Best(0.0, NONE);
  for (var i = li; i < n; i += WG) {
    let x = work[base + i];
    if (order_key(x) >= low) {
      let c = Best(x - mx - log(exp1(row, i)), i);
      if (better(pick, c)) {
        pick = c;
      }
    }
  }
  pick = best_of_all(li, pick);
  if (li == 0u) {
    out[row] = i32(pick.i);
  }
}
