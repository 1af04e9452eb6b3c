"""Distillation losses against independent formulas built from torch.nn.functional, gradients
against finite differences (gradcheck, float64), sparse/chunked paths against the dense one."""
import math

import pytest
import torch
import torch.nn.functional as F

from retort_torch.losses import (
    DIVERGENCES,
    HeadLogits,
    HiddenProjection,
    LossConfig,
    SparseTargets,
    distill_loss,
    distill_loss_chunked,
    hidden_loss,
    token_terms,
)


def rel(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


def logits(n, v, seed, scale=2.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, v, generator=g)).to(dtype)


# ---- independent per-token divergences (probabilities, F.kl_div, no shared code) ----------------

def kl(p_log, q_log):
    """KL(p‖q) per row via F.kl_div (input = log q, target = log p)."""
    return F.kl_div(q_log, p_log, reduction="none", log_target=True).sum(-1)


def reference_divergence(zt, zs, kind, t, beta=0.5, lam=0.1):
    lt, ls = F.log_softmax(zt / t, -1), F.log_softmax(zs / t, -1)
    pt, ps = lt.exp(), ls.exp()
    if kind == "forward-kl":
        return kl(lt, ls)
    if kind == "reverse-kl":
        return kl(ls, lt)
    if kind == "gjsd":  # TRL GKD's generalized_jsd_loss, token-wise
        if beta == 0:
            return kl(lt, ls)
        if beta == 1:
            return kl(ls, lt)
        m = torch.log(beta * pt + (1 - beta) * ps)
        return beta * kl(lt, m) + (1 - beta) * kl(ls, m)
    if kind == "skew-kl":
        return kl(lt, torch.log(lam * pt + (1 - lam) * ps))
    if kind == "skew-reverse-kl":
        return kl(ls, torch.log(lam * ps + (1 - lam) * pt))
    if kind == "tvd":
        return 0.5 * (pt - ps).abs().sum(-1)
    raise AssertionError(kind)


CASES = [("forward-kl", {}), ("reverse-kl", {}), ("gjsd", {"beta": 0.5}), ("gjsd", {"beta": 0.1}),
         ("gjsd", {"beta": 0.9}), ("skew-kl", {"skew": 0.1}), ("skew-kl", {"skew": 0.5}),
         ("skew-reverse-kl", {"skew": 0.1}), ("tvd", {})]


@pytest.mark.parametrize("kind, extra", CASES)
@pytest.mark.parametrize("t", [1.0, 2.0, 0.5])
def test_dense_matches_independent_formula(kind, extra, t):
    n, v = 12, 37
    zs, zt = logits(n, v, 1), logits(n, v, 2, scale=3.0)
    y = torch.randint(0, v, (n,), generator=torch.Generator().manual_seed(3))
    mask = torch.tensor([0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1])
    alpha = 0.7
    cfg = LossConfig(kind, alpha=alpha, temperature=t, **extra)
    out = distill_loss(zs, zt, torch.where(mask.bool(), y, torch.full_like(y, -100)), mask, cfg)
    d = reference_divergence(zt, zs, kind, t, extra.get("beta", 0.5), extra.get("skew", 0.1))
    ce = F.cross_entropy(zs, y, reduction="none")
    m = mask.double()
    want_soft = (t * t * d * m).sum() / m.sum()
    want_hard = (ce * m).sum() / m.sum()
    want_total = ((alpha * t * t * d + (1 - alpha) * ce) * m).sum() / m.sum()
    worst = max(rel(out.soft, want_soft), rel(out.hard, want_hard), rel(out.total, want_total))
    print(f"{kind}{extra} T={t}: worst rel diff {worst:.1e}")
    assert worst < 1e-10 and out.tokens == int(m.sum())
    assert rel(out.token_soft, t * t * d * m) < 1e-10


def test_gjsd_endpoints_are_forward_and_reverse_kl():
    zs, zt = logits(6, 11, 4), logits(6, 11, 5)
    y, mask = torch.zeros(6, dtype=torch.long), torch.ones(6)
    for beta, kind in ((0.0, "forward-kl"), (1.0, "reverse-kl")):
        g = distill_loss(zs, zt, y, mask, LossConfig("gjsd", alpha=1.0, temperature=1.5, beta=beta))
        k = distill_loss(zs, zt, y, mask, LossConfig(kind, alpha=1.0, temperature=1.5))
        assert g.total.item() == k.total.item() and g.total.item() > 0
    # between the endpoints JSD is bounded by log 2 (β = ½ is the symmetric Jensen–Shannon)
    j = distill_loss(zs, zt, y, mask, LossConfig("gjsd", alpha=1.0, beta=0.5))
    assert 0 < j.total.item() < math.log(2)


