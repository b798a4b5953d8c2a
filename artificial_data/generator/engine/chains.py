"""Date chains from one anchor and released durations (DESIGN §8, issue 13).

A date chain (APC ``ELECDATE <= ADMIDATE <= EPISTART <= EPIEND <= DISDATE``, OP ``REQDATE <=
APPTDATE``) is not drawn field by field and then sorted, which would give every date and every
duration a wrong distribution. Instead, per row:

1. the **anchor** is drawn from its own released distribution. The anchor is the member whose
   released dates lie inside the financial year most often (APC: EPISTART, OP: APPTDATE):
   the date that defines the year, from which the others are offsets;
2. each **duration** of the chain (``spec.durations`` whose two dates are members; fields
   with the same two dates, such as SPELDUR and SPELDUR_CALC, share one draw) is drawn from
   its own released distribution, null share included. A duration nested inside another (EPIDUR
   inside SPELDUR: an episode lies within its spell) uses the same two uniforms as the
   outer one, one for being null and one for the value (a monotone coupling), so nulls are
   nested (no discharge date for an unfinished episode) and the inner value is at most the
   outer one, while each keeps its own distribution exactly. Durations that are not nested
   (ELECDUR, SPELDUR) are independent;
3. the other dates are **placed** from the anchor by the durations. Where a duration spans
   dates that are already placed (SPELDUR around EPISTART..EPIEND), the slack goes before them:
   the episode starts ``SPELDUR - EPIDUR`` days after admission and ends on the discharge day,
   as the last episode of a spell does. A date no duration reaches (ADMIDATE when SPELDUR is
   null) sits on its nearest placed neighbour (a gap of 0 days);
4. where a duration is null, its date away from the anchor is **not a real date**: null or
   a HES placeholder (1800-01-01, 1801-01-01) in that date's released proportions;
5. a row whose placed dates are not all among the released dates of the chain (a date beyond
   the released range, or a rare day that suppression removed) gets a new anchor, up to
   ``REDRAWS`` times (its durations are kept: they follow their distributions exactly, while
   the anchor, a date with hundreds of values, barely moves); the few rows left get every
   real date on the anchor.

Durations are then recomputed from the dates by the post-processing (``end - start`` where
both are real, null elsewhere), which by construction gives back the drawn values. Rows whose
anchor is not a real date fall back to independent draws, put in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.generator.engine.sampling import (
    CategoricalSampler,
    ContinuousSampler,
    cumulative,
    draw_indices,
)

_EPOCH = date(1970, 1, 1)
#: Dates before this are HES placeholders, not dates (as in ``postprocess``).
_REAL_FLOOR = (date(1900, 1, 1) - _EPOCH).days
#: Times a row's anchor is drawn again when one of its placed dates was never released.
REDRAWS = 12


@dataclass(frozen=True)
class ChainDuration:
    """One distinct (start, end) pair of chain members with its sampler."""

    start: int  # chain position
    end: int
    sampler: ContinuousSampler
    parent: int | None  # index of the duration it is nested in (coupled with), if any
    root: int  # index of the outermost duration of its nesting tree


@dataclass(frozen=True)
class ChainPlan:
    """Everything needed to place one chain's dates (built once per table-year)."""

    members: tuple[str, ...]
    anchor: int
    samplers: tuple[CategoricalSampler | None, ...]
    durations: tuple[ChainDuration, ...]
    allowed: np.ndarray  # sorted days of every real date released for any member
    not_real_share: tuple[float, ...]  # per member, released share of null/placeholder


def _days_and_probs(sampler: CategoricalSampler) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = sampler.values.cast(pa.date32())
    is_null = values.is_null().to_numpy(zero_copy_only=False)
    days = values.cast(pa.int32()).fill_null(0).to_numpy().astype(np.int64)
    probs = np.diff(np.concatenate([[0.0], sampler.cum]))
    real = ~is_null & (days >= _REAL_FLOOR)
    return days, probs, real


