"""Read a server's Prometheus counters: the error rate of a server that logs nothing.

The prediction log keeps failed requests beside answered ones, so windows have their own error
rate; this reads the server's counters instead (``modelcycle_request_errors_total`` beside
``modelcycle_requests_total``), for an ``error_rate`` rule with ``metrics_url`` when no window
has one (the server runs with ``--no-log``). The exposition is parsed with
``prometheus_client``'s own parser.
"""

from __future__ import annotations

from modelcycle.errors import DataError, StoreUnavailableError

__all__ = ["error_rate", "scrape"]


def scrape(url: str, timeout: float = 5.0) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample on ``url``: sample name -> {sorted label pairs: value}."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise StoreUnavailableError(f"cannot read metrics from {url}: {exc}") from None
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    try:
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                samples.setdefault(sample.name, {})[labels] = float(sample.value)
    except ValueError as exc:
        raise DataError(f"{url}: not a Prometheus text exposition: {exc}") from None
    return samples


def _total(samples: dict[tuple[tuple[str, str], ...], float], model: str) -> float:
    return sum(value for labels, value in samples.items() if ("model", model) in labels)


def error_rate(url: str, model: str) -> tuple[float | None, float, float]:
    """``(errors / (errors + answers), errors, answers)`` of ``model`` since the server
    started (rate None before any request)."""
    samples = scrape(url)
    errors = _total(samples.get("modelcycle_request_errors_total", {}), model)
    answered = _total(samples.get("modelcycle_requests_total", {}), model)
    total = errors + answered
    return (errors / total if total else None), errors, answered
