import pytest
import torch

from rapo_lite.trl_compat import TOKEN_CHUNK, install, torch_chunked_logprobs


def naive(hidden, weight, bias, targets, temperature, softcap, scale):
    z = (hidden @ weight.T + (bias if bias is not None else 0)) * scale
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    logp = torch.log_softmax(z / temperature, -1)
    return logp.gather(-1, targets[:, None]).squeeze(-1), -(logp.exp() * logp).sum(-1), z.argmax(-1) == targets


@pytest.mark.parametrize("n, softcap, temperature, with_bias",
                         [(7, None, 1.0, False), (TOKEN_CHUNK + 5, 30.0, 0.7, True)])
def test_matches_full_logits_in_value_and_gradient(n, softcap, temperature, with_bias):
    torch.manual_seed(0)
    h1 = torch.randn(n, 16, requires_grad=True)
    w1 = torch.randn(50, 16, requires_grad=True)
    b = torch.randn(50) if with_bias else None
    t = torch.randint(0, 50, (n,))
    h2, w2 = h1.detach().clone().requires_grad_(), w1.detach().clone().requires_grad_()
    lp, ent, lss, mean, top1 = torch_chunked_logprobs(h1, w1, b, t, temperature, 4096, softcap, 1.5)
    want_lp, want_ent, want_top1 = naive(h2, w2, b, t, temperature, softcap, 1.5)
    assert torch.allclose(lp, want_lp, atol=1e-5) and torch.allclose(ent, want_ent, atol=1e-4)
    assert torch.equal(top1, want_top1) and lss.shape == mean.shape == (n,)
    (lp.sum() + 0.1 * ent.sum()).backward()
    (want_lp.sum() + 0.1 * want_ent.sum()).backward()
    assert torch.allclose(h1.grad, h2.grad, atol=1e-4) and torch.allclose(w1.grad, w2.grad, atol=1e-4)


def test_unrequested_outputs_are_none_and_empty_input_works():
    h, w, t = torch.randn(3, 4), torch.randn(6, 4), torch.tensor([0, 1, 2])
    out = torch_chunked_logprobs(h, w, None, t, 1.0, 8, outputs=("is_top1",))
    assert out[1] is None and out[2] is None and out[3] is None and out[4] is not None
    empty = torch_chunked_logprobs(h[:0], w, None, t[:0], 1.0, 8)
    assert empty[0].shape == (0,)


def test_install_routes_trl_to_the_torch_path_on_cpu():
    import trl.trainer.utils as trl_utils

    install()
    install()  # idempotent
    h, w, t = torch.randn(5, 8), torch.randn(11, 8), torch.randint(0, 11, (5,))
    got = trl_utils._ChunkedLogProbFunction.apply(h, w, None, t, 1.0, 4096, None, 1.0, ("entropy",))
    assert torch.allclose(got[0], naive(h, w, None, t, 1.0, None, 1.0)[0], atol=1e-5)
