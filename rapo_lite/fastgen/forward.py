"""One forward pass of the fast loop, and the choice of the next token.

`_prefill` runs the left-padded prompts and fills the KV cache (`last_log_probs`, the scoring
of multiple-choice options, runs it without one); `_decode_step` feeds one
token per row into a preallocated cache slot. The residual stream, the norms and rope stay in
fp32 while the matmuls run in the weights' dtype. `_next_tokens` then picks each row's token:
in bf16 the top candidates are scored again in fp32 (`RESCORE_CANDIDATES`), and sampling
applies top-k, top-p and min-p as transformers' warpers do (`filter_scores`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from rapo_lite.fastgen.settings import Sampling
from rapo_lite.fastgen.weights import _Layer, _Weights

# Greedy decoding in bf16: the bf16 logits pick this many candidates, which are then scored
# again in fp32 so that the choice is not decided by bf16 rounding (ties are common at logit
# magnitudes of 10-20, where a bf16 step is 0.06-0.125).
RESCORE_CANDIDATES = 8


def _rope_tables(w: _Weights, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and a signed sin for positions [0, length), fp32, so that rope is x*cos + swap(x)*sin."""
    probe = torch.zeros(1, 1, w.head_dim)
    cos, sin = w.rotary(probe, torch.arange(length).unsqueeze(0))
    cos, sin = cos[0].float(), sin[0].float()
    half = w.head_dim // 2
    # rotate_half(x) = cat(-x2, x1): swapping the halves and negating the first half of sin is the same.
    sin = torch.cat([-sin[:, :half], sin[:, half:]], dim=-1)
    return cos, sin


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    swapped = torch.cat([x[..., half:], x[..., :half]], dim=-1)
    return x * cos + swapped * sin


def _qkv(w: _Weights, layer: _Layer, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple:
    """q, k, v with rope applied, shaped [..., heads, head_dim]; h is [..., hidden] in w.dtype."""
    out = layer.qkv(h)
    nq, nk, d = w.n_heads, w.n_kv, w.head_dim
    qk = out[..., : (nq + nk) * d].unflatten(-1, (nq + nk, d))
    v = out[..., (nq + nk) * d :].unflatten(-1, (nk, d))
    if layer.qk_norm is not None:
        # Qwen3 normalises each head (its q_norm / k_norm); kept in fp32 up to the rope.
        qk32 = qk.float()
        qk32 = qk32 * torch.rsqrt(qk32.pow(2).mean(-1, keepdim=True) + w.eps)
        qk = layer.qk_norm * qk32
    qk = _rope(qk.float(), cos.unsqueeze(-2), sin.unsqueeze(-2)).to(w.dtype)
    return qk[..., :nq, :], qk[..., nq:, :], v


def _norm(x: torch.Tensor, weight: torch.Tensor, eps: float, dtype: torch.dtype) -> torch.Tensor:
    return F.rms_norm(x, (x.shape[-1],), weight, eps).to(dtype)


def _mlp(layer: _Layer, h: torch.Tensor) -> torch.Tensor:
    gate, up = layer.gate_up(h).chunk(2, dim=-1)
    return layer.down(F.silu(gate) * up)


def _prefill(w: _Weights, ids: torch.Tensor, valid: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
             cache_k: torch.Tensor | None, cache_v: torch.Tensor | None, keep: int = 1) -> torch.Tensor:
    """Run the left-padded prompts [B, N] and fill the cache's first N slots (no cache: scoring only);
    returns the hidden states of the last `keep` positions, [B, keep, hidden], fp32."""
    n = ids.shape[1]
    pos = (valid.long().cumsum(1) - 1).clamp(min=0)
    c, s = cos[pos], sin[pos]
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    # A pad row may see only itself: a row with nothing to attend to would come out NaN.
    mask = ((causal & valid[:, None, :]) | torch.eye(n, dtype=torch.bool)).unsqueeze(1)
    x = w.embed[ids].float()
    for i, layer in enumerate(w.layers):
        q, k, v = _qkv(w, layer, _norm(x, layer.norm1, w.eps, w.dtype), c, s)
        k, v = k.transpose(1, 2), v.transpose(1, 2)
        if cache_k is not None and cache_v is not None:
            cache_k[i, :, :, :n] = k
            cache_v[i, :, :, :n] = v
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k, v, attn_mask=mask, scale=w.scaling,
                                           enable_gqa=w.n_heads != w.n_kv)
        x = x + layer.o(a.transpose(1, 2).flatten(2))
        x = x + _mlp(layer, _norm(x, layer.norm2, w.eps, w.dtype))
    return x[:, -keep:]


def last_log_probs(w: _Weights, ids: torch.Tensor, valid: torch.Tensor, keep: int) -> torch.Tensor:
    """fp32 log-softmax over the vocabulary at the last `keep` positions of left-padded rows: [B, keep, V].

    The layers run in the weights' dtype as in generation; the final norm and the head run in
    fp32 (the head's fp32 copy), so that option log-likelihoods are not rounded to bf16 steps."""
    cos, sin = _rope_tables(w, ids.shape[1])
    hidden = _prefill(w, ids, valid, cos, sin, None, None, keep=keep)
    h32 = F.rms_norm(hidden, (hidden.shape[-1],), w.norm, w.eps)
    logits = h32 @ w.lm_head_fp32.T
    if w.lm_head_bias is not None:
        logits = logits + w.lm_head_bias
    return torch.log_softmax(logits, dim=-1)


