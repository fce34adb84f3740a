"""The served CMM graph: `Mixture.forward` with its constants folded at build time, in far fewer nodes.

At batch 1, ORT costs ~10 us per `run()` plus ~0.6 us per node on tensors this small, so this module is
written for few nodes rather than few flops (docs/distill.md has the measured figures):
- the price scale and the regime come from ONE matmul of the raw features with a constant selector,
  columns [vol + 1, width / 4 + 1, 1, vol, vol]: s is the row max (vol <= vol + 1 never decides it) and
  the regime is [vol > e0, vol > e1], read off the last two columns;
- the normaliser with the price scale is clip(x * (a + b / s) + c), with a, b, c constant vectors;
- the biases of the second and third layers ride on a constant-1 unit carried through the bank
  (relu(1) = 1), and the task scale (std, mean) is folded into the third layer;
- the Hájek gate needs only the within-group pairs: their kernel values k = exp(-gamma ||u_i - u_j||^2)
  come from one matmul with a +1/-1 pair matrix, and r, c, / tau, + biases and the regime term are linear
  in [k, regime], so the logits are ONE matmul; the softmax within each task group is one Softmax over a
  (B, T, largest group) layout whose empty slots hold -1e9 (the role of `Gate.outside`);
- a gate whose weights cannot move (uniform, or every group a single student) is a constant.
Unlike the original, which reads three columns, the selector matmul turns a non-finite value in any
feature into NaN everywhere: the server refuses non-finite inputs, and finite snapshots give finite features.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from export.gate import Mixture

PAD_LOGIT = -1e9
F64 = torch.float64


def _slots(tasks: np.ndarray, n_tasks: int) -> tuple[np.ndarray, int]:
    """Each student's index in the (T, width) layout of the gate's softmax; width = the largest group."""
    width = int(np.bincount(tasks, minlength=n_tasks).max())
    rank = np.array([(tasks[:i] == t).sum() for i, t in enumerate(tasks)], dtype=np.int64)
    return tasks * width + rank, width


def _pairs(tasks: np.ndarray) -> list[tuple[int, int]]:
    n = len(tasks)
    return [(i, j) for i in range(n) for j in range(i + 1, n) if tasks[i] == tasks[j]]


def _selector(mix: Mixture, regime: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(F, C) selector, (C,) bias and (C,) thresholds: x @ sel + bias = [vol + 1, width / 4 + 1, 1] with a
    price scale, then [vol, vol] with a regime; (x @ sel + bias > thresholds) = [0, 0, 0, vol > e0, vol > e1]."""
    cols: list[dict[int, float]] = []
    bias: list[float] = []
    thresholds: list[float] = []
    if mix.price is not None:
        p = mix.price
        cols += [{p.vol_index: 1.0}, {p.ask_index: p.WIDTH_SHARE, p.bid_index: -p.WIDTH_SHARE}, {}]
        bias += [1.0] * 3
        thresholds += [float("inf")] * 3
    if regime:
        edges = mix.gate.edges.double().tolist()
        cols += [{mix.gate.vol_index: 1.0}] * len(edges)
        bias += [0.0] * len(edges)
        thresholds += edges
    sel = torch.zeros(mix.normalizer.mean.numel(), len(cols), dtype=F64)
    for c, weights in enumerate(cols):
        for f, v in weights.items():
            sel[f, c] = v
    return sel, torch.tensor(bias, dtype=F64), torch.tensor(thresholds, dtype=F64)


def _normaliser(mix: Mixture) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """a, b, c with z = clip(x * (a + b / s) + c), or clip(x * a + c) without a price scale (b None)."""
    inv, mean = mix.normalizer.inv_std.double(), mix.normalizer.mean.double()
    if mix.price is None:
        return inv, None, -mean * inv
    price = mix.price.price.double()
    return (1.0 - price) * inv, price * inv, -mean * inv