def plan_chains(
    spec: DatasetSpec, row_samplers: dict, financial_year: str
) -> tuple[ChainPlan, ...]:
    """A plan per date chain that has released dates and durations (others: none)."""
    fy_start = (date(2000 + int(financial_year[:2]), 4, 1) - _EPOCH).days
    fy_end = (date(2000 + int(financial_year[2:]), 3, 31) - _EPOCH).days
    plans = []
    for chain in spec.date_chains:
        samplers = tuple(
            s if isinstance(s := row_samplers.get(m), CategoricalSampler) else None for m in chain
        )
        in_year, allowed, not_real = [], [], []
        for s in samplers:
            if s is None:
                in_year.append(-1.0)
                not_real.append(1.0)
                continue
            days, probs, real = _days_and_probs(s)
            inside = real & (days >= fy_start) & (days <= fy_end)
            in_year.append(float(probs[inside].sum()))
            not_real.append(float(probs[~real].sum()))
            allowed.append(days[real])
        if max(in_year) <= 0:
            continue
        position = {m: k for k, m in enumerate(chain)}
        pairs: dict[tuple[int, int], ContinuousSampler] = {}
        for d in spec.durations:
            if d.start in position and d.end in position:
                key = (position[d.start], position[d.end])
                sampler = row_samplers.get(d.field)
                if key[0] < key[1] and key not in pairs and isinstance(sampler, ContinuousSampler):
                    pairs[key] = sampler
        keys = sorted(pairs, key=lambda k: (k[0] - k[1], k))  # outermost first
        durations: list[ChainDuration] = []
        for i, (s, e) in enumerate(keys):
            parent = None
            for j in range(i - 1, -1, -1):  # the tightest enclosing duration
                ps, pe = keys[j]
                if ps <= s and e <= pe:
                    parent = j
                    break
            root = i if parent is None else durations[parent].root
            durations.append(ChainDuration(s, e, pairs[(s, e)], parent, root))
        plans.append(
            ChainPlan(
                members=tuple(chain),
                anchor=int(np.argmax(in_year)),
                samplers=samplers,
                durations=tuple(durations),
                allowed=np.unique(np.concatenate(allowed)) if allowed else np.zeros(0, np.int64),
                not_real_share=tuple(not_real),
            )
        )
    return tuple(plans)


def _draw_durations(plan: ChainPlan, rng: np.random.Generator, n: int):
    """(values, is_null) per duration, coupled along nesting (see the module docstring).

    Where released quantile functions cross (an inner duration's quantile above the outer
    one's at the same level, e.g. at the step from 0 to 1 day), half of the few conflicting
    rows lower the inner value and half raise the outer one, which splits the unavoidable
    change between the two distributions."""
    roots = sorted({d.root for d in plan.durations})
    u = {r: rng.random(n) for r in roots}
    v = {r: rng.random(n) for r in roots}
    values, nulls = [], []
    for d in plan.durations:
        x = np.rint(d.sampler.quantile_function(u[d.root])).astype(np.int64)
        x = np.maximum(x, 0)
        is_null = v[d.root] < d.sampler.null_share
        if d.parent is not None:
            outer = values[d.parent]
            conflict = ~is_null & ~nulls[d.parent] & (x > outer)
            share = plan.durations[d.parent].sampler.null_share
            w = (v[d.root] - share) / max(1.0 - share, 1e-12)  # uniform where not null
            lower = conflict & (w < 0.5)
            raise_ = conflict & ~lower
            x = np.where(lower, outer, x)
            values[d.parent] = np.where(raise_, x, outer)
        values.append(x)
        nulls.append(is_null)
    return values, nulls


