"""Follow a staff's five lines across a tilted or bowed page.

Detection finds each staff as five straight lines in a sheared frame (the page's mean skew). On a
photo of a curved page the real lines drift away from those straight lines towards the page's ends,
so a staff is followed strip by strip: in each narrow strip of columns the five lines' comb is
matched to the strip's row profile near where the previous strips predict it, starting from the strip
where the straight lines fit best. The result is a vertical shift per column (sheared-frame rows),
then a low-degree polynomial through them (a page bends smoothly), kept only where it fits the
lines better than the straight lines do; beyond the strips where the lines were seen it goes on along
the polynomial's tangent.

`PageFrame` turns such shifts into a frame in which every traced staff is straight and level: a
sheared-frame row is moved by the shifts of the staves above and below it, weighted by distance.

numpy only.
"""
import math
from dataclasses import dataclass

import numpy as np

STRIP_SPACES = 1.5  # strip width in staff spaces: narrow enough that a bow moves little per strip
SEARCH_SPACES = 0.35  # how far a strip's lines may lie from the prediction (under half a space: no line skipped)
WEAK_SHARE = 0.35  # a strip whose comb scores below this share of the staff's typical score shows no staff
MAX_MISSED_STRIPS = 3  # strips without lines (a wide rest, a break) before the staff counts as ended
FLAT_PIXELS = 1.0  # a staff that strays less than this from its straight lines is left straight
OUTLIER_SPACES = 0.15  # a strip this far from the fitted curve is not on the lines
IMPROVEMENT = 1.02  # the curve must fit the lines this much better than the straight lines
AGREEMENT_SPACES = 0.5  # a staff's shift this far from the page's bend at some column is a lost trace


