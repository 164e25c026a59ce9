"""A small pandas pipeline: daily sales for a number of days and their total."""

import pandas as pd


def daily_sales(days: int) -> pd.DataFrame:
    """Sales per day, deterministic so results can be compared."""
    dates = pd.date_range("2026-01-01", periods=days, freq="D")
    return pd.DataFrame({"date": dates, "units": [(i * 7) % 11 + 1 for i in range(days)]})


def total(daily_sales: pd.DataFrame) -> int:
    """All units sold."""
    return int(daily_sales["units"].sum())