def _place(plan: ChainPlan, values, nulls, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets from the anchor per member, which are placed, which are forced not real."""
    k = len(plan.members)
    pos = np.zeros((n, k), dtype=np.int64)
    known = np.zeros((n, k), dtype=bool)
    known[:, plan.anchor] = True
    off = np.zeros((n, k), dtype=bool)
    for _ in range(4 * k + 4):
        before = known.sum() + off.sum()
        _propagate(plan, values, nulls, pos, known, off)
        _spans(plan, values, nulls, pos, known, off)
        _propagate(plan, values, nulls, pos, known, off)
        for d, is_null in zip(plan.durations, nulls, strict=True):
            s, e = d.start, d.end
            # A null duration: its date away from the placed one is not a real date.
            one = is_null & (known[:, s] ^ known[:, e])
            far = np.where(known[:, s], e, s)
            for m in (s, e):
                hit = one & (far == m) & ~off[:, m]
                off[hit, m] = True
            both = is_null & ~known[:, s] & ~known[:, e] & ~off[:, s] & ~off[:, e]
            pick = e if plan.not_real_share[e] >= plan.not_real_share[s] else s
            off[both, pick] = True
        if known.sum() + off.sum() == before and not _neighbour(pos, known, off, plan.anchor):
            break
    return pos, known, off


def _propagate(plan, values, nulls, pos, known, off) -> None:
    for _ in range(len(plan.members)):
        changed = False
        for d, x, is_null in zip(plan.durations, values, nulls, strict=True):
            s, e = d.start, d.end
            fwd = ~is_null & known[:, s] & ~known[:, e] & ~off[:, e]
            back = ~is_null & known[:, e] & ~known[:, s] & ~off[:, s]
            pos[fwd, e] = pos[fwd, s] + x[fwd]
            pos[back, s] = pos[back, e] - x[back]
            known[fwd, e] = True
            known[back, s] = True
            changed |= bool(fwd.any() or back.any())
        if not changed:
            return


def _spans(plan, values, nulls, pos, known, off) -> None:
    """A duration with both dates unplaced around placed dates: the slack goes before them."""
    for d, x, is_null in zip(plan.durations, values, nulls, strict=True):
        s, e = d.start, d.end
        inner = known[:, s + 1 : e]
        todo = ~is_null & ~known[:, s] & ~known[:, e] & ~off[:, s] & ~off[:, e]
        todo &= inner.any(axis=1)
        if not todo.any():
            continue
        inner_pos = pos[:, s + 1 : e]
        lo = np.where(inner, inner_pos, np.iinfo(np.int64).max).min(axis=1)
        hi = np.where(inner, inner_pos, np.iinfo(np.int64).min).max(axis=1)
        slack = np.maximum(x - (hi - lo), 0)
        pos[todo, s] = lo[todo] - slack[todo]
        pos[todo, e] = hi[todo]
        known[todo, s] = True
        known[todo, e] = True


def _neighbour(pos, known, off, anchor: int) -> bool:
    """Per row, the undecided member nearest the anchor (that no duration reaches) sits on
    its nearest placed neighbour towards the anchor. Returns whether any row changed."""
    k = pos.shape[1]
    done = np.zeros(pos.shape[0], dtype=bool)
    for m in sorted(range(k), key=lambda j: (abs(j - anchor), j)):
        if m == anchor:
            continue
        todo = ~known[:, m] & ~off[:, m] & ~done
        if not todo.any():
            continue
        step = 1 if m < anchor else -1
        ref = np.full(pos.shape[0], -1)
        for j in range(m + step, anchor + step, step):
            ref = np.where((ref < 0) & known[:, j], j, ref)
        ok = todo & (ref >= 0)
        rows = np.flatnonzero(ok)
        pos[rows, m] = pos[rows, ref[rows]]
        known[rows, m] = True
        done |= ok
    return bool(done.any())


def _not_real_values(sampler: CategoricalSampler | None, rng, n: int) -> pa.Array:
    """Null or placeholder dates in the member's released proportions."""
    if sampler is None:
        return pa.nulls(n, type=pa.date32())
    _days, probs, real = _days_and_probs(sampler)
    probs = np.where(real, 0.0, probs)
    if probs.sum() <= 0:
        return pa.nulls(n, type=pa.date32())
    values = sampler.values.cast(pa.date32())
    return values.take(pa.array(draw_indices(rng, cumulative(probs), n)))


def place_chain(
    plan: ChainPlan,
    chain_rng: np.random.Generator,
    member_rngs: list[np.random.Generator],
    n: int,
) -> dict[str, pa.Array]:
    """The chain's date columns for ``n`` rows (see the module docstring)."""
    anchor_sampler = plan.samplers[plan.anchor]
    independent = [
        s.sample(r, n) if s is not None else pa.nulls(n, type=pa.date32())
        for s, r in zip(plan.samplers, member_rngs, strict=True)
    ]
    not_real = [_not_real_values(s, r, n) for s, r in zip(plan.samplers, member_rngs, strict=True)]
    values, nulls = _draw_durations(plan, chain_rng, n)
    pos, known, _off = _place(plan, values, nulls, n)
    anchor_days = np.zeros(n, dtype=np.int64)
    anchor_real = np.zeros(n, dtype=bool)
    todo = np.arange(n)
    for attempt in range(REDRAWS + 1):
        a = anchor_sampler.sample(chain_rng, len(todo)).cast(pa.date32())
        a_null = a.is_null().to_numpy(zero_copy_only=False)
        a_days = a.cast(pa.int32()).fill_null(0).to_numpy().astype(np.int64)
        a_real = ~a_null & (a_days >= _REAL_FLOOR)
        placed = known[todo]
        dates = a_days[:, None] + pos[todo]
        good = (np.isin(dates, plan.allowed) | ~placed).all(axis=1) | ~a_real
        if attempt == REDRAWS:  # the last few rows: every real date on the anchor
            pos[todo[~good]] = 0
            good[:] = True
        anchor_days[todo[good]] = a_days[good]
        anchor_real[todo[good]] = a_real[good]
        todo = todo[~good]
        if len(todo) == 0:
            break
    real = known & anchor_real[:, None]
    out: dict[str, pa.Array] = {}
    for j, name in enumerate(plan.members):
        placed = pa.array((anchor_days + pos[:, j]).astype(np.int32)).cast(pa.date32())
        column = _where(real[:, j], placed, not_real[j])
        if j != plan.anchor:  # rows without a real anchor: independent draws, put in order
            column = _where(anchor_real, column, independent[j])
        out[name] = column
    return out


def _where(mask: np.ndarray, yes: pa.Array, no: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask), yes, no)