@dataclass
class PageFrame:
    """Sheared-frame rows -> image rows: row + column * slope - offset + the traced shift there."""

    slope: float
    offset: float
    knots: np.ndarray | None = None  # (K,) sheared-frame rows of the traced staves' middle lines, ascending
    shifts: np.ndarray | None = None  # (K, width) each staff's vertical shift at every column

    def shift(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """The shift at sheared-frame rows (R,) and columns (C,) -> (R, C), interpolated between staves."""
        rows, columns = np.asarray(rows, dtype=np.float64), np.asarray(columns)
        if self.knots is None:
            return np.zeros((rows.size, columns.size))
        below, above, weight = self._neighbours(rows)
        columns = np.clip(columns, 0, self.shifts.shape[1] - 1).astype(np.int64)
        return (self.shifts[below][:, columns] * (1 - weight)[:, None]
                + self.shifts[above][:, columns] * weight[:, None])

    def _neighbours(self, rows: np.ndarray):
        """For every row: the staff above, the staff below, and how far towards the lower one it lies."""
        upper = np.clip(np.searchsorted(self.knots, rows) - 1, 0, len(self.knots) - 1)
        lower = np.clip(upper + 1, 0, len(self.knots) - 1)
        span = self.knots[lower] - self.knots[upper]
        weight = np.where(span > 0, (rows - self.knots[upper]) / np.where(span > 0, span, 1), 0.0)
        return upper, lower, np.clip(weight, 0.0, 1.0)

    def image_rows(self, rows, columns) -> np.ndarray:
        """Image rows (rounded) of sheared-frame rows (R,) at columns (C,) -> (R, C) ints."""
        rows, columns = np.asarray(rows, dtype=np.float64), np.asarray(columns)
        exact = rows[:, None] + columns[None, :] * self.slope - self.offset
        if self.knots is not None:
            exact = exact + self.shift(rows, columns)
        return np.rint(exact).astype(np.int64)

    def image_y(self, rows, columns) -> np.ndarray:
        """Like image_rows, unrounded."""
        rows, columns = np.asarray(rows, dtype=np.float64), np.asarray(columns)
        exact = rows[:, None] + columns[None, :] * self.slope - self.offset
        return exact + self.shift(rows, columns) if self.knots is not None else exact

    def frame_rows(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Sheared-frame rows of image points (ys, xs), the inverse of image_rows (to a fraction of a pixel)."""
        straight = ys - xs * self.slope + self.offset
        if self.knots is None:
            return straight
        columns = np.clip(xs, 0, self.shifts.shape[1] - 1).astype(np.int64)
        rows = straight
        for _ in range(2):  # the shift changes slowly with the row: two steps are plenty
            upper, lower, weight = self._neighbours(rows)
            rows = straight - (self.shifts[upper, columns] * (1 - weight) + self.shifts[lower, columns] * weight)
        return rows


def _strip_profiles(darkness, rows, frame, starts, width) -> np.ndarray:
    """(strips, rows): mean darkness of each strip along sheared-frame rows (straight, no shift)."""
    height, page_width = darkness.shape
    columns = np.arange(page_width)
    image_rows = np.rint(rows[:, None] + columns[None, :] * frame.slope - frame.offset).astype(np.int64)
    inside = (image_rows >= 0) & (image_rows < height)
    values = np.where(inside, darkness[np.clip(image_rows, 0, height - 1), columns[None, :]], 0.0)
    cumulative = np.concatenate([np.zeros((len(rows), 1)), np.cumsum(values, axis=1)], axis=1)
    stops = np.minimum(starts + width, page_width)
    return ((cumulative[:, stops] - cumulative[:, starts]) / np.maximum(stops - starts, 1)).T


def _comb_scores(profile, first_row, lines, shifts, space) -> np.ndarray:
    """How well the five lines, moved by each shift, sit on dark rows between lighter ones."""
    positions = np.arange(profile.size) + first_row

    def at(points):
        return np.interp(points, positions, profile, left=0.0, right=0.0)

    scores = np.zeros(len(shifts))
    for line in lines:
        here = line + shifts
        scores += at(here) - 0.5 * (at(here - space / 2) + at(here + space / 2))
    return scores


def trace_staff(darkness: np.ndarray, lines: np.ndarray, frame: PageFrame, space: float,
                prior: np.ndarray | None = None) -> np.ndarray | None:
    """Vertical shift (sheared-frame rows) of the staff at every column: zeros where the straight lines
    already fit within FLAT_PIXELS, None where the staff could not be followed (too few strips show
    its lines, or the followed curve fits them no better than the straight lines).

    `prior`: where the staff is expected to run instead of along the straight lines (a staff found
    only once its neighbours' bends were known); the staff is followed from there, and without a
    better fit the prior is the answer."""
    width = darkness.shape[1]
    strip = max(4, int(round(STRIP_SPACES * space)))
    starts = np.arange(0, max(width - strip // 2, 1), strip)
    centres = starts + strip / 2
    expected = np.zeros(len(starts)) if prior is None else np.interp(centres, np.arange(width), prior)
    reach = 4 * space  # how far a staff may drift from where it is expected over the page
    first_row = int(math.floor(lines[0] - reach - space + min(expected.min(), 0)))
    rows = np.arange(first_row, int(math.ceil(lines[-1] + reach + space + max(expected.max(), 0))) + 1)
    profiles = _strip_profiles(darkness, rows.astype(np.float64), frame, starts, strip)
    search = SEARCH_SPACES * space
    candidates = np.linspace(-search, search, max(5, int(4 * search) | 1))

    # the anchor: the strip where the straight lines fit best
    near = np.array([_comb_scores(p, first_row, lines, e + candidates, space).max()
                     for p, e in zip(profiles, expected)])
    if near.max(initial=0) <= 0:
        return None
    typical = float(np.median(near[near > 0.3 * near.max()]))
    anchor = int(np.argmax(near))
    found = np.full(len(starts), np.nan)

    def best_shift(index, predicted):
        shifts = predicted + candidates
        scores = _comb_scores(profiles[index], first_row, lines, shifts, space)
        best = int(np.argmax(scores))
        if scores[best] < WEAK_SHARE * typical:
            return None
        if 0 < best < len(shifts) - 1:  # a parabola through the best and its neighbours: sub-pixel
            left, middle, right = scores[best - 1: best + 2]
            curvature = left - 2 * middle + right
            if curvature < 0:
                step = shifts[1] - shifts[0]
                return float(shifts[best] + np.clip(0.5 * (left - right) / curvature, -0.5, 0.5) * step)
        return float(shifts[best])

    at_anchor = best_shift(anchor, expected[anchor])
    found[anchor] = expected[anchor] if at_anchor is None else at_anchor
    for direction in (-1, 1):
        seen = [anchor]
        missed, index = 0, anchor + direction
        while 0 <= index < len(starts) and missed <= MAX_MISSED_STRIPS:
            recent = seen[-6:]
            if len(recent) >= 3:  # carry on the drift of the last strips (a line fit: one bad strip barely moves it)
                drift, intercept = np.polyfit(centres[recent], found[recent], 1)
                predicted = drift * centres[index] + intercept
            else:
                predicted = found[seen[-1]]
            if abs(predicted - expected[index]) > reach:
                break
            shift = best_shift(index, predicted)
            if shift is None:
                missed += 1
            else:
                found[index], missed = shift, 0
                seen.append(index)
            index += direction
    valid = ~np.isnan(found)
    curve = _smooth_curve(centres[valid], found[valid], space)
    if curve is None:
        return prior
    # keep the curve only where it fits the lines clearly better than the straight lines (the prior) do
    along = sum(_comb_scores(profiles[i], first_row, lines, np.array([curve(centres[i])]), space)[0]
                for i in np.flatnonzero(valid))
    straight = sum(_comb_scores(profiles[i], first_row, lines, expected[i:i + 1], space)[0]
                   for i in np.flatnonzero(valid))
    if along <= IMPROVEMENT * straight:
        return prior
    if np.abs(curve(centres[valid])).max() < FLAT_PIXELS:  # the straight lines fit within a pixel: keep them
        return np.zeros(width)
    return curve(np.arange(width, dtype=np.float64))


def _smooth_curve(centres: np.ndarray, shifts: np.ndarray, space: float):
    """A low-degree polynomial through the strips' shifts (a page bends smoothly), refitted without the
    strips far from it (a beam or a cluster of notes mistaken for the lines); None for too few strips."""
    if centres.size < 4:
        return None
    degree = min(3, centres.size // 4)
    scale = max(float(np.ptp(centres)), 1.0)  # fit in page widths: a well-conditioned polynomial
    keep = np.ones(centres.size, dtype=bool)
    for _ in range(3):
        coefficients = np.polyfit((centres[keep] - centres[0]) / scale, shifts[keep], degree)
        residual = np.abs(np.polyval(coefficients, (centres - centres[0]) / scale) - shifts)
        keep = residual <= max(1.0, OUTLIER_SPACES * space)
        if keep.sum() <= degree + 2:
            return None
    first, last = centres[keep][0], centres[keep][-1]
    slopes = np.polyval(np.polyder(coefficients), (np.array([first, last]) - centres[0]) / scale) / scale

    def curve(columns):
        """The polynomial where strips were seen; beyond, its tangent (a polynomial runs off fast)."""
        columns = np.asarray(columns, dtype=np.float64)
        inside = np.clip(columns, first, last)
        values = np.polyval(coefficients, (inside - centres[0]) / scale)
        return values + np.where(columns < first, slopes[0], slopes[1]) * (columns - inside)

    return curve


def agree_with_page(knots: np.ndarray, shifts: np.ndarray, space: float) -> np.ndarray:
    """The staves' shifts, each replaced by the page's where it strays from them.

    A page bends as a whole: at every column the shift changes steadily from staff to staff (a
    line through the staves' shifts against their rows, fitted without the staves far from it). A
    staff that strays more than AGREEMENT_SPACES from that line somewhere lost its lines (beams,
    noise) and takes the page's shift instead."""
    if len(knots) < 3:
        return shifts
    weights = np.ones_like(shifts)
    for _ in range(3):
        total = weights.sum(axis=0)
        mean_row = (weights * knots[:, None]).sum(axis=0) / total
        mean_shift = (weights * shifts).sum(axis=0) / total
        spread = (weights * (knots[:, None] - mean_row) ** 2).sum(axis=0)
        slope = (weights * (knots[:, None] - mean_row) * (shifts - mean_shift)).sum(axis=0) / np.maximum(spread, 1e-9)
        page = mean_shift + slope * (knots[:, None] - mean_row)
        weights = (np.abs(shifts - page) <= AGREEMENT_SPACES * space).astype(np.float64)
        weights[:, weights.sum(axis=0) < 2] = 1.0  # too few staves agree at a column: keep them all
    strays = np.abs(shifts - page).max(axis=1) > AGREEMENT_SPACES * space
    return np.where(strays[:, None], page, shifts)


def warped_frame(frame: PageFrame, staves_lines: list, shifts: list, space: float) -> PageFrame:
    """The frame with the traced staves' shifts (made to agree with the page's bend); the straight
    frame itself when nothing moved."""
    traced = [(float(np.mean(lines)), shift) for lines, shift in zip(staves_lines, shifts) if shift is not None]
    if not any(shift.any() for _, shift in traced):
        return frame
    traced.sort(key=lambda item: item[0])
    knots = np.array([knot for knot, _ in traced])
    return PageFrame(frame.slope, frame.offset, knots,
                     agree_with_page(knots, np.stack([shift for _, shift in traced]), space))


__all__ = ["PageFrame", "trace_staff", "warped_frame", "agree_with_page"]