def test_float32_logits_match_float64_reference():
    zs, zt = logits(20, 500, 6, scale=8.0, dtype=torch.float32), logits(20, 500, 7, scale=8.0, dtype=torch.float32)
    y, mask = torch.arange(20), torch.ones(20)
    for kind, extra in CASES:
        cfg = LossConfig(kind, alpha=0.5, temperature=2.0, **extra)
        got = distill_loss(zs, zt, y, mask, cfg).total
        want = distill_loss(zs.double(), zt.double(), y, mask, cfg).total
        assert got.dtype == torch.float32 and rel(got, want) < 1e-5, kind
    bf = distill_loss(zs.bfloat16(), zt.bfloat16(), y, mask, LossConfig()).total
    assert bf.dtype == torch.float32  # upcast: no bf16 softmax


# ---- gradients -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, extra", CASES)
def test_gradcheck_dense(kind, extra):
    zs = logits(3, 5, 8).requires_grad_()
    zt = logits(3, 5, 9)
    y, mask = torch.tensor([1, 4, 0]), torch.tensor([1.0, 0.0, 1.0])
    cfg = LossConfig(kind, alpha=0.6, temperature=1.7, **extra)
    assert torch.autograd.gradcheck(lambda z: distill_loss(z, zt, y, mask, cfg).total, (zs,))


@pytest.mark.parametrize("kind, extra", CASES)
def test_gradcheck_sparse(kind, extra):
    zs = logits(3, 7, 10).requires_grad_()
    lp = F.log_softmax(logits(3, 7, 11), -1)
    ids = torch.tensor([[0, 3, 5], [6, 1, -1], [2, 4, 0]])
    slp = torch.where(ids >= 0, lp.gather(1, ids.clamp(min=0)), torch.zeros(3, 3, dtype=torch.float64))
    cfg = LossConfig(kind, alpha=0.6, temperature=1.7, **extra)
    t = SparseTargets(ids, slp)
    assert torch.autograd.gradcheck(lambda z: distill_loss(z, t, torch.tensor([0, 1, 2]), torch.ones(3), cfg).total, (zs,))


def test_gradcheck_hidden():
    g = torch.Generator().manual_seed(12)
    hs = torch.randn(4, 3, generator=g, dtype=torch.float64).requires_grad_()
    ht = torch.randn(4, 5, generator=g, dtype=torch.float64)
    proj = HiddenProjection(3, 5).double()
    mask = torch.tensor([1, 1, 0, 1])
    for kind in ("mse", "cosine"):
        assert torch.autograd.gradcheck(
            lambda h, w, b: hidden_loss(h, ht, lambda x: F.linear(x, w, b), mask, kind), (hs, proj.weight, proj.bias))


# ---- sparse targets --------------------------------------------------------------------------------

def reference_sparse(zs, ids, logprobs, kind, t, extra):
    """The k+1-bin definition, written with probabilities and a direct 1 − Σ tail."""
    p = torch.softmax(zs, -1)
    q_k = logprobs.exp()
    q = torch.cat((q_k, (1 - q_k.sum(-1, keepdim=True)).clamp(min=0)), -1)
    p_k = p.gather(1, ids)
    pp = torch.cat((p_k, 1 - p_k.sum(-1, keepdim=True)), -1)

    def temper(m):
        m = m ** (1 / t)
        return m / m.sum(-1, keepdim=True)

    qt, pt = temper(q), temper(pp)
    lq, lp = torch.log(qt), torch.log(pt)  # no zero bins in these cases
    beta, lam = extra.get("beta", 0.5), extra.get("skew", 0.1)
    if kind == "forward-kl" or (kind == "gjsd" and beta == 0):
        return (qt * (lq - lp)).sum(-1)
    if kind == "reverse-kl" or (kind == "gjsd" and beta == 1):
        return (pt * (lp - lq)).sum(-1)
    if kind == "gjsd":
        m = beta * qt + (1 - beta) * pt
        return beta * (qt * (lq - m.log())).sum(-1) + (1 - beta) * (pt * (lp - m.log())).sum(-1)
    if kind == "skew-kl":
        return (qt * (lq - (lam * qt + (1 - lam) * pt).log())).sum(-1)
    if kind == "skew-reverse-kl":
        return (pt * (lp - (lam * pt + (1 - lam) * qt).log())).sum(-1)
    return 0.5 * (qt - pt).abs().sum(-1)