def _bank(mix: Mixture, proj: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """w1 (F, S*(H+1)), b1, w2 (S, H+1, H+1), head (S, H+1, O). Unit H of each student is a constant 1 that
    carries b2 and b3; head output 0 is the student's prediction in target units, 1.. its Hájek projection."""
    bank = mix.bank
    s, h = bank.cfg.n_students, bank.cfg.hidden
    w1 = torch.zeros(bank.w1.shape[0], s, h + 1, dtype=F64)
    w1[:, :, :h] = bank.w1.detach().double().reshape(-1, s, h)
    b1 = torch.zeros(s, h + 1, dtype=F64)
    b1[:, :h] = bank.b1.detach().double().reshape(s, h)
    b1[:, h] = 1.0
    w2 = torch.zeros(s, h + 1, h + 1, dtype=F64)
    w2[:, :h, :h] = bank.w2.detach().double()
    w2[:, h, :h] = bank.b2.detach().double()
    w2[:, h, h] = 1.0
    std, mean = mix.student_std.double(), mix.student_mean.double()
    head = torch.zeros(s, h + 1, 1 if proj is None else 1 + proj.shape[2], dtype=F64)
    head[:, :h, 0] = bank.w3.detach().double()[:, :, 0] * std[:, None]
    head[:, h, 0] = bank.b3.detach().double()[:, 0] * std + mean
    if proj is not None:
        head[:, :h, 1:] = proj
    return w1.reshape(-1, s * (h + 1)), b1.reshape(-1), w2, head


def _pair_diff(pairs: list[tuple[int, int]], n_students: int) -> torch.Tensor:
    """(P, S): row p is u_i - u_j for pair p = (i, j)."""
    diff = torch.zeros(len(pairs), n_students, dtype=F64)
    for p, (i, j) in enumerate(pairs):
        diff[p, i], diff[p, j] = 1.0, -1.0
    return diff


def _hajek_map(mix: Mixture, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """(P, S): the Hájek logits c / tau as a linear map of the pair kernel values k (B, P)."""
    gate = mix.gate
    inv_others = gate.inv_others.double()
    r = torch.zeros(len(pairs), len(inv_others), dtype=F64)  # r = k @ this
    for p, (i, j) in enumerate(pairs):
        r[p, i], r[p, j] = inv_others[i], inv_others[j]
    centre = torch.eye(len(inv_others), dtype=F64) - gate.group_mean.double()
    return r @ centre * gate.hajek_factor.double() / gate.cfg.temperature


def _logits(mix: Mixture, pairs: list[tuple[int, int]], n_selected: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, S) map and (S,) bias: logits = [k (hajek) or z (softmax), selector > thresholds] @ map + bias."""
    gate = mix.gate
    if gate.cfg.kind == "hajek":
        rows, bias = [_hajek_map(mix, pairs)], gate.bias.detach().double()
    else:
        rows = [gate.linear.weight.detach().double().T]
        bias = gate.bias.detach().double() + gate.linear.bias.detach().double()
    if gate.regime_bias is not None:
        beta = gate.regime_bias.detach().double()
        regime = torch.zeros(n_selected, beta.shape[1], dtype=F64)  # price columns first, then vol > e0, e1
        regime[n_selected - len(beta) + 1 :] = beta[1:] - beta[:-1]
        rows.append(regime)
        bias = bias + beta[0]
    return torch.cat(rows, 0), bias


def _gate_consts(
    mix: Mixture, pairs: list[tuple[int, int]], slots: np.ndarray, width: int, n_selected: int
) -> dict[str, torch.Tensor | None]:
    """The learned gate's constants; logits over the (T, width) slots, the empty ones at PAD_LOGIT."""
    gate = mix.gate
    n_slots = mix.assign.shape[1] * width
    consts = {"slots": None if np.array_equal(slots, np.arange(len(slots))) else torch.as_tensor(slots)}
    if gate.cfg.kind == "hajek":
        consts["pair_diff"] = _pair_diff(pairs, len(slots))
        n_out = gate.proj.shape[2] + 1
        gamma = torch.exp(gate.log_gamma.detach().double())
        per_pair = torch.cat([torch.zeros(1, dtype=F64), -gamma.expand(n_out - 1)])  # column 0 is y: not in u
        consts["kernel_sum"] = torch.kron(torch.eye(len(pairs), dtype=F64), per_pair[:, None])  # (P*O, P)
    dense, bias = _logits(mix, pairs, n_selected)
    consts["logit_map"] = torch.zeros(dense.shape[0], n_slots, dtype=F64)
    consts["logit_bias"] = torch.full((n_slots,), PAD_LOGIT, dtype=F64)
    consts["logit_map"][:, slots], consts["logit_bias"][slots] = dense, bias
    return consts


class ServingMixture(nn.Module):
    """A trained eval-mode Mixture, folded: raw features (B, F) -> one (B,) prediction per task, weights (B, S).

    The same function as `Mixture.forward` (tests/test_serving_graph.py checks it in float64), with each
    task's prediction as its own output so the graph ends without slicing.
    """

    def __init__(self, mix: Mixture):
        super().__init__()
        tasks = mix.assign.argmax(1).numpy()
        gate = mix.gate
        self.n_students, self.hidden, self.n_tasks = len(tasks), mix.bank.cfg.hidden, mix.assign.shape[1]
        self.clip = mix.normalizer.clip
        self.kind = gate.cfg.kind if len(set(tasks.tolist())) < len(tasks) else "uniform"
        self.regime = self.kind != "uniform" and gate.regime_bias is not None
        self.price = mix.price is not None
        slots, self.width = _slots(tasks, self.n_tasks)
        consts: dict[str, torch.Tensor | None] = {}
        select, select_bias, thresholds = _selector(mix, self.regime)
        consts["select"] = None
        if select.shape[1]:
            consts["select"], consts["select_bias"], consts["thresholds"] = select, select_bias, thresholds
        consts["norm_a"], consts["norm_b"], consts["norm_c"] = _normaliser(mix)
        proj = gate.proj.detach().double() if self.kind == "hajek" else None
        consts["w1"], consts["b1"], consts["w2"], consts["head"] = _bank(mix, proj)
        consts["assign"] = mix.assign.double()
        task = mix.price.task.double() if self.price else torch.zeros(self.n_tasks, dtype=F64)
        consts["task_scaled"], consts["task_unscaled"] = task[None, :], 1.0 - task
        if self.kind == "uniform":
            consts["weights"] = 1.0 / gate.same.double().sum(1)
        else:
            consts.update(_gate_consts(mix, _pairs(tasks), slots, self.width, select.shape[1]))
        for name, value in consts.items():  # the mixture's dtype, folded in float64; slot indices stay integer
            floating = value is not None and value.is_floating_point()
            self.register_buffer(name, value.to(mix.bank.w1.dtype) if floating else value)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        selected = None if self.select is None else x @ self.select + self.select_bias  # (B, C)
        if self.price:
            s = selected.amax(1, keepdim=True)  # (B, 1) price scale
            z = x * (self.norm_a + self.norm_b / s) + self.norm_c
        else:
            z = x * self.norm_a + self.norm_c
        z = torch.clamp(z, -self.clip, self.clip)
        h = torch.relu(z @ self.w1 + self.b1).reshape(-1, self.n_students, self.hidden + 1).transpose(0, 1)
        out = (torch.relu(h @ self.w2) @ self.head).transpose(0, 1)  # (B, S, O)
        w = self._weights(z, selected, out)
        preds = (w * out[:, :, 0]) @ self.assign  # (B, T)
        if self.price:
            preds = preds * (s @ self.task_scaled + self.task_unscaled)  # s for the scaled tasks, 1 for the others
        return (*[preds[:, t] for t in range(self.n_tasks)], w)

    def _weights(self, z: torch.Tensor, selected: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor:
        """Gate weights (B, S)."""
        if self.kind == "uniform":
            return self.weights.expand_as(out[:, :, 0])
        if self.kind == "hajek":
            d = self.pair_diff @ out  # (B, P, O): column 0 is y_i - y_j, weighted 0 by kernel_sum
            inputs = torch.exp((d * d).flatten(1) @ self.kernel_sum)  # (B, P) = k
        else:
            inputs = z
        if self.regime:
            inputs = torch.cat([inputs, (selected > self.thresholds).to(z.dtype)], 1)
        logits = inputs @ self.logit_map + self.logit_bias
        w = torch.softmax(logits.reshape(-1, self.n_tasks, self.width), -1).flatten(1)
        return w if self.slots is None else w[:, self.slots]
