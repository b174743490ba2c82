"""Mixtures over every part at once: the parts, their bounds, points sampled on the simplex,
and a mixture as a trial's config fields.

    parts = parse_parts("text/encyclopedic,text/news,web_code,markup")
    bounds = parse_bounds("web_code:0-0.5", parts)                   # others [0, 1]
    swarm = dirichlet_swarm(prior, 48, bounds, concentration=4.0, seed=0)   # (48, 4), rows sum to 1
    fields = to_fields(dict(zip(parts, swarm[0])))   # code_ratio, code_mix, synthetic_share, text_mix

A part is a family (`text`, `web_code`, `markup`, `code_adjacent`, `synthetic`) or a text
tier (`text/encyclopedic`, ...). The parts named are the whole mixture: a family or tier not
named gets no tokens. The swarm is RegMix's and Olmix's: Dirichlet draws around a prior
mixture (the parts' natural shares by default), `concentration` times the prior as the
Dirichlet's parameters (small: spread over the simplex; large: close to the prior), kept
when inside the bounds.
"""

from __future__ import annotations

import numpy as np

from trainers.data.english import TIERS
from trainers.data.sources import CODE_FAMILIES

PARTS = ("text", *(f"text/{t}" for t in TIERS), *CODE_FAMILIES)


def parse_parts(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    for p in parts:
        if p not in PARTS:
            raise ValueError(f"unknown part {p!r}; parts: {', '.join(PARTS)}")
    if len(set(parts)) != len(parts):
        raise ValueError(f"--parts names a part twice: {text}")
    if "text" in parts and any(p.startswith("text/") for p in parts):
        raise ValueError("--parts: name the text family or its tiers, not both")
    if len(parts) < 2:
        raise ValueError(f"--parts needs at least two parts to mix, got {text!r}")
    return parts


def parse_bounds(text: str, parts: tuple[str, ...]) -> np.ndarray:
    """'web_code:0-0.5,markup:0.05-0.3' -> (len(parts), 2) lower and upper shares; [0, 1] unless named.
    Refused when no mixture fits them."""
    bounds = np.array([[0.0, 1.0]] * len(parts))
    for item in filter(None, (b.strip() for b in text.split(","))):
        part, _, span = item.partition(":")
        low, _, high = span.partition("-")
        if part not in parts:
            raise ValueError(f"--bounds names {part!r}, which is not among --parts ({', '.join(parts)})")
        try:
            lo, hi = float(low), float(high)
        except ValueError:
            raise ValueError(f"--bounds entry {item!r} is not PART:LOW-HIGH") from None
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"--bounds {item}: need 0 <= low <= high <= 1")
        bounds[parts.index(part)] = lo, hi
    if bounds[:, 0].sum() > 1 + 1e-9 or bounds[:, 1].sum() < 1 - 1e-9:
        raise ValueError(f"--bounds leave no feasible mixture: the lows add up to {bounds[:, 0].sum():g} and the "
                         f"highs to {bounds[:, 1].sum():g} (shares must add up to 1)")
    return bounds


def inside(points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    return np.all((points >= bounds[:, 0] - 1e-12) & (points <= bounds[:, 1] + 1e-12), axis=-1)


def dirichlet_swarm(prior: np.ndarray, n: int, bounds: np.ndarray, concentration: float, seed: int,
                    max_draws: int = 2_000_000, allowed=None) -> np.ndarray:
    """n mixtures drawn from Dirichlet(concentration x prior) within the bounds (and those
    `allowed` keeps, e.g. an epoch limit), in draw order."""
    prior = np.asarray(prior, dtype=float)
    if not inside(prior, bounds):
        raise ValueError("the prior mixture (" + ", ".join(f"{p:.3f}" for p in prior) + ") is outside --bounds")
    alpha = concentration * np.maximum(prior, 1e-3)
    rng = np.random.default_rng(seed)
    kept, drawn = [], 0
    while sum(len(k) for k in kept) < n:
        batch = rng.dirichlet(alpha, size=max(1024, 4 * n))
        drawn += len(batch)
        batch = batch[inside(batch, bounds)]
        kept.append(batch[allowed(batch)] if allowed is not None and len(batch) else batch)
        if drawn > max_draws:
            raise ValueError(f"--bounds keep too few Dirichlet draws around the prior (concentration {concentration:g}):"
                             " widen them or lower --concentration")
    return np.concatenate(kept)[:n]


def from_unit(u, bounds: np.ndarray) -> np.ndarray:
    """A point of the unit cube as a mixture inside the bounds, so Optuna's box covers the
    simplex evenly: -log(1 - u) normalised is Dirichlet(1), uniform on the simplex, when u is
    uniform; placed above the lows, then any share over its high is capped and the excess
    shared among the others in proportion to their room below their highs (which always
    holds it: the highs add up to at least 1)."""
    u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0 - 1e-12)  # one point, or one a row
    e = -np.log1p(-u) + 1e-12
    lo, hi = bounds[:, 0], bounds[:, 1]
    x = lo + (1.0 - lo.sum()) * e / e.sum(axis=-1, keepdims=True)
    over = x > hi
    excess = np.where(over, x - hi, 0.0).sum(axis=-1, keepdims=True)
    x = np.where(over, hi, x)
    room = np.where(over, 0.0, hi - x)
    total = room.sum(axis=-1, keepdims=True)
    return x + excess * room / np.where(total > 0, total, 1.0)


