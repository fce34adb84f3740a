"""Student networks: small MLPs on the raw `lob/` feature vector, several evaluated as one bank.

A bank holds S same-shaped students and runs them together, so the exported graph is a few
batched matmuls instead of S small subgraphs:

    x (B, F) -> normalise -> (B, S*H) = x W1 -> relu -> (S, B, H) @ W2 (S, H, H) -> relu = latent (S, B, H)
    latent -> (B, S, O) = latent @ W3 (S, H, O)      (O = 1 for a CMM student, 3 for an all-task student)
Latents are student-major (S, B, H) so each matmul is one batched matmul over students (a
(B, S, 1, H) @ (S, H, H) broadcast would copy the weights B times).

The adapter (latent -> teacher PCA space) is used only by the feature-matching loss; it is not
part of `forward`, so the exported graph is a pure function of the features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

MAX_STUDENT_PARAMS = 100_000
MAX_TOTAL_PARAMS = 500_000


@dataclass(frozen=True)
class BankConfig:
    n_features: int
    n_students: int = 1
    hidden: int = 64
    n_outputs: int = 1  # outputs per student
    adapter_dims: int = 32  # teacher PCA dims the adapter maps to; 0: no adapter

    def __post_init__(self) -> None:
        for name in ("n_features", "n_students", "hidden", "n_outputs"):
            if getattr(self, name) < 1:
                raise ValueError(f"BankConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.adapter_dims < 0:
            raise ValueError(f"BankConfig.adapter_dims must be >= 0, got {self.adapter_dims}")
        if self.params_per_student > MAX_STUDENT_PARAMS:
            raise ValueError(
                f"BankConfig: {self.params_per_student} parameters per student exceeds {MAX_STUDENT_PARAMS} "
                f"(hidden={self.hidden}, n_features={self.n_features})"
            )
        if self.params_per_student * self.n_students > MAX_TOTAL_PARAMS:
            raise ValueError(f"BankConfig: {self.n_students} students exceed {MAX_TOTAL_PARAMS} parameters in all")

    @property
    def params_per_student(self) -> int:
        """Parameters of one student in the served graph (the training-only adapter excluded)."""
        f, h, o = self.n_features, self.hidden, self.n_outputs
        return f * h + h + h * h + h + h * o + o


def hidden_for_params(n_features: int, n_outputs: int, params: int) -> int:
    """The largest hidden width whose single student has at most `params` parameters."""
    # h^2 + (f + 2 + o) h + o - params = 0
    b = n_features + 2 + n_outputs
    return max(1, int((-b + math.sqrt(b * b + 4 * (params - n_outputs))) / 2))


class Normalizer(nn.Module):
    """(x - mean) / std from training rows, clipped so a wild input cannot blow up the students."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, clip: float = 8.0):
        super().__init__()
        std = np.where(np.asarray(std) > 1e-6, std, 1.0)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("inv_std", torch.as_tensor(1.0 / std, dtype=torch.float32))
        self.clip = float(clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp((x - self.mean) * self.inv_std, -self.clip, self.clip)


class StudentBank(nn.Module):
    def __init__(self, cfg: BankConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        s, f, h, o = cfg.n_students, cfg.n_features, cfg.hidden, cfg.n_outputs
        gen = torch.Generator().manual_seed(seed)

        def init(*shape: int, fan_in: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape, generator=gen) * math.sqrt(2.0 / fan_in))

        self.w1 = init(f, s * h, fan_in=f)
        self.b1 = nn.Parameter(torch.zeros(s * h))
        self.w2 = init(s, h, h, fan_in=h)
        self.b2 = nn.Parameter(torch.zeros(s, h))
        self.w3 = nn.Parameter(init(s, h, o, fan_in=h).detach() * 0.1)
        self.b3 = nn.Parameter(torch.zeros(s, o))
        self.adapter = init(s, h, cfg.adapter_dims, fan_in=h) if cfg.adapter_dims else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised features (B, F) -> outputs (B, S, O) and latents (S, B, H)."""
        s, h = self.cfg.n_students, self.cfg.hidden
        z = torch.relu(x @ self.w1 + self.b1).reshape(-1, s, h).transpose(0, 1)  # (S, B, H)
        latent = torch.relu(z @ self.w2 + self.b2.unsqueeze(1))  # (S, B, H)
        out = (latent @ self.w3 + self.b3.unsqueeze(1)).transpose(0, 1)  # (B, S, O)
        return out, latent

    def adapt(self, latent: torch.Tensor) -> torch.Tensor:
        """Latents (S, B, H) -> each student's guess of its teacher slice (B, S, adapter_dims)."""
        if self.adapter is None:
            raise ValueError("this bank has no adapter (adapter_dims=0)")
        return (latent @ self.adapter).transpose(0, 1)


class PriceScale(nn.Module):
    """Makes a model scale-free across instruments whose tick sizes differ ~1000x.

    Per row, s = 1 + max(realized_vol, book width / 4), in ticks: the volatility is the price scale of
    an active book, and the width of the book (deepest ask - deepest bid) is a floor that still knows
    the instrument when the window had no move (75% of Bitstamp rows, 9% of Binance spot BTCUSDT).
    The price-like features (`price_index`) are divided by s before standardisation, and the scaled
    tasks are predicted in units of s and multiplied back: `features(x)` and `factor(x)`.
    """

    WIDTH_SHARE = 0.25  # measured: balances the scaled targets across the five captures best

    def __init__(
        self,
        n_features: int,
        price_index: list[int],
        vol_index: int,
        width_index: tuple[int, int],
        n_tasks: int,
        scaled_tasks: list[int],
    ):
        super().__init__()
        used = [*price_index, vol_index, *width_index]
        if any(not 0 <= i < n_features for i in used):
            raise ValueError(f"PriceScale: feature index outside 0..{n_features - 1}: {used}")
        if any(not 0 <= t < n_tasks for t in scaled_tasks):
            raise ValueError(f"PriceScale: scaled task outside 0..{n_tasks - 1}: {scaled_tasks}")
        price = torch.zeros(n_features)
        price[list(price_index)] = 1.0
        task = torch.zeros(n_tasks)
        task[list(scaled_tasks)] = 1.0
        self.register_buffer("price", price)
        self.register_buffer("task", task)
        self.vol_index = int(vol_index)
        self.bid_index, self.ask_index = (int(i) for i in width_index)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F) raw features -> (B, 1) price scale s >= 1 (negative volatility or width count as 0)."""
        vol = x[:, self.vol_index : self.vol_index + 1]
        width = x[:, self.ask_index : self.ask_index + 1] - x[:, self.bid_index : self.bid_index + 1]
        return 1.0 + torch.clamp(torch.maximum(vol, width * self.WIDTH_SHARE), min=0.0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features with the price-like columns divided by s."""
        return x * (1.0 - self.price + self.price / self.scale(x))

    def factor(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T): s for the scaled tasks, 1 for the others; target = factor * model output."""
        return 1.0 + self.task * (self.scale(x) - 1.0)


class TaskScale(nn.Module):
    """Standardised outputs -> target units: y = z * std + mean, per output column."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean


