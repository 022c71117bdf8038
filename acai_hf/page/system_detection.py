"""Propose one box per system on a page of music: staff lines by projection profiles, staves by their
five evenly spaced lines, systems by the barlines and braces that join their staves.

1. Binarise: divide by a coarse estimate of the paper's brightness (uneven light in photos), then
   threshold at Otsu's level.
2. Measure the page: staff-line thickness and staff space are the most common vertical black and
   white runs.
3. Skew: the shear angle whose horizontal projection of the ink is sharpest (a sum of squares), searched
   coarse to fine within +-6 degrees; all later steps work in that sheared frame.
4. Staves: peaks of the projection, chained five at a time at about one staff space apart. Each staff
   is then followed strip by strip across the page (staff_tracing.py): on a bowed or unevenly tilted
   photo its lines leave the straight sheared rows, and all later steps work in the frame that
   follows the traced staves. Where the page bends, the projection is made again in that frame, and
   staves the bend had blurred are found and followed too. A staff's horizontal extent is where at
   least four of its lines carry ink along them.
5. Systems: neighbouring staves whose gap some column of ink crosses from one to the other (a barline,
   the system's start line, the brace) belong together; a page with no such column (single staves, a
   poor scan) pairs staves by spacing when its gaps alternate small and large, else keeps them single.
6. Boxes: the system's staff extent widened by ink next to it (brace, final tie), and the rows of ink
   above and below (ledger lines, notes, markings) up to a cut that shares the gap between
   neighbouring systems fairly, plus a small margin; back in image coordinates (the box holds the
   band's curved edges), clipped, in reading order. Each box comes with its system's traced staff
   lines (SystemPath), which straightened_crops.py follows to crop the system level.

numpy and Pillow only.
"""
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from acai_hf.page.grayscale import to_grayscale, to_pil
from acai_hf.page.staff_tracing import PageFrame, trace_staff, warped_frame
from acai_hf.page.system_boxes import SystemBox, clip, sort_reading_order

MAX_SKEW_DEGREES = 6.0
MIN_STAFF_SPACE = 4  # pixels; below this no staff can be read
MARGIN_SPACES = 0.8  # margin around a system's ink, in staff spaces
MAX_INK_GAP_SPACES = 3.0  # ink this far from the rest of a system (vertically) is not its own
LEFT_REACH_SPACES = 4.0  # brace and start line may lie this far left of the staff lines
RIGHT_REACH_SPACES = 2.0
MIN_STAFF_GAP = 3.0  # staves closer than this many spaces (line to line) are one staff and ledger lines
BEND_PASSES = 3  # projections made again in the frame that follows the bend, while they find more staves
MAX_WORK_PIXELS = 4_500_000  # larger pages are analysed at a reduced scale (A4 at 300 dpi: 8.7 MP)


@dataclass
class Staff:
    lines: np.ndarray  # the five line positions, top to bottom (rows of the frame that follows the staves)
    left: int
    right: int
    trace: np.ndarray | None = None  # the lines' vertical shift at every column (staff_tracing)

    @property
    def top(self) -> float:
        return float(self.lines[0])

    @property
    def bottom(self) -> float:
        return float(self.lines[-1])

    @property
    def space(self) -> float:
        return float(np.diff(self.lines).mean())


@dataclass
class PageAnalysis:
    """What detection found, for debugging and for callers that want more than boxes."""

    ink: np.ndarray  # bool, the analysed (possibly reduced) page
    scale: float  # analysed pixels per image pixel
    staff_space: float
    line_thickness: float
    angle: float  # skew in degrees (positive: lines descend to the right)
    staves: list  # Staff
    groups: list  # lists of staff indices, one per system
    boxes: list  # SystemBox in image coordinates
    paths: list = field(default_factory=list)  # SystemPath, one per box, in the same order


@dataclass
class SystemPath:
    """Where a detected system's staff lines run, in image pixels: its top and bottom staff lines as
    curves sampled at `columns` (and beyond the staff's ends, extended straight), for cropping the
    system straightened along them."""

    columns: np.ndarray
    top: np.ndarray  # image row of the upper staff's top line at each column
    bottom: np.ndarray  # image row of the lower staff's bottom line
    left: float  # the system's horizontal extent (brace to final barline)
    right: float
    box: SystemBox  # the box detection proposed for it