# --------------------------------------------------------------------------------------------
# Times of day placed from a start time by durations in minutes (AE)
# --------------------------------------------------------------------------------------------


def place_clock(
    spec: DatasetSpec,
    row_samplers: dict,
    clock_rng: np.random.Generator,
    field_rng,
    n: int,
) -> dict[str, pa.Array]:
    """Start times, durations and end times of ``spec.clock_durations`` for ``n`` rows.

    The start time (ARRIVALTIME) is drawn from its own distribution; each duration from its own
    (null share included); the end time is the start plus the duration, modulo a day, and is
    null exactly where the start or the duration is. Durations from one start share their value
    uniform (a monotone coupling), so they keep their order (initial assessment, treatment,
    conclusion, departure) while each follows its own distribution.
    """
    out: dict[str, pa.Array] = {}
    starts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    shared: dict[str, np.ndarray] = {}
    for d in spec.clock_durations:
        start_s, dur_s = row_samplers.get(d.start), row_samplers.get(d.field)
        if not (isinstance(start_s, ContinuousSampler) and isinstance(dur_s, ContinuousSampler)):
            continue
        if d.start not in starts:
            rng = field_rng(d.start)
            x = np.clip(np.rint(start_s.sample_numbers(rng, n)), 0, 24 * 60 - 1)
            is_null = rng.random(n) < start_s.null_share
            starts[d.start] = (x, is_null)
            out[d.start] = start_s.to_arrow(x, is_null)
            shared[d.start] = clock_rng.random(n)
        x, start_null = starts[d.start]
        rng = field_rng(d.field)
        minutes = np.maximum(np.rint(dur_s.quantile_function(shared[d.start])), 0)
        dur_null = rng.random(n) < dur_s.null_share
        out[d.field] = dur_s.to_arrow(minutes, dur_null)
        end_s = row_samplers.get(d.end)
        if isinstance(end_s, ContinuousSampler):
            out[d.end] = end_s.to_arrow((x + minutes) % (24 * 60), dur_null | start_null)
    return out
