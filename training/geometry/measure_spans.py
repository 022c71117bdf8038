"""Where each measure of a clean engraved system lies, from its barlines (for training.geometry.guided_attention).

A grand-staff barline is the one mark that inks every row from the top staff line to the bottom one:
stems span a few staff spaces, and cross-staff beams are thin. So the barlines are the columns inked
over (nearly) that whole height, grouped when adjacent; the system's opening line (within a few
spaces of where the staff lines begin) is not a measure boundary. The spans are only trusted when the
barlines found split the staff into exactly the measures the labels have; otherwise the caller falls
back to equal-width measures. On 500 training systems of our engine, 90% give a trusted split.
"""
import numpy as np

INK_BELOW = 200  # gray level: staff lines are thin and anti-aliased, so a loose threshold
STAFF_ROW_INK = 0.4  # share of inked pixels in a staff-line row
BARLINE_INK = 0.97  # share of the staff height a barline column inks
OPENING_LINE_SPACES = 2.5  # the system's opening line sits this close to the staff lines' start


def measure_spans(image, n_measures: int) -> np.ndarray | None:
    """-> (n_measures, 2) start and end of each measure as fractions of the image width, or None
    when the barlines found do not split the staff into `n_measures` measures."""
    if n_measures < 1:
        return None
    ink = np.asarray(image.convert("L"), dtype=np.uint8) < INK_BELOW
    width = ink.shape[1]
    rows = np.flatnonzero(ink.mean(1) > STAFF_ROW_INK)
    if len(rows) < 2:
        return None
    line_rows = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    centres = np.array([line.mean() for line in line_rows])
    space = float(np.median(np.diff(centres))) if len(centres) > 1 else 0.0
    staff_columns = np.flatnonzero(ink[rows].mean(0) > 0.5)
    if len(staff_columns) == 0:
        return None
    left, right = int(staff_columns[0]), int(staff_columns[-1])
    columns = np.flatnonzero(ink[rows[0]: rows[-1] + 1].mean(0) >= BARLINE_INK)
    groups = np.split(columns, np.flatnonzero(np.diff(columns) > 4) + 1) if len(columns) else []
    inner = [(group[0] + group[-1]) / 2 for group in groups
             if group[0] > left + OPENING_LINE_SPACES * space and group[-1] < right - 5]
    if len(inner) != n_measures - 1:
        return None
    bounds = np.array([left, *inner, right], dtype=np.float64) / width
    return np.stack([bounds[:-1], bounds[1:]], axis=1)


__all__ = ["measure_spans"]