def _decode_step(w: _Weights, tokens: torch.Tensor, pos: torch.Tensor, slot: int, key_valid: torch.Tensor,
                 cos: torch.Tensor, sin: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor) -> torch.Tensor:
    """Feed one token per row at cache slot `slot`; returns the last hidden state [B, hidden], fp32."""
    b = tokens.shape[0]
    groups = w.n_heads // w.n_kv
    c, s = cos[pos], sin[pos]
    mask = key_valid[:, None, None, : slot + 1]
    x = w.embed[tokens].float()
    for i, layer in enumerate(w.layers):
        q, k, v = _qkv(w, layer, _norm(x, layer.norm1, w.eps, w.dtype), c, s)
        cache_k[i, :, :, slot] = k
        cache_v[i, :, :, slot] = v
        # One query per row: the query heads that share a kv head become that head's query
        # rows, so grouped-query attention needs no repeated keys and values.
        a = F.scaled_dot_product_attention(q.reshape(b, w.n_kv, groups, w.head_dim), cache_k[i, :, :, : slot + 1],
                                           cache_v[i, :, :, : slot + 1], attn_mask=mask, scale=w.scaling)
        x = x + layer.o(a.reshape(b, -1))
        x = x + _mlp(layer, _norm(x, layer.norm2, w.eps, w.dtype))
    return x


def _next_tokens(w: _Weights, hidden: torch.Tensor, sampling: Sampling | None, history: torch.Tensor,
                 rescore: bool = True) -> torch.Tensor:
    h32 = F.rms_norm(hidden, (hidden.shape[-1],), w.norm, w.eps)
    logits = w.lm_head(h32.to(w.dtype))
    rescore = rescore and w.dtype != torch.float32
    if sampling is None:
        if not rescore:
            return logits.argmax(-1)
        cand = logits.topk(RESCORE_CANDIDATES, dim=-1).indices
        return cand.gather(1, _exact_scores(w, h32, cand).argmax(-1, keepdim=True)).squeeze(1)
    if sampling.repetition_penalty != 1.0:
        from transformers import RepetitionPenaltyLogitsProcessor

        scores, idx = RepetitionPenaltyLogitsProcessor(sampling.repetition_penalty)(history, logits.float()), None
    elif rescore and 0 < sampling.top_k < logits.shape[-1]:
        # As for greedy, at least RESCORE_CANDIDATES go to fp32, so that the top-k is chosen
        # by fp32 logits (top_k=1 is then exactly greedy).
        idx = logits.topk(min(logits.shape[-1], max(sampling.top_k, RESCORE_CANDIDATES)), dim=-1).indices
        scores = _exact_scores(w, h32, idx)
    else:
        scores, idx = logits.float(), None
    return _sample(scores / sampling.temperature, idx, sampling)


def _exact_scores(w: _Weights, h32: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """fp32 logits of the candidate tokens only: [B, C]."""
    scores = torch.bmm(w.lm_head_fp32[cand], h32.unsqueeze(-1)).squeeze(-1)
    return scores + w.lm_head_bias[cand] if w.lm_head_bias is not None else scores


def _sample(scores: torch.Tensor, idx: torch.Tensor | None, sampling: Sampling) -> torch.Tensor:
    """One draw per row from the filtered distribution; idx maps candidate columns to token ids."""
    vals, order = filter_scores(scores, sampling)
    choice = torch.multinomial(vals.softmax(-1), 1)
    if order is not None:
        choice = order.gather(1, choice)
    if idx is not None:
        choice = idx.gather(1, choice)
    return choice.squeeze(1)


def filter_scores(scores: torch.Tensor, sampling: Sampling) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Top-k, top-p and min-p as transformers' warpers apply them, in that order, to temperature-scaled scores.

    Returns the scores with the dropped tokens at -inf and, when they were sorted for the
    filters, the column each sorted value came from (None: the columns are unchanged).
    """
    k = sampling.top_k if 0 < sampling.top_k < scores.shape[-1] else scores.shape[-1]
    if sampling.top_p >= 1.0 and sampling.min_p <= 0.0 and k == scores.shape[-1]:
        return scores, None  # nothing filters: no sort needed
    vals, order = scores.topk(k, dim=-1) if k < scores.shape[-1] else scores.sort(dim=-1, descending=True)
    if sampling.top_p < 1.0:
        probs = vals.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass strictly above each token; the top token always stays
        vals = vals.masked_fill(before >= sampling.top_p, -math.inf)
    if sampling.min_p > 0.0:
        probs = vals.softmax(-1)
        vals = vals.masked_fill(probs < sampling.min_p * probs.max(-1, keepdim=True).values, -math.inf)
    return vals, order
