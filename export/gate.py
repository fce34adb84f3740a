"""Mixing the students of each task: the Hájek-MoE gate and its ablations.

For a sample, let G be the students of one task (m = |G|) and z_s their latents (H dims each).
    u_s   = z_s P_s                                  a learned projection into a common space (D dims)
    k_ij  = exp(-gamma ||u_i - u_j||^2)              RBF kernel, gamma learned
    U     = C(m, 2)^-1 sum_{i<j} k_ij                the U-statistic of pairwise similarity in G
    r_s   = (m - 1)^-1 sum_{j != s} k_sj             (so that U = mean_s r_s)
    c_s   = (2 / m) (r_s - U)                        the Hájek projection: student s's contribution to U
    w_s   = softmax_{s in G}((c_s / tau) + b_s + beta[regime, s])
The regime term is optional; the regime is computed in the graph from the raw `realized_vol`
feature and the table's two edges, exactly as `lob.targets.regimes` does.

Ablations from the same code: `uniform` (w_s = 1/m) and `softmax` (logits from a linear map of
the normalised features, plus the same biases).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from export.students import Normalizer, PriceScale, StudentBank, TaskScale

GATE_KINDS = ("hajek", "softmax", "uniform")
N_REGIMES = 3


@dataclass(frozen=True)
class GateConfig:
    kind: str = "hajek"
    proj_dims: int = 16  # D: the common space of the Hájek kernel
    temperature: float = 0.05  # tau
    use_regime: bool = True

    def __post_init__(self) -> None:
        if self.kind not in GATE_KINDS:
            raise ValueError(f"GateConfig.kind must be one of {GATE_KINDS}, got {self.kind!r}")
        if self.proj_dims < 1:
            raise ValueError(f"GateConfig.proj_dims must be >= 1, got {self.proj_dims}")
        if not self.temperature > 0:
            raise ValueError(f"GateConfig.temperature must be > 0, got {self.temperature}")


def group_matrices(tasks: list[int]) -> dict[str, np.ndarray]:
    """Constant (S, S) matrices describing which students share a task."""
    t = np.asarray(tasks)
    same = (t[:, None] == t[None, :]).astype(np.float32)
    size = same.sum(1)
    return {
        "same": same,
        "pairs": same - np.eye(len(t), dtype=np.float32),
        "inv_others": (1.0 / np.maximum(size - 1, 1)).astype(np.float32),
        "group_mean": same / size[:, None],
        "hajek_factor": np.where(size > 1, 2.0 / size, 0.0).astype(np.float32),
        "outside": (1.0 - same) * np.float32(-1e9),
    }


class Gate(nn.Module):
    def __init__(
        self,
        cfg: GateConfig,
        tasks: list[int],
        hidden: int,
        n_features: int,
        edges: np.ndarray,
        vol_index: int,
        seed: int = 0,
    ):
        super().__init__()
        self.cfg = cfg
        s = len(tasks)
        for name, value in group_matrices(tasks).items():
            self.register_buffer(name, torch.as_tensor(value))
        self.register_buffer("edges", torch.as_tensor(np.asarray(edges, np.float32)))
        self.vol_index = int(vol_index)
        gen = torch.Generator().manual_seed(seed)
        learned = cfg.kind != "uniform"
        self.bias = nn.Parameter(torch.zeros(s)) if learned else None
        self.regime_bias = nn.Parameter(torch.zeros(N_REGIMES, s)) if learned and cfg.use_regime else None
        self.proj = self.log_gamma = self.linear = None
        if cfg.kind == "hajek":
            self.proj = nn.Parameter(torch.randn(s, hidden, cfg.proj_dims, generator=gen) / hidden**0.5)
            self.log_gamma = nn.Parameter(torch.tensor(-2.0))
        elif cfg.kind == "softmax":
            self.linear = nn.Linear(n_features, s)

    def regime_onehot(self, x_raw: torch.Tensor) -> torch.Tensor:
        """(B, F) raw features -> (B, 3) one-hot regime: 0 if vol <= e0, 1 if <= e1, else 2."""
        above = self.above_edges(x_raw)
        return torch.cat([1.0 - above[:, :1], above[:, :1] - above[:, 1:], above[:, 1:]], dim=1)

    def above_edges(self, x_raw: torch.Tensor) -> torch.Tensor:
        """(B, 2): [vol > e0, vol > e1] as floats; their sum is the regime index."""
        vol = x_raw[:, self.vol_index : self.vol_index + 1]  # (B, 1)
        return (vol > self.edges).to(x_raw.dtype)

    def contributions(self, latent: torch.Tensor) -> torch.Tensor:
        """Latents (S, B, H) -> Hájek projections c_s (B, S) of the kernel U-statistic in each task group."""
        u = (latent @ self.proj).transpose(0, 1)  # (B, S, D)
        sq = (u * u).sum(-1)  # (B, S)
        d2 = torch.clamp(sq.unsqueeze(2) + sq.unsqueeze(1) - 2.0 * (u @ u.transpose(1, 2)), min=0.0)  # (B, S, S)
        k = torch.exp(-torch.exp(self.log_gamma) * d2)
        r = (k * self.pairs).sum(-1) * self.inv_others  # (B, S)
        return self.hajek_factor * (r - r @ self.group_mean)

    def forward(self, x_raw: torch.Tensor, x_norm: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """Mixing weights (B, S); they sum to 1 over the students of each task."""
        if self.cfg.kind == "uniform":
            return 1.0 / self.same.sum(1) + torch.zeros_like(x_raw[:, :1])  # (B, S): 1/m
        if self.cfg.kind == "hajek":
            logits = self.contributions(latent) / self.cfg.temperature + self.bias
        else:
            logits = self.linear(x_norm) + self.bias
        if self.regime_bias is not None:
            # onehot(regime) @ beta, written as beta[0] + above_edges @ diff(beta): fewer nodes in the graph
            logits = logits + self.above_edges(x_raw) @ (self.regime_bias[1:] - self.regime_bias[:-1])
            logits = logits + self.regime_bias[0]
        top = (logits.unsqueeze(1) + self.outside).amax(-1)  # (B, S): max over the student's task group
        e = torch.exp(logits - top)
        return e / (e @ self.same)


class Mixture(nn.Module):
    """Students + gate: raw features (B, F) -> task predictions (B, T) in target units, weights (B, S).

    With a `price` scale the students see scale-free features and predict the scaled tasks in units
    of the per-row price scale; the mixture is multiplied back (mixing is linear, so once suffices).
    """

    def __init__(
        self,
        normalizer: Normalizer,
        bank: StudentBank,
        gate: Gate,
        scale: TaskScale,
        tasks: list[int],
        n_tasks: int,
        price: PriceScale | None = None,
    ):
        super().__init__()
        missing = sorted(set(range(n_tasks)) - set(tasks))
        if missing:
            raise ValueError(f"no student predicts task(s) {missing}: every task needs at least one student")
        self.normalizer, self.bank, self.gate, self.scale, self.price = normalizer, bank, gate, scale, price
        assign = np.zeros((len(tasks), n_tasks), np.float32)
        assign[np.arange(len(tasks)), tasks] = 1.0
        self.register_buffer("assign", torch.as_tensor(assign))  # (S, T)
        self.register_buffer("student_mean", scale.mean[tasks].clone())
        self.register_buffer("student_std", scale.std[tasks].clone())

    def standardized(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Standardised mixture (B, T), weights (B, S), student outputs (B, S), latents (S, B, H)."""
        xn = self.normalizer(self.scale_free(x))
        out, latent = self.bank(xn)
        w = self.gate(x, xn, latent)
        return (w * out[..., 0]) @ self.assign, w, out[..., 0], latent

    def scale_free(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.price is None else self.price.features(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xn = self.normalizer(self.scale_free(x))
        out, latent = self.bank(xn)
        w = self.gate(x, xn, latent)
        y = out[..., 0] * self.student_std + self.student_mean  # (B, S) each student in its task's units
        y = (w * y) @ self.assign
        return (y if self.price is None else y * self.price.factor(x)), w