@pytest.mark.parametrize("kind, extra", CASES)
def test_sparse_matches_bin_formula(kind, extra):
    n, v, k, t = 8, 50, 5, 2.0
    zs, zt = logits(n, v, 13), logits(n, v, 14, scale=3.0)
    lp_full = F.log_softmax(zt, -1)
    ids = torch.topk(zt, k, -1).indices
    lp = lp_full.gather(1, ids)
    cfg = LossConfig(kind, alpha=1.0, temperature=t, **extra)
    got = distill_loss(zs, SparseTargets(ids, lp), None, torch.ones(n), cfg)
    want = (t * t * reference_sparse(zs, ids, lp, kind, t, extra)).mean()
    print(f"sparse {kind}{extra}: rel diff {rel(got.total, want):.1e}")
    assert rel(got.total, want) < 1e-10


@pytest.mark.parametrize("kind, extra", CASES)
@pytest.mark.parametrize("t", [1.0, 3.0])
def test_sparse_with_k_equal_vocab_equals_dense(kind, extra, t):
    n, v = 6, 13
    zs, zt = logits(n, v, 15), logits(n, v, 16)
    g = torch.Generator().manual_seed(17)
    ids = torch.stack([torch.randperm(v, generator=g) for _ in range(n)])  # every id, shuffled
    lp = F.log_softmax(zt, -1).gather(1, ids)
    y, mask = torch.arange(n), torch.tensor([1, 1, 0, 1, 1, 1])
    cfg = LossConfig(kind, alpha=0.8, temperature=t, **extra)
    sparse = distill_loss(zs, SparseTargets(ids, lp), y, mask, cfg)
    dense = distill_loss(zs, zt, y, mask, cfg)
    assert rel(sparse.total, dense.total) < 1e-10, (sparse.total, dense.total)


def test_sparse_tail_zero_and_unused_slots():
    n, v = 4, 9
    zs = logits(n, v, 18)
    ids = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8], [1, 5, 7]])
    lp = torch.log(torch.tensor([[0.7, 0.3, 0.2]] * n, dtype=torch.float64))  # Σq = 1.2: tail mass 0
    cfg = LossConfig("forward-kl", alpha=1.0, temperature=1.0)
    got = distill_loss(zs, SparseTargets(ids, lp), None, torch.ones(n), cfg).total
    p = torch.softmax(zs, -1).gather(1, ids)
    q = torch.tensor([0.7, 0.3, 0.2], dtype=torch.float64) / 1.2  # renormalised, tail bin empty
    ps = torch.cat((p, 1 - p.sum(-1, keepdim=True)), -1)
    want = (q * (q.log() - ps[:, :3].log())).sum(-1).mean()
    assert rel(got, want) < 1e-10
    # an unused slot (id -1) is the same as leaving it out
    lp2 = torch.log(torch.tensor([[0.5, 0.2, 0.1]] * n, dtype=torch.float64))
    with_pad = SparseTargets(torch.cat((ids[:, :2], torch.full((n, 1), -1)), 1), lp2)
    without = SparseTargets(ids[:, :2], lp2[:, :2])
    for kind, extra in CASES:
        c = LossConfig(kind, alpha=1.0, temperature=2.0, **extra)
        a = distill_loss(zs, with_pad, None, torch.ones(n), c).total
        b = distill_loss(zs, without, None, torch.ones(n), c).total
        assert rel(a, b) < 1e-12, kind
    # reverse KL against a teacher with no tail mass but a student with some is infinite, as defined
    r = distill_loss(zs, SparseTargets(ids, lp), None, torch.ones(n), LossConfig("reverse-kl", alpha=1.0))
    assert math.isinf(r.total.item())


