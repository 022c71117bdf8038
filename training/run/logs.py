"""Training logs: CSV files (appended, so a resumed run continues them), TensorBoard when installed,
and a PNG of the curves drawn with matplotlib."""
import csv
import os
import platform
from pathlib import Path


class CSVLog:
    """One CSV per stream (train.csv, dev.csv). Rows after `resume_step` leave the file on open: a
    resumed run rewrites the steps after its checkpoint instead of logging them twice. They are kept
    beside it as <stem>.branch-<first>-<last>.csv, since a run lengthened from its plateau (stable/)
    leaves behind a branch whose rows (the LR's fall, what was shipped) are history, not duplicates."""

    def __init__(self, path, resume_step: int | None = None):
        self.path = Path(path)
        self.fields = None
        if self.path.exists() and resume_step is not None:
            every_row = read_csv(self.path)
            rows = [row for row in every_row if int(row["step"]) <= resume_step]
            left_behind = [row for row in every_row if int(row["step"]) > resume_step]
            if left_behind:
                steps = [int(row["step"]) for row in left_behind]
                branch = self.path.with_name(f"{self.path.stem}.branch-{min(steps):07d}-{max(steps):07d}.csv")
                write_csv(branch, list(left_behind[0]), left_behind)
            if rows:
                self.fields = list(rows[0])
                write_csv(self.path, self.fields, rows)
            else:
                self.path.unlink()
        elif self.path.exists():
            self.path.unlink()

    def write(self, row: dict) -> None:
        added = [name for name in row if name not in (self.fields or [])]
        if added and self.fields is not None:  # a new column (e.g. dev SER after a CE-only row): widen the file
            rows = read_csv(self.path)
            self.fields += added
            write_csv(self.path, self.fields, rows)
        new = self.fields is None
        if new:
            self.fields = list(row)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, self.fields)
            if new:
                writer.writeheader()
            writer.writerow(row)


def tensorboard_writer(log_dir):
    """A SummaryWriter, or None when the tensorboard package is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(log_dir))


def write_csv(path, fields: list[str], rows: list[dict]) -> None:
    """The whole file anew: a header and `rows` (missing cells left empty)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path) -> list[dict]:
    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_curves(run_dir) -> Path | None:
    """<run>/curves.png: train CE (and its moving average), dev CE, dev SER / TEDn against step."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    run_dir = Path(run_dir)
    train, dev = read_csv(run_dir / "train.csv"), read_csv(run_dir / "dev.csv")
    if not train:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [int(r["step"]) for r in train]
    ce = [float(r["ce"]) for r in train]
    left.plot(steps, ce, alpha=0.3, label="train CE (step)")
    window = max(1, len(ce) // 50)
    smooth = [sum(ce[max(0, i - window + 1): i + 1]) / len(ce[max(0, i - window + 1): i + 1]) for i in range(len(ce))]
    left.plot(steps, smooth, label=f"train CE (mean of {window})")
    if dev:
        left.plot([int(r["step"]) for r in dev], [float(r["dev_ce"]) for r in dev], "o-", label="dev CE (teacher-forced)")
        swapped = [(int(r["step"]), float(r["dev_ce_swapped_images"])) for r in dev
                   if r.get("dev_ce_swapped_images") not in (None, "")]
        if swapped:
            left.plot(*zip(*swapped), "x--", label="dev CE, another system's image")
        for name in ("dev_ser", "dev_tedn"):
            points = [(int(r["step"]), float(r[name])) for r in dev if r.get(name) not in (None, "")]
            if points:
                right.plot(*zip(*points), "o-", label=name)
    left.set_xlabel("step")
    left.set_ylabel("cross-entropy")
    left.legend()
    right.set_xlabel("step")
    right.set_ylabel("error rate (greedy)")
    if right.lines:
        right.legend()
    fig.tight_layout()
    path = run_dir / "curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts(device, processes: int, precision: str) -> dict:
    """What a run trained on, for its machine.json (the model card names the hardware of every run)."""
    import torch

    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {"device": name, "device_type": device.type, "processes": processes, "precision": precision,
            "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}


__all__ = ["CSVLog", "cpu_name", "machine_facts", "plot_curves", "read_csv", "tensorboard_writer"]
