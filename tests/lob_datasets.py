"""Real datasets prepared once per test session (each read costs seconds), shared by the reader and CLI tests."""

from functools import cache

from lob.binance import read_binance
from lob.bitstamp import read_bitstamp
from lob.dataset import Dataset
from tests.conftest import require_binance

SPOT_BTC = ("spot_btcusdt_20240808.gz", "spot_btcusdt_20240809.gz")
SPOT_ETH = ("spot_ethusdt_20240808.gz", "spot_ethusdt_20240809.gz")
USDM_BTC = ("usdm_btcusdt_20240808.gz",)
USDM_ETH = ("usdm_ethusdt_20240808.gz",)


@cache
def bitstamp() -> Dataset:
    return read_bitstamp()


def binance(names: tuple[str, ...]) -> Dataset:
    """The chain of shared captures `names`, skipping the test when ../shared is absent."""
    return _binance(tuple(require_binance(n) for n in names))


@cache
def _binance(paths: tuple) -> Dataset:
    return read_binance(list(paths))
