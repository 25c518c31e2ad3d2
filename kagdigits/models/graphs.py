"""CUDA graphs of the training step: what ``compile="auto"`` does on a GPU.

Eager PyTorch launches every kernel of a step from Python: a small CNN's forward and
backward are ~190 launches, more host time than the GPU needs to run them. A CUDA graph
records them once and replays them with one call. :func:`capture` records the network's
forward and backward passes for training batches of one shape with
``torch.cuda.make_graphed_callables`` (PyTorch's partial-network capture) and routes the
network's training-mode calls on such batches to the graphs; a batch of another shape (an
epoch's last, smaller one), evaluation mode (validation, prediction) and calls without
gradients run the network's own ``forward`` as before.

Why this and not ``torch.compile(mode="reduce-overhead")`` (which also replays CUDA
graphs): it needs no inductor compilation (tens of seconds per batch shape: 24-64 s for
these networks on the CPU, against a 30 s target for a whole kagglecnn fit on a GPU), and
the loss, the optimizer step (fused Adam: a few kernels), the learning-rate schedule,
gradient callbacks, the weight average and the fp16 loss scaler stay eager, as skorch runs
them, so no learning rate or callback is frozen into a graph. Capturing the optimizer
step too would need capturable optimizers with tensor learning rates (the stack's step
prepares that).

A capture that fails (an operation CUDA graphs cannot hold, such as a host read inside
the network) leaves the network eager, with one warning per fit.
"""

import warnings

import torch

from kagdigits.models.inputs import caller_stacklevel


def wants_graphs(compile, device):
    """Whether ``compile`` (the estimator's parameter) asks for CUDA graphs on ``device``:
    ``"auto"`` on a CUDA device (on the CPU, ``torch.compile`` measured slower than eager:
    kagglecnn 1.06x, lenet5 1.3-2x, so ``"auto"`` leaves it off there)."""
    return compile == "auto" and torch.device(device or "cpu").type == "cuda"


def capture(module, sample, autocast_dtype=None, make_graphed=None):
    """Capture ``module``'s forward and backward passes for training batches shaped like
    ``sample`` (a batch as the network reads it, on its device); ``True``, or ``False``
    after one warning when the capture fails (``module`` is then left as it was).

    ``module``'s buffers (BatchNorm's running statistics) are put back after the capture's
    warm-up passes, so they count only the real steps. ``make_graphed``:
    ``torch.cuda.make_graphed_callables`` unless given (tests pass a stand-in).
    """
    make_graphed = make_graphed or torch.cuda.make_graphed_callables
    kept = [b.detach().clone() for b in module.buffers()]
    own = vars(module).get("forward")  # an instance's own forward, if any, is put back
    device = sample.device.type
    try:
        with torch.autocast(device, dtype=autocast_dtype, enabled=autocast_dtype is not None,
                            cache_enabled=False):
            make_graphed(module, (sample.detach().clone(),))  # sets module.forward
    except Exception as exc:  # noqa: BLE001 - any failure leaves the eager network
        module.__dict__.pop("forward", None)
        if own is not None:
            module.forward = own
        reason = " ".join(str(exc).split()) or type(exc).__name__
        warnings.warn(f"CUDA graph capture of the training step failed ({reason[:200]}); "
                      "training runs eagerly; set compile=False to skip the attempt",
                      RuntimeWarning, stacklevel=caller_stacklevel())
        return False
    finally:
        with torch.no_grad():
            for buffer, value in zip(module.buffers(), kept, strict=True):
                buffer.copy_(value)
    graphed = module.forward
    eager = type(module).forward.__get__(module)
    shape, dtype = tuple(sample.shape), sample.dtype

    def forward(x, *args, **kwargs):
        if (module.training and torch.is_grad_enabled() and not args and not kwargs
                and torch.is_tensor(x) and tuple(x.shape) == shape and x.dtype == dtype):
            out = graphed(x)
            return out.clone() if torch.is_tensor(out) else out  # the next replay reuses it
        return eager(x, *args, **kwargs)

    forward.graphed = True
    module.forward = forward
    return True


def release(module):
    """Give ``module`` back its own ``forward`` (the graphs are freed with the last
    reference to them), so that it copies and pickles as before; a module :func:`capture`
    did not patch is left alone."""
    if getattr(vars(module).get("forward"), "graphed", False):
        del module.forward