# ---- chunked ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, extra", [("forward-kl", {}), ("gjsd", {"beta": 0.3}), ("tvd", {}), ("skew-reverse-kl", {"skew": 0.2})])
def test_chunked_equals_unchunked(kind, extra):
    b, t, c, v, vt = 2, 9, 16, 40, 44
    g = torch.Generator().manual_seed(19)
    h_s = torch.randn(b, t, c, generator=g, requires_grad=True)
    w_s = (0.3 * torch.randn(v, c, generator=g)).requires_grad_()
    h_t = torch.randn(b, t, 24, generator=g)
    w_t = 0.3 * torch.randn(vt, 24, generator=g)
    labels = torch.randint(0, 38, (b, t), generator=g)
    mask = (torch.rand(b, t, generator=g) > 0.3).long()
    cfg = LossConfig(kind, alpha=0.6, temperature=2.0, **extra)

    z_s = F.linear(h_s, w_s)
    dense = distill_loss(z_s, F.linear(h_t, w_t), labels, mask, cfg, vocab_size=38)
    g_dense = torch.autograd.grad(dense.total, (h_s, w_s))
    for chunk in (1, 4, 100):
        chunked = distill_loss_chunked(HeadLogits(h_s, w_s), HeadLogits(h_t, w_t), labels, mask, cfg,
                                       vocab_size=38, chunk_tokens=chunk)
        g_chunk = torch.autograd.grad(chunked.total, (h_s, w_s))
        worst = max(rel(chunked.total, dense.total), rel(chunked.soft, dense.soft), rel(chunked.hard, dense.hard),
                    *(rel(a, b) for a, b in zip(g_chunk, g_dense)))
        print(f"chunked {kind} chunk={chunk}: worst rel diff (value, grads) {worst:.1e}")
        assert worst < 1e-5 and chunked.tokens == dense.tokens
    # logits given directly, and sparse teacher targets, through the same chunking
    ids = torch.topk(F.linear(h_t, w_t)[..., :38], 5, -1).indices
    lp = F.log_softmax(F.linear(h_t, w_t)[..., :38], -1).gather(-1, ids)
    for teacher in (F.linear(h_t, w_t), SparseTargets(ids, lp)):
        z_s = F.linear(h_s, w_s)
        d = distill_loss(z_s, teacher, labels, mask, cfg, vocab_size=38)
        ch = distill_loss_chunked(z_s, teacher, labels, mask, cfg, vocab_size=38, chunk_tokens=3)
        gd = torch.autograd.grad(d.total, h_s, retain_graph=True)  # z_s is shared by both
        gc = torch.autograd.grad(ch.total, h_s)
        assert rel(ch.total, d.total) < 1e-5 and rel(gc[0], gd[0]) < 1e-5


def test_chunked_never_keeps_tokens_by_vocab_for_backward():
    n, c, v = 64, 8, 2000
    g = torch.Generator().manual_seed(20)
    h_s = torch.randn(n, c, generator=g, requires_grad=True)
    w = torch.randn(v, c, generator=g, requires_grad=True)
    h_t = torch.randn(n, c, generator=g)
    cfg = LossConfig("forward-kl", alpha=0.5, temperature=2.0)
    labels, mask = torch.randint(0, v, (n,), generator=g), torch.ones(n)
    saved = []

    def count(t):
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(count, lambda t: t):
        dense = distill_loss(F.linear(h_s, w), F.linear(h_t, w.detach()), labels, mask, cfg)
    dense_saved, saved[:] = sum(saved), []
    with torch.autograd.graph.saved_tensors_hooks(count, lambda t: t):
        chunked = distill_loss_chunked(HeadLogits(h_s, w), HeadLogits(h_t, w.detach()), labels, mask, cfg, chunk_tokens=16)
    chunked_saved = sum(saved)
    print(f"elements saved for backward: dense {dense_saved}, chunked {chunked_saved} (N×V = {n * v})")
    assert dense_saved >= 2 * n * v and chunked_saved < n * v / 4
    chunked.total.backward()
    assert h_s.grad is not None and rel(chunked.total, dense.total) < 1e-5


# ---- hidden ----------------------------------------------------------------------------------------

def test_hidden_mse_and_cosine_match_functional():
    g = torch.Generator().manual_seed(21)
    hs, ht = torch.randn(2, 5, 6, generator=g), torch.randn(2, 5, 10, generator=g)
    proj = HiddenProjection(6, 10)
    mask = torch.tensor([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]])
    y = proj(hs)[mask.bool()]
    mse = hidden_loss(hs, ht, proj, mask, "mse")
    cos = hidden_loss(hs, ht, proj, mask, "cosine")
    want_mse = F.mse_loss(y, ht[mask.bool()])
    want_cos = (1 - F.cosine_similarity(y, ht[mask.bool()], dim=-1)).mean()
    print(f"hidden mse rel diff {rel(mse, want_mse):.1e}, cosine {rel(cos, want_cos):.1e}")
    assert rel(mse, want_mse) < 1e-6 and rel(cos, want_cos) < 1e-6
    assert proj.weight.shape == (10, 6) and proj.bias.shape == (10,)