class SingleStudent(nn.Module):
    """One network predicting every task: the label-only and single-distilled baselines.

    forward: raw features (B, F) -> predictions (B, T) in target units. With a `price` scale, the
    standardised outputs are in units of the per-row price scale (see PriceScale).
    """

    def __init__(self, normalizer: Normalizer, bank: StudentBank, scale: TaskScale, price: PriceScale | None = None):
        super().__init__()
        if bank.cfg.n_students != 1:
            raise ValueError(f"a single student needs a bank of 1, got {bank.cfg.n_students}")
        self.normalizer, self.bank, self.scale, self.price = normalizer, bank, scale, price

    def standardized(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, latent = self.bank(self.normalizer(x if self.price is None else self.price.features(x)))
        return out[:, 0], latent  # (B, T), (B, 1, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.scale(self.standardized(x)[0])
        return y if self.price is None else y * self.price.factor(x)


@dataclass(frozen=True)
class Slice:
    """What one CMM student learns: a task, a regime (None: all rows) and a teacher layer group."""

    task: int  # index into lob.targets.TASKS
    regime: int | None  # index into lob.targets.REGIMES
    layers: tuple[int, int]  # inclusive

    def __post_init__(self) -> None:
        if self.task < 0 or (self.regime is not None and self.regime < 0):
            raise ValueError(f"Slice: negative task or regime in {self}")
        lo, hi = self.layers
        if not 0 <= lo <= hi:
            raise ValueError(f"Slice: layers must satisfy 0 <= lo <= hi, got {self.layers}")