# ---------------------------------------------------------------- binarisation


def paper_brightness(gray: np.ndarray, block: int) -> np.ndarray:
    """A smooth estimate of the paper's brightness: a high percentile per block (of a half-resolution
    copy), spread over neighbouring blocks (so a block full of ink borrows its neighbours' paper),
    upsampled."""
    height, width = gray.shape
    if height < block or width < block:
        return np.full_like(gray, max(float(np.percentile(gray, 95)), 1.0))
    half, small = gray[::2, ::2], max(2, block // 2)
    rows, cols = max(1, half.shape[0] // small), max(1, half.shape[1] // small)
    trimmed = half[: rows * small, : cols * small]
    blocks = trimmed.reshape(rows, small, cols, small).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    level = np.percentile(blocks, 90, axis=2).astype(np.float32)
    padded = np.pad(level, 1, mode="edge")
    spread = np.max([padded[dy: dy + rows, dx: dx + cols] for dy in range(3) for dx in range(3)], axis=0)
    smooth = Image.fromarray(spread).resize((width, height), Image.BILINEAR)
    return np.maximum(np.asarray(smooth, dtype=np.float32), 1.0)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    histogram, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    histogram = histogram.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(histogram)
    total = weight[-1]
    if total == 0:
        return 0.5
    mean = np.cumsum(histogram * centres)
    between = (mean[-1] * weight - mean * total) ** 2 / np.maximum(weight * (total - weight), 1e-12)
    return float(centres[int(np.argmax(between))])


def _smooth_rows(values: np.ndarray) -> np.ndarray:
    """A 3-pixel running mean along each row: noise drops, horizontal lines keep their contrast."""
    out = values.copy()
    out[:, 1:-1] = (values[:, :-2] + values[:, 1:-1] + values[:, 2:]) / 3
    return out


def binarise(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ink, darkness): ink is True where there is ink, faint hairlines included, photo noise excluded;
    darkness (0..1) weighs every pixel by how clearly it is darker than the paper, for projections,
    where even lines too faint to threshold in a noisy photo add up.

    The page is divided by its paper brightness and smoothed along rows. Otsu's level separates solid
    ink from paper; thin staff lines drawn at a low resolution are only grey, so the ink threshold is
    raised half way to the paper, but kept well below the paper's brightness (4.5 times its noise).
    """
    block = int(np.clip(min(gray.shape) // 24, 16, 96))
    normalised = _smooth_rows(np.clip(gray / paper_brightness(gray, block), 0.0, 1.0))
    sample = normalised[::3, ::3]
    level = float(np.median(sample))
    noise = 1.4826 * float(np.median(np.abs(sample - level)))
    otsu = otsu_threshold(sample)
    threshold = min((otsu + level) / 2, level - 4.5 * noise - 0.03)
    contrast = max(level - otsu, 0.1)
    darkness = np.clip((level - 2.5 * noise - 0.02 - normalised) / contrast, 0.0, 1.0).astype(np.float32)
    return normalised < threshold, darkness


# ---------------------------------------------------------------- page measures


def _runs(mask: np.ndarray, value: bool) -> np.ndarray:
    """Lengths of the vertical runs of `value` in every column of `mask`."""
    column_major = np.ascontiguousarray(mask.T)
    padded = np.zeros((column_major.shape[0], column_major.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = column_major == value
    diff = np.diff(padded, axis=1).ravel()
    starts, ends = np.flatnonzero(diff == 1), np.flatnonzero(diff == -1)
    return ends - starts


def line_thickness(ink: np.ndarray) -> float:
    """The most common vertical black run (staff lines are most of the page's horizontal strokes)."""
    step = max(1, ink.shape[1] // 800)
    black = _runs(ink[:, ::step], True)
    black = black[black < max(4, ink.shape[0] // 50)]
    if black.size == 0:
        return 1.0
    counts = np.bincount(black).astype(np.float64)
    if counts.size > 2 and counts[1] > 0:
        counts[1] *= 0.5  # isolated noise pixels are runs of one
    return float(max(1, int(np.argmax(counts))))


def staff_space_from_profile(profile: np.ndarray, max_space: int) -> float:
    """The staff space as the strongest period of the (deskewed) row profile: the autocorrelation of
    its sharp peaks, which five lines a space apart make highest at one space."""
    if profile.size < 16 or profile.max(initial=0) <= 0:
        return 0.0
    window = 9
    smooth = np.convolve(profile, np.ones(window) / window, mode="same")
    spikes = np.clip(profile - smooth, 0, None)
    n = 1 << int(math.ceil(math.log2(2 * spikes.size)))
    spectrum = np.fft.rfft(spikes, n)
    correlation = np.fft.irfft(spectrum * np.conj(spectrum), n)[: max_space + 3]
    # a space of 20.5 pixels splits its peak between lags 20 and 21, while lag 41 gets it whole
    correlation = np.convolve(correlation, [0.25, 0.5, 0.25], mode="same")
    lags = np.arange(correlation.size)
    candidates = correlation[: max_space + 2].copy()
    candidates[:MIN_STAFF_SPACE] = -np.inf
    strongest = candidates.max()
    if not np.isfinite(strongest) or strongest <= 0:
        return 0.0
    # two spaces (and three) correlate too: take the first peak nearly as strong as the strongest
    is_peak = (candidates[1:-1] >= candidates[:-2]) & (candidates[1:-1] >= candidates[2:])
    peaks = np.flatnonzero(is_peak & (candidates[1:-1] >= 0.7 * strongest)) + 1
    best = int(peaks[0]) if peaks.size else int(np.argmax(candidates))
    if best <= 0 or best + 1 >= correlation.size:
        return float(best)
    left, middle, right = correlation[best - 1], correlation[best], correlation[best + 1]
    curvature = left - 2 * middle + right
    shift = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
    return float(lags[best] + np.clip(shift, -0.5, 0.5))


def ink_points(ink: np.ndarray, step: int, weights: np.ndarray | None = None):
    """(rows, columns, weights) of the ink (or of the pixels with weight), every step-th column."""
    sample = ink[:, ::step] if weights is None else weights[:, ::step]
    ys, xs = np.nonzero(sample)
    values = np.ones(ys.size, dtype=np.float32) if weights is None else sample[ys, xs]
    return ys.astype(np.float32), (xs * step).astype(np.float32), values


def shear_projection(ys, xs, slope: float, offset: float, length: int, weights=None) -> np.ndarray:
    rows = np.rint(ys - xs * slope + offset).astype(np.int64)
    keep = (rows >= 0) & (rows < length)
    return np.bincount(rows[keep], weights=None if weights is None else weights[keep],
                       minlength=length).astype(np.float64)


def estimate_skew(ys, xs, ws, height: int, width: int, max_degrees: float = MAX_SKEW_DEGREES) -> float:
    """The shear angle (degrees) whose row projection is sharpest."""
    if ys.size == 0:
        return 0.0
    offset = width * math.tan(math.radians(max_degrees)) + 2
    length = int(height + 2 * offset + 2)
    # keep the search cheap on busy pages: a random fixed subset of the ink is enough
    if ys.size > 300_000:
        pick = np.random.default_rng(0).choice(ys.size, 300_000, replace=False)
        ys, xs, ws = ys[pick], xs[pick], ws[pick]

    def sharpness(degrees):
        projection = shear_projection(ys, xs, math.tan(math.radians(degrees)), offset, length, ws)
        return float((projection ** 2).sum())

    best = 0.0
    for span, step in ((max_degrees, 0.5), (0.5, 0.1), (0.1, 0.02)):
        candidates = np.arange(best - span, best + span + step / 2, step)
        candidates = candidates[np.abs(candidates) <= max_degrees + 1e-9]
        scores = [sharpness(d) for d in candidates]
        best = float(candidates[int(np.argmax(scores))])
    # a flat page gives a very flat optimum: prefer exactly 0 when it is as sharp as the best
    if sharpness(0.0) >= 0.995 * sharpness(best):
        return 0.0
    return best


# ---------------------------------------------------------------- staves


def _peaks(profile: np.ndarray, radius: int, threshold: float) -> np.ndarray:
    """Rows that are the maximum of their +-radius window and above threshold (sub-row centroids)."""
    if profile.size == 0:
        return np.zeros(0)
    padded = np.pad(profile, radius, mode="constant", constant_values=-1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1)
    is_max = profile >= windows.max(axis=1)
    rows = np.flatnonzero(is_max & (profile >= threshold))
    peaks, last = [], -10 * radius
    for row in rows:  # a flat top gives neighbouring equal maxima: keep one
        if row - last <= radius:
            continue
        lo, hi = max(row - 1, 0), min(row + 2, profile.size)
        weights = profile[lo:hi]
        peaks.append(float((np.arange(lo, hi) * weights).sum() / weights.sum()))
        last = row
    return np.array(peaks)


def chain_staves(peaks: np.ndarray, strengths: np.ndarray, space: float) -> list[np.ndarray]:
    """Groups of five peaks about one staff space apart and of similar strength.

    Every chain (each peak as a top line, each plausible second line setting the spacing) is scored by
    how even its strengths and gaps are; the best chains are taken first, and a chain overlapping one
    already taken is dropped. So ledger lines (short: weak peaks) next to a staff never displace it.
    """
    low, high = 0.7 * space, 1.35 * space
    candidates = []
    for i in range(len(peaks)):
        for j in range(i + 1, len(peaks)):
            gap = peaks[j] - peaks[i]
            if gap > high:
                break
            if gap < low:
                continue
            chain = [i, j]
            while len(chain) < 5:
                expected = peaks[chain[-1]] + gap
                tolerance = max(1.5, 0.2 * gap)
                near = [k for k in range(chain[-1] + 1, len(peaks)) if abs(peaks[k] - expected) <= tolerance]
                if not near:
                    break
                chain.append(min(near, key=lambda k: abs(peaks[k] - expected)))
            if len(chain) < 5:
                continue
            lines = peaks[chain]
            evenness = np.ptp(np.diff(lines)) / gap
            weakest = strengths[chain].min() / max(strengths[chain].max(), 1e-9)
            if weakest < 0.4 or evenness > 0.5:
                continue
            candidates.append((weakest - evenness, chain))
    staves, taken = [], []
    for _, chain in sorted(candidates, key=lambda c: -c[0]):
        top, bottom = peaks[chain[0]], peaks[chain[-1]]
        if any(top <= other_bottom and other_top <= bottom for other_top, other_bottom in taken):
            continue
        taken.append((top, bottom))
        staves.append(peaks[chain])
    return sorted(staves, key=lambda lines: lines[0])


def drop_ledger_staves(staves: list[Staff], space: float) -> list[Staff]:
    """Five ledger lines above or below a run of notes can pass for a short staff. Real staves start at
    the left margin, or are long (an indented first system); and they keep more than MIN_STAFF_GAP
    spaces apart, so of two closer staves the shorter one goes."""
    if len(staves) >= 3:  # a short staff that does not start at the page's left margin is ledger lines
        lengths = np.array([s.right - s.left for s in staves])
        lefts = np.array([s.left for s in staves])
        usual_length, usual_left = np.median(lengths), np.median(lefts)
        staves = [s for s, length, left in zip(staves, lengths, lefts)
                  if length >= 0.5 * usual_length or left <= usual_left + 4 * space]
    kept = list(staves)
    changed = True
    while changed:
        changed = False
        for index in range(len(kept) - 1):
            upper, lower = kept[index], kept[index + 1]
            if lower.top - upper.bottom < MIN_STAFF_GAP * space:
                shorter = index if upper.right - upper.left < lower.right - lower.left else index + 1
                del kept[shorter]
                changed = True
                break
    return kept


def _sheared_rows(rows: np.ndarray, columns: np.ndarray, frame: PageFrame) -> np.ndarray:
    """Image rows of sheared-frame rows `rows` (R,) at `columns` (C,) -> (R, C) ints."""
    return frame.image_rows(rows, columns)


def _sample(ink: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """ink[rows, columns] with False outside the page; rows (R, C), columns (C,)."""
    height, width = ink.shape
    inside = (rows >= 0) & (rows < height) & (columns[None, :] >= 0) & (columns[None, :] < width)
    values = np.zeros(rows.shape, dtype=bool)
    values[inside] = ink[rows[inside], np.broadcast_to(columns[None, :], rows.shape)[inside]]
    return values


def _sample_values(values: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """values[rows, columns] with 0 outside the page; rows (R, C), columns (C,)."""
    height, width = values.shape
    inside = (rows >= 0) & (rows < height) & (columns[None, :] >= 0) & (columns[None, :] < width)
    out = np.zeros(rows.shape, dtype=np.float32)
    out[inside] = values[rows[inside], np.broadcast_to(columns[None, :], rows.shape)[inside]]
    return out


def _line_ink(ink, line: float, columns, frame, thickness) -> np.ndarray:
    """Per column: is there ink within the line's thickness (+-1 pixel)?"""
    half = int(math.ceil(thickness / 2)) + 1
    rows = _sheared_rows(np.arange(line - half, line + half + 1), columns, frame)
    return _sample(ink, rows, columns).any(axis=0)


def _moving_mean(values: np.ndarray, window: int) -> np.ndarray:
    window = max(1, int(window))
    if window == 1:
        return values.astype(np.float64)
    return np.convolve(values.astype(np.float64), np.ones(window) / window, mode="same")


def _longest_run(mask: np.ndarray, max_gap: int) -> tuple[int, int] | None:
    """(start, stop) of the longest run of True in mask, bridging gaps of up to max_gap False."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    stops = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    best = int(np.argmax(stops - starts))
    return int(starts[best]), int(stops[best])


def staff_extent(darkness, lines, frame, thickness, space) -> tuple[int, int] | None:
    """The longest stretch of columns where at least four of the five lines are drawn. A line is drawn
    where, averaged over two staff spaces of columns, it is at least 30% as dark as it typically is
    (noise and uneven light may break a faint line here and there)."""
    columns = np.arange(darkness.shape[1])
    # a traced line is known to a pixel or so: look that much further
    half = int(math.ceil(thickness / 2)) + 1 + (frame.knots is not None)
    window = max(1, int(2 * space))
    drawn, raw = [], []
    for line in lines:
        rows = _sheared_rows(np.arange(line - half, line + half + 1), columns, frame)
        values = _sample_values(darkness, rows, columns)
        kernel = np.ones(window) / window
        along = np.max([np.convolve(row, kernel, mode="same") for row in values], axis=0)
        present = along[along > 0.05]
        reference = float(np.median(present)) if present.size else 1.0
        drawn.append(along >= max(0.3 * reference, 0.04))
        raw.append(values.max(axis=0) >= max(0.3 * reference, 0.04))
    run = _longest_run(np.sum(drawn, axis=0) >= 4, max_gap=int(space))
    if run is None:
        return None
    # the running mean reaches past the lines' ends: trim to where three lines really are drawn
    start, stop = run
    here = np.flatnonzero(np.sum(raw, axis=0)[start:stop] >= 3)
    if here.size:
        start, stop = start + int(here[0]), start + int(here[-1]) + 1
    return start, stop


def _longest_blank(values: np.ndarray) -> np.ndarray:
    """Per column of a (rows, columns) bool array: the longest run of False down the column."""
    current = np.zeros(values.shape[1], dtype=np.int32)
    longest = np.zeros(values.shape[1], dtype=np.int32)
    for row in values:
        current = np.where(row, 0, current + 1)
        np.maximum(longest, current, out=longest)
    return longest


def connected(ink, darkness, upper: Staff, lower: Staff, frame, thickness, space) -> bool:
    """Does some column of ink cross the whole gap from the upper staff to the lower one (breaks of
    up to a third of a space allowed: noise, JPEG)?"""
    left, right = max(upper.left, lower.left), min(upper.right, lower.right)
    if right - left < space:
        return False
    top = upper.bottom + thickness / 2 + 1
    bottom = lower.top - thickness / 2 - 1
    if bottom - top < 1:
        return True  # staves touching: one system (or a misread), keep together
    reach = int(LEFT_REACH_SPACES * space)  # the start line and brace lie at or left of the staff start
    columns = np.arange(max(left - reach, 0), min(right + 2, ink.shape[1]))
    rows = _sheared_rows(np.arange(math.ceil(top), math.floor(bottom) + 1), columns, frame)
    values = _sample(ink, rows, columns) | (_sample_values(darkness, rows, columns) >= 0.15)
    # a stroke one pixel off its neighbour column still counts (blur, JPEG, slight curvature)
    spread = values.copy()
    spread[:, 1:] |= values[:, :-1]
    spread[:, :-1] |= values[:, 1:]
    candidates = np.flatnonzero(spread.mean(axis=0) >= 0.8)
    if candidates.size == 0:
        return False
    breaks = _longest_blank(spread[:, candidates])
    return bool((breaks <= max(2, space / 3)).any())


def group_staves(ink, darkness, staves: list[Staff], frame, thickness, space) -> list[list[int]]:
    if not staves:
        return []
    links = [connected(ink, darkness, staves[i], staves[i + 1], frame, thickness, space)
             for i in range(len(staves) - 1)]
    if not any(links) and len(staves) >= 2:
        links = pair_by_spacing(staves)
    else:
        links = complete_pairs(staves, links)
    groups = [[0]]
    for index, link in enumerate(links, start=1):
        if link:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def complete_pairs(staves: list[Staff], links: list[bool]) -> list[bool]:
    """Two single staves as close as the staves that barlines join elsewhere on the page are one
    system whose barlines were lost (a faint photo)."""
    gaps = [b.top - a.bottom for a, b in zip(staves, staves[1:])]
    joined = [gap for gap, link in zip(gaps, links) if link]
    if not joined:
        return links
    usual = float(np.median(joined))
    links = list(links)
    for index, gap in enumerate(gaps):
        alone_above = index == 0 or not links[index - 1]
        alone_below = index + 1 >= len(links) or not links[index + 1]
        if not links[index] and alone_above and alone_below and 0.8 * usual <= gap <= 1.15 * usual:
            links[index] = True
    return links


def pair_by_spacing(staves: list[Staff]) -> list[bool]:
    """Links between consecutive staves when the gaps alternate small (in a system) and large
    (between systems); otherwise no links (every staff is its own system)."""
    gaps = np.array([b.top - a.bottom for a, b in zip(staves, staves[1:])])
    if len(gaps) == 0:
        return []
    space = np.median([s.space for s in staves])
    links = [False] * len(gaps)
    if len(gaps) == 1:
        return links  # two staves alone: nothing to compare
    for parity in (0, 1):
        inside, between = gaps[parity::2], gaps[1 - parity::2]
        if len(between) == 0 or len(inside) == 0:
            continue
        if inside.max() * 1.25 < between.min() and inside.max() < 12 * space:
            for index in range(parity, len(gaps), 2):
                links[index] = True
            return links
    return links


def _row_profile(ys, xs, frame: PageFrame, length, left, right) -> np.ndarray:
    """Ink per sheared-frame row between columns left and right (rows follow the traced staves)."""
    keep = (xs >= left) & (xs < right)
    rows = np.rint(frame.frame_rows(ys[keep], xs[keep])).astype(np.int64)
    inside = (rows >= 0) & (rows < length)
    return np.bincount(rows[inside], minlength=length).astype(np.float64)


def _walk(profile, start: int, stop: int, direction: int, threshold: float, max_gap: int) -> int:
    """From `start` towards `stop` (exclusive), the last row with ink before a gap longer than max_gap."""
    last, gap, row = start, 0, start
    while True:
        row += direction
        if (row - stop) * direction >= 0 or row < 0 or row >= len(profile):
            return last
        if profile[row] > threshold:
            last, gap = row, 0
        else:
            gap += 1
            if gap > max_gap:
                return last


def _cut(profile, upper_bottom: float, lower_top: float, threshold: float) -> float:
    """Where the gap between two systems is shared: the middle of its widest blank stretch, else
    (ink all the way) the emptiest row nearest the middle."""
    lo, hi = int(math.ceil(upper_bottom)) + 1, int(math.floor(lower_top))
    middle = (upper_bottom + lower_top) / 2
    if hi - lo < 2:
        return middle
    segment = profile[lo:hi]
    run = _longest_run(segment <= threshold, max_gap=0)
    if run is not None:
        return lo + (run[0] + run[1]) / 2
    lowest = np.flatnonzero(segment <= segment.min() * 1.1 + 1e-9) + lo
    return float(lowest[np.argmin(np.abs(lowest - middle))])


def _column_extent(ink, rows_top, rows_bottom, left, right, frame, space) -> tuple[int, int]:
    """Widen [left, right) to the brace and start line on the left and ink just past the right end."""
    height, width = ink.shape
    reach_left, reach_right = int(LEFT_REACH_SPACES * space), int(RIGHT_REACH_SPACES * space)
    columns = np.arange(max(left - reach_left, 0), min(right + reach_right, width))
    rows = _sheared_rows(np.arange(int(rows_top), int(rows_bottom) + 1), columns, frame)
    counts = _sample(ink, rows, columns).sum(axis=0)
    has_ink = counts >= max(2, 0.05 * space)  # a noise speck is no brace
    max_gap = max(2, int(0.8 * space))
    new_left, gap = left, 0
    for column in range(left - 1, columns[0] - 1, -1):
        if has_ink[column - columns[0]]:
            new_left, gap = column, 0
        else:
            gap += 1
            if gap > max_gap:
                break
    new_right, gap = right, 0
    for column in range(right, columns[-1] + 1):
        if has_ink[column - columns[0]]:
            new_right, gap = column + 1, 0
        else:
            gap += 1
            if gap > max_gap:
                break
    return new_left, new_right


def staff_candidates(profile: np.ndarray, space: float, thickness: float, width: int) -> list[np.ndarray]:
    """Five-line chains among the peaks of a row profile (see chain_staves)."""
    if thickness >= 2:  # thick or blurred lines: one peak per line
        kernel = np.ones(int(thickness)) / int(thickness)
        profile = np.convolve(profile, kernel, mode="same")
    radius = max(1, int(space * 0.35))
    min_length = max(4 * space, 0.05 * width)
    peaks = _peaks(profile, radius, max(min_length, 0.1 * profile.max()))
    strengths = np.interp(peaks, np.arange(profile.size), profile) if peaks.size else peaks
    return chain_staves(peaks, strengths, space)


def frame_projection(ys, xs, weights, frame: PageFrame, length: int) -> np.ndarray:
    """The weighted ink per row of the frame that follows the traced staves."""
    rows = np.rint(frame.frame_rows(ys, xs)).astype(np.int64)
    keep = (rows >= 0) & (rows < length)
    return np.bincount(rows[keep], weights=weights[keep], minlength=length).astype(np.float64)


def analyse(image, margin_spaces: float = MARGIN_SPACES) -> PageAnalysis:
    image = to_grayscale(to_pil(image))  # transparency is paper
    full_width, full_height = image.size
    scale = 1.0
    if full_height * full_width > MAX_WORK_PIXELS:
        scale = math.sqrt(MAX_WORK_PIXELS / (full_height * full_width))
        size = (max(1, round(full_width * scale)), max(1, round(full_height * scale)))
        image = image.resize(size, Image.BOX)
    gray = np.asarray(image, dtype=np.float32)
    ink, darkness = binarise(gray)
    height, width = ink.shape
    thickness = line_thickness(ink)
    step = 1 if width < 1200 else 2
    ys, xs, _ = ink_points(ink, step)
    dys, dxs, dws = ink_points(ink, step, darkness)
    angle = estimate_skew(dys, dxs, dws, height, width)
    slope = math.tan(math.radians(angle))
    offset = width * abs(slope) + 2
    length = int(height + 2 * offset + 2)
    profile = shear_projection(dys, dxs, slope, offset, length, dws) * step
    space = staff_space_from_profile(profile, max_space=max(MIN_STAFF_SPACE + 1, min(height, width) // 20))
    if space < MIN_STAFF_SPACE:
        return PageAnalysis(ink, scale, space, thickness, angle, [], [], [])
    # where the lines are too faint to threshold, the runs measured beams and note heads
    thickness = float(min(thickness, max(1, round(0.25 * space))))
    straight = PageFrame(slope, offset)
    candidates = staff_candidates(profile, space, thickness, width)
    # follow every staff's lines across the page: on a bowed or tilted photo they leave the straight frame
    traces = [trace_staff(darkness, lines, straight, space) for lines in candidates]
    frame = warped_frame(straight, candidates, traces, space)
    for _ in range(BEND_PASSES):
        if frame is straight:
            break
        # the bend blurred the straight projection: staves stand out sharper in the frame that follows it
        bent = frame_projection(dys, dxs, dws, frame, length) * step
        again = staff_candidates(bent, space, thickness, width)
        if len(again) < len(candidates):
            break
        columns = np.arange(width)
        traces = [trace_staff(darkness, lines, straight, space, frame.shift(np.array([lines.mean()]), columns)[0])
                  for lines in again]
        settled = len(again) == len(candidates)
        candidates, frame = again, warped_frame(straight, again, traces, space)
        if settled:
            break
    staves = []
    for lines, trace in zip(candidates, traces):
        extent = staff_extent(darkness, lines, frame, thickness, space)
        if extent is None or extent[1] - extent[0] < 4 * np.diff(lines).mean():
            continue
        staves.append(Staff(lines, *extent, trace=trace))
    staves = drop_ledger_staves(sorted(staves, key=lambda s: s.top), space)
    # ledger lines taken for a staff above must not bend the frame
    frame = warped_frame(straight, [s.lines for s in staves], [s.trace for s in staves], space)
    groups = group_staves(ink, darkness, staves, frame, thickness, space)

    # vertical extents in the frame that follows the staves
    cores = [(staves[g[0]].top, staves[g[-1]].bottom, min(staves[i].left for i in g),
              max(staves[i].right for i in g)) for g in groups]
    threshold = max(1.0, 0.002 * width)
    max_gap = int(MAX_INK_GAP_SPACES * space)
    margin = margin_spaces * space
    boxes, paths = [], []
    for index, (top, bottom, left, right) in enumerate(cores):
        line_pad = thickness / 2 + 1
        left, right = _column_extent(ink, top - line_pad, bottom + line_pad, left, right, frame, space)
        profile_here = _row_profile(ys, xs, frame, length, left, right) * step
        if index > 0:
            previous = cores[index - 1]
            shared = _row_profile(ys, xs, frame, length, min(left, previous[2]), max(right, previous[3]))
            upper_limit = _cut(shared, previous[1], top, threshold)
        else:
            upper_limit = 0 - offset - 1  # any row
        if index + 1 < len(cores):
            following = cores[index + 1]
            shared = _row_profile(ys, xs, frame, length, min(left, following[2]), max(right, following[3]))
            lower_limit = _cut(shared, bottom, following[0], threshold)
        else:
            lower_limit = length
        ink_top = _walk(profile_here, int(top), int(math.floor(upper_limit)), -1, threshold, max_gap)
        ink_bottom = _walk(profile_here, int(math.ceil(bottom)), int(math.ceil(lower_limit)), +1, threshold, max_gap)
        box_top = max(ink_top - margin, upper_limit)
        box_bottom = min(ink_bottom + 1 + margin, lower_limit)
        box_left, box_right = left - margin, right + margin
        # back to image coordinates: the box holds the band's top and bottom edges at every column
        columns = np.linspace(box_left, box_right, max(2, int(box_right - box_left) // 4 + 2))
        edges = frame.image_y(np.array([box_top, box_bottom]), columns)
        box = SystemBox(box_left / scale, edges[0].min() / scale, box_right / scale, edges[1].max() / scale)
        box = clip(box, full_width, full_height).rounded()
        if box.width > 0 and box.height > 0:
            boxes.append(box)
            paths.append(_system_path(frame, top, bottom, left, right, scale, width, full_width, box))
    order = sort_reading_order(boxes)
    paths = [paths[index] for index in sorted(range(len(paths)), key=lambda index: order.index(boxes[index]))]
    return PageAnalysis(ink, scale, space, thickness, angle, staves, groups, order, paths)


def _system_path(frame: PageFrame, top: float, bottom: float, left: int, right: int, scale: float,
                 width: int, full_width: int, box: SystemBox) -> SystemPath:
    """The system's top and bottom staff lines as image curves (full resolution) across the page."""
    analysed = np.linspace(0, width - 1, max(2, width // 4))
    lines = frame.image_y(np.array([top, bottom]), analysed) / scale
    return SystemPath(analysed / scale, lines[0], lines[1], left / scale, right / scale, box)


def detect_systems(image, margin_spaces: float = MARGIN_SPACES) -> list[SystemBox]:
    """One box per system (grand staff, or a lone staff) on the page, in reading order."""
    return analyse(image, margin_spaces).boxes


__all__ = ["detect_systems", "analyse", "PageAnalysis", "Staff", "SystemPath"]
