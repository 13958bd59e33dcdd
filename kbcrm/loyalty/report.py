"""`kbcrm loyalty report`: one self-contained HTML file (inline SVG plots, no scripts, no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from kbcrm.graph import GraphStore
from kbcrm.loyalty.clv import MODELS
from kbcrm.loyalty.job import load_summary
from kbcrm.loyalty.service import scored_customers, segments
from kbcrm.settings import Settings

W, H, PAD = 560, 260, 44


class ReportError(RuntimeError):
    """Nothing to report (no loyalty run yet)."""


def _svg(body: str, title: str, width: int = W, height: int = H) -> str:
    return (
        f'<figure><svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">{body}</svg>'
        f"<figcaption>{escape(title)}</figcaption></figure>"
    )


def bars(labels: list[str], values: list[float], title: str) -> str:
    """Horizontal bars with their values."""
    height = max(60, 22 * len(labels) + 20)
    top = max(values, default=1) or 1
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 10 + 22 * i
        width = (W - 230) * value / top
        body.append(
            f'<text x="170" y="{y + 13}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="176" y="{y}" width="{width:.1f}" height="16" fill="#3b6ea8"/>'
            f'<text x="{180 + width:.1f}" y="{y + 13}">{value:,.0f}</text>'
        )
    return _svg("".join(body), title, height=height)


def histogram(values: np.ndarray, title: str, *, bins: int = 20, log: bool = True) -> str:
    """Histogram; with `log`, bins are evenly spaced in log10(1 + value)."""
    data = np.log10(1 + np.maximum(values, 0)) if log else values
    counts, edges = np.histogram(data, bins=bins)
    top = counts.max() or 1
    bw = (W - 2 * PAD) / bins
    body = [f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#333"/>']
    for i, c in enumerate(counts):
        h = (H - 2 * PAD) * c / top
        body.append(
            f'<rect x="{PAD + i * bw:.1f}" y="{H - PAD - h:.1f}" width="{bw - 1:.1f}" height="{h:.1f}" fill="#3b6ea8">'
            f"<title>{c} customers</title></rect>"
        )
    for i in range(0, bins + 1, max(1, bins // 5)):
        edge = 10 ** edges[i] - 1 if log else edges[i]
        body.append(f'<text x="{PAD + i * bw:.1f}" y="{H - PAD + 14}" text-anchor="middle">{edge:,.0f}</text>')
    body.append(f'<text x="{PAD}" y="{PAD - 8}">customers (max {top})</text>')
    return _svg("".join(body), title)


def heatmap(matrix: np.ndarray, x_label: str, y_label: str, x_ticks: list[str], y_ticks: list[str], title: str) -> str:
    """Cells coloured from red (0) to green (1), rows bottom-up."""
    rows, cols = matrix.shape
    cw, ch = (W - 2 * PAD) / cols, (H - 2 * PAD) / rows
    body = []
    for r in range(rows):
        for c in range(cols):
            v = float(matrix[r, c])
            colour = f"rgb({int(220 * (1 - v)) + 20},{int(180 * v) + 40},70)"
            body.append(
                f'<rect x="{PAD + c * cw:.1f}" y="{H - PAD - (r + 1) * ch:.1f}" width="{cw + 0.5:.1f}" '
                f'height="{ch + 0.5:.1f}" fill="{colour}"><title>{v:.2f}</title></rect>'
            )
    for c in range(0, cols, max(1, cols // 6)):
        body.append(
            f'<text x="{PAD + (c + 0.5) * cw:.1f}" y="{H - PAD + 14}" text-anchor="middle">{escape(x_ticks[c])}</text>'
        )
    for r in range(0, rows, max(1, rows // 6)):
        body.append(
            f'<text x="{PAD - 4}" y="{H - PAD - (r + 0.3) * ch:.1f}" text-anchor="end">{escape(y_ticks[r])}</text>'
        )
    body.append(f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{escape(x_label)}</text>')
    body.append(
        f'<text x="12" y="{H / 2}" transform="rotate(-90 12 {H / 2})" text-anchor="middle">{escape(y_label)}</text>'
    )
    return _svg("".join(body), title)


def calibration(points: list[tuple[float, float, int]], title: str) -> str:
    """Predicted (x) against observed (y) churn per bin, with the diagonal."""
    size = H - 2 * PAD
    body = [
        f'<rect x="{PAD}" y="{PAD}" width="{size}" height="{size}" fill="none" stroke="#333"/>',
        f'<line x1="{PAD}" y1="{PAD + size}" x2="{PAD + size}" y2="{PAD}" stroke="#999" stroke-dasharray="4"/>',
    ]
    total = sum(n for _, _, n in points) or 1
    for predicted, observed, n in points:
        radius = 3 + 12 * (n / total) ** 0.5
        body.append(
            f'<circle cx="{PAD + predicted * size:.1f}" cy="{PAD + (1 - observed) * size:.1f}" r="{radius:.1f}" '
            f'fill="#3b6ea8" fill-opacity="0.7"><title>predicted {predicted:.2f}, observed {observed:.2f}, '
            f"{n} customers</title></circle>"
        )
    body.append(f'<text x="{PAD + size / 2}" y="{H - 8}" text-anchor="middle">predicted churn probability</text>')
    body.append(f'<text x="{PAD + size + 10}" y="{PAD + 10}">observed churn rate per bin (dot area = customers)</text>')
    return _svg("".join(body), title)


def _p_alive_grid(purchases: dict[str, Any], age: float) -> tuple[np.ndarray, list[str], list[str]]:
    model = MODELS[purchases["model"]]
    params = np.array(list(purchases["params"].values()))
    recency = np.linspace(0, age, 25)
    frequency = np.arange(0, 21)
    x, t = np.meshgrid(frequency.astype(float), recency)
    grid = model.p_alive(params, x.ravel(), t.ravel(), np.full(x.size, age)).reshape(x.shape).T
    return grid, [f"{r:.0f}" for r in recency], [str(f) for f in frequency]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build_report(store: GraphStore, settings: Settings) -> str:
    """The report's HTML."""
    summary = load_summary(settings)
    customers = list(scored_customers(store))
    if summary is None or not customers:
        raise ReportError("no loyalty scores in the graph yet: run `kbcrm loyalty run` first")
    buyers = [c for c in customers if c["tier"] != "prospect"]
    clv = np.array([c["clv"] or 0.0 for c in buyers])
    parts = [
        f"<h1>KBCRM loyalty report</h1><p>Scores as of <b>{escape(summary['as_of'])}</b>, model "
        f"<code>{escape(summary['model_version'])}</code>; {summary['customers']} customers, {summary['buyers']} with "
        f"orders. Generated {datetime.now(UTC).isoformat(timespec='seconds')}.</p>"
    ]
    if summary.get("purchases"):
        rows = []
        for fit in (summary["purchases"], summary.get("spend")):
            if fit:
                for name, value in fit["params"].items():
                    rows.append(
                        [
                            fit["model"],
                            name,
                            f"{value:.4f}",
                            f"{fit['standard_errors'][name]:.4f}",
                            f"{fit['log_likelihood']:.1f}",
                        ]
                    )
        parts.append(
            "<h2>CLV models</h2>" + _table(["model", "parameter", "estimate", "std. error", "log-likelihood"], rows)
        )
        parts.append(
            histogram(clv, f"{settings.clv_horizon_months}-month CLV of {len(buyers)} buyers (log-spaced bins)")
        )
        age = float(summary.get("median_age_weeks") or 52.0)
        grid, r_ticks, f_ticks = _p_alive_grid(summary["purchases"], age)
        parts.append(
            heatmap(
                grid,
                "weeks from first to last purchase (recency)",
                "repeat purchases (frequency)",
                r_ticks,
                f_ticks,
                f"P(alive) by recency and frequency, customer age {age:.0f} weeks ({summary['purchases']['model']})",
            )
        )
    tiers = summary.get("tiers", {})
    parts.append(
        "<h2>Tiers and segments</h2>"
        + bars(list(tiers), [float(v) for v in tiers.values()], "customers per loyalty tier")
    )
    cluster_segments = [s for s in segments(store) if s["kind"] == "cluster"]
    if cluster_segments:
        parts.append(
            bars(
                [s["name"] for s in cluster_segments],
                [float(s["size"]) for s in cluster_segments],
                "segment sizes (k-means)",
            )
        )
        parts.append(
            _table(
                ["segment", "description", "rule"], [[s["name"], s["description"], s["rule"]] for s in cluster_segments]
            )
        )
    rfm_counts = summary.get("rfm", {})
    if rfm_counts:
        parts.append(bars(list(rfm_counts), [float(v) for v in rfm_counts.values()], "customers per RFM segment"))
    churn = summary.get("churn")
    if churn:
        parts.append(
            f"<h2>Churn warning</h2><p>Logistic model <code>{escape(churn['version'])}</code> trained as of "
            f"{escape(churn['trained_as_of'])} on {churn['training_customers']} customers: churned = no order within "
            f"{churn['horizon_days']} days. Out-of-fold AUC {churn['auc_out_of_fold']:.3f}, expected calibration error "
            f"{churn['calibration_error']:.3f}.</p>"
        )
        parts.append(calibration([tuple(p) for p in churn["reliability"]], "churn calibration (out of fold)"))
        at_risk = sorted(
            (c for c in buyers if c["churn_risk"] is not None and c["tier"] in ("at-risk", "vip", "loyal", "regular")),
            key=lambda c: -c["churn_risk"],
        )[:25]
        parts.append(
            "<h3>Highest churn risk among customers still likely active</h3>"
            + _table(
                ["customer", "tier", "churn risk", "12-month CLV", "P(alive)", "reasons"],
                [
                    [
                        f"{c['name']} ({c['id']})",
                        c["tier"],
                        f"{c['churn_risk']:.2f}",
                        f"{c['clv']:,.0f}",
                        f"{c['p_alive']:.2f}",
                        "; ".join(c["churn_reasons"] or []),
                    ]
                    for c in at_risk
                ],
            )
        )
    vip = sorted((c for c in buyers if c["tier"] == "vip"), key=lambda c: -(c["loyalty_score"] or 0))[:25]
    parts.append(
        "<h2>VIP customers</h2>"
        + _table(
            ["customer", "loyalty score", "reasons"],
            [
                [f"{c['name']} ({c['id']})", f"{c['loyalty_score']:.3f}", "; ".join(c["loyalty_reasons"] or [])]
                for c in vip
            ],
        )
    )
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;"
        "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}"
        "figure{margin:1em 0}figcaption{font-size:13px;color:#555}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>KBCRM loyalty report {escape(summary['as_of'])}"
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


def write_report(store: GraphStore, settings: Settings, out: Path) -> Path:
    """Write the report to `out`; returns the path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(store, settings), encoding="utf-8")
    return out