def epoch_bounds(bounds: np.ndarray, tokens: int, sizes: np.ndarray, max_epochs: float) -> np.ndarray:
    """The bounds tightened so no part is read more than `max_epochs` times at `tokens` (its
    share at most max_epochs x its training tokens / tokens)."""
    out = bounds.copy()
    out[:, 1] = np.minimum(out[:, 1], max_epochs * np.asarray(sizes, dtype=float) / tokens)
    return out


def uniform_in_bounds(n: int, bounds: np.ndarray, seed: int) -> np.ndarray:
    """About n mixtures spread evenly over the feasible part of the simplex (Dirichlet(1))."""
    rng = np.random.default_rng(seed)
    points = rng.dirichlet(np.ones(len(bounds)), size=n)
    return points[inside(points, bounds)]


def to_fields(mixture: dict[str, float]) -> dict:
    """A mixture over parts as the trial config's fields: code_ratio, code_mix (web/markup/
    code-adjacent shares of the non-synthetic code), synthetic_share (of the code) and
    text_mix (tiers' shares of the text)."""
    shares = {p: max(0.0, float(s)) for p, s in mixture.items()}
    total = sum(shares.values())
    shares = {p: s / total for p, s in shares.items()}
    code = sum(shares.get(f, 0.0) for f in CODE_FAMILIES)
    synthetic = shares.get("synthetic", 0.0)
    plain = {f: shares.get(f, 0.0) for f in CODE_FAMILIES if f != "synthetic"}
    fields = {"code_ratio": round(code, 6), "synthetic_share": round(synthetic / code, 6) if code > 0 else 0.0}
    if sum(plain.values()) > 0:
        fields["code_mix"] = _shares_text({f: s / sum(plain.values()) for f, s in plain.items()})
    tiers = {t: shares.get(f"text/{t}", 0.0) for t in TIERS}
    text = sum(tiers.values())
    fields["text_mix"] = _shares_text({t: s / text for t, s in tiers.items()}) if text > 0 else ""
    return fields


def _shares_text(shares: dict[str, float]) -> str:
    """Shares written with 6 decimals, the largest absorbing the rounding, so they add up to 1
    (the last could be a zero share pushed below zero)."""
    names = list(shares)
    values = [round(shares[n], 6) for n in names]
    big = max(range(len(values)), key=values.__getitem__)
    values[big] = round(1.0 - sum(v for i, v in enumerate(values) if i != big), 6)
    return ",".join(f"{n}:{v:g}" for n, v in zip(names, values, strict=True))


SHORT = {"text/encyclopedic": "enc", "text/news": "news", "text/speeches": "speech", "text/literature": "lit",
         "text": "text", "web_code": "web", "markup": "mark", "code_adjacent": "adj", "synthetic": "syn"}


def label(mixture: dict[str, float]) -> str:
    """A compact name that is the mixture: each part's short name and percent to a tenth,
    `enc40.2-news10-web30.1-mark19.7` (a trial's and its child run's name; `parse_label`
    reads it back)."""
    return "-".join(f"{SHORT[p]}{round(100 * s, 1):g}" for p, s in mixture.items())


def parse_label(text: str) -> dict[str, float]:
    """`enc40.2-news10-...` -> {part: share}, normalised to add up to 1."""
    parts = {short: part for part, short in SHORT.items()}
    out = {}
    for item in text.split("-"):
        short = item.rstrip("0123456789.")
        out[parts[short]] = float(item[len(short):]) / 100
    total = sum(out.values())
    return {p: s / total for p, s in out.items()}