# ---- vocab slicing and errors -------------------------------------------------------------------

def test_vocab_slicing_ignores_padded_rows():
    zs, zt = logits(5, 48, 22), logits(5, 52, 23)
    y, mask = torch.arange(5), torch.ones(5)
    cfg = LossConfig("reverse-kl", alpha=0.5, temperature=2.0)
    got = distill_loss(zs, zt, y, mask, cfg, vocab_size=40).total
    want = distill_loss(zs[:, :40], zt[:, :40], y, mask, cfg).total
    assert got.item() == want.item()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda zs, zt: distill_loss(zs, zt, torch.tensor([0, 1, 99]), torch.ones(3), LossConfig()), "labels: token 2 has id 99"),
        (lambda zs, zt: distill_loss(zs, zt[:, :8], torch.zeros(3, dtype=torch.long), torch.ones(3), LossConfig()), "teacher_logits: vocab 8 differs"),
        (lambda zs, zt: distill_loss(zs, zt, torch.zeros(3, dtype=torch.long), torch.ones(3), LossConfig(), vocab_size=11), "vocab: student has 10 logits"),
        (lambda zs, zt: distill_loss(zs, zt[:2], torch.zeros(3, dtype=torch.long), torch.ones(3), LossConfig()), "teacher_logits: shape [2, 10]"),
        (lambda zs, zt: distill_loss(zs, zt, torch.zeros(3, dtype=torch.long), torch.zeros(3), LossConfig()), "mask: no token has mask 1"),
        (lambda zs, zt: distill_loss(zs, zt, torch.zeros(3, dtype=torch.long), torch.tensor([1, 0.5, 1]), LossConfig()), "mask: token 1 has value 0.5"),
        (lambda zs, zt: distill_loss(zs, None, torch.zeros(3, dtype=torch.long), torch.ones(3), LossConfig()), "alpha > 0 needs teacher"),
        (lambda zs, zt: distill_loss(zs, zt, None, torch.ones(3), LossConfig()), "alpha < 1 needs labels"),
        (lambda zs, zt: distill_loss(zs, SparseTargets(torch.tensor([[1, 2]] * 3), torch.zeros(3, 2)), None, torch.ones(3), LossConfig(alpha=1.0)), None),
        (lambda zs, zt: distill_loss(zs, SparseTargets(torch.tensor([[1, 2], [3, 3], [4, 5]]), torch.zeros(3, 2)), None, torch.ones(3), LossConfig(alpha=1.0)), "teacher_ids: token 1 repeats id 3"),
        (lambda zs, zt: distill_loss(zs, SparseTargets(torch.tensor([[1, 2], [3, 4], [4, 10]]), torch.zeros(3, 2)), None, torch.ones(3), LossConfig(alpha=1.0)), "teacher_ids: token 2 slot 1 has id 10"),
        (lambda zs, zt: distill_loss(zs, SparseTargets(torch.tensor([[1, 2]] * 3), torch.zeros(3, 3)), None, torch.ones(3), LossConfig(alpha=1.0)), "teacher_logprobs: shape [3, 3]"),
    ],
)
def test_errors(call, message):
    zs, zt = logits(3, 10, 24), logits(3, 10, 25)
    if message is None:
        call(zs, zt)  # the well-formed control case
        return
    with pytest.raises(ValueError) as e:
        call(zs, zt)
    assert message in str(e.value), str(e.value)


@pytest.mark.parametrize(
    "fields, message",
    [({"divergence": "js"}, "field 'divergence' is 'js'"), ({"alpha": 1.5}, "field 'alpha' must be in [0, 1]"),
     ({"temperature": 0}, "field 'temperature' must be a positive number"), ({"beta": -0.1}, "field 'beta'"),
     ({"lambda": 0.1}, "unknown field 'lambda'")],
)
def test_config_errors(fields, message):
    with pytest.raises(ValueError) as e:
        LossConfig.from_dict(fields)
    assert message in str(e.value)
    assert set(DIVERGENCES) == {"forward-kl", "reverse-kl", "gjsd", "skew-kl", "skew-reverse-kl", "tvd"}


def test_alpha_endpoints_skip_the_unused_term():
    zs = logits(4, 6, 26)
    soft, hard = token_terms(zs, None, torch.arange(4), LossConfig(alpha=0.0))
    assert soft.abs().max() == 0 and rel(hard, F.cross_entropy(zs, torch.arange(4), reduction="none")) < 1e-12
